"""Curation commands: ``vedder propose`` and ``vedder review`` (see vedder/curation/)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from vedder.cli.common import JsonOption, ProjectOption, console, print_json, project_for

NoPrOption = typer.Option(False, "--no-pr", help="Write the files into the working tree instead of opening a pull request.")


def register(app: typer.Typer) -> None:
    """Add this area's commands to ``app``."""
    app.command("propose")(propose_command)
    app.command("review")(review_command)


def propose_command(
    cluster: str = typer.Argument(..., help="Cluster to mine proposals for."),
    history: Optional[Path] = typer.Option(None, "--history", help="Query history file: JSONL or CSV with query, user, started_at (status, error, duration_ms, rows optional)."),
    history_sql: Optional[str] = typer.Option(None, "--history-sql", help="Read the history from the warehouse with this SELECT instead."),
    limit: int = typer.Option(20, "--limit", min=1, help="At most this many proposals."),
    min_users: int = typer.Option(2, "--min-users", min=1, help="Propose only patterns run by at least this many people."),
    min_runs: int = typer.Option(3, "--min-runs", min=1, help="Propose only patterns run at least this many times."),
    model: Optional[str] = typer.Option(None, "--model", help="Model that words the questions (default: vedder.yaml; offline describes the SQL)."),
    no_pr: bool = NoPrOption,
    json_output: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Mine query history for recurring patterns and propose them as pairs, in a pull request."""
    from vedder.curation.history import read_history, read_history_sql
    from vedder.curation.propose import propose, pull_request_text
    from vedder.curation.publish import publish
    from vedder.errors import UsageError

    if (history is None) == (history_sql is None):
        raise UsageError("give exactly one of --history FILE or --history-sql SQL", "e.g. vedder propose listening --history history/queries.jsonl")
    loaded = project_for(project)
    target = loaded.cluster(cluster)
    entries = read_history(history) if history is not None else read_history_sql(loaded, history_sql, target)
    if json_output:
        result = propose(loaded, target.id, entries, limit=limit, min_users=min_users, min_runs=min_runs, model=model)
    else:
        from rich.progress import Progress

        with Progress(transient=True, console=console()) as progress:
            task = progress.add_task("mining history", total=len(entries))
            result = propose(loaded, target.id, entries, limit=limit, min_users=min_users, min_runs=min_runs, model=model,
                             on_entry=lambda: progress.advance(task))
    pull_request = None
    if result.changes:
        title, body = pull_request_text(result)
        pull_request = publish(loaded, target, result.changes, command="propose", title=title, body=body, no_pr=no_pr)
    if json_output:
        print_json({**result.to_dict(), "pull_request": pull_request.to_dict() if pull_request else None})
        return
    typer.echo("\n".join(result.funnel.lines()))
    for draft in result.proposals:
        typer.echo(f"{draft.id}  {draft.provenance['users']} users, {draft.provenance['runs']} runs  {draft.question}")
    if not result.proposals:
        typer.echo("nothing new to propose")
    _report_output(pull_request, list(result.changes), no_pr)


def _report_output(pull_request, written: list[str], no_pr: bool) -> None:
    if no_pr:
        for path in written:
            typer.echo(f"wrote {path}")
    elif pull_request is not None:
        for warning in pull_request.warnings:
            typer.echo(f"warning: {warning}", err=True)
        if pull_request.url:
            typer.echo(f"pull request: {pull_request.url} (branch {pull_request.branch})")
        else:
            typer.echo(f"pushed branch {pull_request.branch}; open the pull request with:\n{pull_request.command}")


def review_command(
    targets: Optional[List[str]] = typer.Argument(None, metavar="[CLUSTER] [ID]...", help="[CLUSTER] then proposal ids (for --accept/--reject)."),
    accept_ids: bool = typer.Option(False, "--accept", help="Accept the proposals given by id."),
    reject_ids: bool = typer.Option(False, "--reject", help="Reject the proposals given by id (needs --reason)."),
    reason: str = typer.Option("", "--reason", help="Why the proposals are rejected."),
    list_only: bool = typer.Option(False, "--list", help="List the proposals awaiting review."),
    no_pr: bool = NoPrOption,
    json_output: bool = JsonOption,
    project: Optional[Path] = ProjectOption,
) -> None:
    """Accept, edit or reject proposed pairs; the decisions go out as one pull request per cluster."""
    from vedder.curation import review
    from vedder.errors import UsageError

    loaded = project_for(project)
    targets = list(targets or [])
    if targets and (targets[0] in loaded.clusters or not _looks_like_proposal(loaded, targets[0])):
        cluster = loaded.cluster(targets.pop(0))  # an unknown or mistyped cluster says so
    else:
        cluster = None
    if accept_ids and reject_ids:
        raise UsageError("choose --accept or --reject, not both")
    if (accept_ids or reject_ids) != bool(targets):
        raise UsageError("proposal ids go with --accept or --reject" if targets else "--accept/--reject need proposal ids",
                         "e.g. vedder review listening --accept 9c436f1b 77ab01cc")
    clusters = [cluster] if cluster else sorted(loaded.clusters.values(), key=lambda c: c.id)
    states = None if no_pr else {c.id: review.ReviewState.load(loaded, c) for c in clusters}
    if list_only:
        rows = [{"id": p.id, "cluster": c.id, "question": p.question, "score": p.score, "sql": p.sql, "provenance": p.provenance}
                for c in clusters for p in review.pending(loaded, c, states[c.id] if states else None)]
        if json_output:
            print_json(rows)
            if not rows:  # the list stays a list; where the proposals wait goes to stderr
                _waiting_elsewhere(loaded, clusters, err=True)
        else:
            for row in rows:
                typer.echo(f"{row['id']}  {row['cluster']}  {row['provenance'].get('users', '?')} users  {row['question']}")
            if not rows:
                typer.echo("no proposals awaiting review")
                _waiting_elsewhere(loaded, clusters)
        return
    if targets:
        decisions = review.decide_many(loaded, targets, cluster=cluster, action="accept" if accept_ids else "reject", reason=reason, states=states)
    else:
        decisions = []
        if not any(review.pending(loaded, c, states[c.id] if states else None) or (states and states[c.id].decisions) for c in clusters):
            _waiting_elsewhere(loaded, clusters)
        for each in clusters:
            finished = _interactive(loaded, each, decisions, states[each.id] if states else None)
            if not finished:
                break
    touched = sorted({d.cluster for d in decisions} | {c for c, state in (states or {}).items() if state.decisions}
                     | ({cluster.id} if cluster else set()))
    summary = []
    for cluster_id in touched:
        each, state = loaded.clusters[cluster_id], (states or {}).get(cluster_id)
        accepted, rejected, rate = review.acceptance_rate(each, state)
        if not json_output:
            share = f"{rate:.0%}" if rate is not None else "n/a"
            typer.echo(f"{each.id}: {accepted} accepted, {rejected} rejected so far (acceptance rate {share})")
        pull_request = review.publish_decisions(loaded, each, state) if state is not None else None
        summary.append({"cluster": each.id, "accepted": accepted, "rejected": rejected, "acceptance_rate": rate,
                        "pull_request": pull_request.to_dict() if pull_request else None})
        if not json_output:
            _report_output(pull_request, [], no_pr)
    if json_output:
        print_json({"decisions": [d.to_dict() for d in decisions], "clusters": summary})


def _waiting_elsewhere(project, clusters: list, err: bool = False) -> None:
    """Where proposals wait when none are here: propose pull requests not merged here yet."""
    from vedder.curation import review

    for branch, count in review.waiting_in_pull_requests(project, clusters).items():
        typer.echo(f"{'note:' if err else ' '} {count} proposal(s) wait in branch {branch}, a `vedder propose` pull request "
                   "not merged here yet: merge it, then run `vedder review` again", err=err)


def _looks_like_proposal(project, word: str) -> bool:
    """Whether ``word`` can be a proposal id: one on disk, or shaped like the ids propose gives (hex)."""
    import re

    from vedder.project.model import load_proposals

    return bool(re.fullmatch(r"[0-9a-f]{6,16}", word)) or any(
        p.id == word for c in project.clusters.values() for p in load_proposals(c))


def _interactive(project, cluster, decisions: list, state) -> bool:
    """Walk ``cluster``'s proposals with prompts, each decision recorded in ``state`` (or, with None, in the
    working tree); False when the reviewer quits."""
    from vedder.curation import review
    from vedder.errors import VedderError
    from vedder.warehouse import open_warehouse

    if state is not None and state.decisions:
        typer.echo(f"{len(state.decisions)} decision(s) on {cluster.id} from an earlier review are not in a pull request yet")
        if typer.confirm("publish them now?", default=True):
            _report_output(review.publish_decisions(project, cluster, state), [], False)
    items = review.pending(project, cluster, state, clean_up=state is None)
    if not items:
        return True
    out, unavailable = console(), ""
    try:
        warehouse = open_warehouse(project.config)
    except VedderError as exc:
        warehouse, unavailable = None, exc.message
    try:
        for index, proposal in enumerate(items, start=1):
            view = review.view_proposal(project, cluster, proposal, warehouse, unavailable=unavailable)
            _show(out, view, index, len(items))
            while True:
                try:
                    key = typer.prompt("[a]ccept  [e]dit  [r]eject  [s]kip  [q]uit").strip().lower()
                    if key not in ("a", "e", "r", "s", "q"):
                        typer.echo("type a, e, r, s or q")
                        continue
                    if key == "q":
                        return False
                    if key == "s":
                        break
                    if key == "r":
                        reason = typer.prompt("reason")
                        decisions.append(review.reject(project, cluster, proposal, reason, state=state))
                        break
                    question, sql = None, None  # accepted as proposed: its question without the reviewer's notes
                    if key == "e":
                        question = typer.prompt("question", default=review.without_notes(proposal.question))
                        if typer.confirm("edit the SQL in $EDITOR?", default=False):
                            sql = _edit(proposal.sql) or proposal.sql
                    decisions.append(review.accept(project, cluster, proposal, question=question, sql=sql, state=state))
                    typer.echo(f"accepted → {decisions[-1].path}")
                    break
                except VedderError as exc:
                    typer.echo(f"error: {exc.message}", err=True)
        return True
    except typer.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            raise  # Ctrl-C: `interrupted`, exit 130; the decisions so far are on disk already
        return False
    finally:
        if warehouse is not None:
            warehouse.close()


def _edit(text: str) -> str:
    """``text`` after the user edited it in $VISUAL / $EDITOR (vi when neither is set)."""
    import os
    import shlex
    import subprocess
    import tempfile

    from vedder.errors import UsageError

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="vedder-edit-") as folder:
        path = Path(folder) / "proposal.sql"
        path.write_text(text, encoding="utf-8")
        try:
            status = subprocess.run([*shlex.split(editor), str(path)], check=False).returncode
        except OSError as exc:
            raise UsageError(f"cannot start the editor `{editor}`: {exc.strerror}", "set EDITOR to an editor command") from None
        if status != 0:
            raise UsageError(f"the editor `{editor}` exited with status {status}", "save and quit the editor normally, or skip the SQL edit")
        return path.read_text(encoding="utf-8").strip()


def _show(out, view, index: int, total: int) -> None:
    """Render a ``review.ProposalView``."""
    from vedder.cli.ask_cmds import render_table
    from vedder.cli.highlight import highlight_sql

    out.rule(f"{index}/{total}  {view.cluster}  proposal {view.proposal.id}")
    out.print(view.proposal.question, markup=False)
    out.print(highlight_sql(view.proposal.sql))
    out.print(view.provenance, markup=False)
    if view.preview is not None:
        out.print(render_table(view.preview.columns, view.preview.rows))
    else:
        typer.echo(view.preview_error)
    if view.similar:
        pair, score = view.similar
        typer.echo(f"resembles pair {pair.id} ({score:.0%}): {pair.question}")
