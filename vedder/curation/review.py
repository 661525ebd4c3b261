"""Expert decisions on proposals: ``vedder review``.

Accepting writes ``clusters/<id>/pairs/<slug>.yaml`` (verified by the git user, today) and then removes the
proposal; rejecting appends the fingerprint and reason to ``proposals/rejected.yaml`` and then removes the
proposal. Every write is atomic and happens at once, so quitting or a crash loses no decision; a crash
between the two steps is finished on the next run (a proposal whose fingerprint is already a pair or
rejected is cleaned up, never shown again).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedder.curation.propose import LITERAL_TOKENS, REJECTED_FILE, Miner, load_rejected
from vedder.errors import UsageError
from vedder.files import atomic_write, dump_yaml
from vedder.project.model import Pair, Proposal, load_pair, load_proposals

if TYPE_CHECKING:
    from vedder.project import Cluster, Project
    from vedder.warehouse import QueryResult, Warehouse

PAIR_SCHEMA = "../../../schemas/pair.schema.json"
REJECTED_SCHEMA = "../../../schemas/rejected.schema.json"
MINED_TAG = "mined"



@dataclass
class Decision:
    proposal: str
    cluster: str
    action: str
    path: str
    question: str
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"proposal": self.proposal, "cluster": self.cluster, "action": self.action, "path": self.path, "question": self.question, "reason": self.reason}


def reviewer_name(root: Path) -> str:
    """Who is deciding: the git author, else the login name."""
    from vedder.curation.git import user_name

    return user_name(root) or os.environ.get("USER") or "unknown"


def pending(project: "Project", cluster: "Cluster") -> list[Proposal]:
    """Proposals awaiting a decision, best first; leftovers of interrupted decisions are cleaned up."""
    miner = Miner(cluster, project.config.dialect)
    decided = {miner.classify(p.sql).fingerprint for p in cluster.pairs} | {str(r.get("fingerprint")) for r in load_rejected(cluster)}
    waiting = []
    for proposal in load_proposals(cluster):
        if proposal.fingerprint in decided:
            proposal.path.unlink(missing_ok=True)
        else:
            waiting.append(proposal)
    return sorted(waiting, key=lambda p: (-p.score, p.id))


def find_proposal(project: "Project", proposal_id: str, cluster: "Cluster | None" = None) -> tuple["Cluster", Proposal]:
    """The proposal ``proposal_id`` (in ``cluster``, or in any cluster)."""
    clusters = [cluster] if cluster else list(project.clusters.values())
    for candidate in clusters:
        for proposal in load_proposals(candidate):
            if proposal.id == proposal_id:
                return candidate, proposal
    where = f"cluster {cluster.id}" if cluster else "any cluster"
    raise UsageError(f"no proposal '{proposal_id}' in {where}", "`vedder review --list` shows the proposals awaiting review")


def similar_pair(cluster: "Cluster", proposal: Proposal, dialect: str = "duckdb") -> tuple[Pair, float] | None:
    """The existing pair most like the proposal (SQL token shapes and question words), if any is close."""
    import sqlglot

    tokenizer = sqlglot.Dialect.get_or_raise(dialect).tokenizer_class()

    def words(sql: str, question: str) -> set:
        try:
            tokens = {t.text.lower() for t in tokenizer.tokenize(sql) if t.token_type not in LITERAL_TOKENS}
        except sqlglot.errors.SqlglotError:
            tokens = set()
        return tokens | {f"q:{w}" for w in question.lower().split()}

    target = words(proposal.sql, proposal.question)
    best: tuple[Pair, float] | None = None
    for pair in cluster.pairs:
        other = words(pair.sql, pair.question)
        score = len(target & other) / max(1, len(target | other))
        if best is None or score > best[1]:
            best = (pair, round(score, 2))
    return best if best and best[1] >= 0.3 else None


def preview(project: "Project", cluster: "Cluster", sql: str, warehouse: "Warehouse", limit: int = 5) -> "QueryResult":
    """The first ``limit`` rows of ``sql``, run through the SQL guard for ``cluster``."""
    from vedder.sql.run import run_sql

    return run_sql(sql, project=project, warehouse=warehouse, cluster=cluster, limit=limit)[1]


def _slug(text: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > 60:
            break
        slug = f"{slug}-{word}" if slug else word
    return slug or "pair"


def _unique_path(folder: Path, slug: str) -> Path:
    path, number = folder / f"{slug}.yaml", 1
    while path.exists():
        number += 1
        path = folder / f"{slug}-{number}.yaml"
    return path


def accept(
    project: "Project",
    cluster: "Cluster",
    proposal: Proposal,
    *,
    question: str | None = None,
    sql: str | None = None,
    reviewer: str | None = None,
    today: dt.date | None = None,
) -> Decision:
    """Write the proposal (optionally edited) as a vetted pair, then remove the proposal."""
    from vedder.sql.run import guard_for_cluster

    question = (question or proposal.question).strip()
    sql = (sql or proposal.sql).strip()
    if not question:
        raise UsageError("the question is empty", "type the question this SQL answers")
    guard_for_cluster(sql, cluster, project.config.dialect)
    provenance = proposal.provenance
    document: dict[str, Any] = {
        "question": question,
        "sql": sql + "\n" if "\n" in sql else sql,
        "verified_by": reviewer or reviewer_name(project.root),
        "verified_at": (today or dt.date.today()).isoformat(),
        "tags": [MINED_TAG],
        "notes": f"Mined from query history (proposal {proposal.id}: {provenance.get('runs', '?')} runs by "
                 f"{provenance.get('users', '?')} users, {provenance.get('first_seen', '?')[:10]} to {provenance.get('last_seen', '?')[:10]}).",
    }
    path = _unique_path(cluster.path / "pairs", _slug(question))
    atomic_write(path, dump_yaml(document, schema_url=PAIR_SCHEMA))
    proposal.path.unlink(missing_ok=True)
    cluster.pairs.append(load_pair(path, cluster.id))
    return Decision(proposal.id, cluster.id, "accepted", str(path.relative_to(project.root)), question)


def reject(
    project: "Project",
    cluster: "Cluster",
    proposal: Proposal,
    reason: str,
    *,
    reviewer: str | None = None,
    today: dt.date | None = None,
) -> Decision:
    """Record the proposal's fingerprint and ``reason`` in rejected.yaml, then remove the proposal."""
    reason = reason.strip()
    if not reason:
        raise UsageError("a rejection needs a reason", "say why, e.g. --reason 'uses the deprecated table'")
    entries = load_rejected(cluster)
    entries.append({
        "fingerprint": proposal.fingerprint,
        "question": proposal.question,
        "sql": proposal.sql,
        "reason": reason,
        "rejected_by": reviewer or reviewer_name(project.root),
        "rejected_at": (today or dt.date.today()).isoformat(),
    })
    path = cluster.path / "proposals" / REJECTED_FILE
    atomic_write(path, dump_yaml(entries, schema_url=REJECTED_SCHEMA))
    proposal.path.unlink(missing_ok=True)
    return Decision(proposal.id, cluster.id, "rejected", str(path.relative_to(project.root)), proposal.question, reason)


