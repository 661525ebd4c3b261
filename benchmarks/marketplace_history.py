"""A month of query history for the reviewer's marketplace project, written the way analysts write SQL.

    /work/venv/bin/python benchmarks/marketplace_history.py OUT.jsonl [--seed 9]

Written blind: before `vedder propose` ever ran on it, from README's history format only, so that nothing in it
is shaped after the miner. Twelve analysts and two service users over 30 days (2026-10-27 to 2026-11-25):
recurring business questions asked by several people with their own habits (aliases or none, keyword case,
one line or many, filter order, `GROUP BY 1`, date literals, a comment on top, a trailing semicolon, a CTE),
each person with other literals on each run; decoys that recur just as much but break a gotcha the cluster's
docs state (test buyers counted, soft-deleted orders kept, cents reported as units, refunds' units divided by
100, cancelled orders in GMV, the obsolete market.orders_v1, web.events read without its partition); a
dashboard user that runs the same queries every hour; and the noise around them: `SELECT *` peeks, `LIMIT 100`
looks, lookups by id, null and duplicate checks, failed attempts, DDL into a scratch schema, other schemas,
information_schema, and one-off exploration.

Which pattern an expert would accept is written in benchmarks/marketplace_history_labels.yaml (by pattern id,
before any run). ``generate`` returns the history and, for scoring, the pattern id of every query text.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

START = date(2026, 10, 27)
DAYS = 30
ANALYSTS = ["anna", "johan", "maria", "carla", "hana", "fatima", "erik", "li", "omar", "sofia", "pekka", "ines"]
DASHBOARD_USER = "svc_dashboards"
ETL_USER = "svc_airflow"

KEYWORDS = ("SELECT", "FROM", "WHERE", "AND", "OR", "GROUP BY", "ORDER BY", "LIMIT", "JOIN", "LEFT JOIN", "ON",
            "AS", "SUM", "COUNT", "AVG", "DISTINCT", "DESC", "ASC", "WITH", "NOT", "IS NULL", "IS NOT NULL", "HAVING",
            "BETWEEN", "CASE", "WHEN", "THEN", "ELSE", "END", "CAST", "DATE", "INTERVAL", "CURRENT_DATE", "IN",
            "USING", "TRUE", "FALSE", "NULL", "MAX", "MIN", "INNER JOIN")


@dataclass(frozen=True)
class Style:
    """How one analyst writes SQL: the same person keeps their habits across queries."""

    case: str          # upper, lower, title
    layout: str        # one_line, lines, indented, sloppy
    aliases: str       # short (o, b), long (orders, buyers), t (t1, t2)
    alias_as: bool     # "market.orders AS o" or "market.orders o"
    dates: str         # plain '2026-10-01', typed DATE '2026-10-01', timestamp TIMESTAMP '2026-10-01 00:00:00'
    ordinals: bool     # GROUP BY 1, 2
    semicolon: bool
    comments: bool
    cte: bool          # wraps a filtered base in a CTE when a pattern offers one


def _style(rng: random.Random) -> Style:
    return Style(case=rng.choice(["upper", "upper", "lower", "lower", "title"]),
                 layout=rng.choice(["one_line", "lines", "lines", "indented", "sloppy"]),
                 aliases=rng.choice(["short", "short", "short", "long", "t"]),
                 alias_as=rng.random() < 0.4, dates=rng.choice(["plain", "plain", "plain", "typed", "timestamp"]),
                 ordinals=rng.random() < 0.45, semicolon=rng.random() < 0.3, comments=rng.random() < 0.35,
                 cte=rng.random() < 0.25)


ALIASES = {"short": {"orders": "o", "buyers": "b", "sellers": "s", "refunds": "r", "order_items": "oi", "listings": "l", "events": "e"},
           "long": {"orders": "orders", "buyers": "buyers", "sellers": "sellers", "refunds": "refunds", "order_items": "items", "listings": "listings", "events": "events"},
           "t": {"orders": "t1", "buyers": "t2", "sellers": "t2", "refunds": "t3", "order_items": "t4", "listings": "t5", "events": "t1"}}

_KEYWORD_RE = re.compile(r"\b(" + "|".join(sorted((k.replace(" ", r"\s+") for k in KEYWORDS), key=len, reverse=True)) + r")\b")


def _case(sql: str, case: str) -> str:
    """Keyword case outside string literals (the generator's own templates: no quotes inside identifiers)."""
    if case == "upper":
        return sql
    parts = sql.split("'")
    for i in range(0, len(parts), 2):
        parts[i] = _KEYWORD_RE.sub(lambda m: m.group(0).lower() if case == "lower" else m.group(0).title(), parts[i])
    return "'".join(parts)


@dataclass
class Query:
    """One pattern's query as parts, rendered in a person's style."""

    select: list[str]
    source: str
    joins: list[str]
    where: list[str]
    group: list[int]           # positions (1-based) of select items grouped by
    order: str = ""
    limit: int | None = None

    def render(self, style: Style, rng: random.Random, order_seed: int) -> str:
        select = list(self.select)
        where = list(self.where)
        random.Random(order_seed).shuffle(where)      # a person keeps their filter order
        if style.ordinals:
            group = [str(i) for i in self.group]
        else:
            group = [_expression(select[i - 1]) for i in self.group]
        clauses = ["SELECT " + ", ".join(select), "FROM " + self.source] + list(self.joins)
        if where:
            clauses.append("WHERE " + " AND ".join(where))
        if group:
            clauses.append("GROUP BY " + ", ".join(group))
        if self.order:
            clauses.append("ORDER BY " + self.order)
        if self.limit:
            clauses.append(f"LIMIT {self.limit}")
        return _layout(clauses, style, rng)


def _expression(item: str) -> str:
    """A select item without its alias: ``SUM(x) AS y`` -> ``SUM(x)``."""
    return item.split(" AS ")[0]


def _layout(clauses: list[str], style: Style, rng: random.Random) -> str:
    if style.layout == "one_line":
        sql = " ".join(clauses)
    elif style.layout == "lines":
        sql = "\n".join(clauses)
    elif style.layout == "indented":
        sql = "\n".join(c if c.split()[0] in ("SELECT", "FROM", "WHERE", "GROUP", "ORDER", "LIMIT", "WITH") else "  " + c
                        for c in clauses).replace(" AND ", "\n  AND ")
    else:
        sql = "  ".join(clauses).replace(", ", " ,  " if rng.random() < 0.5 else ",") + ("  " if rng.random() < 0.5 else "")
    return sql


def _finish(sql: str, style: Style, comment: str) -> str:
    sql = _case(sql, style.case)
    if style.semicolon:
        sql += ";"
    if style.comments and comment:
        sql = f"-- {comment}\n" + sql
    return sql


def _table(name: str, style: Style, full: str) -> tuple[str, str]:
    alias = ALIASES[style.aliases][name]
    return f"{full} {'AS ' if style.alias_as else ''}{alias}", alias


def _date(day: date, style: Style) -> str:
    if style.dates == "typed":
        return f"DATE '{day.isoformat()}'"
    if style.dates == "timestamp":
        return f"TIMESTAMP '{day.isoformat()} 00:00:00'"
    return f"'{day.isoformat()}'"


def _month(rng: random.Random, today: date) -> tuple[date, date]:
    """A calendar month people ask about on ``today``: last month mostly, sometimes the current one."""
    first = today.replace(day=1)
    if rng.random() < 0.6:
        first = (first - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following


def _week(rng: random.Random, today: date) -> tuple[date, date]:
    monday = today - timedelta(days=today.weekday() + 7 * rng.choice([1, 1, 2]))
    return monday, monday + timedelta(days=7)


def _period(rng: random.Random, today: date) -> tuple[date, date]:
    return _month(rng, today) if rng.random() < 0.65 else _week(rng, today)


# ---- the recurring patterns: each builds a query from a person's style, the run's day and a random source ----

def gmv_per_buyer_country(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    orders, o = _table("orders", st, "market.orders")
    buyers, b = _table("buyers", st, "market.buyers")
    d0, d1 = _period(rng, today)
    return Query([f"{b}.country_code", f"{o}.currency", f"SUM({o}.total_cents) / 100.0 AS gmv"], orders,
                 [f"JOIN {buyers} ON {b}.buyer_id = {o}.buyer_id"],
                 [f"{o}.status_code <> 9", f"{o}.deleted_at IS NULL", f"{o}.buyer_id >= 1000",
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1, 2], "gmv DESC"), "gmv by buyer country for the weekly sync"


def completed_orders_per_seller_country(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    orders, o = _table("orders", st, "market.orders")
    sellers, s = _table("sellers", st, "market.sellers")
    d0, d1 = _period(rng, today)
    internal = rng.choice([f"{s}.is_internal = FALSE", f"NOT {s}.is_internal"]) if st.layout != "sloppy" else f"{s}.is_internal = FALSE"
    return Query([f"{s}.country_code", f"COUNT(*) AS completed_orders"], orders,
                 [f"JOIN {sellers} ON {o}.seller_id = {s}.seller_id"],
                 [f"{o}.status_code = 4", f"{o}.deleted_at IS NULL", f"{o}.buyer_id >= 1000", internal,
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1], "completed_orders DESC"), "completed orders per seller country"


def top_categories_by_units(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    items, oi = _table("order_items", st, "market.order_items")
    orders, o = _table("orders", st, "market.orders")
    listings, l = _table("listings", st, "market.listings")
    d0, d1 = _period(rng, today)
    return Query([f"{l}.category", f"SUM({oi}.quantity) AS units"], items,
                 [f"JOIN {orders} ON {o}.order_id = {oi}.order_id", f"JOIN {listings} ON {l}.listing_id = {oi}.listing_id"],
                 [f"{o}.status_code = 4", f"{o}.deleted_at IS NULL", f"{o}.buyer_id >= 1000",
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1], "units DESC", limit=rng.choice([5, 10, 10])), "top categories"


def average_order_value_per_currency(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, d1 = _month(rng, today)
    return Query(["currency", "AVG(total_cents) / 100.0 AS avg_order_value", "COUNT(*) AS orders"], "market.orders", [],
                 ["status_code <> 9", "deleted_at IS NULL", "buyer_id >= 1000",
                  f"placed_at_utc >= {_date(d0, st)}", f"placed_at_utc < {_date(d1, st)}"],
                 [1], "currency"), "AOV"


def active_sellers_per_tier(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    orders, o = _table("orders", st, "market.orders")
    sellers, s = _table("sellers", st, "market.sellers")
    d0, d1 = _month(rng, today)
    return Query([f"{s}.tier", f"COUNT(DISTINCT {o}.seller_id) AS active_sellers"], orders,
                 [f"JOIN {sellers} ON {s}.seller_id = {o}.seller_id"],
                 [f"{o}.status_code = 4", f"{o}.deleted_at IS NULL", f"{o}.buyer_id >= 1000", f"{s}.is_internal = FALSE",
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1], "active_sellers DESC"), "active sellers (>=1 completed order) per tier"


def orders_per_day_last_7_days(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    return Query(["CAST(placed_at_utc AS DATE) AS day", "COUNT(*) AS orders"], "market.orders", [],
                 ["placed_at_utc >= CURRENT_DATE - INTERVAL 7 DAY", "status_code <> 9", "deleted_at IS NULL", "buyer_id >= 1000"],
                 [1], "1" if st.ordinals else "day"), "daily orders, last week"


def refunds_per_buyer_country(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    refunds, r = _table("refunds", st, "finance.refunds")
    orders, o = _table("orders", st, "market.orders")
    buyers, b = _table("buyers", st, "market.buyers")
    d0, d1 = _month(rng, today)
    return Query([f"{b}.country_code", "COUNT(*) AS refunds", f"SUM({r}.amount_units) AS refunded"], refunds,
                 [f"JOIN {orders} ON {o}.order_id = {r}.order_id", f"JOIN {buyers} ON {b}.buyer_id = {o}.buyer_id"],
                 [f"{r}.refunded_at_utc >= {_date(d0, st)}", f"{r}.refunded_at_utc < {_date(d1, st)}",
                  f"{o}.buyer_id >= 1000", f"{o}.deleted_at IS NULL"],
                 [1], "refunded DESC"), "refunds by country"


def refund_rate_per_month(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    """A shared snippet (pasted from the team's chat): the same text apart from case, layout and the start."""
    d0 = date(2026, rng.choice([1, 4, 7]), 1)
    start = _date(d0, st)
    text = ("WITH delivered AS (\n  SELECT date_trunc('month', placed_at_utc) AS month, COUNT(*) AS delivered\n  FROM market.orders\n"
            f"  WHERE status_code = 4 AND deleted_at IS NULL AND buyer_id >= 1000 AND placed_at_utc >= {start}\n  GROUP BY 1\n),\n"
            "refunded AS (\n  SELECT date_trunc('month', o.placed_at_utc) AS month, COUNT(DISTINCT r.order_id) AS refunded\n"
            "  FROM finance.refunds r JOIN market.orders o ON o.order_id = r.order_id\n"
            f"  WHERE o.status_code = 4 AND o.deleted_at IS NULL AND o.buyer_id >= 1000 AND o.placed_at_utc >= {start}\n  GROUP BY 1\n)\n"
            "SELECT d.month, d.delivered, COALESCE(r.refunded, 0) AS refunded, COALESCE(r.refunded, 0) * 1.0 / d.delivered AS refund_rate\n"
            "FROM delivered d LEFT JOIN refunded r ON r.month = d.month\nORDER BY d.month")
    return _Text(text), "refund rate per month"


def gmv_per_currency_vetted(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    """The vetted pair gmv-by-currency, asked again for other months."""
    d0, d1 = _month(rng, today)
    return Query(["currency", "SUM(total_cents) / 100.0 AS gmv"], "market.orders", [],
                 ["status_code <> 9", "deleted_at IS NULL", "buyer_id >= 1000",
                  f"placed_at_utc >= {_date(d0, st)}", f"placed_at_utc < {_date(d1, st)}"],
                 [1], "gmv DESC"), "gmv per currency"


def orders_per_status_vetted(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    return Query(["status_code", "COUNT(*) AS orders"], "market.orders", [], ["deleted_at IS NULL", "buyer_id >= 1000"],
                 [1], "orders DESC"), ""


# ---- decoys: recur like the real ones, but break a gotcha the docs state ----

def delivered_per_buyer_country_with_test_buyers(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    orders, o = _table("orders", st, "market.orders")
    buyers, b = _table("buyers", st, "market.buyers")
    d0, d1 = _period(rng, today)
    return Query([f"{b}.country_code", "COUNT(*) AS delivered_orders"], orders,
                 [f"JOIN {buyers} ON {b}.buyer_id = {o}.buyer_id"],
                 [f"{o}.status_code = 4", f"{o}.deleted_at IS NULL",
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1], "delivered_orders DESC"), "delivered per country"


def weekly_gmv_keeping_deleted(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, _ = _month(rng, today)
    d1 = d0 + timedelta(days=rng.choice([56, 84]))
    return Query(["date_trunc('week', placed_at_utc) AS week", "SUM(total_cents) / 100.0 AS gmv_sek"], "market.orders", [],
                 ["status_code <> 9", "buyer_id >= 1000", "currency = 'SEK'",
                  f"placed_at_utc >= {_date(d0 - timedelta(days=56), st)}", f"placed_at_utc < {_date(min(d1, today), st)}"],
                 [1], "1" if st.ordinals else "week"), "weekly SEK gmv"


def revenue_per_tier_cents_as_euros(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    orders, o = _table("orders", st, "market.orders")
    sellers, s = _table("sellers", st, "market.sellers")
    d0, d1 = _month(rng, today)
    return Query([f"{s}.tier", f"SUM({o}.total_cents) AS revenue_eur"], orders,
                 [f"JOIN {sellers} ON {s}.seller_id = {o}.seller_id"],
                 [f"{o}.currency = 'EUR'", f"{o}.status_code <> 9", f"{o}.deleted_at IS NULL", f"{o}.buyer_id >= 1000",
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1], "revenue_eur DESC"), "EUR revenue per tier"


def refunds_per_reason_divided_by_100(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, d1 = _month(rng, today)
    return Query(["reason", "COUNT(*) AS refunds", "SUM(amount_units) / 100.0 AS refunded"], "finance.refunds", [],
                 [f"refunded_at_utc >= {_date(d0, st)}", f"refunded_at_utc < {_date(d1, st)}"],
                 [1], "refunded DESC"), "refunds per reason"


def gmv_per_seller_country_with_cancelled(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    orders, o = _table("orders", st, "market.orders")
    sellers, s = _table("sellers", st, "market.sellers")
    d0, d1 = _period(rng, today)
    return Query([f"{s}.country_code", f"SUM({o}.total_cents) / 100.0 AS gmv"], orders,
                 [f"JOIN {sellers} ON {s}.seller_id = {o}.seller_id"],
                 [f"{o}.deleted_at IS NULL", f"{o}.buyer_id >= 1000", f"{o}.currency = 'SEK'",
                  f"{o}.placed_at_utc >= {_date(d0, st)}", f"{o}.placed_at_utc < {_date(d1, st)}"],
                 [1], "gmv DESC"), "SEK gmv per seller country"


def monthly_gmv_from_obsolete_table(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0 = date(2025, rng.choice([1, 1, 3]), 1)
    return Query(["date_trunc('month', created_at) AS month", "SUM(total) AS gmv"], "market.orders_v1", [],
                 ["status <> 'cancelled'", f"created_at >= {_date(d0, st)}"],
                 [1], "1" if st.ordinals else "month"), "gmv by month (old numbers)"


def currency_counts_exploration(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    return Query(["currency", "COUNT(*)"], "market.orders", [], [], [1], ""), ""


# ---- web analytics ----

def sessions_per_platform_per_day(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, d1 = _week(rng, today)
    d1 = min(d1, date(2026, 11, 25))
    return Query(["event_date", "platform", "COUNT(DISTINCT session_id) AS sessions"], "web.events", [],
                 [f"event_date >= {_date(d0, st)}", f"event_date < {_date(d1, st)}", "buyer_id >= 1000"],
                 [1, 2], "1, 2" if st.ordinals else "event_date, platform"), "daily sessions by platform"


def sessions_per_event_type(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, d1 = _period(rng, today)
    return Query(["event_type", "COUNT(DISTINCT session_id) AS sessions"], "web.events", [],
                 [f"event_date >= {_date(d0, st)}", f"event_date < {_date(min(d1, date(2026, 11, 26)), st)}", "buyer_id >= 1000"],
                 [1], "sessions DESC"), "funnel"


def purchases_per_platform_without_partition(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, _ = _week(rng, today)
    return Query(["platform", "COUNT(*) AS purchases"], "web.events", [],
                 ["event_type = 'purchase'", f"event_ts_utc >= {_date(d0, st)}", "buyer_id >= 1000"],
                 [1], "purchases DESC"), "purchases by platform"


def daily_active_buyers_with_test_buyers(st: Style, rng: random.Random, today: date) -> tuple[Query, str]:
    d0, _ = _month(rng, today)
    return Query(["event_date", "COUNT(DISTINCT buyer_id) AS active_buyers"], "web.events", [],
                 [f"event_date >= {_date(d0, st)}"], [1], "1" if st.ordinals else "event_date"), "DAU"


class _Text(Query):
    """A query pasted as text: only case, layout and a trailing semicolon are the person's own."""

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, style: Style, rng: random.Random, order_seed: int) -> str:
        if style.layout == "one_line":
            return " ".join(line.strip() for line in self.text.splitlines())
        return self.text


@dataclass(frozen=True)
class Pattern:
    id: str
    build: object
    users: tuple[str, ...]
    runs: tuple[int, int]      # runs per user over the month (min, max)


PATTERNS = [
    Pattern("gmv_per_buyer_country", gmv_per_buyer_country, ("anna", "maria", "erik", "sofia", "ines"), (3, 9)),
    Pattern("completed_orders_per_seller_country", completed_orders_per_seller_country, ("johan", "hana", "pekka", "li"), (3, 8)),
    Pattern("top_categories_by_units", top_categories_by_units, ("sofia", "omar", "ines", "li"), (2, 7)),
    Pattern("average_order_value_per_currency", average_order_value_per_currency, ("maria", "erik", "carla"), (2, 6)),
    Pattern("active_sellers_per_tier", active_sellers_per_tier, ("pekka", "hana", "anna"), (2, 5)),
    Pattern("orders_per_day_last_7_days", orders_per_day_last_7_days, ("omar", "hana", "li"), (4, 12)),
    Pattern("refunds_per_buyer_country", refunds_per_buyer_country, ("fatima", "johan", "carla"), (2, 6)),
    Pattern("refund_rate_per_month", refund_rate_per_month, ("fatima", "johan", "carla"), (2, 5)),
    Pattern("gmv_per_currency_vetted", gmv_per_currency_vetted, ("maria", "anna", "erik"), (2, 5)),
    Pattern("orders_per_status_vetted", orders_per_status_vetted, ("hana", "omar", "pekka"), (2, 4)),
    Pattern("delivered_per_buyer_country_with_test_buyers", delivered_per_buyer_country_with_test_buyers, ("carla", "omar", "pekka"), (3, 8)),
    Pattern("weekly_gmv_keeping_deleted", weekly_gmv_keeping_deleted, ("erik", "sofia", "johan", "li"), (2, 6)),
    Pattern("revenue_per_tier_cents_as_euros", revenue_per_tier_cents_as_euros, ("hana", "ines", "anna"), (2, 6)),
    Pattern("refunds_per_reason_divided_by_100", refunds_per_reason_divided_by_100, ("fatima", "maria", "omar"), (2, 6)),
    Pattern("gmv_per_seller_country_with_cancelled", gmv_per_seller_country_with_cancelled, ("johan", "pekka", "erik"), (2, 6)),
    Pattern("monthly_gmv_from_obsolete_table", monthly_gmv_from_obsolete_table, ("maria", "carla"), (3, 7)),
    Pattern("currency_counts_exploration", currency_counts_exploration, tuple(ANALYSTS[:9]), (1, 2)),
    Pattern("sessions_per_platform_per_day", sessions_per_platform_per_day, ("li", "omar", "sofia", "hana"), (3, 8)),
    Pattern("sessions_per_event_type", sessions_per_event_type, ("sofia", "ines", "anna"), (2, 6)),
    Pattern("purchases_per_platform_without_partition", purchases_per_platform_without_partition, ("erik", "pekka", "omar"), (2, 6)),
    Pattern("daily_active_buyers_with_test_buyers", daily_active_buyers_with_test_buyers, ("carla", "li", "ines"), (2, 6)),
]

DASHBOARDS = {
    "dashboard_gmv_today_per_hour": "SELECT date_trunc('hour', placed_at_utc) AS hour, currency, SUM(total_cents) / 100.0 AS gmv\n"
                                    "FROM market.orders\nWHERE placed_at_utc >= CURRENT_DATE AND status_code <> 9 AND deleted_at IS NULL AND buyer_id >= 1000\n"
                                    "GROUP BY 1, 2\nORDER BY 1, 2",
    "dashboard_orders_per_status_24h": "select status_code, count(*) as n from market.orders where placed_at_utc >= now() - interval 24 hour group by 1",
    "dashboard_sessions_today": "SELECT platform, COUNT(DISTINCT session_id) AS sessions FROM web.events WHERE event_date = CURRENT_DATE AND buyer_id >= 1000 GROUP BY platform",
}
ETL = "INSERT INTO scratch.daily_gmv SELECT CURRENT_DATE - 1 AS day, SUM(total_cents) / 100.0 FROM market.orders WHERE status_code <> 9 AND deleted_at IS NULL AND buyer_id >= 1000 AND placed_at_utc >= CURRENT_DATE - 1 AND placed_at_utc < CURRENT_DATE"

TABLES = ["market.orders", "market.buyers", "market.sellers", "market.order_items", "market.listings", "finance.refunds", "web.events"]
OTHER_TABLES = ["hr.employees", "crm.accounts", "ops.jira_tickets", "support.tickets", "marketing.campaigns", "scratch.tmp_gmv"]
TYPO_ERRORS = [("total_cents", "total", 'Binder Error: Referenced column "total" not found in FROM clause!'),
               ("country_code", "country", 'Binder Error: Referenced column "country" not found in FROM clause!'),
               ("SELECT", "SELEC", 'Parser Error: syntax error at or near "SELEC"'),
               ("status_code", "status", 'Binder Error: Referenced column "status" not found in FROM clause!')]


def _noise(rng: random.Random, user: str, style: Style) -> tuple[str, str, str]:
    """One exploratory or unrelated query: (pattern id, sql, error)."""
    kind = rng.choices(["peek", "lookup", "check", "other_schema", "adhoc", "describe", "ddl", "catalog"],
                       [22, 14, 6, 14, 30, 5, 3, 6])[0]
    table = rng.choice(TABLES)
    if kind == "peek":
        sql = rng.choice([f"SELECT * FROM {table} LIMIT {rng.choice([10, 100, 100, 1000])}", f"select * from {table} limit 100",
                          f"SELECT COUNT(*) FROM {table}", f"SELECT * FROM {table} ORDER BY 1 DESC LIMIT 50"])
    elif kind == "lookup":
        n = rng.randint(1000, 400000)
        sql = rng.choice([f"SELECT * FROM market.orders WHERE order_id = {n}",
                          f"select o.order_id, o.status_code, o.total_cents, r.reason, r.amount_units from market.orders o left join finance.refunds r on r.order_id = o.order_id where o.order_id = {n}",
                          f"SELECT * FROM market.buyers WHERE buyer_id = {n % 50000}",
                          f"SELECT * FROM market.orders WHERE buyer_id = {n % 50000} ORDER BY placed_at_utc DESC",
                          f"SELECT * FROM market.sellers WHERE shop_name = 'Shop {n % 2000}'"])
    elif kind == "check":
        sql = rng.choice(["SELECT COUNT(*) FROM market.orders WHERE deleted_at IS NOT NULL",
                          "SELECT order_id, COUNT(*) FROM market.orders GROUP BY order_id HAVING COUNT(*) > 1",
                          "select count(*) from market.orders where buyer_id is null",
                          "SELECT COUNT(*) FROM finance.refunds r LEFT JOIN market.orders o ON o.order_id = r.order_id WHERE o.order_id IS NULL",
                          "SELECT MIN(placed_at_utc), MAX(placed_at_utc) FROM market.orders",
                          "SELECT MIN(event_date), MAX(event_date) FROM web.events"])
    elif kind == "other_schema":
        other = rng.choice(OTHER_TABLES)
        sql = rng.choice([f"SELECT * FROM {other} LIMIT 100", f"SELECT COUNT(*) FROM {other}",
                          "SELECT team, COUNT(*) FROM hr.employees GROUP BY team",
                          "SELECT status, COUNT(*) FROM ops.jira_tickets WHERE created >= CURRENT_DATE - 30 GROUP BY 1",
                          "SELECT a.segment, COUNT(*) FROM crm.accounts a GROUP BY a.segment ORDER BY 2 DESC",
                          "SELECT campaign, SUM(spend) FROM marketing.campaigns GROUP BY campaign"])
    elif kind == "describe":
        sql = rng.choice([f"DESCRIBE {table}", "SHOW TABLES", f"SUMMARIZE {table}"])
    elif kind == "ddl":
        sql = rng.choice([f"CREATE TEMP TABLE tmp_{user} AS SELECT * FROM market.orders WHERE placed_at_utc >= '2026-11-01'",
                          f"DROP TABLE IF EXISTS scratch.{user}_tmp",
                          f"CREATE TABLE scratch.{user}_orders AS SELECT * FROM market.orders WHERE buyer_id >= 1000"])
    elif kind == "catalog":
        sql = rng.choice(["SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema = 'market'",
                          "select column_name, data_type from information_schema.columns where table_name = 'orders'"])
    else:
        return "adhoc", _adhoc(rng, style), ""
    return kind, sql, ""


DIMENSIONS = {"market.orders": ["currency", "status_code", "seller_id", "buyer_id", "CAST(placed_at_utc AS DATE)", "date_trunc('month', placed_at_utc)", "EXTRACT(hour FROM placed_at_utc)"],
              "market.listings": ["category", "is_archived", "seller_id", "listed_on", "attr_03", "attr_17"],
              "market.sellers": ["tier", "country_code", "is_internal", "onboarded_on"],
              "market.buyers": ["country_code", "is_test", "date_trunc('month', created_at_utc)"],
              "finance.refunds": ["reason", "CAST(refunded_at_utc AS DATE)"],
              "web.events": ["event_type", "platform", "event_date", "buyer_id"]}
MEASURES = {"market.orders": ["COUNT(*)", "SUM(total_cents)", "AVG(total_cents)", "MAX(total_cents)", "COUNT(DISTINCT buyer_id)", "MEDIAN(total_cents)"],
            "market.listings": ["COUNT(*)", "AVG(price_cents)", "MAX(price_cents)", "AVG(attr_05)"],
            "market.sellers": ["COUNT(*)", "MIN(onboarded_on)"],
            "market.buyers": ["COUNT(*)", "COUNT(DISTINCT email)"],
            "finance.refunds": ["COUNT(*)", "SUM(amount_units)", "AVG(amount_units)"],
            "web.events": ["COUNT(*)", "COUNT(DISTINCT session_id)", "COUNT(DISTINCT buyer_id)"]}
FILTERS = {"market.orders": ["status_code = {n}", "currency = '{cur}'", "placed_at_utc >= '{day}'", "total_cents > {big}", "seller_id = {sid}", "buyer_id >= 1000", "deleted_at IS NULL"],
           "market.listings": ["category = '{cat}'", "NOT is_archived", "price_cents < {big}", "listed_on >= '2025-01-01'"],
           "market.sellers": ["tier = '{tier}'", "country_code = '{cc}'", "onboarded_on >= '2024-01-01'"],
           "market.buyers": ["country_code = '{cc}'", "NOT is_test", "deleted_at IS NULL"],
           "finance.refunds": ["reason = 'fraud'", "refunded_at_utc >= '{day}'", "amount_units > 100"],
           "web.events": ["event_date = '{day}'", "event_type = 'checkout'", "platform = 'ios'", "event_date >= '{day}'"]}


def _adhoc(rng: random.Random, style: Style) -> str:
    """A one-off question: a dimension or two, a measure or two, a few filters with this run's values."""
    table = rng.choice(list(DIMENSIONS))
    dims = rng.sample(DIMENSIONS[table], rng.choice([1, 1, 2]))
    measures = rng.sample(MEASURES[table], min(len(MEASURES[table]), rng.choice([1, 1, 2])))
    values = {"n": rng.choice([1, 2, 3, 4, 9]), "cur": rng.choice(["SEK", "EUR", "NOK", "DKK"]), "big": rng.choice([1000, 5000, 10000, 50000]),
              "sid": rng.randint(1, 2000), "cat": rng.choice(["toys", "books", "home"]), "tier": rng.choice(["business", "enterprise"]),
              "cc": rng.choice(["SE", "NO", "DK", "FI"]), "day": (START + timedelta(days=rng.randint(-40, 25))).isoformat()}
    filters = [f.format(**values) for f in rng.sample(FILTERS[table], rng.randint(0, min(3, len(FILTERS[table]))))]
    query = Query(dims + measures, table, [], filters, list(range(1, len(dims) + 1)),
                  rng.choice(["", f"{len(dims) + 1} DESC", "1"]), rng.choice([None, None, 20, 100]))
    return query.render(style, rng, rng.randint(0, 10**6))


def _run_times(rng: random.Random, runs: int) -> list[datetime]:
    """Working hours on weekdays (08-18), now and then on a weekend."""
    times = []
    while len(times) < runs:
        day = START + timedelta(days=rng.randrange(DAYS))
        if day.weekday() >= 5 and rng.random() < 0.85:
            continue
        times.append(datetime(day.year, day.month, day.day, rng.randint(8, 17), rng.randrange(60), rng.randrange(60)))
    return sorted(times)


def _entry(sql: str, user: str, at: datetime, rng: random.Random, error: str = "") -> dict:
    entry = {"query": sql, "user": user, "started_at": at.isoformat(), "status": "error" if error else "success",
             "error": error or None, "duration_ms": round(rng.lognormvariate(6.5, 1.1)), "rows": None if error else rng.randint(1, 500)}
    if error and rng.random() < 0.2:
        entry["status"], entry["error"] = "timeout", "query exceeded 300 s"
    return entry


def _typo(sql: str, rng: random.Random) -> tuple[str, str] | None:
    candidates = [(good, bad, error) for good, bad, error in TYPO_ERRORS if good in sql]
    if not candidates:
        return None
    good, bad, error = rng.choice(candidates)
    return sql.replace(good, bad, 1), error


def generate(seed: int = 9) -> tuple[list[dict], dict[str, str]]:
    """The history (entries sorted by time) and the pattern id of every query text."""
    rng = random.Random(seed)
    styles = {user: _style(random.Random(f"{seed}-{user}")) for user in ANALYSTS}
    entries: list[dict] = []
    pattern_of: dict[str, str] = {}

    def add(sql: str, pattern: str, user: str, at: datetime, error: str = "") -> None:
        entries.append(_entry(sql, user, at, rng, error))
        pattern_of.setdefault(sql, pattern)

    for pattern in PATTERNS:
        for user in pattern.users:
            style = styles[user]
            order_seed = sum(map(ord, f"{seed}{user}{pattern.id}"))
            for at in _run_times(rng, rng.randint(*pattern.runs)):
                query, comment = pattern.build(style, rng, at.date())
                sql = _finish(query.render(style, rng, order_seed), style, comment)
                typo = _typo(sql, rng) if rng.random() < 0.15 else None
                if typo:
                    add(typo[0], "failed", user, at - timedelta(minutes=rng.randint(1, 4)), typo[1])
                if rng.random() < 0.08 and "LIMIT" not in sql.upper():
                    add(sql.rstrip(";") + " LIMIT 100", pattern.id + "+limit", user, at - timedelta(minutes=1))
                add(sql, pattern.id, user, at)

    for name, sql in DASHBOARDS.items():
        for hour in range(DAYS * 24):
            at = datetime.combine(START, datetime.min.time()) + timedelta(hours=hour, minutes=2, seconds=rng.randrange(30))
            add(sql, name, DASHBOARD_USER, at)
    for day in range(DAYS):
        add(ETL, "etl", ETL_USER, datetime.combine(START + timedelta(days=day), datetime.min.time()) + timedelta(hours=3))

    for user in ANALYSTS:
        style = styles[user]
        for at in _run_times(rng, rng.randint(140, 230)):
            kind, sql, error = _noise(rng, user, style)
            sql = _finish(sql, style, "") if kind == "adhoc" else sql
            if kind == "adhoc" and rng.random() < 0.12:
                typo = _typo(sql, rng)
                if typo:
                    sql, error = typo
            add(sql, kind if not error else "failed", user, at, error)

    entries.sort(key=lambda e: e["started_at"])
    return entries, pattern_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=9)
    args = parser.parse_args()
    entries, _ = generate(args.seed)
    args.out.write_text("".join(json.dumps(e) + "\n" for e in entries))
    users = {e["user"] for e in entries}
    print(f"{len(entries)} queries by {len(users)} users ({len(ANALYSTS)} analysts) -> {args.out}")


if __name__ == "__main__":
    main()
