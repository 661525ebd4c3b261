"""Health time without reproducibility: the demo project, and a generated project of 100 clusters with
5,000 pairs (median of several runs; pairs per second).

Run: /work/venv/bin/python benchmarks/bench_health.py [--clusters 100] [--pairs-per-cluster 50] [--runs 3]

Prints the in-process time of ``check_health(project, reproducibility=False)`` (warehouse open, every
signal, 300 logged questions for coverage on the generated project), the CPU seconds the process spent on it
(all threads: the load-independent number), the whole-process time of ``vedder health --format json``, and
the 1-minute load average before and after (other work on the machine stretches wall times, not CPU).
The demo case runs when the demo builder (vedder.warehouse.demo) exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from vedder.config import load_config
from vedder.files import atomic_write, dump_yaml
from vedder.health import check_health
from vedder.project import load_project
from vedder.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[1]
VEDDER = Path(sys.executable).parent / "vedder"
COUNTRIES = ["US", "GB", "SE", "DE", "BR", "MX", "IN", "JP"]
PLANS = ["free", "premium", "family", "student"]

TABLES_SQL = """
CREATE SCHEMA {schema};
CREATE TABLE {schema}.orders AS
SELECT i AS order_id, i % 400 AS user_id, ['US', 'GB', 'SE', 'DE', 'BR', 'MX', 'IN', 'JP'][1 + (i * 7) % 8] AS country,
       100 + (i * 37) % 5000 AS amount_cents, DATE '{today}' - 1 - (i % 90)::INTEGER AS order_date
