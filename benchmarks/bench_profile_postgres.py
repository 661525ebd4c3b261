"""`vedder profile` of a generated table on PostgreSQL vs the same table in DuckDB (medians of several runs).

Starts a throwaway server with tests/postgres_server.py (its settings: shared_buffers 16MB, fsync off, the
default work_mem 4MB), generates the events table of benchmarks/bench_profile.py in both engines with the same
expressions, and times the whole `vedder profile` process and ``profile_table`` in-process on each. Wall time
only: the PostgreSQL server's CPU is not this process's. ``--work-mem 64MB`` reruns PostgreSQL with that
``work_mem`` for the database (exact count(DISTINCT) sorts, of tables up to SAMPLE_ROWS rows, spill to disk
under 4MB). ``--accuracy`` also loads ``bench.skewed`` (a few heavy values with a long tail, a Zipf column,
each value twice, a mostly-NULL column) and prints, per column of both tables, the exact distinct count, the
profile's estimate on PostgreSQL (Duj1 over the TABLESAMPLE) and DuckDB's ``approx_count_distinct``, with
their relative errors.

    /work/venv/bin/python benchmarks/bench_profile_postgres.py --rows 1000000 --runs 5 --accuracy
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_profile import EVENTS_SQL  # noqa: E402
from postgres_server import PostgresServer, find_bindir  # noqa: E402

VEDDER = str(Path(sys.executable).with_name("vedder"))
PASSWORD_ENV = "VEDDER_BENCH_PG_PASSWORD"

POSTGRES_EVENTS_SQL = """
CREATE SCHEMA bench AUTHORIZATION analyst;
SET ROLE analyst;
CREATE TABLE bench.events AS
SELECT i AS event_id,
       (i * 7919) % 2000000 AS user_id,
       DATE '2024-01-01' + (i % 365)::integer AS event_date,
       TIMESTAMP '2024-01-01' + (i * 3 % 31536000) * INTERVAL '1 second' AS event_ts,
       (ARRAY['US', 'GB', 'SE', 'DE', 'FR', 'BR', 'MX', 'JP'])[1 + i % 8] AS country,
       CASE WHEN i % 10 = 0 THEN NULL ELSE (ARRAY['ios', 'android', 'web'])[1 + i % 3] END AS platform,
       (ARRAY['play', 'skip', 'like', 'share'])[1 + (i * 31) % 4] AS event_type,
       (i * 7919) % 300000 AS ms_played,
       (i % 1000)::numeric(10, 2) / 10 AS revenue,
       'track_' || ((i * 104729) % 250000) AS track_id,
       i % 2 = 0 AS is_offline
FROM generate_series(0::bigint, {rows} - 1) AS i;
ANALYZE bench.events;
RESET ROLE;
"""

SKEWED_SQL = """
CREATE TABLE bench.skewed AS
SELECT i AS id,
       CASE WHEN i % 10 < 6 THEN 'heavy_' || i % 3 ELSE 'tail_' || ((i * 7919) % {rows}) {div} (1 + i % 4) END AS heavy_tail,
       {rows} {div} (i + 1) AS zipf,
       i {div} 2 AS twice,
       CASE WHEN i % 100 = 0 THEN (i * 31) % 5000 END AS sparse,
       (i * 7919) % 7 AS low
