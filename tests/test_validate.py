"""vedder validate: one valid fixture project, one broken overlay per rule, the CLI in three formats.

Each folder under tests/fixtures/validate/cases/ holds the files that differ from the valid project and
``expected.txt``: exactly the ``path:line:column: level: message`` lines validate must print for it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vedder.cli import app
from vedder.project.validate import Problem, validate_project

FIXTURES = Path(__file__).parent / "fixtures" / "validate"
CASES = sorted(p.name for p in (FIXTURES / "cases").iterdir() if p.is_dir())


def build_case(tmp_path: Path, *cases: str) -> Path:
    """The valid project with the files of ``cases`` laid over it."""
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "valid", project)
    for case in cases:
        shutil.copytree(FIXTURES / "cases" / case, project, dirs_exist_ok=True, ignore=shutil.ignore_patterns("expected.txt"))
    return project


def expected(case: str) -> list[str]:
    return (FIXTURES / "cases" / case / "expected.txt").read_text().splitlines()


def test_valid_project_has_no_problems():
    report = validate_project(FIXTURES / "valid")
    assert report.problems == []
    assert report.ok
    assert report.files_checked == 10


@pytest.mark.parametrize("case", CASES)
def test_broken_fixture_reports_its_problem_with_file_and_line(tmp_path, case):
    report = validate_project(build_case(tmp_path, case))
    assert [p.format() for p in report.problems] == expected(case)
    wants_error = any(": error: " in line for line in expected(case))
    assert report.ok is not wants_error


def test_every_case_expects_at_least_one_problem():
    assert len(CASES) >= 30
    for case in CASES:
        assert expected(case), case


def test_checking_goes_on_after_unparsable_files(tmp_path):
    report = validate_project(build_case(tmp_path, "yaml_syntax", "sql_unknown_column", "doc_front_matter_syntax", "schema_enum"))
    lines = [p.format() for p in report.problems]
    for case in ("yaml_syntax", "sql_unknown_column", "doc_front_matter_syntax", "schema_enum"):
        assert set(expected(case)) <= set(lines), case


def test_problems_carry_pointer_hint_and_rule(tmp_path):
    report = validate_project(build_case(tmp_path, "sql_unknown_column", "schema_required", "schema_unknown_key"))
    by_rule = {p.rule: p for p in report.problems}
    unqualified, qualified = [p for p in report.problems if p.rule == "sql.unknown_column"][:2]
    assert unqualified.pointer == qualified.pointer == "/sql"
    assert "declared in the cluster's dataset files" in unqualified.hint
    assert "declared in datasets/listening.events.yaml" in qualified.hint
    assert by_rule["schema.required"].pointer == "" and "Who checked" in by_rule["schema.required"].hint
    assert by_rule["schema.unknown_key"].pointer == "/tag" and by_rule["schema.unknown_key"].level == "warning"


def test_unreadable_yaml_in_vedder_yaml_is_reported_not_raised(tmp_path):
    project = build_case(tmp_path)
    (project / "vedder.yaml").write_text("warehouse: [unclosed\n")
    report = validate_project(project)
    assert [p.format() for p in report.problems] == ["vedder.yaml:2:1: error: invalid YAML: expected ',' or ']', but got '<stream end>'"]


def test_a_tab_and_a_key_written_twice_get_their_own_hints(tmp_path):
    project = build_case(tmp_path)
    pairs = project / "clusters/music/pairs"
    (pairs / "tabbed.yaml").write_text("question: Tabbed?\nsql: |\n\tSELECT 1\nverified_by: x\nverified_at: '2026-11-01'\n")
    (pairs / "twice.yaml").write_text("question: Once?\nquestion: Twice?\nsql: SELECT 1\nverified_by: x\nverified_at: '2026-11-01'\n")
    hints = {Path(p.path).name: p.hint for p in validate_project(project).problems if p.rule == "yaml.syntax"}
    assert hints == {"tabbed.yaml": "YAML indents with spaces, never tabs: replace the tab at that line with spaces",
                     "twice.yaml": "keep one of them: YAML would silently use the last"}


def test_valid_schema_header_is_accepted(tmp_path):
    project = build_case(tmp_path)
    (project / "schemas").mkdir()
    (project / "schemas" / "pair.schema.json").write_text("{}")
    pair = project / "clusters/music/pairs/hours-played.yaml"
    pair.write_text("# yaml-language-server: $schema=../../../schemas/pair.schema.json\n" + pair.read_text())
    assert validate_project(project).problems == []


def test_problem_format_is_the_linter_convention():
    problem = Problem("a/b.yaml", 3, 7, "warning", "something", "/x", "do this", "rule")
    assert problem.format() == "a/b.yaml:3:7: warning: something"
    assert problem.to_dict() == {"path": "a/b.yaml", "line": 3, "column": 7, "level": "warning", "message": "something",
                                 "pointer": "/x", "hint": "do this", "rule": "rule"}


runner = CliRunner()


def test_cli_text_on_valid_project_exits_0():
    result = runner.invoke(app, ["validate", "--project", str(FIXTURES / "valid")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "ok: 0 errors, 0 warnings, 0 notes in 10 files"


def test_cli_text_lists_problem_pointer_hint_and_summary(tmp_path):
    project = build_case(tmp_path, "sql_unknown_column", "dataset_missing_file")
    result = runner.invoke(app, ["validate", "-p", str(project)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    at = lines.index("clusters/music/pairs/by-country.yaml:6:11: error: unknown column 'duration' in listening.events (did you mean 'duration_ms'?)")
    assert lines[at + 1] == "    at /sql"
    assert lines[at + 2].startswith("    hint: use a column declared in datasets/listening.events.yaml")
    assert lines[-1] == "failed: 3 errors, 2 warnings, 0 notes in 11 files"


def test_cli_warnings_alone_exit_0(tmp_path):
    result = runner.invoke(app, ["validate", "-p", str(build_case(tmp_path, "cluster_empty"))])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "ok: 0 errors, 2 warnings, 0 notes in 11 files"


def test_cli_json_is_a_list_of_problems(tmp_path):
    project = build_case(tmp_path, "schema_type", "cluster_overlap")
    result = runner.invoke(app, ["validate", "-p", str(project), "--format", "json"])
    assert result.exit_code == 1
    problems = json.loads(result.output)
    assert {tuple(sorted(p)) for p in problems} == {("column", "hint", "level", "line", "message", "path", "pointer", "rule")}
    error = next(p for p in problems if p["level"] == "error")
    assert error == {**error, "path": "clusters/music/datasets/listening.events.yaml", "line": 2, "column": 1,
                     "pointer": "/row_count", "rule": "schema.type"}
    assert {p["level"] for p in problems} == {"error", "warning", "note"}


def test_cli_github_annotations(tmp_path):
    project = build_case(tmp_path, "sql_unknown_column", "cluster_overlap")
    result = runner.invoke(app, ["validate", "-p", str(project), "--format", "github"])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(
        "::warning file=clusters/growth/cluster.yaml,line=7,col=5,title=vedder validate (dataset.missing_file)::pattern 'listening.*' matches no dataset file%0Aat /datasets/0%0Ahint: "
    )
    assert any(line.startswith("::notice file=clusters/music/cluster.yaml,line=9,col=5,") for line in lines)
    assert any(line.startswith("::error file=clusters/music/pairs/by-country.yaml,line=3,col=10,title=vedder validate (sql.unknown_column)::unknown column 'contry'") for line in lines)
    assert lines[-1] == "3 errors, 1 warning, 2 notes in 14 files"


def test_cli_github_paths_are_relative_to_the_working_directory(tmp_path, monkeypatch):
    project = build_case(tmp_path, "id_mismatch")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "-p", "project", "--format", "github"])
    assert result.output.startswith("::error file=project/clusters/music/cluster.yaml,line=1,col=1,")


def test_cli_outside_a_project_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["validate", "-p", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.startswith("error: no vedder.yaml in ")
    assert "Traceback" not in result.output


def test_clean_pair_verdicts_are_cached_and_invalidated(tmp_path, monkeypatch):
    """A second run trusts clean verdicts; a column dropped from a dataset file is still found."""
    import shutil

    from vedder.project.validate import validate_project

    repo = Path(__file__).parent.parent
    shutil.copy(repo / "vedder.yaml", tmp_path / "vedder.yaml")
    shutil.copytree(repo / "clusters", tmp_path / "clusters")
    shutil.copytree(repo / "schemas", tmp_path / "schemas")
    first = validate_project(tmp_path)
    cache = next((Path(os.environ["VEDDER_CACHE_DIR"])).rglob("validate-cache.json"))
    assert first.problems == [] and len(json.loads(cache.read_text())["clean"]) >= 30
    assert validate_project(tmp_path).problems == []
    dataset = tmp_path / "clusters" / "revenue" / "datasets" / "revenue.plans.yaml"
    text = dataset.read_text()
    assert "- name: monthly_price_cents" in text
    dataset.write_text(text.replace("- name: monthly_price_cents", "- name: monthly_price"))
    after = validate_project(tmp_path)
    assert any(p.rule == "sql.unknown_column" and "monthly_price_cents" in p.message for p in after.problems)


def test_clusters_that_may_share_a_table_are_found_without_comparing_every_pair():
    """check_across compared every pair of clusters (1,096 clusters: 119 s of validate's 169); the index it now uses
    must still find every pair that shares a table: exact names in any case, globs either way round, tables of
    PostgreSQL's quoted capitals."""
    import random

    from vedder.project.validate import _ClusterFacts, _SharingIndex

    rng = random.Random(3)
    schemas, names = ["sales", "Sales", "hr", "ops"], ["orders", "Orders", "people", "o_items", "x"]
    globs = ["sales.*", "SALES.ord*", "*.people", "hr.?eople", "ops.[ox]*", "*"]
    clusters = []
    for i in range(60):
        entries = [f"{rng.choice(schemas)}.{rng.choice(names)}" for _ in range(rng.randint(0, 3))]
        entries += rng.sample(globs, rng.choice([0, 0, 0, 1]))
        columns = {f"{rng.choice(schemas)}.{rng.choice(names)}": {} for _ in range(rng.randint(0, 3))}
        clusters.append(_ClusterFacts(folder=Path(f"c{i}"), document=None, id=f"c{i}", entries=entries, columns=columns))
    tables = [facts.tables for facts in clusters]
    sharing = _SharingIndex.of(clusters, tables)
    found = 0
    for later, facts in enumerate(clusters):
        candidates = set(sharing.before(later))
        for earlier in range(later):
            shares = any(clusters[earlier].covers(t) for t in tables[later]) or any(facts.covers(t) for t in tables[earlier])
            assert not shares or earlier in candidates, (clusters[earlier].entries, facts.entries)
            found += shares
    assert found > 100 and sum(len(sharing.before(i)) for i in range(60)) < 60 * 59 / 2  # pairs found, not all compared
