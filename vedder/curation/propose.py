"""Mining query history for recurring patterns worth an expert's review: ``vedder propose``.

The funnel: every history entry is dropped for the first reason that applies (failed run, does not parse,
not a read, exploration, a deprecated table, a table outside the cluster, no longer fits the schema); the
rest are grouped by SQL fingerprint into patterns, ranked by distinct users and runs; patterns already
vetted as pairs, rejected before, or too rare are skipped; the best ``limit`` become proposals with their
provenance and an inferred question.

Parsing is the expensive step, so entries are first grouped by their shape (text with literals, case and
whitespace blanked): each shape is tokenized once, dropped from its tokens when it names none of the
cluster's tables, and otherwise parsed and analysed once, however many literal variants ran. A
``QueryShapes`` shared between clusters parses each shape once for all of them.
"""

from __future__ import annotations

import math
import re
import sys
from functools import cached_property
from pathlib import Path
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable

import sqlglot
import yaml
from sqlglot import exp
from sqlglot.tokens import TokenType

from vedder.curation.describe import Vocabulary, describe
from vedder.curation.gotchas import retired_tables
from vedder.curation.history import HistoryEntry
from vedder.errors import SQLRefused
from vedder.files import dump_yaml, load_yaml
from vedder.schemas import schema_header
from vedder.sql.fingerprint import fingerprint_of, normalize_sql
from vedder.sql.guard import parse_one_statement, table_name
from vedder.sql.layout import WIDTH, reflow

if TYPE_CHECKING:
    from sqlglot.schema import MappingSchema

    from vedder.project import Cluster, Project

REJECTED_FILE = "rejected.yaml"
MIN_RUNS = 3
"""Runs a pattern needs: two people who each wrote a query once are no recurring question (18 such pairs in
the marketplace history, 2 runs each; its real questions ran 4 times or more, the demo's 150 or more)."""