FROM range(2000) t(i);
CREATE TABLE {schema}.customers AS
SELECT i AS user_id, ['free', 'premium', 'family', 'student'][1 + i % 4] AS plan, (i % 50) + 18 AS age
FROM range(400) t(i);
"""

TEMPLATES = [
    ("How many orders per country since {date}?", "SELECT country, count(*) AS orders FROM orders WHERE order_date >= DATE '{date}' GROUP BY country"),
    ("How many orders from {country} above {cents} cents?", "SELECT count(*) AS orders FROM orders WHERE country = '{country}' AND amount_cents > {cents}"),
    ("Revenue per plan in {country}", "SELECT c.plan, sum(o.amount_cents) / 100 AS revenue FROM orders AS o JOIN customers AS c ON o.user_id = c.user_id WHERE o.country = '{country}' GROUP BY c.plan"),
    ("Customers per plan older than {age}", "SELECT plan, count(*) AS customers FROM customers WHERE age > {age} GROUP BY plan"),
    ("Top {k} days by orders between {cents} and {upper} cents", "SELECT order_date, count(*) AS orders FROM orders WHERE amount_cents BETWEEN {cents} AND {upper} GROUP BY order_date ORDER BY orders DESC LIMIT {k}"),
]


def generate(root: Path, clusters: int, pairs_per_cluster: int) -> int:
    """Write the project and its warehouse; return the number of pairs."""
    from vedder.profile import profile_tables, write_dataset

    today = datetime.now(timezone.utc).date()
    warehouse_path = root / "warehouse.duckdb"
    root.mkdir(parents=True)
    atomic_write(root / "vedder.yaml", dump_yaml({"warehouse": {"type": "duckdb", "path": "warehouse.duckdb"},
                                                  "dialect": "duckdb", "model": "offline", "log": "log.sqlite"}))
    builder = DuckDBWarehouse(warehouse_path, read_only=False)
    for index in range(clusters):
        for statement in TABLES_SQL.format(schema=f"c{index:03d}", today=today.isoformat()).split(";"):
            if statement.strip():
                builder.execute(statement)
    total = 0
    for index in range(clusters):
        schema = f"c{index:03d}"
        folder = root / "clusters" / schema
        atomic_write(folder / "cluster.yaml", dump_yaml({
            "id": schema, "title": f"Shop {index}", "description": f"Orders and customers of shop number {index}.",
            "owners": {"team": f"team-{index}", "members": ["ana"]}, "datasets": [f"{schema}.orders", f"{schema}.customers"],
            "default_schema": schema, "keywords": ["orders", "customers", f"shop{index}"],
        }))
        for number in range(pairs_per_cluster):
            question, sql = TEMPLATES[number % len(TEMPLATES)]
            values = {"date": f"2026-{1 + number % 12:02d}-{1 + number % 28:02d}", "country": COUNTRIES[number % 8],
                      "cents": 100 + 10 * number, "upper": 3000 + 10 * number, "age": 18 + number % 40, "k": 1 + number % 10}
            atomic_write(folder / "pairs" / f"p{number:03d}.yaml", dump_yaml({
                "question": question.format(**values), "sql": sql.format(**values),
                "verified_by": "ana", "verified_at": today.isoformat()}))
            total += 1
        atomic_write(folder / "docs" / "money.md", "# Money\n\nAmounts are in cents (`amount_cents`): divide by 100.\n")
        for profile in profile_tables(builder, [f"{schema}.orders", f"{schema}.customers"]).values():
            write_dataset(folder, profile)
    builder.close()
    _log_questions(root, clusters)
    return total


def _log_questions(root: Path, clusters: int) -> None:
    from vedder.log.store import open_log

    store = open_log(load_config(root))
    for index in range(clusters):
        for question in ("How many orders per country since 2026-03-04?", "Revenue per plan in SE", "What is our churn rate?"):
            store.record({"question": question, "cluster": f"c{index:03d}", "status": "answered"})
    store.close()


def median_of(runs: int, action) -> tuple[float, float]:
    """Median wall and CPU seconds (this process, all threads) of ``runs`` calls of ``action``."""
    walls, cpus = [], []
    for _ in range(runs):
        started, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def measure(name: str, root: Path, runs: int) -> None:
    project = load_project(load_config(root))
    pairs = sum(len(c.pairs) for c in project.clusters.values())
    report = None

    def in_process() -> None:
        nonlocal report
        report = check_health(load_project(load_config(root)), reproducibility=False)

    load_before = os.getloadavg()[0]
    seconds, cpu = median_of(runs, in_process)
    process, _ = median_of(runs, lambda: subprocess.run([str(VEDDER), "health", "--format", "json", "--project", str(root)],
                                                       capture_output=True))
    scores = [c.score for c in report.clusters]
    print(f"{name}: {len(project.clusters)} clusters, {pairs} pairs: check_health {seconds:.2f} s "
          f"({pairs / seconds:,.0f} pairs/s, {cpu:.2f} s CPU); `vedder health` process {process:.2f} s; "
          f"scores {min(scores)}..{max(scores)}; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}")


def demo_project(scratch: Path) -> Path | None:
    """A copy of the repository's demo project with a freshly built (and profiled) warehouse."""
    try:
        from vedder.warehouse.demo import build_demo
    except ImportError:
        return None
    if not (REPO / "clusters").is_dir() or not any((REPO / "clusters").iterdir()):
        return None
    root = scratch / "demo"
    root.mkdir()
    shutil.copy(REPO / "vedder.yaml", root / "vedder.yaml")
    shutil.copytree(REPO / "clusters", root / "clusters")
    config = load_config(root)
    build_demo(config.warehouse_path)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--pairs-per-cluster", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vedder-bench-health-") as scratch:
        scratch = Path(scratch)
        demo = demo_project(scratch)
        if demo is not None:
            measure("demo", demo, args.runs)
        else:
            print("demo: skipped (no demo builder or demo clusters yet)")
        started = time.perf_counter()
        generate(scratch / "generated", args.clusters, args.pairs_per_cluster)
        print(f"(generated project built and profiled in {time.perf_counter() - started:.1f} s)")
        measure("generated", scratch / "generated", args.runs)


if __name__ == "__main__":
    main()
