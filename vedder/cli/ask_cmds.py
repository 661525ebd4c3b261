"""Commands for asking: ask, chat, query, feedback, log."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, List, Optional

import typer

from vedder.cli.common import ERROR_DOCUMENTS, JsonOption, ProjectOption, cluster_option, console, print_json, project_for

_CONVERSATION_ID = re.compile(r"^[0-9a-f]{10}$")
SHOWN_CHARS = 300  # of one value in a table on the terminal (--json has it whole)


def render_table(columns: list[str], rows: list[list[Any]], title: str | None = None, limit: int = 20):
    from rich.table import Table
    from rich.text import Text

    from vedder.warehouse import readable

    # Text, not strings: a value or a column name is never read as rich markup ('[/x]' raised MarkupError).
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(Text(str(column)))
    for row in rows[:limit]:
        table.add_row(*[Text(readable(v, SHOWN_CHARS)) for v in row])
    if len(rows) > limit:
        from rich.console import Group

        more = len(rows) - limit
        # Under the table, not as its caption: a caption wraps to the width of a narrow table.
        return Group(table, Text(f"{more} more row{'s' if more > 1 else ''} (use --json for all)", style="dim"))
    return table


def render_answer(answer, verbose: bool = False, error: bool = False, asks_back: bool = False) -> None:
    """Answer, table, SQL, sources and footer; a failed answer goes to stderr, like every error. ``asks_back``: the
    surface asks which cluster a tie means, so the hint to rerun with --cluster is left out."""
    from rich.markup import escape

    from vedder.cli.highlight import highlight_sql

    out = console(stderr=error)
    if verbose:
        for index, step in enumerate(answer.steps, 1):
            out.print(f"[bold]step {index}[/bold]")
            for key, value in step.items():
                if value not in (None, "", [], {}):
                    text = value if isinstance(value, str) else repr(value)
                    out.print(f"  [dim]{key}:[/dim] " + escape(text[:600]))
    label = {"answered": "[green]answered[/green]", "not_covered": "[yellow]not covered[/yellow]"}.get(answer.status, "[red]error[/red]")
    headline = answer.answer
    if answer.status == "error" and answer.error and answer.error not in headline:
        headline = answer.error + (f"\n{answer.answer}" if answer.answer else "")
    failed, other_caveats = [], answer.caveats
    if answer.checks:  # only a model's answer has checks: an offline answer does not load the agent package
        from vedder.agent.checks import failed_first

        failed, other_caveats = failed_first(answer.caveats, answer.checks)
    if failed:  # a model's answer that failed a check: the reader sees what failed before its confident words
        out.print(f"{label}  [yellow]{len(failed)} check{'s' * (len(failed) > 1)} failed: read before the answer[/yellow]")
        for detail in failed:
            out.print("[yellow]check failed:[/yellow] " + escape(detail))
        out.print(escape(headline))
    else:
        out.print(f"{label}  " + escape(headline))
    for caveat in other_caveats:  # a model's answer: who wrote it, what was checked
        out.print("[yellow]caveat:[/yellow] " + escape(caveat))
    if answer.rows or answer.columns:
        out.print(render_table(answer.columns, answer.rows))
    if answer.truncated:
        out.print(f"[yellow]only the first {len(answer.rows):,} rows: the result was cut at query.row_limit[/yellow] "
                  "[dim](raise it in vedder.yaml for the whole result)[/dim]")
    if answer.sql:
        out.print(highlight_sql(answer.sql))
    if answer.cluster and answer.owners:
        line = f"cluster {answer.cluster} (owned by {answer.owners['team']})"
        if answer.sources:
            line += " · sources: " + ", ".join(f"{s['kind']} {s['id']}" for s in answer.sources)
        if answer.routing_note:
            line += f" · {answer.routing_note}"
        out.print(escape(line), style="dim")
    for item in answer.closest:
        if "pair" in item:
            continue  # the answer's text already lists the closest pairs with their questions
        out.print("[dim]  closest: " + escape(", ".join(f"{k} {v}" for k, v in item.items() if v is not None)) + "[/dim]")
    if answer.hint and not (asks_back and answer.ambiguous):  # chat asks which cluster instead
        out.print("[dim]hint: " + escape(answer.hint) + "[/dim]")
    footer = f"model {answer.model} · {answer.latency_s:.2f} s"
    if answer.tokens:
        footer += f" · {answer.tokens} tokens · ${answer.cost:.4f}"
    if answer.conversation_id:
        footer += f" · conversation {answer.conversation_id} (vedder feedback {answer.conversation_id} up|down)"
    out.print(f"[dim]{footer}[/dim]", soft_wrap=True)  # the command in it is never broken over lines


def warn_not_logged(answer) -> bool:
    """Say on stderr that the turn is not in the conversation log (the answer stands); whether it said so."""
    if answer.not_logged is None:
        return False
    typer.echo(f"warning: this conversation was not logged: {answer.not_logged.message}", err=True)
    typer.echo(f"hint: {answer.not_logged.hint}", err=True)
    return True


def ask(
    words: List[str] = typer.Argument(..., help="The question (with --continue, optionally preceded by a conversation id)."),
    cluster: Optional[str] = cluster_option("Skip routing and use this cluster."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string, or 'offline' (default: VEDDER_MODEL or vedder.yaml)."),
    follow_up: bool = typer.Option(False, "--continue", help="Continue a conversation: your last one, or the id given before the question."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each step of the agent."),
    json_output: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Ask a question in plain English; get the answer with its SQL and sources.

    Example: vedder ask "What were the top 5 tracks in Sweden in October 2026?"
    """
    from vedder.ask import ask as ask_question

    continue_id = None
    if follow_up and len(words) > 1 and _CONVERSATION_ID.match(words[0]):
        continue_id, words = words[0], words[1:]
    answer = ask_question(project_for(project, skip_broken=True, cluster=cluster), " ".join(words), cluster_id=cluster, model=model,
                          continue_id=continue_id, follow_up=follow_up)
    if json_output:
        print_json({**answer.to_dict(), **({"exit_code": answer.exit_code or 1} if answer.status == "error" else {})})
    elif answer.status == "error":
        render_answer(answer, verbose, error=True)
    else:
        render_answer(answer, verbose)
    warn_not_logged(answer)
    if answer.status == "error":
        raise typer.Exit(answer.exit_code or 1)


