"""Fingerprints of SQL: one hash per query *pattern*, whatever its literals, aliases or spelling.

Two queries share a fingerprint when they differ only in literal values (``'US'`` vs ``'SE'``, ``LIMIT 5``
vs ``LIMIT 10``, ``IN (1, 2)`` vs ``IN (3)``), in identifier case or quoting, in interval unit spelling (``DAYS`` vs ``DAY``), in table or result-column
aliases, in ``GROUP BY 1`` vs ``GROUP BY country``, in the order of ``AND``-ed filters and join conditions, in
the sides of an ``=`` or ``<>`` (``s.id = o.id`` vs ``o.id = s.id``), or in ``INNER JOIN`` vs ``JOIN``. Everything is
done on sqlglot's syntax tree (``qualify`` canonicalizes tables, aliases and identifiers).

>>> fingerprint("SELECT country, COUNT(*) AS n FROM events WHERE day >= 7 GROUP BY 1") == fingerprint(
...     "select e.COUNTRY, count(*) as streams from events e where e.day >= 30 group by e.country")
True
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify

from vedder.sql.guard import parse_one_statement


def normalize_sql(
    expression: exp.Expression,
    dialect: str = "duckdb",
    *,
    schema: dict[str, Any] | None = None,
    default_schema: str | None = None,
    copy: bool = True,
) -> exp.Expression:
    """A canonical copy of ``expression`` (or, with ``copy=False``, the tree itself, rewritten): qualified,
    aliases and literals removed.

    With ``schema`` ({db: {table: {column: type}}}) every column must resolve; otherwise
    ``sqlglot.errors.OptimizeError`` is raised (the query no longer fits the tables it names).
    """
    tree = qualify(
        expression.copy() if copy else expression,
        dialect=dialect,
        db=default_schema,
        schema=schema,
        validate_qualify_columns=bool(schema),
    )
    _canonical_aliases(tree)
    if not schema and len(list(tree.find_all(exp.Table))) == 1:
        for column in tree.find_all(exp.Column):
            column.set("table", None)
    _drop_result_aliases(tree)
    for interval in tree.find_all(exp.Interval):
        unit = interval.args.get("unit")
        if isinstance(unit, exp.Var) and unit.name.upper().endswith("S"):
            interval.set("unit", exp.var(unit.name.upper()[:-1]))
    for literal in list(tree.find_all(exp.Literal)):
        literal.replace(exp.Placeholder())
    for in_list in tree.find_all(exp.In):
        values = in_list.expressions
        if values and all(isinstance(v, exp.Placeholder) for v in values):
            in_list.set("expressions", [exp.Placeholder()])
    for comparison in tree.find_all(exp.EQ, exp.NEQ):
        sides = sorted((comparison.this, comparison.expression), key=lambda side: side.sql(dialect))
        comparison.set("this", sides[0])
        comparison.set("expression", sides[1])
    for join in tree.find_all(exp.Join):
        if (join.args.get("kind") or "").upper() == "INNER" and not join.args.get("side"):
            join.set("kind", None)
        if join.args.get("on") is not None:
            join.set("on", _sorted_conjuncts(join.args["on"], dialect))
    for select in tree.find_all(exp.Select):
        where = select.args.get("where")
        if where is not None:
            where.set("this", _sorted_conjuncts(where.this, dialect))
    return tree


def _sorted_conjuncts(condition: exp.Expression, dialect: str) -> exp.Expression:
    """``condition``'s ``AND``-ed parts in one order, whichever order they were written in."""
    parts = sorted(condition.flatten() if isinstance(condition, exp.And) else [condition], key=lambda c: c.sql(dialect))
    return exp.and_(*parts, copy=False)


def _canonical_aliases(tree: exp.Expression) -> None:
    """Name every table and derived-table alias ``_0``, ``_1``, … in the order the sources appear, and point
    the columns at the new names, so ``events e`` and ``events AS ev`` read the same. (sqlglot 28 has a
    ``qualify`` option for this; vedder runs on sqlglot 27, which imports twice as fast.)"""
    names: dict[str, str] = {}
    for alias in tree.find_all(exp.TableAlias, bfs=False):
        if isinstance(alias.parent, exp.CTE) or not alias.name:
            continue
        new = names.setdefault(alias.name, f"_{len(names)}")
        alias.set("this", exp.to_identifier(new, quoted=True))
    for column in tree.find_all(exp.Column):
        if column.table in names:
            column.set("table", exp.to_identifier(names[column.table], quoted=True))


def _drop_result_aliases(tree: exp.Expression) -> None:
    """Result-column names are cosmetic in the outermost query: inline ORDER BY references, drop aliases."""
    select = tree if isinstance(tree, exp.Select) else None
    if select is None:
        return
    aliased = {a.alias.lower(): a.this for a in select.expressions if isinstance(a, exp.Alias)}
    order = select.args.get("order")
    if order is not None:
        for column in list(order.find_all(exp.Column)):
            if not column.table and column.name.lower() in aliased:
                column.replace(aliased[column.name.lower()].copy())
    select.set("expressions", [a.this if isinstance(a, exp.Alias) else a for a in select.expressions])


def fingerprint(
    sql: str | exp.Expression,
    dialect: str = "duckdb",
    *,
    schema: dict[str, Any] | None = None,
    default_schema: str | None = None,
) -> str:
    """A 16-hex-digit fingerprint of the pattern ``sql`` follows (see the module docstring)."""
    tree = parse_one_statement(sql, dialect) if isinstance(sql, str) else sql
    try:
        normalized = normalize_sql(tree, dialect, schema=schema, default_schema=default_schema)
    except sqlglot.errors.OptimizeError:
        normalized = normalize_sql(tree, dialect, default_schema=default_schema)
    return fingerprint_of(normalized, dialect)


def fingerprint_of(normalized: exp.Expression, dialect: str = "duckdb") -> str:
    """The hash of an already normalized tree."""
    text = normalized.sql(dialect=dialect, comments=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
