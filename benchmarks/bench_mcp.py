"""How fast `vedder mcp` starts and answers, through the SDK's client over stdio.

Usage: python benchmarks/bench_mcp.py [PROJECT]   (default: the demo project at the repository root;
run `vedder demo` first). Prints medians: start-up (spawn to the first tools/list answer), each tool call in a
warm session (list_clusters: the first call of a session apart), and the in-process cost of the change check the
server makes before each call, with inotify's events (Linux) and with a stat of every file.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from vedder.mcp import ProjectWatcher

ROOT = Path(__file__).resolve().parents[1]
VEDDER = str(Path(sys.executable).with_name("vedder"))


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.3f} ms"


async def timed(call) -> tuple[float, object]:
    started = time.perf_counter()
    result = await call()
    return time.perf_counter() - started, result


def main() -> None:
    project = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    watcher = ProjectWatcher(project)
    loaded = watcher.current()
    cluster = sorted(loaded.clusters.values(), key=lambda c: c.id)[0]
    table = cluster.tables[0]
    question = cluster.pairs[0].question if cluster.pairs else "How many rows are there?"
    home = tempfile.mkdtemp(prefix="vedder-bench-mcp-")
    env = {"VEDDER_HOME": home, "VEDDER_LOG": os.path.join(home, "log.sqlite"), "VEDDER_MODEL": "offline"}
    params = StdioServerParameters(command=VEDDER, args=["mcp", "--project", str(project)], env=env)

    async def start_once() -> float:
        started = time.perf_counter()
        async with Client(params) as client:
            await client.list_tools()
            return time.perf_counter() - started

    async def calls() -> dict[str, list[float]]:
        samples: dict[str, list[float]] = {}
        async with Client(params) as client:
            named = {
                "list_clusters": lambda: client.call_tool("list_clusters", {}),
                "describe_cluster": lambda: client.call_tool("describe_cluster", {"cluster": cluster.id}),
                "query (count)": lambda: client.call_tool("query", {"sql": f"SELECT count(*) FROM {table}"}),
                "query refused": lambda: client.call_tool("query", {"sql": f"DROP TABLE {table}"}),
                "read overview": lambda: client.read_resource(f"vedder://clusters/{cluster.id}"),
                "context": lambda: client.call_tool("context", {"question": question}),
                "ask (offline)": lambda: client.call_tool("ask", {"question": question}),
            }
            for name, call in named.items():
                for attempt in range(16):
                    elapsed, _result = await timed(call)
                    samples.setdefault(f"{name} (first call)" if name == "list_clusters" and not attempt else name,
                                       []).append(elapsed)
        return samples

    starts = [anyio.run(start_once) for _ in range(5)]
    per_call = anyio.run(calls)
    checks: dict[str, list[float]] = {}
    try:
        checkers = [("inotify's events", watcher), ("a stat of every file", ProjectWatcher(project, watch=False))]
    except TypeError:  # code from before inotify (PYTHONPATH): a stat of every file only
        checkers = [("a stat of every file", watcher)]
    for how, checking in checkers:
        for _ in range(200):
            started = time.perf_counter()
            checking.current()
            checks.setdefault(how, []).append(time.perf_counter() - started)
    files = sum(len(found.stats) for found in watcher.current().files.values()) + 1  # and vedder.yaml
    print(f"project {project} ({len(loaded.clusters)} clusters, {files} files)")
    print(f"start-up to first tools/list: {median_ms(starts)} (median of {len(starts)})")
    for name, samples in per_call.items():
        print(f"{name}: {median_ms(samples)} (median of {len(samples)})")
    for how, samples in checks.items():
        print(f"change check before each call, {how}: {median_ms(samples)} (median of {len(samples)})")


if __name__ == "__main__":
    main()