def acceptance_rate(cluster: "Cluster") -> tuple[int, int, float | None]:
    """(accepted, rejected, accepted share) of this cluster's proposals decided so far."""
    accepted = sum(1 for pair in cluster.pairs if MINED_TAG in pair.tags)
    rejected = len(load_rejected(cluster))
    total = accepted + rejected
    return accepted, rejected, (accepted / total if total else None)


def review_changes(project: "Project", cluster: "Cluster") -> dict[str, str | None]:
    """Decisions not yet committed: pair and proposal files of ``cluster`` that differ from HEAD."""
    from vedder.curation.git import changed_paths, repo_root

    repo = repo_root(project.root).resolve()
    folder = cluster.path.resolve()
    changes: dict[str, str | None] = {}
    for path in changed_paths(repo, str(folder / "pairs"), str(folder / "proposals")):
        absolute = repo / path
        relative = str(absolute.relative_to(project.root.resolve()))
        changes[relative] = absolute.read_text(encoding="utf-8") if absolute.exists() else None
    return changes


def decide_many(
    project: "Project",
    ids: list[str],
    *,
    cluster: "Cluster | None",
    action: str,
    reason: str = "",
) -> list[Decision]:
    """Accept or reject the proposals ``ids`` (non-interactive); every id is checked before any decision."""
    if action == "reject" and not reason.strip():
        raise UsageError("--reject needs --reason TEXT", "say why, so the pattern is never proposed again for that reason")
    targets = [find_proposal(project, proposal_id, cluster) for proposal_id in ids]
    decisions = []
    for owner, proposal in targets:
        if action == "accept":
            decisions.append(accept(project, owner, proposal))
        else:
            decisions.append(reject(project, owner, proposal, reason))
    return decisions

