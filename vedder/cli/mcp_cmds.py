"""The ``vedder mcp`` command: vedder as an MCP server for IDEs and AI assistants."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import ProjectOption


def mcp(
    http: bool = typer.Option(False, "--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on with --http (keep it local: there is no authentication)."),
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on with --http."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string or 'offline' for the ask tool (default: VEDDER_MODEL or vedder.yaml)."),
    project: Optional[Path] = ProjectOption,
) -> None:
    """Serve vedder's tools (ask, context, query, list_clusters, describe_cluster, feedback) and the clusters' docs
    and pairs over the Model Context Protocol.

    Example: vedder mcp --project /path/to/project   (stdio; add it to your assistant's MCP configuration)
    """
    from vedder.mcp import serve

    serve(project, http=http, host=host, port=port, model=model)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(mcp)
