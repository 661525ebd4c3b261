"""BM25 indexes over a project: one over whole clusters (for routing) and, per cluster, over its tables,
pairs and doc sections (for context selection and the offline answerer).

Documents are bags of weighted fields; a term's frequency in a document is the sum of the weights of the
fields it occurs in (BM25F, simplified). Indexes are built on first use and kept for the life of the
``Project`` object, so a warm process routes and selects without re-tokenizing anything. The routing index
is also cached on disk (``.vedder/route-index.sqlite``, ``StoredIndex``), keyed by the stat of every file it was
built from: each term's frequency in every cluster and pair question, so routing a question reads only the rows of
its own terms and loads no cluster (1,096 Spider clusters: ~10 ms instead of loading 34k files), and each cluster's
part of the index under the digest of its own files. What depends on every cluster (idf, the average document
length) is worked out when a question is routed, so after an edit only the edited cluster is loaded and indexed
again, and only the terms whose frequencies it changed are written. A cache that does not read is written anew;
one that cannot be written is routed around (indexed in memory).

>>> index = BM25([{"user": 2.0, "country": 1.0}, {"song": 1.0}])
>>> [round(s, 2) for s in index.scores(["country"])]
[0.58, 0.0]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
import threading
import weakref
from array import array
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from vedder.context.tokenize import split_identifier, stem, tokenize
from vedder.files import new_file_mode
from vedder.project.model import cache_folder, in_processes, load_cached, use_processes

if TYPE_CHECKING:
    from vedder.project import Cluster, Dataset, Doc, Pair, Project
    from vedder.project.model import ClusterFiles

Bag = dict[str, float]

# Field weights: names say more about what a cluster covers than free text does.
CLUSTER_FIELDS = {
    "title": 3.0, "keywords": 3.0, "description": 1.5, "table": 2.5, "column": 1.5, "schema_text": 0.6,
    "value": 1.0, "question": 1.0, "doc_title": 1.0, "doc": 0.4,
}
TABLE_FIELDS = {"table": 3.0, "description": 1.0, "column": 2.0, "column_text": 0.7, "value": 1.0}
PAIR_FIELDS = {"question": 1.0, "tags": 0.5, "notes": 0.3}


class Okapi:
    """How BM25 weighs a term's postings, from every document's length: what ``BM25`` and the routing store
    (``StoredBM25``) share, so both give the same scores to the last bit."""

    def __init__(self, lengths: list[float], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.size = len(lengths)
        self.lengths = lengths
        self.average_length = (sum(lengths) / self.size) if self.size else 1.0

    def _idf(self, document_frequency: int) -> float:
        return math.log(1 + (self.size - document_frequency + 0.5) / (document_frequency + 0.5))

    def unknown_idf(self) -> float:
        return self._idf(0)

    def weighed(self, idf: float, postings: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
        """(document, what a term of ``idf`` adds to its score) for each (document, frequency) of ``postings``."""
        k1, b, lengths, average = self.k1, self.b, self.lengths, self.average_length or 1.0
        return [(position, idf * frequency * (k1 + 1) / (frequency + k1 * (1 - b + b * lengths[position] / average)))
                for position, frequency in postings]


class BM25(Okapi):
    """Okapi BM25 over weighted bags of terms."""

    def __init__(self, documents: list[Bag], k1: float = 1.2, b: float = 0.75) -> None:
        super().__init__([sum(d.values()) for d in documents], k1, b)
        self.documents = documents
        self.postings: dict[str, list[tuple[int, float]]] = {}
        for position, document in enumerate(documents):
            for term, frequency in document.items():
                self.postings.setdefault(term, []).append((position, frequency))
        self.idf = {t: self._idf(len(p)) for t, p in self.postings.items()}

    def weights(self, term: str) -> list[tuple[int, float]]:
        """(document, what ``term`` adds to its score) for each document holding ``term``."""
        idf = self.idf.get(term)
        return [] if idf is None else self.weighed(idf, self.postings[term])

    def scores(self, terms: Iterable[str]) -> list[float]:
        totals = [0.0] * self.size
        for term in terms:
            for position, weight in self.weights(term):
                totals[position] += weight
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
    """The routing index: one BM25 document per cluster, plus each cluster's own index built on demand.

    From the disk cache, ``index`` and ``pair_index`` read each term's postings when a question uses it, and
    ``bags`` and ``named`` read one cluster's entry when it is asked for (``StoredIndex``)."""

    cluster_ids: list[str]
    bags: Sequence[Bag]
    index: "BM25 | StoredBM25"
    pair_owners: list[int]
    pair_index: "BM25 | StoredBM25"
    named: Sequence[set[str]] = field(default_factory=list)
    """Per cluster, the terms it knows other than as data values (names, descriptions, questions, docs)."""
    not_loaded: set[str] = field(default_factory=set)
    """Ids of clusters left out for a broken file, indexed from what of them reads (``BrokenCluster.readable``)."""


