"""Benchmark of `vedder demo`: whole-process time to build the demo warehouse.

    /work/venv/bin/python benchmarks/bench_demo.py [--scale 1] [--repeat 3]

Builds into a scratch copy of the demo project (so the repository's own warehouse is left alone) and
prints, per run, wall time and the CPU time of the process, then the medians. CPU time is printed too
because wall time on a shared machine depends on what else runs; the load average is printed with it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VEDDER = Path(sys.executable).with_name("vedder")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        shutil.copy(ROOT / "vedder.yaml", project / "vedder.yaml")
        shutil.copytree(ROOT / "history", project / "history")
        for run in range(1, args.repeat + 1):
            cpu_before, started = children_cpu(), time.perf_counter()
            subprocess.run(
                [str(VEDDER), "demo", "--scale", str(args.scale), "--project", str(project)],
                check=True, stdout=subprocess.DEVNULL,
            )
            walls.append(time.perf_counter() - started)
            cpus.append(children_cpu() - cpu_before)
            print(f"run {run}: wall {walls[-1]:.2f} s, cpu {cpus[-1]:.2f} s, load average {os.getloadavg()[0]:.1f}")
        size = (project / ".vedder" / "warehouse.duckdb").stat().st_size
    print(
        f"vedder demo --scale {args.scale:g}: median wall {statistics.median(walls):.2f} s, "
        f"median cpu {statistics.median(cpus):.2f} s over {args.repeat} runs; warehouse {size / 1e6:.0f} MB"
    )


if __name__ == "__main__":
    sys.exit(main())
