"""Loading a vedder project from disk into plain dataclasses.

Loading is lenient about content (``vedder validate`` reports content problems with positions)
but strict about readability: a file that is not YAML, or not a mapping, raises ProjectFileError — unless
``load_project(..., skip_broken=True)``, where the cluster holding it is left out and kept as a ``BrokenCluster``.

>>> matches_table("analytics.events", "analytics.*")
True
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sys
import threading
import time
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from stat import S_ISLNK
from typing import Any, Callable

from vedder.config import Config
from vedder.errors import ClusterNotFound, ProjectFileError, VedderError
from vedder.files import ParseCache, YamlDocument, atomic_write, load_yaml, load_yaml_text, read_cache, read_text, split_front_matter


def matches_table(table: str, pattern: str) -> bool:
    """Whether fully qualified ``table`` matches a cluster's dataset entry (exact name or glob).

    Names match whatever their case, except a warehouse name with capitals (PostgreSQL's quoted ``"Refunds"``):
    an exact entry ``billing.refunds`` is the lower-case table (or the view that names it), not that one.
    """
    if table != table.lower() and not any(ch in pattern for ch in "*?["):
        return table == pattern
    return fnmatch.fnmatchcase(table.lower(), pattern.lower())


@dataclass
class Owners:
    team: str
    members: list[str] = field(default_factory=list)
    contact: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"team": self.team, "members": self.members, "contact": self.contact}


@dataclass
class Column:
    name: str
    type: str = ""
    description: str = ""
    null_fraction: float | None = None
    distinct_count: int | None = None
    common_values: list[dict[str, Any]] = field(default_factory=list)
    min: Any = None
    max: Any = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Column":
        return cls(
            name=str(data.get("name", "")),
            type=str(data.get("type", "")),
            description=str(data.get("description") or ""),
            null_fraction=data.get("null_fraction"),
            distinct_count=data.get("distinct_count"),
            common_values=list(data.get("common_values") or []),
            min=data.get("min"),
            max=data.get("max"),
        )


@dataclass
class Dataset:
    """A profiled table: ``clusters/<id>/datasets/<schema>.<table>.yaml``."""

    table: str
    path: Path
    description: str = ""
    columns: list[Column] = field(default_factory=list)
    row_count: int | None = None
    partitioning: dict[str, Any] | None = None
    profiled_at: str | None = None
    source: YamlDocument | None = field(default=None, repr=False)

    @property
    def schema_name(self) -> str:
        return self.table.rsplit(".", 1)[0] if "." in self.table else ""

    @property
    def table_name(self) -> str:
        return self.table.rsplit(".", 1)[-1]

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


@dataclass
class Pair:
    """A vetted question-SQL example: ``clusters/<id>/pairs/<slug>.yaml``."""

    id: str
    cluster: str
    question: str
    sql: str
    path: Path
    verified_by: str = ""
    verified_at: str = ""
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    paraphrases: list[str] = field(default_factory=list)
    stale: dict[str, Any] | None = None
    source: YamlDocument | None = field(default=None, repr=False)

    @property
    def questions(self) -> list[str]:
        return [self.question, *self.paraphrases]


@dataclass
class Doc:
    """Markdown business context: ``clusters/<id>/docs/<slug>.md`` with optional front matter."""

    id: str
    cluster: str
    path: Path
    body: str
    title: str = ""
    tags: list[str] = field(default_factory=list)
    applies_to: list[str] = field(default_factory=list)
    deprecated: list[str] = field(default_factory=list)
    front_matter: YamlDocument | None = field(default=None, repr=False)
    body_line: int = 1


@dataclass
class Proposal:
    """A mined question-SQL pattern awaiting review: ``clusters/<id>/proposals/<id>.yaml``."""

    id: str
    cluster: str
    question: str
    sql: str
    fingerprint: str
    path: Path
    provenance: dict[str, Any] = field(default_factory=dict)
    score: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cluster:
    id: str
    path: Path
    title: str = ""
    description: str = ""
    owners: Owners = field(default_factory=lambda: Owners(team=""))
    datasets: list[str] = field(default_factory=list)
    default_schema: str | None = None
    keywords: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    dataset_files: dict[str, Dataset] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    docs: list[Doc] = field(default_factory=list)
    source: YamlDocument | None = field(default=None, repr=False)

    def covers(self, table: str) -> bool:
        """Whether the fully qualified ``table`` is one of this cluster's datasets."""
        return any(matches_table(table, pattern) for pattern in self.datasets)

    @property
    def tables(self) -> list[str]:
        """Known fully qualified tables: the profiled ones, plus listed names that are not patterns."""
        names = {d.table.lower(): d.table for d in self.dataset_files.values() if self.covers(d.table)}
        for pattern in self.datasets:
            if not any(ch in pattern for ch in "*?[") and pattern.lower() not in names:
                names[pattern.lower()] = pattern
        return sorted(names.values())

    def dataset(self, table: str) -> Dataset | None:
        """The dataset file for ``table`` (fully qualified, or unqualified under default_schema)."""
        lowered = table.lower()
        if "." not in lowered and self.default_schema:
            lowered = f"{self.default_schema.lower()}.{lowered}"
        return self.dataset_files.get(lowered)

    def pair(self, pair_id: str) -> Pair | None:
        return next((p for p in self.pairs if p.id == pair_id), None)

    @property
    def deprecated_tables(self) -> set[str]:
        return {t.lower() for doc in self.docs for t in doc.deprecated}

    def summary(self) -> dict[str, Any]:
        """Its row of ``vedder clusters`` (``SUMMARY_KEYS``): id, title, owning team, and how many tables, pairs and
        docs it has."""
        return dict(zip(SUMMARY_KEYS, (self.id, self.title, self.owners.team, len(self.tables), len(self.pairs), len(self.docs))))

    def listing(self) -> dict[str, Any]:
        """Its entry in MCP's ``list_clusters`` (less the resource URI): id, title, description, owners, keywords,
        tables, and how many pairs and docs it has."""
        return {"id": self.id, "title": self.title, "description": self.description, "owners": self.owners.to_dict(),
                "keywords": self.keywords, "tables": self.tables, "pairs": len(self.pairs), "docs": len(self.docs)}

    def record(self) -> "Record":
        """What ``ClusterStates`` keeps of it: its summary's values, and what else its listing needs (description,
        members, contact, keywords, tables) — None when the contact is not text, which JSON may not give back as it
        was (a YAML date or number)."""
        owners = self.owners
        extra = [self.description, owners.members, owners.contact, self.keywords, self.tables] \
            if owners.contact is None or isinstance(owners.contact, str) else None
        summary = self.summary()
        return [[summary[key] for key in SUMMARY_KEYS], extra]


SUMMARY_KEYS = ("id", "title", "team", "tables", "pairs", "docs")
Record = list
"""``Cluster.record()``: [the summary's values by ``SUMMARY_KEYS``, the listing's other values or None]."""


def recorded_summary(record: Record) -> dict[str, Any]:
    """The ``Cluster.summary()`` that ``record`` (``Cluster.record()``) was made from."""
    return dict(zip(SUMMARY_KEYS, record[0]))


def recorded_listing(record: Record) -> dict[str, Any] | None:
    """The ``Cluster.listing()`` that ``record`` was made from, or None when it was not kept."""
    if record[1] is None:
        return None
    cluster_id, title, team, _tables, pairs, docs = record[0]
    description, members, contact, keywords, tables = record[1]
    return {"id": cluster_id, "title": title, "description": description,
            "owners": {"team": team, "members": members, "contact": contact}, "keywords": keywords, "tables": tables,
            "pairs": pairs, "docs": docs}


@dataclass
class BrokenCluster:
    """A cluster left out of the project because one of its files cannot be read (bad YAML, wrong top-level type).

    The whole cluster is left out, not only the broken file: a doc may hold the rule every query needs ("user ids
    below 100 are test accounts") and a pair may be the vetted answer; answering without them would be quietly wrong.
    ``readable`` is what of it still reads (its cluster.yaml when that parses, else only the folder name as id, and
    every other file that parses): routing sees it, so a question that is this cluster's is not answered by another.
    """

    id: str
    path: Path
    file: Path
    error: ProjectFileError
    root: Path
    readable: Cluster

    @property
    def team(self) -> str:
        """The owning team, when its cluster.yaml reads (the broken file may be another)."""
        return self.readable.owners.team

    @property
    def contact(self) -> str | None:
        return self.readable.owners.contact

    @property
    def problem(self) -> str:
        """The error with the file named relative to the project (``clusters/x/pairs/y.yaml:3:1: invalid YAML: …``)."""
        return self.error.message.replace(str(self.file), self.relative_file)

    @property
    def relative_file(self) -> str:
        return self.file.relative_to(self.root).as_posix() if self.file.is_relative_to(self.root) else str(self.file)

    @property
    def warning(self) -> str:
        return f"cluster {self.id} skipped: {self.problem}"

    def to_dict(self) -> dict[str, Any]:
        return {"cluster": self.id, "team": self.team, "file": self.relative_file, "message": self.warning}

    def as_error(self) -> ProjectFileError:
        return ProjectFileError(f"cluster '{self.id}' is not loaded: {self.problem}",
                                "fix that file (`vedder validate` lists every problem with file and line)")


class LazyClusters(Mapping[str, Cluster]):
    """Clusters by folder name, each loaded on first use (``load_project(..., lazy=True)``): a question needs the
    cluster it is routed to (and the few it names), not the thousand others. Ids, ``in`` and ``len`` load nothing;
    ``values()`` and ``items()`` load every cluster. ``recorded(name)``: the ``Cluster.record()`` of a cluster as
    recorded when it last loaded (``ClusterStates``), or None, so listing them loads none."""

    def __init__(self, names: list[str], load: Callable[[str], Cluster], loaded: dict[str, Cluster],
                 recorded: Callable[[str], Record | None] | None = None) -> None:
        self._names, self._known, self._load, self._loaded = names, set(names), load, loaded
        self._recorded = recorded or (lambda name: None)
        self._loading = threading.Lock()  # a server's threads share one project: each cluster loads once

    def __getitem__(self, name: str) -> Cluster:
        cluster = self._loaded.get(name)
        if cluster is None:
            if name not in self._known:
                raise KeyError(name)
            with self._loading:
                cluster = self._loaded.get(name)
                if cluster is None:
                    cluster = self._loaded[name] = self._load(name)
        return cluster

    def __contains__(self, name: object) -> bool:
        return name in self._known

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    @property
    def loaded(self) -> list[str]:
        """The folder names loaded so far."""
        return sorted(self._loaded)

    def loaded_cluster(self, name: str) -> Cluster | None:
        """Cluster ``name`` when it is loaded already, else None (loads nothing)."""
        return self._loaded.get(name)

    def known_record(self, name: str) -> Record | None:
        """The ``Cluster.record()`` of ``name`` when it is loaded or recorded, else None (loads nothing)."""
        cluster = self._loaded.get(name)
        return cluster.record() if cluster is not None else self._recorded(name)

    def summary(self, name: str) -> dict[str, Any]:
        """The ``Cluster.summary()`` of ``name``, loading it only when none is recorded."""
        cluster = self._loaded.get(name)
        record = self._recorded(name) if cluster is None else None
        return recorded_summary(record) if record is not None else self[name].summary()

    def listing(self, name: str) -> dict[str, Any]:
        """The ``Cluster.listing()`` of ``name``, loading it only when none is recorded."""
        cluster = self._loaded.get(name)
        record = self._recorded(name) if cluster is None else None
        listed = recorded_listing(record) if record is not None else None
        return listed if listed is not None else self[name].listing()


@dataclass
class Project:
    config: Config
    clusters: Mapping[str, Cluster] = field(default_factory=dict)
    broken: dict[str, BrokenCluster] = field(default_factory=dict)
    """Clusters left out by ``load_project(..., skip_broken=True)``, by folder name."""
    files: dict[str, "ClusterFiles"] | None = None
    """What ``load_project`` found in each cluster folder, by folder name (None for a project built in memory)."""

    @property
    def root(self) -> Path:
        return self.config.root

    def cluster(self, cluster_id: str) -> Cluster:
        """The loaded cluster ``cluster_id``; a cluster left out for a broken file raises that file's error."""
        try:
            return self.clusters[cluster_id]
        except KeyError:
            if cluster_id in self.broken:
                raise self.broken[cluster_id].as_error() from None
            from vedder.suggest import closest

            known = ", ".join(sorted(self.clusters)) or "none"
            guess = closest(cluster_id, set(self.clusters))
            hint = f"did you mean '{guess}'? {ClusterNotFound.default_hint}" if guess else None
            raise ClusterNotFound(f"unknown cluster '{cluster_id}' (known: {known})", hint) from None

    def clusters_covering(self, table: str) -> list[Cluster]:
        return [c for c in self.clusters.values() if c.covers(table)]

    def changed(self, scanned: dict[str, "ClusterFiles"]) -> bool:
        """Whether the cluster folders ``scan_project`` found now differ from those this project was loaded from: a
        cluster added, removed, or with a file whose name or stat changed, or that changed too shortly before it was
        loaded to trust its stat (``ClusterFiles.unchanged_since``). A project built in memory is never fresh."""
        if self.files is None or scanned.keys() != self.files.keys():
            return True
        return not all(files.unchanged_since(self.files[name]) for name, files in scanned.items())

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """One entry per cluster left out: cluster, team, file and message (``cluster X skipped: file:line: …``)."""
        return [self.broken[name].to_dict() for name in sorted(self.broken)]

    def summaries(self) -> list[dict[str, Any]]:
        """One row per cluster: id, title, owning team, and how many tables, pairs and docs it has; a cluster left
        out for a broken file has its ``problem`` instead of counts. Lazy clusters are listed from the summaries
        recorded when they last loaded (``LazyClusters.summary``)."""
        clusters = self.clusters
        rows = [clusters.summary(name) for name in clusters] if isinstance(clusters, LazyClusters) \
            else [c.summary() for c in clusters.values()]
        rows += [{"id": b.id, "title": "", "team": b.team, "tables": None, "pairs": None, "docs": None, "problem": b.problem}
                 for b in self.broken.values()]
        return sorted(rows, key=lambda row: row["id"])

    def listings(self) -> list[dict[str, Any]]:
        """Each cluster's ``Cluster.listing()``, by id (MCP's ``list_clusters``); lazy clusters from the records kept
        when they last loaded, loading only those without one."""
        clusters = self.clusters
        rows = [clusters.listing(name) for name in clusters] if isinstance(clusters, LazyClusters) \
            else [c.listing() for c in clusters.values()]
        return sorted(rows, key=lambda row: row["id"])


def _mapping(document: YamlDocument) -> dict[str, Any]:
    if document.data is None:
        return {}
    if not isinstance(document.data, dict):
        raise ProjectFileError(f"{document.path}:1:1: expected a YAML mapping at the top level")
    return document.data


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def load_dataset(path: Path, cache: ParseCache | None = None) -> Dataset:
    document = load_yaml(path, cache)
    data = _mapping(document)
    table = str(data.get("table") or path.name.removesuffix(".yaml"))
    columns = [Column.from_dict(c) for c in data.get("columns") or [] if isinstance(c, dict)]
    return Dataset(
        table=table,
        path=path,
        description=str(data.get("description") or ""),
        columns=columns,
        row_count=data.get("row_count"),
        partitioning=data.get("partitioning"),
        profiled_at=data.get("profiled_at"),
        source=document,
    )


def load_pair(path: Path, cluster_id: str, cache: ParseCache | None = None) -> Pair:
    document = load_yaml(path, cache)
    data = _mapping(document)
    return Pair(
        id=path.stem,
        cluster=cluster_id,
        question=str(data.get("question") or ""),
        sql=str(data.get("sql") or ""),
        path=path,
        verified_by=str(data.get("verified_by") or ""),
        verified_at=str(data.get("verified_at") or ""),
        tags=_strings(data.get("tags")),
        notes=str(data.get("notes") or ""),
        paraphrases=_strings(data.get("paraphrases")),
        stale=data.get("stale"),
        source=document,
    )


def load_doc(path: Path, cluster_id: str, cache: ParseCache | None = None) -> Doc:
    front, body, body_line = split_front_matter(read_text(path))
    meta: dict[str, Any] = {}
    document = None
    if front is not None:
        document = cache.document(path, lambda text: _front_matter(text, path), front) if cache else _front_matter(front, path)
        meta = _mapping(document)
    title = str(meta.get("title") or "")
    if not title:
        heading = next((line.lstrip("#").strip() for line in body.splitlines() if line.startswith("#")), "")
        title = heading or path.stem.replace("-", " ").replace("_", " ")
    return Doc(
        id=path.stem,
        cluster=cluster_id,
        path=path,
        body=body,
        title=title,
        tags=_strings(meta.get("tags")),
        applies_to=_strings(meta.get("applies_to")),
        deprecated=_strings(meta.get("deprecated")),
        front_matter=document,
        body_line=body_line,
    )


def _front_matter(front: str, path: Path) -> YamlDocument:
    document = load_yaml_text(front, path)
    # Front matter starts on line 2 of the file: shift positions so they point into the .md file.
    document.positions = {k: (line + 1, col) for k, (line, col) in document.positions.items()}
    return document


def load_proposal(path: Path, cluster_id: str) -> Proposal:
    data = _mapping(load_yaml(path))
    return Proposal(
        id=str(data.get("id") or path.stem),
        cluster=cluster_id,
        question=str(data.get("question") or ""),
        sql=str(data.get("sql") or ""),
        fingerprint=str(data.get("fingerprint") or ""),
        path=path,
        provenance=dict(data.get("provenance") or {}),
        score=float(data.get("score") or 0.0),
        data=data,
    )


@dataclass
class ClusterFiles:
    """The files of one cluster folder and the stat of each, from one walk with os.scandir and plain strings (a
    project of 1,000 clusters has ~34k files: pathlib's parsing and globbing cost seconds there). Names are sorted,
    as ``sorted(folder.glob(...))`` sorts them."""

    folder: Path
    datasets: list[str]
    pairs: list[str]
    docs: list[str]
    stats: list[list[int] | None]
    """[size, mtime_ns, ctime_ns, inode] of cluster.yaml, then of each dataset, pair and doc file in order; None
    for a file that cannot be stat'ed (a dangling link)."""
    scanned_ns: int = 0
    """When the scan began (``time.time_ns()``)."""
    linked: bool = False
    """Whether a file is a symbolic link or has another name (a hard link): an edit through the other name is no
    event in this folder, so a watcher (``vedder.project.watch``) cannot vouch for it."""

    def paths(self, kind: str) -> list[Path]:
        parent = self.folder / kind
        return [parent / name for name in getattr(self, kind)]

    def _texts(self) -> list[str]:
        base = str(self.folder)
        return [f"{base}/cluster.yaml", *(f"{base}/{kind}/{name}" for kind, _ in _KINDS for name in getattr(self, kind))]

    @cached_property
    def stamps(self) -> dict[str, list[int] | None]:
        """Each file's stat by its path as text (``str(folder / "pairs" / name)``), for ``ParseCache``."""
        return dict(zip(self._texts(), self.stats))

    @cached_property
    def digest(self) -> str:
        """Of every file's name and stat: any edit, addition, removal or rename makes another."""
        names = "\0".join(f"{kind}/{chr(0).join(getattr(self, kind))}" for kind, _ in _KINDS)
        numbers = array("q", [n for stat in self.stats for n in (stat or (-1, -1, -1, -1))])
        return hashlib.blake2b(names.encode("utf-8", "surrogateescape") + numbers.tobytes(), digest_size=16).hexdigest()

    @cached_property
    def changed_ns(self) -> int | None:
        """When a file of it last changed (the latest ctime); None when one cannot be stat'ed."""
        if any(stat is None for stat in self.stats):
            return None
        return max(stat[2] for stat in self.stats)  # type: ignore[index]

    def unchanged_since(self, earlier: "ClusterFiles") -> bool:
        """Whether these are the files ``earlier`` found, not changed since: the same names and stats, every file's
        last change well before ``earlier``'s scan (the parse cache's settled rule, ``ParseCache.SETTLED_NS``: an
        edit within one timestamp tick can keep every stat, so a cluster changed just before is read again)."""
        return (self.stats == earlier.stats and self.pairs == earlier.pairs and self.datasets == earlier.datasets
                and self.docs == earlier.docs and earlier.changed_ns is not None
                and earlier.changed_ns < earlier.scanned_ns - ParseCache.SETTLED_NS)


_KINDS = (("datasets", ".yaml"), ("pairs", ".yaml"), ("docs", ".md"))


def scan_cluster(folder: Path) -> ClusterFiles:
    """The files ``load_cluster`` reads from ``folder``: cluster.yaml, datasets/*.yaml, pairs/*.yaml, docs/*.md."""
    scanned_ns = time.time_ns()
    base = str(folder)
    linked: list[str] = []
    stats = [_stat(f"{base}/cluster.yaml", linked)]
    names: dict[str, list[str]] = {}
    for kind, suffix in _KINDS:
        prefix = f"{base}/{kind}/"
        try:
            names[kind] = sorted(name for name in os.listdir(prefix) if name.endswith(suffix))  # as glob: links, hidden files
        except OSError:
            names[kind] = []  # no such folder: nothing of that kind, as glob finds nothing
        stats += [_stat(prefix + name, linked) for name in names[kind]]
    return ClusterFiles(folder, names["datasets"], names["pairs"], names["docs"], stats, scanned_ns, bool(linked))


def _stat(path: str, linked: list[str]) -> list[int] | None:
    """[size, mtime_ns, ctime_ns, inode] of the file at ``path`` (a link: of its target), None when it cannot be
    stat'ed; ``path`` appended to ``linked`` when it is a link or has another name."""
    try:
        status = os.lstat(path)
        if status.st_nlink > 1 or S_ISLNK(status.st_mode):
            linked.append(path)
            status = os.stat(path)
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]


