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

Settling needs at least one earlier answer of the person asking, or two in all: one answer by someone else
is weak evidence (the same words may mean another cluster to another person).

Measured on Spider, report half (benchmarks/spider/run.py --memory; BENCHMARKS.md "Route memory"), with a
fresh log of earlier questions asked with the right cluster given. Tune half in the log (the halves are split
by a hash of the question's text, so no report question has a tune question's key): 0 of 217 ambiguous
questions settled, routing@1 0.906 before and after. Each report question asked once before by the same
person: 178 of 217 settled, all 178 right (the other 39: the right cluster is not a candidate, or a tie
with evidence for two); routing@1 0.906 → 0.953; offline routed 719 → 782 answered. Tried and rejected:
keys with stop words dropped and light stemming (tune → report: 4 settled, 3 right; "above 18" met "below
18"), sorted stemmed words (9 settled, 7 right), and trusting one answer by someone else (a question asked
once before in another cluster: 6 settled, 0 right — "Count the number of accounts." of four bank
databases). Added time per ambiguous ask in process: 0.053 ms with the log open (``ask``), 0.49 ms opening it.

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


# One earlier answer by someone else is weak evidence: the same words may mean another cluster to another
# person ("Count the number of accounts." in four bank databases). On Spider, a question asked once before by
# someone else settled 6 ties, all to the wrong cluster; two agreeing answers, or one of your own, are needed.
MIN_ANSWERS_OF_OTHERS = 2
ANONYMOUS = ""  # a user no logged turn has: no earlier answer counts as the asker's own


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


def remember(project: "Project", routing: Routing, *, log: "ConversationLog | None" = None,
             user: str | None = None) -> Routing:
    """``routing`` settled by the log when it is ambiguous and the evidence points to one candidate; else itself.

    The evidence must point to exactly one candidate, with at least one answer of ``user`` (default: the
    current user; ``ANONYMOUS``: an asker vedder cannot tell apart, such as anyone on a shared MCP server over
    HTTP, whose "own" answers would be everyone's) or ``MIN_ANSWERS_OF_OTHERS`` answers in all. ``log``: an open conversation log (``ask`` has
    one already); without it the project's log is opened only when ``routing`` is ambiguous, and only if the
    file exists.
    """
    if not routing.ambiguous:
        return routing
    chosen = _chosen_clusters(project, routing, log, user)
    if len(chosen) != 1:
        return routing
    ((cluster_id, (answers, yours)),) = chosen.items()
    if not yours and answers < MIN_ANSWERS_OF_OTHERS:
        return routing
    return replace(routing, cluster=project.clusters[cluster_id], memory=Remembered(cluster_id, answers))


def route_with_memory(project: "Project", question: str, *, log: "ConversationLog | None" = None,
                      user: str | None = None) -> Routing:
    """``route``, with a tie settled by earlier answers to the same question (see ``remember``)."""
    return remember(project, route(project, question), log=log, user=user)


def _chosen_clusters(project: "Project", routing: Routing, log: "ConversationLog | None",
                     user: str | None) -> dict[str, tuple[int, int]]:
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
            return log.chosen_clusters(routing.question, candidates, user)
        finally:
            if own:
                log.close()
    except (LogError, sqlite3.Error, OSError):  # no memory is better than no answer
        return {}
