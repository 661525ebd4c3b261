"""Rendering a health report: rich tables for people, Markdown for PR comments and job summaries.

JSON is ``HealthReport.to_dict()`` (a cluster's ``fails`` lists why the gate fails it whatever its score). Text and Markdown show at most ``PROBLEMS_SHOWN`` problems per
cluster (JSON has them all).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from vedder.health.check import ClusterHealth, HealthReport
    from vedder.health.signals import Signal

PROBLEMS_SHOWN = 10


def _value(signal: "Signal") -> str:
    return "skipped" if signal.value is None else f"{signal.value:.0%}"


def _score(health: "ClusterHealth") -> str:
    return "n/a" if health.score is None else f"{health.score:g}"


def _verdict(health: "ClusterHealth") -> str:
    return "pass" if health.passed else "FAIL"


def _fails(health: "ClusterHealth") -> str:
    """Why the gate fails ``health`` whatever its score ("fails: 4 broken pairs"), or ""."""
    return f"fails: {'; '.join(health.failures)}" if health.failures else ""


def _problems(health: "ClusterHealth") -> list[str]:
    return [p.message for s in health.signals for p in s.problems]


def render_text(report: "HealthReport", console: "Console") -> None:
    """One table per cluster (signals, values, weights), then problems, actions and the owners' dashboard."""
    from rich.markup import escape
    from rich.table import Table

    if not report.clusters:
        console.print(f"No clusters to check ({report.selection}).")
        return
    for health in report.clusters:
        cluster = health.cluster
        style = "green" if health.passed else "bold red"
        fails = f" — {_fails(health)}" if health.failures else ""
        title = (f"{cluster.id} — score [{style}]{_score(health)}[/] (threshold {health.fail_under:g}, "
                 f"[{style}]{_verdict(health)}{escape(fails)}[/]) · owners: {cluster.owners.team or 'nobody'}")
        table = Table(title=title, title_justify="left", show_lines=False)
        table.add_column("signal")
        table.add_column("value", justify="right")
        table.add_column("weight", justify="right")
        table.add_column("details")
        for signal in health.signals:
            weight = f"{signal.weight:.2f}" if signal.value is not None else "—"
            table.add_row(signal.title, _value(signal), weight, escape(signal.summary), style="dim" if signal.value is None else None)
        console.print(table)
        problems = _problems(health)
        for message in problems[:PROBLEMS_SHOWN]:
            console.print(f"  [red]•[/] {escape(message)}")
        if len(problems) > PROBLEMS_SHOWN:
            console.print(f"  … and {len(problems) - PROBLEMS_SHOWN} more (--format json lists them all)")
        for number, action in enumerate(health.actions, 1):
            console.print(f"  [bold]{number}.[/] {escape(action)}")
        if health.uncovered:
            console.print("  Top uncovered questions:")
            for item in health.uncovered:
                console.print(f"    {item['count']}× {item['question']}", markup=False)
        if health.negative_feedback:
            console.print("  Recent negative feedback:")
            for item in health.negative_feedback:
                comment = f" — {item['comment']}" if item.get("comment") else ""
                console.print(f"    {item['question']}{comment}", markup=False)
        console.print()
    failing = report.failing
    if failing:
        console.print(f"[bold red]{len(failing)} of {len(report.clusters)} clusters fail the check:[/] "
                      + escape(", ".join(c.cluster.id + (f" ({_fails(c)})" if c.failures else " (below threshold)") for c in failing)))
    else:
        console.print(f"[green]All {len(report.clusters)} clusters at or above their threshold.[/]")


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: "HealthReport") -> str:
    """Markdown for a PR comment or ``$GITHUB_STEP_SUMMARY``: a summary table, then a section per cluster."""
    lines = ["## vedder health", ""]
    if not report.clusters:
        return "\n".join([*lines, f"No clusters to check ({report.selection}).", ""])
    lines += ["| cluster | owners | score | threshold | result |", "|---|---|---:|---:|---|"]
    for health in report.clusters:
        mark = "✅ pass" if health.passed else "❌ **fail**" + (f" ({_fails(health)})" if health.failures else "")
        lines.append(f"| {_cell(health.cluster.id)} | {_cell(health.cluster.owners.team)} | {_score(health)} | {health.fail_under:g} | {mark} |")
    for health in report.clusters:
        fails = f", {_fails(health)}" if health.failures else ""
        lines += ["", f"### {_cell(health.cluster.id)}: {_score(health)} ({_verdict(health)}, threshold {health.fail_under:g}{_cell(fails)})", "",
                  "| signal | value | weight | details |", "|---|---:|---:|---|"]
        for signal in health.signals:
            weight = f"{signal.weight:.2f}" if signal.value is not None else "—"
            lines.append(f"| {signal.title} | {_value(signal)} | {weight} | {_cell(signal.summary)} |")
        problems = _problems(health)
        if problems:
            lines += ["", "**Problems**", ""]
            lines += [f"- {_cell(m)}" for m in problems[:PROBLEMS_SHOWN]]
            if len(problems) > PROBLEMS_SHOWN:
                lines.append(f"- … and {len(problems) - PROBLEMS_SHOWN} more (`vedder health --format json`)")
        if health.actions:
            lines += ["", "**Actions**", ""] + [f"{n}. {_cell(a)}" for n, a in enumerate(health.actions, 1)]
        if health.uncovered:
            lines += ["", "**Top uncovered questions**", ""] + [f"- {i['count']}× {_cell(i['question'])}" for i in health.uncovered]
        if health.negative_feedback:
            lines += ["", "**Recent negative feedback**", ""]
            lines += [f"- {_cell(i['question'])}" + (f" — {_cell(i['comment'])}" if i.get("comment") else "") for i in health.negative_feedback]
    return "\n".join(lines) + "\n"