_INDEXES: dict[int, tuple[weakref.ref, ProjectIndex]] = {}
ROUTE_CACHE = "route-index.sqlite"
"""In the project's cache folder (``.vedder/``, see ``vedder.project.model.cache_folder``)."""
# Bump when what goes into the routing index changes (tokenizing, what a part holds); fields, BM25's parameters and
# the store's tables are part of STORE_FORMAT already.
ROUTE_CACHE_VERSION = 4
CLUSTER_BM25 = {"k1": 1.5, "b": 0.5}
PAIR_BM25 = {"k1": 1.2, "b": 0.75}
STORE_TABLES = """
CREATE TABLE meta (format TEXT, fingerprint TEXT, cluster_ids TEXT, slots BLOB, lengths BLOB, pair_counts BLOB,
                   pair_lengths BLOB);
CREATE TABLE clusters (id TEXT PRIMARY KEY, slot INTEGER, key TEXT, length REAL, pair_lengths BLOB);
CREATE TABLE parts (id TEXT PRIMARY KEY, bag TEXT, named TEXT, pair_bags TEXT);
CREATE TABLE cluster_terms (term TEXT PRIMARY KEY, slots BLOB, frequencies BLOB) WITHOUT ROWID;
CREATE TABLE pair_terms (term TEXT PRIMARY KEY, slots BLOB, locals BLOB, frequencies BLOB) WITHOUT ROWID;
"""
STORE_FORMAT = f"{ROUTE_CACHE_VERSION}\n{sorted(CLUSTER_FIELDS.items())}\n{CLUSTER_BM25}\n{PAIR_BM25}\n{STORE_TABLES}"
"""What a store's parts were indexed under: a store of another format is written anew, none of it reused."""

Part = tuple[Bag, list[str], list[Bag]]
"""One cluster's share of the routing index: its bag, its named terms (sorted), one bag per pair question."""


def project_index(project: "Project") -> ProjectIndex:
    """The routing index of ``project`` (once per Project object): from the disk cache when it is fresh, else from
    the cache brought up to date by indexing again only the clusters whose files changed."""
    key = id(project)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0]() is project:
        return cached[1]
    ids = routed_ids(project)
    keys = _part_keys(project, ids)
    fingerprint = _fingerprint(keys)
    path = cache_folder(project.config.root) / ROUTE_CACHE
    store = None
    if fingerprint:
        store = StoredIndex.open(path, fingerprint) or _write_store(
            path, fingerprint, keys, lambda changed: _parts(project, changed, keys, {}))
    if store is not None:
        owner = weakref.ref(project)  # the store must not keep the project alive (``_INDEXES`` holds it weakly)
        store.rebuild = lambda: _rebuilt_index(owner(), ids, keys, path, fingerprint)  # type: ignore[arg-type]
        index = ProjectIndex(cluster_ids=store.cluster_ids, bags=store.rows("bag", dict), index=store.bm25["cluster"],
                             pair_owners=store.pair_owners, pair_index=store.bm25["pair"],
                             named=store.rows("named", set), not_loaded=set(project.broken) & set(ids))
    else:  # built in memory: a project with no files to key a store by, or a store that cannot be written
        index = _memory_index(project, ids, _parts(project, ids, keys, StoredIndex.parts(path) if fingerprint else {}))
    for gone in [k for k, (ref, _) in _INDEXES.items() if ref() is None]:
        del _INDEXES[gone]  # and with it the store's open connection
    _INDEXES[key] = (weakref.ref(project), index)
    return index


def _memory_index(project: "Project", ids: list[str], parts: list[Part]) -> ProjectIndex:
    """The routing index of ``parts`` (one per id of ``ids``) in memory."""
    bags, pair_owners, pair_bags, named = _assemble(parts)
    return ProjectIndex(cluster_ids=ids, bags=bags, index=BM25(bags, **CLUSTER_BM25), pair_owners=pair_owners,
                        pair_index=BM25(pair_bags, **PAIR_BM25), named=[set(terms) for terms in named],
                        not_loaded=set(project.broken) & set(ids))


