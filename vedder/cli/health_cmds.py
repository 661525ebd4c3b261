"""``vedder health``: score clusters from live signals; ``--fix`` repairs as a pull request."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from vedder.cli.common import ProjectOption, console, print_json, project_for


class HealthFormat(str, Enum):
    text = "text"
    markdown = "markdown"
    json = "json"


def health(
    clusters: Optional[List[str]] = typer.Argument(None, metavar="CLUSTER", help="Clusters to check (default: all)."),
    output_format: HealthFormat = typer.Option(HealthFormat.text, "--format", "-f", help="text (tables), markdown (PR comments, job summaries) or json."),
    fail_under: Optional[float] = typer.Option(None, "--fail-under", min=0, max=100, help="Exit 1 when a checked cluster scores below this (a cluster's own health.fail_under wins; default: health.fail_under in vedder.yaml)."),
    changed_since: Optional[str] = typer.Option(None, "--changed-since", metavar="REF", help="Check only clusters whose files changed since git REF (a change to vedder.yaml checks all)."),
    fix: bool = typer.Option(False, "--fix", help="Re-profile drifted datasets, rewrite pairs for renamed columns, mark the rest stale — as a pull request."),
    no_pr: bool = typer.Option(False, "--no-pr", help="With --fix: write the repairs to the working tree instead of opening a pull request."),
    project: Optional[Path] = ProjectOption,
) -> None:
    """Score each cluster 0-100 from live signals: pair validity and execution, schema drift, data health,
    coverage, reproducibility and curation freshness."""
    from vedder.errors import UsageError
    from vedder.health import check_health
    from vedder.health.changed import clusters_changed_since
    from vedder.warehouse import open_warehouse

    if no_pr and not fix:
        raise UsageError("--no-pr only goes with --fix", "vedder health --fix --no-pr")
    loaded = project_for(project)
    selected = list(clusters) if clusters else None
    selection = ", ".join(selected) if selected else "all clusters"
    if changed_since:
        changed = clusters_changed_since(loaded.root, changed_since, sorted(loaded.clusters))
        selected = [c for c in changed if c in selected] if selected else changed
        selection = f"clusters changed since {changed_since}"
    if selected == []:
        report, fixed = check_health(loaded, [], selection=selection), None
    else:
        warehouse = open_warehouse(loaded.config)
        try:
            report = check_health(loaded, selected, warehouse=warehouse, fail_under=fail_under, selection=selection)
            if fix:
                from vedder.health.fix import repair

                report, fixed = repair(loaded, report, warehouse, pull_request=not no_pr, fail_under=fail_under)
            else:
                fixed = None
        finally:
            warehouse.close()
    if output_format is HealthFormat.json:
        print_json({**report.to_dict(), **({"fix": fixed} if fixed is not None else {})})
    elif output_format is HealthFormat.markdown:
        typer.echo(_markdown(report), nl=False)
        if fixed is not None and fixed.get("summary"):
            typer.echo(f"\n### vedder health --fix ({fixed['applied']})\n\n{fixed['summary']}", nl=False)
            if fixed["applied"] != "nothing to change":
                typer.echo(f"\n{_health_after(fixed, report)}\n", nl=False)
    else:
        from vedder.health.render import render_text

        render_text(report, console())
        if fixed is not None:
            _print_fix(fixed, report)
    if not report.passed:
        raise typer.Exit(1)


def _markdown(report) -> str:
    from vedder.health.render import render_markdown

    return render_markdown(report)


def _print_fix(fixed: dict, report) -> None:
    out = console()
    out.print(f"[bold]--fix[/]: {len(fixed['reprofiled'])} datasets re-profiled, {len(fixed['repaired'])} pairs rewritten, "
              f"{len(fixed['stale'])} pairs marked stale ({fixed['applied']}).")
    for item in fixed["repaired"]:
        out.print(f"  rewrote {item['cluster']}/{item['pair']}: " + ", ".join(f"{o} → {n}" for o, n in item["renamed"].items()), markup=False)
    for item in fixed["stale"]:
        out.print(f"  stale {item['cluster']}/{item['pair']}: {item['reason']}", markup=False)
    for item in fixed["untouched"]:
        out.print(f"  left for a person: {item}", markup=False)
    pr = fixed.get("pull_request")
    if pr:
        out.print(f"  pull request: {pr.get('url') or pr.get('command')}", markup=False)
        for warning in pr.get("warnings") or []:
            out.print(f"  warning: {warning}", markup=False)
    elif fixed["applied"] == "working tree":
        out.print("  written to the working tree: review with `git diff`, then commit.")
    if fixed["applied"] != "nothing to change":
        out.print("  " + _health_after(fixed, report), markup=False)


def _health_after(fixed: dict, report) -> str:
    """What the report above (and the exit code) describe: the working tree after the repair, or before the pull request."""
    if fixed["applied"] == "pull request":
        return "The health above is the working tree's, unchanged until the pull request merges."
    now = {c.cluster.id: c for c in report.clusters}
    changes = ", ".join(f"{b['cluster']} {_scored(b['score'], b['passed'])} → {_scored(now[b['cluster']].score, now[b['cluster']].passed)}"
                        for b in fixed["before"])
    return f"The health above is after the repair: {changes}."


def _scored(score: float | None, passed: bool) -> str:
    return ("no score" if score is None else f"{score:.1f}") + (" pass" if passed else " FAIL")


def register(app: typer.Typer) -> None:
    """Add ``vedder health`` to ``app``."""
    app.command("health")(health)
