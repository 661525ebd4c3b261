"""Expert decisions on proposals: ``vedder review``.

Accepting makes ``clusters/<id>/pairs/<slug>.yaml`` (verified by the git user, today) and removes the
proposal; rejecting appends the fingerprint and reason to ``proposals/rejected.yaml`` and removes the
proposal. Every decision is on disk at once, atomically, so quitting or a crash loses none:

- with a pull request (the default) the decision goes into the review state,
  ``.vedder/review/<cluster>.json`` (git-ignored), never into the working tree; ``ReviewState.changes``
  turns the accumulated decisions into the files of one pull request, and the state is cleared only once
  that pull request was opened, so a failed push keeps every decision for the next run;
- with ``--no-pr`` the files are written into the working tree directly; a crash between writing the pair
  and removing the proposal is finished on the next run (a proposal whose fingerprint is already a pair or
  rejected is cleaned up, never shown again).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedder.curation.describe import without_notes
from vedder.curation.propose import REJECTED_FILE, Miner, load_rejected
from vedder.errors import ProjectFileError, UsageError, VedderError
from vedder.files import atomic_write, dump_yaml
from vedder.sql.layout import reflow
from vedder.schemas import schema_header
from vedder.project.model import Pair, Proposal, load_pair, load_proposals

if TYPE_CHECKING:
    from vedder.curation.pull_request import PullRequestResult
    from vedder.project import Cluster, Project
    from vedder.warehouse import QueryResult, Warehouse

MINED_TAG = "mined"
RESEMBLES_AT = 0.25
"""The offline answerer's similarity from which a pair is shown as one the proposal resembles (it answers from 0.5)."""


@dataclass
class Decision:
    """One expert decision. ``fingerprint`` and ``file`` (the new pair's text, for an accepted proposal) or
    ``entry`` (the rejected.yaml entry) let the review state replay it into a pull request."""

    proposal: str
    cluster: str
    action: str
    path: str
    question: str
    reason: str = ""
    fingerprint: str = ""
    proposal_path: str = ""
    file: str | None = None
    entry: dict[str, Any] | None = None
    sql: str = ""
    """The proposal's SQL, fingerprinted again by later versions (``Miner.fingerprints``)."""

    def to_dict(self) -> dict[str, Any]:
        return {"proposal": self.proposal, "cluster": self.cluster, "action": self.action, "path": self.path, "question": self.question, "reason": self.reason}


STATE_FOLDER = Path(".vedder") / "review"


