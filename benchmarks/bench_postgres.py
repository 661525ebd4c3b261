"""Whole-process `vedder query` and offline `vedder ask` on the PostgreSQL test warehouse vs the same project on DuckDB.

Starts a throwaway server with tests/postgres_server.py (its start is timed too), copies its tables into a DuckDB
file, and runs each command ``--runs`` times on both projects; prints medians and the load average.

    /work/venv/bin/python benchmarks/bench_postgres.py --runs 9
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

from postgres_server import PostgresServer, find_bindir  # noqa: E402

VEDDER = str(Path(sys.executable).with_name("vedder"))
COMMANDS = {
    "query": ["query", "SELECT country, SUM(amount) AS revenue FROM shop.orders GROUP BY country ORDER BY revenue DESC"],
    "ask (exact pair)": ["ask", "What was the revenue per country in November 2026?"],
    "ask (adapted)": ["ask", "How many orders came from Sweden?"],
}


def duckdb_twin(server: PostgresServer, root: Path) -> Path:
    """The same project on a DuckDB file holding the same tables."""
    import duckdb

    server.project(root)
    connection = duckdb.connect(str(root / "w.duckdb"))
    connection.execute("CREATE SCHEMA shop; CREATE SCHEMA ref")
    for table in ("shop.orders", "shop.customers", "ref.countries"):
        rows = server.admin(f"SELECT * FROM {table}", database="warehouse")
        columns = server.admin(f"SELECT column_name, data_type FROM information_schema.columns WHERE table_schema || '.' || table_name = '{table}' "
                               "ORDER BY ordinal_position", database="warehouse")
        types = {"integer": "INTEGER", "numeric": "DECIMAL(10,2)", "date": "DATE", "boolean": "BOOLEAN"}
        definitions = ", ".join(f"{n} {types.get(t, 'VARCHAR')}" for n, t in columns)
        connection.execute(f"CREATE TABLE {table} ({definitions})")
        connection.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", rows)
    connection.execute("CREATE VIEW shop.big_orders AS SELECT order_id, country, amount FROM shop.orders WHERE amount >= 5")
    connection.close()
    yaml = (root / "vedder.yaml").read_text().splitlines()
    yaml[0] = "warehouse: {type: duckdb, path: w.duckdb}"
    (root / "vedder.yaml").write_text("\n".join(yaml) + "\n")
    return root


def timed(args: list[str], project: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run([VEDDER, *args, "--project", str(project)], capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or "answered" not in result.stdout and args[0] == "ask":
        raise SystemExit(f"{args} failed on {project}: {result.stdout[-500:]} {result.stderr[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    options = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL binaries: apt-get install postgresql")
    starts = []
    for _ in range(3):
        server = PostgresServer(bindir).start()
        starts.append(server.start_s)
        server.stop()
    print(f"fixture start (initdb + start + load), median of 3: {statistics.median(starts):.2f} s ({', '.join(f'{s:.2f}' for s in starts)})")
    server = PostgresServer(bindir).start()
    try:
        with tempfile.TemporaryDirectory() as pg_root, tempfile.TemporaryDirectory() as duck_root, tempfile.TemporaryDirectory() as home:
            projects = {"postgres": server.project(Path(pg_root)), "duckdb": duckdb_twin(server, Path(duck_root))}
            env = dict(os.environ, VEDDER_TEST_PG_PASSWORD=server.password, VEDDER_HOME=home, VEDDER_LOG=f"{home}/log.sqlite")
            for name, args in COMMANDS.items():
                for kind, project in projects.items():
                    timed(args, project, env)  # warm the parse caches and the OS file cache
                    times = [timed(args, project, env) for _ in range(options.runs)]
                    print(f"{name:18} {kind:8} median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f}, n={len(times)})")
    finally:
        server.stop()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
