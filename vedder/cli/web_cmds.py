"""The ``vedder web`` command: a page in the browser for people who do not use a terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import ProjectOption


def web(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (keep it local unless you set a token)."),
    port: int = typer.Option(8766, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string or 'offline' (default: VEDDER_MODEL or vedder.yaml)."),
    token: Optional[str] = typer.Option(None, "--token", envvar="VEDDER_WEB_TOKEN", show_envvar=True,
                                        help="Require 'Authorization: Bearer TOKEN' on every API call; the page asks for it once."),
    project: Optional[Path] = ProjectOption,
) -> None:
    """Serve a web page to ask questions, see the answer with its SQL and sources, follow up and rate it.

    Example: vedder web --port 8766   (then open http://127.0.0.1:8766/)
    """
    from vedder.web import serve

    serve(project, host=host, port=port, model=model, token=token)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(web)
