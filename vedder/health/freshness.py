"""Curation freshness: how long ago experts last verified the pairs and docs, and docs that talk about
columns which no longer exist.

A pair or doc verified within ``FRESH_DAYS`` counts fully; its credit falls linearly to zero at
``EXPIRED_DAYS``. A pair marked stale, a pair never verified, and a doc that mentions a gone column
(in inline code such as `events.duration_ms`) count zero. Docs date themselves with ``verified_at`` (or
``updated``) in their front matter, else with their last git commit; a doc with neither is not aged.

>>> age_credit(90), age_credit(270), age_credit(400)
(1.0, 0.5, 0.0)
"""

from __future__ import annotations

import difflib
import re
import subprocess
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from vedder.health.signals import Problem, Signal, skipped

if TYPE_CHECKING:
    from vedder.health.drift import DatasetDrift
    from vedder.project import Cluster, Doc

FRESH_DAYS = 180
EXPIRED_DAYS = 360
_INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_BARE = re.compile(r"^[a-z_][a-z0-9_]*$")
_QUALIFIED = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){1,2}$")


def age_credit(age_days: int) -> float:
    """1 up to FRESH_DAYS, falling linearly to 0 at EXPIRED_DAYS."""
    if age_days <= FRESH_DAYS:
        return 1.0
    return max(0.0, 1.0 - (age_days - FRESH_DAYS) / (EXPIRED_DAYS - FRESH_DAYS))


