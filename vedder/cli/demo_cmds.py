"""``vedder demo``: build the demo warehouse (see vedder/warehouse/demo.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import JsonOption, ProjectOption, config_for, print_json


def register(app: typer.Typer) -> None:
    """Add ``vedder demo`` to ``app``."""

    @app.command("demo")
    def demo(
        scale: float = typer.Option(1.0, "--scale", help="Multiply row counts (1 = 1.2 million listening events)."),
        history: bool = typer.Option(
            False, "--history", help="Also regenerate history/queries.jsonl and history/patterns.json (the truth)."
        ),
        history_rows: Optional[int] = typer.Option(None, "--history-rows", min=1, help="Rows of regenerated history (default 450)."),
        seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the regenerated history."),
        force: bool = typer.Option(False, "--force", help="Replace the warehouse file even if vedder demo did not build it."),
        project: Optional[Path] = ProjectOption,
        json_output: bool = JsonOption,
    ) -> None:
        """Build the demo warehouse of a fictional music-streaming company, where vedder.yaml points."""
        from vedder.warehouse.demo import build_demo_project

        summary = build_demo_project(
            config_for(project), scale, rewrite_history=history, history_rows=history_rows, seed=seed, force=force
        )
        if json_output:
            print_json(summary.to_dict())
            return
        for path in summary.history_files:
            typer.echo(f"wrote {path}")
        width = max(len(name) for name in summary.tables)
        for name, rows in summary.tables.items():
            typer.echo(f"  {name:<{width}}  {rows:>10,}")
        total = sum(summary.tables.values())
        typer.echo(
            f"built {summary.path} (scale {summary.scale:g}): {len(summary.tables)} tables, "
            f"{total:,} rows in {summary.elapsed_s:.1f} s"
        )
