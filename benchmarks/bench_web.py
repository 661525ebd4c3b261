"""How fast `vedder web` starts and answers over HTTP, whole process.

Usage: python benchmarks/bench_web.py [PROJECT] [--runs N]   (default: the demo project at the repository root;
run `vedder demo` first). Start-up is spawn to the first `GET /api/clusters` answered; each run then times the
first ask (the warehouse opens), warm asks of a vetted pair's question through `POST /api/ask`, model offline, and
asks right after one of the project's pair files was touched (its cluster read again).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VEDDER = str(Path(sys.executable).with_name("vedder"))
QUESTION = "How many streams did each country have in October 2026?"


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def one_run(project: Path, env: dict[str, str]) -> tuple[float, float, list[float], list[float]]:
    started = time.perf_counter()
    server = subprocess.Popen([VEDDER, "web", "--port", "0", "--project", str(project)], env=env,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"(http://\S+)/ ", server.stderr.readline()).group(1)
        with urllib.request.urlopen(url + "/api/clusters", timeout=60) as response:
            response.read()
        start_up = time.perf_counter() - started
        asks = []
        edited = []
        touched = sorted((project / "clusters").glob("*/pairs/*.yaml"))[0]
        for attempt in range(9):
            if attempt >= 6:
                touched.touch()
            began = time.perf_counter()
            answer = post(url + "/api/ask", {"question": QUESTION})
            (edited if attempt >= 6 else asks).append(time.perf_counter() - began)
            assert answer["status"] == "answered", answer
        return start_up, asks[0], asks[1:], edited
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("project", nargs="?", default=str(ROOT))
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    home = tempfile.mkdtemp(prefix="vedder-bench-web-")
    env = {**os.environ, "VEDDER_HOME": home, "VEDDER_LOG": os.path.join(home, "log.sqlite"), "VEDDER_MODEL": "offline"}
    runs = [one_run(Path(options.project).resolve(), env) for _ in range(options.runs)]
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
    print(f"start-up to first API answer: {statistics.median(r[0] for r in runs) * 1000:.0f} ms (median of {len(runs)}; "
          f"{min(r[0] for r in runs) * 1000:.0f}-{max(r[0] for r in runs) * 1000:.0f})")
    print(f"first ask (opens the warehouse): {statistics.median(r[1] for r in runs) * 1000:.0f} ms")
    warm = [t for r in runs for t in r[2]]
    print(f"ask round trip, warm: {statistics.median(warm) * 1000:.0f} ms (median of {len(warm)})")
    edited = [t for r in runs for t in r[3]]
    print(f"ask right after a pair file was touched: {statistics.median(edited) * 1000:.0f} ms (median of {len(edited)})")


if __name__ == "__main__":
    main()
