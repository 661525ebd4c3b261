"""Mining query history for recurring patterns worth an expert's review: ``vedder propose``.

The funnel: every history entry is dropped for the first reason that applies (failed run, does not parse,
not a read, exploration, a deprecated table, a table outside the cluster, no longer fits the schema); the
rest are grouped by SQL fingerprint into patterns, ranked by distinct users and runs; patterns already
vetted as pairs, rejected before, or too rare are skipped; the best ``limit`` become proposals with their
provenance and an inferred question.

Parsing is the expensive step, so entries are first grouped by their token shape (sqlglot's tokenizer with
literals blanked): each shape is parsed and analysed once, however many literal variants ran.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import sqlglot
from sqlglot import exp

from vedder.curation.describe import describe
from vedder.curation.history import HistoryEntry
from vedder.errors import SQLRefused
from vedder.files import dump_yaml, load_yaml
from vedder.sql.fingerprint import fingerprint_of, normalize_sql
from vedder.sql.guard import parse_one_statement, table_name

if TYPE_CHECKING:
    from vedder.project import Cluster, Project

PROPOSAL_SCHEMA = "../../../schemas/proposal.schema.json"
REJECTED_FILE = "rejected.yaml"

QUERY_REASONS = {
    "failed": "failed runs",
    "unparsable": "does not parse",
    "not_read": "not a read-only query",
    "exploration": "exploration (peeks, DESCRIBE/SHOW, lookups by id, whole-table counts and ranges)",
    "debugging": "debugging (null checks, duplicate checks)",
    "deprecated": "reads a deprecated table",
    "outside_cluster": "reads tables outside the cluster",
    "schema": "no longer fits the current schema",
}
PATTERN_REASONS = {
    "too_rare": "too rare (fewer users or runs than required)",
    "already_vetted": "already a vetted pair",
    "rejected": "rejected before",
    "over_limit": "over --limit",
}
_EXPLORATION_NODES = tuple(getattr(exp, n) for n in ("Describe", "Show", "Summarize", "Pragma", "Use") if hasattr(exp, n))


@dataclass
class Funnel:
    """Counts at each stage; ``dropped`` maps a reason (QUERY_REASONS, PATTERN_REASONS) to a count."""

    queries: int = 0
    parsed: int = 0
    in_cluster: int = 0
    patterns: int = 0
    proposed: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def lines(self) -> list[str]:
        """The funnel as text lines: each stage, then what was dropped before the next one and why."""
        stages = [
            ("queries", self.queries, ("failed", "unparsable")),
            ("parsed", self.parsed, ("not_read", "exploration", "debugging", "deprecated", "outside_cluster", "schema")),
            ("in cluster", self.in_cluster, ()),
            ("patterns", self.patterns, ("too_rare", "already_vetted", "rejected", "over_limit")),
            ("proposed", self.proposed, ()),
        ]
        lines = []
        for name, count, reasons in stages:
            lines.append(f"{name:<12}{count:>8}")
            for reason in reasons:
                if self.dropped.get(reason):
                    label = QUERY_REASONS.get(reason) or PATTERN_REASONS[reason]
                    lines.append(f"  − {self.dropped[reason]:>6}  {label}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "parsed": self.parsed, "in_cluster": self.in_cluster,
                "patterns": self.patterns, "proposed": self.proposed, "dropped": dict(self.dropped)}


@dataclass
class Pattern:
    """Runs of one fingerprint in the history."""

    fingerprint: str
    runs: int = 0
    users: set[str] = field(default_factory=set)
    first_seen: str = ""
    last_seen: str = ""
    texts: Counter = field(default_factory=Counter)

    def add(self, entry: HistoryEntry) -> None:
        self.runs += 1
        self.users.add(entry.user)
        if entry.started_at:
            self.first_seen = min(self.first_seen or entry.started_at, entry.started_at)
            self.last_seen = max(self.last_seen, entry.started_at)
        self.texts[entry.query.strip()] += 1

    @property
    def score(self) -> float:
        """Distinct users count most; runs add a logarithmic bonus."""
        return round(len(self.users) + math.log2(1 + self.runs), 3)


@dataclass
class ProposalDraft:
    id: str
    question: str
    sql: str
    fingerprint: str
    score: float
    provenance: dict[str, Any]
    path: str
    updated: bool = False

    def document(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "sql": self.sql, "fingerprint": self.fingerprint,
                "score": self.score, "provenance": self.provenance}

    def to_dict(self) -> dict[str, Any]:
        return {**self.document(), "path": self.path, "updated": self.updated}


@dataclass
class ProposeResult:
    cluster: str
    funnel: Funnel
    proposals: list[ProposalDraft]
    changes: dict[str, str | None]

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.cluster, "funnel": self.funnel.to_dict(), "proposals": [p.to_dict() for p in self.proposals]}


@dataclass(frozen=True)
class _Shape:
    """What one token shape of a query turned out to be: a drop reason, or the pattern it belongs to."""

    reason: str | None
    fingerprint: str = ""


class Miner:
    """Classifies and fingerprints queries for one cluster; pairs and history go through the same path."""

    def __init__(self, cluster: "Cluster", dialect: str = "duckdb") -> None:
        self.cluster = cluster
        self.dialect = dialect
        self.schema: dict[str, dict[str, dict[str, str]]] = {}
        for dataset in cluster.dataset_files.values():
            if dataset.schema_name:
                columns = {c.name: "UNKNOWN" for c in dataset.columns}
                self.schema.setdefault(dataset.schema_name.lower(), {})[dataset.table_name.lower()] = columns
        self.deprecated = {self._qualified(t) for t in cluster.deprecated_tables}
        self.shapes: dict[str, _Shape] = {}
        self.texts: dict[str, _Shape] = {}

    def _qualified(self, table: str) -> str:
        table = table.lower()
        return f"{self.cluster.default_schema.lower()}.{table}" if "." not in table and self.cluster.default_schema else table

    def classify(self, sql: str) -> _Shape:
        """Drop reason or fingerprint of ``sql``, analysed once per token shape."""
        shape = self.texts.get(sql)
        if shape is None:
            key = shape_key(sql)
            shape = self.shapes.get(key)
            if shape is None:
                shape = self.shapes[key] = self._analyse(sql)
            self.texts[sql] = shape
        return shape

    def _analyse(self, sql: str) -> _Shape:
        try:
            tree = parse_one_statement(sql, self.dialect)
        except SQLRefused:
            return _Shape("unparsable")
        if isinstance(tree, _EXPLORATION_NODES) or (isinstance(tree, exp.Command) and tree.name.upper() in ("SHOW", "DESCRIBE", "SUMMARIZE")):
            return _Shape("exploration")
        if not isinstance(tree, (exp.Query, exp.Subquery)) or any(isinstance(n, (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Into)) for n in tree.walk()):
            return _Shape("not_read")
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        tables = [
            table_name(t, self.cluster.default_schema)
            for t in tree.find_all(exp.Table)
            if t.name and not isinstance(t.this, exp.Func) and not (not t.db and t.name.lower() in ctes)
        ]
        if not tables or _is_exploration(tree):
            return _Shape("exploration")
        if _is_debugging(tree):
            return _Shape("debugging")
        if any(t in self.deprecated for t in tables):
            return _Shape("deprecated")
        if not all(self.cluster.covers(t) for t in tables):
            return _Shape("outside_cluster")
        known = all(t.split(".")[-1] in self.schema.get(t.split(".")[0], {}) for t in tables if "." in t)
        try:
            normalized = normalize_sql(tree, self.dialect, copy=False, schema=self.schema if known else None, default_schema=self.cluster.default_schema)
        except sqlglot.errors.SqlglotError:
            return _Shape("schema")
        return _Shape(None, fingerprint_of(normalized, self.dialect))


def shape_key(sql: str) -> str:
    """Text that is equal for two queries that differ only in literals, case and whitespace.

    Only a cache key, so that each distinct shape is parsed once: every decision is taken on sqlglot's
    parse of the query. Plain string operations, because sqlglot's tokenizer costs as much as the parse.

    >>> shape_key("SELECT  x FROM t1 WHERE c = 'US' AND n > 10") == shape_key("select x from t1 where c = 'SE' and n > 7")
    True
    >>> shape_key("select x from t1") == shape_key("select x from t2")
    False
    """
    parts = sql.split("'")
    out = [f"{len(parts)}:"]
    for index, part in enumerate(parts):
        out.append("?" if index % 2 else _blank_numbers(" ".join(part.lower().split())))
    return "".join(out)


def _blank_numbers(text: str) -> str:
    """``text`` with numbers that are not part of a name replaced by ``?``."""
    if not any(char.isdigit() for char in text):
        return text
    out: list[str] = []
    index, length, previous = 0, len(text), " "
    while index < length:
        char = text[index]
        if char.isdigit() and not (previous.isalnum() or previous in "_$\""):
            while index < length and (text[index].isalnum() or text[index] == "."):
                index += 1
            char = "?"
        else:
            index += 1
        out.append(char)
        previous = char
    return "".join(out)


def _is_exploration(tree: exp.Expression) -> bool:
    """A peek (``SELECT *``, or a LIMIT without filter, order or aggregate), a single-row lookup by id, or a
    whole-table aggregate with neither filter nor grouping (row counts, min/max ranges)."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None:
        return False
    where, group = select.args.get("where"), select.args.get("group")
    aggregated = group is not None or any(p.find(exp.AggFunc) for p in select.expressions)
    if where is None:
        if aggregated:
            return group is None
        star = any(isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)) for p in select.expressions)
        return star or (select.args.get("limit") is not None and select.args.get("order") is None)
    if aggregated:
        return False
    for equality in where.find_all(exp.EQ):
        column, value = equality.this, equality.expression
        if isinstance(column, exp.Column) and isinstance(value, exp.Literal) and (column.name.lower() == "id" or column.name.lower().endswith("_id")):
            return True
    return False


