"""A messy, real-world-shaped DuckDB warehouse for adoption walkthroughs and profiling benchmarks.

What real warehouses have and the demo does not: several schemas (raw, staging, analytics, finance,
marketing, main), 40+ tables and some views, quoted and mixed-case column names ("UserId", "Order Date",
"order", "select", "group"), a 250-column table, columns almost all NULL, JSON/STRUCT/LIST/MAP columns,
DECIMAL(18,4) money, TIMESTAMP WITH TIME ZONE, UUIDs, BLOBs, an enum, very long text values, a large fact
table (5M rows by default), an empty table, the same table name in two schemas, non-ASCII values. Shapes
(names, cities, order statuses) borrowed from Spider's e-commerce and customer databases.

    python tests/messy_warehouse.py /tmp/messy.duckdb               # 5M-row fact table
    python tests/messy_warehouse.py /tmp/messy.duckdb --fact-rows 20000

Deterministic: the same file every run (no random(); values derived from row numbers with hash()).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

CITIES = ["Zürich", "São Paulo", "Kraków", "Malmö", "Reykjavík", "New York", "東京", "Montréal", "İstanbul", "Århus"]
STATUSES = ["placed", "paid", "shipped", "delivered", "returned", "cancelled"]
TEAMS = ["raw", "staging", "analytics", "finance", "marketing"]


def _list_sql(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def build(path: Path, fact_rows: int = 5_000_000) -> dict[str, int]:
    """Build the warehouse at ``path`` (replaced if present); return {schema.table: rows}."""
    import duckdb

    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    cities = _list_sql(CITIES)
    statuses = _list_sql(STATUSES)
    for schema in TEAMS:
        con.execute(f"CREATE SCHEMA {schema}")
    con.execute("CREATE TYPE order_status AS ENUM ('placed', 'paid', 'shipped', 'delivered', 'returned', 'cancelled')")

    con.execute(f"""
        CREATE TABLE raw.customers AS
        SELECT i AS "UserId",
               ['Åsa Lindqvist', 'João Silva', 'Zoë Müller', 'Łukasz Nowak', 'Chloé Dubois', '佐藤 花子', 'Ana 🎉 Ruiz'][1 + i % 7] || ' ' || i AS "Full Name",
               'user' || i || '@example.com' AS email,
               {cities}[1 + (hash(i) % {len(CITIES)})::BIGINT] AS city,
               TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i * 3600) AS signup_at,
               json_object('plan', ['free', 'pro', 'team'][1 + i % 3], 'score', i % 97) AS attributes,
               ['vip', 'beta', 'churn-risk'][1:1 + i % 3] AS tags,
               MAP {{'source': ['ads', 'seo', 'referral'][1 + i % 3]}} AS props,
               {{'street': 'Bahnhofstrasse ' || i, 'zip': lpad((8000 + i % 100)::VARCHAR, 4, '0')}} AS address,
               CASE WHEN i % 10 = 0 THEN from_hex('89504E470D0A1A0A') END AS avatar,
               CASE WHEN i % 50 = 0 THEN repeat('Lorem ipsum dolor sit amet, ärger über öl. ', 500) ELSE 'short bio' END AS bio,
               CASE WHEN i = 7 THEN '+41 44 000 00 00' END AS legacy_fax,
               md5(i::VARCHAR)::UUID AS external_id
        FROM range(1, 5001) t(i)
    """)
    con.execute("""
        CREATE TABLE analytics.customers AS
        SELECT "UserId", city, date_trunc('month', signup_at)::DATE AS cohort_month,
               attributes->>'plan' AS plan, "UserId" % 4 = 0 AS is_active
        FROM raw.customers
    """)
    con.execute(f"""
        CREATE TABLE analytics.fct_orders AS
        SELECT i AS order_id,
               1 + (hash(i) % 5000)::BIGINT AS "UserId",
               DATE '2025-01-01' + (i % 365)::INTEGER AS "Order Date",
               (i % 7)::INTEGER AS "order",
               ['a', 'b', 'c'][1 + i % 3] AS "select",
               ['north', 'south', 'east', 'west'][1 + (hash(i + 1) % 4)::BIGINT] AS "group",
               {statuses}[1 + (hash(i + 2) % 6)::BIGINT]::order_status AS status,
               (((hash(i + 3) % 100000))::BIGINT / 100.0)::DECIMAL(18,4) AS amount,
               TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds(i % 31536000) AS created_at,
               {cities}[1 + (hash(i + 4) % {len(CITIES)})::BIGINT] AS ship_city,
               CASE WHEN i % 50000 = 7 THEN 'gift' END AS note
        FROM range(1, {fact_rows + 1}) t(i)
    """)
    con.execute(f"""
        CREATE TABLE raw.orders AS
        SELECT order_id AS "OrderID", "UserId" AS "CustomerID", "Order Date" AS "OrderDate",
               status::VARCHAR AS "Status", amount AS "Amount"
        FROM analytics.fct_orders WHERE order_id <= 20000
    """)
    con.execute(f"""
        CREATE TABLE finance.invoices AS
        SELECT i AS invoice_id, 1 + i % 5000 AS "UserId",
               ((i * 37) % 100000 / 100.0)::DECIMAL(18,4) AS amount_eur,
               ['EUR', 'CHF', 'BRL', 'SEK'][1 + i % 4] AS currency,
               TIMESTAMPTZ '2025-01-01 08:00:00+01' + to_seconds(i * 600) AS issued_at,
               CASE WHEN i % 3 = 0 THEN NULL ELSE DATE '2025-01-01' + (i % 200)::INTEGER END AS paid_on
        FROM range(1, 30001) t(i)
    """)
    columns = ", ".join(f"CASE WHEN i % {c + 2} = 0 THEN i * {c} END AS metric_{c:03d}" for c in range(248))
    con.execute(f"CREATE TABLE finance.wide_accounts AS SELECT i AS account_id, 'acct-' || i AS account_name, {columns} FROM range(1, 2001) t(i)")
    con.execute("CREATE TABLE finance.fx_rates (currency VARCHAR, rate DECIMAL(18,4), valid_from DATE)")
    con.execute("INSERT INTO finance.fx_rates VALUES ('CHF', 1.0432, '2025-01-01'), ('BRL', 0.1650, '2025-01-01'), ('SEK', 0.0871, '2025-01-01'), ('EUR', 1.0, '2025-01-01')")
    con.execute("CREATE TABLE main.empty_table (id INTEGER, label VARCHAR, created_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE marketing.customers (\"UserId\" BIGINT, campaign VARCHAR, \"Clicked At\" TIMESTAMPTZ)")
    con.execute("INSERT INTO marketing.customers SELECT \"UserId\", ['spring', 'été', 'winter ❄'][1 + \"UserId\" % 3], signup_at + INTERVAL 2 DAY FROM raw.customers WHERE \"UserId\" % 5 = 0")
    for n in range(1, 36):
        schema = TEAMS[n % len(TEAMS)]
        con.execute(f"CREATE TABLE {schema}.src_table_{n:02d} AS SELECT i AS id, 'value ' || (i % {n + 1}) AS label, DATE '2025-06-01' + (i % 30)::INTEGER AS ds FROM range(1, {100 * n + 1}) t(i)")
    con.execute("""
        CREATE VIEW analytics.v_daily_revenue AS
        SELECT "Order Date" AS day, sum(amount) AS revenue, count(*) AS orders FROM analytics.fct_orders GROUP BY 1
    """)
    con.execute("CREATE VIEW finance.v_open_invoices AS SELECT * FROM finance.invoices WHERE paid_on IS NULL")
    con.execute("CREATE VIEW marketing.v_campaigns AS SELECT campaign, count(*) AS users FROM marketing.customers GROUP BY 1")
    con.execute("""
        CREATE TABLE main.query_history (query VARCHAR, "user" VARCHAR, started_at TIMESTAMPTZ, status VARCHAR)
    """)
    patterns = [
        'SELECT "group", sum(amount) FROM analytics.fct_orders WHERE "Order Date" >= DATE \'2025-{m:02d}-01\' AND "Order Date" < DATE \'2025-{m:02d}-01\' + INTERVAL 1 MONTH GROUP BY "group"',
        'SELECT status, count(*) FROM analytics.fct_orders WHERE ship_city = \'{city}\' GROUP BY status',
        'SELECT "UserId", count(*) AS n FROM analytics.fct_orders GROUP BY "UserId" ORDER BY n DESC LIMIT {k}',
        "SELECT currency, sum(amount_eur) FROM finance.invoices WHERE paid_on IS NULL GROUP BY currency",
    ]
    rows = []
    for k in range(240):
        p = patterns[k % len(patterns)]
        sql = p.format(m=1 + k % 12, city=CITIES[k % 4].replace("'", "''"), k=5 + k % 3 * 5)
        rows.append((sql, ["ana", "björn", "chen", "dara"][k // 4 % 4], f"2025-10-{1 + k % 28:02d} 09:00:00+00", "success" if k % 17 else "failed"))
    con.executemany("INSERT INTO main.query_history VALUES (?, ?, ?, ?)", rows)
    counts = {
        f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0]
        for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables() ORDER BY 1, 2").fetchall()
    }
    con.close()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--fact-rows", type=int, default=5_000_000)
    args = parser.parse_args()
    started = time.perf_counter()
    counts = build(args.path, args.fact_rows)
    print(f"{len(counts)} tables, {sum(counts.values()):,} rows in {time.perf_counter() - started:.1f} s: {args.path}")


if __name__ == "__main__":
    main()
