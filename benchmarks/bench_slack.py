"""What `vedder slack`'s persisted state (slack.json) costs: event acknowledged and answer posted, with the state
empty and full (``KEEP`` threads, answers, reactions and events), model offline, demo at scale 0.02; and reading
and writing the full file.

Usage: python benchmarks/bench_slack.py [--runs N]. Slack's side is played as the tests play it (signed requests
over real HTTP to a server thread, a fake Web API on 127.0.0.1 recording chat.postMessage).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from demo_project import copy_demo  # noqa: E402
from test_slack import QUESTION, fake_slack, mention, running, send  # noqa: E402

from vedder.config import load_config  # noqa: E402
from vedder.slack import KEEP, STATE_FILE, SlackState  # noqa: E402


def full_state(now: int) -> dict:
    return {"threads": {f"C0OLD:1600{i:06d}.000100": f"{i:010x}" for i in range(KEEP)},
            "answers": {f"C0OLD:1601{i:06d}.000100": [f"{i:010x}", f"{i:010x}"] for i in range(KEEP)},
            "reactions": {f"C0OLD:1601{i:06d}.000100 U{i:08d} up": ["1600000000.000100", i] for i in range(KEEP)},
            "events": {f"EvOLD{i:08d}": now for i in range(KEEP)}}


def measure(project: Path, runs: int) -> tuple[float, float]:
    """Medians (ms) of acknowledging a mention and of its answer reaching the fake Web API."""
    acks, answers = [], []
    with fake_slack() as slack, running(project, slack) as server:
        for n in range(runs + 1):
            started = time.monotonic()
            send(server, mention(QUESTION, f"1700{n:06d}.000100"))
            acked = time.monotonic()
            posted = slack.posts(n + 1)[-1]["at"]  # when the fake received it: the worker writes slack.json after
            if n:  # the first opens the warehouse
                acks.append((acked - started) * 1000)
                answers.append((posted - started) * 1000)
            server.app.wait()
    return statistics.median(acks), statistics.median(answers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        os.environ["VEDDER_LOG"] = str(Path(folder) / "log" / "log.sqlite")
        project = copy_demo(Path(folder) / "demo", scale=0.02)
        state = Path(load_config(project).log_path).parent / STATE_FILE
        for name in ("empty", "full"):
            state.parent.mkdir(parents=True, exist_ok=True)
            state.write_text(json.dumps(full_state(int(time.time()))) if name == "full" else "{}")
            ack, answer = measure(project, runs)
            print(f"state {name:5} ({state.stat().st_size / 1e6:.2f} MB): ack {ack:.1f} ms, answer posted {answer:.1f} ms "
                  f"(medians of {runs}, load {os.getloadavg()[0]:.1f})")
        state.write_text(json.dumps(full_state(int(time.time()))))
        started = time.perf_counter()
        full = SlackState(state)
        loaded, writes = time.perf_counter() - started, []
        for n in range(runs):
            started = time.perf_counter()
            full.put({"threads": {f"C0NEW:{n}": "x"}}, f"EvNEW{n}")
            writes.append(time.perf_counter() - started)
        print(f"full state: read at start {loaded * 1000:.0f} ms, one change written {statistics.median(writes) * 1000:.0f} ms "
              f"(median of {runs}, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
