"""Atomic writes and YAML positions."""

from __future__ import annotations

import os
import stat

import pytest

from vedder.errors import ProjectFileError
from vedder.files import atomic_write, load_yaml_text


def test_atomic_write_replaces_and_keeps_mode(tmp_path):
    target = tmp_path / "pair.yaml"
    atomic_write(target, "a: 1\n")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    target.chmod(0o640)
    atomic_write(target, "a: 2\n")
    assert target.read_text() == "a: 2\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["pair.yaml"]


def test_yaml_error_names_file_line_and_column():
    with pytest.raises(ProjectFileError, match=r"x\.yaml:3:1: invalid YAML"):
        load_yaml_text("a: 1\nb: [unclosed\n", "x.yaml")


def test_a_tab_in_yaml_says_to_indent_with_spaces():
    for text in ("question: Tabbed?\nsql: |\n\tSELECT 1\n", "question: Tabbed?\nsql:\n\tSELECT 1\n"):
        with pytest.raises(ProjectFileError, match=r"p\.yaml:3:1: invalid YAML: found") as raised:
            load_yaml_text(text, "p.yaml")
        assert raised.value.hint == "YAML indents with spaces, never tabs: replace the tab at that line with spaces"


def test_positions_of_nested_pointers():
    document = load_yaml_text("columns:\n  - name: id\n    type: INT\n", "d.yaml")
    assert document.position("/columns/0/type") == (3, 5)
    assert document.position("/columns/0/missing") == document.position("/columns/0")


def test_non_utf8_cluster_file_is_a_one_line_error(tmp_path):
    from typer.testing import CliRunner

    from vedder.cli import app

    (tmp_path / "vedder.yaml").write_text("warehouse: {type: duckdb, path: w.duckdb}\n")
    docs = tmp_path / "clusters" / "c" / "docs"
    docs.mkdir(parents=True)
    (tmp_path / "clusters" / "c" / "cluster.yaml").write_text("id: c\ntitle: C\nowners: {team: t}\n")
    (docs / "latin.md").write_bytes(b"# caf\xe9\n")
    listed = CliRunner().invoke(app, ["clusters", "--project", str(tmp_path)])  # lists the cluster with its problem
    assert listed.exit_code == 0 and "latin.md: not UTF-8 text" in listed.output
    result = CliRunner().invoke(app, ["ask", "anything?", "--project", str(tmp_path)])  # its only cluster: nothing answers
    assert result.exit_code == 2
    assert "latin.md: not UTF-8 text" in result.output and "Traceback" not in result.output
