"""Schema drift: a cluster's dataset files against the live warehouse schema, and renamed columns.

A column counts as renamed when it is gone under its old name and exactly one new column of the same
type has a matching value profile (null fraction, distinct count, common values, min and max).

>>> compare_columns({"a": "INTEGER", "b": "VARCHAR"}, {"a": "BIGINT", "c": "VARCHAR"})
({'c': 'VARCHAR'}, {'b': 'VARCHAR'}, {'a': ('INTEGER', 'BIGINT')})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from vedder.health.signals import Problem, Signal, skipped

if TYPE_CHECKING:
    from vedder.project import Cluster, Column, Dataset
    from vedder.warehouse import Warehouse

# A value profile matches when the null fraction differs by at most this much ...
NULL_FRACTION_TOLERANCE = 0.05
# ... and the distinct count by at most this share. Both counts come from `profile_table`, so an estimate (a big
# PostgreSQL table: +19-24% on a long tail) meets the same estimate: equal on unchanged rows, 1-4% apart after 1-4% growth.
DISTINCT_TOLERANCE = 0.10
COMMON_VALUES_COMPARED = 5


@dataclass
class DatasetDrift:
    """How one dataset file differs from the live table (``missing`` when the table is gone)."""

    table: str
    dataset: "Dataset | None"
    missing: bool = False
    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    retyped: dict[str, tuple[str, str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    renamed_to: str | None = None  # a gone table's likely new name: the one live table with its columns

    @property
    def drifted(self) -> bool:
        return self.missing or bool(self.added or self.removed or self.retyped)

    def describe(self) -> str:
        if self.missing:
            return f"table {self.table} is gone from the warehouse{self.rename_guess}"
        parts = [f"{old} renamed to {new}" for old, new in self.renamed.items()]
        parts += [f"{name} removed" for name in self.removed if name not in self.renamed]
        parts += [f"{name} added ({kind})" for name, kind in self.added.items() if name not in self.renamed.values()]
        parts += [f"{name} retyped {old} → {new}" for name, (old, new) in self.retyped.items()]
        return f"{self.table}: " + ", ".join(parts)

    @property
    def rename_guess(self) -> str:
        return f" (renamed to {self.renamed_to}? it has the same columns)" if self.renamed_to else ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "missing": self.missing,
            "renamed_to": self.renamed_to,
            "added": self.added,
            "removed": self.removed,
            "retyped": {k: list(v) for k, v in self.retyped.items()},
            "renamed": self.renamed,
        }


def normalize_type(kind: str) -> str:
    return " ".join(str(kind).upper().split())


def compare_columns(
    documented: dict[str, str], live: dict[str, str]
) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, str]]]:
    """(added, removed, retyped) columns between a dataset file's columns and the live ones (case-insensitive)."""
    documented_by_key = {name.lower(): (name, kind) for name, kind in documented.items()}
    live_by_key = {name.lower(): (name, kind) for name, kind in live.items()}
    added = {name: kind for key, (name, kind) in live_by_key.items() if key not in documented_by_key}
    removed = {name: kind for key, (name, kind) in documented_by_key.items() if key not in live_by_key}
    retyped = {}
    for key, (name, kind) in documented_by_key.items():
        if key in live_by_key and kind and normalize_type(kind) != normalize_type(live_by_key[key][1]):
            retyped[name] = (kind, live_by_key[key][1])
    return added, removed, retyped


def dataset_drift(cluster: "Cluster", live_schema: dict[str, dict[str, str]], warehouse: "Warehouse | None" = None,
                  timeout_s: float = 30.0) -> dict[str, DatasetDrift]:
    """Drift of every dataset file of ``cluster`` (and every table it lists by exact name), by table.

    With ``warehouse``, removed columns are matched against added ones to find renames.
    """
    drifts: dict[str, DatasetDrift] = {}
    for key, dataset in sorted(cluster.dataset_files.items()):
        live = live_schema.get(key)
        if live is None:
            drifts[key] = DatasetDrift(dataset.table, dataset, missing=True, renamed_to=_new_name(cluster, dataset, live_schema))
            continue
        added, removed, retyped = compare_columns({c.name: c.type for c in dataset.columns}, live)
        drift = DatasetDrift(dataset.table, dataset, added=added, removed=removed, retyped=retyped)
        if warehouse is not None and added and removed:
            drift.renamed = detect_renames(warehouse, dataset, removed, added, timeout_s)
        drifts[key] = drift
    for table in cluster.tables:
        if table.lower() not in drifts and table.lower() not in live_schema:
            drifts[table.lower()] = DatasetDrift(table, None, missing=True)
    return drifts