QUERY_REASONS = {
    "failed": "failed runs",
    "unrelated": "names none of the cluster's tables",
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
    "in_review": "decided in a review whose pull request is not merged yet",
    "open_branch": "already proposed in a pull request not merged yet",
    "over_limit": "over --limit",
}
_WRITES = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Into)
LITERAL_TOKENS = frozenset(getattr(TokenType, n) for n in ("NUMBER", "STRING", "NATIONAL_STRING", "RAW_STRING", "HEX_STRING", "BIT_STRING", "BYTE_STRING") if hasattr(TokenType, n))
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
    open_branches: dict[str, int] = field(default_factory=dict)
    """Branch -> patterns skipped because its pull request (not merged yet) proposes them already."""

    def drop(self, reason: str, count: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + count

    def lines(self) -> list[str]:
        """The funnel as text lines: each stage, then what was dropped before the next one and why."""
        stages = [
            ("queries", self.queries, ("failed", "unrelated", "unparsable")),
            ("parsed", self.parsed, ("not_read", "exploration", "debugging", "deprecated", "outside_cluster", "schema")),
            ("in cluster", self.in_cluster, ()),
            ("patterns", self.patterns, ("too_rare", "already_vetted", "rejected", "in_review", "open_branch", "over_limit")),
            ("proposed", self.proposed, ()),
        ]
        lines = []
        for name, count, reasons in stages:
            lines.append(f"{name:<12}{count:>8}")
            for reason in reasons:
                if reason == "open_branch":
                    lines += [f"  − {count:>6}  already proposed in branch {branch}" for branch, count in self.open_branches.items()]
                elif self.dropped.get(reason):
                    label = QUERY_REASONS.get(reason) or PATTERN_REASONS[reason]
                    lines.append(f"  − {self.dropped[reason]:>6}  {label}")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {"queries": self.queries, "parsed": self.parsed, "in_cluster": self.in_cluster,
                "patterns": self.patterns, "proposed": self.proposed, "dropped": dict(self.dropped),
                "open_branches": dict(self.open_branches)}


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
class Verdict:
    """What a query is for one cluster: a drop reason (QUERY_REASONS), or the pattern it belongs to."""

    reason: str | None
    fingerprint: str = ""


@dataclass(frozen=True)
class _Analysis:
    """The cluster-independent facts about a query: a drop reason that holds for every cluster (unparsable,
    not a read, exploration, debugging), else the tables it reads as name parts."""

    reason: str | None
    tables: tuple[tuple[str, ...], ...] = ()


class QueryShape:
    """One shape of queries (see ``shape_key``), shared by the miners of every cluster: tokenized once,
    parsed at most once, when a cluster needs its syntax tree."""

    def __init__(self, sql: str, dialect: str) -> None:
        self.sql = sql
        self.dialect = dialect
        self.tree: exp.Expression | None = None
        try:
            self.tokens: list | None = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
        except sqlglot.errors.SqlglotError:
            self.tokens = None
        self.words = None if self.tokens is None else frozenset(
            sys.intern(t.text.lower()) for t in self.tokens if t.token_type not in LITERAL_TOKENS)

    @cached_property
    def analysis(self) -> _Analysis:
        analysis = self._analyse()
        if analysis.reason:
            self.tree = None  # no cluster rewrites a query dropped for every cluster
        return analysis

    def _analyse(self) -> _Analysis:
        try:
            tree = self.tree = parse_one_statement(self.sql, self.dialect, tokens=self.tokens)
        except SQLRefused:
            return _Analysis("unparsable")
        finally:
            self.tokens = None
        if isinstance(tree, _EXPLORATION_NODES) or (isinstance(tree, exp.Command) and tree.name.upper() in ("SHOW", "DESCRIBE", "SUMMARIZE")):
            return _Analysis("exploration")
        if not isinstance(tree, (exp.Query, exp.Subquery)) or any(isinstance(n, _WRITES) for n in tree.walk()):
            return _Analysis("not_read")
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        tables = tuple(
            tuple(p for p in (t.catalog, t.db, t.name) if p)
            for t in tree.find_all(exp.Table)
            if t.name and not isinstance(t.this, exp.Func) and not (not t.db and t.name.lower() in ctes)
        )
        if not tables or _is_exploration(tree):
            return _Analysis("exploration")
        if _is_debugging(tree):
            return _Analysis("debugging")
        return _Analysis(None, tables)

    def take_tree(self) -> exp.Expression:
        """The syntax tree, for the caller to rewrite in place; a later caller gets a fresh parse."""
        tree = self.tree if self.tree is not None else parse_one_statement(self.sql, self.dialect)
        self.tree = None
        return tree


class QueryShapes:
    """The shapes of the queries seen so far, by exact text and by ``shape_key``; pass one instance to the
    miners of several clusters to tokenize and parse each shape once for all of them."""

    def __init__(self, dialect: str = "duckdb") -> None:
        self.dialect = dialect
        self._by_key: dict[str, QueryShape] = {}
        self._by_text: dict[str, QueryShape] = {}

    def get(self, sql: str) -> QueryShape:
        shape = self._by_text.get(sql)
        if shape is None:
            key = shape_key(sql)
            shape = self._by_key.get(key)
            if shape is None:
                shape = self._by_key[key] = QueryShape(sql, self.dialect)
            self._by_text[sql] = shape
        return shape


class Miner:
    """Classifies and fingerprints queries for one cluster; pairs and history go through the same path.

    A query that names none of the cluster's tables (not even as a word) is dropped from its tokens,
    before any parsing: in a warehouse-wide history that is most queries.
    """

    def __init__(self, cluster: "Cluster", dialect: str = "duckdb", shapes: QueryShapes | None = None) -> None:
        self.cluster = cluster
        self.dialect = dialect
        self.shapes = shapes if shapes is not None and shapes.dialect == dialect else QueryShapes(dialect)
        self.schema: dict[str, dict[str, dict[str, str]]] = {}
        for dataset in cluster.dataset_files.values():
            if dataset.schema_name:
                columns = {c.name: "UNKNOWN" for c in dataset.columns}
                self.schema.setdefault(dataset.schema_name.lower(), {})[dataset.table_name.lower()] = columns
        self.deprecated = {self._qualified(t) for t in cluster.deprecated_tables | retired_tables(cluster)}
        self.words = table_words(cluster)
        self.reserved = frozenset(
            name.lower() for dataset in cluster.dataset_files.values()
            for name in (dataset.table_name, dataset.schema_name or "", *(c.name for c in dataset.columns))
        ) | {t.rpartition(".")[2] for t in cluster.tables}
        self.verdicts: dict[QueryShape, Verdict] = {}
        self.by_structure: dict[tuple, Verdict] = {}
        self.profiles = ColumnProfiles(cluster)

    @cached_property
    def mapping_schema(self) -> "MappingSchema":
        """The cluster's columns as sqlglot's schema, built once: ``qualify`` given the plain mapping normalizes
        every column name of every table (a parse each) on every call, 90% of mining a cluster of wide tables."""
        from sqlglot.schema import MappingSchema

        return MappingSchema(self.schema, dialect=self.dialect)

    def _qualified(self, table: str) -> str:
        table = table.lower()
        return f"{self.cluster.default_schema.lower()}.{table}" if "." not in table and self.cluster.default_schema else table

    def classify(self, sql: str) -> Verdict:
        """Drop reason or fingerprint of ``sql``, decided once per token shape."""
        shape = self.shapes.get(sql)
        verdict = self.verdicts.get(shape)
        if verdict is None:
            verdict = self.verdicts[shape] = self._judge(shape)
        return verdict

    def fingerprints(self, stored: object, sql: object) -> set[str]:
        """The fingerprints a decision on ``sql`` stands for: the one stored when it was taken, and the one
        today's code gives its SQL. How queries fingerprint changes between versions; a pattern an expert
        rejected, or one waiting in a pull request, must not come back under its new fingerprint."""
        found = {str(stored)} if stored else set()
        if isinstance(sql, str) and sql.strip():
            verdict = self.classify(sql)
            if verdict.fingerprint:
                found.add(verdict.fingerprint)
        return found

    def _judge(self, shape: QueryShape) -> Verdict:
        if self.words is not None and shape.words is not None and not shape.words & self.words:
            shape.tokens = None  # memory: a cluster that parses this shape later tokenizes it again
            return Verdict("unrelated")
        analysis = shape.analysis
        if analysis.reason:
            return Verdict(analysis.reason)
        default = self.cluster.default_schema
        tables = [".".join(parts if len(parts) > 1 or not default else (default, *parts)).lower() for parts in analysis.tables]
        tables = [".".join(t.split(".")[-2:]) for t in tables]
        if any(t in self.deprecated for t in tables):
            return Verdict("deprecated")
        if not all(self.cluster.covers(t) for t in tables):
            return Verdict("outside_cluster")
        key = alias_blind_key(shape.tree, self.reserved) if shape.tree is not None else None
        verdict = self.by_structure.get(key) if key is not None else None
        if verdict is None:
            verdict = self._fingerprint(shape.take_tree(), tables)
            if key is not None:
                self.by_structure[key] = verdict
        shape.tree = None  # memory: a cluster that needs the tree later parses the shape again
        return verdict

    def _fingerprint(self, tree: exp.Expression, tables: list[str]) -> Verdict:
        if self.profiles.is_lookup(tree):
            return Verdict("exploration")
        canonical(tree, self.profiles)
        known = all(t.split(".")[-1] in self.schema.get(t.split(".")[0], {}) for t in tables if "." in t)
        try:
            normalized = normalize_sql(tree, self.dialect, copy=False, schema=self.mapping_schema if known else None,
                                       default_schema=self.cluster.default_schema)
        except sqlglot.errors.SqlglotError:
            return Verdict("schema")
        return Verdict(None, fingerprint_of(normalized, self.dialect))


def alias_blind_key(tree: exp.Expression, reserved: frozenset[str] = frozenset()) -> tuple | None:
    """A key equal for queries that differ only in literal values and in the names of their table aliases
    and result columns, for a single SELECT (joins allowed) whose aliases are not also names in
    ``reserved`` (column and table names); None for other queries.

    ``qualify`` renames table aliases and result names are dropped from fingerprints, so queries with one
    key share one fingerprint: it is computed once per key. Ordinals (``GROUP BY 1``) keep their values.

    >>> parse = lambda sql: parse_one_statement(sql)
    >>> alias_blind_key(parse("select e.c, count(*) n from t e where e.x = 'a' group by 1 order by n")) == alias_blind_key(
    ...     parse("SELECT ev.c, COUNT(*) AS total FROM t AS ev WHERE ev.x = 'b' GROUP BY 1 ORDER BY total"))
    True
    >>> alias_blind_key(parse("select c from t group by 1")) == alias_blind_key(parse("select c from t group by 2"))
    False
    """
    if not isinstance(tree, exp.Select) or any(isinstance(n, _NESTED_SCOPES) for n in tree.walk()):
        return None
    aliases = [a.this for a in tree.find_all(exp.TableAlias) if isinstance(a.parent, exp.Table) and not a.columns]
    aliases += [p.args["alias"] for p in tree.expressions if isinstance(p, exp.Alias)]
    names: dict[str, tuple] = {}
    for identifier in aliases:
        name = identifier.name.lower()
        if name in reserved:
            return None
        names.setdefault(name, ("alias", len(names)))
    return _structure(tree, names)


_NESTED_SCOPES = (exp.Subquery, exp.CTE, exp.SetOperation, exp.Lambda, exp.Unnest)


def _structure(node: exp.Expression, names: dict[str, tuple]) -> tuple | str:
    if isinstance(node, exp.Identifier):
        name = node.name.lower()
        return names.get(name, name)
    if isinstance(node, exp.Literal) and not isinstance(node.parent, (exp.Group, exp.Ordered, exp.Limit)):
        return ("?", node.is_string)
    parts: list = [node.key]
    for key, value in node.args.items():
        if isinstance(value, exp.Expression):
            parts.append((key, _structure(value, names)))
        elif isinstance(value, list):
            parts.append((key, tuple(_structure(v, names) if isinstance(v, exp.Expression) else v for v in value)))
        elif value is not None:
            parts.append((key, value))
    return tuple(parts)


class ColumnProfiles:
    """What the cluster's dataset files say about each column's values: distinct counts and row counts, by
    table name (unqualified) and column, lower case."""

    def __init__(self, cluster: "Cluster") -> None:
        self.distinct: dict[tuple[str, str], int] = {}
        self.unique: set[tuple[str, str]] = set()
        for dataset in cluster.dataset_files.values():
            table = dataset.table_name.lower()
            for column in dataset.columns:
                count = getattr(column, "distinct_count", None)
                if isinstance(count, int) and count > 0:
                    self.distinct[(table, column.name.lower())] = count
                    rows = dataset.row_count
                    if isinstance(rows, int) and rows >= 100 and count >= 0.99 * rows:
                        self.unique.add((table, column.name.lower()))

    def _table(self, column: exp.Column, tables: dict[str, str]) -> str:
        if column.table:
            return tables.get(column.table.lower(), column.table.lower())
        owners = [t for t in tables.values() if (t, column.name.lower()) in self.distinct]
        return owners[0] if len(owners) == 1 else next(iter(tables.values()), "")

    def is_lookup(self, tree: exp.Expression) -> bool:
        """A query that picks rows by the value of a column whose every value is one row (``shop_name =
        'Shop 1799'``, ``email = …``): a lookup, like one by id. Aggregates are never lookups.

        >>> from vedder.project.model import Cluster
        >>> profiles = ColumnProfiles(Cluster("c", Path("c")))
        >>> profiles.unique.add(("sellers", "shop_name"))
        >>> profiles.is_lookup(parse_one_statement("SELECT * FROM m.sellers WHERE shop_name = 'Shop 9'"))
        True
        >>> profiles.is_lookup(parse_one_statement("SELECT COUNT(*) FROM m.sellers WHERE shop_name = 'Shop 9'"))
        False
        """
        if not isinstance(tree, exp.Select) or tree.args.get("group") or any(p.find(exp.AggFunc) for p in tree.expressions):
            return False
        where = tree.args.get("where")
        if where is None:
            return False
        tables = {(t.alias or t.name).lower(): t.name.lower() for t in tree.find_all(exp.Table)}
        for equality in where.find_all(exp.EQ):
            column, value = equality.this, equality.expression
            if isinstance(value, exp.Column) and isinstance(column, exp.Literal):
                column, value = value, column
            if isinstance(column, exp.Column) and isinstance(value, exp.Literal) and (self._table(column, tables), column.name.lower()) in self.unique:
                return True
        return False

    def groups_at_most(self, tree: exp.Select) -> int | None:
        """How many rows a grouped query can return at most, by the distinct counts of the columns it groups
        by; None when a grouping is not a profiled column."""
        group = tree.args.get("group")
        if group is None or not group.expressions:
            return None
        tables = {(t.alias or t.name).lower(): t.name.lower() for t in tree.find_all(exp.Table)}
        total = 1
        for key in group.expressions:
            if isinstance(key, exp.Literal) and key.is_int and 0 < int(key.name) <= len(tree.expressions):
                key = tree.expressions[int(key.name) - 1]
            key = key.unalias()
            count = self.distinct.get((self._table(key, tables), key.name.lower())) if isinstance(key, exp.Column) else None
            if count is None:
                return None
            total *= count
        return total

    def is_display_cap(self, tree: exp.Expression) -> bool:
        """A ``LIMIT`` that cuts nothing: no smaller than the number of groups the query can return (``LIMIT 100``
        on six countries is a habit of a query tool, not 'which 100 countries')."""
        limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
        value = limit.expression if limit is not None else None
        if not isinstance(value, exp.Literal) or not value.is_int:
            return False
        most = self.groups_at_most(tree)
        return most is not None and int(value.name) >= most


_TEMPORAL = exp.DataType.TEMPORAL_TYPES


def canonical(tree: exp.Expression, profiles: ColumnProfiles | None = None) -> exp.Expression:
    """``tree`` rewritten in place so that ways of writing the same filter fingerprint alike: a typed date
    literal (``TIMESTAMP '2026-10-01 00:00:00'``, ``DATE '2026-10-01'``) is its string; ``flag = FALSE`` is
    ``NOT flag`` and ``flag = TRUE`` is ``flag``; a LIMIT that cuts nothing (``profiles``) is dropped.

    >>> canonical(parse_one_statement("SELECT c FROM t WHERE d >= DATE '2026-10-01' AND f = FALSE AND TRUE = g")).sql()
    "SELECT c FROM t WHERE d >= '2026-10-01' AND NOT f AND g"
    """
    for cast in list(tree.find_all(exp.Cast)):
        if isinstance(cast.this, exp.Literal) and cast.this.is_string and cast.to.this in _TEMPORAL:
            cast.replace(cast.this)
    for equality in list(tree.find_all(exp.EQ)):
        for flag, other in ((equality.expression, equality.this), (equality.this, equality.expression)):
            if isinstance(flag, exp.Boolean) and not isinstance(other, exp.Boolean):
                equality.replace(other if flag.this else exp.Not(this=other))
                break
    if profiles is not None:
        for select in list(tree.find_all(exp.Select)):
            if profiles.is_display_cap(select):
                select.set("limit", None)
    return tree


def clean_text(sql: str, dialect: str) -> str:
    r"""A query as a pair shows it: without the comments before its first token or a trailing semicolon
    (an analyst's '-- for the weekly sync' is not part of the answer); as it is when it does not tokenize.

    >>> clean_text("-- weekly\nSELECT 1 ;", "duckdb")
    'SELECT 1'
    """
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
    except (sqlglot.errors.SqlglotError, ValueError):
        return sql
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON and not tokens[-1].comments:
        tokens = tokens[:-1]
    if not tokens:
        return sql
    return sql[tokens[0].start: tokens[-1].end + 1].strip()


def laid_out(sql: str, dialect: str) -> str:
    r"""``sql`` as a proposal shows it: one clause a line (``reflow``), also when the analyst wrote it over lines one
    of which is longer than ``WIDTH`` (a 200-character WHERE line). A query with a nested SELECT (a CTE, a
    subquery), a comment or a string over lines keeps its own lines: only whitespace between tokens changes.

    >>> print(laid_out("SELECT c, COUNT(*) AS n\nFROM t\nWHERE " + " AND ".join(f"x{i} = {i}" for i in range(12)) + "\nGROUP BY c", "duckdb"))
    SELECT c, COUNT(*) AS n
    FROM t
    WHERE x0 = 0
      AND x1 = 1
      AND x2 = 2
      AND x3 = 3
      AND x4 = 4
      AND x5 = 5
      AND x6 = 6
      AND x7 = 7
      AND x8 = 8
      AND x9 = 9
      AND x10 = 10
      AND x11 = 11
    GROUP BY c
    """
    lines = sql.strip().splitlines()
    if len(lines) > 1 and max(len(line) for line in lines) > WIDTH:
        try:
            tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(sql)
        except (sqlglot.errors.SqlglotError, ValueError):
            return sql
        nested = bool(tokens) and tokens[0].token_type == TokenType.WITH or any(
            a.token_type == TokenType.L_PAREN and b.token_type in (TokenType.SELECT, TokenType.WITH) for a, b in zip(tokens, tokens[1:]))
        if not nested and not any(t.comments or "\n" in t.text for t in tokens):
            sql = " ".join(line.strip() for line in lines)
    return reflow(sql, dialect)


def table_words(cluster: "Cluster") -> frozenset[str] | None:
    """Lower-case words at least one of which every query reading a table of ``cluster`` (or one its docs
    deprecate) contains: table names, or the schema of a ``schema.*`` entry. None when an entry cannot be
    told from the words of a query (a pattern over table names in the default schema).

    >>> from pathlib import Path
    >>> from vedder.project.model import Cluster
    >>> sorted(table_words(Cluster("l", Path("l"), datasets=["listening.events", "ops.*"], default_schema="listening")))
    ['events', 'ops']
    """
    words = {table.rpartition(".")[2] for table in cluster.deprecated_tables}
    default = (cluster.default_schema or "").lower()
    for pattern in cluster.datasets:
        schema, _, table = pattern.lower().rpartition(".")
        schema = schema.rpartition(".")[2]
        if not _is_glob(table):
            words.add(table)
        elif schema and not _is_glob(schema) and schema != default:
            words.add(schema)
        else:
            return None
    return frozenset(words)


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def shape_key(sql: str) -> str:
    """Text that is equal for two queries that differ only in literals (but a LIMIT's, which may or may not cut
    the result), case and whitespace.

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
        if char.isdigit() and not (previous.isalnum() or previous in "_$\"") and not text.endswith("limit ", 0, index):
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
    min_runs: int = MIN_RUNS,
    model: str | None = None,
    on_entry: Callable[[], None] | None = None,
    shapes: QueryShapes | None = None,
    skip_open_branches: bool = True,
) -> ProposeResult:
    """Mine ``history`` for ``cluster_id``; return the funnel, the proposals and the files to write.

    ``shapes`` carries parsed query shapes over from mining the same history for another cluster. Patterns
    that an earlier run's pull request (a ``vedder/propose/<cluster>-…`` branch on origin, not merged yet)
    proposes already are skipped, unless ``skip_open_branches`` is False; so are proposals whose file
    would not change."""
    from vedder.curation.review import ReviewState
    from vedder.project.model import load_proposals

    cluster = project.cluster(cluster_id)
    miner = Miner(cluster, project.config.dialect, shapes)
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
        if shape.reason in ("unrelated", "unparsable"):
            funnel.drop(shape.reason)
            continue
        funnel.parsed += 1
        if shape.reason:
            funnel.drop(shape.reason)
            continue
        funnel.in_cluster += 1
        patterns.setdefault(shape.fingerprint, Pattern(shape.fingerprint)).add(entry)
    funnel.patterns = len(patterns)

    vetted = {miner.classify(pair.sql).fingerprint for pair in cluster.pairs}
    rejected = {f for item in load_rejected(cluster) for f in miner.fingerprints(item.get("fingerprint"), item.get("sql"))}
    in_review = ReviewState.load(project, cluster).decided(miner)
    in_branch = proposed_in_open_branches(project, cluster, miner) if skip_open_branches else {}
    existing: dict[str, Any] = {}
    for proposal in load_proposals(cluster):
        for each in miner.fingerprints(proposal.fingerprint, proposal.sql):
            existing.setdefault(each, proposal)
    ranked = sorted(patterns.values(), key=lambda p: (-p.score, -p.runs, p.fingerprint))
    chosen: list[Pattern] = []
    for pattern in ranked:
        if len(pattern.users) < min_users or pattern.runs < min_runs:
            funnel.drop("too_rare")
        elif pattern.fingerprint in vetted:
            funnel.drop("already_vetted")
        elif pattern.fingerprint in rejected:
            funnel.drop("rejected")
        elif pattern.fingerprint in in_review:
            funnel.drop("in_review")
        elif pattern.fingerprint in in_branch:
            funnel.drop("open_branch")
            branch = in_branch[pattern.fingerprint]
            funnel.open_branches[branch] = funnel.open_branches.get(branch, 0) + 1
        elif len(chosen) >= limit:
            funnel.drop("over_limit")
        else:
            chosen.append(pattern)
    funnel.proposed = len(chosen)

    relative = cluster.path.relative_to(project.root)
    drafts: list[ProposalDraft] = []
    changes: dict[str, str | None] = {}
    vocabulary = Vocabulary.of(cluster, project.config.dialect) if chosen else None
    for pattern in chosen:
        texts = [text for text, _ in pattern.texts.most_common()]
        shown, asked = _shown_text(texts, miner.profiles, project.config.dialect)
        previous = existing.get(pattern.fingerprint)
        proposal_id = previous.id if previous else pattern.fingerprint[:8]
        question = previous.question if previous and previous.question else infer_question(asked, cluster, project, model, vocabulary)
        draft = ProposalDraft(
            id=proposal_id,
            question=question,
            sql=laid_out(shown, project.config.dialect),
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
        text = dump_yaml(draft.document(), schema_url=schema_header(project.root / draft.path, "proposal"))
        if previous is None or not previous.path.is_file() or previous.path.read_text(encoding="utf-8") != text:
            changes[draft.path] = text
    return ProposeResult(cluster=cluster.id, funnel=funnel, proposals=drafts, changes=changes)


def _shown_text(texts: list[str], profiles: ColumnProfiles, dialect: str) -> tuple[str, str]:
    """The text a proposal shows, and the SQL its question is asked of: the most common run of the pattern
    without a LIMIT that cuts nothing (those fingerprint with the rest), cleaned of leading comments and a
    trailing semicolon; when every run has such a LIMIT, the question is asked of the query without it."""
    for text in texts[:20]:
        try:
            tree = parse_one_statement(text, dialect)
        except SQLRefused:
            continue
        if not profiles.is_display_cap(tree):
            shown = clean_text(text, dialect)
            return shown, shown
    shown = clean_text(texts[0], dialect)
    try:
        tree = parse_one_statement(shown, dialect)
    except SQLRefused:
        return shown, shown
    return shown, canonical(tree, profiles).sql(dialect)


def proposed_in_open_branches(project: "Project", cluster: "Cluster", miner: Miner | None = None) -> dict[str, str]:
    """Fingerprint -> branch, for the proposals of ``cluster`` that open ``vedder propose`` pull requests
    (branches on origin, not merged yet) add or change; with ``miner``, each proposal's SQL fingerprinted by
    today's code too (``Miner.fingerprints``), so one proposal may have two keys."""
    from vedder.curation.publish import branch_prefix
    from vedder.curation.pull_request import open_branch_files

    folder = str((cluster.path / "proposals").relative_to(project.root))
    own = re.compile(re.escape(branch_prefix("propose", cluster.id)) + r"\d{4}-\d{2}-\d{2}(-\d+)?")
    found: dict[str, str] = {}
    branches = open_branch_files(project.root, branch_prefix("propose", cluster.id), folder)
    for branch, files in sorted(branches.items()):
        if not own.fullmatch(branch):  # `listening-extra-…` belongs to another cluster
            continue
        for path, text in files.items():
            if Path(path).name == REJECTED_FILE:
                continue
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                continue
            if isinstance(data, dict) and data.get("fingerprint"):
                for each in miner.fingerprints(data["fingerprint"], data.get("sql")) if miner else {str(data["fingerprint"])}:
                    found.setdefault(each, branch)
    return found


def infer_question(sql: str, cluster: "Cluster", project: "Project", model: str | None = None,
                   vocabulary: Vocabulary | None = None) -> str:
    """The question ``sql`` answers: from the configured model when there is one, else from its syntax tree
    in the words of the cluster's files (``vocabulary``, built from ``cluster`` when not given)."""
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
    return describe(sql, project.config.dialect, vocabulary or Vocabulary.of(cluster, project.config.dialect))



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