def load_cluster(folder: Path, cache: ParseCache | None = None, files: ClusterFiles | None = None) -> Cluster:
    """The cluster in ``folder``; a file that cannot be read raises ProjectFileError with ``file`` set to it."""
    files = files or scan_cluster(folder)
    cluster = _cluster_header(folder, _traced(folder / "cluster.yaml", lambda: load_yaml(folder / "cluster.yaml", cache)))
    if cluster.id != folder.name:  # a folder renamed (git mv) without its id: answers and logs would name neither
        error = ProjectFileError(f"{folder / 'cluster.yaml'}:1:1: id '{cluster.id}' does not match the folder name "
                                 f"'{folder.name}'", f"set `id: {folder.name}` in its cluster.yaml, or rename the folder "
                                 f"to {cluster.id}")
        error.file = folder / "cluster.yaml"
        raise error
    for path in files.paths("datasets"):
        dataset = _traced(path, lambda: load_dataset(path, cache))
        cluster.dataset_files[dataset.table.lower()] = dataset
    cluster.pairs = [_traced(p, lambda: load_pair(p, cluster.id, cache)) for p in files.paths("pairs")]
    cluster.docs = [_traced(p, lambda: load_doc(p, cluster.id, cache)) for p in files.paths("docs")]
    return cluster