def _new_name(cluster: "Cluster", dataset: "Dataset", live_schema: dict[str, dict[str, str]]) -> str | None:
    """The one live table without a dataset file in ``cluster`` whose columns (names and types) are the gone
    table's: what it was most likely renamed to."""
    columns = {(c.name.lower(), normalize_type(c.type)) for c in dataset.columns}
    same = [table for table, live in live_schema.items() if table not in cluster.dataset_files
            and {(name.lower(), normalize_type(kind)) for name, kind in live.items()} == columns]
    return same[0] if len(same) == 1 else None


def detect_renames(warehouse: "Warehouse", dataset: "Dataset", removed: dict[str, str], added: dict[str, str],
                   timeout_s: float = 30.0) -> dict[str, str]:
    """{old: new} for removed columns whose value profile matches exactly one added column of the same type."""
    candidates = {
        old: [new for new, kind in added.items() if normalize_type(kind) == normalize_type(old_kind)]
        for old, old_kind in removed.items()
    }
    wanted = sorted({new for news in candidates.values() for new in news})
    if not wanted:
        return {}
    from vedder.health.live import column_profiles

    profiles = column_profiles(warehouse, dataset.table, wanted, timeout_s)
    matches: dict[str, list[str]] = {}
    for old, news in candidates.items():
        column = dataset.column(old)
        matches[old] = [new for new in news if column is not None and profile_matches(column, profiles[new])]
    claimed: dict[str, int] = {}
    for news in matches.values():
        for new in news:
            claimed[new] = claimed.get(new, 0) + 1
    return {old: news[0] for old, news in matches.items() if len(news) == 1 and claimed[news[0]] == 1}


def _same_value(a: Any, b: Any) -> bool:
    """Equal as numbers, else as text (times as ISO text, as the profile writes them)."""
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    except (TypeError, ValueError):
        as_text = [v.isoformat() if hasattr(v, "isoformat") else str(v) for v in (a, b)]
        return as_text[0] == as_text[1]


def profile_matches(column: "Column", live: dict[str, Any]) -> bool:
    """Whether the profiled ``column`` and a live column profile agree on everything both know (and on something)."""
    checks: list[bool] = []
    if column.null_fraction is not None and live.get("null_fraction") is not None:
        checks.append(abs(float(column.null_fraction) - live["null_fraction"]) <= NULL_FRACTION_TOLERANCE)
    if column.distinct_count is not None and live.get("distinct_count") is not None:
        a, b = int(column.distinct_count), int(live["distinct_count"])
        checks.append(abs(a - b) <= max(2, DISTINCT_TOLERANCE * max(a, b)))
    if column.common_values and live.get("common_values"):
        expected = {str(v.get("value")) for v in column.common_values[:COMMON_VALUES_COMPARED] if isinstance(v, dict)}
        seen = {str(v) for v in live["common_values"]}
        checks.append(len(expected & seen) * 2 >= len(expected))
    for bound in ("min", "max"):
        if getattr(column, bound) is not None and live.get(bound) is not None:
            checks.append(_same_value(getattr(column, bound), live[bound]))
    return bool(checks) and all(checks)


def schema_drift_signal(drifts: dict[str, DatasetDrift], listed: Iterable[str] = ()) -> Signal:
    """Share of dataset files that match the live schema; a missing table counts fully, added columns half.
    ``listed``: the cluster.yaml's ``datasets`` entries, so the action names where a gone table is to be removed."""
    if not drifts:
        return skipped("schema_drift", "the cluster has no dataset files")
    penalty = 0.0
    problems = []
    for key, drift in drifts.items():
        if not drift.drifted:
            continue
        if drift.missing:
            penalty += 1.0
            kind = "table_missing"
        elif drift.removed or drift.retyped:
            penalty += 1.0
            kind = "columns_changed"
        else:
            penalty += 0.5
            kind = "columns_added"
        problems.append(Problem(drift.table, kind, drift.describe(), drift.to_dict()))
    value = 1.0 - penalty / len(drifts)
    actions = []
    if any(not drift.missing for drift in drifts.values() if drift.drifted):
        actions.append("re-profile the drifted datasets (`vedder health --fix` or `vedder profile`)")
    gone = [drift for drift in drifts.values() if drift.missing]
    if gone:
        named = {entry.lower() for entry in listed}
        files = ", ".join(f"`datasets/{drift.dataset.path.name}`" if drift.dataset is not None and drift.dataset.path else f"`{drift.table}`"
                          for drift in gone)
        in_yaml = [drift.table for drift in gone if drift.table.lower() in named]
        actions.append(f"for a gone table, restore it or delete its dataset file ({files})"
                       + (f" and its line in cluster.yaml ({', '.join(in_yaml)})" if in_yaml else ""))
    action = "; ".join(actions)
    return Signal("schema_drift", value, problems, action, f"{len(drifts) - len(problems)}/{len(drifts)} dataset files match the warehouse")
