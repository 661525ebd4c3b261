"""Context selection: what the model sees about a cluster for one question, within a token budget.

Tokens are estimated as ``ceil(characters / 4)`` — close to what GPT-style tokenizers give for English and
SQL, and free to compute. The budget is spent in order of value: the conversation so far (follow-ups), the
relevant tables (columns trimmed to what matters on wide tables), the most similar vetted pairs, then the
relevant doc sections — first the rules ("always exclude `user_id < 100`") about a column of a chosen table, since
those are what a schema does not say; anything that does not fit is left out, never cut mid-item.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from vedder.context.index import ClusterIndex, Section, cluster_index
from vedder.context.route import require_question
from vedder.context.signature import signature
from vedder.context.tokenize import split_identifier, stem, tokenize
from vedder.sql.analyze import column_sql

if TYPE_CHECKING:
    from vedder.context.route import Routing
    from vedder.project import Cluster, Column, Dataset, Doc, Pair, Project

MAX_PAIRS = 5
MAX_SECTIONS = 4
WIDE_TABLE = 25
TABLE_SHARE = 0.55
PAIR_SHARE = 0.30
MAX_RULES = 3
RULE_WORDS = ("always", "never", "must", "do not", "don't", "exclude", "avoid")
"""Words that make a doc section a rule (a gotcha) rather than background."""


def estimate_tokens(text: str) -> int:
    """Cheap token estimate: one token per four characters.

    >>> estimate_tokens("SELECT 1")
    2
    """
    return math.ceil(len(text) / 4)


@dataclass
class Context:
    """What the model sees for one question: ``text`` is exactly the Markdown it gets."""

    cluster_id: str
    question: str
    tables: list[str]
    pairs: list[tuple["Pair", float]]
    docs: list[tuple["Doc", float]]
    tokens: int
    text: str
    table_scores: list[tuple[str, float]] = field(default_factory=list)
    budget: int = 0
    routing: "Routing | None" = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.routing is not None:
            data.update(self.routing.to_dict())
        else:
            data["clusters"] = [{"id": self.cluster_id, "score": None}]
        data.update(
            cluster=self.cluster_id,
            question=self.question,
            tables=[{"table": t, "score": round(s, 3)} for t, s in self.table_scores if t in self.tables],
            pairs=[{"id": p.id, "question": p.question, "score": round(s, 3)} for p, s in self.pairs],
            docs=[{"id": d.id, "path": str(d.path), "score": round(s, 3)} for d, s in self.docs],
            tokens=self.tokens,
            budget=self.budget,
            text=self.text,
        )
        return data


def _normalized(scores: Sequence[float]) -> list[float]:
    top = max(scores, default=0.0)
    return [s / top if top > 0 else 0.0 for s in scores]


def rank_pairs(index: ClusterIndex, question: str, exclude: Iterable[str] = ()) -> list[tuple["Pair", float]]:
    """Pairs of the cluster by similarity to ``question`` (raw BM25 scores), best first."""
    excluded = set(exclude)
    scores = index.pair_index.scores(tokenize(question))
    ranked = [(p, s) for p, s in zip(index.pairs, scores) if s > 0 and p.id not in excluded and not p.stale]
    return sorted(ranked, key=lambda item: -item[1])


def _qualified(table: str, cluster: "Cluster") -> str:
    if "." not in table and cluster.default_schema:
        return f"{cluster.default_schema}.{table}".lower()
    return table.lower()


def rank_tables(index: ClusterIndex, question: str, pairs: list[tuple["Pair", float]]) -> list[tuple[str, float]]:
    """Tables by relevance: their own BM25 match plus the tables the most similar pairs use."""
    cluster = index.cluster
    scores = dict(zip((d.table.lower() for d in index.datasets), _normalized(index.tables.scores(tokenize(question)))))
    for table in cluster.tables:
        scores.setdefault(table.lower(), 0.0)
    top_pairs = pairs[:3]
    best = top_pairs[0][1] if top_pairs else 0.0
    for pair, score in top_pairs:
        for table in signature(pair.sql).tables:
            name = _qualified(table, cluster)
            if name in scores:
                scores[name] += 0.8 * score / best
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _value_text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _value_literal(value: Any) -> str:
    """A common value as the model should write it in SQL: 'US', 42, true (not 'True', not '42')."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + _value_text(value).replace("'", "''") + "'"


def percent(fraction: float) -> str:
    """A share as a whole percentage that says 100% or 0% only when exactly so.

    >>> percent(0.25), percent(0.99995), percent(0.001)
    ('25%', '>99%', '<1%')
    """
    text = f"{fraction:.0%}"
    if text == "100%" and fraction < 1:
        return ">99%"
    return "<1%" if text == "0%" and fraction > 0 else text