def _rebuilt_index(project: "Project", ids: list[str], keys: dict[str, str], path: Path, fingerprint: str) -> ProjectIndex:
    """The routing index built in memory from the clusters, for a store that failed to read; a new store is written
    from the same parts (none taken from the failed one) for the next process."""
    parts = dict(zip(ids, _parts(project, ids, keys, {})))
    written = _write_store(path, fingerprint, keys, lambda changed: [parts[cid] for cid in changed], anew=True)
    if written is not None:
        written.connection.close()
    return _memory_index(project, ids, list(parts.values()))


def routed_ids(project: "Project") -> list[str]:
    """The ids routing indexes: the loaded clusters, and those left out for a broken file (a question that is theirs
    must find them, not the next best cluster). Loads no cluster."""
    return sorted({*project.clusters, *project.broken})


def routed_cluster(project: "Project", cluster_id: str) -> "Cluster":
    """The cluster routing indexes as ``cluster_id``: the loaded one, or what still reads of one left out."""
    broken = project.broken.get(cluster_id)
    return broken.readable if broken is not None else project.clusters[cluster_id]


def cluster_part(cluster: "Cluster") -> Part:
    pair_bags = [dict(term_counts(question)) for pair in cluster.pairs for question in pair.questions]
    return cluster_bag(cluster), sorted(cluster_bag(cluster, values=False)), pair_bags


def _parts(project: "Project", ids: list[str], keys: dict[str, str], stored: dict[str, tuple[str, Part]]) -> list[Part]:
    """Each cluster's part: from the stored index when its key is unchanged, else indexed now (on every core when
    there are many: a first run)."""
    parts = {cid: stored[cid][1] for cid in ids if cid in stored and stored[cid][0] == keys.get(cid)}
    loaded = set(getattr(project.clusters, "loaded", project.clusters))
    unloaded = [cid for cid in ids if cid not in parts and cid not in project.broken and cid not in loaded and keys]
    if use_processes(len(unloaded)):
        jobs = [(project.root, cid, project.files[cid]) for cid in unloaded]  # type: ignore[index]
        parts.update(zip(unloaded, in_processes(_stored_cluster_part, jobs)))
    return [parts[cid] if cid in parts else cluster_part(routed_cluster(project, cid)) for cid in ids]


def _stored_cluster_part(job: tuple[Path, str, "ClusterFiles"]) -> Part:
    """The part of the cluster of ``job`` (root, folder name, files), loaded through its parse cache (in a worker)."""
    return cluster_part(load_cached(*job))


def _assemble(parts: list[Part]) -> tuple[list[Bag], list[int], list[Bag], list[list[str]]]:
    bags, pair_owners, pair_bags, named = [], [], [], []
    for position, (bag, terms, questions) in enumerate(parts):
        bags.append(bag)
        named.append(terms)
        pair_owners += [position] * len(questions)
        pair_bags += questions
    return bags, pair_owners, pair_bags, named


def _route_parts(project: "Project") -> tuple[list[str], list[Bag], list[int], list[Bag], list[list[str]]]:
    """The routing index of ``project`` built from scratch: ids, bags, pair owners, pair bags, named terms."""
    ids = routed_ids(project)
    bags, pair_owners, pair_bags, named = _assemble([cluster_part(routed_cluster(project, cid)) for cid in ids])
    return ids, bags, pair_owners, pair_bags, named


def _part_keys(project: "Project", ids: list[str]) -> dict[str, str]:
    """Per routed cluster, the digest of its files' stats (``ClusterFiles.digest``) under a mark of its own when it
    is left out for a broken file: breaking a file, breaking another or fixing it each make another key. Empty for
    a project built in memory (nothing to key a cache by)."""
    if project.files is None or any(cid not in project.files for cid in ids):
        return {}
    return {cid: ("not loaded " if cid in project.broken else "") + project.files[cid].digest for cid in ids}


def _fingerprint(keys: dict[str, str]) -> str | None:
    """A digest of every routed cluster's key: of the stat (size, mtime, ctime, inode) of every file the project's
    clusters came from, as ``load_project`` found them. The ctime catches a file restored with its old size and
    mtime (cp -p, rsync -a, tar): no tool can set it back."""
    if not keys:
        return None
    digest = hashlib.sha1(STORE_FORMAT.encode())
    for cluster_id in sorted(keys):
        digest.update(f"{cluster_id}\0{keys[cluster_id]}\n".encode())
    return digest.hexdigest()


