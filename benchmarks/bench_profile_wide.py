"""`vedder profile` of wide tables: the messy warehouse's finance cluster (a 2,000-row, 250-column table among
12 others) and a generated 2,000-row, 1,000-column table, whole process, medians of several interleaved runs.

``--base DIR`` also times an older vedder (a folder holding its ``vedder/`` package, e.g. from
``git archive REV vedder | tar -x -C DIR``) run by the same interpreter, interleaved with this one, so both
see the same load. ``--batches`` times the exact distinct pass alone on both tables at several batch sizes
(DuckDB, in process) — how DISTINCT_BATCH was chosen. ``--postgres`` times ``profile_table`` in process on a
throwaway PostgreSQL server (tests/postgres_server.py) on the same shapes and a 100,000-row one (until
these were batched PostgreSQL could not profile them: GROUPING takes at most 31 columns, a SELECT 1,664 expressions).

    /work/venv/bin/python benchmarks/bench_profile_wide.py --runs 5 --base /tmp/base
    /work/venv/bin/python benchmarks/bench_profile_wide.py --batches 1 4 8 16 24 32 64 250
    /work/venv/bin/python benchmarks/bench_profile_wide.py --postgres --runs 5
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

from messy_warehouse import build  # noqa: E402

VEDDER = str(Path(sys.executable).with_name("vedder"))


def wide_table(path: Path, columns: int, rows: int = 2000) -> None:
    """finance.wide_COLUMNS in ``path``: the messy warehouse's wide_accounts shape, ``columns`` columns."""
    import duckdb

    metrics = ", ".join(f"CASE WHEN i % {c % 250 + 2} = 0 THEN i * {c} END AS metric_{c:04d}" for c in range(columns - 2))
    connection = duckdb.connect(str(path))
    connection.execute("CREATE SCHEMA IF NOT EXISTS finance")
    connection.execute(f"CREATE OR REPLACE TABLE finance.wide_{columns} AS SELECT i AS account_id, 'acct-' || i AS account_name, "
                       f"{metrics} FROM range(1, {rows + 1}) t(i)")
    connection.close()


def project(root: Path, warehouse: Path, cluster: str, tables: list[str]) -> Path:
    subprocess.run([VEDDER, "init", str(root), "--warehouse", str(warehouse)], check=True, capture_output=True)
    command = [VEDDER, "cluster", "new", cluster, "--owner", "bench", "--project", str(root)]
    for table in tables:
        command += ["--tables", table]
    subprocess.run(command, check=True, capture_output=True)
    return root


def timed_profile(root: Path, cluster: str, pythonpath: str | None) -> tuple[float, str]:
    """(seconds, "" or the error line) of one whole `vedder profile CLUSTER`."""
    env = {**os.environ, **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    command = [sys.executable, "-m", "vedder", "profile", cluster, "--project", str(root)] if pythonpath else [VEDDER, "profile", cluster, "--project", str(root)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)  # -m puts the working directory first
    failed = "" if done.returncode == 0 else f"exit {done.returncode}: " + next((line for line in done.stderr.splitlines() if line.startswith("error:")), "")
    return time.perf_counter() - started, failed


def distinct_pass(path: Path, table: str, sizes: list[int], runs: int) -> None:
    import duckdb

    connection = duckdb.connect(str(path), read_only=True)
    schema, name = table.split(".")
    columns = [r[0] for r in connection.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                                "AND table_name = ? ORDER BY ordinal_position", [schema, name]).fetchall()]
    times: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(runs):
        for size in sizes:
            started = time.perf_counter()
            for start in range(0, len(columns), size):
                counts = ", ".join(f'count(DISTINCT "{c}")' for c in columns[start : start + size])
                connection.execute(f"SELECT {counts} FROM {table}").fetchall()
            times[size].append(time.perf_counter() - started)
    print(f"{table} ({len(columns)} columns), exact distinct pass, median of {runs} (load {os.getloadavg()[0]:.1f}):")
    for size in sizes:
        print(f"  {size:>4} per SELECT: {statistics.median(times[size]):.3f} s")


