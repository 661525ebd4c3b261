"""What a query reads: its tables and columns, checked against a ``{table: {column: type}}`` schema.

Used by ``vedder validate`` (against the dataset files) and ``vedder health`` (against the live
warehouse): the same function, two schemas. Columns are resolved with sqlglot's qualifier, so
``u.country`` finds ``users`` through its alias and an unqualified ``country`` finds the one table
that has it; each column nobody declares is reported with the closest declared name.

>>> schema = {"listening.users": {"user_id": "BIGINT", "country": "VARCHAR"}}
>>> [p.message for p in check_columns("SELECT contry FROM users", schema, default_schema="listening")]
["unknown column 'contry' (did you mean 'country'?)"]
>>> tables_used("SELECT 1 FROM users u JOIN listening.events e USING (user_id)", default_schema="listening")
['listening.events', 'listening.users']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from vedder.sql.guard import parse_one_statement, table_name
from vedder.suggest import closest

Schema = Mapping[str, Mapping[str, str]]
"""Fully qualified lower-case ``schema.table`` -> {column: type}, as Warehouse.schema() returns it."""


@dataclass(frozen=True)
class ColumnProblem:
    """A table or column the query reads that the schema does not declare.

    ``kind`` is ``unknown_table``, ``unknown_column`` or ``unresolvable`` (sqlglot could not qualify
    the query); ``table`` is the fully qualified table (or CTE / subquery alias) a column was looked up
    in, None when no source has it; ``line``/``column`` locate the name in the SQL.
    """

    kind: str
    name: str
    table: str | None = None
    suggestion: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def message(self) -> str:
        if self.kind == "unresolvable":
            return f"cannot resolve the query's columns: {self.name}"
        what = "table" if self.kind == "unknown_table" else "column"
        where = f" in {self.table}" if self.table else ""
        advice = f" (did you mean '{self.suggestion}'?)" if self.suggestion else ""
        return f"unknown {what} '{self.name}'{where}{advice}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "table": self.table, "suggestion": self.suggestion,
                "line": self.line, "column": self.column, "message": self.message}


def _as_tree(sql: str | exp.Expression, dialect: str, copy: bool = True) -> exp.Expression:
    if isinstance(sql, exp.Expression):
        return sql.copy() if copy else sql
    return parse_one_statement(sql, dialect)


def _real_tables(tree: exp.Expression) -> list[exp.Table]:
    """Table references that name stored tables (not CTEs, not table functions)."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    return [
        t for t in tree.find_all(exp.Table)
        if t.name and not isinstance(t.this, exp.Func) and (t.db or t.name.lower() not in ctes)
    ]


def tables_used(sql: str | exp.Expression, dialect: str = "duckdb", default_schema: str | None = None) -> list[str]:
    """Fully qualified lower-case tables ``sql`` reads, sorted, CTE names and table functions excluded."""
    return sorted({table_name(table, default_schema) for table in _real_tables(_as_tree(sql, dialect, copy=False))})


def _nested(schema: Schema) -> dict[str, dict[str, dict[str, str]]]:
    """{"s.t": {c: type}} -> {"s": {"t": {c: type}}} for sqlglot; types are irrelevant to resolution."""
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for full_name, columns in schema.items():
        db, _, table = full_name.lower().rpartition(".")
        nested.setdefault(db.rpartition(".")[2], {})[table] = {c.lower(): "UNKNOWN" for c in columns}
    return nested


def _position(node: exp.Expression) -> tuple[int | None, int | None]:
    identifier = node.this if isinstance(node, (exp.Column, exp.Table)) else node
    meta = identifier.meta if isinstance(identifier, exp.Expression) else {}
    line, col = meta.get("line"), meta.get("col")
    # sqlglot reports the column of the identifier's last character; point at its first.
    if line is not None and col is not None:
        col = max(1, col - len(identifier.name) + 1)
    return line, col


class PreparedSchema:
    """A schema made ready once for checking many queries (sqlglot's MappingSchema is costly to build).

    >>> prepared = PreparedSchema({"a.t": {"x": "INT"}})
    >>> check_columns("SELECT y FROM a.t", prepared)[0].suggestion is None
    True
    """

    def __init__(self, schema: Schema, dialect: str = "duckdb") -> None:
        self.columns = {name.lower(): {c.lower() for c in cols} for name, cols in schema.items()}
        self.mapping = MappingSchema(_nested(schema), dialect=dialect)


def _prepared(schema: Schema | PreparedSchema, dialect: str) -> PreparedSchema:
    return schema if isinstance(schema, PreparedSchema) else PreparedSchema(schema, dialect)


@dataclass
class _Resolution:
    """Where each column of a qualified query comes from."""

    used: dict[str, set[str]]
    problems: list[ColumnProblem]


def _source_columns(source: exp.Expression | Scope, lowered_schema: dict[str, set[str]], default_schema: str | None) -> tuple[str | None, set[str] | None]:
    """(table name, its known columns) for a scope source; columns None when they cannot be known."""
    if isinstance(source, exp.Table):
        if isinstance(source.this, exp.Func):
            return None, None
        name = table_name(source, default_schema)
        return name, lowered_schema.get(name)
    if isinstance(source, Scope):
        selects = source.expression.named_selects if isinstance(source.expression, exp.Query) else []
        if not selects or "*" in selects:
            return None, None
        return None, {s.lower() for s in selects}
    return None, None


