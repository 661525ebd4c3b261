"""Answering a question: route, then answer offline from vetted pairs or through the agent; log it.

Every surface (CLI, chat, MCP, eval) calls ``ask``. The offline path never imports litellm.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from vedder.config import OFFLINE
from vedder.errors import LogError, SQLExecutionError, UsageError, VedderError

if TYPE_CHECKING:
    from datetime import date

    from vedder.project import Cluster, Project
    from vedder.warehouse import QueryResult, Warehouse

OFFLINE_HINT = "set `model:` in vedder.yaml, VEDDER_MODEL or --model to any litellm model (e.g. gpt-4o-mini, ollama_chat/llama3.1) to let the agent answer"


@dataclass
class Answer:
    """What ``vedder ask --json`` prints; schemas/answer.schema.json documents it."""

    status: str
    question: str
    cluster: str | None = None
    answer: str = ""
    sql: str | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    model: str = "offline"
    steps: list[dict[str, Any]] = field(default_factory=list)
    conversation_id: str | None = None
    tokens: int = 0
    cost: float = 0.0
    latency_s: float = 0.0
    owners: dict[str, Any] | None = None
    routing: list[dict[str, Any]] = field(default_factory=list)
    routing_note: str | None = None
    """Why the question went to its cluster when plain routing did not decide it (route memory)."""
    closest: list[dict[str, Any]] = field(default_factory=list)
    ambiguous: bool = False
    """Not covered because several clusters fit the question about equally well (``closest`` names them): vedder does
    not guess; a surface may ask which one is meant and ask again with it as the cluster."""
    truncated: bool = False
    error: str | None = None
    hint: str | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    """Clusters left out for a broken file (``Project.warnings``): the answer stands without them."""
    vetted: bool = False
    """The answer is a vetted pair's (its SQL as an expert approved it, or with literals adapted), not a model's."""
    caveats: list[str] = field(default_factory=list)
    """Shown under the answer: who wrote a model's answer and what vedder checked, then each check that failed."""
    checks: list[dict[str, Any]] = field(default_factory=list)
    """The checks of a model's answer (vedder.agent.checks): ``{check, passed, detail}``."""
    exit_code: int = field(default=0, repr=False)
    not_logged: LogError | None = field(default=None, repr=False)
    """Why the turn is not in the conversation log: the answer stands, surfaces warn about it."""
    turn_id: str | None = field(default=None, repr=False)
    """The logged turn's id, for ``ConversationLog.feedback(turn_id=…)`` (a Slack reaction rates one answer)."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["exit_code"], data["not_logged"], data["turn_id"]
        return data


def _summary(result: "QueryResult | None") -> str:
    """A short text summary of a result, carried into follow-up turns."""
    if result is None:
        return ""
    head = [dict(zip(result.columns, row)) for row in result.rows[:3]]
    more = f" (+{len(result.rows) - 3} more rows)" if len(result.rows) > 3 else ""
    return f"{len(result.rows)} rows: {head}{more}"


def _dataset_sources(tables: list[str]) -> list[dict[str, str]]:
    return [{"kind": "dataset", "id": table} for table in tables]


def _not_loaded(project: "Project", named: tuple[str, ...] = ()) -> str:
    """" Clusters not loaded …: X (owned by T)." when a broken file left clusters out (other than those ``named``
    already), else "": a question that is theirs may have gone elsewhere and come back not covered."""
    others = [b for b in project.broken.values() if b.id not in named]
    if not others:
        return ""
    skipped = ", ".join(f"{b.id}" + (f" (owned by {b.team})" if b.team else "") for b in others)
    return f" {'Other c' if named else 'C'}lusters not loaded (a file is broken; `vedder validate` names it): {skipped}."


def _owned_by(broken) -> str:
    """" (owned by TEAM, CONTACT)" of a cluster left out for a broken file, or "" when its cluster.yaml does not say."""
    owners = ", ".join(x for x in (broken.team, broken.contact) if x)
    return f" (owned by {owners})" if owners else ""


def _not_loaded_entry(broken, routing) -> dict[str, Any]:
    return {"cluster": broken.id, "score": round(dict(routing.not_loaded_scores).get(broken.id, 0.0), 3), "team": broken.team,
            "contact": broken.contact, "not_loaded": True, "file": broken.relative_file}


def _fix_hint(broken: list) -> str:
    files = ", ".join(b.relative_file for b in broken)
    return f"fix {files} (`vedder validate` lists every problem with file and line), or tell its owners"


def _for_a_cluster_not_loaded(question: str, routing, project: "Project") -> Answer:
    """Routing found the question to be (perhaps) for a cluster left out for a broken file: not covered, naming it,
    its owners and the broken file, rather than answered from the next best cluster's tables."""
    closest = [_not_loaded_entry(b, routing) for b in routing.not_loaded]
    closest += [{"cluster": c.id, "score": round(dict(routing.scores).get(c.id, 0.0), 3), "team": c.owners.team,
                 "contact": c.owners.contact} for c in routing.candidates]
    clusters = "; ".join(f"{b.id}{_owned_by(b)}, which is not loaded because a file of it is broken: {b.problem}"
                         for b in routing.not_loaded)
    if routing.candidates:
        others = ", ".join(f"{c.id} (owned by {c.owners.team})" for c in routing.candidates)
        text = (f"This question may be for cluster {clusters}. Loaded clusters that fit it about as well: {others}; vedder "
                "does not guess between them: pick one, or fix the broken file.")
    else:
        text = f"This question is for cluster {clusters}. vedder does not answer it from another cluster's tables."
    text += _not_loaded(project, tuple(b.id for b in routing.not_loaded))
    return Answer(
        status="not_covered",
        question=question,
        answer=text,
        routing=routing.ranked(),
        closest=closest,
        hint=_fix_hint(routing.not_loaded) + "; --cluster ID asks another cluster anyway",
    )


