"""Dataset profiling: schema and statistics of warehouse tables, written to clusters' dataset files.

One aggregate pass per table gives the row count and, per column, nulls, (approximate) distinct count
and min/max; one grouped pass over a reservoir sample gives the common values. Small tables are
profiled exactly. Descriptions people wrote survive re-profiling.

The SQL is DuckDB's, with a PostgreSQL branch where the engines differ: PostgreSQL has no ``QUALIFY`` (the
ranking is filtered in an outer query) and samples with ``TABLESAMPLE BERNOULLI (…) REPEATABLE (42)``, which
only tables, partitioned tables and materialized views take (a view's common values are counted over all its
rows). Nor has it ``approx_count_distinct``, and an exact ``count(DISTINCT …)`` sorts every column of the
whole table: above SAMPLE_ROWS the distinct counts come from the grouped pass instead, estimated from its
sample (``estimated_distinct``: ANALYZE's estimator, or Shlosser's where the sample is skewed); row count,
nulls, min/max and the partition's first and last day stay exact (freshness checks read them) and cost one
scan without sorting.

>>> expand_patterns(["analytics.*", "crm.users"], ["analytics.events", "billing.invoices"])
(['analytics.events'], ['crm.users'])
"""

from __future__ import annotations

import datetime as dt
import decimal
import difflib
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterable, Sequence

from sqlglot import exp

from vedder.errors import TableNotFound, UsageError
from vedder.files import atomic_write, dump_yaml
from vedder.project.model import Dataset, matches_table
from vedder.schemas import schema_header

if TYPE_CHECKING:
    from vedder.project.model import Cluster, Project
    from vedder.warehouse import Warehouse

