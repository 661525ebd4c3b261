"""Coverage: of the questions people asked this cluster lately (and the not-covered questions that route
closest to it), the share close to a vetted pair or answered with positive feedback.

"Close to a vetted pair" means the turn was answered from a pair (the offline answerer's
``offline_match``) or from a definition in the cluster's docs (``doc_definition``), or would be today — a follow-up ("and in
Germany?") judged with the turn before it, as ``vedder ask --continue`` answers it — so adding a pair for a
recurring question raises coverage at once. A question no cluster covers counts for the cluster it routes
closest to only when that routing score reaches the router's lower bound (``MIN_SCORE``). A turn that failed
(status ``error``: a missing API key, a model or warehouse error) and that no pair answers says nothing about
coverage: it is counted apart, not as uncovered. The uncovered questions, grouped and counted, are the
owners' to-do list; negative feedback is listed alongside.

>>> normalize_question("  How many   streams? ")
'how many streams?'
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from vedder.health.signals import Problem, Signal, skipped

if TYPE_CHECKING:
    from vedder.project import Cluster, Project

WINDOW_DAYS = 30
TOP_QUESTIONS = 5


def normalize_question(question: str) -> str:
    return " ".join(question.lower().split())


@dataclass
class Usage:
    """What the conversation log says about one cluster in the window."""

    signal: Signal
    uncovered: list[dict[str, Any]] = field(default_factory=list)
    negative_feedback: list[dict[str, Any]] = field(default_factory=list)


def window_days(project: "Project") -> int:
    health = project.config.raw.get("health") or {}
    return int(health.get("window_days", WINDOW_DAYS)) if isinstance(health, dict) else WINDOW_DAYS


def recent_entries(project: "Project", now: datetime) -> list[dict[str, Any]]:
    """Logged turns of the window, newest first; none when the project has no log yet (nothing is created)."""
    path = project.config.log_path
    if path is None or not path.is_file():
        return []
    from vedder.log.store import open_log

    store = open_log(project.config)
    try:
        since = (now - timedelta(days=window_days(project))).isoformat(timespec="seconds")
        return store.entries(since=since)
    finally:
        store.close()


def closest_cluster(project: "Project", entry: dict[str, Any]) -> str | None:
    """The cluster a logged turn belongs to: its own, else the best-routed one (logged or routed now) when
    its routing score reaches the router's lower bound (``MIN_SCORE``); "what's the weather in Paris?"
    routes near 0 everywhere and is charged to no cluster."""
    from vedder.context.route import MIN_SCORE

    if entry.get("cluster"):
        return entry["cluster"]
    routing = entry.get("routing") or []
    if routing and isinstance(routing[0], dict) and routing[0].get("id"):
        best, best_score = routing[0]["id"], routing[0].get("score")
    else:
        from vedder.context import route

        scores = route(project, entry.get("question") or "").scores
        best, best_score = scores[0] if scores else (None, None)
    try:
        return best if best is not None and float(best_score) >= MIN_SCORE else None
    except (TypeError, ValueError):
        return None


def entries_by_cluster(project: "Project", entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for entry in entries:
        if entry.get("question"):
            cluster_id = closest_cluster(project, entry)
            if cluster_id:
                grouped.setdefault(cluster_id, []).append(entry)
    return grouped


def answered_from_vetted(entry: dict[str, Any]) -> bool:
    """Whether a logged turn was answered from what the experts vetted: a pair (the offline answerer's
    ``offline_match`` step) or a definition quoted from the docs (``doc_definition``: "What counts as a stream?")."""
    return entry.get("status") == "answered" and any(
        isinstance(step, dict) and step.get("tool") in ("offline_match", "doc_definition") for step in entry.get("steps") or [])


def _defined(project: "Project", cluster: "Cluster", question: str) -> bool:
    """Whether ``question`` asks what a term means that ``cluster``'s docs define ("What counts as a stream?")."""
    from vedder.definitions import asked_term, find_definitions

    term = asked_term(question)
    return bool(term and find_definitions(project, term, prefer=cluster, everywhere=False))


def previous_turn(entry: dict[str, Any], threads: dict[tuple[Any, Any], dict[str, Any]]) -> dict[str, Any] | None:
    """The turn before ``entry`` in its conversation (as ``vedder ask --continue`` passes it to the
    offline answerer: question, sql and pair), when that turn is among ``threads``."""
    turn = entry.get("turn")
    if not isinstance(turn, int) or turn < 2:
        return None
    earlier = threads.get((entry.get("conversation_id"), turn - 1))
    if earlier is None or not earlier.get("sql"):
        return None
    pair = next((s["pair"] for s in earlier.get("steps") or [] if isinstance(s, dict) and s.get("pair")), None)
    return {"question": earlier.get("question") or "", "sql": earlier["sql"], "pair": pair}


def usage(project: "Project", cluster: "Cluster", entries: list[dict[str, Any]]) -> Usage:
    """The coverage signal, top uncovered questions and recent negative feedback for ``cluster``."""
    days = window_days(project)
    negative = [
        {"question": e["question"], "comment": e.get("feedback_comment"), "created_at": e.get("created_at"),
         "conversation_id": e.get("conversation_id")}
        for e in entries if e.get("feedback") == "down"
    ][:TOP_QUESTIONS]
    if not entries:
        return Usage(skipped("coverage", f"no questions logged for this cluster in the last {days} days"), [], negative)
    from vedder.offline import answer_offline

    threads = {(e.get("conversation_id"), e.get("turn")): e for e in entries}
    close: dict[tuple[str, str | None, str | None], bool] = {}
    uncovered: Counter[str] = Counter()
    wording: dict[str, str] = {}
    covered = failed = 0
    for entry in entries:
        key = normalize_question(entry["question"])
        if answered_from_vetted(entry) or entry.get("feedback") == "up":
            covered += 1
            continue
        previous = previous_turn(entry, threads)
        judged = (key, previous and previous["sql"], previous and previous["pair"])
        if judged not in close:
            close[judged] = (answer_offline(project, cluster, entry["question"], previous=previous).match is not None
                             or _defined(project, cluster, entry["question"]))
        if close[judged]:
            covered += 1
        elif entry.get("status") == "error":  # a missing key, a model or warehouse error: not a coverage gap
            failed += 1
        else:
            uncovered[key] += 1
            wording.setdefault(key, entry["question"])
    counted = len(entries) - failed
    failures = f"{failed} failed turn{'s' * (failed != 1)} (errors)"
    if not counted:
        return Usage(skipped("coverage", f"{failures} and no other question logged for this cluster in the last {days} days"), [], negative)
    top = [{"question": wording[key], "count": count} for key, count in uncovered.most_common(TOP_QUESTIONS)]
    problems = [Problem(t["question"], "uncovered", f"asked {t['count']}× with no vetted pair close to it: {t['question']}") for t in top]
    action = "add vetted pairs for the top uncovered questions (`vedder propose` mines them from query history)" if top else ""
    signal = Signal("coverage", covered / counted, problems, action,
                    f"{covered}/{counted} questions of the last {days} days close to a vetted pair or rated up"
                    + (f"; {failures} not counted" if failed else ""))
    return Usage(signal, top, negative)