def _is_debugging(tree: exp.Expression) -> bool:
    """Data checks rather than questions: filters that are only IS NULL tests, or ``HAVING COUNT(*) > n``
    duplicate hunts."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None:
        return False
    where, having = select.args.get("where"), select.args.get("having")
    if where is not None:
        conditions = where.this.flatten() if isinstance(where.this, (exp.And, exp.Or)) else [where.this]
        if all(isinstance(c.unnest(), exp.Is) or (isinstance(c, exp.Not) and isinstance(c.this, exp.Is)) for c in conditions):
            return True
    if having is not None and isinstance(having.this, (exp.GT, exp.GTE)) and isinstance(having.this.this, exp.Count):
        return where is None
    return False


def load_rejected(cluster: "Cluster") -> list[dict[str, Any]]:
    path = cluster.path / "proposals" / REJECTED_FILE
    if not path.is_file():
        return []
    data = load_yaml(path).data
    return [item for item in data or [] if isinstance(item, dict)]


def propose(
    project: "Project",
    cluster_id: str,
    history: Iterable[HistoryEntry],
    *,
    limit: int = 20,
    min_users: int = 2,
    min_runs: int = 2,
    model: str | None = None,
    on_entry: Callable[[], None] | None = None,
) -> ProposeResult:
    """Mine ``history`` for ``cluster_id``; return the funnel, the proposals and the files to write."""
    from vedder.project.model import load_proposals

    cluster = project.cluster(cluster_id)
    miner = Miner(cluster, project.config.dialect)
    funnel = Funnel()
    patterns: dict[str, Pattern] = {}
    for entry in history:
        funnel.queries += 1
        if on_entry is not None:
            on_entry()
        if entry.failed:
            funnel.drop("failed")
            continue
        shape = miner.classify(entry.query)
        if shape.reason == "unparsable":
            funnel.drop("unparsable")
            continue
        funnel.parsed += 1
        if shape.reason:
            funnel.drop(shape.reason)
            continue
        funnel.in_cluster += 1
        patterns.setdefault(shape.fingerprint, Pattern(shape.fingerprint)).add(entry)
    funnel.patterns = len(patterns)

    vetted = {miner.classify(pair.sql).fingerprint for pair in cluster.pairs}
    rejected = {str(item.get("fingerprint")) for item in load_rejected(cluster)}
    existing = {p.fingerprint: p for p in load_proposals(cluster)}
    ranked = sorted(patterns.values(), key=lambda p: (-p.score, -p.runs, p.fingerprint))
    chosen: list[Pattern] = []
    for pattern in ranked:
        if len(pattern.users) < min_users or pattern.runs < min_runs:
            funnel.drop("too_rare")
        elif pattern.fingerprint in vetted:
            funnel.drop("already_vetted")
        elif pattern.fingerprint in rejected:
            funnel.drop("rejected")
        elif len(chosen) >= limit:
            funnel.drop("over_limit")
        else:
            chosen.append(pattern)
    funnel.proposed = len(chosen)

    relative = cluster.path.relative_to(project.root)
    drafts: list[ProposalDraft] = []
    changes: dict[str, str | None] = {}
    for pattern in chosen:
        texts = [text for text, _ in pattern.texts.most_common()]
        previous = existing.get(pattern.fingerprint)
        proposal_id = previous.id if previous else pattern.fingerprint[:8]
        question = previous.question if previous and previous.question else infer_question(texts[0], cluster, project, model)
        draft = ProposalDraft(
            id=proposal_id,
            question=question,
            sql=texts[0],
            fingerprint=pattern.fingerprint,
            score=pattern.score,
            provenance={
                "runs": pattern.runs,
                "users": len(pattern.users),
                "first_seen": pattern.first_seen,
                "last_seen": pattern.last_seen,
                "variants": texts[1:4],
            },
            path=str(relative / "proposals" / f"{proposal_id}.yaml"),
            updated=previous is not None,
        )
        drafts.append(draft)
        changes[draft.path] = dump_yaml(draft.document(), schema_url=PROPOSAL_SCHEMA)
    return ProposeResult(cluster=cluster.id, funnel=funnel, proposals=drafts, changes=changes)


def infer_question(sql: str, cluster: "Cluster", project: "Project", model: str | None = None) -> str:
    """The question ``sql`` answers: from the configured model when there is one, else from its syntax tree."""
    model = model or project.config.model
    if model and model != "offline":
        from vedder.agent.llm import complete

        tables = ", ".join(cluster.tables)
        messages = [
            {"role": "system", "content": "You name the business question an analyst's SQL query answers. Reply with one "
             "short question in plain language, no SQL, no quotes, nothing else."},
            {"role": "user", "content": f"Domain: {cluster.title or cluster.id}. {cluster.description}\nTables: {tables}\n\nSQL:\n{sql}"},
        ]
        text = complete(model, messages, **project.config.model_options)
        line = next((line.strip().strip('"').strip() for line in text.splitlines() if line.strip()), "")
        if line:
            return line
    return describe(sql, project.config.dialect)



def pull_request_text(result: ProposeResult) -> tuple[str, str]:
    """Title and Markdown body of the pull request that carries ``result``'s proposals."""
    count = len(result.proposals)
    title = f"vedder propose: {count} proposal{'s' * (count != 1)} for {result.cluster}"
    rows = "\n".join(
        f"| `{p.id}` | {p.question} | {p.provenance['users']} | {p.provenance['runs']} |" for p in result.proposals
    )
    body = (
        f"Patterns mined from query history for the **{result.cluster}** cluster, awaiting review.\n\n"
        "### Funnel\n\n```\n" + "\n".join(result.funnel.lines()) + "\n```\n\n"
        "### Proposals\n\n| id | question | users | runs |\n|---|---|---|---|\n" + rows + "\n\n"
        f"Review them with `vedder review {result.cluster}` (accept, edit or reject each).\n"
    )
    return title, body
