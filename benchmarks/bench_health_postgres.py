"""`vedder health` on a 1M-row PostgreSQL table with a renamed column (rename detection measures live columns).

Starts a throwaway server with tests/postgres_server.py, generates bench.events and bench.skewed of
bench_profile_postgres.py, profiles them with `vedder profile`, renames one column of each (track_id → track, a
column whose values repeat 4 times; heavy_tail → tail, a long tail behind 3 heavy values), then times the whole
`vedder health` process, runs interleaved across the vedder source trees given (``--tree NAME=DIR``, put first on
PYTHONPATH; default: the installed vedder), and prints whether each rename was recognized. Medians, load average.

    /work/venv/bin/python benchmarks/bench_health_postgres.py --rows 1000000 --runs 5 --tree before=/tmp/old --tree now=.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_profile_postgres import PASSWORD_ENV, POSTGRES_EVENTS_SQL, SKEWED_SQL  # noqa: E402
from postgres_server import PostgresServer, find_bindir  # noqa: E402

CLUSTER = "id: bench\ntitle: Bench\ndescription: Benchmark events.\nowners: {team: bench}\ndatasets: [bench.events, bench.skewed]\n"
RENAMES = {"bench.events": ("track_id", "track"), "bench.skewed": ("heavy_tail", "tail")}


def vedder(tree: str | None, env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m vedder ARGS` from ``tree`` (in ``cwd``: -m puts the working directory first on sys.path)."""
    run_env = {**env, "PYTHONPATH": tree} if tree else env
    return subprocess.run([sys.executable, "-m", "vedder", *args], capture_output=True, text=True, env=run_env, cwd=cwd)


def recognized(report: dict) -> dict[str, dict[str, str]]:
    signals = {s["name"]: s for s in report["clusters"][0]["signals"]}
    return {p["subject"]: p["data"]["renamed"] for p in signals["schema_drift"]["problems"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tree", action="append", default=[], help="NAME=DIR: a vedder source tree to time (repeatable)")
    args = parser.parse_args()
    trees = dict(t.split("=", 1) for t in args.tree) or {"installed": ""}
    trees = {name: str(Path(folder).resolve()) if folder else "" for name, folder in trees.items()}
    server = PostgresServer(find_bindir()).start()
    env = {**os.environ, PASSWORD_ENV: server.password}
    try:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            started = time.perf_counter()
            server.admin(POSTGRES_EVENTS_SQL.format(rows=args.rows), database="warehouse")
            skewed = SKEWED_SQL.format(rows=args.rows, div="/", source=f"generate_series(0::bigint, {args.rows} - 1) AS i")
            server.admin(f"SET ROLE analyst; {skewed}; ANALYZE bench.skewed; RESET ROLE;", database="warehouse")
            print(f"generated 2 × {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
            (root / "clusters" / "bench").mkdir(parents=True)
            (root / "vedder.yaml").write_text(f"warehouse: {{type: postgres, url: '{server.url}', password_env: {PASSWORD_ENV}}}\n")
            (root / "clusters" / "bench" / "cluster.yaml").write_text(CLUSTER)
            last_tree = list(trees.values())[-1]
            profiled = vedder(last_tree, env, "profile", "--project", str(root), cwd=root)
            assert profiled.returncode == 0, profiled.stderr
            for table, (old, new) in RENAMES.items():
                server.admin(f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}", database="warehouse")
            walls: dict[str, list[float]] = {name: [] for name in trees}
            found: dict[str, dict] = {}
            for run in range(args.runs + 1):  # the first round warms caches and is not counted
                for name, tree in trees.items():
                    began = time.perf_counter()
                    result = vedder(tree, env, "health", "--format", "json", "--project", str(root), cwd=root)
                    wall = time.perf_counter() - began
                    assert result.returncode in (0, 1), result.stderr
                    found[name] = recognized(json.loads(result.stdout))
                    if run:
                        walls[name].append(wall)
            for name in trees:
                print(f"{name}: vedder health {statistics.median(walls[name]):.2f} s (median of {args.runs}; "
                      f"min {min(walls[name]):.2f}, max {max(walls[name]):.2f}); renames recognized: {found[name]}")
            print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, {os.cpu_count()} CPUs")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
