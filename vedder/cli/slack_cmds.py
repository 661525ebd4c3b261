"""The ``vedder slack`` command: a Slack bot that answers questions in a thread."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import ProjectOption


def slack(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (your HTTPS proxy forwards Slack's events here)."),
    port: int = typer.Option(8767, "--port", min=0, max=65535, help="Port to listen on (0: any free port)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string or 'offline' (default: VEDDER_MODEL or vedder.yaml)."),
    project: Optional[Path] = ProjectOption,
) -> None:
    """Answer questions in Slack: mentions and direct messages, in a thread, with the SQL and sources.

    Needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in the environment (VEDDER_SLACK_API: another Web API base).

    Example: SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=… vedder slack --port 8767
    """
    from vedder.slack import serve

    serve(project, env=dict(os.environ), host=host, port=port, model=model)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command()(slack)