def load_readable(folder: Path, cache: ParseCache | None = None, *, unreadable: Path | None = None,
                  files: ClusterFiles | None = None) -> Cluster:
    """What of the cluster in ``folder`` reads: every file that parses (``unreadable``, known to fail, is not tried
    again). A cluster.yaml that does not parse leaves the folder name as the id and no title or owners."""
    files = files or scan_cluster(folder)
    header = _readable([folder / "cluster.yaml"], unreadable, lambda path: _cluster_header(folder, load_yaml(path, cache)))
    cluster = header[0] if header else Cluster(id=folder.name, path=folder)
    datasets = _readable(files.paths("datasets"), unreadable, lambda path: load_dataset(path, cache))
    cluster.dataset_files = {dataset.table.lower(): dataset for dataset in datasets}
    cluster.pairs = _readable(files.paths("pairs"), unreadable, lambda path: load_pair(path, cluster.id, cache))
    cluster.docs = _readable(files.paths("docs"), unreadable, lambda path: load_doc(path, cluster.id, cache))
    return cluster


def _readable(paths: list[Path], unreadable: Path | None, load: Any) -> list[Any]:
    """``load(path)`` of each of ``paths`` that reads; ``unreadable`` and files that fail to read are left out."""
    loaded = []
    for path in paths:
        if path != unreadable:
            try:
                loaded.append(load(path))
            except ProjectFileError:
                pass
    return loaded


