"""Offline `vedder ask` on the demo project: whole process and in process (median of several runs).

Run: /work/venv/bin/python benchmarks/bench_ask.py [--runs 5]   (needs `vedder demo` first)

Target on the 2-core development machine: the whole `vedder ask` process, offline, in at most 1 s.
Prints the load average too: other work on the machine inflates wall time, CPU time is steadier.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_validate import REPO, measure  # noqa: E402

QUESTIONS = {
    "answered (adapted)": "What were the top 5 tracks in Sweden in October 2026?",
    "answered (exact pair)": "What does each plan cost per month?",
    "not covered (no cluster)": "What's the weather in Paris tomorrow?",
    "not covered (no pair)": "Which artists gained the most followers among students?",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    os.environ["VEDDER_LOG"] = str(REPO / ".vedder" / "bench-log.sqlite")
    print(f"load average {os.getloadavg()[0]:.2f}")
    for label, question in QUESTIONS.items():
        measure(f"ask: {label}", ["ask", question], options.runs)

    from vedder.ask import ask
    from vedder.config import load_config
    from vedder.project import load_project
    from vedder.warehouse import open_warehouse

    project = load_project(load_config(REPO))
    with open_warehouse(project.config) as warehouse:
        for label, question in QUESTIONS.items():
            ask(project, question, warehouse=warehouse, log=False)
            timings = []
            for _ in range(options.runs):
                started = time.perf_counter()
                answer = ask(project, question, warehouse=warehouse, log=False)
                timings.append(time.perf_counter() - started)
            print(f"in-process ask: {label:<24} median {statistics.median(timings) * 1000:.1f} ms   ({answer.status})")


if __name__ == "__main__":
    main()
