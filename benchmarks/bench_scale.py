"""vedder at 1,000 clusters: a one-shot offline `vedder ask` on N copies of Spider's 137 clusters.

    /work/venv/bin/python benchmarks/bench_scale.py [--copies 8] [--runs 7] [--target /tmp/spider-scale]
        [--source /tmp/spider27]

Builds the project first when ``--target`` has none: every ``SOURCE/clusters/<c>`` copied as ``<c>`` and as
``<c>_<k>`` for k = 1 … copies-1, with ``id:`` in cluster.yaml rewritten, and a vedder.yaml whose warehouse is
SOURCE's (the copies query the same tables). With 8 copies: 1,096 clusters, 27,144 pairs, ~34k files.

Then prints the load average and, whole process (median and minimum of ``--runs``):
- cold: the first ask after a clone (``.vedder/`` removed before each run, so every cache is rebuilt);
- warm: every ask after that: routed (the copies make it ambiguous), with --cluster (answered), not covered,
  and ``vedder clusters --json`` (from the summaries recorded as the clusters loaded);
- after an edit: one pair file touched before each run (its cluster is read and indexed again, the routing store
  brought up to date), and one pair's question edited before each run (it gains the word 'zeppelin', or loses it:
  the routing store's postings of that word change too);
and the in-process phases of a warm one-shot ask (config, project, routing, loading the chosen cluster).

With ``--servers`` (only): ``vedder web`` and ``vedder mcp`` (stdio, through the MCP SDK's client) on the project,
each started ``--starts`` times: start-up (spawn until the page answers / the first tools/list), then per request an
offline ask routed, one with ``--cluster``, one after a pair file is touched and one after a pair's question is
edited before it, and for MCP
``list_clusters`` (the first call of a server, then warm ones); ``vedder chat`` per turn (the difference between 11
questions and 1, whole process, over ``--runs``); and in process, the watcher's freshness check when nothing changed
(with inotify's events and with a stat of every file). Set PYTHONPATH to another checkout to measure its code, and
VEDDER_CACHE_DIR to keep each version's caches apart (their formats differ).

With ``--commands`` (only): every other command, whole process, warm (one run first, then ``--runs``), on the
project and on the demo (``--demo``, default the repo root; give a copy: propose writes into it): clusters, context,
query, ask, log, feedback, chat (one question, then :quit), health of one cluster and ``--changed-since HEAD`` (the
project must be a git repository: give a copy), propose ``--no-pr`` (its proposals removed after each run), eval of
20 items, ``--help``. ``--only WORD`` keeps the commands whose label holds it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

VEDDER = Path(sys.executable).parent / "vedder"
QUESTION = "How many pilots are there?"
"""Routed, it ties between the 8 copies of pilot_record and of flight_company: ambiguous, 24 clusters named."""
GIVEN = "pilot_record_3"
GIVEN_QUESTION = "List the names of pilots in ascending order of rank."
NOT_COVERED = "What's the weather in Paris tomorrow?"


def build(source: Path, target: Path, copies: int) -> None:
    """``target``: ``source``'s clusters ``copies`` times (ids rewritten), on ``source``'s warehouse."""
    if (target / "vedder.yaml").is_file():
        return
    clusters = target / "clusters"
    clusters.mkdir(parents=True, exist_ok=True)
    for folder in sorted((source / "clusters").iterdir()):
        if not (folder / "cluster.yaml").is_file():
            continue
        for copy in range(copies):
            name = folder.name if copy == 0 else f"{folder.name}_{copy}"
            shutil.copytree(folder, clusters / name)
            header = clusters / name / "cluster.yaml"
            lines = header.read_text(encoding="utf-8").splitlines(keepends=True)
            header.write_text("".join(f"id: {name}\n" if line.startswith("id:") else line for line in lines),
                              encoding="utf-8")
    (target / "vedder.yaml").write_text(
        f"warehouse:\n  type: duckdb\n  path: {source.resolve() / 'warehouse.duckdb'}\ndialect: duckdb\n"
        "model: offline\nlog: .vedder/log.sqlite\n", encoding="utf-8")


def edit_question(path: Path) -> None:
    """A real edit of the pair at ``path``: its question gains the word 'zeppelin', or loses it again."""
    text = path.read_text(encoding="utf-8")
    edited = (text.replace("question: zeppelin ", "question: ", 1) if "question: zeppelin " in text
              else text.replace("question: ", "question: zeppelin ", 1))
    path.write_text(edited, encoding="utf-8")


def change(kind: str | None, path: Path) -> None:
    """Before a request: nothing, a touch of the pair file at ``path``, or an edit of its question."""
    if kind == "touch":
        path.touch()
    elif kind == "edit":
        edit_question(path)


def run(args: list[str], project: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run([str(VEDDER), *args, "--project", str(project)], capture_output=True)
    elapsed = time.perf_counter() - started
    if completed.returncode not in (0, 1):
        raise SystemExit(f"vedder {' '.join(args)} failed ({completed.returncode}): {completed.stderr.decode()[-2000:]}")
    return elapsed


def measure(label: str, args: list[str], project: Path, runs: int, before=None) -> None:
    times = []
    for _ in range(runs):
        if before:
            before()
        times.append(run(args, project))
    print(f"{label:<40} median {statistics.median(times):6.2f} s   min {min(times):6.2f} s   ({runs} runs)", flush=True)


def phases(project_dir: Path, runs: int, before=None, label: str = "warm") -> None:
    """Median in-process time of each phase of a warm one-shot ask (each run in a fresh process, ``before`` called
    before each): imports, project (config, walk, cluster states), routing (loads the 24 clusters it names; after an
    edit, brings the routing store up to date), loading one more cluster."""
    code = f"""
