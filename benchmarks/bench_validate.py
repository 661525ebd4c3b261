"""Whole-process time of `vedder --help` and `vedder validate` (median of several runs).

Run: /work/venv/bin/python benchmarks/bench_validate.py [--runs 5] [--project PATH]

Targets on the 2-core development machine: --help <= 0.25 s, validate on the demo project <= 0.6 s.
Besides wall time it prints CPU time (user + sys of the child), which is steadier when other work
shares the machine. Also prints the in-process time of validate_project alone (imports excluded).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VEDDER = Path(sys.executable).parent / "vedder"


def run_once(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, child CPU seconds, exit code) of one `vedder …` process."""
    before = os.times()
    start = time.perf_counter()
    completed = subprocess.run([str(VEDDER), *args], capture_output=True, cwd=REPO)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, completed.returncode


def measure(label: str, args: list[str], runs: int) -> None:
    run_once(args)  # warm the file cache and .pyc files
    samples = [run_once(args) for _ in range(runs)]
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    print(f"{label:<28} median wall {wall:.3f} s   median cpu {cpu:.3f} s   (exit {samples[-1][2]}, {runs} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--project", type=Path, default=REPO)
    options = parser.parse_args()
    measure("vedder --help", ["--help"], options.runs)
    measure("vedder validate", ["validate", "--project", str(options.project)], options.runs)

    from vedder.project.validate import validate_project

    validate_project(options.project)
    timings = []
    for _ in range(options.runs):
        start = time.perf_counter()
        report = validate_project(options.project)
        timings.append(time.perf_counter() - start)
    print(f"{'validate_project (in-process)':<28} median {statistics.median(timings):.3f} s   "
          f"({report.files_checked} files, {report.summary()})")


if __name__ == "__main__":
    main()
