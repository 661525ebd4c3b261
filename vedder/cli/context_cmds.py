"""Commands for routing and context: ``vedder context`` (what the model would see) and ``vedder eval``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from vedder.cli.common import JsonOption, ProjectOption, cluster_option, console, print_json, project_for
from vedder.warehouse import json_safe


def context(
    question: str = typer.Argument(..., help="The question to route and build a context for."),
    cluster: Optional[str] = cluster_option("Skip routing and use this cluster."),
    budget: Optional[int] = typer.Option(None, "--budget", min=100, help="Token budget (default: context.token_budget, 6000)."),
    as_json: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Show exactly what the model would see for QUESTION, with routing scores and the token count."""
    from vedder.context import build_context, route, route_with_memory

    loaded = project_for(project, skip_broken=True, cluster=cluster)
    routing = route(loaded, question) if cluster else route_with_memory(loaded, question)
    chosen = loaded.cluster(cluster) if cluster else routing.cluster
    if chosen is None:
        if as_json:
            print_json({**routing.to_dict(), "question": question, "tables": [], "pairs": [], "docs": [], "tokens": 0, "text": "",
                        "warnings": loaded.warnings})
            return
        out = console()
        if routing.not_loaded:
            out.print("[yellow]not covered[/yellow]: this question is for " + ", ".join(b.id for b in routing.not_loaded)
                      + ", not loaded for a broken file (below); no other cluster answers it")
        else:
            out.print(f"[yellow]not covered[/yellow]: no cluster covers this question (coverage {routing.coverage:.0%}; unknown words: {', '.join(routing.unknown_words) or 'none'})")
        for item in routing.closest:
            out.print(f"  closest: {item.id} (owned by {item.owners.team or 'no team'}{', ' + item.owners.contact if item.owners.contact else ''})")
        for broken in loaded.broken.values():
            out.print(f"  not loaded: {broken.id} (owned by {broken.team or 'no team'}): {broken.problem}" if broken.id in {b.id for b in routing.not_loaded}
                      else f"  not loaded: {broken.id} (a file is broken; `vedder validate` names it)", markup=False)
        return
    result = build_context(loaded, chosen, question, budget=budget)
    result.routing = routing
    if as_json:
        data = result.to_dict()
        data["cluster"] = chosen.id
        data["warnings"] = loaded.warnings
        print_json(data)
        return
    out = console()
    scores = ", ".join(f"{cid} {score:.2f}" for cid, score in routing.scores[:3])
    out.print(f"[bold]cluster[/bold] {chosen.id}{' (given)' if cluster else ''} · routing: {scores}")
    if routing.ambiguous and not cluster:
        teams = ", ".join(f"{c.id} ({c.owners.team or 'no team'})" for c in routing.candidates)
        out.print(f"[yellow]ambiguous[/yellow]: {teams} fit about equally well (margin {routing.margin:.0%}); offline `vedder ask` abstains, pick one with --cluster")
    if routing.memory and not cluster:
        out.print(f"[green]remembered[/green]: {routing.memory.note} (routing alone was a tie: {', '.join(c.id for c in routing.candidates)})")
    out.print("[bold]tables[/bold] " + ", ".join(f"{t} {s:.2f}" for t, s in result.table_scores if t in result.tables))
    out.print("[bold]pairs[/bold] " + (", ".join(f"{p.id} {s:.2f}" for p, s in result.pairs) or "none"))
    out.print("[bold]docs[/bold] " + (", ".join(f"{d.id} {s:.2f}" for d, s in result.docs) or "none"))
    out.print(f"[bold]tokens[/bold] {result.tokens} of {result.budget} (estimated as characters / 4)")
    out.rule()
    sys.stdout.write(result.text)


def eval_command(
    file: Path = typer.Argument(..., help="JSONL file: one {question, sql?, cluster?} per line."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string, or 'offline' (default: the project's)."),
    given_cluster: bool = typer.Option(False, "--given-cluster", help="Pass each item's cluster to ask (skip routing)."),
    memory: bool = typer.Option(False, "--memory", help="Let earlier answers in your conversation log settle tied routings (off: reproducible numbers)."),
    as_json: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Ask every question of FILE in one process and score routing and answers against the gold SQL."""
    from rich.progress import Progress

    from vedder.eval import load_eval_file, run_eval

    loaded = project_for(project, skip_broken=True)
    items = load_eval_file(file)
    out = console()
    with Progress(console=console_err(), transient=True, disable=not sys.stderr.isatty()) as progress:
        task = progress.add_task("evaluating", total=len(items))

        def on_item(result) -> None:
            progress.advance(task)
            if as_json:
                sys.stdout.write(json.dumps(json_safe(result.to_dict()), ensure_ascii=False) + "\n")
            else:
                mark = {True: "✓", False: "✗", None: "·"}[result.correct]
                line = f"{mark} {result.status:<11} {result.predicted_cluster or '-':<20} {result.latency_s:6.3f}s {result.tokens:>5}t  {result.question}"
                if result.failed_checks:  # shown to the asker as caveats: the answer may be wrong
                    line += f"  [checks failed: {', '.join(result.failed_checks)}]"
                if result.sql:
                    line += "\n    " + " ".join(result.sql.split())
                out.print(line, markup=False, highlight=False)

        report = run_eval(loaded, items, model=model, given_cluster=given_cluster, on_item=on_item, memory=memory)
    if as_json:
        sys.stdout.write(json.dumps({"summary": report.summary, "warnings": loaded.warnings}) + "\n")
        return
    out.rule("summary")
    for key, value in report.summary.items():
        out.print(f"{key:<20} {value}", markup=False, highlight=False)


def console_err():
    from rich.console import Console

    return Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command("context")(context)
    app.command("eval")(eval_command)