def _output_aliases(scope: Scope) -> set[str]:
    """Names the query gives its outputs (``count(*) AS n``), which ORDER BY or HAVING may use."""
    if isinstance(scope.expression, exp.SetOperation):
        return {name.lower() for name in scope.expression.named_selects}
    if not isinstance(scope.expression, exp.Select):
        return set()
    return {
        select.alias.lower() for select in scope.expression.selects
        if isinstance(select, exp.Alias) and not (isinstance(select.this, exp.Column) and select.this.name.lower() == select.alias.lower())
    }


def _in_projection(column: exp.Column, scope: Scope) -> bool:
    node: exp.Expression = column
    while node.parent is not None and node.parent is not scope.expression:
        node = node.parent
    return node.arg_key == "expressions"


def _resolve(tree: exp.Expression, schema: PreparedSchema, dialect: str, default_schema: str | None) -> _Resolution:
    lowered = schema.columns
    problems: list[ColumnProblem] = []
    used: dict[str, set[str]] = {}
    for table in _real_tables(tree):
        name = table_name(table, default_schema)
        if name not in lowered:
            line, col = _position(table)
            problems.append(ColumnProblem("unknown_table", name, suggestion=closest(name, set(lowered)), line=line, column=col))
    qualified = qualify(
        tree, schema=schema.mapping, dialect=dialect, db=default_schema, allow_partial_qualification=True,
        validate_qualify_columns=False, quote_identifiers=False, identify=False, expand_stars=False,
        expand_alias_refs=False,  # alias references stay unqualified; _output_aliases accepts them
    )
    for scope in traverse_scope(qualified):
        aliases = _output_aliases(scope)
        for column in scope.columns:
            if column.find_ancestor(exp.Lambda) is not None or isinstance(column.this, exp.Star):
                continue
            name = column.name.lower()
            if column.table:
                source = scope.sources.get(column.table)
                if source is None:
                    continue
                table, known = _source_columns(source, lowered, default_schema)
                if known is None:
                    continue
                if name in known:
                    if table:
                        used.setdefault(table, set()).add(name)
                    continue
                line, col = _position(column)
                problems.append(ColumnProblem("unknown_column", column.name, table or column.table, closest(name, known), line, col))
            elif name not in aliases or _in_projection(column, scope):
                resolved = [_source_columns(s, lowered, default_schema) for s in scope.sources.values()]
                if any(known is None for _, known in resolved):
                    continue
                candidates = set().union(*(known for _, known in resolved))
                if not _in_projection(column, scope):
                    candidates |= aliases
                line, col = _position(column)
                problems.append(ColumnProblem("unknown_column", column.name, None, closest(name, candidates), line, col))
    return _Resolution(used, problems)


def check_columns(
    sql: str | exp.Expression,
    schema: Schema | PreparedSchema,
    dialect: str = "duckdb",
    default_schema: str | None = None,
    *,
    copy: bool = True,
) -> list[ColumnProblem]:
    """Every table and column ``sql`` reads that ``schema`` does not declare, with the closest declared name.

    Columns of tables missing from ``schema`` are not judged (their table is reported instead). Pass a
    PreparedSchema when checking many queries against one schema, and ``copy=False`` with a parsed tree
    you no longer need (qualification rewrites it in place).
    Raises SQLRefused (rule ``parse`` or ``one_statement``) when ``sql`` is not one parsable statement.
    """
    tree = _as_tree(sql, dialect, copy)
    try:
        return _resolve(tree, _prepared(schema, dialect), dialect, default_schema).problems
    except SqlglotError as exc:
        return [ColumnProblem("unresolvable", str(exc).splitlines()[0])]


def columns_used(
    sql: str | exp.Expression, schema: Schema | PreparedSchema, dialect: str = "duckdb", default_schema: str | None = None
) -> dict[str, set[str]]:
    """{fully qualified table: lower-case columns ``sql`` reads from it} for tables ``schema`` knows."""
    try:
        return _resolve(_as_tree(sql, dialect), _prepared(schema, dialect), dialect, default_schema).used
    except SqlglotError:
        return {}



_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = frozenset("""
    all analyse analyze and any array as asc asymmetric both case cast check collate column constraint create
    current_catalog current_date current_role current_time current_timestamp current_user default deferrable desc
    describe distinct do else end except false fetch for foreign from grant group having in initially intersect into
    lambda lateral leading limit localtime localtimestamp not null offset on only or order pivot pivot_longer
    pivot_wider placing primary qualify references returning select session_user show some summarize symmetric
    table then to trailing true union unique unpivot user using variadic when where window with
""".split())
"""Reserved words of DuckDB (duckdb_keywords()) and PostgreSQL: a column so named must be quoted."""


def column_sql(name: str, dialect: str) -> str:
    """A column name as a query writes it in ``dialect``: quoted when it has a space, is a reserved word, or (on
    PostgreSQL, which folds unquoted names to lower case) has capitals; else as it is.

    >>> [column_sql(n, "duckdb") for n in ("amount", "UserId", "Order Date", "group")]
    ['amount', 'UserId', '"Order Date"', '"group"']
    >>> column_sql("UserId", "postgres")
    '"UserId"'
    """
    plain = (bool(_PLAIN_NAME.fullmatch(name)) and name.lower() not in _RESERVED
             and (dialect != "postgres" or name == name.lower()))
    return name if plain else exp.to_identifier(name, quoted=True).sql(dialect)
