"""Pieces shared by the command modules: options, project loading, rendering helpers."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer

from vedder.warehouse import json_safe

if TYPE_CHECKING:
    from vedder.config import Config
    from vedder.project import Project

ProjectOption = typer.Option(None, "--project", "-p", help="Project folder (default: nearest folder with vedder.yaml).")
JSON_OUTPUT = "vedder.json_output"
COMMAND_CONTEXT = "vedder.command_context"
ERROR_DOCUMENTS: dict[str, Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]] = {}
"""Command name -> how its --json output carries an error (status, error, hint, exit_code) when the command
fails before it has anything to print; ``ask`` registers the shape of schemas/answer.schema.json."""


def _remember_command(ctx: typer.Context, value: bool) -> bool:
    ctx.meta[COMMAND_CONTEXT] = ctx  # its parameters, should the command fail
    return value


JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.", callback=_remember_command)


def _cluster_id(value: Optional[str]) -> Optional[str]:
    if value is not None and not value.strip():
        raise typer.BadParameter("the cluster id is empty; `vedder clusters` lists them")
    return value


def cluster_option(help: str) -> Any:
    """``--cluster/-c ID``; an empty id is a usage error, not 'no cluster'."""
    return typer.Option(None, "--cluster", "-c", help=help, callback=_cluster_id)


def config_for(project: Optional[Path]) -> "Config":
    from vedder.config import load_config

    return load_config(project)


def project_for(project: Optional[Path], *, skip_broken: bool = False, cluster: Optional[str] = None) -> "Project":
    """The project at ``project``. With ``skip_broken`` (the commands that answer questions), a cluster with a file
    that cannot be read is left out with a warning on stderr, so one team's broken file does not stop the others;
    it is still an error when that is the ``cluster`` asked for, or when no cluster is left. Clusters load on first
    use (``load_project(..., lazy=True)``): a one-shot command reads the clusters it needs, not every one."""
    from vedder.project import load_project

    loaded = load_project(config_for(project), skip_broken=skip_broken, lazy=True)
    require_usable(loaded, cluster)
    for warning in loaded.warnings:
        typer.echo(f"warning: {warning['message']}", err=True)
    if loaded.warnings:
        typer.echo("hint: `vedder validate` lists every problem with file and line; the other clusters answer as usual", err=True)
    return loaded


def require_usable(loaded: "Project", cluster: Optional[str] = None) -> None:
    """Raise the broken file's error when ``cluster`` is left out for one, or when every cluster is."""
    if cluster in loaded.broken:
        raise loaded.broken[cluster].as_error()
    if loaded.broken and not loaded.clusters:
        raise next(iter(loaded.broken.values())).as_error()


def print_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout (dates and paths as strings; \\u escapes when stdout is not UTF)."""
    plain = not (sys.stdout.encoding or "").lower().replace("-", "").startswith("utf")
    sys.stdout.write(json.dumps(json_safe(data), indent=2, ensure_ascii=plain) + "\n")



def console(stderr: bool = False):
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, stderr=stderr)
