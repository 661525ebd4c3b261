"""A copy of the repository's demo project (vedder.yaml + clusters/) for tests that must not touch the checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

from vedder.warehouse.demo import build_demo

REPO = Path(__file__).resolve().parent.parent


def copy_demo(root: Path, scale: float | None = None) -> Path:
    """``root`` holding the demo's vedder.yaml and clusters/, with a demo warehouse at ``scale`` when given."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "vedder.yaml", root / "vedder.yaml")
    shutil.copytree(REPO / "clusters", root / "clusters")
    if scale is not None:
        build_demo(root / ".vedder" / "warehouse.duckdb", scale)
    return root


def ask_json(root: Path, *args: str) -> dict:
    """``vedder ask ARGS --json`` on the project at ``root``: the answer, checked against schemas/answer.schema.json."""
    import json

    import jsonschema
    from typer.testing import CliRunner

    from vedder.cli import app

    result = CliRunner().invoke(app, ["ask", *args, "--json", "--project", str(root)])
    assert result.exit_code in (0, 1), result.output
    answer = json.loads(result.stdout)
    jsonschema.validate(answer, json.loads((REPO / "schemas" / "answer.schema.json").read_text()))
    return answer
