"""A deterministic description of what a query answers, built from its syntax tree (no model needed).

Measures come from the aggregates (their aliases when they have one), dimensions from GROUP BY, and the
filters in WHERE become phrases: a window back from today, a year, a value, test users excluded.

>>> describe("SELECT country, COUNT(*) AS streams FROM listening.events WHERE event_date >= CURRENT_DATE - "
...          "INTERVAL 7 DAY AND user_id >= 100 GROUP BY country")
'Number of streams per country in the last 7 days, excluding test users'
"""

from __future__ import annotations

from sqlglot import exp

from vedder.sql.guard import parse_one_statement

_MEASURE_WORDS = {exp.Sum: "total", exp.Avg: "average", exp.Min: "minimum", exp.Max: "maximum", exp.Count: "number of"}
_UNIT_SUFFIXES = ("_cents", "_ms", "_usd", "_eur", "_id")
_DATE_PARTS = {"year", "month", "week", "day", "quarter", "hour", "dow", "isodow", "date"}


def describe(sql: str | exp.Expression, dialect: str = "duckdb") -> str:
    """One line saying what ``sql`` answers, e.g. 'Top 5 countries by number of streams in 2026'."""
    tree = parse_one_statement(sql, dialect) if isinstance(sql, str) else sql
    select = tree if isinstance(tree, exp.Select) else next(tree.find_all(exp.Select), None)
    if select is None:
        return "Result of a query"
    table = _main_table(select)
    measures = [m for m in (_measure(p, table) for p in select.expressions) if m]
    groups = select.args.get("group").expressions if select.args.get("group") else []
    dimensions = [_dimension(_resolve_ordinal(g, select)) for g in groups]
    dimensions = [d for d in dimensions if d]
    if measures:
        head = " and ".join(dict.fromkeys(measures))
        limit = _limit(select)
        order = select.args.get("order")
        if limit and order and dimensions:
            head = f"top {limit} {_plural(dimensions[0])} by {head}"
            dimensions = dimensions[1:]
        if dimensions:
            head += " per " + " and ".join(dimensions)
    else:
        columns = [_humanize(p.alias_or_name) for p in select.expressions if p.alias_or_name and p.alias_or_name != "*"]
        head = ("list of " + ", ".join(dict.fromkeys(columns)) if columns else "rows") + (f" from {_humanize(table)}" if table else "")
    where = select.args.get("where")
    phrases = _filters(where.this) if where is not None else []
    excluded = [p for p in phrases if p.startswith("excluding")]
    text = " ".join([head, *[p for p in phrases if not p.startswith("excluding")]])
    if excluded:
        text += ", " + " and ".join(dict.fromkeys(excluded))
    return text[:1].upper() + text[1:]


def _main_table(select: exp.Select) -> str:
    source = select.args.get("from") or select.args.get("from_")
    table = source.find(exp.Table) if source is not None else None
    return table.name if table is not None else ""


def _humanize(name: str) -> str:
    name = name.lower()
    for suffix in _UNIT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ").strip()


def _plural(noun: str) -> str:
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es" if not noun.endswith("s") else noun
    return noun + "s"


def _measure(projection: exp.Expression, table: str) -> str | None:
    aggregate = projection.find(exp.AggFunc)
    if aggregate is None:
        return None
    word = next((w for kind, w in _MEASURE_WORDS.items() if isinstance(aggregate, kind)), _humanize(aggregate.key))
    alias = projection.alias if isinstance(projection, exp.Alias) else ""
    if alias:
        spoken = _humanize(alias).replace("avg ", "average ").replace("num ", "number of ").replace("n ", "number of ", 1)
        first = word.split()[0]
        return spoken if spoken.startswith((first, "number of")) else f"{word} {spoken}"
    column = aggregate.find(exp.Column)
    if isinstance(aggregate, exp.Count):
        if column is None:
            return f"number of {_humanize(table) or 'rows'}"
        subject = _plural(_humanize(column.name)) if column.name.lower().endswith("_id") else _humanize(column.name)
        return f"number of {'distinct ' if aggregate.find(exp.Distinct) else ''}{subject}"
    return f"{word} {_humanize(column.name)}" if column is not None else word


def _resolve_ordinal(node: exp.Expression, select: exp.Select) -> exp.Expression:
    """The projection that ``GROUP BY 2`` points at (unaliased), or ``node`` itself."""
    if isinstance(node, exp.Literal) and node.is_int and 0 < int(node.name) <= len(select.expressions):
        return select.expressions[int(node.name) - 1].unalias()
    return node