SAMPLE_ROWS = 100_000
"""Tables up to this size are profiled exactly; larger ones use approximate distinct counts and a sample."""
LOW_CARDINALITY = 50
"""Categorical (text, boolean) columns with at most this many distinct values list them all as common values."""
TOP_VALUES = 10
TOP_VALUES_COVERAGE = 0.5
"""Other columns whose values repeat list their top values only when those cover at least this share of rows."""
PROFILE_TIMEOUT_S = 600.0
GROUPING_BATCH = 16
"""Columns per grouped pass. PostgreSQL's GROUPING takes fewer than 32 arguments; on DuckDB 16 per pass is as
fast as 32 or faster (a 1,000-column table: 4.5 vs 5.1 s)."""
DISTINCT_BATCH = 16
"""Exact distinct counts per SELECT on DuckDB, which runs many count(DISTINCT) in one SELECT far slower than in batches:
a 2,000-row table's 250 in one SELECT 2.2 s, 16 per SELECT 0.3 s (BENCHMARKS.md, profile of wide tables)."""
AGGREGATE_BATCH = 400
"""Columns per aggregate SELECT: PostgreSQL takes at most 1,664 expressions in one (up to four per column)."""
LONG_VALUE = 200
"""Common values longer than this many characters (a repeated text body) are left out: they label nothing."""
SAMPLE_SEED = 42
_NO_EQUALITY = {"postgres": (exp.DataType.Type.JSON, exp.DataType.Type.XML)}
"""Types a dialect cannot compare for equality: no distinct count, no grouping (PostgreSQL's json and xml)."""

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(table, step, steps)`` before the first and after every profiling step."""

_PARTITION_NAMES = {"ds", "dt", "date", "day", "event_date", "event_day", "partition_date", "log_date", "hour", "month"}
_LIFECYCLE_WORDS = {
    "birth", "birthday", "dob", "signup", "signed", "joined", "registered", "registration", "release", "released", "publish",
    "published", "launch", "launched", "updated", "modified", "deleted", "expires", "expiry", "expiration", "cancelled",
    "canceled", "churned", "valid", "start", "started", "end", "ended", "first", "last", "latest", "seen", "since", "cohort",
    "hire", "hired", "became", "become", "formed", "founded", "opened", "closed", "acquired", "disposed", "discontinued",
    "left", "due",
}
"""Words that mark a date as an attribute of an entity (when a track was released, a customer's cohort), not as when a
row happened — unless the table is named after them (``signups.signup_date``: each row is a signup)."""
_EVENT_STEMS = (
    "event", "creat", "order", "placed", "transact", "txn", "pay", "paid", "invoic", "issu", "sale", "sold", "purchas",
    "book", "visit", "log", "occur", "ship", "deliver", "sent", "receiv", "receipt", "click", "play", "listen",
    "impression", "session", "view", "request", "submit", "report", "record", "measur", "complain", "claim", "incident",
    "attend", "lesson", "assess", "rating", "mail", "refund",
)
"""Word beginnings that say when a row happened (created, ordered, paid, logged …): such a date or timestamp is the
partition before a date that says neither (a due_date next to created_at)."""
_TIME_ZONE_WORDS = {"utc", "gmt", "local", "tz", "z"}
_WORD_BREAK = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|[^A-Za-z0-9]+")
_CLUSTER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Cluster files name tables in lower case without quotes: a space, a dot or a capital (PostgreSQL keeps the case of
# quoted names) inside a name cannot be written there.
_NAMEABLE_TABLE = re.compile(r"^[^.\sA-Z]+(\.[^.\sA-Z]+){1,2}$")
"""The form cluster and dataset files name tables in (dataset.schema.json's ``table``)."""


@dataclass(frozen=True)
class _ColumnKind:
    name: str
    type: str
    numeric: bool
    temporal: bool
    partitionable: bool
    groupable: bool

    @property
    def categorical(self) -> bool:
        """Values are labels (text, booleans) whose exact spelling matters to queries."""
        return self.groupable and not (self.numeric or self.temporal)


def _column_kind(name: str, type_name: str, dialect: str) -> _ColumnKind:
    try:
        data_type = exp.DataType.build(type_name, dialect=dialect)
    except Exception:  # noqa: BLE001 - an engine type sqlglot does not know is profiled as opaque
        return _ColumnKind(name, type_name, False, False, False, False)
    nested = data_type.is_type(*exp.DataType.NESTED_TYPES)
    binary = data_type.is_type(exp.DataType.Type.VARBINARY, exp.DataType.Type.BINARY, exp.DataType.Type.BLOB)
    temporal = data_type.is_type(*exp.DataType.TEMPORAL_TYPES)
    return _ColumnKind(
        name=name,
        type=type_name,
        numeric=data_type.is_type(*exp.DataType.NUMERIC_TYPES),
        temporal=temporal,
        partitionable=temporal and not data_type.is_type(exp.DataType.Type.TIME, exp.DataType.Type.TIMETZ),
        groupable=not (nested or binary or data_type.is_type(*_NO_EQUALITY.get(dialect, ()))),
    )


def expand_patterns(patterns: Iterable[str], tables: Iterable[str]) -> tuple[list[str], list[str]]:
    """The warehouse ``tables`` matching any of ``patterns`` (in warehouse order), and the patterns matching none."""
    patterns = list(patterns)
    tables = list(tables)
    matched = [t for t in tables if any(matches_table(t, p) for p in patterns)]
    unmatched = [p for p in patterns if not any(matches_table(t, p) for t in tables)]
    return matched, unmatched


def _missing_hint(pattern: str, tables: Sequence[str]) -> str:
    close = difflib.get_close_matches(pattern.lower(), tables, n=3, cutoff=0.6)
    if close:
        return "did you mean " + ", ".join(close) + "?"
    return f"the warehouse has {len(tables)} tables; patterns like `schema.*` match a whole schema"


def _quoted_table(table: str, dialect: str) -> str:
    schema, _, name = table.rpartition(".")
    return exp.table_(name, db=schema or None, quoted=True).sql(dialect)


def _quoted(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect)


def _plain(value: Any) -> Any:
    """A warehouse value as something YAML and JSON hold: ISO strings for times, floats for decimals."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    return str(value)


def _partition_score(column: _ColumnKind, table: str = "") -> int:
    """How much a date/timestamp column of ``table`` looks like its partition or event-date column (0: not at all).

    The name's shape gives 1 (a timestamp: ``*_at``, ``*_ts``, ``*_datetime``) to 4 (``ds``, ``event_date``, ``day``),
    dates before timestamps; a name that says when the row happened (``created_at``, ``order_date``) adds 4, so it
    comes before a date that does not (``due_date``). A word of _LIFECYCLE_WORDS makes it an attribute: 0.
    """
    if not column.partitionable:
        return 0
    words = _words(column.name)  # "Order Date", "OrderDate": order, date
    if len(words) > 1 and words[-1] in _TIME_ZONE_WORDS:  # placed_at_utc says when as placed_at does
        words = words[:-1]
    name = "_".join(words)
    if name in _PARTITION_NAMES:
        return 8
    table_words = _words(table.rpartition(".")[2])
    if any(w in _LIFECYCLE_WORDS and not any(_same_stem(w, t) for t in table_words) for w in words):
        return 0
    happened = 4 if any(w.startswith(_EVENT_STEMS) or w in _LIFECYCLE_WORDS for w in words) else 0
    if name.endswith(("_date", "_day", "_hour", "_month")) or name.startswith(("date_", "day_")):
        return 3 + happened
    if name.endswith(("_at", "_ts", "_time", "_timestamp", "_datetime")) or name.startswith("datetime_") or name in ("timestamp", "ts", "time"):
        return 1 + happened
    return 0


def _words(name: str) -> list[str]:
    return [w.lower() for w in _WORD_BREAK.split(name) if w]


def _same_stem(word: str, other: str) -> bool:
    """``signup`` and ``signups``, ``registration`` and ``registrations``: a common beginning of 4 or more letters
    that is all of the shorter word or at least 5 letters."""
    common = len(os.path.commonprefix([word, other]))
    return common >= 4 and common >= min(len(word), len(other), 5)


def _partition_candidate(columns: list[_ColumnKind], table: str = "") -> _ColumnKind | None:
    scored = [(_partition_score(c, table), -index, c) for index, c in enumerate(columns)]
    best = max(scored, default=(0, 0, None), key=lambda item: item[:2])
    return best[2] if best[0] > 0 else None


def _kept_partition(columns: list[_ColumnKind], existing: Dataset | None) -> _ColumnKind | None:
    """The partition column the current dataset file names, while the table still has it as a date or timestamp:
    chosen by a person (or an earlier profile) it stays — freshness checks read it — rather than re-detected."""
    named = str(((existing.partitioning or {}) if existing else {}).get("column") or "").lower()
    return next((c for c in columns if c.name.lower() == named and c.partitionable), None) if named else None


def _aggregate_sql(table: str, columns: list[_ColumnKind], partition: _ColumnKind | None, exact: bool, dialect: str) -> str:
    """The aggregate pass. Not ``exact`` on PostgreSQL, it leaves distinct counts out (NULL): the grouped pass
    estimates them from its sample. ``exact``, it counts the distinct values of the first batch of
    ``_distinct_batches`` only (NULL for the others): ``_distinct_sql`` counts the rest."""
    parts = ["count(*)"]
    if exact:
        distinct = "count(DISTINCT {})"
    else:
        distinct = "NULL" if dialect == "postgres" else "approx_count_distinct({})"
    counted = {c.name for c in _distinct_batches(columns, dialect)[0]} if exact else {c.name for c in columns}
    for column in columns:
        quoted = _quoted(column.name, dialect)
        parts.append(f"count({quoted})")
        parts.append(distinct.format(quoted) if column.groupable and column.name in counted else "NULL")
        if column.numeric or column.temporal:
            parts += [f"min({quoted})", f"max({quoted})"]
    if partition is not None:
        quoted = _quoted(partition.name, dialect)
        if dialect == "postgres":
            parts += [f"{_truncation_sql(partition, quoted)} >= {level}" for level in (3, 2, 1)]
        else:
            parts += [f"bool_and(date_trunc('{unit}', {quoted}) = {quoted})" for unit in ("month", "day", "hour")]
    return f"SELECT {', '.join(parts)} FROM {_quoted_table(table, dialect)}"


def _distinct_batches(columns: list[_ColumnKind], dialect: str) -> list[list[_ColumnKind]]:
    """The groupable ``columns`` in batches, one exact count(DISTINCT) SELECT each (at least one batch): DISTINCT_BATCH
    on DuckDB, all in one on PostgreSQL, which sorts for each count alone, so that more SELECTs only add scans (a
    100,000-row, 250-column table: 8.0 s in one, 9.8 s by 16)."""
    groupable = [c for c in columns if c.groupable]
    size = max(len(groupable), 1) if dialect == "postgres" else DISTINCT_BATCH
    return [groupable[start : start + size] for start in range(0, len(groupable), size)] or [[]]


def _distinct_sql(table: str, batch: list[_ColumnKind], dialect: str) -> str:
    """Exact distinct counts of one batch of columns after the aggregate pass's first."""
    counts = ", ".join(f"count(DISTINCT {_quoted(c.name, dialect)})" for c in batch)
    return f"SELECT {counts} FROM {_quoted_table(table, dialect)}"


def _truncation_sql(partition: _ColumnKind, quoted: str) -> str:
    """PostgreSQL: the coarsest unit every value of ``partition`` is truncated to, as a level (3 month, 2 day,
    1 hour, 0 none). Each row stops at the first unit it fails (a continuous timestamp at the hour), and a
    date is always whole days: date_trunc on a date converts it to timestamptz, in the session's time zone,
    which costs more than the rest of the scan. PostgreSQL computes the aggregate once for its three uses."""
    if exp.DataType.build(partition.type, dialect="postgres").is_type(exp.DataType.Type.DATE):
        return f"min(CASE WHEN date_trunc('month', {quoted}::timestamp) <> {quoted} THEN 2 WHEN {quoted} IS NOT NULL THEN 3 END)"
    return (f"min(CASE WHEN date_trunc('hour', {quoted}) <> {quoted} THEN 0 WHEN date_trunc('day', {quoted}) <> {quoted} THEN 1 "
            f"WHEN date_trunc('month', {quoted}) <> {quoted} THEN 2 WHEN {quoted} IS NOT NULL THEN 3 END)")


def _granularity(truncated_to_month: bool | None, truncated_to_day: bool | None, truncated_to_hour: bool | None, distinct_count: int) -> str:
    """The partition grain: the coarsest unit every value is truncated to; continuous timestamps count as daily."""
    if truncated_to_month and distinct_count > 1:
        return "month"
    if truncated_to_day or not truncated_to_hour:
        return "day"
    return "hour"


def _common_values_sql(table: str, columns: list[_ColumnKind], row_count: int, dialect: str, samplable: bool = True) -> str:
    """One grouped pass: each column's (at most LOW_CARDINALITY) most frequent values and, with grouping_id
    all ones, the rows counted. Over a repeatable sample of SAMPLE_ROWS rows when the table is bigger and
    ``samplable`` (PostgreSQL samples tables and materialized views only). PostgreSQL's rows also carry, per
    column, what ``estimated_distinct`` needs: how many values were seen how many times (two arrays)."""
    names = ", ".join(_quoted(c.name, dialect) for c in columns)
    source = _quoted_table(table, dialect)
    sets = ", ".join(f"({_quoted(c.name, dialect)})" for c in columns)
    grouping = f"grouping({names})"
    rank = f"row_number() OVER (PARTITION BY {grouping} ORDER BY count(*) DESC, {names})"
    if dialect == "postgres":
        if row_count > SAMPLE_ROWS and samplable:
            percent = f"{100 * SAMPLE_ROWS / row_count:.6f}"
            source = f"(SELECT {names} FROM {source} TABLESAMPLE BERNOULLI ({percent}) REPEATABLE ({SAMPLE_SEED})) AS sampled"
        # Aliases no table column is likely to have. In a column's grouping set only that column can be
        # non-null, so vedder_value is 1 for a value's group and 0 for the NULL group (and for the set of all
        # rows). Values seen once rank last and matter to _common_values only when a column has at most
        # LOW_CARDINALITY of them or its TOP_VALUES could reach TOP_VALUES_COVERAGE with them; elsewhere they
        # are left out before the ranking sorts (a near-unique column has as many as rows).
        return (
            f"WITH vedder_groups AS (SELECT {grouping} AS vedder_grouping, {names}, count(*) AS vedder_rows, "
            f"num_nonnulls({names}) AS vedder_value FROM {source} GROUP BY GROUPING SETS ({sets}, ())), "
            "vedder_stats AS (SELECT vedder_grouping, count(*) FILTER (WHERE vedder_value = 1) AS vedder_distinct, "
            "coalesce(sum(vedder_rows) FILTER (WHERE vedder_rows > 1), 0) AS vedder_repeated, sum(vedder_rows) AS vedder_all "
            "FROM vedder_groups GROUP BY vedder_grouping), "
            "vedder_frequencies AS (SELECT vedder_grouping, vedder_rows AS vedder_seen, count(*) AS vedder_values FROM vedder_groups "
            "WHERE vedder_value = 1 GROUP BY vedder_grouping, vedder_rows), "
            "vedder_profile AS (SELECT vedder_grouping, array_agg(vedder_seen ORDER BY vedder_seen) AS vedder_seen, "
            "array_agg(vedder_values ORDER BY vedder_seen) AS vedder_values FROM vedder_frequencies GROUP BY vedder_grouping) "
            f"SELECT vedder_stats.vedder_grouping, {names}, vedder_rows, vedder_seen, vedder_values "
            f"FROM vedder_stats LEFT JOIN vedder_profile USING (vedder_grouping) LEFT JOIN (SELECT vedder_groups.*, row_number() OVER "
            f"(PARTITION BY vedder_groups.vedder_grouping ORDER BY vedder_rows DESC, {names}) AS vedder_rank "
            f"FROM vedder_groups JOIN vedder_stats USING (vedder_grouping) WHERE vedder_rows > 1 OR vedder_distinct <= {LOW_CARDINALITY} "
            f"OR vedder_repeated + {TOP_VALUES} >= {TOP_VALUES_COVERAGE} * vedder_all) AS ranked "
            f"ON ranked.vedder_grouping = vedder_stats.vedder_grouping AND vedder_rank <= {LOW_CARDINALITY} "
            f"ORDER BY 1, vedder_rows DESC, {names}"
        )
    if row_count > SAMPLE_ROWS:
        source = f"(SELECT {names} FROM {source} USING SAMPLE reservoir({SAMPLE_ROWS} ROWS) REPEATABLE ({SAMPLE_SEED})) AS sampled"
    return (
        f"SELECT {grouping} AS grouping_id, {names}, count(*) AS n FROM {source} "
        f"GROUP BY GROUPING SETS ({sets}, ()) "
        f"QUALIFY {rank} <= {LOW_CARDINALITY} "
        f"ORDER BY grouping_id, n DESC, {names}"
    )


def _samplable(warehouse: "Warehouse", table: str) -> bool:
    """Whether ``TABLESAMPLE`` takes ``table``: in PostgreSQL a table, partitioned table or materialized view,
    not a view (DuckDB samples anything)."""
    if warehouse.dialect != "postgres":
        return True
    name = exp.Literal.string(_quoted_table(table, "postgres")).sql("postgres")
    rows = warehouse.execute(f"SELECT relkind::text FROM pg_catalog.pg_class WHERE oid = to_regclass({name})", limit=1).rows
    return bool(rows) and rows[0][0] in ("r", "p", "m")


def estimated_distinct(seen: dict[int, int], total_non_null: int) -> int:
    """The distinct values of a column of ``total_non_null`` non-null values, estimated from a sample in which
    ``seen[i]`` values occurred ``i`` times (n = Σ i·seen[i] of the N values; d = Σ seen[i]; f1 = seen[1]).

    The hybrid of Haas, Naughton, Seshadri and Stokes (VLDB 1995): where the sampled frequencies look
    uniform (their chi-square test), Duj1, n·d / (n − f1 + f1·n/N), which PostgreSQL's ANALYZE uses; where
    they are skewed, Shlosser's d + f1·Σ(1−q)^i·f_i / Σ i·q·(1−q)^(i−1)·f_i with q = n/N. Duj1 alone
    undercounts a long tail behind a few heavy values by 70-80% (the heavy rows make it think the sample saw
    most values); Shlosser alone overcounts uniform repeats. Kept between the values seen and N; a whole
    column (n = N) is counted exactly.

    >>> estimated_distinct({1: 100}, 10_000)  # every value sampled once: a key, as many values as rows
    10000
    >>> estimated_distinct({30: 3}, 10_000)  # every value sampled many times: all of them were seen
    3
    >>> estimated_distinct({1: 18, 2: 1}, 200)  # uniform repeats: Duj1
    100
    >>> estimated_distinct({1: 80, 600: 2}, 12_800)  # two heavy values and a tail seen once: Shlosser
    802
    """
    non_null = sum(times * values for times, values in seen.items())
    distinct, once = sum(seen.values()), seen.get(1, 0)
    if non_null >= total_non_null:
        return distinct
    if not non_null:
        return min(total_non_null, 1)
    spread = distinct / non_null * sum(times * times * values for times, values in seen.items()) - non_null
    uniform = spread <= (distinct - 1) + 1.96 * math.sqrt(2 * (distinct - 1))  # the chi-square test's 97.5% point
    if uniform:
        estimate = non_null * distinct / (non_null - once + once * non_null / total_non_null)
    else:
        q = non_null / total_non_null
        unseen = sum((1 - q) ** times * values for times, values in seen.items())
        weight = sum(times * q * (1 - q) ** (times - 1) * values for times, values in seen.items())
        # No value seen once: nothing to extrapolate (and with values seen ~10^4 times the sums underflow to 0.0).
        estimate = distinct + once * unseen / weight if once else distinct
    return int(min(max(estimate, distinct), total_non_null) + 0.5)


@dataclass
class _GroupedColumn:
    """A column's counts from the grouped pass: its most frequent values, the rows counted (all columns'),
    and, on PostgreSQL, how many of its values were seen how many times."""

    values: list[tuple[Any, int]]
    rows: int
    seen: dict[int, int] = field(default_factory=dict)


def _grouped(warehouse: "Warehouse", table: str, columns: list[_ColumnKind], row_count: int,
             timeout_s: float = PROFILE_TIMEOUT_S) -> dict[str, _GroupedColumn]:
    """The grouped pass over ``columns``, by column name."""
    grouped: dict[str, _GroupedColumn] = {}
    samplable = row_count <= SAMPLE_ROWS or _samplable(warehouse, table)
    for start in range(0, len(columns), GROUPING_BATCH):
        batch = columns[start : start + GROUPING_BATCH]
        sql = _common_values_sql(table, batch, row_count, warehouse.dialect, samplable)
        result = warehouse.execute(sql, limit=LOW_CARDINALITY * (len(batch) + 1), timeout_s=timeout_s)
        width = len(batch)
        everything = (1 << width) - 1
        sampled = next((row[1 + width] for row in result.rows if row[0] == everything), 0)
        for column in batch:
            grouped[column.name] = _GroupedColumn([], sampled)
        for row in result.rows:
            grouping_id = row[0]
            if grouping_id == everything:
                continue
            index = next(i for i in range(width) if not grouping_id & (1 << (width - 1 - i)))
            entry = grouped[batch[index].name]
            if row[2 + width :] and row[2 + width] is not None:
                entry.seen = {int(times): int(values) for times, values in zip(row[2 + width], row[3 + width])}
            if row[1 + index] is not None:  # not the NULL group, nor a column's statistics without a value that ranks
                entry.values.append((row[1 + index], row[1 + width]))
    return grouped


def _common_values(grouped: dict[str, _GroupedColumn], columns: list[_ColumnKind], distinct: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    """Most frequent values (with their share of rows) of the low-cardinality or repetitive ``columns``."""
    found: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        counted = grouped.get(column.name)
        if counted is None or not counted.values:
            continue
        low_cardinality = column.categorical and distinct[column.name] <= LOW_CARDINALITY
        top = counted.values if low_cardinality else counted.values[:TOP_VALUES]
        if not low_cardinality and sum(n for _, n in top) / counted.rows < TOP_VALUES_COVERAGE:
            continue
        found[column.name] = [{"value": _plain(v), "frequency": share(n, counted.rows)} for v, n in top
                              if not (isinstance(v, str) and len(v) > LONG_VALUE)]
    return found


def share(part: int, whole: int) -> float:
    """``part / whole`` to 4 decimals, but 0 or 1 only when exactly so: one value in 20,000 rows is a null
    fraction of 0.99995, not 1.0 (all NULL).

    >>> share(19_999, 20_000), share(1, 3), share(0, 7)
    (0.99995, 0.3333, 0.0)
    """
    fraction = part / whole
    rounded = round(fraction, 4)
    if 0 < part < whole and rounded in (0.0, 1.0):
        return float(f"{fraction:.2g}") if rounded == 0.0 else 1 - float(f"{1 - fraction:.2g}")
    return rounded


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _aggregates(warehouse: "Warehouse", table: str, columns: list[_ColumnKind], partition: _ColumnKind | None, exact: bool,
                timeout_s: float) -> tuple[int, dict[str, dict[str, Any]], tuple[Any, Any, Any] | None]:
    """The aggregate pass: the row count, per column its null fraction, non-null count, distinct count (none where
    the grouped pass estimates it) and min/max, and the partition's truncation. AGGREGATE_BATCH columns per SELECT,
    the exact distinct counts DISTINCT_BATCH per SELECT."""
    stats: dict[str, dict[str, Any]] = {}
    row_count, truncated = 0, None
    for start in range(0, len(columns), AGGREGATE_BATCH) or [0]:
        batch = columns[start : start + AGGREGATE_BATCH]
        first = start == 0
        sql = _aggregate_sql(table, batch, partition if first else None, exact=exact, dialect=warehouse.dialect)
        values = iter(warehouse.execute(sql, limit=1, timeout_s=timeout_s).rows[0])
        row_count = next(values)
        for column in batch:
            non_null, distinct_count = next(values), next(values)
            entry = stats[column.name] = {"null_fraction": share(row_count - non_null, row_count) if row_count else 0.0, "non_null": non_null}
            if distinct_count is not None:
                entry["distinct_count"] = min(int(distinct_count), non_null)
            if column.numeric or column.temporal:
                entry["min"], entry["max"] = _plain(next(values)), _plain(next(values))
        if first and partition is not None:
            truncated = (next(values), next(values), next(values))
        for counted in _distinct_batches(batch, warehouse.dialect)[1:] if exact else []:
            counts = warehouse.execute(_distinct_sql(table, counted, warehouse.dialect), limit=1, timeout_s=timeout_s).rows[0]
            for column, distinct_count in zip(counted, counts):
                stats[column.name]["distinct_count"] = min(int(distinct_count), stats[column.name]["non_null"])
    for entry in stats.values():  # an estimate is never more than the integers between min and max
        low, high = entry.get("min"), entry.get("max")
        if "distinct_count" in entry and isinstance(low, int) and isinstance(high, int):
            entry["distinct_count"] = min(entry["distinct_count"], high - low + 1)
    return row_count, stats, truncated


def profile_table(warehouse: "Warehouse", table: str, existing: Dataset | None = None, progress: ProgressCallback | None = None,
                  *, only: Collection[str] | None = None, timeout_s: float = PROFILE_TIMEOUT_S) -> dict[str, Any]:
    """Profile one table into a dataset dict (the content of its dataset file).

    ``only`` profiles those columns alone, exactly as a whole profile would (``vedder health`` compares a live
    column with its dataset file this way: estimate against estimate on a big PostgreSQL table).

    ``existing`` (the current dataset file) contributes the descriptions people wrote and its partition column
    (while the table has it); columns no longer in the table are dropped, new ones added. Else the partition column
    is detected from the
    column types and names (``event_date``, ``ds``, ``*_date``, ``*_at``), names that say when the row
    happened first (``created_at`` before ``due_date``), never from entity dates such as ``signup_date``,
    ``cohort_month`` or ``hire_date`` (but ``signup_date`` of a ``signups`` table).
    """
    progress = progress or (lambda *_: None)
    dialect = warehouse.dialect
    columns = [_column_kind(name, type_name, dialect) for name, type_name in warehouse.columns(table)
               if only is None or name in only]
    progress(table, 0, 2)
    quoted_table = _quoted_table(table, dialect)
    row_count = warehouse.execute(f"SELECT count(*) FROM {quoted_table}", limit=1, timeout_s=timeout_s).rows[0][0]
    partition = _kept_partition(columns, existing) or _partition_candidate(columns, table)
    exact = row_count <= SAMPLE_ROWS
    estimated = dialect == "postgres" and not exact
    row_count, stats, truncated = _aggregates(warehouse, table, columns, partition, exact, timeout_s)
    distinct = {name: entry["distinct_count"] for name, entry in stats.items() if "distinct_count" in entry}
    non_nulls = {name: entry.pop("non_null") for name, entry in stats.items()}
    progress(table, 1, 2)
    grouped: dict[str, _GroupedColumn] = {}
    if estimated:
        # The grouped pass runs over every groupable column: which of them repeat is known only after it.
        grouped = _grouped(warehouse, table, [c for c in columns if c.groupable], row_count, timeout_s)
        for name, counted in grouped.items():
            distinct[name] = stats[name]["distinct_count"] = estimated_distinct(counted.seen, non_nulls[name])
    repetitive = [c for c in columns if c.name in distinct and distinct[c.name] * 2 <= row_count]
    if repetitive and row_count and not estimated:
        grouped = _grouped(warehouse, table, repetitive, row_count, timeout_s)
    common = _common_values(grouped, repetitive, distinct)
    progress(table, 2, 2)
    partitioning = None
    if partition is not None and truncated is not None:
        entry = stats[partition.name]
        if entry["null_fraction"] < 0.5 and entry.get("min") is not None:
            granularity = _granularity(*truncated, distinct.get(partition.name, 0))
            partitioning = {"column": partition.name, "granularity": granularity, "first": entry["min"], "last": entry["max"]}
    profiled = []
    for column in columns:
        entry = stats[column.name]
        profiled.append(
            {"name": column.name, "type": column.type, "description": "", "null_fraction": entry["null_fraction"]}
            | {key: entry[key] for key in ("distinct_count",) if key in entry}
            | ({"common_values": common[column.name]} if column.name in common else {})
            | {key: entry[key] for key in ("min", "max") if key in entry}
        )
    profile = {
        "table": table,
        "description": "",
        "row_count": row_count,
        "profiled_at": _utc_now(),
        "partitioning": partitioning,
        "columns": profiled,
    }
    return with_descriptions(profile, existing)


def with_descriptions(profile: dict[str, Any], existing: Dataset | None) -> dict[str, Any]:
    """``profile`` carrying exactly the table and column descriptions of ``existing`` (none without it)."""
    described = {c.name.lower(): c.description for c in existing.columns} if existing else {}
    columns = [{**c, "description": described.get(c["name"].lower(), "")} for c in profile["columns"]]
    return {**profile, "description": existing.description if existing else "", "columns": columns}


def profile_tables(warehouse: "Warehouse", tables: Iterable[str], existing: dict[str, Dataset] | None = None, progress: ProgressCallback | None = None) -> dict[str, dict[str, Any]]:
    """Profile each of ``tables``: {table: dataset dict}, keeping descriptions from ``existing`` {table: Dataset}."""
    existing = {k.lower(): v for k, v in (existing or {}).items()}
    return {table: profile_table(warehouse, table, existing.get(table.lower()), progress) for table in tables}


def dataset_path(cluster_path: Path, table: str) -> Path:
    return cluster_path / "datasets" / f"{table.lower()}.yaml"


def write_dataset(cluster_path: Path, profile: dict[str, Any]) -> Path:
    """Write a dataset dict to ``clusters/<id>/datasets/<schema>.<table>.yaml`` atomically."""
    path = dataset_path(cluster_path, profile["table"])
    atomic_write(path, dump_yaml(profile, schema_url=schema_header(path, "dataset")))
    return path


@dataclass
class ProfiledTable:
    cluster: str
    table: str
    path: Path
    row_count: int
    columns: int
    partitioning: dict[str, Any] | None
    elapsed_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "table": self.table,
            "path": str(self.path),
            "row_count": self.row_count,
            "columns": self.columns,
            "partitioning": self.partitioning,
            "elapsed_s": round(self.elapsed_s, 3),
        }


@dataclass
class ProfileReport:
    tables: list[ProfiledTable] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"tables": [t.to_dict() for t in self.tables], "warnings": self.warnings}


def _cluster_tables(cluster: "Cluster", available: list[str]) -> tuple[list[str], list[str]]:
    """The warehouse tables ``cluster`` lists, and warnings for entries that match nothing."""
    matched, unmatched = expand_patterns(cluster.datasets, available)
    warnings = [_skips(cluster.id, t) for t in unnameable(matched)]
    matched = [t for t in matched if t not in unnameable(matched)]
    warnings += [f"cluster '{cluster.id}' lists {p}, which matches no table in the warehouse ({_missing_hint(p, available)})" for p in unmatched]
    if not matched:
        listed = ", ".join(cluster.datasets) or "nothing"
        raise TableNotFound(
            f"no table in the warehouse matches the datasets of cluster '{cluster.id}' ({listed})",
            f"fix `datasets` in {cluster.path / 'cluster.yaml'}; " + (_missing_hint(cluster.datasets[0], available) if cluster.datasets else "list tables like `schema.table` or `schema.*`"),
        )
    return matched, warnings


def _skips(cluster_id: str, table: str) -> str:
    return (f"cluster '{cluster_id}' skips {table}: dataset files name tables schema.table in lower case without spaces "
            f"or dots; {_view_hint(table)}")


def unnameable(tables: Iterable[str]) -> list[str]:
    """The ``tables`` that cluster files cannot name: a space, dot or capital inside a schema or table name.

    >>> unnameable(["sales.orders", "finance data.refunds", "billing.Refunds"])
    ['finance data.refunds', 'billing.Refunds']
    """
    return [t for t in tables if not _NAMEABLE_TABLE.match(t)]


def _view_hint(table: str) -> str:
    schema, _, name = table.rpartition(".")
    plain = ".".join(re.sub(r"\W+", "_", part).strip("_").lower() or "t" for part in (schema, name))
    new_schema = f" (create the schema {plain.partition('.')[0]} first)" if plain.partition(".")[0] != schema else ""
    return f"give it a plain name with a view: CREATE VIEW {plain} AS SELECT * FROM {_quoted_table(table, 'duckdb')}{new_schema}, then list {plain}"


def _timed_profile(warehouse: "Warehouse", table: str, progress: ProgressCallback | None,
                   existing: Dataset | None) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    profile = profile_table(warehouse, table, existing, progress)
    return profile, time.perf_counter() - started


def _written(cluster_id: str, cluster_path: Path, profile: dict[str, Any], elapsed_s: float) -> ProfiledTable:
    path = write_dataset(cluster_path, profile)
    return ProfiledTable(cluster_id, profile["table"], path, profile["row_count"], len(profile["columns"]), profile["partitioning"], elapsed_s)


def profile_clusters(project: "Project", warehouse: "Warehouse", cluster_ids: Sequence[str] = (), progress: ProgressCallback | None = None) -> ProfileReport:
    """(Re)write the dataset files of ``cluster_ids`` (default: every cluster) from the warehouse.

    Every cluster's dataset patterns are checked before anything is profiled or written.
    """
    clusters = [project.cluster(c) for c in cluster_ids] if cluster_ids else list(project.clusters.values())
    if not clusters:
        raise UsageError("the project has no clusters yet", "create one with `vedder cluster new ID --tables PATTERN --owner TEAM`")
    available = warehouse.tables()
    report = ProfileReport()
    plan: dict[str, list[str]] = {}
    for cluster in clusters:
        plan[cluster.id], warnings = _cluster_tables(cluster, available)
        report.warnings += warnings
    profiles: dict[str, tuple[dict[str, Any], float]] = {}
    for cluster in clusters:
        for table in plan[cluster.id]:
            existing = cluster.dataset_files.get(table.lower())
            if table not in profiles:
                profiles[table] = _timed_profile(warehouse, table, progress, existing)  # its partition column kept
            profile, elapsed = profiles[table]
            report.tables.append(_written(cluster.id, cluster.path, with_descriptions(profile, existing), elapsed))
        report.warnings += _gone_tables(cluster, available, {t: profiles[t][0] for t in plan[cluster.id]})
    return report


def _gone_tables(cluster: "Cluster", available: list[str], profiled: dict[str, dict[str, Any]]) -> list[str]:
    """Warnings for ``cluster``'s dataset files whose table left the warehouse, naming a newly profiled table
    with the same columns as a likely new name. The files stay: their descriptions are a person's work."""
    present = {t.lower() for t in available}
    new = {t: {(c["name"].lower(), c["type"]) for c in p["columns"]} for t, p in profiled.items()
           if t.lower() not in cluster.dataset_files}
    warnings = []
    for table, dataset in sorted(cluster.dataset_files.items()):
        if table in present:
            continue
        columns = {(c.name.lower(), c.type) for c in dataset.columns}
        renamed = [t for t, cols in new.items() if cols == columns]
        guess = f" (renamed to {renamed[0]}? it has the same columns)" if len(renamed) == 1 else ""
        warnings.append(f"{dataset.path.name}: {dataset.table} is no longer in the warehouse{guess}; pairs that read it "
                        f"fail until repaired (`vedder health {cluster.id}` names them); delete the file once nothing uses it")
    return warnings


@dataclass
class Overlap:
    table: str
    cluster: str
    team: str

    def __str__(self) -> str:
        team = f" (owned by {self.team})" if self.team else ""
        return f"{self.table} is already covered by cluster '{self.cluster}'{team}: the domain may exist already"


@dataclass
class NewCluster:
    id: str
    path: Path
    tables: list[str]
    overlaps: list[Overlap]
    report: ProfileReport

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "tables": self.tables,
            "overlaps": [o.__dict__ for o in self.overlaps],
            "profiled": [t.to_dict() for t in self.report.tables],
            "warnings": self.report.warnings,
        }


