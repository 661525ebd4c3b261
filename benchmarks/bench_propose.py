"""Benchmark of `vedder propose` on the demo query history, whose generator knows the real patterns.

    /work/venv/bin/python benchmarks/bench_propose.py [--rows 10000] [--repeat 3]

Reports per cluster the funnel, the proposed questions, precision (share of proposals that are real recurring patterns) and recall
(share of the real, not yet vetted patterns that were proposed), and the offline propose time (median of
--repeat runs, wall and CPU, with the load average): for one cluster alone, as `vedder propose` runs, and for
all clusters sharing the parsed query shapes. Uses the demo project at the repository root when its
clusters exist; otherwise a minimal stand-in project (one cluster per schema, plays_legacy deprecated).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from vedder.config import load_config
from vedder.curation.describe import Vocabulary, describe
from vedder.curation.history import entry_from_mapping
from vedder.curation.propose import Miner, QueryShapes, propose
from vedder.project import load_project
from vedder.warehouse.demo import generate_history

ROOT = Path(__file__).resolve().parents[1]


def stand_in_project(folder: Path, clusters: set[str]) -> Path:
    (folder / "vedder.yaml").write_text("dialect: duckdb\nmodel: offline\n")
    for cluster in sorted(clusters):
        base = folder / "clusters" / cluster
        (base / "docs").mkdir(parents=True)
        (base / "cluster.yaml").write_text(
            f"id: {cluster}\ntitle: {cluster}\nowners: {{team: {cluster}-team}}\ndatasets: ['{cluster}.*']\ndefault_schema: {cluster}\n")
        (base / "docs" / "legacy.md").write_text("---\ndeprecated: [listening.plays_legacy]\n---\nUse listening.events.\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    rows, truth = generate_history(args.rows, seed=args.seed)
    entries = [entry_from_mapping(row) for row in rows]
    labels = [q["pattern"] for q in truth["queries"]]
    with tempfile.TemporaryDirectory() as scratch:
        if (ROOT / "clusters").is_dir() and any((ROOT / "clusters").glob("*/cluster.yaml")):
            root, kind = ROOT, "demo project"
        else:
            root, kind = stand_in_project(Path(scratch), {p["cluster"] for p in truth["patterns"]}), "stand-in project"
        project = load_project(load_config(root))
        print(f"{args.rows} history rows (seed {args.seed}), {kind}: {', '.join(sorted(project.clusters))}")
        single, every, results = [], [], {}
        first = sorted(project.clusters)[0]
        for _ in range(args.repeat):
            single.append(_timed(lambda: propose(project, first, entries, limit=50)))
            shapes = QueryShapes(project.config.dialect)
            every.append(_timed(lambda: results.update(
                {cid: propose(project, cid, entries, limit=50, shapes=shapes) for cid in sorted(project.clusters)})))

        proposed_total = real_total = found_total = wanted_total = 0
        wording: list[float] = []
        for cluster_id, result in results.items():
            cluster = project.clusters[cluster_id]
            miner = Miner(cluster, project.config.dialect)
            by_fingerprint: dict[str, Counter] = {}
            for entry, label in zip(entries, labels):
                if not entry.failed:
                    by_fingerprint.setdefault(miner.classify(entry.query).fingerprint, Counter())[label] += 1
            vetted = {f"{cluster_id}/{p.id}" for p in cluster.pairs}
            wanted = {p["id"] for p in truth["patterns"] if p["cluster"] == cluster_id and not (p["vetted_pair"] and p["vetted_pair"] in vetted)}
            proposed_labels = [by_fingerprint.get(p.fingerprint, Counter()).most_common(1)[0][0] for p in result.proposals]
            real = [label for label in proposed_labels if label is not None]
            found = wanted & set(real)
            proposed_total += len(proposed_labels)
            real_total += len(real)
            found_total += len(found)
            wanted_total += len(wanted)
            print(f"\n[{cluster_id}]")
            print("\n".join(result.funnel.lines()))
            print(f"precision {len(real)}/{len(proposed_labels)}  recall {len(found)}/{len(wanted)}"
                  + (f"  missed: {', '.join(sorted(wanted - found))}" if wanted - found else ""))
            for proposal, label in zip(result.proposals, proposed_labels):
                print(f"  {label or 'not a real pattern'}: {proposal.question}")
            wording.append(_timed(lambda: [describe(p.sql, project.config.dialect, Vocabulary.of(cluster, project.config.dialect))
                                          for p in result.proposals])[1] / max(1, len(result.proposals)))
        precision = real_total / proposed_total if proposed_total else 0.0
        recall = found_total / wanted_total if wanted_total else 0.0
        print(f"\nprecision {precision:.2f} ({real_total}/{proposed_total})  recall {recall:.2f} ({found_total}/{wanted_total})")
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        for label, timings in ((f"one cluster ({first})", single), (f"all {len(project.clusters)} clusters, shared shapes", every)):
            walls, cpus = [t[0] for t in timings], [t[1] for t in timings]
            print(f"propose time, {label}, {args.rows} rows: median {statistics.median(walls):.2f} s wall, "
                  f"{statistics.median(cpus):.2f} s CPU over {args.repeat} runs (wall {', '.join(f'{w:.2f}' for w in walls)})")
        print(f"offline question wording (vocabulary from the cluster's files + describe): median {statistics.median(wording) * 1000:.1f} ms CPU per proposal")
        print(f"load average after the runs: {load} ({os.cpu_count()} cores)")


def _timed(work) -> tuple[float, float]:
    """Wall and CPU seconds of ``work()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu

if __name__ == "__main__":
    sys.exit(main())