def _conversation_not_loaded(question: str, broken, routing, project: "Project") -> Answer:
    """A follow-up in a conversation whose cluster was left out for a broken file since its last turn: not covered,
    naming it, rather than answered from whichever loaded cluster its few words reach."""
    text = (f"This conversation is in cluster {broken.id}{_owned_by(broken)}, which is not loaded because a file of it "
            f"is broken: {broken.problem}. vedder does not answer its follow-ups from another cluster's tables."
            + _not_loaded(project, (broken.id,)))
    return Answer(
        status="not_covered",
        question=question,
        answer=text,
        routing=routing.ranked(),
        closest=[_not_loaded_entry(broken, routing)],
        hint=_fix_hint([broken]) + "; asked without --continue (`:new` in vedder chat), a question is routed on its own",
    )


def _not_covered(question: str, routing, project: "Project") -> Answer:
    """No cluster chosen: none covers the question, or (offline) several fit it about equally well and vedder
    does not guess between them — it names them and lets the person pick one."""
    if routing.not_loaded:
        return _for_a_cluster_not_loaded(question, routing, project)
    ambiguous = routing.covered
    clusters = routing.candidates if ambiguous else [project.clusters[cid] for cid, _ in routing.scores[:3]]
    scores = dict(routing.scores)
    closest = [{"cluster": c.id, "score": round(scores.get(c.id, 0.0), 3), "team": c.owners.team, "contact": c.owners.contact}
               for c in clusters]
    names = ", ".join(f"{c['cluster']} (owned by {c['team']})" for c in closest) or "none"
    if ambiguous:
        # Said the same on every surface; how to pick is each surface's own (the CLI's hint, chat's prompt, web buttons).
        text = f"Several clusters fit this question about equally well: {names}. vedder does not guess which one you mean."
    else:
        text = f"No cluster covers this question. Closest: {names}. Ask their owners, or propose a new cluster."
    text += _not_loaded(project)
    return Answer(
        status="not_covered",
        question=question,
        answer=text,
        routing=[{"id": c, "score": round(s, 3)} for c, s in routing.scores[:5]],
        closest=closest,
        hint=f"vedder ask --cluster {closest[0]['cluster']} \"{question}\"" if ambiguous else None,
        ambiguous=ambiguous,
    )