READ_WAIT_S = 0.2
"""How long a read of the routing store waits for another process's lock before routing without it."""

STALE_TEMPORARY_S = 3600
"""A store's temporary copy older than this was left by a writer that was killed (one renames its copy within
seconds); the next writer removes it."""
MEMO_TERMS = 50_000
"""Terms whose weights a stored index keeps worked out; past this (a server asked every word there is) it starts over."""
POSTINGS = {"cluster": {"slots": "i", "frequencies": "d"}, "pair": {"slots": "i", "locals": "i", "frequencies": "d"}}
"""The columns of a term's postings and their array typecodes, sorted by slot (then by the pair question's number
in its cluster)."""


def _arrays(typecodes: Iterable[str], blobs: Iterable[bytes] = ()) -> list[array]:
    columns = [array(code) for code in typecodes]
    for column, blob in zip(columns, blobs):
        column.frombytes(blob)
    return columns


class StoredIndex:
    """The routing index in SQLite (``ROUTE_CACHE``), kept as what does not depend on the other clusters: per term,
    its frequency in each cluster and pair question holding it, by the cluster's *slot* (a number a cluster keeps
    while others come and go); per cluster, its part under its key and the lengths of its documents. BM25's idf and
    average length, which depend on every cluster, are worked out as a question reads its terms (``Okapi.weighed``,
    as ``BM25`` does: the same scores to the last bit), so an edit rewrites only the postings of the terms whose
    frequencies it changed (``_write_store``). Read-only once open; a lock makes one connection serve a threaded
    server.

    A read that fails past the meta row (a corrupt page: caches are written without fsync, so a crash can leave
    one; a foreign lock) must not weigh nothing, which routes every question as not covered: ``built`` is then the
    index built from the clusters by ``rebuild``, written as a new store, and answers instead."""

    def __init__(self, connection: Any, cluster_ids: list[str], slots: list[int], lengths: list[float],
                 pair_counts: list[int], pair_lengths: list[float]) -> None:
        self.connection, self.cluster_ids = connection, cluster_ids
        self.pair_owners = [position for position, count in enumerate(pair_counts) for _ in range(count)]
        position_of, first_pair_of = [0] * (max(slots, default=-1) + 1), [0] * (max(slots, default=-1) + 1)
        for position, (slot, first_pair) in enumerate(zip(slots, accumulate(pair_counts, initial=0))):
            position_of[slot], first_pair_of[slot] = position, first_pair
        self.bm25 = {"cluster": StoredBM25(self, "cluster", position_of, lengths, **CLUSTER_BM25),
                     "pair": StoredBM25(self, "pair", first_pair_of, pair_lengths, **PAIR_BM25)}
        self.lock = threading.Lock()
        self.rebuild: "Callable[[], ProjectIndex] | None" = None
        self._built: ProjectIndex | None = None
        self._building = threading.Lock()

    def built(self) -> ProjectIndex:
        """The index built from the clusters (once), for a store that failed to read."""
        with self._building:
            if self._built is None:
                if self.rebuild is None:
                    raise RuntimeError("a stored routing index failed to read and has nothing to rebuild it from")
                self._built = self.rebuild()
            return self._built

    @classmethod
    def open(cls, path: Path, fingerprint: str) -> "StoredIndex | None":
        """The store at ``path`` when it was built for ``fingerprint``; else None."""
        import sqlite3

        if not path.is_file():
            return None
        try:
            # A store another process holds locked is read around (rebuilt from the clusters), not waited on for 5 s a read.
            connection = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, check_same_thread=False, timeout=READ_WAIT_S)
        except sqlite3.Error:
            return None
        try:
            row = connection.execute(
                "SELECT fingerprint, cluster_ids, slots, lengths, pair_counts, pair_lengths FROM meta").fetchone()
            if row is not None and row[0] == fingerprint:
                return cls(connection, json.loads(row[1]), *(column.tolist() for column in _arrays("idid", row[2:])))
        except (sqlite3.Error, ValueError, TypeError):
            pass
        connection.close()
        return None

    @staticmethod
    def parts(path: Path) -> dict[str, tuple[str, Part]]:
        """Every cluster's part in the store at ``path`` with its key, by id; {} when there is none of this format."""
        import sqlite3

        if not path.is_file():
            return {}
        try:
            connection = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=READ_WAIT_S)
            try:
                same_format = connection.execute("SELECT format FROM meta").fetchone() == (STORE_FORMAT,)
                rows = connection.execute("SELECT id, key, bag, named, pair_bags FROM clusters JOIN parts USING (id)").fetchall() if same_format else []
            finally:
                connection.close()
            return {cid: (key, (json.loads(bag), json.loads(named), json.loads(pair_bags))) for cid, key, bag, named, pair_bags in rows}
        except (sqlite3.Error, ValueError, TypeError):
            return {}

    def postings(self, kind: str, term: str) -> list[array]:
        """The columns of ``term``'s postings in the ``kind`` ("cluster" or "pair") documents (``POSTINGS``), empty
        when no document holds it; raises sqlite3.Error or TypeError when the store does not read (see ``built``)."""
        with self.lock:
            row = self.connection.execute(f"SELECT {', '.join(POSTINGS[kind])} FROM {kind}_terms WHERE term = ?",
                                          (term,)).fetchone()
        return _arrays(POSTINGS[kind].values(), row or ())

    def rows(self, column: str, kind: type) -> "StoredRows":
        return StoredRows(self, column, kind)


