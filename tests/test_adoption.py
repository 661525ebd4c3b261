"""A team adopting vedder on its own warehouse: init, clusters, pairs and docs written by hand, the edge cases
a real warehouse and real hand-edited files bring (identifiers that need quoting, paths typed from another
folder, duplicate YAML keys, documented filters in proposals)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from vedder.cli import app


def run(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


SHOP = """
CREATE SCHEMA sales; CREATE SCHEMA crm; CREATE SCHEMA "Finance Data";
CREATE TABLE crm.customers AS
  SELECT 'C' || i AS customer_id, CASE WHEN i % 7 = 0 THEN 'Åsa Lindqvist' ELSE 'Name ' || i END AS full_name,
         ['Zürich', 'Stockholm', 'Berlin', NULL][i % 4 + 1] AS city, i % 10 = 0 AS is_test
  FROM range(1, 401) t(i);
CREATE TABLE sales.orders AS
  SELECT 'O' || i AS order_id, 'C' || (i % 400 + 1) AS customer_id,
         ['shipped', 'Delivered', 'cancelled', 'pending'][i % 4 + 1] AS status,
         DATE '2026-10-01' + (i % 50)::INT AS ds, i * 31 % 2000 AS total_cents
  FROM range(1, 2001) t(i);
CREATE TABLE "Finance Data"."Refunds" AS SELECT 'R' || i AS refund_id, i * 3 AS amount_cents FROM range(1, 51) t(i);
"""


@pytest.fixture
def shop(tmp_path) -> Path:
    """A project folder whose vedder.yaml points at a small company warehouse outside it."""
    warehouse = tmp_path / "wh" / "shop.duckdb"
    warehouse.parent.mkdir()
    con = duckdb.connect(str(warehouse))
    con.execute(SHOP)
    con.close()
    project = tmp_path / "shopco"
    assert run("init", str(project), "--warehouse", str(warehouse)).exit_code == 0
    return project


def test_cluster_new_refuses_tables_whose_names_need_quoting(shop):
    result = run("cluster", "new", "finance", "--tables", "finance data.*", "--owner", "fin", "--project", str(shop))
    assert result.exit_code == 2, result.output
    assert "finance data.refunds" in result.output and "CREATE VIEW" in result.output
    assert "Traceback" not in result.output
    assert not (shop / "clusters" / "finance").exists()
    assert run("validate", "--project", str(shop)).exit_code == 0


def test_the_view_the_hint_suggests_makes_such_a_table_a_cluster(shop):
    hint = run("cluster", "new", "finance", "--tables", "finance data.*", "--owner", "fin", "--project", str(shop))
    view = hint.output.split("view: ", 1)[1].split(" (create", 1)[0]
    con = duckdb.connect(str(shop.parent / "wh" / "shop.duckdb"))
    con.execute("CREATE SCHEMA finance_data")
    con.execute(view)
    con.close()
    created = run("cluster", "new", "finance", "--tables", "finance_data.*", "--owner", "fin", "--project", str(shop))
    assert created.exit_code == 0, created.output
    assert run("validate", "--project", str(shop)).exit_code == 0
    queried = run("query", "SELECT count(*) AS n FROM finance_data.refunds", "--project", str(shop), "--json")
    assert queried.exit_code == 0 and '"rows": [\n    [\n      50' in queried.stdout, queried.output


def test_profile_skips_a_table_a_glob_matches_that_files_cannot_name(shop):
    assert run("cluster", "new", "everything", "--tables", "sales.*", "--owner", "data", "--project", str(shop)).exit_code == 0
    cluster_yaml = shop / "clusters" / "everything" / "cluster.yaml"
    cluster_yaml.write_text(cluster_yaml.read_text().replace("- sales.*", "- '*.*'"))
    result = run("profile", "--project", str(shop))
    assert result.exit_code == 0, result.output
    assert "skips finance data.refunds" in result.output
    assert sorted(p.name for p in (shop / "clusters" / "everything" / "datasets").iterdir()) == [
        "crm.customers.yaml", "sales.orders.yaml"]
    assert run("validate", "--project", str(shop)).exit_code == 0


def test_init_with_a_warehouse_path_typed_from_the_shells_folder(shop, monkeypatch):
    monkeypatch.chdir(shop.parent)
    result = run("init", "projects/analytics", "--warehouse", "wh/shop.duckdb")
    assert result.exit_code == 0, result.output
    assert "no warehouse at" not in result.output and "../../wh/shop.duckdb" in result.output
    monkeypatch.chdir(shop.parent / "projects" / "analytics")
    created = run("cluster", "new", "orders", "--tables", "sales.*", "--owner", "commerce")
    assert created.exit_code == 0, created.output


def test_a_missing_warehouse_points_at_vedder_yaml_not_only_at_the_demo(shop):
    (shop / "vedder.yaml").write_text((shop / "vedder.yaml").read_text().replace("shop.duckdb", "gone.duckdb"))
    result = run("query", "SELECT 1", "--project", str(shop))
    assert result.exit_code == 3
    assert "gone.duckdb does not exist" in result.output and "warehouse.path` in vedder.yaml" in result.output
    assert "Traceback" not in result.output


PAIR = "question: How many orders are there per status?\nsql: SELECT status, COUNT(*) AS orders FROM sales.orders GROUP BY status\nverified_by: maria\nverified_at: '2026-11-20'\n"


@pytest.fixture
def orders(shop) -> Path:
    """``shop`` with an orders cluster (sales.*) and one vetted pair."""
    assert run("cluster", "new", "orders", "--tables", "sales.*", "--owner", "commerce", "--project", str(shop)).exit_code == 0
    (shop / "clusters" / "orders" / "pairs" / "orders-by-status.yaml").write_text(PAIR)
    return shop


def test_a_duplicate_key_in_a_hand_edited_file_is_an_error_with_its_line(orders):
    (orders / "clusters" / "orders" / "pairs" / "twice.yaml").write_text(
        "question: How many orders in total?\nsql: SELECT count(*) FROM sales.orders\nverified_by: maria\n"
        "question: How many orders were there?\nverified_at: '2026-11-20'\n")
    validated = run("validate", "--project", str(orders))
    assert validated.exit_code == 1
    assert "twice.yaml:4:1: error: invalid YAML: key 'question' appears twice (also on line 1)" in validated.output
    asked = run("ask", "How many orders were there?", "--project", str(orders))
    assert asked.exit_code == 2 and "appears twice" in asked.output and "Traceback" not in asked.output
    settings = orders / "vedder.yaml"
    settings.write_text(settings.read_text() + "model: gpt-4o-mini\n")
    listed = run("clusters", "--project", str(orders))
    assert listed.exit_code == 2 and "vedder.yaml:" in listed.output and "key 'model' appears twice" in listed.output


ORDERS_DOC = """# Orders

