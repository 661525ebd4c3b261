"""``vedder profile``, ``vedder cluster new`` and ``vedder clusters`` (library: vedder/profile.py)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, List, Optional

import typer

from vedder.cli.common import JsonOption, ProjectOption, config_for, console, print_json

if TYPE_CHECKING:
    from vedder.profile import ProfileReport, ProgressCallback

cluster_app = typer.Typer(help="Create clusters.", no_args_is_help=True, rich_markup_mode=None)


@contextmanager
def _progress_bars(enabled: bool) -> Iterator["ProgressCallback | None"]:
    """A rich progress bar per table on stderr (none when ``enabled`` is false)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    tasks: dict[str, int] = {}
    bars = Progress(TextColumn("{task.description:<40}"), BarColumn(), TimeElapsedColumn(), console=Console(stderr=True))

    def advance(table: str, step: int, steps: int) -> None:
        if not tasks:
            bars.start()
        if table not in tasks:
            tasks[table] = bars.add_task(table, total=steps)
        bars.update(tasks[table], completed=step)

    try:
        yield advance
    finally:
        if tasks:
            bars.stop()


def _render_report(report: "ProfileReport") -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    clusters = sorted({row.cluster for row in report.tables})
    for cluster in clusters:
        table = Table("table", "rows", "cols", "partition", "latest", title=f"cluster {cluster}", title_justify="left", box=None)
        for row in report.tables:
            if row.cluster != cluster:
                continue
            part = row.partitioning or {}
            partition = f"{part['column']} ({part['granularity']})" if part else "-"
            latest = str(part.get("last", "-")).replace("T", " ")[: 13 if part.get("granularity") == "hour" else 10]
            table.add_row(escape(row.table), f"{row.row_count:,}", str(row.columns), escape(partition), latest)
        out.print(table)
    seconds = sum(row.elapsed_s for row in {row.table: row for row in report.tables}.values())
    out.print(f"profiled {len(report.tables)} dataset file(s) in {len(clusters)} cluster(s) in {seconds:.1f} s")


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


def _patterns(tables: list[str], extra: list[str]) -> list[str]:
    """Patterns from repeated or comma-separated --tables, plus the further words after it."""
    return [p.strip() for value in [*tables, *extra] for p in value.split(",") if p.strip()]


def profile(
    clusters: Optional[List[str]] = typer.Argument(None, help="Clusters to profile (default: all)."),
    project: Optional[Path] = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Profile the clusters' tables and (re)write their dataset files.

    Example: vedder profile listening
    """
    from vedder.profile import profile_clusters
    from vedder.project import load_project
    from vedder.warehouse import open_warehouse

    config = config_for(project)
    loaded = load_project(config)
    warehouse = open_warehouse(config)
    try:
        with _progress_bars(not as_json) as progress:
            report = profile_clusters(loaded, warehouse, clusters or (), progress)
    finally:
        warehouse.close()
    _warn(report.warnings)
    if as_json:
        print_json(report.to_dict())
    else:
        _render_report(report)


@cluster_app.command("new", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def cluster_new(
    ctx: typer.Context,
    cluster_id: str = typer.Argument(..., help="The new cluster's id: a lowercase slug."),
    tables: List[str] = typer.Option(..., "--tables", "-t", help="Tables or patterns (schema.table, schema.*); repeat or separate with commas."),
    owner: str = typer.Option(..., "--owner", help="The team of domain experts who own the cluster."),
    title: Optional[str] = typer.Option(None, "--title", help="Human title (default: from the id)."),
    description: Optional[str] = typer.Option(None, "--description", help="What the cluster answers."),
    project: Optional[Path] = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Scaffold a cluster for some tables and profile them.

    Example: vedder cluster new podcasts --tables 'podcasts.*' --owner podcast-analytics
    """
    from vedder.profile import new_cluster
    from vedder.project import load_project
    from vedder.warehouse import open_warehouse

    config = config_for(project)
    loaded = load_project(config)
    warehouse = open_warehouse(config)
    try:
        with _progress_bars(not as_json) as progress:
            created = new_cluster(
                loaded, warehouse, cluster_id, _patterns(tables, ctx.args), owner, title=title, description=description, progress=progress
            )
    finally:
        warehouse.close()
    _warn(created.report.warnings)
    if as_json:
        print_json(created.to_dict())
        return
    _render_report(created.report)
    relative = created.path.relative_to(config.root) if created.path.is_relative_to(config.root) else created.path
    console().print(f"created {relative}/: add vetted pairs under pairs/ and business context under docs/")


def clusters(project: Optional[Path] = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the clusters with their owning team and table, pair and doc counts (a cluster with a broken file, with its problem).

    Example: vedder clusters --json
    """
    from rich.table import Column, Table

    from rich.markup import escape

    from vedder.project import load_project

    rows = load_project(config_for(project), skip_broken=True, lazy=True).summaries()  # listed from the summaries recorded as they loaded
    if as_json:
        print_json(rows)
        return
    widest = max((len(row["id"]) for row in rows), default=2)
    table = Table(Column("id", no_wrap=True, min_width=widest), "title", "team", "tables", "pairs", "docs", box=None)
    for row in rows:
        if "problem" in row:  # left out of answering until its broken file is fixed; the problem follows the table
            table.add_row(row["id"], "[red]not loaded[/red]", escape(row["team"]), "-", "-", "-")
        else:
            table.add_row(row["id"], escape(row["title"]), escape(row["team"]), str(row["tables"]), str(row["pairs"]), str(row["docs"]))
    out = console()
    out.print(table if rows else "no clusters yet: `vedder cluster new ID --tables PATTERN --owner TEAM` creates one")
    broken = [row for row in rows if "problem" in row]
    for row in broken:
        out.print(f"not loaded: {row['id']}: {row['problem']}", markup=False)
    if broken:
        out.print("[dim]hint: fix the file (`vedder validate` lists every problem); until then ask, context and mcp answer without that cluster[/dim]")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command("profile")(profile)
    app.add_typer(cluster_app, name="cluster")
    app.command("clusters")(clusters)