class StoredBM25(Okapi):
    """``BM25.scores`` from the postings the store keeps: each term's weights worked out when a question first uses
    it, from every document's length stored by position and ``where`` (per slot, the position of the cluster, or of
    its first pair question)."""

    def __init__(self, store: StoredIndex, kind: str, where: list[int], lengths: list[float], k1: float, b: float) -> None:
        super().__init__(lengths, k1, b)
        self.store, self.kind, self.where = store, kind, where
        self.memo: dict[str, list[tuple[int, float]]] = {}

    def weights(self, term: str) -> list[tuple[int, float]]:
        found = self.memo.get(term)
        if found is None:
            columns, where = self.store.postings(self.kind, term), self.where
            slots, frequencies = columns[0], columns[-1]
            positions = ([where[slot] for slot in slots] if self.kind == "cluster" else
                         [where[slot] + number for slot, number in zip(slots, columns[1])])
            if len(self.memo) >= MEMO_TERMS:
                self.memo.clear()
            found = self.memo[term] = self.weighed(self._idf(len(slots)), zip(positions, frequencies)) if slots else []
        return found

    def scores(self, terms: Iterable[str]) -> list[float]:
        import sqlite3

        terms = list(terms)
        totals = [0.0] * self.size
        try:
            for term in terms:
                for position, weight in self.weights(term):
                    totals[position] += weight
        except (sqlite3.Error, ValueError, TypeError, IndexError):
            built = self.store.built()
            return (built.index if self.kind == "cluster" else built.pair_index).scores(terms)
        return totals


class StoredRows(Sequence):
    """One column of the store's per-cluster parts (bag or named terms), read one cluster at a time."""

    def __init__(self, store: StoredIndex, column: str, kind: type) -> None:
        self.store, self.column, self.kind = store, column, kind
        self.memo: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.store.cluster_ids)

    def __getitem__(self, position):  # type: ignore[override]
        if isinstance(position, slice):
            return [self[i] for i in range(len(self))[position]]
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(position)
        if position not in self.memo:
            import sqlite3

            try:
                with self.store.lock:
                    row = self.store.connection.execute(f"SELECT {self.column} FROM parts WHERE id = ?",
                                                        (self.store.cluster_ids[position],)).fetchone()
                self.memo[position] = self.kind(json.loads(row[0]))
            except (sqlite3.Error, ValueError, TypeError):  # TypeError: no such row
                built = self.store.built()
                return (built.bags if self.column == "bag" else built.named)[position]
        return self.memo[position]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


