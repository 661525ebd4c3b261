"""Routing: which cluster covers a question, with scores, or an honest "not covered".

A question is covered when the best cluster's BM25 score is clearly positive *and* that cluster accounts
for most of the question's domain words (``coverage``): words that are neither stop words nor the generic
vocabulary of questions ("how many", "average", "top") must appear somewhere in the cluster — its names,
descriptions, values, pair questions or docs. "What's the weather in Paris?" finds neither word in a
music-streaming project, so it is not covered, whatever its BM25 score.

A covered question is *ambiguous* when another cluster scores within ``AMBIGUITY_MARGIN`` (relative) of the
best: "how many listeners per country?" fits a music cluster and a podcast cluster about equally. The best
cluster is still named, with the near-equal ``candidates``; callers that cannot ask back (the offline
answerer) abstain and name them instead of answering from a coin toss. On Spider, questions whose best
cluster leads by at least 10% route right 97% of the time; closer calls are right about half the time.

Clusters left out for a broken file (``Project.broken``) are routed over too, from what of them still reads:
when one is the best cluster, or within the margin of it, the question is theirs (or may be), so it is not
covered — ``not_loaded`` names them — rather than answered by the next best cluster. A project with no broken
cluster routes exactly as if this did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from vedder.context.index import project_index, routed_cluster
from vedder.context.tokenize import tokenize
from vedder.errors import UsageError

if TYPE_CHECKING:
    from vedder.context.memory import Remembered
    from vedder.project import BrokenCluster, Cluster, Project

# Words any data question may use, whatever the domain: they neither route nor count against coverage.
GENERIC_WORDS = frozenset(
    tokenize(
        """
        many much number numbers count counts total totals sum average mean median maximum minimum max min
        top bottom highest lowest most least largest smallest biggest greatest fewest best worst first last
        each every per all any different distinct unique name names id ids detail details information info
        record records entry entries value values list show give tell find return order ordered sort sorted
        ascending descending alphabetical alphabetically respectively also both either only whose based
        including include includes greater less more fewer than equal above below over under between
        least atleast year years month months day days date dates time times week weeks today yesterday
        current recent recently new old older newer type types kind kinds category categories amount
        overall group grouped along corresponding associated related their them those there here
        percent percentage share ratio rate compare compared versus vs one two three four five six seven
        eight nine ten hundred thousand million
        """,
        keep_stop_words=True,
    )
)

COVERAGE_THRESHOLD = 0.5
MIN_SCORE = 1.0
PAIR_WEIGHT = 1.0
AMBIGUITY_MARGIN = 0.1


@dataclass
class Routing:
    """The routing decision: the chosen cluster (None when not covered) and every cluster's score, best first."""

    question: str
    cluster: "Cluster | None"
    scores: list[tuple[str, float]]
    covered: bool
    coverage: float = 0.0
    closest: list["Cluster"] = field(default_factory=list)
    unknown_words: list[str] = field(default_factory=list)
    margin: float = 1.0
    candidates: list["Cluster"] = field(default_factory=list)
    memory: "Remembered | None" = None
    """Set when earlier answers in the log settled a tie between the candidates (see vedder.context.memory)."""
    not_loaded: list["BrokenCluster"] = field(default_factory=list)
    """Clusters left out for a broken file that are the best or a near-equal candidate: the question is not
    covered, since it may be theirs (``candidates`` then holds the loaded clusters that fit it about as well)."""
    not_loaded_scores: list[tuple[str, float]] = field(default_factory=list)
    """Scores of every cluster left out for a broken file (not in ``scores``, which are loaded clusters only)."""

    @property
    def ambiguous(self) -> bool:
        """Covered, but another cluster fits about as well (see ``candidates``) and the log did not settle it."""
        return self.covered and len(self.candidates) > 1 and self.memory is None

    def to_dict(self) -> dict:
        return {
            "cluster": self.cluster.id if self.cluster else None,
            "covered": self.covered,
            "coverage": round(self.coverage, 3),
            "margin": round(self.margin, 3),
            "ambiguous": self.ambiguous,
            "candidates": [{"id": c.id, "team": c.owners.team, "contact": c.owners.contact} for c in self.candidates],
            "clusters": self.ranked(),
            "closest": [{"id": c.id, "team": c.owners.team, "contact": c.owners.contact} for c in self.closest],
            "memory": self.memory.to_dict() if self.memory else None,
            "not_loaded": [{"id": b.id, "team": b.team, "contact": b.contact, "file": b.relative_file, "problem": b.problem}
                           for b in self.not_loaded],
        }

    def ranked(self, limit: int = 5) -> list[dict]:
        """``[{id, score}]`` best first, clusters left out for a broken file among them with ``not_loaded: true``."""
        loaded = [{"id": cid, "score": round(score, 3)} for cid, score in self.scores]
        if not self.not_loaded_scores:
            return loaded
        skipped = [{"id": cid, "score": round(score, 3), "not_loaded": True} for cid, score in self.not_loaded_scores]
        return sorted(loaded + skipped, key=lambda entry: (-entry["score"], entry["id"]))[:limit]


def require_question(question: str) -> str:
    """``question`` without surrounding whitespace; an empty one is a UsageError (every surface says the same)."""
    question = (question or "").strip()
    if not question:
        raise UsageError("the question is empty", 'ask something, e.g. "How many streams per country last month?"')
    return question


def domain_terms(question: str) -> list[str]:
    """The question's words that say what it is about (not how it asks)."""
    seen: list[str] = []
    for term in tokenize(question):
        if term not in GENERIC_WORDS and not term[0].isdigit() and term not in seen:
            seen.append(term)
    return seen