def _dimension(group: exp.Expression) -> str:
    if isinstance(group, exp.Column):
        return _humanize(group.name)
    part = _date_part(group)
    if part:
        return part
    column = group.find(exp.Column)
    return _humanize(column.name) if column is not None else ""


def _date_part(node: exp.Expression) -> str:
    """'month' for DATE_TRUNC('month', d), 'year' for YEAR(d) or EXTRACT(year FROM d), else ''."""
    if isinstance(node, (exp.DateTrunc, exp.TimestampTrunc)):
        unit = node.args.get("unit")
        return unit.name.lower() if unit is not None else ""
    if isinstance(node, exp.Extract):
        return node.this.name.lower()
    name = node.key.lower()
    return name if name in _DATE_PARTS else ""


def _limit(select: exp.Select) -> str:
    limit = select.args.get("limit")
    value = limit.expression if limit is not None else None
    return value.name if isinstance(value, exp.Literal) else ""


def _value(node: exp.Expression) -> str:
    if isinstance(node, exp.Literal):
        return node.name
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        return node.this.name
    return node.sql()


def _filters(condition: exp.Expression) -> list[str]:
    conditions = condition.flatten() if isinstance(condition, exp.And) else [condition]
    return [p for p in (_filter(c) for c in conditions) if p]


def _filter(condition: exp.Expression) -> str:
    if isinstance(condition, exp.Paren):
        return _filter(condition.this)
    if isinstance(condition, exp.Not) and isinstance(condition.this, (exp.LT, exp.Paren)):
        inner = condition.this.unnest()
        if isinstance(inner, exp.LT):
            return _filter(exp.GTE(this=inner.this, expression=inner.expression))
    if isinstance(condition, exp.Between) and isinstance(condition.this, exp.Column):
        return f"between {_value(condition.args['low'])} and {_value(condition.args['high'])}"
    if isinstance(condition, (exp.GTE, exp.GT)):
        left, right = condition.this, condition.expression
        window = _window(right)
        if window:
            return window
        if isinstance(left, exp.Column) and left.name.lower() == "user_id" and isinstance(right, exp.Literal) and right.is_number:
            return "excluding test users"
        if isinstance(right, (exp.Literal, exp.Cast)):
            return f"since {_value(right)}" if _looks_like_date(right) else f"with {_humanize(left.sql())} of at least {_value(right)}"
    if isinstance(condition, (exp.LT, exp.LTE)) and _looks_like_date(condition.expression):
        return f"before {_value(condition.expression)}"
    if isinstance(condition, exp.EQ):
        left, right = condition.this, condition.expression
        part = _date_part(left)
        if part and isinstance(right, exp.Literal):
            return f"in {right.name}" if part == "year" else f"for {part} {right.name}"
        if isinstance(left, exp.Column) and isinstance(right, (exp.Literal, exp.Cast)):
            return f"for {_humanize(left.name)} {_value(right)}"
    if isinstance(condition, exp.In) and isinstance(condition.this, exp.Column):
        values = ", ".join(_value(v) for v in condition.expressions)
        return f"for {_humanize(condition.this.name)} in {values}" if values else ""
    if isinstance(condition, exp.Is) and isinstance(condition.this, exp.Column):
        return f"without {_humanize(condition.this.name)}"
    if isinstance(condition, exp.Not) and isinstance(condition.this, exp.Is):
        return f"with {_humanize(condition.this.this.name)}"
    return ""


def _window(node: exp.Expression) -> str:
    """'in the last 7 days' for CURRENT_DATE - INTERVAL 7 DAY (and similar), else ''."""
    if not isinstance(node, (exp.Sub, exp.DateSub, exp.TsOrDsAdd, exp.DateAdd)):
        return ""
    interval = node.find(exp.Interval)
    if interval is None or not node.find(exp.CurrentDate, exp.CurrentTimestamp, exp.Anonymous):
        return ""
    amount = interval.this.name if interval.this is not None else ""
    unit = interval.args.get("unit")
    unit_name = unit.name.lower().rstrip("s") if unit is not None else "day"
    if amount.strip().split()[1:]:
        amount, unit_name = amount.split()[0], amount.split()[1].rstrip("s")
    amount = amount.lstrip("-")
    return f"in the last {amount} {unit_name}{'s' if amount != '1' else ''}"


def _looks_like_date(node: exp.Expression) -> bool:
    if isinstance(node, exp.Cast) and node.to.is_type("date", "timestamp"):
        return True
    text = _value(node)
    return len(text) >= 8 and text[:4].isdigit() and text[4:5] == "-"
