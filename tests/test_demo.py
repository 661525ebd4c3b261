"""The demo warehouse, the demo clusters and the demo query history, on a small-scale real DuckDB build."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlglot
from typer.testing import CliRunner

from vedder.cli import app
from vedder.config import load_config
from vedder.errors import SQLExecutionError, WarehouseError
from vedder.project import load_project
from vedder.sql.run import run_sql
from vedder.warehouse.demo import build_demo, build_demo_project, generate_history, is_demo_warehouse, read_history
from vedder.warehouse.demo_history import KIND_SHARES, PATTERNS
from vedder.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[1]
SMALL = 0.01
DOMAIN_SCHEMAS = {"listening", "podcasts", "revenue"}


def checksums(path: Path) -> dict[str, tuple[int, int]]:
    """Row count and an order-independent hash of every row, per table."""
    with DuckDBWarehouse(path) as warehouse:
        return {
            table: warehouse.execute(f"SELECT count(*), sum(hash(t)) FROM {table} t").rows[0] for table in warehouse.tables()
        }


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "warehouse.duckdb"
    build_demo(path, SMALL)
    return path


@pytest.fixture(scope="module")
def demo_project(small_warehouse):
    """The repository's demo project, pointed at the small warehouse."""
    return load_project(load_config(REPO, env={"VEDDER_WAREHOUSE": str(small_warehouse)}))


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of the demo project's config and clusters, without a warehouse."""
    shutil.copy(REPO / "vedder.yaml", tmp_path / "vedder.yaml")
    shutil.copytree(REPO / "clusters", tmp_path / "clusters")
    return tmp_path


def test_build_is_deterministic(small_warehouse, tmp_path):
    again = tmp_path / "again.duckdb"
    summary = build_demo(again, SMALL)
    first, second = checksums(small_warehouse), checksums(again)
    assert first == second
    assert summary.tables == {table: counts[0] for table, counts in first.items()}
    assert not list(tmp_path.glob(".*building*")), "the temporary build file must be renamed away"


def test_tables_span_three_domains(small_warehouse):
    with DuckDBWarehouse(small_warehouse) as warehouse:
        tables = [t for t in warehouse.tables() if t.split(".")[0] in DOMAIN_SCHEMAS]
        assert len(tables) >= 8
        assert {t.split(".")[0] for t in tables} == DOMAIN_SCHEMAS
        assert "ops.query_history" in warehouse.tables()
        events = warehouse.execute(
            "SELECT count(*), min(event_date), max(event_date), count(DISTINCT event_date) FROM listening.events"
        ).rows[0]
    assert events[0] == 12_000
    assert str(events[2]) == "2026-11-25" and events[3] >= 80


def test_scale_multiplies_rows(small_warehouse, tmp_path):
    bigger = build_demo(tmp_path / "bigger.duckdb", SMALL * 3)
    small = checksums(small_warehouse)
    assert bigger.tables["listening.events"] == 3 * small["listening.events"][0]
    assert bigger.tables["revenue.plans"] == small["revenue.plans"][0] == 4


def test_quirks_only_docs_explain(small_warehouse):
    with DuckDBWarehouse(small_warehouse) as warehouse:
        one = lambda sql: warehouse.execute(sql).rows[0]  # noqa: E731
        test_share = one("SELECT avg(CASE WHEN user_id < 100 THEN 1.0 ELSE 0.0 END) FROM listening.events")[0]
        assert 0.02 < test_share < 0.1, "legacy test accounts must be visible in the counts"
        assert one("SELECT count(*) FROM revenue.payments WHERE user_id < 100")[0] > 0
        duplicated = one("SELECT count(*) - count(DISTINCT play_id) FROM listening.plays_legacy")[0]
        assert duplicated > 0, "the deprecated table double-counts retries"
        legacy_end, events_start = one("SELECT (SELECT max(played_at) FROM listening.plays_legacy), (SELECT min(event_ts) FROM listening.events)")
        assert legacy_end.date().isoformat() < "2026-09-15" and legacy_end > events_start
        assert dict(warehouse.columns("revenue.payments"))["amount_cents"] == "INTEGER"
        assert one("SELECT min(amount_cents) FROM revenue.payments WHERE amount_cents > 0")[0] >= 599
        moved = one(
            "SELECT avg(CASE WHEN e.country <> u.country THEN 1.0 ELSE 0.0 END) "
            "FROM listening.events e JOIN listening.users u USING (user_id)"
        )[0]
        assert 0.01 < moved < 0.15, "users.country (signup) and events.country (where) must disagree sometimes"
        skips = one("SELECT avg(CASE WHEN duration_ms < 30000 THEN 1.0 ELSE 0.0 END) FROM listening.events")[0]
        assert 0.15 < skips < 0.35
        countries = {row[0] for row in warehouse.execute("SELECT DISTINCT country FROM listening.users").rows}
        assert countries == {"US", "GB", "SE", "DE", "BR", "MX", "IN", "JP"}
        plans = [row[0] for row in warehouse.execute("SELECT plan FROM revenue.plans ORDER BY plan_id").rows]
        assert plans == ["free", "premium", "family", "student"]