def _cluster_header(folder: Path, document: YamlDocument) -> Cluster:
    """The cluster that cluster.yaml ``document`` describes, without its datasets, pairs and docs."""
    data = _mapping(document)
    owners = data.get("owners") or {}
    if not isinstance(owners, dict):
        owners = {"team": str(owners)}
    return Cluster(
        id=str(data.get("id") or folder.name),
        path=folder,
        title=str(data.get("title") or ""),
        description=str(data.get("description") or ""),
        owners=Owners(
            team=str(owners.get("team") or ""),
            members=_strings(owners.get("members")),
            contact=owners.get("contact"),
        ),
        datasets=_strings(data.get("datasets")),
        default_schema=data.get("default_schema"),
        keywords=_strings(data.get("keywords")),
        settings={k: v for k, v in data.items() if k == "health"},
        source=document,
    )


def _traced(path: Path, load: Any) -> Any:
    """``load()``, whose ProjectFileError names ``path`` as its ``file`` (which file of a cluster failed)."""
    try:
        return load()
    except ProjectFileError as exc:
        exc.file = path
        raise


def load_proposals(cluster: Cluster) -> list[Proposal]:
    folder = cluster.path / "proposals"
    return [load_proposal(p, cluster.id) for p in sorted(folder.glob("*.yaml")) if p.name != "rejected.yaml"]