def _answer_from_docs(project: "Project", question: str, cluster: "Cluster | None", only: bool = False) -> Answer | None:
    """A question asking what a term means, answered with the doc passage that defines it (``cluster``'s first,
    else any cluster's; ``only`` — the asker named the cluster — its own alone), when no pair answered it; None
    when it asks something else or no doc defines the term."""
    from vedder.definitions import asked_term, find_definitions

    term = asked_term(question)
    # Other clusters' docs are searched only when every cluster loaded: one left out may define the term its own way.
    found = find_definitions(project, term, prefer=cluster, everywhere=not (only or project.broken)) if term else []
    if not found:
        return None
    quoted = "\n\n".join(f"{d.cluster} ({d.path}, \"{d.heading}\"): {d.text}" for d in found)
    many = f"{len(found)} clusters define '{term}'" if len(found) > 1 else f"'{term}' as cluster {found[0].cluster} defines it"
    home = project.clusters[found[0].cluster]
    return Answer(status="answered", question=question, cluster=home.id,
                  answer=f"From the docs, {many} (quoted, not a query result):\n\n{quoted}",
                  sources=[{"kind": "doc", "id": d.path} for d in found], owners=home.owners.to_dict(),
                  steps=[{"tool": "doc_definition", "term": term, "docs": [d.path for d in found]}],
                  routing=[{"id": d.cluster, "score": 1.0} for d in found])


def _undefined_term(project: "Project", question: str) -> str:
    """" No doc defines 'active user'; the docs define: Active listener (listening), …" when ``question`` asks what
    a term means and only near terms are defined; "" otherwise."""
    from vedder.definitions import asked_term, terms_near

    term = asked_term(question)
    near = terms_near(project, term) if term else []
    if not near:
        return ""
    return f" No doc defines '{term}'; the docs define " + ", ".join(f"'{t}' ({c})" for t, c in near) + "."


def _previous_turn(log, continue_id: str | None) -> tuple[str | None, list[dict[str, Any]]]:
    conversation_id = continue_id or log.last_conversation()
    if conversation_id is None:
        raise UsageError("there is no earlier conversation to continue", "ask a first question without --continue")
    thread = log.thread(conversation_id)
    if not thread:
        raise UsageError(f"no conversation '{conversation_id}' in the log", "`vedder log` lists conversations with their ids")
    return conversation_id, thread


