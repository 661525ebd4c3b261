"""Every command has help text and an entry in the README (as sqlite-utils checks its docs)."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from typer.main import get_command
from typer.testing import CliRunner

from vedder.cli import app

README = (Path(__file__).parent.parent / "README.md").read_text()


def _commands() -> list[tuple[str, click.Command]]:
    root = get_command(app)
    found = []
    for name, command in root.commands.items():
        if isinstance(command, click.Group):
            found.extend((f"{name} {sub}", subcommand) for sub, subcommand in command.commands.items())
        else:
            found.append((name, command))
    return found


@pytest.mark.parametrize("name,command", _commands(), ids=lambda value: value if isinstance(value, str) else "")
def test_command_has_help_and_readme_entry(name, command):
    assert (command.help or "").strip(), f"`vedder {name}` has no help text"
    assert f"vedder {name}" in README, f"`vedder {name}` is not documented in README.md"
    result = CliRunner().invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name, _ in _commands():
        assert name.split()[0] in result.output


def test_python_dash_m_runs_the_same_cli(tmp_path):
    """`python -m vedder` is the `vedder` command: same usage name, same exit codes for bad flags."""
    import subprocess
    import sys

    shown = subprocess.run([sys.executable, "-m", "vedder", "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert shown.returncode == 0 and shown.stdout.startswith("Usage: vedder ")
    bad = subprocess.run([sys.executable, "-m", "vedder", "ask", "--nope"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "error: No such option: --nope" in bad.stderr and "Traceback" not in bad.stderr