@dataclass
class ReviewState:
    """Decisions awaiting their pull request, kept in ``.vedder/review/<cluster>.json`` and rewritten
    atomically after each one. The folder carries its own ``.gitignore``, so the user's ``git status``
    stays clean whatever the project ignores.

    ``published`` remembers the proposals decided in pull requests already opened, so that they are not
    shown again before the pull request is merged; an entry goes once its proposal file is gone here."""

    path: Path
    cluster: str
    decisions: list[Decision] = field(default_factory=list)
    published: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def load(cls, project: "Project", cluster: "Cluster") -> "ReviewState":
        path = project.root / STATE_FOLDER / f"{cluster.id}.json"
        state = cls(path, cluster.id)
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                state.decisions = [Decision(**item) for item in data["decisions"]]
                published = data.get("published", [])
                state.published = [dict(item) for item in published if (project.root / item["proposal_path"]).exists()]
            except (ValueError, KeyError, TypeError) as exc:
                raise ProjectFileError(f"{path}: unreadable review state ({exc})",
                                       "it holds decisions not yet in a pull request; fix the JSON, or delete the file to drop them") from None
            if len(state.published) < len(published):
                state._save()
        return state

    def record(self, decision: Decision) -> None:
        self.decisions.append(decision)
        self._save()

    def mark_published(self, pull_request: str) -> None:
        """The pending decisions are in the pull request ``pull_request`` (its url or branch)."""
        self.published += [{"proposal": d.proposal, "fingerprint": d.fingerprint, "proposal_path": d.proposal_path,
                            "sql": d.sql, "pull_request": pull_request} for d in self.decisions]
        self.decisions = []
        self._save()

    def _save(self) -> None:
        if not self.decisions and not self.published:
            self.path.unlink(missing_ok=True)
            return
        ignore = self.path.parent / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, "*\n")
        document = {"cluster": self.cluster, "decisions": [asdict(d) for d in self.decisions], "published": self.published}
        atomic_write(self.path, json.dumps(document, indent=2) + "\n")

    def decided(self, miner: "Miner | None" = None) -> set[str]:
        """Fingerprints and proposal ids decided in this state, published or not; with ``miner``, also the
        fingerprints today's code gives the decided proposals' SQL (a state written by an older version)."""
        items = [*(asdict(d) for d in self.decisions), *self.published]
        found = {item["fingerprint"] for item in items} | {item["proposal"] for item in items}
        if miner is not None:
            root = self.path.parents[len(STATE_FOLDER.parts)]
            for item in items:
                found |= miner.fingerprints(item["fingerprint"], item.get("sql") or _proposal_sql(root / item.get("proposal_path", "")))
        return found

    def changes(self, project: "Project", cluster: "Cluster") -> dict[str, str | None]:
        """The files of the pull request: new pairs, removed proposals, rejected.yaml with the new entries."""
        changes: dict[str, str | None] = {}
        entries = [d.entry for d in self.decisions if d.entry]
        for decision in self.decisions:
            if decision.file is not None:
                changes[decision.path] = decision.file
            if decision.proposal_path:
                changes[decision.proposal_path] = None
        if entries:
            path = cluster.path / "proposals" / REJECTED_FILE
            changes[str(path.relative_to(project.root))] = dump_yaml(load_rejected(cluster) + entries, schema_url=schema_header(path, "rejected"))
        return changes


def _proposal_sql(path: Path) -> str:
    """The SQL of the proposal file at ``path`` (a decision recorded before decisions kept their SQL), or ''."""
    from vedder.files import load_yaml

    if not path.is_file():
        return ""
    try:
        data = load_yaml(path).data
    except VedderError:
        return ""
    return str(data.get("sql") or "") if isinstance(data, dict) else ""


def reviewer_name(root: Path) -> str:
    """Who is deciding: the git author, else the login name."""
    from vedder.curation.git import user_name

    return user_name(root) or os.environ.get("USER") or "unknown"


def waiting_in_pull_requests(project: "Project", clusters: "list[Cluster]") -> dict[str, int]:
    """Branch -> how many proposals of ``clusters`` wait in it: open ``vedder propose`` pull requests, not merged
    here yet, so ``vedder review`` cannot show them."""
    from vedder.curation.propose import proposed_in_open_branches

    counts: dict[str, int] = {}
    for cluster in clusters:
        for branch in proposed_in_open_branches(project, cluster).values():
            counts[branch] = counts.get(branch, 0) + 1
    return counts


def pending(project: "Project", cluster: "Cluster", state: ReviewState | None = None, *, clean_up: bool = False) -> list[Proposal]:
    """Proposals awaiting a decision, best first: not yet a pair, rejected, or decided in ``state``.
    With ``clean_up`` (reviews that write the working tree), leftovers of interrupted decisions are removed."""
    miner = Miner(cluster, project.config.dialect)
    decided = {miner.classify(p.sql).fingerprint for p in cluster.pairs}
    decided |= {f for r in load_rejected(cluster) for f in miner.fingerprints(r.get("fingerprint"), r.get("sql"))}
    in_state = state.decided(miner) if state else set()
    waiting = []
    for proposal in load_proposals(cluster):
        own = miner.fingerprints(proposal.fingerprint, proposal.sql)
        if own & decided:
            if clean_up:
                proposal.path.unlink(missing_ok=True)
        elif not own & in_state and proposal.id not in in_state:
            waiting.append(proposal)
    return sorted(waiting, key=lambda p: (-p.score, p.id))