def render_column(column: "Column", dialect: str = "duckdb") -> str:
    """One column as a Markdown bullet, its name as a query must write it (`"Order Date"`, `"group"`)."""
    parts = [f"- `{column_sql(column.name, dialect)}` {column.type}".rstrip()]
    if column.description:
        parts.append(f"— {column.description}")
    values = [e.get("value") for e in column.common_values if isinstance(e, dict)][:6]
    if values and (column.distinct_count is None or column.distinct_count <= 1000):
        parts.append("values: " + ", ".join(_value_literal(v) for v in values))
    elif column.min is not None and column.max is not None and column.min != column.max:
        parts.append(f"range {_value_text(column.min)} … {_value_text(column.max)}")
    if column.null_fraction:
        parts.append(f"({percent(column.null_fraction)} null)")
    return " ".join(parts)


def _column_relevance(column: "Column", terms: set[str]) -> float:
    words = {stem(w) for w in split_identifier(column.name)} | set(tokenize(column.description))
    return len(words & terms) + (0.5 if column.name.lower() in ("id",) or column.name.lower().endswith("_id") else 0.0)


def render_table(dataset: "Dataset | None", table: str, question_terms: set[str], deprecated: set[str], dialect: str = "duckdb") -> str:
    """A table as Markdown: name, size, description, partitioning, then its (relevant) columns."""
    if dataset is None:
        return f"### {table}\n(no profile yet)\n"
    header = f"### {dataset.table}"
    if dataset.row_count is not None:
        header += f" ({dataset.row_count:,} rows)"
    lines = [header]
    if dataset.table.lower() in deprecated:
        lines.append("**Deprecated** — see the docs below before using it.")
    if dataset.description:
        lines.append(dataset.description.strip())
    if dataset.partitioning:
        part = dataset.partitioning
        lines.append(f"Partitioned by `{column_sql(str(part.get('column')), dialect)}` ({part.get('granularity', '')}, {part.get('first', '?')} … {part.get('last', '?')})")
    columns = dataset.columns
    if len(columns) > WIDE_TABLE:
        ranked = sorted(columns, key=lambda c: -_column_relevance(c, question_terms))
        keep = {c.name for c in ranked[:WIDE_TABLE]}
        shown = [c for c in columns if c.name in keep]
        hidden = [c.name for c in columns if c.name not in keep]
        lines += [render_column(c, dialect) for c in shown]
        lines.append(f"- ({len(hidden)} more columns: {', '.join(column_sql(name, dialect) for name in hidden)})")
    else:
        lines += [render_column(c, dialect) for c in columns]
    return "\n".join(lines) + "\n"


def render_pair(pair: "Pair") -> str:
    text = f"Q: {pair.question}\n```sql\n{pair.sql.strip()}\n```\n"
    if pair.notes:
        text += f"Note: {pair.notes.strip()}\n"
    return text


def render_section(section: Section) -> str:
    title = section.doc.title if section.heading == section.doc.title else f"{section.doc.title} — {section.heading}"
    body = section.text
    if body.startswith("#"):
        body = body.split("\n", 1)[1].strip() if "\n" in body else ""
    return f"### {title} ({section.doc.path.name})\n{body}\n"


def render_history(history: Sequence[Any]) -> str:
    lines = ["## Conversation so far"]
    for number, turn in enumerate(history, 1):
        get = turn.get if isinstance(turn, dict) else (lambda key, t=turn: getattr(t, key, None))
        lines.append(f"{number}. Q: {get('question')}")
        if get("sql"):
            lines.append(f"   SQL: {' '.join(str(get('sql')).split())}")
        summary = get("summary") or get("answer")
        if summary:
            lines.append(f"   Result: {summary}")
    return "\n".join(lines) + "\n"


