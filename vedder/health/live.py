"""What health measures on the live warehouse: one aggregate query per table, value profiles of columns (as
``vedder profile`` measures them), and ``LiveWarehouse``, the warehouse as one health run sees it.

The queries here are vedder's own SQL, built with sqlglot in the warehouse's dialect and run through
``Warehouse.execute`` with every identifier quoted; nothing from a pair or a person is interpolated.

>>> stats_sql("listening.events", ["country"], "event_date")
'SELECT COUNT(*), MAX("event_date"), COUNT("country") FROM "listening"."events"'
"""

from __future__ import annotations

import os
import queue
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from sqlglot import exp

if TYPE_CHECKING:
    from vedder.sql.analyze import PreparedSchema
    from vedder.warehouse import Warehouse

# Threads that run queries while the main thread analyzes SQL: DuckDB releases the GIL while it works.
QUERY_THREADS = max(2, min(4, os.cpu_count() or 1))
T = TypeVar("T")


class LiveWarehouse:
    """The warehouse as one health run sees it: its schema read once and prepared for sqlglot once (for
    every cluster), and a pool of threads, each with a cursor of its own, that run queries meanwhile.

    >>> from vedder.warehouse.duckdb import DuckDBWarehouse
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder, DuckDBWarehouse(pathlib.Path(folder) / "w.duckdb", read_only=False) as w:
    ...     with LiveWarehouse(w) as live:
    ...         live.submit(lambda cursor: cursor.execute("SELECT 42").rows).result()
    [(42,)]
    """

    def __init__(self, warehouse: "Warehouse", dialect: str = "duckdb", threads: int | None = None) -> None:
        self.warehouse = warehouse
        self.dialect = dialect
        self.schema: dict[str, dict[str, str]] = warehouse.schema()
        self.threads = threads or QUERY_THREADS
        self._prepared: "PreparedSchema | None" = None
        self._pool: ThreadPoolExecutor | None = None
        self._cursors: queue.SimpleQueue = queue.SimpleQueue()
        self._opened: list["Warehouse"] = []

    @property
    def prepared(self) -> "PreparedSchema":
        """The live schema made ready for ``check_columns`` (built on first use, then shared)."""
        if self._prepared is None:
            from vedder.sql.analyze import PreparedSchema

            self._prepared = PreparedSchema(self.schema, self.dialect)
        return self._prepared

    def submit(self, task: Callable[..., T], *args: Any) -> "Future[T]":
        """Run ``task(cursor, *args)`` on a pool thread; ``cursor`` is a warehouse handle no other thread uses."""
        if self._pool is None:
            # Cursors are made here, on the calling thread, before any pool thread asks for one.
            self._opened = [self.warehouse.cursor() for _ in range(self.threads)]
            for cursor in self._opened:
                self._cursors.put(cursor)
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="vedder-health-query")
        return self._pool.submit(self._with_cursor, task, args)

    def _with_cursor(self, task: Callable[..., T], args: tuple[Any, ...]) -> T:
        cursor = self._cursors.get()
        try:
            return task(cursor, *args)
        finally:
            self._cursors.put(cursor)

    def close(self) -> None:
        """Wait for the queries still running, then close the cursors (not the warehouse)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for cursor in self._opened:
            cursor.close()
        self._opened = []

    def __enter__(self) -> "LiveWarehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def stats_sql(table: str, columns: list[str], partition_column: str | None, dialect: str = "duckdb") -> str:
    selects: list[exp.Expression] = [exp.func("count", exp.Star())]
    selects.append(exp.func("max", _column(partition_column)) if partition_column else exp.null())
    selects += [exp.func("count", _column(name)) for name in columns]
    return exp.select(*selects).from_(quoted_table(table)).sql(dialect)


def table_stats(warehouse: "Warehouse", table: str, columns: list[str], partition_column: str | None,
                timeout_s: float = 30.0) -> TableStats:
    """Row count, latest partition value and the null fraction of ``columns``, in one scan."""
    row = warehouse.execute(stats_sql(table, columns, partition_column, warehouse.dialect), limit=1, timeout_s=timeout_s).rows[0]
    row_count = int(row[0])
    null_fractions = {name: 1.0 - int(count) / row_count for name, count in zip(columns, row[2:])} if row_count else {}
    return TableStats(row_count, row[1], null_fractions)


def column_profiles(warehouse: "Warehouse", table: str, columns: list[str], timeout_s: float = 30.0) -> dict[str, dict[str, Any]]:
    """Null fraction, distinct count, min, max and the most common values of each live column, measured as
    ``vedder profile`` measures them (``profile_table`` on these columns alone), so a column is compared with its
    dataset file like for like: on a PostgreSQL table above ``SAMPLE_ROWS`` rows, the distinct count is estimated
    from the same repeatable sample the profile's was, not counted exactly against an estimate."""
    from vedder.profile import profile_table

    profiled = profile_table(warehouse, table, only=columns, timeout_s=timeout_s)["columns"]
    return {column["name"]: {
        "null_fraction": column["null_fraction"],
        "distinct_count": column.get("distinct_count"),
        "min": column.get("min"),
        "max": column.get("max"),
        "common_values": [entry["value"] for entry in column.get("common_values", [])],
    } for column in profiled}
