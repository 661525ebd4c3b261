"""vedder health --fix: re-profile drift, rewrite pairs for renamed columns, mark the rest stale; PR or working tree."""

from __future__ import annotations

import json
import subprocess
from datetime import date
from pathlib import Path

import pytest
import yaml
from fake_github import FakeGitHub
from test_health import TODAY, health_of, mutate, run, shop, template, values  # noqa: F401  (fixtures)

from vedder.config import load_config
from vedder.health.fix import rename_columns
from vedder.project import load_project
from vedder.sql.run import run_sql
from vedder.warehouse import open_warehouse


def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


PAIRS = "clusters/shop/pairs"


def test_fix_repairs_a_rename_in_the_working_tree_and_the_pair_runs(shop):
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country")
    dataset_file = shop / "clusters/shop/datasets/shop.orders.yaml"
    dataset = read_yaml(dataset_file)
    dataset["columns"][2]["description"] = "Shipping country (ISO code)."
    dataset_file.write_text(yaml.safe_dump(dataset, sort_keys=False))
    untouched = (shop / PAIRS / "revenue_by_plan.yaml").read_text()

    result = run("--project", str(shop), "--fix", "--no-pr", "--format", "json")
    fixed = json.loads(result.stdout)["fix"]
    assert fixed["applied"] == "working tree"
    assert fixed["reprofiled"] == ["shop.orders"] and fixed["stale"] == []
    assert {r["pair"] for r in fixed["repaired"]} == {"orders_by_country", "orders_by_country_and_plan"}

    pair_text = (shop / PAIRS / "orders_by_country.yaml").read_text()
    assert pair_text.startswith("# yaml-language-server: $schema=../../../schemas/pair.schema.json\n")
    pair = read_yaml(shop / PAIRS / "orders_by_country.yaml")
    assert pair["sql"] == ("SELECT ship_country AS country, count(*) AS orders\nFROM orders\nWHERE user_id >= 100\n"
                           "GROUP BY ship_country\nORDER BY orders DESC\n")
    assert pair["verified_by"] == "ana" and "stale" not in pair
    assert read_yaml(shop / PAIRS / "orders_by_country_and_plan.yaml")["sql"].startswith("SELECT o.ship_country AS country, c.plan")
    assert (shop / PAIRS / "revenue_by_plan.yaml").read_text() == untouched

    columns = {c["name"]: c for c in read_yaml(dataset_file)["columns"]}
    assert "country" not in columns and columns["ship_country"]["description"] == "Shipping country (ISO code)."

    project = load_project(load_config(shop))
    cluster = project.cluster("shop")
    with open_warehouse(project.config) as warehouse:
        _, rows = run_sql(cluster.pair("orders_by_country").sql, project=project, warehouse=warehouse, cluster=cluster)
    assert rows.columns == ["country", "orders"] and len(rows.rows) == 4

    after = values(health_of(shop))
    assert after["pair_validity"] == after["pair_execution"] == after["schema_drift"] == 1.0


def test_fix_marks_unrepairable_pairs_stale_and_leaves_gone_tables_to_people(shop):
    mutate(shop, "DROP TABLE shop.refunds", "ALTER TABLE shop.customers DROP COLUMN plan")
    result = run("--project", str(shop), "--fix", "--no-pr")
    assert "pairs marked stale" in result.stdout
    stale = {p.stem: read_yaml(p).get("stale") for p in (shop / PAIRS).glob("*.yaml")}
    assert {k for k, v in stale.items() if v} == {"refunded_total", "revenue_by_plan", "customers_by_plan", "orders_by_country_and_plan"}
    assert stale["refunded_total"] == {"reason": "table shop.refunds is gone from the warehouse", "since": TODAY.isoformat()}
    assert stale["customers_by_plan"]["reason"] == "column shop.customers.plan was dropped"
    assert (shop / "clusters/shop/datasets/shop.refunds.yaml").exists()
    assert "left for a person: `shop.refunds` is gone" in result.stdout
    as_markdown = run("--project", str(shop), "--fix", "--no-pr", "--format", "markdown")
    assert "### vedder health --fix (nothing to change)" in as_markdown.stdout
    assert "**Left for a person**:\n\n- `shop.refunds` is gone from the warehouse" in as_markdown.stdout

    health = health_of(shop)
    assert health.signal("pair_validity").value == 1.0
    assert problem_kinds(health, "curation_freshness") == {"pair_stale"}


def problem_kinds(health, name: str) -> set[str]:
    return {p.kind for p in health.signal(name).problems}