def chat(
    cluster: Optional[str] = cluster_option("Skip routing and use this cluster."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="litellm model string, or 'offline'."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show each step of the agent."),
    project: Optional[Path] = ProjectOption,
) -> None:
    """Interactive session: each question is a follow-up of the last. Type :up / :down to rate, :quit to leave.

    Example: vedder chat
    """
    from rich.markup import escape

    from vedder.ask import ask as ask_question
    from vedder.cli.common import require_usable
    from vedder.errors import VedderError
    from vedder.log.store import open_log
    from vedder.serving import ProjectWatcher

    watcher = ProjectWatcher(project)  # an edit to the project's files is seen by the next question, as in web and MCP
    started = watcher.loaded  # as the watcher just loaded it: each current() stats every file of the project
    require_usable(started, cluster)
    if cluster:
        started.cluster(cluster)  # an unknown id fails now, not at every question
    out = console()
    out.print("[dim]vedder chat — ask a question; :up / :down rate the last answer, :new starts over, :quit leaves[/dim]")
    conversation_id, warned, typed = None, False, None
    while True:
        try:
            line = typed if typed is not None else input("? ").strip()
        except EOFError:
            break
        typed = None
        if not line:
            continue
        if line in (":quit", ":q", "exit", "quit"):
            break
        if line == ":new":
            conversation_id = None
            continue
        if line in (":up", ":down"):
            if conversation_id:
                log = open_log(watcher.current().config)
                log.feedback(conversation_id, line[1:])
                log.close()
                out.print("[dim]thanks, recorded[/dim]")
            else:
                out.print("[dim]nothing to rate yet: ask a question first[/dim]")
            continue
        pick = cluster
        while True:  # twice at most: a tie asks which cluster is meant, then asks there (never a tie: the cluster is given)
            try:
                answer = ask_question(watcher.current(), line, cluster_id=pick, model=model, continue_id=conversation_id,
                                      surface="chat")
            except VedderError as exc:
                out.print("[red]error:[/red] " + escape(exc.message) + (f"\n[dim]hint: {escape(exc.hint)}[/dim]" if exc.hint else ""))
                break
            render_answer(answer, verbose, asks_back=True)
            warned = warned or warn_not_logged(answer)
            conversation_id = answer.conversation_id or conversation_id
            pick, typed = _pick_cluster(answer) if answer.ambiguous else (None, None)
            if not pick:
                break


def _pick_cluster(answer) -> tuple[str | None, str | None]:
    """Ask which of the near-equal clusters the person means (vedder does not guess): the cluster picked, by its
    number, id or in words ("the listening one", as in Slack), and otherwise what they typed, which is their next
    question (None for Enter). The answer in the chosen cluster is logged as their choice, so route memory settles
    the tie next time."""
    from vedder.slack import chosen_cluster, tie_clusters

    choices = tie_clusters(answer.to_dict())
    menu = "  ".join(f"[{n}] {cid}" for n, cid in enumerate(choices, 1))
    try:
        reply = input(f"which one? {menu} (Enter: neither) ").strip()
    except EOFError:
        return None, None
    picked = chosen_cluster(reply, choices)
    return picked, None if picked or not reply else reply


def query(
    sql: str = typer.Argument(..., help="One read-only SQL query."),
    cluster: Optional[str] = cluster_option("Run within this cluster's tables (default: the cluster that covers them)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, max=1_000_000, help="Row cap (default query.row_limit, 1000)."),
    json_output: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Run SQL through the guard on one cluster's tables.

    Example: vedder query "SELECT country, count(*) FROM listening.users GROUP BY 1" --cluster listening
    """
    from vedder.sql.run import run_sql
    from vedder.warehouse import open_warehouse

    loaded = project_for(project, skip_broken=True, cluster=cluster)
    chosen = loaded.cluster(cluster) if cluster else None
    with open_warehouse(loaded.config) as warehouse:
        guarded, result = run_sql(sql, project=loaded, warehouse=warehouse, cluster=chosen, limit=limit)
    if json_output:
        print_json({"sql": guarded.sql, "tables": guarded.tables, **result.to_dict()})
        return
    out = console()
    out.print(render_table(result.columns, [list(r) for r in result.rows], limit=limit or 50))
    more = " (truncated: raise --limit)" if result.truncated else ""
    rows = f"{len(result.rows)} row" + ("" if len(result.rows) == 1 else "s")
    out.print(f"[dim]{rows}{more} · {result.elapsed_s:.3f} s[/dim]")


def feedback(
    conversation_id: str = typer.Argument(..., help="Conversation id (printed after each answer)."),
    rating: str = typer.Argument(..., help="up or down."),
    comment: Optional[str] = typer.Option(None, "--comment", help="What was right or wrong."),
    project: Optional[Path] = ProjectOption,
) -> None:
    """Rate an answer up or down; owners see it in `vedder log` and `vedder health`.

    Example: vedder feedback 3f9a1c2b7d down --comment "should exclude test users"
    """
    from vedder.config import load_config
    from vedder.log.store import open_log

    log = open_log(load_config(project))
    log.feedback(conversation_id, rating.lower(), comment)
    log.close()
    typer.echo(f"recorded {rating.lower()} for conversation {conversation_id}")


def log(
    cluster: Optional[str] = cluster_option("Only this cluster."),
    since: Optional[str] = typer.Option(None, "--since", help="7d, 12h, 30m or an ISO date."),
    limit: int = typer.Option(50, "--limit", min=1, max=1_000_000, help="At most this many turns."),
    json_output: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Show what was asked, how it was answered and rated.

    Example: vedder log --cluster listening --since 7d
    """
    from vedder.config import load_config
    from vedder.log.store import open_log, parse_since

    store = open_log(load_config(project))
    entries = store.entries(cluster=cluster, since=parse_since(since) if since is not None else None, limit=limit)
    store.close()
    if cluster and not entries:
        project_for(project, skip_broken=True, cluster=cluster).cluster(cluster)  # an unknown id (a typo) says so instead of showing an empty log
    if json_output:
        print_json(entries)
        return
    from rich.markup import escape

    out = console()
    if not entries:
        out.print("[dim]nothing logged" + (f" for cluster {escape(cluster)}" if cluster else "") + (" in that period" if since else "") + "[/dim]")
    # Two lines per turn, not a table: the conversation id (for `vedder feedback`) and the time are never cut,
    # and the question wraps at any terminal width.
    for e in entries:
        rated = f"  rated {e['feedback']}" if e["feedback"] else ""
        chosen = f" ({e['cluster_source']})" if e["cluster"] and e.get("cluster_source") else ""  # given, routed, memory, …
        out.print(f"[dim]{e['created_at'][:16].replace('T', ' ')}[/dim]  [bold]{e['conversation_id']}[/bold]  "
                  + escape(f"{e['cluster'] or '-'}{chosen}  {e['status']}  {e['user']}{rated}"))
        out.print("  " + escape(e["question"]))


def _error_answer(params: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """``ask --json`` failing before there is an answer (unknown cluster, no warehouse): still an answer
    document (schemas/answer.schema.json), with status ``error``."""
    from vedder.ask import Answer

    answer = Answer(status="error", question=" ".join(params.get("words") or []), answer=error["error"],
                    model=params.get("model") or "", error=error["error"], hint=error["hint"])
    return {**answer.to_dict(), "exit_code": error["exit_code"]}


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    for command in (ask, chat, query, feedback, log):
        app.command()(command)
    ERROR_DOCUMENTS["ask"] = _error_answer
