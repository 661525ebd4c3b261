"""Search one cluster's pairs and docs (the agent's search tool and `vedder context` use it).

>>> [hit.kind for hit in search(cluster, "active users")]  # doctest: +SKIP
['pair', 'doc']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vedder.context.index import cluster_index
from vedder.context.tokenize import tokenize

if TYPE_CHECKING:
    from vedder.project import Cluster


@dataclass
class Hit:
    kind: str  # "pair" or "doc"
    id: str
    title: str
    text: str
    score: float
    item: Any

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "title": self.title, "text": self.text, "score": round(self.score, 3)}


def search(cluster: "Cluster", query: str, k: int = 5) -> list[Hit]:
    """The ``k`` pairs and doc sections of ``cluster`` that best match ``query``, best first."""
    index = cluster_index(cluster)
    terms = tokenize(query)
    hits = [
        Hit("pair", pair.id, pair.question, pair.sql, score, pair)
        for pair, score in zip(index.pairs, index.pair_index.scores(terms))
        if score > 0
    ]
    hits += [
        Hit("doc", section.doc.id, f"{section.doc.title} — {section.heading}", section.text, score, section.doc)
        for section, score in zip(index.sections, index.section_index.scores(terms))
        if score > 0
    ]
    return sorted(hits, key=lambda hit: -hit.score)[:k]
