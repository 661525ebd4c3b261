"""Where the time of a one-shot offline `vedder ask` goes (the whole process is `bench_ask.py`).

    /work/venv/bin/python benchmarks/bench_ask_phases.py [--runs 7] [--project .]

Prints the median and minimum wall time of a process that only imports what ``vedder ask`` imports, the load
average (other sessions share the machine), and for each question the cold in-process phases of a fresh
process's first ask: routing, offline answer (its first parse loads sqlglot's DuckDB dialect), warehouse query
(its first call imports duckdb).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUESTIONS = ["What does each plan cost per month?", "How many streams did each country have in November 2026?"]
IMPORTS = "import vedder.cli, vedder.offline, sqlglot.dialects.duckdb, duckdb, rich.console, rich.table"


def wall(command: list[str], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def phases(project_dir: Path, question: str) -> dict[str, float]:
    """The cold phases of one ask, in this (fresh) process."""
    from vedder.config import load_config
    from vedder.context import route
    from vedder.offline import answer_offline
    from vedder.project import load_project
    from vedder.sql.run import run_sql
    from vedder.warehouse import open_warehouse

    project = load_project(load_config(project_dir))
    started = time.perf_counter()
    routing = route(project, question)
    routed = time.perf_counter()
    result = answer_offline(project, routing.cluster, question)
    answered = time.perf_counter()
    warehouse = open_warehouse(project.config)
    try:
        run_sql(result.match.sql, project=project, warehouse=warehouse, cluster=routing.cluster)
    finally:
        warehouse.close()
    ran = time.perf_counter()
    return {"route_ms": 1000 * (routed - started), "answer_ms": 1000 * (answered - routed), "query_ms": 1000 * (ran - answered)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--project", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--phases-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phases_of:
        print(json.dumps(phases(args.project, args.phases_of)))
        return 0
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    median, best = wall([sys.executable, "-c", IMPORTS], args.runs)
    print(f"imports only: median {median:.3f} s, min {best:.3f} s")
    for question in QUESTIONS:
        runs = [json.loads(subprocess.run([sys.executable, __file__, "--project", str(args.project), "--phases-of", question],
                                          capture_output=True, text=True, check=True).stdout) for _ in range(args.runs)]
        medians = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"cold phases {question!r}: " + ", ".join(f"{k} {v:.1f}" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
