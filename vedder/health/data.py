"""Data health: is each live table fresh, as big as its profile says, and no emptier than it was?

- freshness: the latest partition may lag ``now`` by at most ``FRESHNESS_PERIODS`` times the table's
  cadence (the current period is still filling, the previous one may be landing), and the newest
  partition the profile saw must still be there. The cadence is the partition granularity, or the
  average gap between partitions the profile saw when that is longer (a tracks table with a release
  date gets new dates every few days, not daily). Tables a doc marks deprecated are not expected to be
  fresh;
- row count: a table with fewer than ``1 - ROW_DROP`` of its profiled rows dropped suddenly;
- nulls: a column whose null fraction rose by more than ``NULL_SPIKE`` over its profile spiked.

>>> as_datetime("2026-11-25").isoformat()
'2026-11-25T00:00:00+00:00'
"""

from __future__ import annotations

from concurrent.futures import Future
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from vedder.errors import VedderError
from vedder.health.live import table_stats
from vedder.health.signals import Problem, Signal, skipped

if TYPE_CHECKING:
    from vedder.health.drift import DatasetDrift
    from vedder.health.live import LiveWarehouse
    from vedder.project import Dataset
    from vedder.warehouse import Warehouse

FRESHNESS_PERIODS = 2
ROW_DROP = 0.2
NULL_SPIKE = 0.1
PERIODS = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(days=7),
    "month": timedelta(days=31),
    "quarter": timedelta(days=92),
    "year": timedelta(days=366),
}


def as_datetime(value: Any) -> datetime | None:
    """A partition value (date, datetime or ISO text) as an aware UTC datetime; None when it is not a time."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def cadence(dataset: "Dataset", partitioning: dict[str, Any]) -> timedelta:
    """How often a new partition is expected: the granularity, or the profiled average gap if longer.

    >>> from vedder.project import Column, Dataset
    >>> tracks = Dataset("m.tracks", None, columns=[Column("released", distinct_count=11)])
    >>> cadence(tracks, {"column": "released", "granularity": "day", "first": "2026-01-01", "last": "2026-01-31"}).days
    3
    """
    period = PERIODS.get(str(partitioning.get("granularity") or "day"), PERIODS["day"])
    first, last = as_datetime(partitioning.get("first")), as_datetime(partitioning.get("last"))
    column = dataset.column(str(partitioning.get("column") or ""))
    distinct = column.distinct_count if column is not None else None
    if first is None or last is None or not distinct or distinct < 2:
        return period
    return max(period, (last - first) / (int(distinct) - 1))


def dataset_problems(warehouse: "Warehouse", dataset: "Dataset", live_columns: dict[str, str], now: datetime,
                     timeout_s: float = 30.0, deprecated: bool = False) -> list[Problem]:
    """Freshness, row-count and null-fraction problems of one live table against its profile."""
    live_by_key = {name.lower(): name for name in live_columns}
    partitioning = dataset.partitioning if isinstance(dataset.partitioning, dict) else {}
    partition_column = live_by_key.get(str(partitioning.get("column") or "").lower())
    watched = {c.name: live_by_key[c.name.lower()] for c in dataset.columns
               if c.null_fraction is not None and c.name.lower() in live_by_key}
    try:
        stats = table_stats(warehouse, dataset.table, list(watched.values()), partition_column, timeout_s)
    except VedderError as exc:
        return [Problem(dataset.table, "unmeasurable", f"{dataset.table}: cannot measure the table: {exc.message}")]
    problems = []
    if partition_column and not deprecated:
        problems += _freshness(dataset, partitioning, stats.latest_partition, now)
    if dataset.row_count and stats.row_count < (1 - ROW_DROP) * int(dataset.row_count):
        problems.append(Problem(dataset.table, "row_count_drop",
                                f"{dataset.table}: {stats.row_count:,} rows, the profile counted {int(dataset.row_count):,}",
                                {"rows": stats.row_count, "profiled_rows": int(dataset.row_count)}))
    for name, live_name in watched.items():
        before = float(dataset.column(name).null_fraction)
        after = stats.null_fractions.get(live_name)
        if after is not None and after - before > NULL_SPIKE:
            problems.append(Problem(dataset.table, "null_spike",
                                    f"{dataset.table}.{live_name}: {after:.0%} nulls, the profile saw {before:.0%}",
                                    {"column": live_name, "null_fraction": round(after, 4), "profiled": before}))
    return problems


def _freshness(dataset: "Dataset", partitioning: dict[str, Any], latest: Any, now: datetime) -> list[Problem]:
    granularity = str(partitioning.get("granularity") or "day")
    column = partitioning.get("column")
    latest_time = as_datetime(latest)
    if latest is None:
        return [Problem(dataset.table, "stale", f"{dataset.table}: no partitions at all in {column}", {"latest": None})]
    if latest_time is None:
        return []
    problems = []
    profiled_last = as_datetime(partitioning.get("last"))
    if profiled_last is not None and latest_time < profiled_last:
        problems.append(Problem(dataset.table, "partition_gone",
                                f"{dataset.table}: newest partition is {_day(latest)}, the profile saw {partitioning.get('last')}",
                                {"latest": str(latest), "profiled_last": str(partitioning.get("last"))}))
    lag = now - latest_time
    if lag > FRESHNESS_PERIODS * cadence(dataset, partitioning):
        problems.append(Problem(dataset.table, "stale",
                                f"{dataset.table}: newest {granularity} partition is {_day(latest)}, {_age(lag)} old",
                                {"latest": str(latest), "lag_hours": round(lag.total_seconds() / 3600, 1), "granularity": granularity}))
    return problems


def _day(value: Any) -> str:
    return value.isoformat() if isinstance(value, (date, datetime)) else str(value)


def _age(lag: timedelta) -> str:
    return f"{lag.days} days" if lag.days >= 2 else f"{lag.total_seconds() / 3600:.0f} hours"


def measure_data(live: "LiveWarehouse", drifts: dict[str, "DatasetDrift"], now: datetime, timeout_s: float = 30.0,
                 deprecated: set[str] = frozenset()) -> list[tuple["Dataset", "Future[list[Problem]]"]]:
    """Start measuring each live, profiled table of a cluster on ``live``'s query threads (one scan each)."""
    measured = [d.dataset for d in drifts.values() if d.dataset is not None and not d.missing]
    return [(dataset, live.submit(dataset_problems, dataset, live.schema[dataset.table.lower()], now, timeout_s,
                                  dataset.table.lower() in deprecated))
            for dataset in measured]


def data_health_signal(measurements: list[tuple["Dataset", "Future[list[Problem]]"]]) -> Signal:
    """Share of the measured tables (``measure_data``) without freshness, row-count or null problems."""
    if not measurements:
        return skipped("data_health", "no profiled table of the cluster is in the warehouse")
    problems: list[Problem] = []
    unhealthy = set()
    for dataset, measuring in measurements:
        found = measuring.result()
        if found:
            unhealthy.add(dataset.table)
            problems += found
    value = 1.0 - len(unhealthy) / len(measurements)
    action = ""
    if problems:
        action = "check the pipelines feeding " + ", ".join(sorted(unhealthy)) + "; re-profile once the data is right"
    return Signal("data_health", value, problems, action,
                  f"{len(measurements) - len(unhealthy)}/{len(measurements)} tables fresh and complete")
