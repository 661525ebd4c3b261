"""Profile time: a generated 10-million-row table, and the demo project (median of several runs).

Run: /work/venv/bin/python benchmarks/bench_profile.py [--rows 10000000] [--runs 3]

Prints, for each case, the in-process time of ``profile_table`` / ``profile_clusters`` and the
whole-process time of ``vedder profile`` (imports, project loading and file writes included).
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
import timeit
from pathlib import Path

from vedder.config import load_config
from vedder.files import dump_yaml
from vedder.profile import profile_clusters, profile_table
from vedder.project import load_project
from vedder.warehouse import open_warehouse
from vedder.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[1]
VEDDER = Path(sys.executable).parent / "vedder"

EVENTS_SQL = """
CREATE SCHEMA bench;
CREATE TABLE bench.events AS
SELECT i AS event_id,
       (i * 7919) % 2000000 AS user_id,
       DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS event_date,
       TIMESTAMP '2024-01-01' + to_seconds(CAST(i * 3 % 31536000 AS BIGINT)) AS event_ts,
       ['US', 'GB', 'SE', 'DE', 'FR', 'BR', 'MX', 'JP'][1 + CAST(i % 8 AS INTEGER)] AS country,
       CASE WHEN i % 10 = 0 THEN NULL ELSE ['ios', 'android', 'web'][1 + CAST(i % 3 AS INTEGER)] END AS platform,
       ['play', 'skip', 'like', 'share'][1 + CAST((i * 31) % 4 AS INTEGER)] AS event_type,
       (i * 7919) % 300000 AS ms_played,
       CAST(i % 1000 AS DECIMAL(10, 2)) / 10 AS revenue,
       'track_' || ((i * 104729) % 250000) AS track_id,
       i % 2 = 0 AS is_offline
FROM range({rows}) t(i)
"""


def median_of(runs: int, action) -> str:
    """Median wall time, and median CPU time of this process and its children (robust on a busy machine)."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu_before = _cpu_seconds()
        walls.append(timeit.timeit(action, number=1))
        cpus.append(_cpu_seconds() - cpu_before)
    return f"{statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU (median of {runs})"


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def whole_process(project: Path) -> None:
    subprocess.run([str(VEDDER), "profile", "--json", "--project", str(project)], check=True, capture_output=True)


def events_project(folder: Path, rows: int) -> Path:
    (folder / "clusters" / "bench").mkdir(parents=True)
    (folder / "vedder.yaml").write_text("warehouse: {type: duckdb, path: warehouse.duckdb}\n")
    cluster = {"id": "bench", "title": "Bench", "description": "Benchmark events.", "owners": {"team": "bench"}, "datasets": ["bench.events"]}
    (folder / "clusters" / "bench" / "cluster.yaml").write_text(dump_yaml(cluster))
    started = time.perf_counter()
    with DuckDBWarehouse(folder / "warehouse.duckdb", read_only=False) as writable:
        writable.execute(EVENTS_SQL.format(rows=int(rows)), timeout_s=600)
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s")
    return folder


def demo_project(folder: Path) -> Path | None:
    try:
        from vedder.warehouse.demo import build_demo
    except ImportError:
        return None
    if not any((REPO / "clusters").glob("*/cluster.yaml")):
        return None
    shutil.copy(REPO / "vedder.yaml", folder / "vedder.yaml")
    shutil.copytree(REPO / "clusters", folder / "clusters")
    build_demo(load_config(folder).warehouse_path)
    return folder


def bench_events(folder: Path, rows: int, runs: int) -> None:
    project = events_project(folder, rows)
    with DuckDBWarehouse(project / "warehouse.duckdb") as warehouse:
        in_process = median_of(runs, lambda: profile_table(warehouse, "bench.events"))
    print(f"profile_table bench.events ({rows:,} rows, 11 columns): {in_process}")
    print(f"vedder profile, whole process, {rows:,} rows: {median_of(runs, lambda: whole_process(project))}")


def bench_demo(folder: Path, runs: int) -> None:
    project = demo_project(folder)
    if project is None:
        print("demo: skipped (vedder.warehouse.demo or the demo clusters are not there yet)")
        return
    loaded = load_project(load_config(project))
    warehouse = open_warehouse(loaded.config)
    try:
        report = profile_clusters(loaded, warehouse)
        in_process = median_of(runs, lambda: profile_clusters(loaded, warehouse))
    finally:
        warehouse.close()
    tables = len({t.table for t in report.tables})
    rows = sum({t.table: t.row_count for t in report.tables}.values())
    print(f"profile_clusters demo ({len(loaded.clusters)} clusters, {tables} tables, {rows:,} rows): {in_process}")
    print(f"vedder profile, whole process, demo: {median_of(runs, lambda: whole_process(project))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as events_dir, tempfile.TemporaryDirectory() as demo_dir:
        bench_demo(Path(demo_dir), args.runs)
        bench_events(Path(events_dir), args.rows, args.runs)


if __name__ == "__main__":
    main()
