"""Query history: the raw material ``vedder propose`` mines.

One entry per query run, from a JSONL or CSV file or from a warehouse table (``--history-sql``), with
``query``, ``user``, ``started_at`` and optionally ``status``, ``error``, ``duration_ms``, ``rows``.

>>> entry_from_mapping({"query": "SELECT 1", "user": "ana", "started_at": "2026-11-01T10:00:00"}).failed
False
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from vedder.errors import UsageError
from vedder.files import read_jsonl, read_text

if TYPE_CHECKING:
    from sqlglot import exp

    from vedder.project import Cluster, Project

FAILED_STATUSES = frozenset({"error", "failed", "failure", "cancelled", "canceled", "timeout", "aborted"})


@dataclass(frozen=True)
class HistoryEntry:
    query: str
    user: str
    started_at: str
    status: str = ""
    error: str = ""
    duration_ms: float | None = None
    rows: int | None = None

    @property
    def failed(self) -> bool:
        """A run that did not succeed: a failure status, or an error message."""
        return self.status.lower() in FAILED_STATUSES or bool(self.error)


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def entry_from_mapping(data: Mapping[str, Any]) -> HistoryEntry:
    """One history entry from a row of any source (missing optional fields become empty)."""
    rows = _number(data.get("rows"))
    return HistoryEntry(
        query=str(data.get("query") or ""),
        user=str(data.get("user") or ""),
        started_at=str(data.get("started_at") or ""),
        status=str(data.get("status") or ""),
        error=str(data.get("error") or ""),
        duration_ms=_number(data.get("duration_ms")),
        rows=int(rows) if rows is not None else None,
    )


def read_history(path: Path) -> list[HistoryEntry]:
    """Entries of a JSONL (one JSON object per line) or CSV (header row) history file."""
    path = Path(path)
    text = read_text(path, UsageError, "pass --history FILE (JSONL or CSV, UTF-8)")
    if path.suffix.lower() == ".csv" or (path.suffix.lower() not in (".jsonl", ".ndjson", ".json") and not text.lstrip().startswith("{")):
        return _read_csv(path, text)
    return _read_jsonl(path)


def _read_jsonl(path: Path) -> list[HistoryEntry]:
    entries = []
    for number, data in read_jsonl(path, UsageError, "each line of a JSONL history holds one JSON object"):
        if "query" not in data:
            raise UsageError(f"{path}:{number}: expected an object with a `query` field", "fields: query, user, started_at, status, error, duration_ms, rows")
        entries.append(entry_from_mapping(data))
    return entries


def _read_csv(path: Path, text: str) -> list[HistoryEntry]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "query" not in reader.fieldnames:
        raise UsageError(f"{path}: the CSV history has no `query` column", "the header row needs query, user, started_at (status, error, duration_ms, rows optional)")
    return [entry_from_mapping(row) for row in reader]


def read_history_sql(project: "Project", sql: str, cluster: "Cluster | None" = None) -> list[HistoryEntry]:
    """Entries from a warehouse table, read with ``sql`` (through the SQL guard: one read-only query).

    The expert's ``--history-sql`` is config, not a model's output, but it still goes through the guard on
    purpose: one read-only statement, no files, no settings, no system catalogs (so no ``pg_catalog`` view,
    e.g. ``pg_stat_activity``, on PostgreSQL). The history table usually belongs to no cluster, so the guard
    allows ``cluster``'s tables and tables no cluster owns (a query log), never another cluster's data.
    """
    from vedder.sql.guard import guard_sql
    from vedder.warehouse import open_warehouse

    def allowed(table: str) -> bool:
        owners = project.clusters_covering(table)
        return not owners or (cluster is not None and cluster in owners)

    guarded = guard_sql(sql, dialect=project.config.dialect, allowed=allowed)
    _refuse_session_user(guarded.expression, project.config.dialect)
    warehouse = open_warehouse(project.config)
    try:
        result = warehouse.execute(guarded.sql, limit=10_000_000, timeout_s=max(project.config.timeout_s, 120.0))
    finally:
        warehouse.close()
    names = [c.lower() for c in result.columns]
    if "query" not in names:
        raise UsageError("the --history-sql query returns no `query` column", "select query, user, started_at (status, error, duration_ms, rows optional)")
    return [entry_from_mapping(dict(zip(names, row))) for row in result.rows]


def _refuse_session_user(tree: "exp.Expression", dialect: str) -> None:
    """In PostgreSQL an unquoted ``user`` is the current role, not a column: every entry would have one user and
    propose would drop every pattern as run by too few people. A UsageError saying to quote it."""
    from sqlglot import exp

    if dialect != "postgres":
        return
    for column in tree.find_all(exp.Column):
        if not column.table and column.name.lower() == "user" and not column.this.quoted:
            raise UsageError("in PostgreSQL an unquoted `user` in --history-sql is the current role, not the history's column",
                             'quote the column: SELECT query, "user", started_at FROM …')
