"""A B2B SaaS company's project (tests/fixtures/saas) and a small warehouse for it: a second project no one tuned the
offline answerer on.

Two clusters written as their experts would from the README: ``revenue`` (crm.accounts, billing.*) owned by
revenue-analytics, and ``support`` (support.tickets, product.events) owned by support-ops. The warehouse is a few
tens of thousands of rows, built in about a second, the same every time (DuckDB's ``hash`` of the row number, no
random source). Its quirks are what the clusters' docs explain: accounts 1-25 are internal test orgs, trials are
not customers, money is in cents of the invoice's currency (``amount_usd_cents`` converted), soft-deleted
invoices, status codes, a fiscal year that starts on February 1.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from vedder.schemas import SCHEMA_DIR

SAAS = Path(__file__).parent / "fixtures" / "saas"

_TABLES = [
    "CREATE SCHEMA crm", "CREATE SCHEMA billing", "CREATE SCHEMA support", "CREATE SCHEMA product",
    # accounts 1-25 are internal test orgs; every 7th other account is still on a trial
    """CREATE TABLE crm.accounts AS SELECT i AS account_id, 'Account ' || i AS account_name,
         (['US','US','US','GB','DE','FR','SE','CA'])[1 + (hash(i) % 8)::INT] AS country_code,
         (['smb','smb','smb','mid_market','mid_market','enterprise'])[1 + (hash(i*3) % 6)::INT] AS segment,
         (['software','retail','finance','healthcare','education'])[1 + (hash(i*5) % 5)::INT] AS industry,
         TIMESTAMP '2023-01-01 00:00:00' + to_seconds((hash(i*7) % 108000000)::BIGINT) AS created_at_utc,
         i <= 25 AS is_internal, i > 25 AND i % 7 = 0 AS is_trial, i % 97 = 0 AS is_deleted
       FROM range(1, 1501) t(i)""",
    """CREATE TABLE billing.plans AS SELECT * FROM (VALUES
         ('starter', 'Starter', 1500), ('team', 'Team', 4000), ('business', 'Business', 9000),
         ('enterprise', 'Enterprise', 20000)) v(plan_code, plan_name, seat_price_usd_cents)""",
    # status_code 1 = trialing, 2 = active, 3 = past_due, 4 = canceled; one subscription per account
    """CREATE TABLE billing.subscriptions AS SELECT a.account_id AS subscription_id, a.account_id,
         (['starter','starter','team','team','business','enterprise'])[1 + (hash(a.account_id*11) % 6)::INT] AS plan_code,
         (1 + hash(a.account_id*13) % 60)::INT AS seats,
         CAST(a.created_at_utc AS DATE) + 14 AS started_on,
         CASE WHEN a.is_trial THEN 1 WHEN hash(a.account_id*17) % 10 < 2 THEN 4
              WHEN hash(a.account_id*17) % 10 = 2 THEN 3 ELSE 2 END::SMALLINT AS status_code,
         CASE WHEN NOT a.is_trial AND hash(a.account_id*17) % 10 < 2
              THEN least(DATE '2026-06-09', CAST(a.created_at_utc AS DATE) + 44 + (hash(a.account_id*19) % 800)::INT) END AS canceled_on,
         (['USD','USD','EUR','GBP'])[1 + (hash(a.account_id*23) % 4)::INT] AS currency
       FROM crm.accounts a""",
    """CREATE TABLE billing.subscriptions2 AS SELECT s.*, s.seats * p.seat_price_usd_cents AS mrr_usd_cents
       FROM billing.subscriptions s JOIN billing.plans p USING (plan_code)""",
    "DROP TABLE billing.subscriptions", "ALTER TABLE billing.subscriptions2 RENAME TO subscriptions",
    """CREATE TABLE billing.subscription_changes AS SELECT i AS change_id, 26 + (hash(i) % 1475)::INT AS account_id,
         TIMESTAMP '2024-01-01 00:00:00' + to_seconds((hash(i*3) % 76896000)::BIGINT) AS changed_at_utc,
         (['upgrade','upgrade','downgrade','seat_increase','seat_increase','seat_decrease'])[1 + (hash(i*5) % 6)::INT] AS change_type,
         (hash(i*7) % 40000)::BIGINT - 10000 AS mrr_delta_usd_cents
       FROM range(1, 3001) t(i)""",
    # invoices in cents of their currency; amount_usd_cents converted at the month's rate; status text
    """CREATE TABLE billing.invoices AS SELECT i AS invoice_id, 1 + (hash(i) % 1500)::INT AS account_id,
         TIMESTAMP '2024-01-01 00:00:00' + to_seconds((hash(i*3) % 76896000)::BIGINT) AS issued_at_utc,
         (['USD','USD','EUR','GBP'])[1 + (hash(i*5) % 4)::INT] AS currency,
         (2000 + hash(i*7) % 500000)::BIGINT AS amount_cents,
         (['paid','paid','paid','paid','paid','paid','open','open','void','uncollectible'])[1 + (hash(i*11) % 10)::INT] AS status,
         i % 61 = 0 AS is_deleted
       FROM range(1, 24001) t(i)""",
    """CREATE TABLE billing.invoices2 AS SELECT invoice_id, account_id, issued_at_utc,
         CAST(issued_at_utc AS DATE) + 30 AS due_on, currency, amount_cents,
         round(amount_cents * CASE currency WHEN 'EUR' THEN 1.08 WHEN 'GBP' THEN 1.27 ELSE 1 END)::BIGINT AS amount_usd_cents,
         status, is_deleted
       FROM billing.invoices""",
    "DROP TABLE billing.invoices", "ALTER TABLE billing.invoices2 RENAME TO invoices",
    # priority 'P1'..'P4'; status_code 1 = new, 2 = open, 3 = pending, 4 = solved, 5 = closed
    """CREATE TABLE support.tickets AS SELECT i AS ticket_id, 1 + (hash(i) % 1500)::INT AS account_id,
         TIMESTAMP '2025-06-01 00:00:00' + to_seconds((hash(i*3) % 32227200)::BIGINT) AS opened_at_utc,
         (['P1','P2','P2','P3','P3','P3','P4','P4'])[1 + (hash(i*5) % 8)::INT] AS priority,
         (['email','email','chat','chat','phone'])[1 + (hash(i*7) % 5)::INT] AS channel,
         (['billing','bug','how_to','integration','account_access','feature_request'])[1 + (hash(i*11) % 6)::INT] AS category,
         ([1,2,3,4,4,4,5,5,5,5])[1 + (hash(i*13) % 10)::INT]::SMALLINT AS status_code,
         (5 + hash(i*17) % 3000)::INT AS first_response_minutes,
         (30 + hash(i*19) % 20000)::INT AS resolution_minutes
       FROM range(1, 9001) t(i)""",
    """CREATE TABLE support.tickets2 AS SELECT ticket_id, account_id, opened_at_utc, priority, channel, category, status_code,
         opened_at_utc + to_minutes(first_response_minutes) AS first_response_at_utc,
         CASE WHEN status_code >= 4 THEN least(opened_at_utc + to_minutes(resolution_minutes), TIMESTAMP '2026-06-09 23:00:00') END AS resolved_at_utc,
         first_response_minutes > CASE priority WHEN 'P1' THEN 60 WHEN 'P2' THEN 240 WHEN 'P3' THEN 1440 ELSE 2880 END AS sla_breached
       FROM support.tickets""",
    "DROP TABLE support.tickets", "ALTER TABLE support.tickets2 RENAME TO tickets",
    """CREATE TABLE product.events AS SELECT i AS event_id, 1 + (hash(i) % 1500)::INT AS account_id,
         (1 + hash(i*3) % 20000)::INT AS user_id,
         DATE '2026-03-12' + (i % 90)::INT AS event_date,
         (['login','login','login','report_created','dashboard_viewed','dashboard_viewed','export_csv','api_call'])[1 + (hash(i*5) % 8)::INT] AS event_name,
         (['web','web','ios','android','api'])[1 + (hash(i*7) % 5)::INT] AS platform
       FROM range(0, 36000) t(i)""",
]


def build_saas_warehouse(path: Path) -> Path:
    """A DuckDB file at ``path`` with the SaaS company's seven tables, small."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("SET threads=1")
        for statement in _TABLES:
            con.execute(statement)
    return path


def copy_saas(root: Path) -> Path:
    """``root`` holding the SaaS project's vedder.yaml and clusters/, with its small warehouse built."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAAS / "vedder.yaml", root / "vedder.yaml")
    shutil.copytree(SAAS / "clusters", root / "clusters")
    # the cluster files' yaml-language-server comments point at schemas/
    shutil.copytree(SCHEMA_DIR, root / "schemas", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    build_saas_warehouse(root / ".vedder" / "saas.duckdb")
    return root
