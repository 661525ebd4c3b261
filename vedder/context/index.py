"""BM25 indexes over a project: one over whole clusters (for routing) and, per cluster, over its tables,
pairs and doc sections (for context selection and the offline answerer).

Documents are bags of weighted fields; a term's frequency in a document is the sum of the weights of the
fields it occurs in (BM25F, simplified). Indexes are built on first use and kept for the life of the
``Project`` object, so a warm process routes and selects without re-tokenizing anything. The routing index
is also cached on disk (``.vedder/route-index.sqlite``), keyed by the stat of every file it was built from: each
term's weight in every cluster and pair question, so routing a question reads only the rows of its own terms and
loads no cluster (1,096 Spider clusters: ~10 ms instead of loading 34k files), and each cluster's part of the
index under the digest of its own files, so after an edit only the edited cluster is loaded and indexed again.
A stale, unreadable or unwritable cache is ignored.

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
import tempfile
import threading
import weakref
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
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

    def weights(self, term: str) -> list[tuple[int, float]]:
        """(document, what ``term`` adds to its score) for each document holding ``term``."""
        idf = self.idf.get(term)
        if idf is None:
            return []
        weights = []
        for position, frequency in self.postings[term]:
            norm = self.k1 * (1 - self.b + self.b * self.lengths[position] / (self.average_length or 1.0))
            weights.append((position, idf * frequency * (self.k1 + 1) / (frequency + norm)))
        return weights

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

    From the disk cache, ``index`` and ``pair_index`` read each term's weights when a question uses it, and
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
# Bump when what goes into the routing index changes (fields, weights, tokenizing) or the cache's tables.
ROUTE_CACHE_VERSION = 3
CLUSTER_BM25 = {"k1": 1.5, "b": 0.5}

Part = tuple[Bag, list[str], list[Bag]]
"""One cluster's share of the routing index: its bag, its named terms (sorted), one bag per pair question."""


def project_index(project: "Project") -> ProjectIndex:
    """The routing index of ``project`` (once per Project object; from the disk cache when it is fresh)."""
    key = id(project)
    cached = _INDEXES.get(key)
    if cached is not None and cached[0]() is project:
        return cached[1]
    ids = routed_ids(project)
    keys = _part_keys(project, ids)
    fingerprint = _fingerprint(keys)
    path = cache_folder(project.config.root) / ROUTE_CACHE
    store = StoredIndex.open(path, fingerprint) if fingerprint else None
    if store is not None:
        owner = weakref.ref(project)  # the store must not keep the project alive (``_INDEXES`` holds it weakly)
        store.rebuild = lambda: _built_index(owner(), ids, keys, path, fingerprint, {})  # type: ignore[arg-type]
        index = ProjectIndex(cluster_ids=store.cluster_ids, bags=store.rows("bag", dict), index=StoredBM25(store, "cluster"),
                             pair_owners=store.pair_owners, pair_index=StoredBM25(store, "pair"),
                             named=store.rows("named", set), not_loaded=set(project.broken) & set(ids))
    else:
        index = _built_index(project, ids, keys, path, fingerprint, StoredIndex.parts(path) if fingerprint else {})
    for gone in [k for k, (ref, _) in _INDEXES.items() if ref() is None]:
        del _INDEXES[gone]  # and with it the store's open connection
    _INDEXES[key] = (weakref.ref(project), index)
    return index


def _built_index(project: "Project", ids: list[str], keys: dict[str, str], path: Path, fingerprint: str | None,
                 stored: dict[str, tuple[str, Part]]) -> ProjectIndex:
    """The routing index built in memory (each cluster's part from ``stored`` when its key is unchanged), and the
    store written for ``fingerprint``."""
    parts = _parts(project, ids, keys, stored)
    bags, pair_owners, pair_bags, named = _assemble(parts)
    index = ProjectIndex(cluster_ids=ids, bags=bags, index=BM25(bags, **CLUSTER_BM25), pair_owners=pair_owners,
                         pair_index=BM25(pair_bags), named=[set(terms) for terms in named],
                         not_loaded=set(project.broken) & set(ids))
    if fingerprint:
        _write_store(path, fingerprint, ids, keys, parts, index)
    return index


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
    digest = hashlib.sha1(f"{ROUTE_CACHE_VERSION}\n{sorted(CLUSTER_FIELDS.items())}\n{CLUSTER_BM25}\n".encode())
    for cluster_id in sorted(keys):
        digest.update(f"{cluster_id}\0{keys[cluster_id]}\n".encode())
    return digest.hexdigest()


READ_WAIT_S = 0.2
"""How long a read of the routing store waits for another process's lock before routing without it."""


