"""What health measures on the live warehouse: one aggregate query per table, value profiles of columns.

This is vedder's own SQL, built with sqlglot and run through ``Warehouse.execute`` with every identifier
quoted; nothing from a pair or a person is interpolated.

>>> stats_sql("listening.events", ["country"], "event_date")
'SELECT COUNT(*), MAX("event_date"), COUNT("country") FROM "listening"."events"'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from vedder.errors import SQLExecutionError

if TYPE_CHECKING:
    from vedder.warehouse import Warehouse

COMMON_VALUES_FETCHED = 10


def quoted_table(table: str) -> exp.Table:
    schema, _, name = table.rpartition(".")
    return exp.table_(exp.to_identifier(name, quoted=True), db=exp.to_identifier(schema, quoted=True) if schema else None)


def _column(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


@dataclass
class TableStats:
    row_count: int
    latest_partition: Any = None
    null_fractions: dict[str, float] = field(default_factory=dict)


def stats_sql(table: str, columns: list[str], partition_column: str | None) -> str:
    selects: list[exp.Expression] = [exp.func("count", exp.Star())]
    selects.append(exp.func("max", _column(partition_column)) if partition_column else exp.null())
    selects += [exp.func("count", _column(name)) for name in columns]
    return exp.select(*selects).from_(quoted_table(table)).sql("duckdb")


def table_stats(warehouse: "Warehouse", table: str, columns: list[str], partition_column: str | None,
                timeout_s: float = 30.0) -> TableStats:
    """Row count, latest partition value and the null fraction of ``columns``, in one scan."""
    row = warehouse.execute(stats_sql(table, columns, partition_column), limit=1, timeout_s=timeout_s).rows[0]
    row_count = int(row[0])
    null_fractions = {name: 1.0 - int(count) / row_count for name, count in zip(columns, row[2:])} if row_count else {}
    return TableStats(row_count, row[1], null_fractions)


def column_profiles(warehouse: "Warehouse", table: str, columns: list[str], timeout_s: float = 30.0) -> dict[str, dict[str, Any]]:
    """Null fraction, approximate distinct count, min, max and the most common values of each live column."""
    source = quoted_table(table)
    selects: list[exp.Expression] = [exp.func("count", exp.Star())]
    for name in columns:
        column = _column(name)
        selects += [exp.func("count", column), exp.func("approx_count_distinct", column),
                    exp.func("min", column), exp.func("max", column)]
    row = warehouse.execute(exp.select(*selects).from_(source).sql("duckdb"), limit=1, timeout_s=timeout_s).rows[0]
    total = int(row[0])
    profiles: dict[str, dict[str, Any]] = {}
    for index, name in enumerate(columns):
        count, distinct, low, high = row[1 + 4 * index: 5 + 4 * index]
        profiles[name] = {
            "null_fraction": 1.0 - int(count) / total if total else None,
            "distinct_count": distinct,
            "min": low,
            "max": high,
            "common_values": _common_values(warehouse, source, name, timeout_s),
        }
    return profiles


def _common_values(warehouse: "Warehouse", source: exp.Table, name: str, timeout_s: float) -> list[Any]:
    column = _column(name)
    query = (
        exp.select(column, exp.func("count", exp.Star()).as_("n"))
        .from_(source.copy())
        .where(column.is_(exp.null()).not_())
        .group_by(column)
        .order_by(exp.Ordered(this=exp.column("n"), desc=True), column)
        .limit(COMMON_VALUES_FETCHED)
    )
    try:
        return [r[0] for r in warehouse.execute(query.sql("duckdb"), limit=COMMON_VALUES_FETCHED, timeout_s=timeout_s).rows]
    except SQLExecutionError:
        return []
