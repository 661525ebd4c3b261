"""Laying out one-line SQL over lines for people to review, changing nothing but whitespace.

Query history holds SQL as one line; a pair written from it is read in a pull request. ``reflow`` starts each
top-level clause (FROM, each JOIN, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT, a set operation) on its own line
and each top-level AND of a WHERE or HAVING on an indented one. Strings, comments, parentheses (subqueries,
CTE bodies, function calls) and CASE expressions are left as written, so the query is the same query: only the
whitespace between two tokens ever changes.
"""

from __future__ import annotations

WIDTH = 80
"""SQL on one line up to this many characters is left as it is."""

_CLAUSES = {"FROM", "WHERE", "GROUP_BY", "HAVING", "ORDER_BY", "LIMIT", "QUALIFY", "WINDOW", "UNION", "INTERSECT",
            "EXCEPT", "OFFSET"}
_JOIN_WORDS = {"LEFT", "RIGHT", "INNER", "OUTER", "FULL", "CROSS", "NATURAL", "ANTI", "SEMI", "ASOF", "POSITIONAL"}


def reflow(sql: str, dialect: str = "duckdb") -> str:
    """``sql`` over lines, one top-level clause a line, when it is one line longer than ``WIDTH``; otherwise (or
    when it does not tokenize) ``sql`` unchanged.

    >>> print(reflow("SELECT s.tier, SUM(o.total_cents) AS gmv FROM market.orders o JOIN market.sellers s "
    ...              "ON s.seller_id = o.seller_id WHERE o.status_code <> 9 AND o.placed_at BETWEEN '2026-10-01' "
    ...              "AND '2026-10-31' GROUP BY s.tier ORDER BY gmv DESC"))
    SELECT s.tier, SUM(o.total_cents) AS gmv
    FROM market.orders o
    JOIN market.sellers s ON s.seller_id = o.seller_id
    WHERE o.status_code <> 9
      AND o.placed_at BETWEEN '2026-10-01' AND '2026-10-31'
    GROUP BY s.tier
    ORDER BY gmv DESC
    """
    text = sql.strip()
    if "\n" in text or len(text) <= WIDTH:
        return sql
    import sqlglot
    from sqlglot.errors import SqlglotError

    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    except (SqlglotError, ValueError):
        return sql
    breaks: dict[int, str] = {}  # character offset -> what replaces the whitespace before it
    depth = cases = 0
    in_filter = between = False
    for i, token in enumerate(tokens):
        kind = token.token_type.name
        if kind == "L_PAREN":
            depth += 1
        elif kind == "R_PAREN":
            depth -= 1
        elif kind == "CASE":
            cases += 1
        elif kind == "END" and cases:
            cases -= 1
        if depth or cases or i == 0:
            continue
        if kind == "SELECT":  # the query after a WITH's definitions, or after a set operation
            breaks[token.start] = "\n"
            in_filter = False
        elif kind in _CLAUSES:
            breaks[token.start] = "\n"
            in_filter = kind in ("WHERE", "HAVING")
        elif kind == "JOIN":
            first = i
            while first > 0 and tokens[first - 1].token_type.name in _JOIN_WORDS:
                first -= 1
            breaks[tokens[first].start] = "\n"
            in_filter = False
        elif kind == "BETWEEN":
            between = True
        elif kind == "AND" and in_filter:
            if between:
                between = False
            else:
                breaks[token.start] = "\n  "
    if not breaks:
        return sql
    out, last = [], 0
    for offset in sorted(breaks):
        out.append(text[last:offset].rstrip())
        out.append(breaks[offset])
        last = offset
    out.append(text[last:])
    return "".join(out)
