"""``vedder validate``: check every project file and print each problem with file, line and hint."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import ProjectOption


class Format(str, Enum):
    text = "text"
    json = "json"
    github = "github"


def _github_escape(value: str, *, property_value: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if property_value else value


def _github_path(root: Path, relative: str) -> str:
    """Annotations name files relative to the checkout (the working directory in CI)."""
    path = os.path.relpath(root / relative)
    return relative if path.startswith("..") else Path(path).as_posix()


def render(report, output_format: Format) -> str:
    """The report as text (linter lines + summary), JSON (a list of problems) or GitHub annotations."""
    if output_format is Format.json:
        import json

        return json.dumps([p.to_dict() for p in report.problems], indent=2, ensure_ascii=False)
    if output_format is Format.github:
        levels = {"error": "error", "warning": "warning", "note": "notice"}
        lines = []
        for p in report.problems:
            file = _github_escape(_github_path(report.root, p.path), property_value=True)
            title = _github_escape(f"vedder validate ({p.rule})", property_value=True)
            body = _github_escape(f"{p.message}\nat {p.pointer or '/'}\nhint: {p.hint}")
            lines.append(f"::{levels[p.level]} file={file},line={p.line},col={p.column},title={title}::{body}")
        lines.append(report.summary())
        return "\n".join(lines)
    lines = []
    for p in report.problems:
        lines.append(p.format())
        if p.pointer:
            lines.append(f"    at {p.pointer}")
        if p.hint:
            lines.append(f"    hint: {p.hint}")
    lines.append(("ok: " if report.ok else "failed: ") + report.summary())
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""

    @app.command()
    def validate(
        output_format: Format = typer.Option(Format.text, "--format", "-f", help="text (file:line:col lines), json (a list), or github (Actions annotations)."),
        project: Optional[Path] = ProjectOption,
    ) -> None:
        """Check every project file (schemas, pair SQL, ids, datasets, docs) and report each problem with file and line."""
        from vedder.config import find_project
        from vedder.project.validate import validate_project

        report = validate_project(find_project(project))
        typer.echo(render(report, output_format))
        raise typer.Exit(0 if report.ok else 1)
