"""``vedder init`` (library: vedder/project/scaffold.py)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import JsonOption, console, print_json


def register(app: typer.Typer) -> None:
    """Add ``vedder init`` to ``app``."""

    @app.command("init")
    def init(
        folder: Path = typer.Argument(Path("."), help="Folder to make a vedder project (created if missing)."),
        warehouse: Optional[str] = typer.Option(None, "--warehouse", "-w", help="DuckDB file, relative to the folder, or to the current folder when it is there (default .vedder/warehouse.duckdb); or a PostgreSQL URL postgresql://user@host:5432/db (the password stays out of vedder.yaml: PGPASSWORD, ~/.pgpass or --password-env)."),
        password_env: Optional[str] = typer.Option(None, "--password-env", metavar="VARIABLE", help="PostgreSQL: the environment variable vedder reads the warehouse password from (written as warehouse.password_env; the password itself never is)."),
        model: str = typer.Option("offline", "--model", help="litellm model string, or offline (answer from vetted pairs only)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Start a vedder project: vedder.yaml, clusters/, schemas/ for editors, .vedder/ git-ignored.

        Example: vedder init analytics --warehouse warehouse.duckdb

        Example: vedder init analytics --warehouse postgresql://vedder_reader@db.internal:5432/analytics --password-env ANALYTICS_PG_PASSWORD
        """
        from rich.markup import escape

        from vedder.project.scaffold import init_project

        result = init_project(folder, warehouse=warehouse, model=model, password_env=password_env)
        if as_json:
            print_json(result.to_dict())
            return
        out = console()
        for warning in result.warnings:
            console(stderr=True).print(f"[yellow]warning[/yellow]: {escape(warning)}")
        written = [f for f in result.created + result.updated if not f.startswith("schemas/")]
        schemas = len(result.created + result.updated) - len(written)
        written += [f"schemas/ ({schemas} JSON Schemas for editors)"] if schemas else []
        out.print(escape(f"initialised {result.root}: " + ", ".join(written)))
        if result.password_step:
            out.print(escape(f"next: {result.password_step}"), soft_wrap=True)
        where = "" if result.root == Path.cwd().resolve() else f" --project {shlex.quote(str(folder))}"
        # soft_wrap: a command to copy is one line, however narrow the terminal (a path with spaces broke inside its quotes)
        out.print(escape(f"next: vedder cluster new ID --tables 'schema.*' --owner TEAM{where}"), soft_wrap=True)