def find_proposal(project: "Project", proposal_id: str, cluster: "Cluster | None" = None,
                  states: dict[str, ReviewState] | None = None) -> tuple["Cluster", Proposal]:
    """The proposal ``proposal_id`` (in ``cluster``, or in any cluster), unless already decided in a state."""
    clusters = [cluster] if cluster else list(project.clusters.values())
    for candidate in clusters:
        state = states.setdefault(candidate.id, ReviewState.load(project, candidate)) if states is not None else None
        for proposal in load_proposals(candidate):
            if proposal.id == proposal_id:
                if state is not None and proposal_id in state.decided():
                    raise UsageError(f"proposal '{proposal_id}' is already decided, awaiting its pull request",
                                     f"`vedder review {candidate.id}` publishes the pending decisions")
                return candidate, proposal
    where = f"cluster {cluster.id}" if cluster else "any cluster"
    raise UsageError(f"no proposal '{proposal_id}' in {where}", "`vedder review --list` shows the proposals awaiting review")


def similar_pair(project: "Project", cluster: "Cluster", proposal: Proposal) -> tuple[Pair, float] | None:
    """The existing pair the proposal most resembles, by the offline answerer's similarity of questions:
    the pair that would answer the proposal's question, else the closest one from ``RESEMBLES_AT`` on."""
    from vedder.offline import answer_offline

    if not cluster.pairs or not proposal.question.strip():
        return None
    result = answer_offline(project, cluster, proposal.question)
    if result.match is not None:
        return result.match.pair, round(result.match.score, 2)
    closest = result.closest[0] if result.closest else None
    return (closest[0], round(closest[1], 2)) if closest and closest[1] >= RESEMBLES_AT else None


def preview(project: "Project", cluster: "Cluster", sql: str, warehouse: "Warehouse", limit: int = 5) -> "QueryResult":
    """The first ``limit`` rows of ``sql``, run through the SQL guard for ``cluster``."""
    from vedder.sql.run import run_sql

    return run_sql(sql, project=project, warehouse=warehouse, cluster=cluster, limit=limit)[1]


@dataclass
class ProposalView:
    """What a reviewer sees of one proposal: the proposal, a preview of its result (or why there is none)
    and the existing pair it resembles."""

    cluster: str
    proposal: Proposal
    preview: "QueryResult | None"
    preview_error: str | None
    similar: tuple[Pair, float] | None

    @property
    def provenance(self) -> str:
        """'4 runs by 3 users, 2026-10-01 to 2026-10-04'."""
        seen = self.proposal.provenance
        return (f"{seen.get('runs', '?')} runs by {seen.get('users', '?')} users, "
                f"{str(seen.get('first_seen', '?'))[:10]} to {str(seen.get('last_seen', '?'))[:10]}")

    def to_dict(self) -> dict[str, Any]:
        rows = [list(row) for row in self.preview.rows] if self.preview is not None else None
        return {
            "id": self.proposal.id, "cluster": self.cluster, "question": self.proposal.question, "sql": self.proposal.sql,
            "score": self.proposal.score, "provenance": self.proposal.provenance,
            "preview": {"columns": list(self.preview.columns), "rows": rows} if self.preview is not None else None,
            "preview_error": self.preview_error,
            "similar": {"pair": self.similar[0].id, "question": self.similar[0].question, "score": self.similar[1]} if self.similar else None,
        }


def view_proposal(project: "Project", cluster: "Cluster", proposal: Proposal, warehouse: "Warehouse | None", *,
                  unavailable: str = "", limit: int = 5) -> ProposalView:
    """The proposal with a ``limit``-row preview (through the guard) and its most similar pair; without a
    ``warehouse`` the preview error says ``unavailable``."""
    result, error = None, None
    if warehouse is None:
        error = f"preview unavailable: {unavailable or 'no warehouse'}"
    else:
        try:
            result = preview(project, cluster, proposal.sql, warehouse, limit)
        except VedderError as exc:
            error = f"preview failed: {exc.message}"
    return ProposalView(cluster.id, proposal, result, error, similar_pair(project, cluster, proposal))