def test_every_demo_pair_runs_and_returns_rows(demo_project, small_warehouse):
    pairs = [(cluster, pair) for cluster in demo_project.clusters.values() for pair in cluster.pairs]
    assert len(pairs) >= 30
    with DuckDBWarehouse(small_warehouse) as warehouse:
        for cluster, pair in pairs:
            _, result = run_sql(pair.sql, project=demo_project, warehouse=warehouse, cluster=cluster)
            assert result.rows, f"{cluster.id}/{pair.id} returned no rows"
            assert any(value not in (None, 0) for value in result.rows[0]), f"{cluster.id}/{pair.id} counts nothing"


def test_clusters_have_owners_pairs_docs_and_quirks(demo_project):
    assert set(demo_project.clusters) == DOMAIN_SCHEMAS
    for cluster in demo_project.clusters.values():
        assert cluster.owners.team and len(cluster.owners.members) >= 2
        assert cluster.title and cluster.description and cluster.keywords and cluster.default_schema
        assert len(cluster.pairs) >= 10 and len(cluster.docs) >= 2
        for pair in cluster.pairs:
            assert 1 <= len(pair.paraphrases) <= 3 and pair.verified_by and pair.verified_at
            tables = {f"{t.db}.{t.name}" for t in sqlglot.parse_one(pair.sql, read="duckdb").find_all(sqlglot.exp.Table)}
            if any(cluster.dataset(t) and cluster.dataset(t).column("user_id") for t in tables):
                assert "user_id >= 100" in pair.sql, f"{pair.id} must exclude test accounts"
            assert "plays_legacy" not in pair.sql
            if "amount_cents" in pair.sql and "SUM(" in pair.sql:
                assert "/ 100.0" in pair.sql, f"{pair.id} must turn cents into dollars"
        for doc in cluster.docs:
            assert doc.title and doc.tags and doc.applies_to
    assert demo_project.clusters["listening"].deprecated_tables == {"listening.plays_legacy"}


def test_cluster_files_point_at_their_schemas():
    for path in (REPO / "clusters").glob("*/cluster.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../../schemas/cluster.schema.json")
        assert (path.parent / "../../schemas/cluster.schema.json").resolve().is_file()
    for path in (REPO / "clusters").glob("*/pairs/*.yaml"):
        assert path.read_text().startswith("# yaml-language-server: $schema=../../../schemas/pair.schema.json")


def test_committed_history_is_the_default_generation():
    rows, truth = generate_history()
    assert read_history(REPO / "history" / "queries.jsonl") == rows
    assert json.loads((REPO / "history" / "patterns.json").read_text()) == truth


def test_history_has_the_mix_of_real_history():
    rows, truth = generate_history()
    assert len(rows) >= 400 and len(truth["queries"]) == len(rows)
    assert all(set(row) == {"query", "user", "started_at", "status", "error", "duration_ms", "rows"} for row in rows)
    kinds = Counter(t["kind"] for t in truth["queries"])
    assert set(kinds) == set(KIND_SHARES)
    assert kinds["pattern"] < len(rows) / 2, "noise must be most of the history"
    assert all(row["status"] == "error" and row["error"] for row, t in zip(rows, truth["queries"]) if t["kind"] == "error")
    assert all(row["status"] == "success" for row, t in zip(rows, truth["queries"]) if t["kind"] != "error")
    assert sum("plays_legacy" in row["query"] for row in rows) >= 10
    assert any(row["query"].upper().startswith(("DESCRIBE", "SHOW")) for row in rows)
    assert any(" = " in row["query"] and "_id = " in row["query"] for row, t in zip(rows, truth["queries"]) if t["kind"] == "lookup")
    days = {row["started_at"][:10] for row in rows}
    assert min(days) >= "2026-09-27" and max(days) <= "2026-11-25" and len(days) > 30


def test_history_patterns_recur_with_other_literals_and_users():
    rows, truth = generate_history()
    patterns = {p["id"]: p for p in truth["patterns"]}
    assert 10 <= len([p for p in patterns.values() if not p["vetted_pair"]]) <= 15
    assert {p["cluster"] for p in patterns.values()} == DOMAIN_SCHEMAS
    for pattern_id, pattern in patterns.items():
        queries = [rows[t["index"]]["query"] for t in truth["queries"] if t["pattern"] == pattern_id]
        assert pattern["runs"] == len(queries) >= 5
        assert len(pattern["users"]) >= 3
        assert len(set(queries)) >= 3, f"{pattern_id} needs near-duplicates with other literals and aliases"
    one_offs = [rows[t["index"]]["query"] for t in truth["queries"] if t["kind"] == "one_off"]
    assert len(set(one_offs)) == len(one_offs)


