"""What refusing the database's own functions costs (``vedder.sql.guard.refuse_user_functions``).

In process: reading the warehouse's own functions once (DuckDB's duckdb_functions(), PostgreSQL's pg_proc on the
test server of tests/postgres_server.py) and the check per query, for SQL that calls no function, SQL that calls
built-ins on a warehouse without user functions, and the same SQL where the warehouse has some (the SQL that runs is
then tokenized); the first check in a fresh process, with the list kept in .vedder/ and without. Whole process: ``vedder query`` on the demo, interleaved with the same process whose check is
switched off (what ran before) and one that cannot keep the list in .vedder/; medians and the load average.

    /work/venv/bin/python benchmarks/bench_user_functions.py --runs 9
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
sys.path.insert(0, str(REPO / "tests"))

LAUNCH = "import sys; import vedder.sql.run as run; {patch}from vedder.cli import main; sys.exit(main(prog_name='vedder'))"
SWITCHED_OFF = "run.refuse_user_functions = lambda *args, **kwargs: None; "
# The list not kept between processes: duckdb_functions() is read in every process (a folder it cannot write to).
NO_CACHE = "from pathlib import Path; run.cache_folder = lambda root: Path('/proc/no-such-folder'); "
QUERY = ["query", "SELECT country, count(*) AS users FROM listening.users GROUP BY 1 ORDER BY 2 DESC", "--cluster", "listening"]
SQL = {
    "no function": "SELECT country FROM users WHERE country = 'SE' LIMIT 5",
    "built-ins": "SELECT country, count(*), sum(length(country)) FROM users GROUP BY 1 ORDER BY 2 DESC",
}


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def in_process(repeat: int) -> None:
    from vedder.config import load_config
    from vedder.project import load_project
    from vedder.sql.guard import OwnCode, refuse_user_functions
    from vedder.sql.run import guard_for_cluster
    from vedder.warehouse import open_warehouse

    project = load_project(load_config(REPO))
    cluster = project.clusters["listening"]
    with open_warehouse(project.config) as warehouse:
        fresh = []
        for _ in range(repeat):
            warehouse._user_functions = None
            started = time.perf_counter()
            warehouse.user_functions()
            fresh.append(time.perf_counter() - started)
        print(f"DuckDB demo: duckdb_functions() read once: {statistics.median(fresh) * 1000:.2f} ms")
        for label, sql in SQL.items():
            guarded = guard_for_cluster(sql, cluster, "duckdb")
            guarded.sql  # rendered anyway to run
            none = median_ms(lambda: refuse_user_functions(guarded, warehouse.user_functions), repeat * 50)
            some = median_ms(lambda: refuse_user_functions(guarded, lambda: [OwnCode("payroll_total", "a macro", "payroll_total")]), repeat * 50)
            guard = median_ms(lambda: guard_for_cluster(sql, cluster, "duckdb").sql, repeat * 20)
            print(f"  {label:12}: check {none:.3f} ms (no user functions), {some:.3f} ms (with some); guard + render {guard:.2f} ms")


def postgres(repeat: int) -> None:
    from postgres_server import PostgresServer, find_bindir
    from vedder.warehouse.postgres import PostgresWarehouse

    server = PostgresServer(find_bindir()).start()
    try:
        server.admin("CREATE EXTENSION pg_trgm; CREATE FUNCTION public.payroll_total() RETURNS bigint LANGUAGE sql "
                     "AS 'SELECT sum(salary) FROM hr.salaries'", database="warehouse")
        os.environ["VEDDER_BENCH_PG_PASSWORD"] = server.password
        with PostgresWarehouse(server.url, password_env="VEDDER_BENCH_PG_PASSWORD") as warehouse:
            first = []
            for _ in range(repeat):
                warehouse._user_functions = None
                started = time.perf_counter()
                found = warehouse.user_functions()
                first.append(time.perf_counter() - started)
            print(f"PostgreSQL test server: pg_proc read once: {statistics.median(first) * 1000:.2f} ms ({sorted(found)})")
    finally:
        server.stop()


FIRST_CHECK = """
import sys, time
from pathlib import Path
import vedder.sql.run as run
from vedder.config import load_config
from vedder.project import load_project
from vedder.warehouse import open_warehouse
project = load_project(load_config(Path(sys.argv[1])))
warehouse = open_warehouse(project.config)
guarded = run.guard_for_cluster("SELECT country, count(*) FROM users GROUP BY 1", project.clusters["listening"], "duckdb")
guarded.sql
folder = run.cache_folder(project.config.root) if sys.argv[2] == "cache" else Path("/proc/no-such-folder")
started = time.perf_counter()
run.refuse_user_functions(guarded, lambda: warehouse.user_functions(folder / run.USER_FUNCTIONS_CACHE))
print(time.perf_counter() - started)
"""


def first_check(runs: int) -> None:
    """The check's cost in a fresh process, the catalog read from .vedder/ or from DuckDB."""
    times: dict[str, list[float]] = {"cache": [], "no cache": []}
    for _ in range(runs):
        for label in times:
            result = subprocess.run([sys.executable, "-c", FIRST_CHECK, str(REPO), label.replace(" ", "-")],
                                    capture_output=True, text=True, check=True)
            times[label].append(float(result.stdout))
    for label, measured in times.items():
        print(f"first check in a fresh process, {label}: median {statistics.median(measured) * 1000:.2f} ms "
              f"(min {min(measured) * 1000:.2f}, max {max(measured) * 1000:.2f})")


def whole_process(runs: int) -> None:
    env = {**os.environ, "VEDDER_LOG": "/tmp/vedder-bench-user-functions.sqlite"}
    variants = {"check on": "", "check on, no cache file": NO_CACHE, "check off": SWITCHED_OFF}
    times: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(runs):
        for label, patch in variants.items():
            started = time.perf_counter()
            result = subprocess.run([sys.executable, "-c", LAUNCH.format(patch=patch), *QUERY, "--project", str(REPO)],
                                    capture_output=True, text=True, env=env)
            times[label].append(time.perf_counter() - started)
            if result.returncode != 0:
                raise SystemExit(f"vedder query failed: {result.stdout[-300:]} {result.stderr[-300:]}")
    for label, measured in times.items():
        print(f"whole process vedder query, {label}: median {statistics.median(measured):.3f} s over {runs} runs")
    print(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    in_process(args.runs)
    if not args.no_postgres:
        postgres(args.runs)
    first_check(args.runs)
    whole_process(args.runs)


if __name__ == "__main__":
    main()