def postgres(runs: int) -> None:
    """profile_table of wide PostgreSQL tables, in process."""
    from postgres_server import PostgresServer, find_bindir

    from vedder import profile as profiling
    from vedder.warehouse.postgres import PostgresWarehouse

    server = PostgresServer(find_bindir()).start()
    os.environ["VEDDER_BENCH_PG_PASSWORD"] = server.password
    shapes = {"wide_250": (250, 2000), "wide_250_100k": (250, 100_000), "wide_1000": (1000, 2000)}
    try:
        for name, (columns, rows) in shapes.items():
            metrics = ", ".join(f"CASE WHEN i % {c % 250 + 2} = 0 THEN i * {c} END AS metric_{c:04d}" for c in range(columns - 2))
            server.admin(f"CREATE SCHEMA IF NOT EXISTS finance AUTHORIZATION analyst; SET ROLE analyst; CREATE TABLE finance.{name} AS "
                         f"SELECT i AS account_id, 'acct-' || i AS account_name, {metrics} FROM generate_series(1, {rows}) AS i; "
                         f"ANALYZE finance.{name}; RESET ROLE;", database="warehouse")
        with PostgresWarehouse(server.url, password_env="VEDDER_BENCH_PG_PASSWORD") as warehouse:
            for name, (columns, rows) in shapes.items():
                times = []
                for _ in range(runs):
                    started = time.perf_counter()
                    profiling.profile_table(warehouse, f"finance.{name}")
                    times.append(time.perf_counter() - started)
                print(f"PostgreSQL profile_table finance.{name} ({rows:,} rows x {columns} columns): median of {runs} "
                      f"{statistics.median(times):.2f} s (load {os.getloadavg()[0]:.1f})")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--base", help="a folder holding an older vedder/ package to compare with")
    parser.add_argument("--batches", type=int, nargs="*", help="time the distinct pass alone at these batch sizes")
    parser.add_argument("--fact-rows", type=int, default=5_000_000)
    parser.add_argument("--postgres", action="store_true", help="time wide tables on a throwaway PostgreSQL server instead")
    args = parser.parse_args()
    if args.postgres:
        postgres(args.runs)
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        build(root / "messy.duckdb", args.fact_rows)
        wide_table(root / "wide.duckdb", 1000)
        if args.batches:
            distinct_pass(root / "messy.duckdb", "finance.wide_accounts", args.batches, args.runs)
            distinct_pass(root / "wide.duckdb", "finance.wide_1000", args.batches, args.runs)
            return
        cases = {
            "messy finance cluster (13 tables, one 250 columns wide)":
                (project(root / "messy", root / "messy.duckdb", "finance", ["finance.*", "raw.customers", "raw.orders"]), "finance"),
            "2,000 rows x 1,000 columns": (project(root / "wide", root / "wide.duckdb", "wide", ["finance.wide_1000"]), "wide"),
        }
        versions = {"this": None} | ({"base": str(Path(args.base).resolve())} if args.base else {})
        loads = []
        for label, (proj, cluster) in cases.items():
            times: dict[str, list[float]] = {v: [] for v in versions}
            failures: dict[str, str] = {}
            for _ in range(args.runs):
                for version, pythonpath in versions.items():
                    if version in failures:  # once is enough: the old 1,000-column profile ran out of memory after 140 s
                        continue
                    loads.append(os.getloadavg()[0])
                    seconds, failed = timed_profile(proj, cluster, pythonpath)
                    times[version].append(seconds)
                    if failed:
                        failures[version] = f"{version} failed after {seconds:.1f} s ({failed})"
            print(f"vedder profile, {label}: " + ", ".join(
                failures.get(v) or f"{v} {statistics.median(t):.2f} s (runs {', '.join(f'{x:.2f}' for x in t)})" for v, t in times.items()))
        print(f"load average {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
