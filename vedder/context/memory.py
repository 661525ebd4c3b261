"""Route memory: a tie between clusters that people already settled for the same question stays settled.

``route`` is lexical and pure. When it is *ambiguous* (another cluster scores within 10% of the best), the
conversation log may know better: the same question (same ``question_key``: case, punctuation and whitespace
normalised, nothing fuzzier) answered before in one of the candidate clusters *by a person's choice or with
approval* — the cluster given explicitly (``--cluster``, a surface's explicit cluster), an agent
``switch_cluster`` that ended answered, or a turn rated up; never a turn rated down, never an error or
not-covered turn, never a turn that memory itself routed unless someone rated it up. When that evidence
points to exactly one candidate, the question goes there and says so ("routed by 3 earlier answers to the
same question in cluster X"); evidence for two candidates leaves it ambiguous, evidence for a cluster that
is not a candidate is ignored. The log is read only for ambiguous questions; a missing or unreadable log is
no memory, never an error.

Measured on Spider (benchmarks/spider/run.py --memory; see BENCHMARKS.md "Route memory"): the tune half
recorded as asked with the right cluster given, then the report half routed with that log. The halves are
split by a hash of the question's text, so no report question has the same key as a tune question: memory
settles 0 of the report half's ambiguous questions and routing@1 stays 0.906 (the honest result of that
protocol). With every question asked once before with its right cluster (tune and report half in the log),
memory settles 217 of the report half's 217 ambiguous questions, all of them right: routing@1 0.906 → 0.977;
the exact key never maps one phrasing to two clusters there. A stemmed, stop-word-free key would also match
"above 18" with "below 18" and sent one question of 20 cross-half matches to the wrong database; it was not
adopted. Added time per ambiguous ask, in process, with the log already open: ~0.1 ms.

>>> route_with_memory(project, "how many listeners per country?").memory.note  # doctest: +SKIP
'routed by 3 earlier answers to the same question in cluster podcasts'
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vedder.context.route import Routing, route

if TYPE_CHECKING:
    from vedder.log.store import ConversationLog
    from vedder.project import Project


@dataclass(frozen=True)
class Remembered:
    """Earlier answers that settled an ambiguous routing: the cluster and how many answers point to it."""

    cluster: str
    answers: int

    @property
    def note(self) -> str:
        plural = "answer" if self.answers == 1 else "answers"
        return f"routed by {self.answers} earlier {plural} to the same question in cluster {self.cluster}"

    def to_dict(self) -> dict:
        return {"cluster": self.cluster, "answers": self.answers, "note": self.note}


def remember(project: "Project", routing: Routing, *, log: "ConversationLog | None" = None) -> Routing:
    """``routing`` settled by the log when it is ambiguous and the evidence points to one candidate; else itself.

    ``log``: an open conversation log (``ask`` has one already); without it the project's log is opened only
    when ``routing`` is ambiguous, and only if the file exists.
    """
    if not routing.ambiguous:
        return routing
    chosen = _chosen_clusters(project, routing, log)
    if len(chosen) != 1:
        return routing
    ((cluster_id, answers),) = chosen.items()
    return replace(routing, cluster=project.clusters[cluster_id], memory=Remembered(cluster_id, answers))


def route_with_memory(project: "Project", question: str, *, log: "ConversationLog | None" = None) -> Routing:
    """``route``, with a tie settled by earlier answers to the same question (see ``remember``)."""
    return remember(project, route(project, question), log=log)


def _chosen_clusters(project: "Project", routing: Routing, log: "ConversationLog | None") -> dict[str, int]:
    import sqlite3

    from vedder.errors import LogError
    from vedder.log.store import ConversationLog, log_path

    candidates = [c.id for c in routing.candidates]
    own = log is None
    try:
        if own:
            path = log_path(project.config)
            if not path.is_file():
                return {}
            log = ConversationLog(path)
        try:
            return log.chosen_clusters(routing.question, candidates)
        finally:
            if own:
                log.close()
    except (LogError, sqlite3.Error, OSError):  # no memory is better than no answer
        return {}