def build_context(
    project: "Project",
    cluster: "Cluster",
    question: str,
    *,
    budget: int | None = None,
    history: Sequence[Any] | None = None,
    exclude_pairs: Iterable[str] = (),
) -> Context:
    """Select tables, pairs and docs of ``cluster`` for ``question`` within ``budget`` tokens."""
    question = require_question(question)
    budget = budget or project.config.token_budget
    index = cluster_index(cluster)
    search_text = question + " " + " ".join(str(t.get("question") if isinstance(t, dict) else getattr(t, "question", "")) for t in history or [])
    terms = set(tokenize(search_text))
    pairs = rank_pairs(index, search_text, exclude_pairs)
    table_scores = rank_tables(index, search_text, pairs)
    deprecated = cluster.deprecated_tables

    header = f"# Cluster: {cluster.title or cluster.id} (`{cluster.id}`)"
    if cluster.owners.team:
        header += f", owned by {cluster.owners.team}"
    header += "\n"
    if cluster.description:
        header += cluster.description.strip() + "\n"
    if cluster.default_schema:
        header += f"Default schema: `{cluster.default_schema}`.\n"
    blocks = [header]
    used = estimate_tokens(header)
    if history:
        block = render_history(history)
        blocks.append(block)
        used += estimate_tokens(block)

    chosen_tables: list[str] = []
    top = table_scores[0][1] if table_scores else 0.0
    relevant = [(t, s) for t, s in table_scores if s > 0 and s >= 0.25 * top] or table_scores[:1]
    table_blocks = ["## Tables\n"]
    table_limit = used + int(budget * TABLE_SHARE)
    used += estimate_tokens(table_blocks[0])
    for table, _ in relevant:
        block = render_table(cluster.dataset(table), table, terms, deprecated, project.config.dialect)
        cost = estimate_tokens(block)
        if used + cost > table_limit and chosen_tables:
            continue
        chosen_tables.append(table)
        table_blocks.append(block)
        used += cost
    blocks.append("\n".join(table_blocks))

    chosen_pairs: list[tuple["Pair", float]] = []
    best_pair = pairs[0][1] if pairs else 0.0
    pair_blocks = ["## Vetted examples (question → SQL)\n"]
    pair_limit = used + int(budget * PAIR_SHARE)
    used += estimate_tokens(pair_blocks[0])
    for pair, score in pairs[: MAX_PAIRS * 2]:
        if len(chosen_pairs) >= MAX_PAIRS or score < 0.3 * best_pair:
            break
        block = render_pair(pair)
        cost = estimate_tokens(block)
        if used + cost > pair_limit:
            continue
        chosen_pairs.append((pair, score / best_pair))
        pair_blocks.append(block)
        used += cost
    if chosen_pairs:
        blocks.append("\n".join(pair_blocks))
    else:
        used -= estimate_tokens(pair_blocks[0])

    section_scores = index.section_index.scores(terms)
    chosen_set = set(chosen_tables)
    boosted = []
    applying = set()  # sections of docs that apply to a chosen table: shown when they fit, however few words match
    for section, score in zip(index.sections, section_scores):
        doc = section.doc
        if {t.lower() for t in doc.applies_to + doc.deprecated} & chosen_set:
            score += 1.0
            if not _about_unused_table(doc, chosen_set):
                applying.add(id(section))
        if score > 0:
            boosted.append((section, score))
    boosted.sort(key=lambda item: -item[1])
    best_section = boosted[0][1] if boosted else 0.0
    columns = _column_names(cluster, chosen_tables)
    rules = [section for section in index.sections
             if is_rule(section, columns) and not _about_unused_table(section.doc, chosen_set)][:MAX_RULES]
    ranked = [(section, best_section or 1.0) for section in rules]
    ranked += [(section, score) for section, score in boosted if section not in rules]
    doc_blocks = ["## Docs\n"]
    used += estimate_tokens(doc_blocks[0])
    doc_scores: dict[str, tuple["Doc", float]] = {}
    for section, score in ranked:
        if section in rules:
            pass
        elif len(doc_blocks) > MAX_SECTIONS + len(rules):
            break
        elif score < 0.3 * best_section and id(section) not in applying:
            continue
        block = render_section(section)
        cost = estimate_tokens(block)
        if used + cost > budget:
            continue
        doc_blocks.append(block)
        used += cost
        previous = doc_scores.get(section.doc.id)
        doc_scores[section.doc.id] = (section.doc, max(score / (best_section or 1.0), previous[1] if previous else 0.0))
    if len(doc_blocks) > 1:
        blocks.append("\n".join(doc_blocks))
    text = "\n".join(blocks).rstrip() + "\n"
    return Context(
        cluster_id=cluster.id,
        question=question,
        tables=chosen_tables,
        pairs=chosen_pairs,
        docs=list(doc_scores.values()),
        tokens=estimate_tokens(text),
        text=text,
        table_scores=table_scores,
        budget=budget,
    )


def _about_unused_table(doc: "Doc", chosen: set[str]) -> bool:
    """A deprecation note whose deprecated tables were not chosen: it is about not using them, so it is shown
    only when the question's words call for it."""
    deprecated = {t.lower() for t in doc.deprecated}
    return bool(deprecated) and not deprecated & chosen


def _column_names(cluster: "Cluster", tables: Iterable[str]) -> set[str]:
    """Lower-case column names of ``tables``, bare and qualified (``events.user_id``, ``listening.events.user_id``)."""
    names: set[str] = set()
    for table in tables:
        dataset = cluster.dataset(table)
        for column in dataset.columns if dataset is not None else ():
            name = column.name.lower()
            names |= {name, f"{table.lower()}.{name}", f"{table.lower().rpartition('.')[2]}.{name}"}
    return names


def is_rule(section: Section, columns: set[str]) -> bool:
    """A section that says what always or never to do (``RULE_WORDS``) with a column in ``columns``, written in
    backticks: the gotchas a model must see whatever the question's words.

    >>> from types import SimpleNamespace as NS
    >>> is_rule(NS(text="Always exclude test accounts: filter `user_id >= 100`."), {"user_id"})
    True
    >>> is_rule(NS(text="`user_id` is the listener."), {"user_id"})
    False
    >>> is_rule(NS(text="Always filter `event_date`."), {"user_id"})
    False
    """
    text = section.text.lower()
    if not any(word in text for word in RULE_WORDS):
        return False
    return any(word.lower() in columns for span in section.text.split("`")[1::2]
               for word in re.findall(r"[A-Za-z_][\w.]*", span))
