"""A bug in vedder is one line and exit 70, never a traceback; `--debug` shows the traceback."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import vedder.ask
from vedder.cli import app
from demo_project import copy_demo


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return copy_demo(tmp_path_factory.mktemp("errors-demo"), scale=0.02)


@pytest.mark.parametrize("bug", [ZeroDivisionError("division by zero"), RuntimeError("boom\nsecond line"),
                                 KeyError("x"), OSError("disk said no")])
def test_unexpected_exception_is_one_line_and_exit_70(demo_dir, monkeypatch, bug):
    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr(vedder.ask, "ask", broken)
    result = CliRunner().invoke(app, ["ask", "How many plans are there?", "--project", str(demo_dir)])
    assert result.exit_code == 70, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"error: internal error: {type(bug).__name__}: {str(bug).splitlines()[0]}"
    assert lines[1].startswith("hint: this is a bug in vedder") and "--debug" in lines[1]
    assert len(lines) == 2 and "Traceback" not in result.output


def test_unexpected_exception_under_json_is_still_one_object(demo_dir, monkeypatch):
    monkeypatch.setattr(vedder.ask, "ask", lambda *a, **k: 1 / 0)
    result = CliRunner().invoke(app, ["ask", "How many plans are there?", "--json", "--project", str(demo_dir)])
    assert result.exit_code == 70
    document = json.loads(result.stdout)
    assert document["status"] == "error" and document["exit_code"] == 70


def test_debug_shows_the_real_exception(demo_dir, monkeypatch):
    monkeypatch.setattr(vedder.ask, "ask", lambda *a, **k: 1 / 0)
    result = CliRunner().invoke(app, ["--debug", "ask", "How many plans are there?", "--project", str(demo_dir)])
    assert isinstance(result.exception, ZeroDivisionError)


def test_values_and_names_in_brackets_are_shown_as_written_and_numbers_without_noise(demo_dir):
    """A value '[/x]' made `vedder query` an internal error (rich read it as a closing markup tag); a float's binary
    tail (158405.92999999996) and PostgreSQL-style decimal zeros (4521971.640000000000) were shown as fetched."""
    sql = ("SELECT '[/x]' AS \"[b]name\", '[bold]hi' AS b, 158405.92999999996::DOUBLE AS f, "
           "4521971.640000000000::DECIMAL(20,12) AS d")
    runner = CliRunner()
    result = runner.invoke(app, ["query", sql, "--cluster", "listening", "--project", str(demo_dir)])
    assert result.exit_code == 0, result.output
    for text in ("[/x]", "[b]name", "[bold]hi", "158405.93", "4521971.64"):
        assert text in result.output, text
    assert "92999" not in result.output and "640000" not in result.output
    as_json = json.loads(runner.invoke(app, ["query", sql, "--cluster", "listening", "--json", "--project", str(demo_dir)]).output)
    assert as_json["rows"][0][2] == 158405.92999999996  # JSON keeps the value as fetched


def test_a_cluster_title_in_brackets_is_listed_as_written(tmp_path):
    project = copy_demo(tmp_path / "demo")
    path = project / "clusters/podcasts/cluster.yaml"
    path.write_text(path.read_text().replace("title: Podcasts", "title: '[/x] Podcasts'", 1))
    result = CliRunner().invoke(app, ["clusters", "--project", str(project)])
    assert result.exit_code == 0, result.output
    assert "[/x]" in result.output


def test_the_feedback_command_in_the_footer_is_one_line(demo_dir):
    result = CliRunner(env={"COLUMNS": "60"}).invoke(
        app, ["ask", "How many streams did each country have in November 2026?", "--project", str(demo_dir)])
    assert result.exit_code == 0, result.output
    footer = next(line for line in result.output.splitlines() if line.startswith("model "))
    assert footer.endswith(" up|down)") and "(vedder feedback " in footer