class StoredIndex:
    """The routing index in SQLite (``ROUTE_CACHE``): each term's weights per cluster and per pair question, so a
    question reads the rows of its terms only; each cluster's part under its key, for rebuilding after an edit.
    Read-only once open; a lock makes one connection serve a threaded server.

    A read that fails past the meta row (a corrupt page: caches are written without fsync, so a crash can leave
    one; a foreign lock) must not weigh nothing, which routes every question as not covered: ``built`` is then the
    index built from the clusters by ``rebuild``, written as a new store, and answers instead."""

    def __init__(self, connection: Any, cluster_ids: list[str], pair_owners: list[int]) -> None:
        self.connection, self.cluster_ids, self.pair_owners = connection, cluster_ids, pair_owners
        self.lock = threading.Lock()
        self.memo: dict[tuple[str, str], list[tuple[int, float]]] = {}
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
            row = connection.execute("SELECT fingerprint, cluster_ids, pair_owners FROM meta").fetchone()
            if row is None or row[0] != fingerprint:
                connection.close()
                return None
            owners = array("i")
            owners.frombytes(row[2])
            return cls(connection, json.loads(row[1]), owners.tolist())
        except (sqlite3.Error, ValueError, TypeError):
            return None

    @staticmethod
    def parts(path: Path) -> dict[str, tuple[str, Part]]:
        """Every cluster's part in the store at ``path`` with its key, by id; {} when there is none to read."""
        import sqlite3

        if not path.is_file():
            return {}
        try:
            connection = sqlite3.connect(path.as_uri() + "?mode=ro", uri=True, timeout=READ_WAIT_S)
            try:
                rows = connection.execute("SELECT id, key, bag, named, pair_bags FROM parts").fetchall()
            finally:
                connection.close()
            return {cid: (key, (json.loads(bag), json.loads(named), json.loads(pair_bags))) for cid, key, bag, named, pair_bags in rows}
        except (sqlite3.Error, ValueError, TypeError):
            return {}

    def weights(self, kind: str, term: str) -> list[tuple[int, float]]:
        """(position, weight) of ``term`` in the ``kind`` ("cluster" or "pair") documents; raises sqlite3.Error or
        ValueError, TypeError when the store does not read (see ``built``)."""
        found = self.memo.get((kind, term))
        if found is None:
            with self.lock:
                row = self.connection.execute(f"SELECT positions, weights FROM {kind}_terms WHERE term = ?", (term,)).fetchone()
            positions, weights = array("i"), array("d")
            if row is not None:
                positions.frombytes(row[0])
                weights.frombytes(row[1])
            found = self.memo[(kind, term)] = list(zip(positions, weights))
        return found

    def rows(self, column: str, kind: type) -> "StoredRows":
        return StoredRows(self, column, kind)


class StoredBM25:
    """``BM25.scores`` from the weights the store keeps (computed by ``BM25.weights``, added in the same order: the
    same scores to the last bit)."""

    def __init__(self, store: StoredIndex, kind: str) -> None:
        self.store, self.kind = store, kind
        self.size = len(store.cluster_ids) if kind == "cluster" else len(store.pair_owners)

    def scores(self, terms: Iterable[str]) -> list[float]:
        import sqlite3

        terms = list(terms)
        totals = [0.0] * self.size
        try:
            for term in terms:
                for position, weight in self.store.weights(self.kind, term):
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
                    row = self.store.connection.execute(f"SELECT {self.column} FROM parts WHERE position = ?", (position,)).fetchone()
                self.memo[position] = self.kind(json.loads(row[0]))
            except (sqlite3.Error, ValueError, TypeError):  # TypeError: no such row
                built = self.store.built()
                return (built.bags if self.column == "bag" else built.named)[position]
        return self.memo[position]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)


def _write_store(path: Path, fingerprint: str, ids: list[str], keys: dict[str, str], parts: list[Part],
                 index: ProjectIndex) -> None:
    """Write the store for ``index`` through a temporary file and a rename; a failure costs only speed."""
    import sqlite3

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, new_file_mode())
        os.close(fd)
    except OSError:
        return  # a read-only checkout still routes; it just rebuilds the index next time
    try:
        connection = sqlite3.connect(tmp)
        try:
            connection.executescript(
                "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;"  # a cache: written whole, then renamed
                "CREATE TABLE meta (fingerprint TEXT, cluster_ids TEXT, pair_owners BLOB);"
                "CREATE TABLE parts (position INTEGER PRIMARY KEY, id TEXT, key TEXT, bag TEXT, named TEXT, pair_bags TEXT);"
                "CREATE TABLE cluster_terms (term TEXT PRIMARY KEY, positions BLOB, weights BLOB) WITHOUT ROWID;"
                "CREATE TABLE pair_terms (term TEXT PRIMARY KEY, positions BLOB, weights BLOB) WITHOUT ROWID;")
            connection.execute("INSERT INTO meta VALUES (?, ?, ?)",
                               (fingerprint, json.dumps(ids), array("i", index.pair_owners).tobytes()))
            connection.executemany("INSERT INTO parts VALUES (?, ?, ?, ?, ?, ?)", (
                (position, cid, keys[cid], json.dumps(bag, separators=(",", ":")), json.dumps(named),
                 json.dumps(questions, separators=(",", ":")))
                for position, (cid, (bag, named, questions)) in enumerate(zip(ids, parts))))
            for kind, bm25 in (("cluster", index.index), ("pair", index.pair_index)):
                connection.executemany(f"INSERT INTO {kind}_terms VALUES (?, ?, ?)", (
                    (term, array("i", [p for p, _ in weights]).tobytes(), array("d", [w for _, w in weights]).tobytes())
                    for term, weights in ((term, bm25.weights(term)) for term in bm25.postings)))
            connection.commit()
        finally:
            connection.close()
        os.replace(tmp, path)
        (path.parent / "route-index.json").unlink(missing_ok=True)  # the JSON cache earlier versions kept
    except (OSError, sqlite3.Error):
        Path(tmp).unlink(missing_ok=True)


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
