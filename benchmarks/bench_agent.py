"""The agent's own overhead: everything but the model's thinking time.

Run: /work/venv/bin/python benchmarks/bench_agent.py [--runs 20] [--rows 100000]

A scripted model on 127.0.0.1 (tests/fake_openai.py, answers instantly) drives a full ReAct run through
litellm on a generated 100,000-row table: describe_table, column_values, run_sql, final answer (4 model
calls). Prints the median wall time of a warm run (native tool calling and the text fallback), per model
call, and the cold ``import litellm`` time in a fresh process (paid once per process, only when a model is
configured).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fake_openai import FakeOpenAI  # noqa: E402

from vedder.agent import run_agent  # noqa: E402
from vedder.config import load_config  # noqa: E402
from vedder.files import atomic_write, dump_yaml  # noqa: E402
from vedder.project import load_project  # noqa: E402
from vedder.warehouse import open_warehouse  # noqa: E402
from vedder.warehouse.duckdb import DuckDBWarehouse  # noqa: E402

SQL = "SELECT country, COUNT(*) AS orders, SUM(amount) AS revenue FROM orders GROUP BY country ORDER BY orders DESC"


@dataclass
class Context:
    text: str
    pairs: list[Any] = field(default_factory=list)
    docs: list[Any] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


def make_project(root: Path, rows: int) -> Path:
    warehouse = DuckDBWarehouse(root / "warehouse.duckdb", read_only=False)
    warehouse.execute("CREATE SCHEMA shop")
    warehouse.execute(
        "CREATE TABLE shop.orders AS SELECT i AS order_id, i % 5000 AS customer_id, "
        "['US', 'GB', 'SE', 'DE', 'BR'][1 + (i * 7) % 5] AS country, (i % 997) / 10.0 AS amount "
        f"FROM range({rows}) t(i)"
    )
    warehouse.close()
    atomic_write(root / "vedder.yaml", dump_yaml({"warehouse": {"type": "duckdb", "path": "warehouse.duckdb"}, "model": "openai/bench"}))
    cluster = root / "clusters" / "shop"
    atomic_write(cluster / "cluster.yaml", dump_yaml({"id": "shop", "title": "Shop", "owners": {"team": "bench"},
                                                      "datasets": ["shop.orders"], "default_schema": "shop"}))
    atomic_write(cluster / "datasets" / "shop.orders.yaml", dump_yaml({"table": "shop.orders", "row_count": rows, "columns": [
        {"name": "country", "type": "VARCHAR", "description": "ISO code", "common_values": [{"value": "US", "frequency": 0.2}]},
    ]}))
    return root


def script(server: FakeOpenAI, native: bool) -> None:
    if native:
        server.enqueue_tool_call("describe_table", {"table": "orders"})
        server.enqueue_tool_call("column_values", {"table": "orders", "column": "country"})
        server.enqueue_tool_call("run_sql", {"sql": SQL})
        server.enqueue_text("The US has the most orders.")
        return
    for action, argument in (("describe_table", '{"table": "orders"}'), ("column_values", '{"table": "orders", "column": "country"}'),
                             ("run_sql", '{"sql": "' + SQL + '"}')):
        server.enqueue_text(f"Thought: next\nAction: {action}\nAction Input: {argument}")
    server.enqueue_text("Thought: done\nFinal Answer: The US has the most orders.")


def time_runs(root: Path, runs: int, native: bool) -> list[float]:
    project = load_project(load_config(root))
    cluster = project.cluster("shop")
    warehouse = open_warehouse(project.config)
    times = []
    with FakeOpenAI() as server:
        options = {"api_base": server.url, "api_key": "dummy", "tool_calling": native}
        for _ in range(runs + 1):  # the first run warms litellm up and is not counted
            script(server, native)
            started = time.perf_counter()
            result = run_agent(project, cluster, "Orders per country?", context=Context("Table shop.orders"),
                               warehouse=warehouse, model="openai/bench", model_options=options)
            times.append(time.perf_counter() - started)
            assert result.status == "answered", result.error
    warehouse.close()
    return times[1:]


def litellm_import_s(runs: int = 3) -> float:
    code = "import os, time; os.environ['LITELLM_LOCAL_MODEL_COST_MAP']='True'; t=time.perf_counter(); import litellm; print(time.perf_counter()-t)"
    return statistics.median(float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
                             for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = make_project(Path(folder), args.rows)
        for native in (True, False):
            times = time_runs(root, args.runs, native)
            median = statistics.median(times)
            mode = "native tool calling" if native else "text fallback"
            print(f"agent run, {mode}: median {median * 1000:.0f} ms over {args.runs} runs "
                  f"({median * 1000 / 4:.0f} ms per model call, 4 calls, {args.rows:,} rows)")
    print(f"cold `import litellm`: median {litellm_import_s():.2f} s over 3 processes")


if __name__ == "__main__":
    main()