def _write_store(path: Path, fingerprint: str, keys: dict[str, str], parts_of: Callable[[list[str]], list[Part]], *,
                 anew: bool = False) -> StoredIndex | None:
    """The store for ``fingerprint`` (the clusters and keys of ``keys``), written and opened: a copy of the store at
    ``path`` in which only the clusters whose key changed, came or went are indexed again (``parts_of`` gives the
    parts of a list of ids), or every cluster indexed into an empty one when there is no store of this format (or
    ``anew``, or the copy does not read: a bad page). Written through a temporary file and a rename, as whole stores
    are: a process reading the old one keeps reading it, and two processes writing at once each rename a whole
    store. None when it cannot be written (a read-only checkout routes from memory)."""
    import sqlite3

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, new_file_mode())
        os.close(fd)
    except OSError:
        return None
    connection = None
    try:
        stored = None if anew else _copied_store(path, Path(tmp))
        connection = sqlite3.connect(tmp)
        connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"  # a copy, renamed when whole
                                 + ("" if stored is not None else STORE_TABLES))
        changed = [cid for cid in sorted(keys) if cid not in (stored or {}) or stored[cid][1] != keys[cid]]  # type: ignore[index]
        gone = [cid for cid in stored or {} if cid not in keys]
        _update_store(connection, stored or {}, keys, dict(zip(changed, parts_of(changed))), gone)
        _write_meta(connection, fingerprint)
        connection.commit()
        connection.close()
        connection = None
        store = StoredIndex.open(Path(tmp), fingerprint)
        if store is not None:
            os.replace(tmp, path)  # the open connection keeps reading the file under its new name
            (path.parent / "route-index.json").unlink(missing_ok=True)  # the JSON cache earlier versions kept
        return store
    except (OSError, sqlite3.OperationalError):  # no room, no permission
        return None
    except (sqlite3.DatabaseError, ValueError, TypeError):  # a copy that does not read
        if anew:
            return None
    finally:
        if connection is not None:
            connection.close()
        Path(tmp).unlink(missing_ok=True)  # already gone when renamed
    return _write_store(path, fingerprint, keys, parts_of, anew=True)


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the temporary copies of the store at ``path`` that writers killed mid-write left (about the store's
    size each); a copy another writer may still be filling is younger than ``STALE_TEMPORARY_S``."""
    import time

    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if time.time() - leftover.stat().st_mtime > STALE_TEMPORARY_S:
                leftover.unlink()
        except OSError:
            continue  # gone already, or not ours to remove


def _copied_store(path: Path, tmp: Path) -> dict[str, tuple[int, str]] | None:
    """Copy the store at ``path`` into ``tmp``: its clusters' (slot, key) by id; None, with ``tmp`` left empty, when
    there is no store of this format to copy. Stores are only ever renamed into place, so the copy is a whole one."""
    import sqlite3

    try:
        shutil.copyfile(path, tmp)
        connection = sqlite3.connect(tmp)
        try:
            if connection.execute("SELECT format FROM meta").fetchone() == (STORE_FORMAT,):
                return {cid: (slot, key) for cid, slot, key in connection.execute("SELECT id, slot, key FROM clusters")}
        finally:
            connection.close()
    except (OSError, sqlite3.Error):
        pass
    tmp.write_bytes(b"")
    return None


def _update_store(connection: Any, stored: dict[str, tuple[int, str]], keys: dict[str, str], parts: dict[str, Part],
                  gone: list[str]) -> None:
    """Index ``parts`` (by cluster id) into the store of ``connection`` and drop the clusters ``gone``: each keeps
    its slot, a new one takes the next; the postings of a term are rewritten only where a frequency changed (all
    written at once into an empty store)."""
    changes: dict[str, dict[str, dict[int, list[tuple]]]] = {"cluster": {}, "pair": {}}
    slots = {cid: slot for cid, (slot, _) in stored.items()}
    next_slot = max(slots.values(), default=-1) + 1
    for cid in [*gone, *parts]:
        if cid not in slots:
            slots[cid], next_slot = next_slot, next_slot + 1
        if not stored:
            continue  # an empty store: its postings are appended below
        row = connection.execute("SELECT bag, pair_bags FROM parts WHERE id = ?", (cid,)).fetchone() if cid in stored else ("{}", "[]")
        old = _postings_of(json.loads(row[0]), json.loads(row[1]))  # TypeError when a stored cluster has no part
        part = parts.get(cid)
        new = _postings_of(part[0], part[2]) if part is not None else {"cluster": {}, "pair": {}}
        for kind in changes:
            for term in old[kind].keys() | new[kind].keys():
                if old[kind].get(term) != new[kind].get(term):
                    changes[kind].setdefault(term, {})[slots[cid]] = new[kind].get(term, [])
        connection.execute("DELETE FROM clusters WHERE id = ?", (cid,))
        connection.execute("DELETE FROM parts WHERE id = ?", (cid,))
    connection.executemany("INSERT INTO clusters VALUES (?, ?, ?, ?, ?)", (
        (cid, slots[cid], keys[cid], sum(bag.values()), array("d", [sum(question.values()) for question in pair_bags]).tobytes())
        for cid, (bag, _, pair_bags) in parts.items()))
    connection.executemany("INSERT INTO parts VALUES (?, ?, ?, ?)", (
        (cid, json.dumps(bag, separators=(",", ":")), json.dumps(named), json.dumps(pair_bags, separators=(",", ":")))
        for cid, (bag, named, pair_bags) in parts.items()))
    if not stored:
        _append_postings(connection, [(slots[cid], part) for cid, part in parts.items()])
        return
    for kind, terms in changes.items():
        names = ", ".join(POSTINGS[kind])
        for term, by_slot in terms.items():
            row = connection.execute(f"SELECT {names} FROM {kind}_terms WHERE term = ?", (term,)).fetchone()
            columns = _spliced(_arrays(POSTINGS[kind].values(), row or ()), by_slot)
            if columns[0]:
                connection.execute(f"INSERT OR REPLACE INTO {kind}_terms VALUES (?, {', '.join('?' for _ in columns)})",
                                   (term, *(column.tobytes() for column in columns)))
            else:
                connection.execute(f"DELETE FROM {kind}_terms WHERE term = ?", (term,))


def _append_postings(connection: Any, parts: list[tuple[int, Part]]) -> None:
    """Every term's postings in ``parts`` (slot, part; by slot) written into an empty store."""
    postings: dict[str, dict[str, list[list]]] = {"cluster": {}, "pair": {}}
    for slot, (bag, _, pair_bags) in sorted(parts, key=lambda item: item[0]):
        for term, frequency in bag.items():
            columns = postings["cluster"].get(term) or postings["cluster"].setdefault(term, [[], []])
            columns[0].append(slot)
            columns[1].append(frequency)
        for number, question in enumerate(pair_bags):
            for term, frequency in question.items():
                columns = postings["pair"].get(term) or postings["pair"].setdefault(term, [[], [], []])
                columns[0].append(slot)
                columns[1].append(number)
                columns[2].append(frequency)
    for kind, terms in postings.items():
        typecodes = list(POSTINGS[kind].values())
        connection.executemany(f"INSERT INTO {kind}_terms VALUES (?, {', '.join('?' for _ in typecodes)})", (
            (term, *(array(code, column).tobytes() for code, column in zip(typecodes, columns)))
            for term, columns in terms.items()))


