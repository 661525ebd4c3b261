"""BM25 indexes over a project: one over whole clusters (for routing) and, per cluster, over its tables,
pairs and doc sections (for context selection and the offline answerer).

Documents are bags of weighted fields; a term's frequency in a document is the sum of the weights of the
fields it occurs in (BM25F, simplified). Indexes are built on first use and kept for the life of the
``Project`` object, so a warm process routes and selects without re-tokenizing anything. The routing index
is also cached on disk (``.vedder/route-index.json``), keyed by the path, size and modification time of every
file it was built from: a one-shot ``vedder ask`` on 137 Spider clusters loads it in ~0.06 s instead of
building it in ~0.7 s. A stale, unreadable or unwritable cache is ignored.

>>> index = BM25([{"user": 2.0, "country": 1.0}, {"song": 1.0}])
>>> [round(s, 2) for s in index.scores(["country"])]
[0.84, 0.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

from vedder.context.tokenize import split_identifier, stem, tokenize
from vedder.files import atomic_write
from vedder.project.model import cache_folder

if TYPE_CHECKING:
    from vedder.project import Cluster, Dataset, Doc, Pair, Project

Bag = dict[str, float]

# Field weights: names say more about what a cluster covers than free text does.
CLUSTER_FIELDS = {
    "title": 3.0, "keywords": 3.0, "description": 1.5, "table": 2.5, "column": 1.5, "schema_text": 0.6,
    "value": 1.0, "question": 1.0, "doc_title": 1.0, "doc": 0.4,
}
TABLE_FIELDS = {"table": 3.0, "description": 1.0, "column": 2.0, "column_text": 0.7, "value": 1.0}
PAIR_FIELDS = {"question": 1.0, "tags": 0.5, "notes": 0.3}


class BM25:
    """Okapi BM25 over weighted bags of terms."""

    def __init__(self, documents: list[Bag], k1: float = 1.2, b: float = 0.75) -> None:
        self.documents = documents
        self.k1, self.b = k1, b
        self.size = len(documents)
        self.lengths = [sum(d.values()) for d in documents]
        self.average_length = (sum(self.lengths) / self.size) if self.size else 1.0
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for position, document in enumerate(documents):
            for term, frequency in document.items():
                self.postings.setdefault(term, []).append((position, frequency))
        self.idf = {t: self._idf(len(p)) for t, p in self.postings.items()}

    def _idf(self, document_frequency: int) -> float:
        return math.log(1 + (self.size - document_frequency + 0.5) / (document_frequency + 0.5))

    def unknown_idf(self) -> float:
        return self._idf(0)

    def scores(self, terms: Iterable[str]) -> list[float]:
        totals = [0.0] * self.size
        for term in terms:
            idf = self.idf.get(term)
            if idf is None:
                continue
            for position, frequency in self.postings[term]:
                norm = self.k1 * (1 - self.b + self.b * self.lengths[position] / (self.average_length or 1.0))
                totals[position] += idf * frequency * (self.k1 + 1) / (frequency + norm)
        return totals


def add(bag: Bag, text: str, weight: float, *, identifier: bool = False) -> None:
    """Add the terms of ``text`` to ``bag`` with ``weight`` (identifiers split, then stemmed)."""
    terms = [stem(w) for w in split_identifier(text)] if identifier else tokenize(text)
    for term in terms:
        bag[term] = bag.get(term, 0.0) + weight


def value_terms(value: object) -> list[str]:
    """Terms of a profiled common value (short strings only: long text is not a value people type)."""
    text = str(value)
    if len(text) > 40 or not re.search(r"[A-Za-z]", text):
        return []
    return tokenize(text)


def dataset_bag(dataset: "Dataset", weights: dict[str, float], *, values: bool = True) -> Bag:
    bag: Bag = {}
    add(bag, dataset.table_name, weights["table"], identifier=True)
    add(bag, dataset.description, weights.get("description", weights.get("schema_text", 1.0)))
    for column in dataset.columns:
        add(bag, column.name, weights["column"], identifier=True)
        add(bag, column.description, weights.get("column_text", weights.get("schema_text", 1.0)))
        for entry in column.common_values[:10] if values else ():
            value = entry.get("value") if isinstance(entry, dict) else entry
            for term in value_terms(value):
                bag[term] = bag.get(term, 0.0) + weights["value"]
    return bag


def _cap(bag: Bag, limit: float) -> Bag:
    """Cap each term's weight so one field repeated many times cannot dominate a document."""
    return {t: min(w, limit) for t, w in bag.items()}