import json, time
from pathlib import Path
t0 = time.perf_counter()
from vedder.cli.common import project_for
from vedder.context import route
t1 = time.perf_counter()
project = project_for(Path({str(project_dir)!r}), skip_broken=True)
t2 = time.perf_counter()
routing = route(project, {QUESTION!r})
t3 = time.perf_counter()
len(project.clusters["activity_1_5"].pairs)
t4 = time.perf_counter()
print(json.dumps({{"imports": t1 - t0, "project": t2 - t1, "route": t3 - t2, "one cluster": t4 - t3}}))
"""
    import json

    samples = []
    for _ in range(runs):
        if before:
            before()
        # Not from this folder: "-c" puts the working folder first on sys.path, ahead of PYTHONPATH.
        completed = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True, cwd=project_dir)
        samples.append(json.loads(completed.stdout.strip().splitlines()[-1]))
    print(f"{label} phases in process (median): " + ", ".join(
        f"{name} {statistics.median(s[name] for s in samples) * 1000:.0f} ms" for name in samples[0]), flush=True)


SPIDER_COMMANDS = {"question": QUESTION, "cluster": GIVEN, "given": GIVEN_QUESTION,
                   "sql": 'SELECT COUNT(*) FROM pilot_record.pilot', "table": "pilot_record.pilot"}
DEMO_COMMANDS = {"question": "What were the top 5 tracks in Sweden in October 2026?", "cluster": "listening",
                 "given": "What were the top 5 tracks in Sweden in October 2026?",
                 "sql": "SELECT country, count(*) FROM listening.users GROUP BY 1", "table": "listening.users"}


def history_file(table: str, folder: Path) -> Path:
    """300 runs of three patterns on ``table`` by four people: what ``vedder propose`` mines."""
    import random

    chosen = random.Random(1)
    path = folder / f"history-{table}.jsonl"
    queries = [lambda: f"SELECT * FROM {table} LIMIT {chosen.choice([5, 10, 20])}",
               lambda: f"SELECT COUNT(*) FROM {table}", lambda: f"SELECT COUNT(*) AS n FROM {table} WHERE 1 = {chosen.choice([1, 2])}"]
    path.write_text("".join(json.dumps({"query": chosen.choice(queries)(), "user": chosen.choice(["ann", "bob", "cho", "dee"]),
                                        "started_at": f"2026-10-{1 + i % 28:02d}T10:00:00", "status": "success"}) + "\n"
                            for i in range(300)), encoding="utf-8")
    return path


def eval_file(project: Path, folder: Path, items: int = 20) -> Path:
    """``items`` pair questions evenly spread over the project's pairs, with their SQL and cluster, for ``vedder eval``."""
    import yaml

    path = folder / f"eval-{project.name}.jsonl"
    pairs = sorted((project / "clusters").glob("*/pairs/*.yaml"))
    rows = []
    for pair in pairs[::max(1, len(pairs) // items)][:items]:
        data = yaml.safe_load(pair.read_text(encoding="utf-8"))
        rows.append({"question": data["question"], "sql": data["sql"], "cluster": pair.parent.parent.name})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def command_plan(project: Path, words: dict[str, str], folder: Path) -> list[tuple[str, list[str], str | None, Any]]:
    """(label, arguments, standard input, what to do after each run) of every command ``--commands`` times."""
    proposals = project / "clusters" / words["cluster"] / "proposals"
    conversation = json.loads(subprocess.run([str(VEDDER), "ask", words["given"], "--cluster", words["cluster"], "--json",
                                              "--project", str(project)], capture_output=True, text=True).stdout)["conversation_id"]
    return [
        ("clusters", ["clusters"], None, None),
        ("clusters --json", ["clusters", "--json"], None, None),
        ("context (routed)", ["context", words["question"]], None, None),
        ("context --cluster", ["context", "--cluster", words["cluster"], words["given"]], None, None),
        ("query --cluster", ["query", "--cluster", words["cluster"], words["sql"]], None, None),
        ("ask --cluster", ["ask", "--cluster", words["cluster"], words["given"]], None, None),
        ("log", ["log"], None, None),
        ("feedback", ["feedback", conversation, "up"], None, None),
        ("chat --cluster (one question, :quit)", ["chat", "--cluster", words["cluster"]], f"{words['given']}\n:quit\n", None),
        ("health CLUSTER", ["health", words["cluster"]], None, None),
        ("health --changed-since HEAD", ["health", "--changed-since", "HEAD"], None, None),
        ("propose CLUSTER --no-pr", ["propose", words["cluster"], "--history", str(history_file(words["table"], folder)), "--no-pr"],
         None, lambda: shutil.rmtree(proposals, ignore_errors=True)),
        ("eval (20 items)", ["eval", str(eval_file(project, folder))], None, None),
        ("--help", ["--help"], None, None),
    ]


def commands(projects: list[tuple[Path, dict[str, str]]], runs: int, only: str | None) -> None:
    """Each command warm, whole process, on each project: median and minimum of ``runs`` after one run first."""
    folder = Path(tempfile.mkdtemp(prefix="vedder-bench-commands-"))
    for project, words in projects:
        for label, args, stdin, after in command_plan(project, words, folder):
            if only and only not in label:
                continue
            times = []
            for attempt in range(runs + 1):
                started = time.perf_counter()
                completed = subprocess.run([str(VEDDER), *args, "--project", str(project)] if args != ["--help"] else
                                           [str(VEDDER), "--help"], input=stdin, capture_output=True, text=True)
                elapsed = time.perf_counter() - started
                if after:
                    after()
                if completed.returncode not in (0, 1):
                    raise SystemExit(f"vedder {' '.join(args)} failed ({completed.returncode}): {completed.stderr[-2000:]}")
                if attempt:
                    times.append(elapsed)
            print(f"{project.name:<16} {label:<38} median {statistics.median(times):6.2f} s   min {min(times):6.2f} s   "
                  f"({runs})   load {os.getloadavg()[0]:.2f}", flush=True)


def server_env() -> dict[str, str]:
    home = tempfile.mkdtemp(prefix="vedder-bench-servers-")
    return {**os.environ, "VEDDER_HOME": home, "VEDDER_LOG": os.path.join(home, "log.sqlite"), "VEDDER_MODEL": "offline"}


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def requests(per_kind: int) -> list[tuple[str, str, str | None, str | None]]:
    """What each server is asked, in order: (label, question, cluster, what changes first: ``change``)."""
    plan: list[tuple[str, str, str | None, str | None]] = [("first ask", QUESTION, None, None)]
    for label, question, cluster, before in (("ask routed, nothing changed", QUESTION, None, None),
                                             (f"ask --cluster {GIVEN}", GIVEN_QUESTION, GIVEN, None),
                                             ("ask routed, a pair touched before", QUESTION, None, "touch"),
                                             ("ask routed, a pair's question edited before", QUESTION, None, "edit")):
        plan += [(label, question, cluster, before)] * per_kind
    return plan


def web_run(project: Path, edited: Path, samples: dict[str, list[float]], per_kind: int) -> None:
    started = time.perf_counter()
    server = subprocess.Popen([str(VEDDER), "web", "--port", "0", "--project", str(project)], env=server_env(),
                              stderr=subprocess.PIPE, text=True)
    try:
        found = None
        while found is None:
            line = server.stderr.readline()
            if not line:
                raise SystemExit(f"vedder web stopped: {server.wait()}")
            found = re.search(r"(http://\S+)/ ", line)
        url = found.group(1)
        with urllib.request.urlopen(url + "/", timeout=600) as response:
            response.read()
        samples.setdefault("start-up (until the page answers)", []).append(time.perf_counter() - started)

        def ask(question: str, cluster: str | None) -> None:
            body = json.dumps({"question": question, **({"cluster": cluster} if cluster else {})}).encode()
            request = urllib.request.Request(url + "/api/ask", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as response:
                status = json.loads(response.read())["status"]
            if status == "error":
                raise SystemExit(f"web ask failed: {question}")

        for label, question, cluster, before in requests(per_kind):
            change(before, edited)
            samples.setdefault(label, []).append(timed(lambda: ask(question, cluster)))
    finally:
        server.terminate()
        server.wait(timeout=30)


def mcp_run(project: Path, edited: Path, samples: dict[str, list[float]], per_kind: int) -> None:
    import anyio
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=str(VEDDER), args=["mcp", "--project", str(project)], env=server_env())

    async def session() -> None:
        started = time.perf_counter()
        async with Client(params) as client:
            await client.list_tools()
            samples.setdefault("start-up (until tools/list answers)", []).append(time.perf_counter() - started)
            for label, question, cluster, before in requests(per_kind):
                change(before, edited)
                began = time.perf_counter()
                result = await client.call_tool("ask", {"question": question, **({"cluster": cluster} if cluster else {})})
                samples.setdefault(label, []).append(time.perf_counter() - began)
                if result.is_error:
                    raise SystemExit(f"mcp ask failed: {result}")
            for attempt in range(per_kind + 1):
                began = time.perf_counter()
                result = await client.call_tool("list_clusters", {})
                label = "list_clusters, warm" if attempt else "list_clusters, first call"
                samples.setdefault(label, []).append(time.perf_counter() - began)
                if result.is_error:
                    raise SystemExit(f"mcp list_clusters failed: {result}")

    anyio.run(session)


def chat_turns(project: Path, runs: int) -> None:
    """Seconds per ``vedder chat`` turn: whole chats of 11 questions and of 1 (``--cluster``, offline), the
    difference of their medians over 10."""
    def chat(questions: int) -> float:
        script = f"{GIVEN_QUESTION}\n" * questions + ":quit\n"
        started = time.perf_counter()
        completed = subprocess.run([str(VEDDER), "chat", "--cluster", GIVEN, "--project", str(project)], input=script,
                                   capture_output=True, text=True, env=server_env())
        if completed.returncode != 0 or completed.stdout.count("answered") < questions:
            raise SystemExit(f"vedder chat failed ({completed.returncode}): {completed.stderr[-2000:]}")
        return time.perf_counter() - started

    chat(1)
    one, eleven = [], []
    for _ in range(runs):
        one.append(chat(1))
        eleven.append(chat(11))
    per_turn = (statistics.median(eleven) - statistics.median(one)) / 10
    print(f"vedder chat: one question {statistics.median(one):6.3f} s, eleven {statistics.median(eleven):6.3f} s: "
          f"{per_turn:6.3f} s per turn   ({runs})   load {os.getloadavg()[0]:.2f}", flush=True)


def freshness_check(project: Path, runs: int, watch: bool = True) -> float:
    """Median seconds of the watcher's check when nothing changed (in process); ``watch=False``: with a stat of every
    file (code from before inotify has only that)."""
    from vedder.serving import ProjectWatcher

    try:
        watcher = ProjectWatcher(project, watch=watch)
    except TypeError:
        watcher = ProjectWatcher(project)
    watcher.current()
    return statistics.median(timed(watcher.current) for _ in range(runs))


def servers(project: Path, starts: int, per_kind: int) -> None:
    edited = next((project / "clusters" / "flight_1_3" / "pairs").glob("*.yaml"))
    for name, run_once in (("vedder web", web_run), ("vedder mcp", mcp_run)):
        samples: dict[str, list[float]] = {}
        for _ in range(starts):
            run_once(project, edited, samples, per_kind)
        for label, times in samples.items():
            print(f"{name}: {label:<42} median {statistics.median(times):6.3f} s   min {min(times):6.3f} s   "
                  f"({len(times)})   load {os.getloadavg()[0]:.2f}", flush=True)
    chat_turns(project, per_kind)
    print(f"freshness check in process, nothing changed: median {freshness_check(project, 30) * 1000:.3f} ms (30); "
          f"a stat of every file {freshness_check(project, 30, watch=False) * 1000:.0f} ms (30)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--source", type=Path, default=Path("/tmp/spider27"))
    parser.add_argument("--target", type=Path, default=Path("/tmp/spider-scale"))
    parser.add_argument("--skip-cold", action="store_true", help="only the warm and edited measurements")
    parser.add_argument("--servers", action="store_true", help="only vedder web and vedder mcp")
    parser.add_argument("--starts", type=int, default=3, help="with --servers: servers started per surface")
    parser.add_argument("--commands", action="store_true", help="only the other commands, on the project and --demo")
    parser.add_argument("--demo", type=Path, default=Path(__file__).resolve().parent.parent, help="with --commands")
    parser.add_argument("--only", help="with --commands: the commands whose label holds this")
    options = parser.parse_args()
    build(options.source, options.target, options.copies)
    project = options.target
    clusters = sum(1 for p in (project / "clusters").iterdir() if p.is_dir())
    print(f"{project}: {clusters} clusters; load average {os.getloadavg()[0]:.2f}", flush=True)
    if options.servers:
        servers(project, options.starts, options.runs)
        return
    if options.commands:
        commands([(project, SPIDER_COMMANDS), (options.demo, DEMO_COMMANDS)], options.runs, options.only)
        return
    ask = ["ask", QUESTION, "--json"]
    if not options.skip_cold:
        measure("cold (no .vedder/): ask routed", ask, project, 3,
                before=lambda: shutil.rmtree(project / ".vedder", ignore_errors=True))
    run(ask, project)
    measure("warm: ask routed (ambiguous)", ask, project, options.runs)
    measure(f"warm: ask --cluster {GIVEN} (answered)", ["ask", GIVEN_QUESTION, "--cluster", GIVEN, "--json"], project, options.runs)
    measure("warm: ask not covered", ["ask", NOT_COVERED, "--json"], project, options.runs)
    edited = next((project / "clusters" / "flight_1_3" / "pairs").glob("*.yaml"), None)
    if edited is not None:
        measure("a pair touched before each: ask routed", ask, project, options.runs, before=lambda: edited.touch())
        measure("a pair's question edited before each: ask routed", ask, project, options.runs,
                before=lambda: edit_question(edited))
    measure("warm: vedder clusters --json", ["clusters", "--json"], project, options.runs)
    phases(project, options.runs)
    if edited is not None:
        phases(project, options.runs, before=lambda: edit_question(edited), label="a pair's question edited before each:")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