def test_nothing_to_fix(shop):
    result = run("--project", str(shop), "--fix", "--no-pr", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["fix"]["applied"] == "nothing to change"


def test_no_pr_needs_fix(shop):
    result = run("--project", str(shop), "--no-pr")
    assert result.exit_code == 2 and "--no-pr only goes with --fix" in result.output


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def test_fix_as_a_pull_request_leaves_the_working_tree_alone(shop, monkeypatch):
    origin = shop.parent / "origin.git"
    git(shop.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(origin))
    (shop / ".gitignore").write_text("warehouse.duckdb\n")
    git(shop, "init", "--quiet", "-b", "main")
    git(shop, "config", "user.name", "Ana Expert")
    git(shop, "config", "user.email", "ana@example.com")
    git(shop, "remote", "add", "origin", str(origin))
    git(shop, "add", ".")
    git(shop, "commit", "--quiet", "-m", "shop cluster")
    git(shop, "push", "--quiet", "-u", "origin", "main")
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country")

    with FakeGitHub() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "t0ken")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/shop")
        result = run("--project", str(shop), "--fix", "--format", "json")
    fixed = json.loads(result.stdout)["fix"]
    assert fixed["applied"] == "pull request"
    assert fixed["pull_request"]["url"] == "https://github.test/acme/shop/pull/1"
    [pull] = github.pulls()
    assert pull["title"] == "vedder health --fix: shop"
    assert pull["head"] == f"vedder/health-fix/{date.today().isoformat()}"
    assert "`country` → `ship_country`" in pull["body"] and "shop.orders" in pull["body"]
    assert github.reviewer_requests() == [{"reviewers": ["ana", "bo"]}]
    branch = fixed["pull_request"]["branch"]
    changed = git(origin, "diff", "--name-only", "main", branch).splitlines()
    assert changed == ["clusters/shop/datasets/shop.orders.yaml", f"{PAIRS}/orders_by_country.yaml",
                       f"{PAIRS}/orders_by_country_and_plan.yaml"]
    assert "ship_country AS country" in git(origin, "show", f"{branch}:{PAIRS}/orders_by_country.yaml")
    assert git(shop, "status", "--porcelain") == ""
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["passed"] is False, "the working tree stays broken until the pull request merges"
    assert report["clusters"][0]["fails"] == ["2 broken pairs"] and "before" not in fixed


def git_repository(root: Path) -> None:
    (root / ".gitignore").write_text("warehouse.duckdb\n")
    git(root, "init", "--quiet", "-b", "main")
    git(root, "config", "user.name", "CI")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "clusters")


def test_a_ci_job_that_fixes_then_commits_exits_on_the_health_it_commits(shop):
    """`vedder health --fix --no-pr && git commit -a`: the exit code and the report are those of the repaired tree,
    and the output says what the repair changed (it printed the broken report and exited 1)."""
    git_repository(shop)
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country")
    assert run("--project", str(shop)).exit_code == 1

    fixed = run("--project", str(shop), "--fix", "--no-pr")
    assert fixed.exit_code == 0, fixed.output
    assert "shop — score 98.3 (threshold 70, pass)" in fixed.output and "FAIL — fails" not in fixed.output
    assert "All 1 clusters at or above their threshold." in fixed.output
    assert "2 pairs rewritten" in fixed.output
    assert "The health above is after the repair: shop 73.9 FAIL → 98.3 pass." in " ".join(fixed.output.split())
    assert git(shop, "diff", "--name-only").splitlines() == [
        "clusters/shop/datasets/shop.orders.yaml", f"{PAIRS}/orders_by_country.yaml", f"{PAIRS}/orders_by_country_and_plan.yaml"]
    git(shop, "commit", "--quiet", "-a", "-m", "vedder health --fix")
    assert run("--project", str(shop)).exit_code == 0, "what was committed passes on its own"

    again = run("--project", str(shop), "--fix", "--no-pr", "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["fix"]["applied"] == "nothing to change"


def test_the_report_after_a_repair_in_json_and_markdown(shop):
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country")
    as_json = run("--project", str(shop), "--fix", "--no-pr", "--format", "json")
    report = json.loads(as_json.stdout)
    assert as_json.exit_code == 0 and report["passed"] is True and report["clusters"][0]["fails"] == []
    assert report["clusters"][0]["score"] == 98.3
    assert report["fix"]["before"] == [{"cluster": "shop", "score": 73.9, "passed": False, "fails": ["2 broken pairs"]}]
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN ship_country TO country_code")
    as_markdown = run("--project", str(shop), "--fix", "--no-pr", "--format", "markdown")
    assert as_markdown.exit_code == 0, as_markdown.output
    assert "The health above is after the repair: shop 73.9 FAIL → 98.3 pass." in as_markdown.stdout


def test_a_repair_that_leaves_a_cluster_failing_still_exits_1(shop):
    """A gone table: its pairs marked stale (no longer broken), the table left for a person; 85 after the repair,
    under a threshold of 90."""
    mutate(shop, "DROP TABLE shop.orders")
    result = run("--project", str(shop), "--fix", "--no-pr", "--fail-under", "90", "--format", "json")
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert (report["passed"], report["clusters"][0]["score"], report["clusters"][0]["fails"]) == (False, 85.0, [])
    assert report["fix"]["before"] == [{"cluster": "shop", "score": 56.1, "passed": False, "fails": ["4 broken pairs"]}]
    assert len(report["fix"]["stale"]) == 4 and report["fix"]["untouched"][0].startswith("`shop.orders` is gone")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT country FROM orders", "SELECT ship_country AS country FROM orders"),
        ("SELECT o.country AS c FROM shop.orders o", "SELECT o.ship_country AS c FROM shop.orders o"),
        ('SELECT "country" FROM orders WHERE country = \'US\'', 'SELECT "ship_country" AS "country" FROM orders WHERE ship_country = \'US\''),
        ("SELECT count(*) FROM orders WHERE country IN (SELECT signup_country FROM customers)",
         "SELECT count(*) FROM orders WHERE ship_country IN (SELECT signup_country FROM customers)"),
        ("WITH x AS (SELECT country AS k FROM orders) SELECT k FROM x", "WITH x AS (SELECT ship_country AS k FROM orders) SELECT k FROM x"),
        ("SELECT c.country FROM customers c", "SELECT c.country FROM customers c"),
    ],
)
def test_rename_columns_rewrites_only_references_to_the_renamed_table(sql, expected):
    schema = {"shop.orders": {"country": "VARCHAR", "user_id": "INTEGER"},
              "shop.customers": {"country": "VARCHAR", "signup_country": "VARCHAR", "user_id": "INTEGER"}}
    assert rename_columns(sql, {"shop.orders": {"country": "ship_country"}}, schema, default_schema="shop") == expected
