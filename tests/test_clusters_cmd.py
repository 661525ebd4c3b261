"""`vedder cluster new` and `vedder clusters` through the CLI, on a DuckDB warehouse built in the test."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from test_profile import LISTENING, REPO, build_project, run


@pytest.fixture
def project_root(tmp_path: Path) -> Path:
    return build_project(tmp_path / "project", {"listening": LISTENING})


def new(project_root: Path, *args: str):
    return run("cluster", "new", *args, "--project", str(project_root))


def test_cluster_new_scaffolds_and_profiles(project_root):
    (project_root / "schemas").mkdir()  # as `vedder init` leaves it: the header points at the project's copy
    (project_root / "schemas" / "cluster.schema.json").write_text((REPO / "schemas" / "cluster.schema.json").read_text())
    result = new(project_root, "people", "--tables", "crm.*", "--owner", "crm-analytics", "--title", "People")
    assert result.exit_code == 0, result.output
    folder = project_root / "clusters" / "people"
    text = (folder / "cluster.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../schemas/cluster.schema.json\n")
    document = yaml.safe_load(text)
    assert document == {
        "id": "people",
        "title": "People",
        "description": "Questions answered from crm.*.",
        "owners": {"team": "crm-analytics"},
        "datasets": ["crm.*"],
    }
    jsonschema.validate(document, json.loads((REPO / "schemas" / "cluster.schema.json").read_text()))
    assert (folder / "pairs" / ".gitkeep").is_file() and (folder / "docs" / ".gitkeep").is_file()
    assert sorted(p.name for p in (folder / "datasets").iterdir()) == ["crm.empty.yaml", "crm.users.yaml"]
    assert yaml.safe_load((folder / "datasets" / "crm.users.yaml").read_text())["row_count"] == 200
    assert "created clusters/people/" in result.stdout
    assert "warning" not in result.stderr


def test_cluster_new_takes_several_patterns_after_one_flag_or_commas(project_root):
    result = new(project_root, "mixed", "--tables", "crm.users", "music.hourly,music.monthly", "--owner", "t", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert created["tables"] == ["crm.users", "music.hourly", "music.monthly"]
    assert yaml.safe_load((project_root / "clusters" / "mixed" / "cluster.yaml").read_text())["datasets"] == [
        "crm.users", "music.hourly", "music.monthly"
    ]


def test_cluster_new_warns_when_another_cluster_covers_a_table(project_root):
    result = new(project_root, "plays", "--tables", "music.plays", "--owner", "growth")
    assert result.exit_code == 0, result.output
    assert "warning: music.plays is already covered by cluster 'listening' (owned by listening-analytics): the domain may exist already" in result.stderr
    assert (project_root / "clusters" / "plays" / "datasets" / "music.plays.yaml").is_file()


def test_cluster_new_refuses_an_existing_cluster(project_root):
    before = (project_root / "clusters" / "listening" / "cluster.yaml").read_text()
    result = new(project_root, "listening", "--tables", "crm.users", "--owner", "x")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: cluster 'listening' already exists at ")
    assert (project_root / "clusters" / "listening" / "cluster.yaml").read_text() == before


@pytest.mark.parametrize("bad_id", ["Listening", "my cluster", "_x", "a/b", "über"])
def test_cluster_new_validates_the_id(project_root, bad_id):
    result = new(project_root, bad_id, "--tables", "crm.users", "--owner", "x")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == f"error: invalid cluster id '{bad_id}'"
    assert result.stderr.splitlines()[1].startswith("hint: use a lowercase slug")
    assert sorted(p.name for p in (project_root / "clusters").iterdir()) == ["listening"]


def test_cluster_new_pattern_matching_nothing_writes_nothing(project_root):
    result = new(project_root, "people", "--tables", "crm.users", "crm.user_events", "--owner", "x")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == ["error: crm.user_events matches no table in the warehouse", "hint: did you mean crm.users?"]
    assert not (project_root / "clusters" / "people").exists()


def test_cluster_new_requires_owner(project_root):
    result = new(project_root, "people", "--tables", "crm.users")
    assert result.exit_code == 2
    assert "--owner" in result.output
    assert not (project_root / "clusters" / "people").exists()


def test_clusters_lists_counts(project_root):
    assert run("profile", "--project", str(project_root)).exit_code == 0
    (project_root / "clusters" / "listening" / "pairs").mkdir()
    (project_root / "clusters" / "listening" / "pairs" / "plays-per-day.yaml").write_text(
        "question: How many plays per day?\nsql: SELECT event_date, count(*) FROM music.plays GROUP BY 1\n"
        "verified_by: ana\nverified_at: 2024-05-01\n"
    )
    assert new(project_root, "people", "--tables", "crm.users", "--owner", "crm-analytics").exit_code == 0
    (project_root / "clusters" / "people" / "docs" / "test-accounts.md").write_text("# Test accounts\n\nIds below 100.\n")

    result = run("clusters", "--json", "--project", str(project_root))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"id": "listening", "title": "Listening", "team": "listening-analytics", "tables": 3, "pairs": 1, "docs": 0},
        {"id": "people", "title": "People", "team": "crm-analytics", "tables": 1, "pairs": 0, "docs": 1},
    ]
    text = run("clusters", "--project", str(project_root))
    assert text.exit_code == 0
    lines = [line.split() for line in text.stdout.splitlines()]
    assert lines[0] == ["id", "title", "team", "tables", "pairs", "docs"]
    assert lines[1:] == [["listening", "Listening", "listening-analytics", "3", "1", "0"], ["people", "People", "crm-analytics", "1", "0", "1"]]


def test_clusters_on_an_empty_project(tmp_path):
    root = build_project(tmp_path / "empty")
    result = run("clusters", "--project", str(root))
    assert result.exit_code == 0
    assert "no clusters yet" in result.stdout
    profiled = run("profile", "--project", str(root))
    assert profiled.exit_code == 2
    assert profiled.stderr.startswith("error: the project has no clusters yet")


def test_a_pattern_skips_a_table_files_cannot_name_and_profiles_the_rest(project_root):
    """`cluster new people --tables 'crm.*'` with a crm."refund log" beside crm's tables refused the whole cluster while
    `vedder profile` skips such a table; now it is skipped with the view hint, and only a table named outright (or a
    pattern matching nothing else) is refused."""
    import duckdb

    with duckdb.connect(str(project_root / ".vedder" / "warehouse.duckdb")) as con:
        con.execute('CREATE TABLE crm."refund log" AS SELECT 1 AS id')
    result = new(project_root, "people", "--tables", "crm.*", "--owner", "crm-analytics")
    assert result.exit_code == 0, result.output
    assert "skips crm.refund log" in result.output and 'CREATE VIEW crm.refund_log AS SELECT * FROM "crm"."refund log"' in result.output
    datasets = sorted(p.name for p in (project_root / "clusters/people/datasets").iterdir())
    assert datasets and not any("refund log" in name for name in datasets)
    outright = new(project_root, "refunds", "--tables", "crm.refund log", "--owner", "crm-analytics")
    assert outright.exit_code == 2 and "cannot name crm.refund log" in outright.output
    assert not (project_root / "clusters/refunds").exists()