def check_pair_columns(cluster: "Cluster", sql: str, dialect: str = "duckdb") -> None:
    """Refuse SQL that passes the guard but reads a column the cluster's dataset files do not declare
    (the check ``vedder validate`` makes on pairs), naming the column and the closest declared one."""
    from vedder.errors import SQLRefused
    from vedder.sql.analyze import check_columns
    from vedder.sql.run import guard_for_cluster

    guarded = guard_for_cluster(sql, cluster, dialect)
    schema = {name: {c.name: c.type or "UNKNOWN" for c in dataset.columns} for name, dataset in cluster.dataset_files.items()}
    unknown = [p for p in check_columns(guarded.expression, schema, dialect, cluster.default_schema, copy=False)
               if p.kind == "unknown_column"]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        where = f"clusters/{cluster.id}/datasets/{unknown[0].table}.yaml" if unknown[0].table in schema else f"clusters/{cluster.id}/datasets/"
        raise SQLRefused("unknown_column", unknown[0].message + more,
                         f"use a column declared in {where}; re-run `vedder profile {cluster.id}` if the table changed")


def _slug(text: str) -> str:
    words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
    slug = ""
    for word in words:
        if len(slug) + len(word) + 1 > 60:
            break
        slug = f"{slug}-{word}" if slug else word
    return slug or "pair"


def _unique_path(folder: Path, slug: str, taken: set[Path] = frozenset()) -> Path:
    path, number = folder / f"{slug}.yaml", 1
    while path.exists() or path in taken:
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
    state: ReviewState | None = None,
) -> Decision:
    """Make the proposal (optionally edited) a vetted pair and remove the proposal: in ``state`` when given,
    else in the working tree. The pair asks the proposal's question without the notes written for the reviewer."""
    question = (question or without_notes(proposal.question)).strip()
    sql = reflow((sql or proposal.sql).strip(), project.config.dialect)
    if not question:
        raise UsageError("the question is empty", "type the question this SQL answers")
    check_pair_columns(cluster, sql, project.config.dialect)
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
    taken = {project.root / d.path for d in state.decisions if d.file is not None} if state else set()
    path = _unique_path(cluster.path / "pairs", _slug(question), taken)
    text = dump_yaml(document, schema_url=schema_header(path, "pair"))
    decision = Decision(proposal.id, cluster.id, "accepted", str(path.relative_to(project.root)), question,
                        fingerprint=proposal.fingerprint, proposal_path=str(proposal.path.relative_to(project.root)), file=text,
                        sql=proposal.sql)
    if state is not None:
        state.record(decision)
    else:
        atomic_write(path, text)
        proposal.path.unlink(missing_ok=True)
        cluster.pairs.append(load_pair(path, cluster.id))
    return decision


def reject(
    project: "Project",
    cluster: "Cluster",
    proposal: Proposal,
    reason: str,
    *,
    reviewer: str | None = None,
    today: dt.date | None = None,
    state: ReviewState | None = None,
) -> Decision:
    """Record the proposal's fingerprint and ``reason`` as rejected and remove the proposal: in ``state``
    when given, else in the working tree's rejected.yaml."""
    reason = reason.strip()
    if not reason:
        raise UsageError("a rejection needs a reason", "say why, e.g. --reason 'uses the deprecated table'")
    entry = {
        "fingerprint": proposal.fingerprint,
        "question": proposal.question,
        "sql": proposal.sql,
        "reason": reason,
        "rejected_by": reviewer or reviewer_name(project.root),
        "rejected_at": (today or dt.date.today()).isoformat(),
    }
    path = cluster.path / "proposals" / REJECTED_FILE
    decision = Decision(proposal.id, cluster.id, "rejected", str(path.relative_to(project.root)), proposal.question, reason,
                        fingerprint=proposal.fingerprint, proposal_path=str(proposal.path.relative_to(project.root)), entry=entry,
                        sql=proposal.sql)
    if state is not None:
        state.record(decision)
    else:
        atomic_write(path, dump_yaml(load_rejected(cluster) + [entry], schema_url=schema_header(path, "rejected")))
        proposal.path.unlink(missing_ok=True)
    return decision