def cluster_bag(cluster: "Cluster", *, values: bool = True) -> Bag:
    """The routing document of ``cluster``; without ``values``, only what it names and says (no data values)."""
    bag: Bag = {}
    add(bag, cluster.title, CLUSTER_FIELDS["title"])
    add(bag, cluster.id, CLUSTER_FIELDS["title"], identifier=True)
    add(bag, " ".join(cluster.keywords), CLUSTER_FIELDS["keywords"])
    add(bag, cluster.description, CLUSTER_FIELDS["description"])
    for dataset in cluster.dataset_files.values():
        for term, weight in dataset_bag(dataset, CLUSTER_FIELDS, values=values).items():
            bag[term] = bag.get(term, 0.0) + weight
    for pair in cluster.pairs:
        for question in pair.questions:
            add(bag, question, CLUSTER_FIELDS["question"])
    for doc in cluster.docs:
        add(bag, doc.title, CLUSTER_FIELDS["doc_title"])
        add(bag, doc.body, CLUSTER_FIELDS["doc"])
    return _cap(bag, 12.0)


@dataclass
class Section:
    """A part of a doc under one heading (the whole doc when it has no headings)."""

    doc: "Doc"
    heading: str
    text: str


def doc_sections(doc: "Doc") -> list[Section]:
    sections: list[Section] = []
    heading, lines = doc.title, []
    for line in doc.body.splitlines():
        if line.startswith("#") and lines and any(l.strip() for l in lines):
            sections.append(Section(doc, heading, "\n".join(lines).strip()))
            lines = []
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
            if not lines:
                lines = [line]
                continue
        lines.append(line)
    if any(l.strip() for l in lines):
        sections.append(Section(doc, heading, "\n".join(lines).strip()))
    return sections


@dataclass
class ClusterIndex:
    """Tables, pairs and doc sections of one cluster, each with its own BM25 index."""

    cluster: "Cluster"
    datasets: list["Dataset"]
    tables: BM25
    pairs: list["Pair"]
    pair_bags: list[Bag]
    pair_index: BM25
    sections: list[Section]
    section_index: BM25
    vocabulary: set[str] = field(default_factory=set)
    memo: dict = field(default_factory=dict)


def build_cluster_index(cluster: "Cluster") -> ClusterIndex:
    datasets = [d for d in cluster.dataset_files.values()]
    pair_bags = []
    for pair in cluster.pairs:
        bag: Bag = {}
        for question in pair.questions:
            add(bag, question, PAIR_FIELDS["question"])
        add(bag, " ".join(pair.tags), PAIR_FIELDS["tags"])
        add(bag, pair.notes, PAIR_FIELDS["notes"])
        pair_bags.append(_cap(bag, 2.0))
    sections = [s for doc in cluster.docs for s in doc_sections(doc)]
    section_bags = []
    for section in sections:
        bag = {}
        add(bag, section.doc.title + " " + section.heading, 2.0)
        add(bag, " ".join(section.doc.tags + section.doc.applies_to), 1.0)
        add(bag, section.text, 1.0)
        section_bags.append(bag)
    table_bags = [dataset_bag(d, TABLE_FIELDS) for d in datasets]
    vocabulary = set().union(*table_bags, *pair_bags, *section_bags) if (table_bags or pair_bags or section_bags) else set()
    return ClusterIndex(
        cluster=cluster,
        datasets=datasets,
        tables=BM25(table_bags),
        pairs=list(cluster.pairs),
        pair_bags=pair_bags,
        pair_index=BM25(pair_bags),
        sections=sections,
        section_index=BM25(section_bags),
        vocabulary=vocabulary,
    )


@dataclass
class ProjectIndex:
    """The routing index: one BM25 document per cluster, plus each cluster's own index built on demand."""

    cluster_ids: list[str]
    bags: list[Bag]
    index: BM25
    pair_owners: list[int]
    pair_index: BM25
    named: list[set[str]] = field(default_factory=list)
    """Per cluster, the terms it knows other than as data values (names, descriptions, questions, docs)."""
    not_loaded: set[str] = field(default_factory=set)
    """Ids of clusters left out for a broken file, indexed from what of them reads (``BrokenCluster.readable``)."""


_INDEXES: dict[int, tuple[weakref.ref, ProjectIndex]] = {}
ROUTE_CACHE = "route-index.json"
"""In the project's cache folder (``.vedder/``, see ``vedder.project.model.cache_folder``)."""
# Bump when what goes into the routing index changes (fields, weights, tokenizing).
ROUTE_CACHE_VERSION = 2


