"""What a query does, read with sqlglot: the tables, columns and literals it uses, its aggregates, ordering,
limit, grouping and negations. Context selection uses the tables; the offline answerer compares the rest with
what a question asks for.

>>> s = signature("SELECT name FROM users WHERE country = 'SE' ORDER BY age DESC LIMIT 5")
>>> (s.tables, s.strings, s.limit, s.order)
(['users'], ['SE'], 5, frozenset({'desc'}))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sqlglot
from sqlglot import exp

_AGGREGATES = {exp.Count: "count", exp.Avg: "avg", exp.Sum: "sum", exp.Max: "max", exp.Min: "min"}


@dataclass(frozen=True)
class SQLSignature:
    tables: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    aggregates: frozenset[str] = frozenset()
    order: frozenset[str] = frozenset()
    limit: int | None = None
    distinct: bool = False
    grouped: bool = False
    negated: bool = False
    comparisons: frozenset[str] = frozenset()
    set_operations: frozenset[str] = frozenset()
    orders_by_output: bool = False  # every ORDER BY key is a column or alias the query returns
    parsed: bool = True


def _orders_by_output(tree: exp.Expression) -> bool:
    """Whether the outer query orders only by what it returns ("ORDER BY streams DESC" of "COUNT(*) AS streams")."""
    order = tree.args.get("order") if isinstance(tree, exp.Select) else None
    if not isinstance(order, exp.Order) or not order.expressions:
        return False
    returned = {p.alias.lower() for p in tree.expressions if p.alias} | {p.unalias().sql().lower() for p in tree.expressions}
    return all(key.this.sql().lower() in returned for key in order.expressions)


def _limit(tree: exp.Expression) -> int | None:
    limit = tree.args.get("limit") if isinstance(tree, exp.Query) else None
    expression = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(expression, exp.Literal) and not expression.is_string:
        try:
            return int(expression.this)
        except ValueError:
            return None
    return None


@lru_cache(maxsize=8192)
def parsed(sql: str, dialect: str = "duckdb") -> exp.Expression | None:
    """The parsed tree of ``sql`` (cached: copy it before changing it), or None when it does not parse."""
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None


@lru_cache(maxsize=8192)
def signature(sql: str, dialect: str = "duckdb") -> SQLSignature:
    """The signature of ``sql`` (an empty, ``parsed=False`` one when it does not parse)."""
    tree = parsed(sql, dialect)
    if tree is None:
        return SQLSignature(parsed=False)
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables: list[str] = []
    for table in tree.find_all(exp.Table):
        if table.name and table.name.lower() not in ctes and not isinstance(table.this, exp.Func):
            name = ".".join(p for p in (table.db, table.name) if p).lower()
            if name not in tables:
                tables.append(name)
    columns = sorted({c.name.lower() for c in tree.find_all(exp.Column) if c.name})
    strings, numbers = [], []
    limit_nodes = {id(n.expression) for n in tree.find_all(exp.Limit)}
    for literal in tree.find_all(exp.Literal):
        if id(literal) in limit_nodes:
            continue
        (strings if literal.is_string else numbers).append(str(literal.this))
    aggregates = {name for kind, name in _AGGREGATES.items() if any(True for _ in tree.find_all(kind))}
    order = set()
    for ordered in tree.find_all(exp.Ordered):
        order.add("desc" if ordered.args.get("desc") else "asc")
    comparisons = set()
    for kind, name in ((exp.GT, ">"), (exp.GTE, ">"), (exp.LT, "<"), (exp.LTE, "<"), (exp.Like, "like"), (exp.Between, "between")):
        if any(True for _ in tree.find_all(kind)):
            comparisons.add(name)
    negated = any(True for _ in tree.find_all(exp.Not)) or any(True for _ in tree.find_all(exp.NEQ)) or any(
        True for _ in tree.find_all(exp.Except)
    )
    set_operations = {type(node).__name__.lower() for node in tree.find_all(exp.Union, exp.Intersect, exp.Except)}
    return SQLSignature(
        tables=tables,
        columns=columns,
        strings=strings,
        numbers=numbers,
        aggregates=frozenset(aggregates),
        order=frozenset(order),
        limit=_limit(tree),
        distinct=any(True for _ in tree.find_all(exp.Distinct)),
        grouped=any(True for _ in tree.find_all(exp.Group)),
        negated=negated,
        comparisons=frozenset(comparisons),
        set_operations=frozenset(set_operations),
        orders_by_output=_orders_by_output(tree),
    )