def parse_day(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


class ColumnMentions:
    """Which column names a doc may mention, checked against the LIVE schema.

    A mention is ``schema.table.column`` or ``table.column`` (in ``applies_to`` or inline code) whose table
    is a live table, or a bare column name in inline code that the cluster knew as a column (its dataset
    files, the drift's removed columns, or a qualified mention in one of its docs) and that no live table of
    the cluster has. Drift only adds the new name of a renamed column to the message, so a doc still naming
    a column after ``--fix`` re-profiled the dataset keeps being flagged.

    >>> mentions = ColumnMentions({"shop.orders": {"country": "VARCHAR"}}, ["shop.orders"], {"amount"})
    >>> mentions.gone("orders.country"), mentions.gone("shop.orders.ship"), mentions.gone("amount")
    (None, 'shop.orders.ship, which no longer exists', 'amount, which no live table of the cluster has')
    """

    def __init__(self, live_schema: dict[str, dict[str, str]], cluster_tables: list[str], known_columns: set[str],
                 renamed: dict[str, str] | None = None) -> None:
        self.live = {table.lower(): {c.lower(): c for c in columns} for table, columns in live_schema.items()}
        self.by_name: dict[str, list[str]] = {}
        for table in self.live:
            self.by_name.setdefault(table.rsplit(".", 1)[-1], []).append(table)
        own = [t.lower() for t in cluster_tables if t.lower() in self.live]
        self.own_columns = {c for table in own for c in self.live[table]}
        self.own_tables = set(own)
        self.known_columns = {c.lower() for c in known_columns}
        self.renamed = {k.lower(): v for k, v in (renamed or {}).items()}
        self.renamed_bare = {k.rpartition(".")[2]: k for k in self.renamed}

    def _tables(self, prefix: str) -> list[str]:
        """Live tables that ``prefix`` (``schema.table`` or ``table``) names, the cluster's own first."""
        if "." in prefix:
            return [prefix] if prefix in self.live else []
        found = self.by_name.get(prefix, [])
        own = [t for t in found if t in self.own_tables]
        return own or found

    def column_of(self, name: str) -> tuple[str, str] | None:
        """(table, column) when ``name`` is a qualified column mention of a live table, else None."""
        name = name.strip().strip('"').lower()
        if not _QUALIFIED.match(name) or name in self.live:
            return None
        prefix, _, column = name.rpartition(".")
        tables = self._tables(prefix)
        return (tables[0], column) if tables else None

    def gone(self, name: str) -> str | None:
        """What is wrong with mentioning ``name``, or None when it is live (or not a column mention)."""
        name = name.strip().strip('"').lower()
        qualified = self.column_of(name)
        if qualified is not None:
            table, column = qualified
            if any(column in self.live[t] for t in self._tables(name.rpartition(".")[0])):
                return None
            return self._message(f"{table}.{column}", column, self.live[table].values())
        if _BARE.match(name) and name in self.known_columns and name not in self.own_columns:
            if name in self.renamed_bare:
                mention = self.renamed_bare[name]
                return f"{mention}, renamed to {self.renamed[mention]}"
            return f"{name}, which no live table of the cluster has"
        return None

    def _message(self, mention: str, column: str, live_columns) -> str:
        new = self.renamed.get(mention)
        if new:
            return f"{mention}, renamed to {new}"
        closest = difflib.get_close_matches(column, list(live_columns), n=1)
        return f"{mention}, which no longer exists" + (f" (closest live column: {closest[0]})" if closest else "")


def column_mentions(cluster: "Cluster", drifts: dict[str, "DatasetDrift"], live_schema: dict[str, dict[str, str]]) -> ColumnMentions:
    """The cluster's ``ColumnMentions``: its tables, the columns it knew, and drift's renames."""
    tables = list(cluster.tables) + [t for t in live_schema if cluster.covers(t)]
    known = {c.name for d in cluster.dataset_files.values() for c in d.columns}
    renamed: dict[str, str] = {}
    for drift in drifts.values():
        known.update(drift.removed)
        renamed.update({f"{drift.table}.{old}": new for old, new in drift.renamed.items()})
    mentions = ColumnMentions(live_schema, tables, known, renamed)
    for doc in cluster.docs:
        for name in _doc_names(doc):
            qualified = mentions.column_of(name)
            if qualified is not None:
                mentions.known_columns.add(qualified[1])
    return mentions


def _doc_names(doc: "Doc") -> list[str]:
    """Names a doc mentions: its ``applies_to`` entries, then its inline code."""
    return [*doc.applies_to, *(m.group(1) for m in _INLINE_CODE.finditer(doc.body))]


def doc_mentions(doc: "Doc", mentions: ColumnMentions) -> list[str]:
    """One message per gone column that ``doc`` names in ``applies_to`` or inline code."""
    found: list[str] = []
    for name in _doc_names(doc):
        message = mentions.gone(name)
        if message is not None and message not in found:
            found.append(message)
    return found


def doc_commit_days(cluster: "Cluster") -> dict[Path, date]:
    """Last commit date of each doc of ``cluster``, from one ``git log``; empty outside a git repository."""
    folder = cluster.path / "docs"
    try:
        output = subprocess.run(
            ["git", "log", "--format=@%cI", "--name-only", "--relative", "--", "."],
            cwd=folder, capture_output=True, text=True, timeout=30, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    days: dict[Path, date] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("@"):
            current = parse_day(line[1:])
        elif line.strip() and current is not None:
            days.setdefault((folder / line.strip()).resolve(), current)
    return days


def _doc_day(doc: "Doc", commit_days: dict[Path, date]) -> date | None:
    meta = doc.front_matter.data if doc.front_matter is not None and isinstance(doc.front_matter.data, dict) else {}
    for key in ("verified_at", "updated"):
        if meta.get(key):
            return parse_day(meta[key])
    return commit_days.get(doc.path.resolve())


def curation_freshness_signal(cluster: "Cluster", drifts: dict[str, "DatasetDrift"], live_schema: dict[str, dict[str, str]],
                              today: date) -> Signal:
    """Average credit of the cluster's pairs and docs (see the module docstring)."""
    credits: list[float] = []
    problems: list[Problem] = []
    for pair in cluster.pairs:
        verified = parse_day(pair.verified_at) if pair.verified_at else None
        if pair.stale:
            reason = pair.stale.get("reason", "") if isinstance(pair.stale, dict) else str(pair.stale)
            credits.append(0.0)
            problems.append(Problem(pair.id, "pair_stale", f"pair {pair.id} is marked stale: {reason}"))
        elif verified is None:
            credits.append(0.0)
            problems.append(Problem(pair.id, "pair_unverified", f"pair {pair.id} has no verified_at date"))
        else:
            age = (today - verified).days
            credits.append(age_credit(age))
            if age > FRESH_DAYS:
                problems.append(Problem(pair.id, "pair_old", f"pair {pair.id} was last verified {age} days ago by {pair.verified_by or 'nobody'}",
                                        {"age_days": age}))
    mentions = column_mentions(cluster, drifts, live_schema)
    commit_days = doc_commit_days(cluster) if cluster.docs else {}
    for doc in cluster.docs:
        gone = doc_mentions(doc, mentions)
        if gone:
            credits.append(0.0)
            problems += [Problem(doc.id, "doc_gone_column", f"doc {doc.id} mentions {m}") for m in gone]
            continue
        day = _doc_day(doc, commit_days)
        if day is not None:
            age = (today - day).days
            credits.append(age_credit(age))
            if age > FRESH_DAYS:
                problems.append(Problem(doc.id, "doc_old", f"doc {doc.id} was last updated {age} days ago", {"age_days": age}))
    if not credits:
        return skipped("curation_freshness", "no pairs or dated docs")
    action = ""
    if problems:
        action = "have an owner re-verify old pairs (update verified_at), fix or delete stale pairs, and update docs that name gone columns"
    fresh = sum(1 for c in credits if c == 1.0)
    return Signal("curation_freshness", sum(credits) / len(credits), problems, action,
                  f"{fresh}/{len(credits)} pairs and docs current (verified within {FRESH_DAYS} days, naming live columns)")
