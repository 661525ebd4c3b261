"""A copy of the reviewer's marketplace project (tests/fixtures/shop) with a small warehouse of the same shape.

The reviewer built 400,000 orders and 3 million events; these tests need the same tables, columns, value domains
and date ranges (the clusters' profiles describe them), not the volume: a few thousand rows, built in about a second,
the same every time (DuckDB's ``hash`` of the row number, no random source).
"""

from __future__ import annotations

import shutil
from pathlib import Path

SHOP = Path(__file__).parent / "fixtures" / "shop"

_TABLES = [
    "CREATE SCHEMA market", "CREATE SCHEMA web", "CREATE SCHEMA finance",
    # buyers: ids < 1000 are test accounts (a third of them here, so a missing filter shows in every figure)
    """CREATE TABLE market.buyers AS SELECT i AS buyer_id, 'buyer' || i || '@example.com' AS email,
         (['SE','NO','DK','FI','DE','NL'])[1 + (hash(i) % 6)::INT] AS country_code,
         TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds((hash(i*7) % 60000000)::BIGINT) AS created_at_utc,
         CASE WHEN i % 37 = 0 THEN TIMESTAMPTZ '2026-06-01 00:00:00+00' + to_seconds((hash(i) % 10000000)::BIGINT) END AS deleted_at,
         i < 1000 AS is_test
       FROM range(1, 3001) t(i)""",
    """CREATE TABLE market.sellers AS SELECT i AS seller_id, 'Shop ' || i AS shop_name,
         (['SE','NO','DK','FI'])[1 + (hash(i) % 4)::INT] AS country_code,
         (['individual','business','enterprise'])[1 + (hash(i*3) % 3)::INT] AS tier,
         DATE '2023-01-01' + (hash(i) % 1000)::INT AS onboarded_on, i <= 6 AS is_internal
       FROM range(1, 121) t(i)""",
    # status 1=placed 2=paid 3=shipped 4=delivered 9=cancelled; sellers skewed (a square root of the hash) so that
    # the top sellers differ in their counts
    """CREATE TABLE market.orders AS SELECT i AS order_id, 1 + (hash(i) % 3000)::INT AS buyer_id,
         1 + floor(sqrt((hash(i*13) % 14400)::DOUBLE))::INT AS seller_id,
         TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds((hash(i*11) % 60000000)::BIGINT) AS placed_at_utc,
         ([1,2,3,4,4,4,4,9])[1 + (hash(i*17) % 8)::INT]::SMALLINT AS status_code,
         (500 + hash(i*19) % 200000)::BIGINT AS total_cents,
         (['SEK','NOK','DKK','EUR'])[1 + (hash(i*23) % 4)::INT] AS currency,
         CASE WHEN i % 53 = 0 THEN TIMESTAMPTZ '2026-09-01 00:00:00+00' END AS deleted_at
       FROM range(1, 12001) t(i)""",
    """CREATE TABLE market.order_items AS SELECT o.order_id, k AS line_no,
         1 + (hash(o.order_id*k) % 600)::INT AS listing_id, 1 + (hash(o.order_id + k) % 3)::INT AS quantity,
         (100 + hash(o.order_id*31+k) % 50000)::BIGINT AS unit_price_cents
       FROM market.orders o, range(1, 4) r(k) WHERE k <= 1 + (o.order_id % 3)""",
    """CREATE TABLE finance.refunds AS SELECT row_number() OVER (ORDER BY order_id) AS refund_id, order_id,
         placed_at_utc + INTERVAL 5 DAY AS refunded_at_utc, total_cents / 100.0 AS amount_units,
         (['damaged','not_received','changed_mind','fraud'])[1 + (hash(order_id) % 4)::INT] AS reason
       FROM market.orders WHERE hash(order_id*41) % 8 = 0""",
    """CREATE TABLE market.listings AS SELECT i AS listing_id, 1 + (hash(i) % 120)::INT AS seller_id,
         'Item ' || i AS title,
         (['fashion','home','electronics','toys','books','garden'])[1 + (hash(i*5) % 6)::INT] AS category,
         (100 + hash(i*7) % 50000)::BIGINT AS price_cents, (hash(i) % 10 = 0) AS is_archived,
         DATE '2024-06-01' + (hash(i*3) % 500)::INT AS listed_on,
         {attributes}
       FROM range(1, 601) t(i)""",
    """CREATE TABLE web.events AS SELECT i AS event_id, DATE '2026-08-28' + (i % 90)::INT AS event_date,
         TIMESTAMPTZ '2026-08-28 00:00:00+00' + INTERVAL 1 DAY * (i % 90) + to_seconds((hash(i) % 86400)::BIGINT) AS event_ts_utc,
         1 + (hash(i*3) % 3000)::INT AS buyer_id,
         (['page_view','search','add_to_cart','checkout','purchase'])[1 + (hash(i*5) % 5)::INT] AS event_type,
         (['ios','android','web'])[1 + (hash(i*7) % 3)::INT] AS platform,
         md5((i // 3)::VARCHAR)[:16] AS session_id
       FROM range(0, 27000) t(i)""",
]


def build_shop_warehouse(path: Path) -> Path:
    """A DuckDB file at ``path`` with the marketplace's seven tables, small."""
    import duckdb

    attributes = ",\n         ".join(f"(hash(i*{k + 100}) % 1000)::INT AS attr_{k:02d}" for k in range(60))
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("SET threads=1")
        for statement in _TABLES:
            con.execute(statement.replace("{attributes}", attributes))
    return path


def copy_shop(root: Path) -> Path:
    """``root`` holding the shop project's vedder.yaml and clusters/, with its small warehouse built."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHOP / "vedder.yaml", root / "vedder.yaml")
    shutil.copytree(SHOP / "clusters", root / "clusters")
    build_shop_warehouse(root / ".vedder" / "shop.duckdb")
    return root