def _slug(text: str) -> str:
    """A cluster id for ``text``, or '' when nothing of it is left.

    >>> _slug("Order Ops"), _slug("Zürich_Sales"), _slug("??")
    ('order-ops', 'zurich_sales', '')
    """
    import unicodedata

    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9_-]+", "-", ascii_text).strip("-_")


def new_cluster(
    project: "Project",
    warehouse: "Warehouse",
    cluster_id: str,
    patterns: Sequence[str],
    team: str,
    *,
    title: str | None = None,
    description: str | None = None,
    progress: ProgressCallback | None = None,
) -> NewCluster:
    """Scaffold ``clusters/<cluster_id>/`` (cluster.yaml, pairs/, docs/) and profile its tables.

    Nothing is written unless the id is new, every pattern matches a table and profiling succeeds. Tables
    dataset files cannot name (``unnameable``) that a pattern matches among others are skipped with a warning.
    """
    if not _CLUSTER_ID.match(cluster_id):
        slug = _slug(cluster_id)
        raise UsageError(f"invalid cluster id '{cluster_id}'", "use a lowercase slug: letters, digits, - and _, starting with a "
                         + (f"letter or digit: try `{slug}`" if slug else "letter or digit (e.g. `listening`)"))
    folder = project.config.clusters_dir / cluster_id
    if cluster_id in project.clusters or folder.exists():
        raise UsageError(f"cluster '{cluster_id}' already exists at {folder}", "pick another id, or edit its cluster.yaml and run `vedder profile " + cluster_id + "`")
    if not team.strip():
        raise UsageError("the owning team is empty", "pass --owner TEAM: the team of domain experts who vet this cluster")
    if not patterns:
        raise UsageError("no tables given", "pass --tables schema.table (or a pattern like schema.*), once per pattern")
    available = warehouse.tables()
    matched, unmatched = expand_patterns(patterns, available)
    if unmatched:
        raise TableNotFound(f"{unmatched[0]} matches no table in the warehouse", _missing_hint(unmatched[0], available))
    skipped = unnameable(matched)
    # A table named outright, or a pattern matching only such tables, is refused; a pattern's others are profiled
    # and the rest skipped with a warning, as `vedder profile` does.
    named = [t for t in skipped if t.lower() in {p.lower() for p in patterns}]
    if named or len(skipped) == len(matched):
        table = (named or skipped)[0]
        raise UsageError(f"cluster files cannot name {table}: schema and table names there are lower case without spaces or dots", _view_hint(table))
    matched = [t for t in matched if t not in skipped]
    overlaps = [Overlap(t, c.id, c.owners.team) for t in matched for c in project.clusters_covering(t)]
    report = ProfileReport(warnings=[_skips(cluster_id, t) for t in skipped] + [str(o) for o in overlaps])
    profiles = [_timed_profile(warehouse, t, progress, None) for t in matched]
    document = {
        "id": cluster_id,
        "title": title or cluster_id.replace("-", " ").replace("_", " ").capitalize(),
        "description": description or f"Questions answered from {', '.join(patterns)}.",
        "owners": {"team": team},
        "datasets": list(patterns),
    }
    atomic_write(folder / "cluster.yaml", dump_yaml(document, schema_url=schema_header(folder / "cluster.yaml", "cluster")))
    for sub in ("pairs", "docs"):
        atomic_write(folder / sub / ".gitkeep", "")
    report.tables = [_written(cluster_id, folder, profile, elapsed) for profile, elapsed in profiles]
    return NewCluster(cluster_id, folder, matched, overlaps, report)
