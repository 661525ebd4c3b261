"""vedder health: a real DuckDB warehouse and cluster built here, mutated, and the signals that must drop."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from vedder.cli import app
from vedder.config import load_config
from vedder.files import atomic_write, dump_yaml
from vedder.health import check_health
from vedder.project import load_project

TODAY = datetime.now(timezone.utc).date()
SIGNALS = ["pair_validity", "pair_execution", "schema_drift", "data_health", "coverage", "reproducibility", "curation_freshness"]

PAIRS = {
    "orders_by_country": ("How many orders per country?",
                          "SELECT country, count(*) AS orders\nFROM orders\nWHERE user_id >= 100\nGROUP BY country\nORDER BY orders DESC"),
    "orders_by_country_and_plan": ("Orders per country and plan",
                                   "SELECT o.country, c.plan, count(*) AS orders FROM shop.orders AS o "
                                   "JOIN shop.customers AS c ON o.user_id = c.user_id GROUP BY o.country, c.plan"),
    "revenue_by_plan": ("Revenue per plan in dollars",
                        "SELECT c.plan, sum(o.amount_cents) / 100 AS revenue FROM orders AS o JOIN customers AS c "
                        "ON o.user_id = c.user_id GROUP BY c.plan"),
    "refunded_total": ("How much was refunded?", "SELECT sum(refunded_cents) / 100 AS refunded FROM refunds"),
    "customers_by_plan": ("How many customers per plan?", "SELECT plan, count(*) AS customers FROM customers GROUP BY plan"),
    "orders_last_week": ("How many orders in the last week?",
                         "SELECT count(*) AS orders FROM orders WHERE order_date >= current_date - INTERVAL 7 DAY"),
}

DOC = """---
title: Order definitions
verified_at: {today}
---
# Orders