def cluster_folders(config: Config) -> list[Path]:
    """The folders under ``clusters/`` that hold a cluster.yaml, sorted by name."""
    try:
        with os.scandir(config.clusters_dir) as entries:
            names = [entry.name for entry in entries if entry.is_dir()]
    except OSError:
        return []
    base = str(config.clusters_dir)
    return [config.clusters_dir / name for name in sorted(names) if _is_file(f"{base}/{name}/cluster.yaml")]


def _is_file(path: str) -> bool:
    try:
        return os.path.isfile(path)
    except (OSError, ValueError):
        return False


class ClusterStates:
    """Whether each cluster loaded or was left out for a broken file, by the digest of its files' stats, kept in
    ``.vedder/clusters.json``: a project whose clusters did not change knows which are broken without loading any,
    and lists them (``Cluster.record()``: its ``summary()`` for ``vedder clusters`` and its ``listing()`` for MCP's
    ``list_clusters``, recorded with the state of a cluster that loads) without loading any.

    A state is trusted under the parse cache's rule (``ParseCache``): the digest is unchanged and every file's last
    change (ctime) came well before the state was taken, so an edit within one mtime tick, or a restore that puts an
    old mtime back, is loaded again. A cluster with a file that cannot be stat'ed is always loaded.
    """

    VERSION = 3

    def __init__(self, path: Path) -> None:
        self.path, self.changed = path, False
        self.entries: dict[str, list] = read_cache(path, self.VERSION, "clusters")

    def loads(self, name: str, files: ClusterFiles) -> bool:
        """Whether ``name`` is known to load, its files unchanged since it last did."""
        entry = self.entries.get(name)
        changed = files.changed_ns
        if not (isinstance(entry, list) and len(entry) == 4 and entry[0] == files.digest and entry[2] is False
                and changed is not None and isinstance(entry[1], int) and changed < entry[1] - ParseCache.SETTLED_NS):
            return False
        record = entry[3]
        return (isinstance(record, list) and len(record) == 2 and isinstance(record[0], list)
                and len(record[0]) == len(SUMMARY_KEYS) and (record[1] is None or isinstance(record[1], list) and len(record[1]) == 5))

    def recorded(self, name: str, files: ClusterFiles) -> Record | None:
        """The ``Cluster.record()`` of ``name`` kept when it last loaded, when its files did not change since."""
        return self.entries[name][3] if self.loads(name, files) else None

    def record(self, name: str, files: ClusterFiles, checked_ns: int, record: Record | None) -> None:
        """The state of ``name`` as loaded at ``checked_ns``: its ``Cluster.record()``, or None when it is broken (kept
        as lists: 1,000 small JSON objects take ten times as long to read)."""
        entry = [files.digest, checked_ns, record is None, record]
        if self.entries.get(name) != entry:
            self.entries[name], self.changed = entry, True

    def save(self, names: list[str]) -> None:
        """Keep the states of ``names`` (a removed cluster drops out) and their parse caches only."""
        kept = {name: self.entries[name] for name in names if name in self.entries}
        if not self.changed and len(kept) == len(self.entries):
            return
        try:
            atomic_write(self.path, json.dumps({"version": self.VERSION, "clusters": kept}, separators=(",", ":")), durable=False)
            folder = self.path.parent / CLUSTER_CACHES
            wanted = {f"{name}.json" for name in names}
            for cached in os.listdir(folder) if folder.is_dir() else []:
                if cached not in wanted:
                    os.unlink(folder / cached)
            (self.path.parent / "parse-cache.json").unlink(missing_ok=True)  # the one-file cache earlier versions kept
        except (OSError, VedderError):
            pass  # a read-only checkout still loads; it just loads every cluster next time