def test_vetted_patterns_name_existing_pairs(demo_project):
    for pattern in PATTERNS:
        if pattern.vetted_pair:
            cluster_id, pair_id = pattern.vetted_pair.split("/")
            assert demo_project.clusters[cluster_id].pair(pair_id) is not None


def test_history_queries_behave_on_the_warehouse(small_warehouse):
    """Good queries run; failed ones fail (except time-outs, which were only slow); writes parse."""
    rows, truth = generate_history()
    with DuckDBWarehouse(small_warehouse) as warehouse:
        for row, label in zip(rows, truth["queries"]):
            if label["kind"] == "write":
                sqlglot.parse_one(row["query"], read="duckdb")
            elif row["status"] == "success" or "INTERRUPT" in row["error"]:
                warehouse.execute(row["query"], limit=5)
            else:
                with pytest.raises(SQLExecutionError):
                    warehouse.execute(row["query"], limit=5)


def test_generate_history_scales_and_is_seeded():
    rows, truth = generate_history(10_000, seed=3)
    assert len(rows) == 10_000
    assert generate_history(10_000, seed=3)[0] == rows
    assert generate_history(10_000, seed=4)[0] != rows
    assert {p["id"] for p in truth["patterns"]} == {p.id for p in PATTERNS}
    kinds = Counter(t["kind"] for t in truth["queries"])
    for kind, share in KIND_SHARES.items():
        assert kinds[kind] == pytest.approx(10_000 * share, abs=1)


def test_query_history_table_mirrors_the_history_file(project_copy):
    rows, truth = generate_history(60, seed=9)
    (project_copy / "history").mkdir()
    (project_copy / "history" / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = build_demo_project(load_config(project_copy), SMALL)
    assert summary.tables["ops.query_history"] == 60
    with DuckDBWarehouse(summary.path) as warehouse:
        stored = warehouse.execute('SELECT query, "user", status, "rows" FROM ops.query_history', limit=100).rows
    assert sorted(stored, key=str) == sorted(((r["query"], r["user"], r["status"], r["rows"]) for r in rows), key=str)


def test_cli_builds_and_rewrites_history(project_copy):
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--scale", "0.01", "--project", str(project_copy), "--history", "--history-rows", "80"])
    assert result.exit_code == 0, result.output
    assert "built" in result.output and "listening.events" in result.output
    assert is_demo_warehouse(project_copy / ".vedder" / "warehouse.duckdb")
    assert len(read_history(project_copy / "history" / "queries.jsonl")) == 80
    truth = json.loads((project_copy / "history" / "patterns.json").read_text())
    assert truth["generator"]["n_rows"] == 80

    result = runner.invoke(app, ["demo", "--scale", "0.01", "--project", str(project_copy), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tables"]["ops.query_history"] == 80


def test_cli_refuses_to_replace_a_file_it_did_not_build(project_copy):
    target = project_copy / ".vedder" / "warehouse.duckdb"
    target.parent.mkdir()
    target.write_text("precious data")
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--scale", "0.01", "--project", str(project_copy)])
    assert result.exit_code == WarehouseError.exit_code
    assert "not a vedder demo warehouse" in result.output and "--force" in result.output
    assert target.read_text() == "precious data"
    result = runner.invoke(app, ["demo", "--scale", "0.01", "--project", str(project_copy), "--force"])
    assert result.exit_code == 0, result.output
    assert is_demo_warehouse(target)


def test_cli_rejects_a_non_positive_scale(project_copy):
    """A usage error (exit 2), not a warehouse problem (3): the warehouse is fine, the flag is not."""
    result = CliRunner().invoke(app, ["demo", "--scale", "0", "--project", str(project_copy)])
    assert result.exit_code == 2, result.output
    assert "error: scale must be a positive number" in result.output
    assert not (project_copy / ".vedder" / "warehouse.duckdb").exists()


def test_cli_says_when_another_process_holds_the_warehouse(project_copy):
    target = project_copy / ".vedder" / "warehouse.duckdb"
    build_demo(target, SMALL)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_WAREHOUSE, str(target)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        result = CliRunner().invoke(app, ["demo", "--scale", "0.01", "--project", str(project_copy)])
    finally:
        holder.communicate("")
    assert result.exit_code == WarehouseError.exit_code
    assert "is open in another process" in result.output


HOLD_WAREHOUSE = """
import sys
from vedder.warehouse.duckdb import DuckDBWarehouse
warehouse = DuckDBWarehouse(sys.argv[1], read_only=False)
print("holding", flush=True)
sys.stdin.read()
"""
