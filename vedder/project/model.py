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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vedder.config import Config
from vedder.errors import ClusterNotFound, ProjectFileError
from vedder.files import ParseCache, YamlDocument, load_yaml, load_yaml_text, read_text, split_front_matter


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


@dataclass
class Project:
    config: Config
    clusters: dict[str, Cluster] = field(default_factory=dict)
    broken: dict[str, BrokenCluster] = field(default_factory=dict)
    """Clusters left out by ``load_project(..., skip_broken=True)``, by folder name."""

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

    @property
    def warnings(self) -> list[dict[str, Any]]:
        """One entry per cluster left out: cluster, team, file and message (``cluster X skipped: file:line: …``)."""
        return [self.broken[name].to_dict() for name in sorted(self.broken)]

    def summaries(self) -> list[dict[str, Any]]:
        """One row per cluster: id, title, owning team, and how many tables, pairs and docs it has; a cluster left
        out for a broken file has its ``problem`` instead of counts."""
        rows = [
            {"id": c.id, "title": c.title, "team": c.owners.team, "tables": len(c.tables), "pairs": len(c.pairs), "docs": len(c.docs)}
            for c in self.clusters.values()
        ]
        rows += [{"id": b.id, "title": "", "team": b.team, "tables": None, "pairs": None, "docs": None, "problem": b.problem}
                 for b in self.broken.values()]
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


def load_cluster(folder: Path, cache: ParseCache | None = None) -> Cluster:
    """The cluster in ``folder``; a file that cannot be read raises ProjectFileError with ``file`` set to it."""
    cluster = _cluster_header(folder, _traced(folder / "cluster.yaml", lambda: load_yaml(folder / "cluster.yaml", cache)))
    for path in sorted((folder / "datasets").glob("*.yaml")):
        dataset = _traced(path, lambda: load_dataset(path, cache))
        cluster.dataset_files[dataset.table.lower()] = dataset
    cluster.pairs = [_traced(p, lambda: load_pair(p, cluster.id, cache)) for p in sorted((folder / "pairs").glob("*.yaml"))]
    cluster.docs = [_traced(p, lambda: load_doc(p, cluster.id, cache)) for p in sorted((folder / "docs").glob("*.md"))]
    return cluster


def load_readable(folder: Path, cache: ParseCache | None = None, *, unreadable: Path | None = None) -> Cluster:
    """What of the cluster in ``folder`` reads: every file that parses (``unreadable``, known to fail, is not tried
    again). A cluster.yaml that does not parse leaves the folder name as the id and no title or owners."""
    header = _readable([folder / "cluster.yaml"], unreadable, lambda path: _cluster_header(folder, load_yaml(path, cache)))
    cluster = header[0] if header else Cluster(id=folder.name, path=folder)
    datasets = _readable(sorted((folder / "datasets").glob("*.yaml")), unreadable, lambda path: load_dataset(path, cache))
    cluster.dataset_files = {dataset.table.lower(): dataset for dataset in datasets}
    cluster.pairs = _readable(sorted((folder / "pairs").glob("*.yaml")), unreadable, lambda path: load_pair(path, cluster.id, cache))
    cluster.docs = _readable(sorted((folder / "docs").glob("*.md")), unreadable, lambda path: load_doc(path, cluster.id, cache))
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
    if not config.clusters_dir.is_dir():
        return []
    return sorted(p for p in config.clusters_dir.iterdir() if p.is_dir() and (p / "cluster.yaml").is_file())


def load_project(config: Config, *, skip_broken: bool = False) -> Project:
    """Load every cluster under ``clusters/``; raise ProjectFileError on an unreadable file, or with
    ``skip_broken`` leave its cluster out and keep it in ``project.broken`` (question-answering surfaces: one
    team's broken file must not stop every other team).

    Parsed YAML of unchanged files comes from ``.vedder/parse-cache.json`` (see ``files.ParseCache``); a file
    that failed to parse is never in it, so the run after a fix parses the fixed text.
    """
    project = Project(config=config)
    cache = ParseCache(cache_folder(config.root) / "parse-cache.json")
    for folder in cluster_folders(config):
        try:
            project.clusters[folder.name] = load_cluster(folder, cache)
        except ProjectFileError as exc:
            if not skip_broken:
                raise
            file = getattr(exc, "file", folder / "cluster.yaml")
            project.broken[folder.name] = BrokenCluster(folder.name, folder, file, exc, config.root,
                                                        load_readable(folder, cache, unreadable=file))
    cache.save()
    return project


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