def _answer_offline(project, cluster, question, warehouse, history, today=None) -> tuple[Answer, "QueryResult | None"]:
    from vedder.context.index import cluster_index
    from vedder.offline import answer_offline, partial_period_note
    from vedder.sql.run import run_sql

    # The last turn answered in this cluster with SQL: "and for Germany?" after a not-covered "and for Norway?" (or a
    # turn that went to no cluster or another, or a definition quoted from the docs) adapts the one before. When the
    # model wrote that SQL (no pair), the follow-up is about the model's answer: no older pair's SQL is adapted.
    at = next((i for i in range(len(history) - 1, -1, -1)
               if history[i].get("cluster") == cluster.id and history[i].get("sql")), None)
    previous = None
    if at is not None and history[at].get("pair"):
        # The follow-ups of this cluster not covered since: what they asked for may still hold ("same for the family
        # plan", then "and in Germany?" asks for family in Germany), so the offline answerer must see them. A turn
        # that went to no cluster or another ("and ad revenue?") was about something else.
        previous = {**history[at], "declined": [t["question"] for t in history[at + 1:]
                                                if t.get("status") == "not_covered" and t.get("cluster") == cluster.id]}
    # "that year", "then": the conversation's last answer, in whichever cluster ("and revenue that year?" after streams),
    # unless a question not covered since named another period.
    last = next((i for i in range(len(history) - 1, -1, -1)
                 if history[i].get("sql") and history[i].get("status") == "answered"), None)
    last_sql = history[last]["sql"] if last is not None else None
    unanswered = [t["question"] for t in history[0 if last is None else last + 1:] if t.get("status") == "not_covered"]
    result = answer_offline(project, cluster, question, previous=previous, today=today, last_sql=last_sql,
                            unanswered=unanswered)
    if result.match is None:
        closest = [{"pair": p.id, "question": p.question, "score": round(s, 3)} for p, s in result.closest[:3]]
        listing = "; ".join(f"{c['pair']}: \"{c['question']}\"" for c in closest) or "none"
        return Answer(
            status="not_covered",
            question=question,
            cluster=cluster.id,
            answer=f"No vetted pair in cluster '{cluster.id}' answers this closely enough"
                   + (f" ({result.reason})" if result.reason else "") + f". Closest pairs: {listing}." + _not_loaded(project),
            closest=closest,
            hint=OFFLINE_HINT,
        ), None
    match = result.match
    try:
        guarded, rows = run_sql(match.sql, project=project, warehouse=warehouse, cluster=cluster)
    except SQLExecutionError as exc:  # the warehouse changed under a vetted pair: say which, and whom to tell
        owners = ", ".join(x for x in (cluster.owners.team, cluster.owners.contact) if x) or "its owners"
        raise SQLExecutionError(
            f"vetted pair {cluster.id}/{match.pair.id} no longer runs on the warehouse: {exc.message}",
            f"`vedder health {cluster.id}` checks every pair of the cluster against the warehouse; tell {owners}",
        ) from None
    sources = [{"kind": "pair", "id": f"{cluster.id}/{match.pair.id}"}, *_dataset_sources(guarded.tables)]
    note = partial_period_note(cluster_index(cluster), match.sql, project.config.dialect)
    return Answer(
        status="answered",
        question=question,
        cluster=cluster.id,
        answer=match.explanation + (f" (note: {note})" if note else ""),
        sql=guarded.expression.sql(dialect=project.config.dialect, pretty=True),
        columns=rows.columns,
        rows=[list(r) for r in rows.rows],
        truncated=rows.truncated,
        sources=sources,
        vetted=True,
        steps=[{"tool": "offline_match", "pair": match.pair.id, "score": round(match.score, 3),
                "adaptations": [str(a) for a in match.adaptations]}],
    ), rows


def _vetted_first(project, cluster, question, warehouse, history, today) -> tuple[Answer, Any] | None:
    """With a model configured, the answer a vetted pair gives (as offline mode would: exactly, or adapting its
    literals) when there is one (``agent.vetted_first``, default on): vetted, at no cost, and never the model's
    guess. None sends the question to the agent: no pair answers it, or the pair no longer runs."""
    if not project.config.vetted_first:
        return None
    try:
        answer, rows = _answer_offline(project, cluster, question, warehouse, history, today)
    except VedderError:  # a pair that stopped running is `vedder health`'s to report; the agent may still answer
        return None
    return (answer, rows) if answer.status == "answered" else None


def _answer_with_agent(project, cluster, question, warehouse, history, model, on_step, alternatives=(),
                       routing_note=None) -> tuple[Answer, Any]:
    from vedder.agent import run_agent
    from vedder.context import build_context

    context = build_context(project, cluster, question, history=history)
    result = run_agent(project, cluster, question, context=context, warehouse=warehouse, model=model,
                       history=history, on_step=on_step, model_options=project.config.model_options,
                       alternatives=list(alternatives), chosen_because=routing_note)
    answer = Answer(
        status=result.status if result.status in ("answered", "not_covered") else "error",
        question=question,
        cluster=result.cluster or cluster.id,
        answer=result.answer or "",
        sql=result.sql,
        columns=list(result.result.columns) if result.result else [],
        rows=[list(r) for r in result.result.rows] if result.result else [],
        truncated=bool(result.result and result.result.truncated),
        sources=list(result.sources),
        steps=list(result.steps),
        tokens=result.tokens,
        cost=result.cost,
        error=result.error,
        hint=result.hint,
        model=model,
        caveats=list(result.caveats),
        checks=[check.to_dict() for check in result.checks],
        exit_code=0 if result.status in ("answered", "not_covered") else 1,
    )
    return answer, result.result


