"""Whole-process offline `vedder ask` on the demo project, and where the time goes.

    /work/venv/bin/python benchmarks/bench_offline_ask.py [--runs 7] [--project .]

Prints, for each question, the median and minimum wall time of ``--runs`` whole-process runs (and the same
for a process that only imports what ``ask`` imports), the load average before and after (other sessions
share the machine), and one in-process breakdown: routing, offline answer, warehouse query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

QUESTIONS = ["What does each plan cost per month?", "How many streams did each country have in November 2026?"]
IMPORTS = "import vedder.cli, typer._adapters, sqlglot.dialects.duckdb, duckdb, rich.syntax, yaml"
VEDDER = Path(sys.executable).with_name("vedder")


def wall(command: list[str], runs: int, cwd: Path) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def in_process(project_dir: Path, question: str) -> dict[str, float]:
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
    args = parser.parse_args(argv)
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for question in QUESTIONS:
        median, best = wall([str(VEDDER), "ask", question, "--project", str(args.project)], args.runs, args.project)
        print(f"vedder ask {question!r}: median {median:.3f} s, min {best:.3f} s")
    median, best = wall([sys.executable, "-c", IMPORTS], args.runs, args.project)
    print(f"imports only: median {median:.3f} s, min {best:.3f} s")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for question in QUESTIONS:
        phases = in_process(args.project, question)
        print(f"in process {question!r}: " + ", ".join(f"{k} {v:.1f}" for k, v in phases.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