An **order** is a row of `sales.orders`. Cancelled orders (`status = 'cancelled'`) never count as revenue.
Always filter on the partition column `ds`.
"""


def test_propose_words_no_exclusion_from_a_section_named_after_the_table_or_one_the_query_breaks_down(orders):
    from vedder.config import load_config
    from vedder.curation.describe import Vocabulary, describe
    from vedder.project.model import load_project

    (orders / "clusters" / "orders" / "docs" / "orders.md").write_text(ORDERS_DOC)
    (orders / "clusters" / "customers").mkdir()
    vocabulary = Vocabulary.of(load_project(load_config(orders)).clusters["orders"])
    assert describe("SELECT status, count(*) FROM sales.orders WHERE ds = DATE '2026-11-03' GROUP BY 1",
                    vocabulary=vocabulary) == "How many orders per status on 2026-11-03?"
    assert describe("SELECT count(*) FROM sales.orders WHERE status = 'cancelled'",
                    vocabulary=vocabulary) == "How many orders with status cancelled?"


BOM = "\ufeff"


def test_files_saved_with_a_byte_order_mark_and_windows_line_ends_read_like_any_other(orders, tmp_path):
    """Notepad and Excel's 'CSV UTF-8' start a file with a BOM; it is not part of the first key or column."""
    questions = tmp_path / "questions.jsonl"
    questions.write_text(BOM + '{"question": "How many orders are there per status?", "cluster": "orders"}\r\n', encoding="utf-8")
    evaluated = run("eval", str(questions), "--project", str(orders), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert '"status": "answered"' in evaluated.stdout
    history = tmp_path / "history.csv"
    row = '"SELECT status, count(*) FROM sales.orders GROUP BY 1",{user},2026-11-0{day}T10:00:00Z,success\r\n'
    history.write_text(BOM + "query,user,started_at,status\r\n" + "".join(row.format(user=u, day=d) for d, u in ((1, "ann"), (2, "bob"))),
                       encoding="utf-8")
    proposed = run("propose", "orders", "--history", str(history), "--no-pr", "--project", str(orders))
    assert proposed.exit_code == 0, proposed.output
    assert "queries            2" in proposed.output
    doc = orders / "clusters" / "orders" / "docs" / "refunds.md"
    doc.write_text(BOM + "---\r\ntitle: Refund rules\r\napplies_to: [sales.orders]\r\n---\r\n# Refunds\r\n\r\nUse `total_cents`.\r\n", encoding="utf-8")
    context = run("context", "refund rules", "--cluster", "orders", "--project", str(orders), "--json")
    assert context.exit_code == 0 and '### Refund rules — Refunds (refunds.md)\\nUse' in context.stdout, context.output



def test_the_readmes_pair_and_doc_for_your_own_warehouse_work_as_written(orders):
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Your own warehouse", 1)[1].split("\n## ", 1)[0]
    pair = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    doc = section.split("```markdown\n", 1)[1].split("```", 1)[0]
    folder = orders / "clusters" / "orders"
    (folder / "pairs" / "orders-by-status.yaml").write_text(pair)
    (folder / "docs" / "orders.md").write_text(doc)
    validated = run("validate", "--project", str(orders), "--format", "json")
    assert validated.exit_code == 0 and '"error"' not in validated.stdout, validated.output
    asked = run("ask", "Orders by status", "--project", str(orders), "--json")
    assert asked.exit_code == 0 and '"status": "answered"' in asked.stdout, asked.output



def test_profile_says_which_dataset_files_lost_their_table_and_where_it_went(orders):
    con = duckdb.connect(str(orders.parent / "wh" / "shop.duckdb"))
    con.execute("ALTER TABLE sales.orders RENAME TO orders_v2")
    con.close()
    result = run("profile", "orders", "--project", str(orders))
    assert result.exit_code == 0, result.output
    warning = next(line for line in result.output.splitlines() if "sales.orders.yaml" in line)
    assert "sales.orders is no longer in the warehouse" in warning and "renamed to sales.orders_v2?" in warning
    assert (orders / "clusters" / "orders" / "datasets" / "sales.orders.yaml").is_file()  # a person decides

def git(*args: str, cwd: Path) -> str:
    import subprocess

    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_review_with_nothing_here_names_the_propose_pull_request_that_holds_the_proposals(orders, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no gh: vedder prints the command instead of opening the pull request
    origin = tmp_path / "origin.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(origin), cwd=tmp_path)
    git("init", "--quiet", "--initial-branch=main", cwd=orders)
    git("add", ".", cwd=orders)
    git("commit", "--quiet", "-m", "clusters", cwd=orders)
    git("remote", "add", "origin", str(origin), cwd=orders)
    git("push", "--quiet", "-u", "origin", "main", cwd=orders)
    history = tmp_path / "history.jsonl"
    history.write_text("".join(
        f'{{"query": "SELECT ds, count(*) FROM sales.orders WHERE total_cents > {n} GROUP BY ds", "user": "{u}", '
        f'"started_at": "2026-11-0{n}T10:00:00Z", "status": "success"}}\n' for n, u in ((1, "ann"), (2, "bob"), (3, "cy"))))
    proposed = run("propose", "orders", "--history", str(history), "--project", str(orders))
    assert proposed.exit_code == 0, proposed.output
    for command in (("review", "--list"), ("review", "orders")):
        result = run(*command, "--project", str(orders))
        assert result.exit_code == 0, result.output
        assert "1 proposal(s) wait in branch vedder/propose/orders-" in result.output and "merge it" in result.output
    listed = run("review", "--list", "--json", "--project", str(orders))  # was [] and nothing more
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
    assert listed.stderr.startswith("note: 1 proposal(s) wait in branch vedder/propose/orders-")


def test_health_names_the_likely_new_name_of_a_renamed_table(orders):
    (orders / "clusters" / "orders" / "pairs" / "orders-per-day-and-status.yaml").write_text(
        "question: How many orders per status and day?\nsql: SELECT ds, status, count(*) AS n FROM sales.orders GROUP BY ALL\n"
        "verified_by: maria\nverified_at: '2026-11-20'\n")
    con = duckdb.connect(str(orders.parent / "wh" / "shop.duckdb"))
    con.execute("ALTER TABLE sales.orders RENAME TO orders_v2")
    con.close()
    checked = run("health", "orders", "--format", "json", "--project", str(orders))
    assert checked.exit_code == 1
    assert "table sales.orders is gone from the warehouse (renamed to sales.orders_v2? it has the same columns)" in checked.stdout
    fixed = run("health", "orders", "--fix", "--no-pr", "--project", str(orders))
    assert "`sales.orders` is gone from the warehouse (renamed to sales.orders_v2? it has the same columns)" in fixed.output


@pytest.mark.parametrize("typed, slug", [("Order Ops", "order-ops"), ("Zürich_Sales", "zurich_sales")])
def test_cluster_new_with_a_cluster_id_that_is_not_a_slug_suggests_one(shop, typed, slug):
    result = run("cluster", "new", typed, "--tables", "sales.*", "--owner", "commerce", "--project", str(shop))
    assert result.exit_code == 2 and f"invalid cluster id '{typed}'" in result.output
    assert f"try `{slug}`" in result.output
    assert run("cluster", "new", slug, "--tables", "sales.*", "--owner", "commerce", "--project", str(shop)).exit_code == 0
