"""A small two-cluster project on disk (music, billing) with a real DuckDB warehouse, for the context,
offline and eval tests."""

from __future__ import annotations

from pathlib import Path

from vedder.warehouse.duckdb import DuckDBWarehouse

WIDE_COLUMNS = "".join(f"  - {{name: attribute_{i}, type: VARCHAR}}\n" for i in range(40))

FILES = {
    "vedder.yaml": "warehouse: {type: duckdb, path: warehouse.duckdb}\ndialect: duckdb\nmodel: offline\n",
    "clusters/music/cluster.yaml": (
        "id: music\ntitle: Music streaming\ndescription: Streams, listeners and subscription plans.\n"
        "owners: {team: Listening Insights, members: [ana], contact: '#listening'}\n"
        "datasets: [music.*]\ndefault_schema: music\nkeywords: [streams, listeners, plays]\n"
    ),
    "clusters/music/datasets/music.streams.yaml": (
        "table: music.streams\ndescription: One row per stream.\nrow_count: 6\ncolumns:\n"
        "  - {name: user_id, type: BIGINT, description: Who streamed}\n"
        "  - name: country\n    type: VARCHAR\n    description: ISO country code\n"
        "    common_values: [{value: US, frequency: 0.5}, {value: SE, frequency: 0.3}, {value: DE, frequency: 0.2}]\n"
        "  - {name: stream_year, type: INTEGER, min: 2023, max: 2024}\n"
        "  - {name: duration_s, type: INTEGER, description: Seconds played}\n"
    ),
    "clusters/music/datasets/music.users.yaml": (
        "table: music.users\ndescription: One row per listener account.\ncolumns:\n"
        "  - {name: user_id, type: BIGINT}\n"
        "  - name: plan\n    type: VARCHAR\n    common_values: [{value: free, frequency: 0.6}, {value: premium, frequency: 0.4}]\n"
    ),
    "clusters/music/datasets/music.track_catalog.yaml": "table: music.track_catalog\ndescription: Track metadata.\ncolumns:\n" + WIDE_COLUMNS,
    "clusters/music/pairs/streams-country-year.yaml": (
        "question: How many streams were there in the US in 2024?\n"
        "sql: SELECT COUNT(*) AS streams FROM music.streams WHERE country = 'US' AND stream_year = 2024\n"
        "verified_by: ana\nverified_at: '2024-11-01'\nparaphrases: [Number of US streams in 2024]\n"
    ),
    "clusters/music/pairs/top-countries.yaml": (
        "question: What are the top 2 countries by streams?\n"
        "sql: SELECT country, COUNT(*) AS streams FROM music.streams GROUP BY country ORDER BY streams DESC LIMIT 2\n"
        "verified_by: ana\nverified_at: '2024-11-01'\n"
    ),
    "clusters/music/pairs/premium-users.yaml": (
        "question: How many users are on the premium plan?\n"
        "sql: SELECT COUNT(*) AS users FROM music.users WHERE plan = 'premium'\n"
        "verified_by: ana\nverified_at: '2024-11-01'\n"
    ),
    "clusters/music/pairs/average-duration.yaml": (
        "question: What is the average stream duration in seconds?\n"
        "sql: SELECT AVG(duration_s) AS seconds FROM music.streams\n"
        "verified_by: ana\nverified_at: '2024-11-01'\n"
    ),
    "clusters/music/docs/definitions.md": (
        "---\ntitle: Definitions\napplies_to: [music.streams]\n---\n# Definitions\n\n"
        "## Streams\nA stream is a play of 30 seconds or more.\n\n"
        "## Plans\nPremium users pay monthly; free users hear ads.\n"
    ),
    "clusters/billing/cluster.yaml": (
        "id: billing\ntitle: Billing\ndescription: Invoices and payments from customers.\n"
        "owners: {team: Finance Data, members: [bo]}\ndatasets: [billing.invoices]\ndefault_schema: billing\n"
    ),
    "clusters/billing/datasets/billing.invoices.yaml": (
        "table: billing.invoices\ndescription: One row per invoice sent to a customer.\ncolumns:\n"
        "  - {name: invoice_id, type: BIGINT}\n  - {name: customer_id, type: BIGINT}\n"
        "  - {name: amount, type: DOUBLE, description: Invoiced amount in dollars}\n"
        "  - {name: invoice_year, type: INTEGER}\n"
    ),
    "clusters/billing/pairs/invoiced-amount-year.yaml": (
        "question: What was the total invoiced amount in 2024?\n"
        "sql: SELECT SUM(amount) AS amount FROM billing.invoices WHERE invoice_year = 2024\n"
        "verified_by: bo\nverified_at: '2024-11-01'\n"
    ),
}

DATA = [
    "CREATE SCHEMA music",
    "CREATE SCHEMA billing",
    "CREATE TABLE music.streams (user_id BIGINT, country VARCHAR, stream_year INTEGER, duration_s INTEGER)",
    "INSERT INTO music.streams VALUES (1, 'US', 2024, 100), (2, 'US', 2024, 40), (3, 'SE', 2024, 200), "
    "(4, 'SE', 2023, 35), (5, 'DE', 2024, 60), (1, 'US', 2023, 90)",
    "CREATE TABLE music.users (user_id BIGINT, plan VARCHAR)",
    "INSERT INTO music.users VALUES (1, 'free'), (2, 'premium'), (3, 'premium'), (4, 'free'), (5, 'free')",
    "CREATE TABLE music.track_catalog (" + ", ".join(f"attribute_{i} VARCHAR" for i in range(40)) + ")",
    "CREATE TABLE billing.invoices (invoice_id BIGINT, customer_id BIGINT, amount DOUBLE, invoice_year INTEGER)",
    "INSERT INTO billing.invoices VALUES (1, 10, 99.5, 2024), (2, 11, 20.0, 2024), (3, 10, 5.0, 2023)",
]


def make_project(root: Path) -> Path:
    """Write the project files and build its warehouse under ``root``; return ``root``."""
    for relative, text in FILES.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    warehouse = DuckDBWarehouse(root / "warehouse.duckdb", read_only=False)
    for statement in DATA:
        warehouse.connection.execute(statement)
    warehouse.close()
    return root
