"""`vedder init`: a new project that validates, takes a cluster, and keeps editors' schema headers honest."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from vedder.cli import app
from vedder.config import load_config
from vedder.schemas import schema_header, schema_path


def run(*args: str):
    return CliRunner(env={"COLUMNS": "200"}).invoke(app, list(args))


def make_warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders AS SELECT range AS id, ['US', 'GB', 'SE'][range % 3 + 1] AS country FROM range(60)")
    con.close()


def test_init_makes_a_project_that_validates_and_takes_a_cluster(tmp_path):
    folder = tmp_path / "analytics"
    result = run("init", str(folder), "--warehouse", "wh.duckdb")
    assert result.exit_code == 0, result.output
    assert "no warehouse at wh.duckdb yet" in result.output
    config = load_config(folder)
    assert config.warehouse_path == folder / "wh.duckdb" and config.offline
    assert (folder / ".gitignore").read_text() == ".vedder/\n"
    assert (folder / "schemas" / "dataset.schema.json").read_text() == schema_path("dataset").read_text()
    make_warehouse(folder / "wh.duckdb")
    created = run("cluster", "new", "shop", "--tables", "shop.*", "--owner", "shop-team", "--project", str(folder))
    assert created.exit_code == 0, created.output
    assert (folder / "clusters/shop/datasets/shop.orders.yaml").read_text().startswith(
        "# yaml-language-server: $schema=../../../schemas/dataset.schema.json\n")
    validated = run("validate", "--project", str(folder), "--format", "json")
    assert validated.exit_code == 0, validated.output
    assert [f["rule"] for f in json.loads(validated.stdout)] == ["cluster.empty"]


def test_init_refuses_an_existing_project_and_keeps_its_files(tmp_path):
    (tmp_path / "vedder.yaml").write_text("model: gpt-4o-mini\n")
    (tmp_path / ".gitignore").write_text("*.pyc")
    result = run("init", str(tmp_path))
    assert result.exit_code == 2
    assert "already exists" in result.output and "hint:" in result.output
    assert (tmp_path / "vedder.yaml").read_text() == "model: gpt-4o-mini\n"


def test_init_appends_to_gitignore_once(tmp_path):
    (tmp_path / ".gitignore").write_text("*.pyc")
    assert run("init", str(tmp_path), "--json").exit_code == 0
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n.vedder/\n"


def test_init_on_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("x")
    result = run("init", str(target))
    assert result.exit_code == 2 and "is a file" in result.output


def test_schema_header_points_at_the_nearest_schemas_folder_or_nowhere(tmp_path):
    dataset = tmp_path / "clusters" / "a" / "datasets" / "s.t.yaml"
    assert schema_header(dataset, "dataset") is None  # no schemas/ anywhere above: no header that validate would flag
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "dataset.schema.json").write_text("{}")
    assert schema_header(dataset, "dataset") == "../../../schemas/dataset.schema.json"
    assert schema_header(tmp_path / "clusters" / "a" / "cluster.yaml", "cluster") is None


def test_profile_without_schemas_folder_writes_no_dangling_header(tmp_path):
    (tmp_path / "vedder.yaml").write_text("warehouse: {type: duckdb, path: wh.duckdb}\n")
    make_warehouse(tmp_path / "wh.duckdb")
    created = run("cluster", "new", "shop", "--tables", "shop.*", "--owner", "shop-team", "--project", str(tmp_path))
    assert created.exit_code == 0, created.output
    assert not (tmp_path / "clusters/shop/cluster.yaml").read_text().startswith("#")
    validated = run("validate", "--project", str(tmp_path), "--format", "json")
    assert all(f["rule"] != "schema.header" for f in json.loads(validated.stdout)), validated.output


def test_init_writes_a_warehouse_path_and_model_that_yaml_reads_back_as_given(tmp_path):
    for name, warehouse, model in (("a", "wh #2.duckdb", "offline"), ("b c", "[x].duckdb", "openai/gpt-4o-mini #eu"),
                                   ("d", "data: 'q'.duckdb", "offline")):
        result = run("init", str(tmp_path / name), "--warehouse", warehouse, "--model", model)
        assert result.exit_code == 0, result.output
        assert f"no warehouse at {warehouse} yet" in " ".join(result.output.split())  # not eaten as markup
        assert f"--project {shlex.quote(str(tmp_path / name))}" in result.output  # a next step the shell can run
        config = load_config(tmp_path / name)
        assert (config.warehouse_path, config.model) == (tmp_path / name / warehouse, model)


def test_init_under_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = run("init", str(tmp_path / "notes.txt" / "project"))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert f"{tmp_path / 'notes.txt'} is a file" in result.output


def test_schema_header_looks_no_higher_than_the_project(tmp_path):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "dataset.schema.json").write_text('{"title": "some other tool\'s dataset"}')
    project = tmp_path / "analytics"
    project.mkdir()
    (project / "vedder.yaml").write_text("model: offline\n")
    assert schema_header(project / "clusters" / "a" / "datasets" / "s.t.yaml", "dataset") is None
    (project / "schemas").mkdir()
    (project / "schemas" / "dataset.schema.json").write_text("{}")
    assert schema_header(project / "clusters" / "a" / "datasets" / "s.t.yaml", "dataset") == "../../../schemas/dataset.schema.json"


def test_init_with_a_file_named_clusters_or_schemas_is_a_usage_error_and_writes_nothing(tmp_path):
    for name in ("clusters", "schemas"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / name).write_text("x")
        result = run("init", str(folder))
        assert result.exit_code == 2 and "Traceback" not in result.output, result.output
        assert f"{folder / name} is a file" in result.output
        assert sorted(p.name for p in folder.iterdir()) == [name]  # no vedder.yaml: init can run again once it is moved


def test_init_sees_vedder_already_ignored_in_any_spelling(tmp_path):
    (tmp_path / ".gitignore").write_text("/.vedder/\n")
    assert run("init", str(tmp_path)).exit_code == 0
    assert (tmp_path / ".gitignore").read_text() == "/.vedder/\n"


def test_a_warehouse_on_another_drive_is_written_absolute(tmp_path, monkeypatch):
    """Windows: os.path.relpath cannot reach another drive (ValueError); the path is written absolute instead
    of an internal error."""
    import os

    from vedder.project.scaffold import init_project

    (tmp_path / "shop.duckdb").touch()
    monkeypatch.chdir(tmp_path)

    def other_drive(path, start=None):
        raise ValueError("path is on mount 'D:', start on mount 'C:'")

    monkeypatch.setattr(os.path, "relpath", other_drive)
    result = init_project(tmp_path / "analytics", warehouse="shop.duckdb")
    assert load_config(tmp_path / "analytics").warehouse_path == tmp_path / "shop.duckdb"
    assert result.warnings


def test_the_next_command_is_one_line_to_copy_on_a_narrow_terminal(tmp_path, monkeypatch):
    """On an 80-column terminal the next step wrapped inside its quoted path ('--project 'another\\nshop project'),
    so a copied command broke."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner(env={"COLUMNS": "60"}).invoke(app, ["init", "another shop project folder"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("next: "))
    assert line.endswith("--project 'another shop project folder'")
    command = shlex.split(line.removeprefix("next: "))
    assert command[-2:] == ["--project", "another shop project folder"]