An order's `orders.country` is the shipping country. Money is in cents (`amount_cents`): divide by 100.
"""


def build_warehouse(path: Path, today: date) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA shop")
        con.execute(f"""
            CREATE TABLE shop.orders AS
            SELECT i AS order_id, i % 300 AS user_id,
                   ['US', 'GB', 'SE', 'DE'][1 + (i * 7) % 4] AS country,
                   100 + (i * 37) % 5000 AS amount_cents,
                   DATE '{today.isoformat()}' - 1 - (i % 60)::INTEGER AS order_date
            FROM range(2000) t(i)""")
        con.execute("""
            CREATE TABLE shop.customers AS
            SELECT i AS user_id, ['free', 'premium', 'family'][1 + i % 3] AS plan,
                   CASE WHEN i % 10 = 0 THEN NULL ELSE ['US', 'SE'][1 + i % 2] END AS signup_country
            FROM range(300) t(i)""")
        con.execute(f"""
            CREATE TABLE shop.refunds AS
            SELECT i * 20 AS order_id, 500 AS refunded_cents, DATE '{today.isoformat()}' - 1 - (i % 30)::INTEGER AS refund_date
            FROM range(100) t(i)""")


def build_project(root: Path, today: date = TODAY) -> Path:
    """A project with one cluster `shop` (3 tables, 6 pairs, 2 docs), profiled by vedder.profile."""
    from vedder.profile import profile_tables, write_dataset
    from vedder.warehouse import open_warehouse

    root.mkdir(parents=True, exist_ok=True)
    build_warehouse(root / "warehouse.duckdb", today)
    atomic_write(root / "vedder.yaml", dump_yaml({"warehouse": {"type": "duckdb", "path": "warehouse.duckdb"},
                                                  "dialect": "duckdb", "model": "offline"}))
    cluster = root / "clusters" / "shop"
    atomic_write(cluster / "cluster.yaml", dump_yaml({
        "id": "shop", "title": "Shop orders", "description": "Orders, customers and refunds of the web shop.",
        "owners": {"team": "commerce-analytics", "members": ["ana", "bo"], "contact": "#commerce-data"},
        "datasets": ["shop.orders", "shop.customers", "shop.refunds"], "default_schema": "shop",
        "keywords": ["orders", "revenue", "refunds"],
    }))
    for slug, (question, sql) in PAIRS.items():
        atomic_write(cluster / "pairs" / f"{slug}.yaml", dump_yaml(
            {"question": question, "sql": sql + "\n", "verified_by": "ana", "verified_at": today.isoformat()},
            schema_url="../../../schemas/pair.schema.json"))
    atomic_write(cluster / "docs" / "orders.md", DOC.format(today=today.isoformat()))
    atomic_write(cluster / "docs" / "refunds.md", f"---\nverified_at: {today.isoformat()}\n---\n# Refunds\n\nRefunds are in cents.\n")
    config = load_config(root)
    with open_warehouse(config) as warehouse:
        for profile in profile_tables(warehouse, ["shop.orders", "shop.customers", "shop.refunds"]).values():
            write_dataset(cluster, profile)
    return root


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    return build_project(tmp_path_factory.mktemp("health-template") / "project")


@pytest.fixture
def shop(template, tmp_path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(template, root)
    return root


def mutate(root: Path, *statements: str) -> None:
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        for statement in statements:
            con.execute(statement)


def health_of(root: Path, **options):
    project = load_project(load_config(root))
    return check_health(project, **options).clusters[0]


def values(health) -> dict[str, float | None]:
    return {s.name: s.value for s in health.signals}


def problem_subjects(health, signal: str) -> set[str]:
    return {p.subject for p in health.signal(signal).problems}


def dropped(before: dict, after: dict) -> set[str]:
    return {name for name in SIGNALS if before[name] is not None and after[name] is not None and after[name] < before[name]}


@pytest.fixture
def baseline(shop):
    return values(health_of(shop))


def test_healthy_cluster_scores_100_and_skips_what_it_cannot_measure(shop):
    health = health_of(shop)
    assert values(health) == {
        "pair_validity": 1.0, "pair_execution": 1.0, "schema_drift": 1.0, "data_health": 1.0,
        "coverage": None, "reproducibility": None, "curation_freshness": 1.0,
    }
    assert health.score == 100.0 and health.passed
    assert "offline" in health.signal("reproducibility").skipped
    assert "no questions logged" in health.signal("coverage").skipped
    assert health.signal("coverage").weight == 0.0
    assert round(sum(s.weight for s in health.signals), 3) == 1.0


def test_renamed_column_breaks_exactly_the_pairs_that_use_it(shop, baseline):
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country")
    health = health_of(shop)
    after = values(health)
    assert dropped(baseline, after) == {"pair_validity", "pair_execution", "schema_drift", "curation_freshness"}
    assert problem_subjects(health, "pair_validity") == {"orders_by_country", "orders_by_country_and_plan"}
    messages = [p.message for p in health.signal("pair_validity").problems]
    assert messages == [f"pair {pair}: column shop.orders.country was renamed to ship_country"
                        for pair in ("orders_by_country", "orders_by_country_and_plan")]
    assert after["pair_validity"] == pytest.approx(4 / 6)
    assert health.drifts["shop.orders"].renamed == {"country": "ship_country"}
    assert problem_subjects(health, "curation_freshness") == {"orders"}
    assert health.signal("curation_freshness").problems[0].message == "doc orders mentions shop.orders.country, renamed to ship_country"


def test_dropped_column_is_named_dropped_not_renamed(shop, baseline):
    mutate(shop, "ALTER TABLE shop.refunds DROP COLUMN refunded_cents")
    health = health_of(shop)
    assert dropped(baseline, values(health)) == {"pair_validity", "pair_execution", "schema_drift"}
    (problem,) = health.signal("pair_validity").problems
    assert problem.subject == "refunded_total" and problem.kind == "column_dropped"
    assert "column shop.refunds.refunded_cents was dropped" in problem.message


def test_dropped_table(shop, baseline):
    mutate(shop, "DROP TABLE shop.refunds")
    health = health_of(shop)
    after = values(health)
    assert dropped(baseline, after) == {"pair_validity", "pair_execution", "schema_drift"}
    (problem,) = health.signal("pair_validity").problems
    assert (problem.subject, problem.kind) == ("refunded_total", "table_gone")
    assert "table shop.refunds is gone" in problem.message
    assert [p.kind for p in health.signal("schema_drift").problems] == ["table_missing"]
    assert health.signal("schema_drift").action == ("for a gone table, restore it or delete its dataset file "
                                                    "(`datasets/shop.refunds.yaml`) and its line in cluster.yaml (shop.refunds)")
    assert after["schema_drift"] == pytest.approx(2 / 3)
    assert after["data_health"] == 1.0


def test_a_dropped_table_of_a_pattern_is_not_said_to_be_in_cluster_yaml(shop):
    """cluster.yaml listing `shop.*`: the action said 'remove gone tables from cluster.yaml', where there is none."""
    path = shop / "clusters/shop/cluster.yaml"
    path.write_text(path.read_text().replace("- shop.orders\n- shop.customers\n- shop.refunds\n", "- shop.*\n"))
    assert "- shop.*" in path.read_text()
    mutate(shop, "DROP TABLE shop.refunds", "ALTER TABLE shop.orders ADD COLUMN note VARCHAR")
    action = health_of(shop).signal("schema_drift").action
    assert action == ("re-profile the drifted datasets (`vedder health --fix` or `vedder profile`); for a gone table, "
                      "restore it or delete its dataset file (`datasets/shop.refunds.yaml`)")


def test_stopped_partitions_only_hurt_data_health(shop, baseline):
    mutate(shop, f"DELETE FROM shop.orders WHERE order_date >= DATE '{TODAY.isoformat()}' - 3")
    health = health_of(shop)
    assert dropped(baseline, values(health)) == {"data_health"}
    kinds = {p.kind for p in health.signal("data_health").problems}
    assert kinds == {"stale", "partition_gone"}
    assert problem_subjects(health, "data_health") == {"shop.orders"}


def test_truncated_table_drops_data_health_and_names_pairs_without_rows(shop, baseline):
    mutate(shop, "DELETE FROM shop.customers")
    health = health_of(shop)
    assert dropped(baseline, values(health)) == {"data_health", "pair_execution"}
    assert [p.kind for p in health.signal("data_health").problems] == ["row_count_drop"]
    assert problem_subjects(health, "pair_execution") == {"customers_by_plan", "revenue_by_plan", "orders_by_country_and_plan"}
    assert {p.kind for p in health.signal("pair_execution").problems} == {"no_rows"}


def test_null_spike(shop, baseline):
    mutate(shop, "UPDATE shop.customers SET signup_country = NULL WHERE user_id % 2 = 0")
    health = health_of(shop)
    assert dropped(baseline, values(health)) == {"data_health"}
    (problem,) = health.signal("data_health").problems
    assert problem.kind == "null_spike" and problem.data["column"] == "signup_country"


def test_freshness_is_measured_against_now(shop):
    later = datetime.now(timezone.utc) + timedelta(days=5)
    health = health_of(shop, now=later)
    assert {p.kind for p in health.signal("data_health").problems} == {"stale"}
    assert problem_subjects(health, "data_health") == {"shop.orders", "shop.refunds"}
    # A table a doc marks deprecated is not expected to stay fresh.
    (shop / "clusters/shop/docs/legacy.md").write_text("---\ndeprecated: [shop.refunds]\n---\n# Refunds are legacy\n")
    health = health_of(shop, now=later)
    assert problem_subjects(health, "data_health") == {"shop.orders"}


def test_old_verification_lowers_curation_freshness(shop):
    pair = shop / "clusters/shop/pairs/customers_by_plan.yaml"
    pair.write_text(pair.read_text().replace(f"verified_at: '{TODAY.isoformat()}'", "verified_at: '2020-01-01'")
                    .replace(f"verified_at: {TODAY.isoformat()}", "verified_at: 2020-01-01"))
    health = health_of(shop)
    (problem,) = health.signal("curation_freshness").problems
    assert problem.subject == "customers_by_plan" and problem.kind == "pair_old"
    assert health.signal("curation_freshness").value == pytest.approx(7 / 8)


def test_weights_from_vedder_yaml_and_cluster_threshold(shop):
    mutate(shop, "DROP TABLE shop.refunds")
    config = shop / "vedder.yaml"
    config.write_text(config.read_text() + "health:\n  weights: {pair_validity: 1, pair_execution: 0, schema_drift: 0,"
                      " data_health: 0, coverage: 0, reproducibility: 0, curation_freshness: 0}\n  fail_under: 90\n"
                      "  fail_on_broken_pairs: false\n")
    health = health_of(shop)
    assert health.score == pytest.approx(100 * 5 / 6, abs=0.1)
    assert health.fail_under == 90 and not health.passed
    cluster_yaml = shop / "clusters/shop/cluster.yaml"
    cluster_yaml.write_text(cluster_yaml.read_text() + "health:\n  fail_under: 80\n")
    health = health_of(shop, fail_under=95)
    assert health.fail_under == 80 and health.passed


@pytest.mark.parametrize("fail_under", [".nan", "500", "-1", "high"])
def test_a_cluster_threshold_that_no_score_can_meet_or_miss_is_a_config_error(shop, fail_under):
    """A cluster.yaml fail_under of .nan failed every health run ('below threshold'), 500 likewise, -1 never."""
    cluster_yaml = shop / "clusters/shop/cluster.yaml"
    cluster_yaml.write_text(cluster_yaml.read_text() + f"health:\n  fail_under: {fail_under}\n")
    result = CliRunner().invoke(app, ["health", "--project", str(shop)])
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "cluster.yaml: health.fail_under must be a number from 0 to 100" in said and "remove it to use vedder.yaml's" in said


@pytest.mark.parametrize("weights, words", [
    ("{pair_valid: 1}", "unknown health weight(s): pair_valid"),
    ("{pair_validity: .nan}", "health weights must be numbers"),  # scored 100 whatever the pairs
    ("{pair_validity: -1}", "health weights must not be negative"),
])
def test_unknown_or_unusable_weight_is_a_config_error(shop, weights, words):
    config = shop / "vedder.yaml"
    config.write_text(config.read_text() + f"health:\n  weights: {weights}\n")
    result = CliRunner().invoke(app, ["health", "--project", str(shop)])
    assert result.exit_code == 2
    assert words in result.output


# --- coverage from the conversation log ---------------------------------------------------------

def log_questions(root: Path, entries: list[dict]) -> None:
    from vedder.log.store import open_log

    store = open_log(load_config(root))
    try:
        for entry in entries:
            row = store.record({"question": entry["question"], "cluster": entry.get("cluster"), "status": entry["status"],
                                "routing": entry.get("routing")})
            if entry.get("feedback"):
                store.feedback(row["conversation_id"], entry["feedback"], entry.get("comment"))
    finally:
        store.close()


def test_coverage_counts_close_pairs_and_positive_feedback(shop):
    log_questions(shop, [
        {"question": "How many orders per country?", "cluster": "shop", "status": "answered"},
        {"question": "What is the average basket size?", "cluster": "shop", "status": "not_covered"},
        {"question": "What is the average basket size?", "cluster": "shop", "status": "not_covered"},
        {"question": "Which warehouse ships fastest?", "cluster": None, "status": "not_covered",
         "routing": [{"id": "shop", "score": 1.2}]},
        {"question": "Top customers by lifetime value", "cluster": "shop", "status": "answered", "feedback": "up"},
        {"question": "Refunds by reason", "cluster": "shop", "status": "answered", "feedback": "down", "comment": "wrong table"},
    ])
    health = health_of(shop)
    coverage = health.signal("coverage")
    assert coverage.value == pytest.approx(2 / 6)
    assert health.uncovered[0] == {"question": "What is the average basket size?", "count": 2}
    assert {u["question"] for u in health.uncovered} == {"What is the average basket size?", "Which warehouse ships fastest?", "Refunds by reason"}
    assert [(n["question"], n["comment"]) for n in health.negative_feedback] == [("Refunds by reason", "wrong table")]
    dashboard = CliRunner().invoke(app, ["health", "--project", str(shop)], env={"COLUMNS": "200"}).stdout
    assert "Top uncovered questions:\n    2× What is the average basket size?" in dashboard
    assert "Recent negative feedback:\n    Refunds by reason — wrong table" in dashboard


# --- reproducibility with a scripted model -----------------------------------------------------

def test_reproducibility_holds_each_pair_out_and_compares_results(shop):
    from fake_openai import FakeOpenAI

    from vedder.health.reproducibility import sample_pairs

    project = load_project(load_config(shop))
    first, second = sample_pairs(project.cluster("shop").pairs, 2)
    with FakeOpenAI() as server:
        config = shop / "vedder.yaml"
        config.write_text(config.read_text().replace("model: offline", "model: openai/fake") +
                          f"model_options: {{api_base: '{server.url}', api_key: dummy, tool_calling: true, num_retries: 1, timeout: 5}}\n"
                          "health: {reproducibility_sample: 2}\n")
        server.enqueue_tool_call("run_sql", {"sql": first.sql})
        server.enqueue_text("Here it is.")
        server.enqueue_tool_call("run_sql", {"sql": "SELECT 42 AS answer"})
        server.enqueue_text("42.")
        health = health_of(shop)
        prompts = [r["messages"] for r in server.requests]
    signal = health.signal("reproducibility")
    assert signal.value == 0.5 and signal.weight > 0
    assert [(p.subject, p.kind) for p in signal.problems] == [(second.id, "different_result")]
    # The sample is stable, and the held-out pair's SQL is not in the context the model saw.
    assert first.id == "orders_last_week"
    assert "INTERVAL 7 DAY" not in json.dumps(prompts[0]) and "customers" in json.dumps(prompts[0])


# --- CLI ----------------------------------------------------------------------------------------

def run(*args: str):
    return CliRunner().invoke(app, ["health", *args])


def test_cli_formats_and_exit_codes(shop):
    text = run("--project", str(shop))
    assert text.exit_code == 0, text.output
    assert "shop" in text.output and "pair validity" in text.output and "skipped" in text.output

    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country", "DROP TABLE shop.refunds")
    as_json = run("--project", str(shop), "--format", "json")
    data = json.loads(as_json.stdout)
    (cluster,) = data["clusters"]
    assert as_json.exit_code == 1 and cluster["fails"] == ["3 broken pairs"]
    signals = {s["name"]: s for s in cluster["signals"]}
    assert {p["subject"] for p in signals["pair_validity"]["problems"]} == {"orders_by_country", "orders_by_country_and_plan", "refunded_total"}
    assert cluster["owners"]["team"] == "commerce-analytics"

    gate = run("--project", str(shop), "--format", "markdown", "--fail-under", "99")
    assert gate.exit_code == 1
    assert gate.stdout.startswith("## vedder health")
    assert "| shop | commerce-analytics |" in gate.stdout and "❌ **fail**" in gate.stdout
    assert "column shop.orders.country was renamed to ship_country" in gate.stdout

    assert run("--project", str(shop), "--fail-under", "1").exit_code == 1  # broken pairs fail whatever the score


def test_unknown_cluster_and_missing_warehouse(shop):
    result = run("nope", "--project", str(shop))
    assert result.exit_code == 2 and "unknown cluster 'nope'" in result.output
    (shop / "warehouse.duckdb").unlink()
    result = run("--project", str(shop))
    assert result.exit_code == 3 and "does not exist" in result.output


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def test_changed_since_selects_clusters_by_their_files(shop):
    second = shop / "clusters" / "other"
    shutil.copytree(shop / "clusters" / "shop", second)
    (second / "cluster.yaml").write_text((second / "cluster.yaml").read_text().replace("id: shop", "id: other"))
    git(shop, "init", "-q", "-b", "main")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@e", "add", ".")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@e", "commit", "-qm", "start")

    nothing = run("--project", str(shop), "--changed-since", "HEAD", "--format", "json")
    assert nothing.exit_code == 0 and json.loads(nothing.stdout)["clusters"] == []

    pair = second / "pairs" / "customers_by_plan.yaml"
    pair.write_text(pair.read_text().replace("How many customers per plan?", "Customers per plan?"))
    one = json.loads(run("--project", str(shop), "--changed-since", "HEAD", "--format", "json").stdout)
    assert [c["cluster"] for c in one["clusters"]] == ["other"]

    (shop / "vedder.yaml").write_text((shop / "vedder.yaml").read_text() + "\n")
    both = json.loads(run("--project", str(shop), "--changed-since", "HEAD", "--format", "json").stdout)
    assert [c["cluster"] for c in both["clusters"]] == ["other", "shop"]

    bad = run("--project", str(shop), "--changed-since", "no-such-ref")
    assert bad.exit_code == 6 and "cannot diff against 'no-such-ref'" in bad.output
