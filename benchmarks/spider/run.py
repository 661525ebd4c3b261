"""The Spider benchmark: routing, context and the offline answerer on data no one here wrote.

    /work/venv/bin/python benchmarks/spider/load.py     # once: builds benchmarks/.work/spider
    /work/venv/bin/python benchmarks/spider/run.py [--half report|tune|all] [--limit N] [--repeat 3]

Questions are split in two halves by a hash of their text: thresholds and weights were tuned on ``tune``;
numbers to publish come from ``report`` (the default). Reports routing accuracy@1 (all items, phrasings of
vetted SQL vs held-out SQL, and the questions routing does not flag as ambiguous; for flagged ones, how often
the right cluster is among the named candidates; and how many misses are questions every domain word of
which both the chosen and the right cluster know — "Count the number of accounts." in four bank databases —
with the accuracy if all of those were right, a ceiling for any lexical router; and the questions whose right
SQL runs unchanged on several clusters — routing@1 on them, chance on them, routing@1 on the rest, and what
routing@1 on them 0.97 overall would need if every other question were right), table recall of the
context (gold SQL's tables among the context's tables, with the gold cluster), how often a phrasing's vetted
pair is among the context's few-shot examples (and first), median context tokens,
routing+context time per question in a warm process (median of ``--repeat`` passes), and offline precision
and coverage through ``vedder.eval`` (every item through ``vedder.ask.ask``): with the gold cluster given,
and routed.

``--memory`` measures route memory (``vedder.context.memory``): a fresh conversation log is filled with
questions as people would have asked them with the right cluster given (``--cluster``, answered; written by
``ConversationLog.record`` as ``ask`` writes them), then the asked half is routed with that log by one more
person: routing@1 before/after, how many ambiguous questions memory settled and how many of those to the right
cluster, the added time per ambiguous question in process, and the offline routed run through that log.
``tune``: the tune half, each question by another person. ``others``: every question of both halves, each by
another person (someone else asked this very question before). ``repeat``: the tune half by others and each
asked question once before by the person who asks it again now.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_PROJECT = HERE.parent / ".work" / "spider"


def half(question: str) -> str:
    """The half a question belongs to: 'tune' or 'report' (stable across runs and machines)."""
    return "tune" if hashlib.sha1(question.encode()).digest()[0] % 2 == 0 else "report"


def qualified(table: str, schema: str | None) -> str:
    return f"{schema}.{table}".lower() if "." not in table and schema else table.lower()


def measure_context(project, items: list[dict], repeat: int) -> dict:
    from vedder.context import build_context, route
    from vedder.context.index import project_index
    from vedder.context.route import domain_terms
    from vedder.context.signature import signature

    route(project, "warm up")
    index = project_index(project)
    vocabulary = dict(zip(index.cluster_ids, index.bags))
    passes, recalls, tokens, routed = [], [], [], {"phrasing": [], "heldout": []}
    clear, ambiguous, in_candidates, indistinguishable = [], [], [], 0
    sibling_shown, sibling_first, in_order = [], [], []
    for run in range(repeat):
        elapsed = []
        for item in items:
            cluster = project.clusters[item["cluster"]]
            started = time.perf_counter()
            routing = route(project, item["question"])
            context = build_context(project, cluster, item["question"])
            elapsed.append(time.perf_counter() - started)
            if run == 0:
                right = routing.scores[0][0] == item["cluster"] if routing.scores else False
                routed[item["kind"]].append(right)
                in_order.append(right)
                (ambiguous if routing.ambiguous else clear).append(right)
                if routing.ambiguous:
                    in_candidates.append(item["cluster"] in {c.id for c in routing.candidates})
                if not right and routing.scores:
                    words = domain_terms(item["question"])
                    chosen, gold = vocabulary[routing.scores[0][0]], vocabulary[item["cluster"]]
                    indistinguishable += all(w in chosen and w in gold for w in words)
                gold = {qualified(t, cluster.default_schema) for t in signature(item["sql"]).tables}
                recalls.append(len(gold & set(context.tables)) / len(gold) if gold else 1.0)
                if item["kind"] == "phrasing":
                    shown = [pair.id for pair, _ in context.pairs]
                    sibling_shown.append(item["pair"] in shown)
                    sibling_first.append(shown[:1] == [item["pair"]])
                tokens.append(context.tokens)
        passes.append(statistics.median(elapsed))
    everything = routed["phrasing"] + routed["heldout"]
    runs_on = clusters_it_runs_on(project, items)
    alike = [(right, k) for right, k in zip(in_order, runs_on) if k > 1]
    distinct = [right for right, k in zip(in_order, runs_on) if k == 1]
    return {
        "routing_at_1": round(sum(everything) / len(everything), 4),
        "routing_at_1_phrasings": round(sum(routed["phrasing"]) / max(1, len(routed["phrasing"])), 4),
        "routing_at_1_heldout": round(sum(routed["heldout"]) / max(1, len(routed["heldout"])), 4),
        "ambiguous_share": round(len(ambiguous) / len(everything), 4),
        "routing_at_1_not_ambiguous": round(sum(clear) / max(1, len(clear)), 4),
        "routing_at_1_ambiguous": round(sum(ambiguous) / max(1, len(ambiguous)), 4),
        "ambiguous_right_cluster_among_candidates": round(sum(in_candidates) / max(1, len(in_candidates)), 4),
        "misses": len(everything) - sum(everything),
        "misses_both_clusters_know_every_word": indistinguishable,
        "routing_at_1_if_those_were_right": round((sum(everything) + indistinguishable) / len(everything), 4),
        "questions_whose_right_sql_runs_on_several_clusters": len(alike),
        "routing_at_1_on_those": round(sum(right for right, _ in alike) / max(1, len(alike)), 4),
        "chance_on_those": round(sum(1 / k for _, k in alike) / max(1, len(alike)), 4),
        "routing_at_1_on_the_others": round(sum(distinct) / max(1, len(distinct)), 4),
        "on_those_needed_for_0_97_if_every_other_were_right": round((0.97 * len(everything) - len(distinct)) / max(1, len(alike)), 4),
        "table_recall": round(statistics.mean(recalls), 4),
        "questions_with_all_tables": round(sum(r == 1.0 for r in recalls) / len(recalls), 4),
        "vetted_pair_of_the_phrasing_in_context": round(sum(sibling_shown) / max(1, len(sibling_shown)), 4),
        "vetted_pair_of_the_phrasing_first": round(sum(sibling_first) / max(1, len(sibling_first)), 4),
        "median_context_tokens": statistics.median(tokens),
        "p90_context_tokens": sorted(tokens)[int(0.9 * len(tokens))],
        "route_plus_context_ms": round(1000 * statistics.median(passes), 2),
    }


def measure_offline(project, items: list[dict], given_cluster: bool, memory: bool = False) -> dict:
    from vedder.eval import run_eval

    report = run_eval(project, items, model="offline", given_cluster=given_cluster, memory=memory)
    phrasings = [r for r, item in zip(report.items, items) if item["kind"] == "phrasing"]
    answered = [r for r in report.items if r.status == "answered" and r.correct is not None]
    return {
        "answered": len(answered),
        "precision": round(sum(bool(r.correct) for r in answered) / max(1, len(answered)), 4),
        "coverage_of_phrasings": round(sum(r.status == "answered" for r in phrasings) / max(1, len(phrasings)), 4),
        "heldout_answered": sum(r.status == "answered" for r, item in zip(report.items, items) if item["kind"] == "heldout"),
        "median_latency_ms": round(1000 * report.summary["median_latency_s"], 1),
        "summary": report.summary,
    }


ASKER = "spider-asker"


def record_explicit_turns(path: Path, items: list[dict], asker_items: list[dict] = ()) -> None:
    """A fresh log at ``path``: ``items`` as answered turns whose cluster a person gave (``--cluster``), each by a
    different person, and ``asker_items`` the same way by ``ASKER``, who routes the questions afterwards."""
    from vedder.log.store import ConversationLog

    path.unlink(missing_ok=True)
    log = ConversationLog(path)
    for number, (item, user) in enumerate([(i, None) for i in items] + [(i, ASKER) for i in asker_items]):
        log.record({"question": item["question"], "cluster": item["cluster"], "cluster_source": "given",
                    "status": "answered", "surface": "cli", "model": "offline", "user": user or f"person-{number}"})
    log.close()


def measure_memory(project, items: list[dict], log_path: Path, repeat: int) -> dict:
    from vedder.context import remember, route
    from vedder.log.store import ConversationLog

    log = ConversationLog(log_path)
    before, after, settled, settled_right, ambiguous = [], [], 0, 0, 0
    with_open_log, opening_the_log = [], []
    for item in items:
        routing = route(project, item["question"])
        remembered = remember(project, routing, log=log, user=ASKER)
        best = routing.scores[0][0] if routing.scores else None
        before.append(best == item["cluster"])
        chosen = remembered.cluster.id if remembered.memory else best
        after.append(chosen == item["cluster"])
        if routing.ambiguous:
            ambiguous += 1
            for _ in range(repeat):
                started = time.perf_counter()
                remember(project, routing, log=log, user=ASKER)
                with_open_log.append(time.perf_counter() - started)
                started = time.perf_counter()
                remember(project, routing, user=ASKER)  # opens and closes the log, as `vedder context` and eval do
                opening_the_log.append(time.perf_counter() - started)
        if remembered.memory:
            settled += 1
            settled_right += remembered.memory.cluster == item["cluster"]
    log.close()
    return {
        "routing_at_1_before": round(sum(before) / len(before), 4),
        "routing_at_1_after": round(sum(after) / len(after), 4),
        "ambiguous": ambiguous,
        "settled": settled,
        "settled_right": settled_right,
        "settled_precision": round(settled_right / settled, 4) if settled else None,
        "remember_ms_per_ambiguous_log_open": round(1000 * statistics.median(with_open_log), 3) if with_open_log else None,
        "remember_ms_per_ambiguous_opening_log": round(1000 * statistics.median(opening_the_log), 3) if opening_the_log else None,
    }


def clusters_it_runs_on(project, items: list[dict]) -> list[int]:
    """Per item, on how many clusters its right SQL runs unchanged (the right one included): those clusters have the
    tables and columns the answer needs under the same names, so a router that reads the schema cannot tell them
    apart ("How many students are there?" runs on eight student databases)."""
    from vedder.context.signature import signature
    from vedder.errors import VedderError
    from vedder.sql.run import run_sql
    from vedder.warehouse import open_warehouse

    tables = {cid: {t.rsplit(".", 1)[-1].lower() for t in cluster.tables} for cid, cluster in project.clusters.items()}
    counts = []
    with open_warehouse(project.config) as warehouse:
        for item in items:
            needed = {t.rsplit(".", 1)[-1].lower() for t in signature(item["sql"]).tables}
            runs = 1
            for cid, have in tables.items():
                if cid == item["cluster"] or not needed or not needed <= have:
                    continue
                try:
                    run_sql(item["sql"], project=project, warehouse=warehouse, cluster=project.clusters[cid], limit=5)
                except VedderError:
                    continue
                runs += 1
            counts.append(runs)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=DEFAULT_PROJECT)
    parser.add_argument("--half", choices=("report", "tune", "all"), default="report", help="which questions to ask")
    parser.add_argument("--limit", type=int, default=0, help="only the first N eval items")
    parser.add_argument("--repeat", type=int, default=3, help="passes for the timing median")
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--memory", choices=("tune", "others", "repeat"), help="measure route memory with a log of earlier questions (see above)")
    args = parser.parse_args(argv)
    if not (args.project / "eval.jsonl").is_file():
        print("error: run benchmarks/spider/load.py first", file=sys.stderr)
        return 2
    memory_log = args.project / ".vedder" / "memory-bench-log.sqlite"
    if args.memory:
        os.environ["VEDDER_LOG"] = str(memory_log)  # the offline routed run reads route memory from it
    from vedder.config import load_config
    from vedder.project import load_project

    started = time.perf_counter()
    project = load_project(load_config(args.project))
    load_s = time.perf_counter() - started
    every_item = [json.loads(line) for line in (args.project / "eval.jsonl").read_text().splitlines() if line.strip()]
    items = [i for i in every_item if args.half == "all" or half(i["question"]) == args.half]
    items = items[: args.limit] if args.limit else items
    if args.memory:
        asked = {id(i) for i in items}
        earlier = [i for i in every_item if args.memory == "others" or (half(i["question"]) == "tune" and id(i) not in asked)]
        record_explicit_turns(memory_log, earlier, items if args.memory == "repeat" else [])
        os.environ["VEDDER_USER"] = ASKER
    results = {
        "clusters": len(project.clusters),
        "pairs": sum(len(c.pairs) for c in project.clusters.values()),
        "half": args.half,
        "items": len(items),
        "phrasings": sum(i["kind"] == "phrasing" for i in items),
        "heldout": sum(i["kind"] == "heldout" for i in items),
        "project_load_s": round(load_s, 2),
        "context": measure_context(project, items, args.repeat),
    }
    if args.memory:
        results["memory"] = {"log": args.memory, **measure_memory(project, items, memory_log, args.repeat)}
    if not args.skip_offline:
        results["offline_given_cluster"] = measure_offline(project, items, given_cluster=True)
        results["offline_routed"] = measure_offline(project, items, given_cluster=False, memory=bool(args.memory))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