def acceptance_rate(cluster: "Cluster", state: ReviewState | None = None) -> tuple[int, int, float | None]:
    """(accepted, rejected, accepted share) of this cluster's proposals decided so far, ``state`` included."""
    in_state = [d.action for d in state.decisions] if state else []
    accepted = sum(1 for pair in cluster.pairs if MINED_TAG in pair.tags) + in_state.count("accepted")
    rejected = len(load_rejected(cluster)) + in_state.count("rejected")
    total = accepted + rejected
    return accepted, rejected, (accepted / total if total else None)


def pull_request_text(cluster_id: str, decisions: list[Decision], changes: dict[str, str | None]) -> tuple[str, str]:
    """Title and Markdown body of the pull request carrying ``decisions``."""
    accepted = [d for d in decisions if d.action == "accepted"]
    rejected = [d for d in decisions if d.action == "rejected"]
    title = f"vedder review: {len(accepted)} accepted, {len(rejected)} rejected for {cluster_id}"
    lines = [f"Decisions on mined proposals for the **{cluster_id}** cluster.", ""]
    lines += [f"- accepted `{d.proposal}`: {d.question} → `{d.path}`" for d in accepted]
    lines += [f"- rejected `{d.proposal}`: {d.question} — {d.reason}" for d in rejected]
    lines += ["", "Files:", *[f"- `{path}`{' (deleted)' if text is None else ''}" for path, text in sorted(changes.items())]]
    return title, "\n".join(lines) + "\n"


def publish_decisions(project: "Project", cluster: "Cluster", state: ReviewState) -> "PullRequestResult | None":
    """Open one pull request with the pending decisions in ``state``, then mark them published; on failure
    they stay pending and the error says so. None when there is nothing to publish."""
    from vedder.curation.publish import publish
    from vedder.errors import VedderError

    if not state.decisions:
        return None
    changes = state.changes(project, cluster)
    title, body = pull_request_text(cluster.id, state.decisions, changes)
    try:
        result = publish(project, cluster, changes, command="review", title=title, body=body)
    except VedderError as exc:
        kept = f"the {len(state.decisions)} decision(s) are kept in {state.path.relative_to(project.root)}; `vedder review {cluster.id}` publishes them again"
        raise type(exc)(exc.message, f"{exc.hint}; {kept}" if exc.hint else kept) from None
    state.mark_published(result.url or result.branch)
    return result


def decide_many(
    project: "Project",
    ids: list[str],
    *,
    cluster: "Cluster | None",
    action: str,
    reason: str = "",
    states: dict[str, ReviewState] | None = None,
) -> list[Decision]:
    """Accept or reject the proposals ``ids`` (non-interactive); every id is checked before any decision.
    With ``states`` (cluster id -> ReviewState) the decisions go there, else into the working tree."""
    if action == "reject" and not reason.strip():
        raise UsageError("--reject needs --reason TEXT", "say why, so the pattern is never proposed again for that reason")
    targets = [find_proposal(project, proposal_id, cluster, states) for proposal_id in ids]
    decisions = []
    for owner, proposal in targets:
        state = states.setdefault(owner.id, ReviewState.load(project, owner)) if states is not None else None
        if action == "accept":
            decisions.append(accept(project, owner, proposal, state=state))
        else:
            decisions.append(reject(project, owner, proposal, reason, state=state))
    return decisions
