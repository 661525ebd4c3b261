"""`vedder propose` on history no one tuned on: the reviewer's marketplace (benchmarks/marketplace_history.py).

    /work/venv/bin/python benchmarks/bench_propose_marketplace.py [--project DIR] [--repeat 3] [--show]

Mines both clusters as `vedder propose CLUSTER --history FILE` does (limit 20, at least 2 people), maps every
proposal to the generator's pattern by its SQL and its variants, and scores it against the experts' labels
(benchmarks/marketplace_history_labels.yaml): precision is the share of proposals of a pattern labelled
`accept`; recall the share of `accept` patterns proposed; a decoy (`reject`) is *flagged* when its question says
what it breaks ("including test accounts", "including deleted orders", …). Also the time of a propose run per
cluster (median of --repeat, with the load average).

Without --project it copies tests/fixtures/shop (the reviewer's clusters) and adds what the blind run added to
the reviewer's project: the obsolete table market.orders_v1 (its dataset file) and the docs' paragraph on it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from marketplace_history import generate  # noqa: E402

from vedder.config import load_config  # noqa: E402
from vedder.curation.history import entry_from_mapping  # noqa: E402
from vedder.curation.propose import propose  # noqa: E402
from vedder.project import load_project  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELS = Path(__file__).resolve().parent / "marketplace_history_labels.yaml"
OBSOLETE_DOC = """
## The old orders table

`market.orders_v1` is the orders table from before the July 2025 migration. It is obsolete: it stops at
2025-06-30, is no longer updated, and its `total` is in major units. Don't use it — use `market.orders`.
"""
OBSOLETE_DATASET = {"table": "market.orders_v1", "description": "", "row_count": 104091, "columns": [
    {"name": n, "type": t, "description": ""} for n, t in [
        ("order_id", "BIGINT"), ("buyer_id", "INTEGER"), ("seller_id", "INTEGER"), ("created_at", "TIMESTAMP WITH TIME ZONE"),
        ("status", "VARCHAR"), ("total", "DOUBLE"), ("currency", "VARCHAR")]]}


def project_copy(folder: Path) -> Path:
    shutil.copytree(ROOT / "tests" / "fixtures" / "shop", folder, ignore=shutil.ignore_patterns("*.jsonl", "score.py"))
    market = folder / "clusters" / "marketplace"
    (market / "datasets" / "market.orders_v1.yaml").write_text(yaml.safe_dump(OBSOLETE_DATASET, sort_keys=False))
    with open(market / "docs" / "orders.md", "a", encoding="utf-8") as doc:
        doc.write(OBSOLETE_DOC)
    return folder


def key(sql: str) -> str:
    """Text of a query without comments, whitespace, case or a trailing semicolon (the proposals lay SQL out)."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return "".join(" ".join(lines).split()).rstrip(";").lower()


FLAG_WORDS = ("including test", "including deleted", "including cancelled", "obsolete", "deprecated", "without the partition",
              "cents", "not filtered", "note:")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--show", action="store_true", help="print every proposal's SQL")
    args = parser.parse_args()

    rows, pattern_of = generate(args.seed)
    by_key = {key(sql): pattern for sql, pattern in pattern_of.items()}
    entries = [entry_from_mapping(row) for row in rows]
    labels = yaml.safe_load(LABELS.read_text())
    with tempfile.TemporaryDirectory() as scratch:
        root = args.project or project_copy(Path(scratch) / "shop")
        project = load_project(load_config(root))
        load = os.getloadavg()[0]
        total_proposed = total_good = total_wanted = total_found = 0
        for cluster_id in ("marketplace", "web-analytics"):
            times, result = [], None
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = propose(project, cluster_id, entries, skip_open_branches=False)
                times.append(time.perf_counter() - start)
            wanted = {p for p, label in labels[cluster_id].items() if label["expected"] == "accept"}
            found: set[str] = set()
            good = 0
            print(f"\n== {cluster_id}: {len(result.proposals)} proposals, propose {statistics.median(times):.2f} s median of {args.repeat} (load {load:.1f})")
            for proposal in result.proposals:
                texts = [proposal.sql, *proposal.provenance["variants"]]
                patterns = {by_key.get(key(t), "?") for t in texts}
                pattern = sorted(patterns)[0].removesuffix("+limit")
                expected = labels[cluster_id].get(pattern, {}).get("expected", "unlabelled")
                verdict = expected
                if expected == "accept":
                    good += 1
                    found.add(pattern)
                elif expected == "reject":
                    verdict = "DECOY flagged" if any(w in proposal.question.lower() for w in FLAG_WORDS) else "DECOY unflagged"
                print(f"  {proposal.id} {proposal.provenance['users']:>2}u {proposal.provenance['runs']:>3}r  {verdict:16} {pattern:45} {proposal.question}")
                if args.show:
                    print("      " + proposal.sql.replace("\n", "\n      "))
            missed = sorted(wanted - found)
            print(f"  precision {good}/{len(result.proposals)}, recall {len(found)}/{len(wanted)}" + (f"; missed: {', '.join(missed)}" if missed else ""))
            decoys = {p for p, label in labels[cluster_id].items() if label["expected"] == "reject"}
            through = {p for p in decoys if any(by_key.get(key(t), "").removesuffix("+limit") == p
                                                for proposal in result.proposals for t in (proposal.sql, *proposal.provenance["variants"]))}
            print(f"  expert accepts {len(found)} (one per question), decoy patterns through {len(through)} of {len(decoys)}; "
                  f"held back: {', '.join(sorted(decoys - through)) or 'none'}")
            total_proposed += len(result.proposals)
            total_good += good
            total_wanted += len(wanted)
            total_found += len(found)
        print(f"\nboth clusters: precision {total_good}/{total_proposed} = {total_good / max(total_proposed, 1):.2f}, "
              f"recall {total_found}/{total_wanted} = {total_found / max(total_wanted, 1):.2f}")


if __name__ == "__main__":
    main()