CLUSTER_CACHES = "clusters"
"""The folder of per-cluster parse caches in the project's cache folder: ``.vedder/clusters/<folder name>.json``."""


def cluster_cache(root: Path, name: str, files: ClusterFiles | None = None) -> ParseCache:
    """The parse cache of the cluster in folder ``name``: loading one cluster reads only its own."""
    return ParseCache(cache_folder(root) / CLUSTER_CACHES / f"{name}.json", stamps=files.stamps if files else None)


def load_cached(root: Path, name: str, files: ClusterFiles) -> Cluster:
    """``load_cluster`` of the cluster in folder ``name`` through its parse cache, saved after."""
    cache = cluster_cache(root, name, files)
    cluster = load_cluster(files.folder, cache, files)
    cache.save()
    return cluster


def _record(job: tuple[Path, str, ClusterFiles]) -> Record | None:
    """The ``Cluster.record()`` of the cluster of ``job`` (root, folder name, files), None when a file of it does
    not read; its parse cache is written either way (run in worker processes, see ``in_processes``)."""
    try:
        return load_cached(*job).record()
    except ProjectFileError:
        return None


PARALLEL_MINIMUM = 64
"""From how many clusters to load or index them on every core (``in_processes``)."""


def use_processes(count: int) -> bool:
    """Whether ``count`` clusters are worth a pool of processes (``PARALLEL_MINIMUM``, several cores, and fork:
    Linux)."""
    return count >= PARALLEL_MINIMUM and (os.cpu_count() or 1) > 1 and sys.platform.startswith("linux")