def route(project: "Project", question: str, *, limit: int = 5) -> Routing:
    """Pick the cluster that covers ``question``; scores for the ``limit`` best clusters.

    >>> route(project, "how many streams per country?").cluster.id  # doctest: +SKIP
    'listening'
    """
    question = require_question(question)
    index = project_index(project)
    terms = tokenize(question)
    raw = index.index.scores(terms)
    best_pair = [0.0] * len(raw)
    for owner, score in zip(index.pair_owners, index.pair_index.scores(terms)):
        best_pair[owner] = max(best_pair[owner], score)
    raw = [s + PAIR_WEIGHT * p for s, p in zip(raw, best_pair)]
    every = sorted(zip(index.cluster_ids, raw), key=lambda item: (-item[1], item[0]))
    ranked = [(cid, score) for cid, score in every if cid not in index.not_loaded]
    skipped_scores = [(cid, score) for cid, score in every if cid in index.not_loaded]
    scores = [(cid, score) for cid, score in ranked[:limit]]
    closest = [project.clusters[cid] for cid, score in ranked[:3] if score > 0]
    if not every or every[0][1] <= 0:
        return Routing(question, None, scores, False, 0.0, closest, domain_terms(question), not_loaded_scores=skipped_scores)
    best_id = every[0][0]
    vocabulary = index.bags[index.cluster_ids.index(best_id)]
    domain = domain_terms(question)
    known = [t for t in domain if t in vocabulary]
    coverage = len(known) / len(domain) if domain else 1.0
    unknown = [t for t in domain if t not in vocabulary]
    # A question must name something the cluster is about: "hi" matching the language code 'hi' in a profile
    # is a greeting, not a question about podcasts.
    named = (not domain or any(t in index.named[index.cluster_ids.index(best_id)] for t in known)
             or names_a_table(terms, routed_cluster(project, best_id)))
    covered = every[0][1] >= MIN_SCORE and coverage >= COVERAGE_THRESHOLD and bool(known or not domain) and named
    best = every[0][1]
    margin = (best - every[1][1]) / best if len(every) > 1 else 1.0
    near = [cid for cid, score in every if score >= best * (1 - AMBIGUITY_MARGIN)] if covered else []
    not_loaded = [project.broken[cid] for cid in near if cid in index.not_loaded]
    candidates = [project.clusters[cid] for cid in near if cid not in index.not_loaded]
    if not_loaded:
        return Routing(question, None, scores, False, coverage, closest, unknown, margin, candidates, not_loaded=not_loaded,
                       not_loaded_scores=skipped_scores)
    cluster = project.clusters[best_id] if covered else None
    return Routing(question, cluster, scores, covered, coverage, [] if covered else closest, unknown, margin, candidates,
                   not_loaded_scores=skipped_scores)


def names_a_table(terms: list[str], cluster: "Cluster") -> bool:
    """Whether a generic word of the question is the name of one of ``cluster``'s tables: 'orders' is generic
    ("in ascending order") but names sales.orders, so "How many paid orders are there?" is about that cluster."""
    generic = {term for term in terms if term in GENERIC_WORDS}
    return bool(generic) and any(generic & set(tokenize(table.rsplit(".", 1)[-1])) for table in cluster.tables)


def subject_terms(cluster: "Cluster") -> set[str]:
    """What ``cluster`` names itself and its data: id, title, keywords, table and column names (not descriptions,
    docs or values, which mention neighbouring subjects: "podcasts are in the podcasts cluster")."""
    names = [cluster.id, cluster.title, *cluster.keywords]
    for dataset in cluster.dataset_files.values():
        names += [dataset.table_name, *(column.name for column in dataset.columns)]
    return set(tokenize(" ".join(names)))


def _names_only_theirs(question: str, cluster: "Cluster", theirs: "Cluster") -> bool:
    """Whether ``question`` names what ``theirs`` is about (id, title, keywords, tables, columns) in a word
    ``cluster``'s own names do not have. Its vetted questions are its own words too: "and listeners in japan?" in a
    podcasts conversation is about podcast listeners (its pairs ask for them), though only listening's keywords
    say "listeners"."""
    vetted = " ".join(text for pair in cluster.pairs for text in (pair.question, *pair.paraphrases))
    own = subject_terms(cluster) | set(tokenize(vetted))
    return any(term in subject_terms(theirs) for term in domain_terms(question) if term not in own)


def follow_up_elsewhere(routing: Routing, cluster: "Cluster") -> "Cluster | None":
    """The cluster a follow-up in ``cluster``'s conversation plainly turns to, if any: routing chose it alone (not a
    tie, ``cluster`` not a candidate) and the question names what it is about in words ``cluster``'s names lack
    ("What was revenue per month in 2026?" in a listening conversation). "and for Sweden?" or "and per platform?"
    name nothing only another cluster has: they stay.
    """
    if not routing.covered or routing.ambiguous or routing.cluster is None or routing.cluster.id == cluster.id:
        return None
    if cluster.id in {c.id for c in routing.candidates}:
        return None
    return routing.cluster if _names_only_theirs(routing.question, cluster, routing.cluster) else None


def follow_up_not_loaded(routing: Routing, cluster: "Cluster") -> list["BrokenCluster"]:
    """The clusters left out for a broken file that a follow-up in ``cluster``'s conversation asks about, if any.

    A follow-up ("and for Sweden?", "and the average?") stays in its conversation's cluster: it rarely routes on its
    own, and when a cluster is left out its stray words often reach that cluster's docs. It is another cluster's only
    when routing found that cluster best (or near), ``cluster`` does not fit it about as well, and the question
    names what that cluster is about and ``cluster`` is not ("and ad revenue?" in a listening conversation).
    """
    if not routing.not_loaded or cluster.id in {c.id for c in routing.candidates}:
        return []
    return [broken for broken in routing.not_loaded if _names_only_theirs(routing.question, cluster, broken.readable)]