def project_index(project: "Project") -> ProjectIndex:
    """The routing index of ``project`` (once per Project object; from the disk cache when it is fresh)."""
    key = id(project)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0]() is project:
        return cached[1]
    fingerprint = source_fingerprint(project)
    parts = _read_route_cache(project, fingerprint) if fingerprint else None
    if parts is None:
        parts = _route_parts(project)
        if fingerprint:
            _write_route_cache(project, fingerprint, parts)
    ids, bags, pair_owners, pair_bags, named = parts
    index = ProjectIndex(
        cluster_ids=ids, bags=bags, index=BM25(bags, k1=1.5, b=0.5), pair_owners=pair_owners, pair_index=BM25(pair_bags),
        named=[set(terms) for terms in named], not_loaded=set(project.broken) & set(ids),
    )
    _INDEXES[key] = (weakref.ref(project), index)
    return index


def routed_clusters(project: "Project") -> dict[str, "Cluster"]:
    """What routing indexes, by id: the loaded clusters, and what still reads of those left out for a broken file
    (a question that is theirs must find them, not the next best cluster)."""
    if not project.broken:
        return project.clusters
    return {**project.clusters, **{cluster_id: broken.readable for cluster_id, broken in project.broken.items()}}


def _route_parts(project: "Project") -> tuple[list[str], list[Bag], list[int], list[Bag], list[list[str]]]:
    clusters = routed_clusters(project)
    ids = sorted(clusters)
    bags = [cluster_bag(clusters[i]) for i in ids]
    named = [sorted(cluster_bag(clusters[i], values=False)) for i in ids]
    pair_owners, pair_bags = [], []
    for position, cluster_id in enumerate(ids):
        for pair in clusters[cluster_id].pairs:
            for question in pair.questions:
                pair_owners.append(position)
                pair_bags.append(dict(term_counts(question)))
    return ids, bags, pair_owners, pair_bags, named


def source_fingerprint(project: "Project") -> str | None:
    """A digest of the path, size, mtime, ctime and inode of every file the project's clusters came from (None
    when one is missing, e.g. a project built in memory). The ctime catches a file restored with its old size and
    mtime (cp -p, rsync -a, tar): no tool can set it back. A cluster left out for a broken file counts every file
    of its folder, the broken one too, under a mark of its own: breaking a file, breaking another or fixing it
    each make another digest."""
    digest = hashlib.sha1(f"{ROUTE_CACHE_VERSION}\n{sorted(CLUSTER_FIELDS.items())}\n".encode())
    try:
        for cluster_id in sorted(routed_clusters(project)):
            if cluster_id in project.broken:
                folder = project.broken[cluster_id].path
                digest.update(f"not loaded\0{cluster_id}\n".encode())
                paths = [folder / "cluster.yaml", *sorted((folder / "datasets").glob("*.yaml")),
                         *sorted((folder / "pairs").glob("*.yaml")), *sorted((folder / "docs").glob("*.md"))]
            else:
                cluster = project.clusters[cluster_id]
                paths = [cluster.path / "cluster.yaml", *(d.path for d in cluster.dataset_files.values()),
                         *(p.path for p in cluster.pairs), *(d.path for d in cluster.docs)]
            for path in paths:
                status = path.stat()
                digest.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\0{status.st_ctime_ns}\0{status.st_ino}\n".encode())
    except (OSError, TypeError, AttributeError):
        return None
    return digest.hexdigest()


def _read_route_cache(project: "Project", fingerprint: str):
    try:
        data = json.loads((cache_folder(project.config.root) / ROUTE_CACHE).read_text(encoding="utf-8"))
        if data.get("fingerprint") != fingerprint:
            return None
        return data["cluster_ids"], data["bags"], data["pair_owners"], data["pair_bags"], data["named"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_route_cache(project: "Project", fingerprint: str, parts) -> None:
    ids, bags, pair_owners, pair_bags, named = parts
    text = json.dumps({"fingerprint": fingerprint, "cluster_ids": ids, "bags": bags, "pair_owners": pair_owners,
                       "pair_bags": pair_bags, "named": named}, separators=(",", ":"))
    try:
        atomic_write(cache_folder(project.config.root) / ROUTE_CACHE, text)
    except OSError:
        pass  # a read-only checkout still routes; it just rebuilds the index next time


_CLUSTER_INDEXES: dict[int, tuple[weakref.ref, ClusterIndex]] = {}


def cluster_index(cluster: "Cluster") -> ClusterIndex:
    """The index of one cluster (built on first use, then kept for the life of the Cluster object)."""
    cached = _CLUSTER_INDEXES.get(id(cluster))
    if cached is not None and cached[0]() is cluster:
        return cached[1]
    index = build_cluster_index(cluster)
    _CLUSTER_INDEXES[id(cluster)] = (weakref.ref(cluster), index)
    return index


def term_counts(text: str) -> Counter:
    return Counter(tokenize(text))