def ask(
    project: "Project",
    question: str,
    *,
    cluster_id: str | None = None,
    model: str | None = None,
    continue_id: str | None = None,
    follow_up: bool = False,
    surface: str = "cli",
    user: str | None = None,
    warehouse: "Warehouse | None" = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    log: bool = True,
    memory: bool = True,
    asker_known: bool = True,
    today: "date | None" = None,
) -> Answer:
    """Answer ``question`` on ``project``; ``follow_up``/``continue_id`` continue a conversation. ``memory``
    lets earlier answers in the log settle a tied routing (off for ``vedder eval``: its numbers must not depend
    on who ran it). ``asker_known`` False (a shared server: every asker is the same OS user) makes route memory
    count no earlier answer as the asker's own. ``today`` (default: the clock's) is the day "last month" is seen
    from offline, fixed by held-out sets."""
    from vedder.log.store import open_log

    started = time.perf_counter()
    question = question.strip()
    if not question:
        raise UsageError("the question is empty", 'ask something, e.g. vedder ask "How many streams yesterday?"')
    model = (model or project.config.model).strip()
    if model.lower() == OFFLINE:
        model = OFFLINE
    store, not_logged = None, None
    if follow_up or continue_id:
        store = open_log(project.config)  # the conversation to continue is in there
    elif log:
        try:
            store = open_log(project.config)
        except LogError as exc:  # answering matters more than logging
            not_logged = exc
    conversation_id, history = None, []
    if follow_up or continue_id:
        conversation_id, thread = _previous_turn(store, continue_id)
        history = [{"question": t["question"], "sql": t["sql"], "summary": t["result_summary"], "cluster": t["cluster"],
                    "pair": _pair_of(t), "status": t["status"]} for t in thread]
    routing_scores: list[dict[str, Any]] = []
    cluster, alternatives, source, routing_note = None, [], None, None
    conversation_broken, gone = None, None
    answered_by = model  # OFFLINE when a vetted pair answers although a model is configured
    if cluster_id:
        cluster, source = project.cluster(cluster_id), "given"
    else:
        from vedder.context import remember, route
        from vedder.context.memory import ANONYMOUS
        from vedder.context.route import follow_up_elsewhere, follow_up_not_loaded

        routing = route(project, question)
        routing_scores = routing.ranked()
        previous_cluster = next((h["cluster"] for h in reversed(history) if h.get("cluster")), None)
        if previous_cluster in project.broken:
            conversation_broken = project.broken[previous_cluster]
        elif previous_cluster in project.clusters:
            # A follow-up ("and for Sweden?") rarely routes on its own: stay in the conversation's cluster, unless
            # it names what a cluster left out for a broken file is about ("and ad revenue?").
            theirs = follow_up_not_loaded(routing, project.clusters[previous_cluster])
            if theirs:
                routing = replace(routing, not_loaded=theirs)
            elif elsewhere := follow_up_elsewhere(routing, project.clusters[previous_cluster]):
                # A new subject in the same conversation ("What was revenue per month?" after streams).
                cluster, source = elsewhere, "routed"
            else:
                cluster, source = project.clusters[previous_cluster], "conversation"
        else:
            gone = previous_cluster  # renamed or removed since the conversation's last turn (None: no conversation)
            routing = remember(project, routing, log=store, user=user if asker_known else ANONYMOUS) if memory else routing
            if routing.covered and not (routing.ambiguous and model == OFFLINE):
                # With a model, near-equal candidates are the agent's to choose between (switch_cluster).
                cluster, source = routing.cluster, "memory" if routing.memory else "routed"
                routing_note = routing.memory.note if routing.memory else None
                # A tie memory settled is still a tie to the agent: it starts in the remembered cluster.
                alternatives = [c for c in routing.candidates if c.id != cluster.id]
    rows = None
    if conversation_broken is not None:
        answer = _conversation_not_loaded(question, conversation_broken, routing, project)
    elif cluster is None:
        answer = _not_covered(question, routing, project)
        if model == OFFLINE:
            defined = _answer_from_docs(project, question, None)
            if defined is None:
                answer.answer += _undefined_term(project, question)
            answer = defined or answer
    else:
        own_warehouse = warehouse is None
        if own_warehouse:
            from vedder.warehouse import open_warehouse

            warehouse = open_warehouse(project.config)
        try:
            if model == OFFLINE:
                answer, rows = _answer_offline(project, cluster, question, warehouse, history, today)
                if answer.status == "not_covered" and (defined := _answer_from_docs(project, question, cluster, source == "given")):
                    answer, cluster = defined, project.clusters[defined.cluster]
                elif answer.status == "not_covered":
                    answer.answer += _undefined_term(project, question)
            else:
                vetted = _vetted_first(project, cluster, question, warehouse, history, today) if not alternatives else None
                if vetted is not None:
                    (answer, rows), answered_by = vetted, OFFLINE
                else:
                    answer, rows = _answer_with_agent(project, cluster, question, warehouse, history, model, on_step,
                                                      alternatives, routing_note)
                    if answer.cluster != cluster.id:
                        source, routing_note = "switched", None
                    cluster = project.clusters.get(answer.cluster, cluster)
        except VedderError as exc:
            answer = Answer(status="error", question=question, cluster=cluster.id, answer=exc.message,
                            error=exc.message, hint=exc.hint, exit_code=exc.exit_code)
        finally:
            if own_warehouse:
                warehouse.close()
        if source == "conversation" and answer.status == "not_covered":
            answer.answer += _fits_elsewhere(routing, cluster)
        answer.owners = cluster.owners.to_dict()
        answer.routing = routing_scores or [{"id": cluster.id, "score": 1.0}]
        answer.routing_note = routing_note
    if gone:
        answer.answer = (f"This conversation was in cluster '{gone}', which no longer exists (renamed or removed): "
                         f"this question was asked on its own. {answer.answer}")
    answer.model = answered_by
    answer.warnings = project.warnings
    answer.latency_s = round(time.perf_counter() - started, 3)
    if store is not None:
        if log:
            try:
                row = store.record({**answer.to_dict(), "conversation_id": conversation_id, "surface": surface,
                                    "user": user, "cluster_source": source, "row_count": len(answer.rows), "result_summary": _summary(rows),
                                    "context_ids": [s["id"] for s in answer.sources], "routing": answer.routing})
                answer.conversation_id = row["conversation_id"]
                answer.turn_id = row["id"]
            except LogError as exc:
                not_logged = exc
        store.close()
    answer.not_logged = not_logged
    return answer


def _fits_elsewhere(routing, cluster: "Cluster") -> str:
    """" Asked on its own, this question fits podcasts (Podcast Analytics), listening (…) better: …" when a follow-up
    kept in its conversation's cluster was not covered there and routing alone picks other clusters; "" otherwise."""
    if not routing.covered or cluster.id in {c.id for c in routing.candidates}:
        return ""
    names = ", ".join(f"{c.id} ({c.owners.team})" if c.owners.team else c.id for c in routing.candidates)
    return (f" Asked on its own, this question fits {names} better: ask it as a new question (without --continue;"
            " `:new` in vedder chat) if that is what you meant.")


def _pair_of(turn: dict[str, Any]) -> str | None:
    for step in turn.get("steps") or []:
        if isinstance(step, dict) and step.get("pair"):
            return step["pair"]
    return None
