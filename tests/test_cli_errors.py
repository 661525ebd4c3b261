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
