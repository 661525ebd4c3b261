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


def gone_columns(drifts: dict[str, "DatasetDrift"], live_schema: dict[str, dict[str, str]]) -> dict[str, str]:
    """Names a doc may use for a column that no longer exists → the message to show.

    ``table.column`` and ``schema.table.column`` always count; a bare ``column`` only when no live table
    of the cluster still has a column of that name.
    """
    live_names = {c.lower() for key in drifts for c in live_schema.get(key, {})}
    gone: dict[str, str] = {}
    for drift in drifts.values():
        for name in drift.removed:
            message = f"{drift.table}.{name}, " + (f"renamed to {drift.renamed[name]}" if name in drift.renamed else "which no longer exists")
            table = drift.table.lower()
            gone[f"{table}.{name.lower()}"] = message
            gone[f"{table.rsplit('.', 1)[-1]}.{name.lower()}"] = message
            if name.lower() not in live_names:
                gone[name.lower()] = message
    return gone


def doc_mentions(doc: "Doc", gone: dict[str, str]) -> list[str]:
    """Messages for each gone column that ``doc`` mentions in inline code."""
    found = []
    for match in _INLINE_CODE.finditer(doc.body):
        token = match.group(1).strip().strip('"').lower()
        if token in gone and gone[token] not in found:
            found.append(gone[token])
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
    gone = gone_columns(drifts, live_schema)
    commit_days = doc_commit_days(cluster) if cluster.docs else {}
    for doc in cluster.docs:
        mentions = doc_mentions(doc, gone)
        if mentions:
            credits.append(0.0)
            problems += [Problem(doc.id, "doc_gone_column", f"doc {doc.id} mentions {m}") for m in mentions]
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