FROM {source}
"""
"""The same values in both engines: {div} is integer division (PostgreSQL's / on bigint, DuckDB's //)."""

CLUSTER = "id: bench\ntitle: Bench\ndescription: Benchmark events.\nowners: {team: bench}\ndatasets: [bench.events]\n"


def project(folder: Path, warehouse: str) -> Path:
    (folder / "clusters" / "bench").mkdir(parents=True)
    (folder / "vedder.yaml").write_text(f"warehouse: {warehouse}\n")
    (folder / "clusters" / "bench" / "cluster.yaml").write_text(CLUSTER)
    return folder


def median_wall(runs: int, action) -> float:
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def whole_process(root: Path, env: dict[str, str]) -> None:
    subprocess.run([VEDDER, "profile", "--json", "--project", str(root)], check=True, capture_output=True, env=env)


def accuracy(duck_path: Path, server: PostgresServer) -> None:
    """Exact distinct counts against PostgreSQL's estimate and DuckDB's approx_count_distinct, per column."""
    from vedder.profile import profile_table
    from vedder.warehouse.duckdb import DuckDBWarehouse
    from vedder.warehouse.postgres import PostgresWarehouse

    print("| table.column | exact | PostgreSQL estimate | error | DuckDB approx_count_distinct | error |")
    print("| --- | --- | --- | --- | --- | --- |")
    with DuckDBWarehouse(duck_path) as duck, PostgresWarehouse(server.url, password_env=PASSWORD_ENV) as postgres:
        for table in ("bench.events", "bench.skewed"):
            estimated = {c["name"]: c.get("distinct_count") for c in profile_table(postgres, table)["columns"]}
            approximate = {c["name"]: c.get("distinct_count") for c in profile_table(duck, table)["columns"]}
            for name, estimate in estimated.items():
                if estimate is None:
                    continue
                exact = duck.execute(f'SELECT count(DISTINCT "{name}") FROM {table}', timeout_s=600).rows[0][0]
                errors = [f"{(value - exact) / exact:+.1%}" if exact else "n/a" for value in (estimate, approximate[name])]
                print(f"| {table}.{name} | {exact:,} | {estimate:,} | {errors[0]} | {approximate[name]:,} | {errors[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work-mem", default="", help="also measure PostgreSQL with this work_mem (e.g. 64MB)")
    parser.add_argument("--accuracy", action="store_true", help="compare estimated distinct counts with exact ones")
    args = parser.parse_args()
    from vedder.profile import profile_table
    from vedder.warehouse.duckdb import DuckDBWarehouse
    from vedder.warehouse.postgres import PostgresWarehouse

    server = PostgresServer(find_bindir()).start()
    env = {**os.environ, PASSWORD_ENV: server.password}
    os.environ[PASSWORD_ENV] = server.password
    try:
        with tempfile.TemporaryDirectory() as pg_dir, tempfile.TemporaryDirectory() as duck_dir:
            started = time.perf_counter()
            server.admin(POSTGRES_EVENTS_SQL.format(rows=args.rows), database="warehouse")
            print(f"PostgreSQL: generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
            pg_root = project(Path(pg_dir), f"{{type: postgres, url: '{server.url}', password_env: {PASSWORD_ENV}}}")
            duck_root = project(Path(duck_dir), "{type: duckdb, path: warehouse.duckdb}")
            with DuckDBWarehouse(duck_root / "warehouse.duckdb", read_only=False) as writable:
                writable.execute(EVENTS_SQL.format(rows=args.rows), timeout_s=600)
                if args.accuracy:
                    writable.execute(SKEWED_SQL.format(rows=args.rows, div="//", source=f"range({args.rows}) t(i)"), timeout_s=600)
            if args.accuracy:
                skewed = SKEWED_SQL.format(rows=args.rows, div="/", source=f"generate_series(0::bigint, {args.rows} - 1) AS i")
                server.admin(f"SET ROLE analyst; {skewed}; ANALYZE bench.skewed; RESET ROLE;", database="warehouse")
                accuracy(duck_root / "warehouse.duckdb", server)
            cases = [("DuckDB", duck_root, lambda: DuckDBWarehouse(duck_root / "warehouse.duckdb")),
                     ("PostgreSQL", pg_root, lambda: PostgresWarehouse(server.url, password_env=PASSWORD_ENV))]
            if args.work_mem:
                cases.append((f"PostgreSQL, work_mem {args.work_mem}", pg_root, cases[1][2]))
            for name, root, opened in cases:
                if "work_mem" in name:
                    server.admin(f"ALTER DATABASE warehouse SET work_mem = '{args.work_mem}'")
                whole_process(root, env)  # warm the caches
                with opened() as warehouse:
                    in_process = median_wall(args.runs, lambda: profile_table(warehouse, "bench.events"))
                whole = median_wall(args.runs, lambda: whole_process(root, env))
                print(f"{name}: profile_table {in_process:.2f} s, vedder profile (whole process) {whole:.2f} s "
                      f"(medians of {args.runs}; load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