def _postings_of(bag: Bag, pair_bags: list[Bag]) -> dict[str, dict[str, list[tuple]]]:
    """A cluster's postings, by kind and term: [(frequency,)] in its bag, [(number, frequency), …] in its pair
    questions (their columns after the slot, ``POSTINGS``)."""
    pairs: dict[str, list[tuple]] = {}
    for number, question in enumerate(pair_bags):
        for term, frequency in question.items():
            pairs.setdefault(term, []).append((number, frequency))
    return {"cluster": {term: [(frequency,)] for term, frequency in bag.items()}, "pair": pairs}


def _spliced(columns: list[array], by_slot: dict[int, list[tuple]]) -> list[array]:
    """``columns`` (slots first, sorted) with each slot's entries replaced by those of ``by_slot``."""
    slots = columns[0]
    for slot in sorted(by_slot):
        entries = by_slot[slot]
        start, end = bisect_left(slots, slot), bisect_right(slots, slot)
        slots[start:end] = array(slots.typecode, [slot] * len(entries))
        for number, column in enumerate(columns[1:]):
            column[start:end] = array(column.typecode, [entry[number] for entry in entries])
    return columns


def _write_meta(connection: Any, fingerprint: str) -> None:
    """The meta row, from the parts: the clusters' ids, slots and lengths by position (ids sorted, as
    ``routed_ids``), the number and lengths of their pair questions in that order."""
    rows = sorted(connection.execute("SELECT id, slot, length, pair_lengths FROM clusters"))
    connection.execute("DELETE FROM meta")
    connection.execute("INSERT INTO meta VALUES (?, ?, ?, ?, ?, ?, ?)", (
        STORE_FORMAT, fingerprint, json.dumps([cid for cid, *_ in rows]), array("i", [slot for _, slot, _, _ in rows]).tobytes(),
        array("d", [length for _, _, length, _ in rows]).tobytes(),
        array("i", [len(lengths) // array("d").itemsize for *_, lengths in rows]).tobytes(),
        b"".join(lengths for *_, lengths in rows)))


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