def in_processes(function: Callable[[Any], Any], items: list[Any]) -> list[Any]:
    """``[function(item) for item in items]`` in a pool of forked processes, one per core (at most 8): a first run
    on 1,000 clusters parses ~34k YAML files. ``function`` must be a module-level function; when the pool cannot
    start or a worker dies (the OOM killer: multiprocessing.Pool would wait for it forever), they run here."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    workers = max(2, min(os.cpu_count() or 1, 8))
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(function, items, chunksize=max(1, len(items) // (workers * 4))))
    except (OSError, ValueError, BrokenProcessPool):
        return [function(item) for item in items]


def scan_project(config: Config) -> dict[str, ClusterFiles]:
    """Every cluster folder's files with their stats, by folder name: one ``os.scandir`` per folder and one stat per
    file. What decides whether a cluster must be read again: ``load_project`` for a command, and per request for a
    server (``Project.changed``)."""
    return {folder.name: scan_cluster(folder) for folder in cluster_folders(config)}


def rescan_project(config: Config, scanned: dict[str, ClusterFiles], names: set[str]) -> dict[str, ClusterFiles]:
    """``scanned`` (what ``scan_project`` found earlier) with only the folders ``names`` under ``clusters/`` looked at
    again: what ``scan_project`` finds now when no other folder changed (a watcher knows which did)."""
    rescanned = {name: files for name, files in scanned.items() if name not in names}
    base = str(config.clusters_dir)
    for name in names:
        if "/" not in name and name not in ("", ".", "..") and os.path.isdir(f"{base}/{name}") \
                and _is_file(f"{base}/{name}/cluster.yaml"):
            rescanned[name] = scan_cluster(config.clusters_dir / name)
    return dict(sorted(rescanned.items()))


def load_project(config: Config, *, skip_broken: bool = False, lazy: bool = False,
                 scanned: dict[str, ClusterFiles] | None = None, previous: Project | None = None) -> Project:
    """Load every cluster under ``clusters/``; raise ProjectFileError on an unreadable file, or with
    ``skip_broken`` leave its cluster out and keep it in ``project.broken`` (question-answering surfaces: one
    team's broken file must not stop every other team).

    Parsed YAML of unchanged files comes from each cluster's parse cache (``.vedder/clusters/<name>.json``, see
    ``files.ParseCache``); a file that failed to parse is never in it, so the run after a fix parses the fixed text.
    With ``lazy``, a cluster whose files did not change since it last loaded (``ClusterStates``) is loaded on
    first use of ``project.clusters[name]``; the others are read now, to know whether they are broken (on every
    core when there are many: a first run).

    ``scanned``: what ``scan_project(config)`` found, when the caller has it. With ``lazy``, ``previous`` (a server's
    project, loaded with the same ``config``): each cluster whose files did not change since it (``unchanged_since``) is
    taken over as it was there — loaded, not loaded yet, or left out — and only the others are read.
    """
    states = ClusterStates(cache_folder(config.root) / "clusters.json")
    scanned = scan_project(config) if scanned is None else scanned
    loaded: dict[str, Cluster] = {}
    broken: dict[str, BrokenCluster] = {}
    kept = _unchanged(previous, scanned, skip_broken) if lazy else set()
    for name in kept:
        if name in previous.broken:  # type: ignore[union-attr]
            broken[name] = previous.broken[name]  # type: ignore[union-attr]
        elif (cluster := _loaded_cluster(previous, name)) is not None:  # type: ignore[arg-type]
            loaded[name] = cluster
    unknown = [name for name in scanned if name not in kept and not (lazy and states.loads(name, scanned[name]))]
    checked = time.time_ns()
    read_in_workers: dict[str, Record | None] = {}
    if lazy and use_processes(len(unknown)):
        read_in_workers = dict(zip(unknown, in_processes(_record, [(config.root, name, scanned[name]) for name in unknown])))
    for name in unknown:
        files = scanned[name]
        if read_in_workers.get(name) is not None:  # it loads, from its fresh parse cache, on first use
            states.record(name, files, checked, read_in_workers[name])
            continue
        if not read_in_workers:
            checked = time.time_ns()
        try:
            loaded[name] = load_cached(config.root, name, files)
        except ProjectFileError as exc:
            states.record(name, files, checked, None)
            if not skip_broken:
                states.save(list(scanned))
                raise
            file = getattr(exc, "file", files.folder / "cluster.yaml")
            cache = cluster_cache(config.root, name, files)
            broken[name] = BrokenCluster(name, files.folder, file, exc, config.root,
                                         load_readable(files.folder, cache, unreadable=file, files=files))
            cache.save()
        else:
            states.record(name, files, checked, loaded[name].record())
    states.save(list(scanned))
    names = [name for name in scanned if name not in broken]
    if not lazy:
        return Project(config=config, clusters={name: loaded[name] for name in names}, broken=broken, files=scanned)
    taken_over = {name: record for name in kept if name not in loaded and (record := _kept_record(previous, name))}

    def recorded(name: str) -> Record | None:  # holds no earlier project: a server's edits do not pile up
        return taken_over.get(name) or states.recorded(name, scanned[name])

    clusters = LazyClusters(names, lambda name: load_cached(config.root, name, scanned[name]), loaded, recorded)
    return Project(config=config, clusters=clusters, broken=broken, files=scanned)


def _unchanged(previous: Project | None, scanned: dict[str, ClusterFiles], skip_broken: bool) -> set[str]:
    """The clusters of ``scanned`` whose files did not change since ``previous`` was loaded (none without one; a
    cluster left out there only when ``skip_broken`` leaves it out again)."""
    if previous is None or previous.files is None:
        return set()
    return {name for name, files in scanned.items()
            if name in previous.files and files.unchanged_since(previous.files[name])
            and (skip_broken or name not in previous.broken)}


def _kept_record(project: Project | None, name: str) -> Record | None:
    """The ``Cluster.record()`` ``project`` (the previous one) knows of cluster ``name`` without loading it."""
    clusters = project.clusters if project is not None else None
    return clusters.known_record(name) if isinstance(clusters, LazyClusters) else None


def _loaded_cluster(project: Project, name: str) -> Cluster | None:
    """Cluster ``name`` of ``project`` when it is loaded already (loads nothing)."""
    clusters = project.clusters
    return clusters.loaded_cluster(name) if isinstance(clusters, LazyClusters) else clusters.get(name)


def cache_folder(root: Path) -> Path:
    """Where the project's caches live: ``.vedder/``, or under $VEDDER_CACHE_DIR (tests use it).

    A ``.vedder/`` made here ignores itself (a ``.gitignore`` of ``*``, as pytest does for its cache), so a
    cluster repository that never ran ``vedder init`` does not grow untracked files from read-only commands.
    """
    override = os.environ.get("VEDDER_CACHE_DIR")
    if override:
        return Path(override).resolve() / hashlib.sha256(str(root).encode()).hexdigest()[:16]
    folder = root / ".vedder"
    if not folder.is_dir():
        try:
            folder.mkdir()
            (folder / ".gitignore").write_text("# created by vedder: local caches, log and warehouse\n*\n", encoding="utf-8")
        except OSError:
            pass  # a read-only checkout: the caches are skipped
    return folder
