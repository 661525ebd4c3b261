"""Adopting vedder on a messy real-world warehouse (tests/messy_warehouse.py, with a 20,000-row fact table):
several schemas, names that need quotes ("UserId", "Order Date", "order", "select", "group"), the same table
name in two schemas, almost-empty columns, very long text, nested types and non-ASCII values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from messy_warehouse import build
from vedder.cli import app


def run(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


PAIRS = {
    "orders/revenue-per-group": """question: What was the revenue per group in March 2025?
sql: |
  SELECT "group", SUM(amount) AS revenue
  FROM analytics.fct_orders
  WHERE "Order Date" >= DATE '2025-03-01' AND "Order Date" < DATE '2025-04-01'
  GROUP BY "group"
  ORDER BY revenue DESC
verified_by: ana
verified_at: '2026-11-20'
""",
    "finance/customers-per-city": """question: How many customers live in each city?
sql: |
  SELECT city, COUNT(*) AS customers
  FROM raw.customers
  GROUP BY city
  ORDER BY customers DESC
verified_by: björn
verified_at: '2026-11-20'
""",
}


@pytest.fixture(scope="module")
def messy(tmp_path_factory) -> Path:
    """A project with two teams' clusters (orders: analytics.*; finance: finance.*, raw.customers, raw.orders)."""
    root = tmp_path_factory.mktemp("messy")
    build(root / "messy.duckdb", fact_rows=20_000)
    project = root / "proj"
    assert run("init", str(project), "--warehouse", str(root / "messy.duckdb")).exit_code == 0
    for cluster, tables, owner in (("orders", ["analytics.*"], "commerce-analytics"),
                                   ("finance", ["finance.*", "raw.customers", "raw.orders"], "finance-analytics")):
        args = ["cluster", "new", cluster, "--owner", owner, "--project", str(project)]
        for table in tables:
            args += ["--tables", table]
        result = run(*args)
        assert result.exit_code == 0, result.output
    for name, text in PAIRS.items():
        cluster, slug = name.split("/")
        (project / "clusters" / cluster / "pairs" / f"{slug}.yaml").write_text(text, encoding="utf-8")
    return project


def dataset(project: Path, cluster: str, table: str) -> dict:
    return yaml.safe_load((project / "clusters" / cluster / "datasets" / f"{table}.yaml").read_text(encoding="utf-8"))


def column(data: dict, name: str) -> dict:
    return next(c for c in data["columns"] if c["name"] == name)


def test_the_readme_path_validates_on_the_messy_warehouse(messy):
    result = run("validate", "--project", str(messy))
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_a_date_column_named_with_a_space_or_in_camel_case_is_the_partition(messy):
    assert dataset(messy, "orders", "analytics.fct_orders")["partitioning"]["column"] == "Order Date"
    assert dataset(messy, "finance", "raw.orders")["partitioning"]["column"] == "OrderDate"
    assert dataset(messy, "finance", "raw.customers")["partitioning"] is None  # signup_at is when a customer signed up
    assert dataset(messy, "orders", "analytics.customers")["partitioning"] is None, "a cohort is an attribute of the customer"
    assert dataset(messy, "finance", "finance.invoices")["partitioning"]["column"] == "issued_at"


def test_a_column_with_one_value_in_20000_rows_is_not_written_as_all_null(messy):
    note = column(dataset(messy, "orders", "analytics.fct_orders"), "note")
    assert 0.9999 <= note["null_fraction"] < 1.0
    assert all(v["frequency"] > 0 for v in note.get("common_values", []))


def test_context_says_almost_null_not_100_percent_null(messy):
    result = run("context", "How many customers live in each city?", "--cluster", "finance", "--project", str(messy))
    assert result.exit_code == 0, result.output
    fax = next(line for line in result.output.splitlines() if "legacy_fax" in line)
    assert "100% null" not in fax and "null" in fax


def test_a_very_long_text_value_is_not_written_into_the_dataset_file(messy):
    bio = column(dataset(messy, "finance", "raw.customers"), "bio")
    assert [v["value"] for v in bio["common_values"]] == ["short bio"]
    assert (messy / "clusters" / "finance" / "datasets" / "raw.customers.yaml").stat().st_size < 20_000


def test_context_writes_names_that_need_quotes_as_sql_identifiers(messy):
    result = run("context", "revenue per group", "--cluster", "orders", "--json", "--project", str(messy))
    text = json.loads(result.stdout)["text"]
    for quoted in ('`"Order Date"`', '`"group"`', '`"order"`', '`"select"`'):
        assert quoted in text
    assert "`amount`" in text and "`UserId`" in text  # plain names stay plain: DuckDB folds case


@pytest.mark.parametrize("city", ["Zürich", "Malmö", "São Paulo", "New York"])
def test_offline_filters_a_grouped_pair_to_a_non_ascii_value(messy, city):
    result = run("ask", f"How many customers live in {city}?", "--json", "--project", str(messy))
    answer = json.loads(result.stdout)
    assert answer["status"] == "answered", answer
    assert f"city = '{city}'" in answer["sql"]


def test_a_table_name_in_several_schemas_without_one_is_told_to_name_the_schema(messy):
    result = run("query", "SELECT count(*) FROM customers", "--project", str(messy))
    assert result.exit_code == 4
    assert "'customers.*'" not in result.output
    assert "analytics.customers" in result.output and "raw.customers" in result.output


def test_a_table_without_its_schema_is_named_with_it_for_the_cluster_in_use(messy):
    result = run("query", "SELECT count(*) FROM fct_orders", "--cluster", "orders", "--project", str(messy))
    assert result.exit_code == 4
    assert "fct_orders names no schema" in result.output and "analytics.fct_orders" in result.output


def test_query_reads_quoted_mixed_case_and_nested_columns(messy):
    sql = ('SELECT "UserId", "Full Name", city, tags, props, address, external_id FROM raw.customers '
           "WHERE city = 'Zürich' ORDER BY \"UserId\" LIMIT 2")
    result = run("query", sql, "--json", "--project", str(messy))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["columns"][:2] == ["UserId", "Full Name"] and data["rows"][0][2] == "Zürich"


def test_rows_left_out_of_a_narrow_table_are_said_on_one_line():
    from rich.console import Console

    from vedder.cli.ask_cmds import render_table

    console = Console(width=80, record=True)
    console.print(render_table(["select", "order", "orders"], [["a", i, 238095] for i in range(21)]))
    assert "1 more row (use --json for all)" in console.export_text()


def test_a_blob_is_shown_as_sql_engines_print_it_not_as_python_bytes(messy):
    sql = "SELECT '\\x89PNG\\x0D\\x0A'::BLOB AS logo FROM analytics.fct_orders LIMIT 1"
    result = run("query", sql, "--json", "--project", str(messy))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"][0][0] == "\\x89PNG\\x0D\\x0A"
    shown = run("query", sql, "--project", str(messy))
    assert "\\x89PNG\\x0D\\x0A" in shown.output and "b'" not in shown.output


def test_query_json_is_json_a_parser_accepts_when_a_value_is_not_a_number(messy):
    result = run("query", "SELECT 0.0 / 0 AS ratio, 'inf'::DOUBLE AS big FROM analytics.fct_orders LIMIT 1", "--json",
                 "--project", str(messy))
    assert result.exit_code == 0, result.output

    def strict(constant: str):
        raise ValueError(f"bare {constant} is not JSON")

    assert json.loads(result.stdout, parse_constant=strict)["rows"] == [["NaN", "Infinity"]]
