"""The Warehouse protocol and how to open the configured one.

Only ``vedder/warehouse/duckdb.py`` (and the demo builder) import duckdb; only ``vedder/warehouse/postgres.py``
imports psycopg. Untrusted SQL never reaches
``Warehouse.execute`` directly: it goes through ``vedder.sql.run.run_sql``, which applies the guard first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

from vedder.errors import ResultTooLarge, WarehouseError

if TYPE_CHECKING:
    from pathlib import Path

    from vedder.config import Config
    from vedder.sql.guard import OwnCode


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_s: float = 0.0
    types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [list(r) for r in self.rows], "truncated": self.truncated}


# The first fetch of a result is one row and each next one at most this many times the last: a result of huge
# cells stops after a row or a few, a result of 1,000 small rows takes four fetches.
_BATCH_GROWTH = 16
# Values whose size is their length (text and bytes) or their items'; any other (numbers, dates, uuids) counts 8.
_TEXT_TYPES = frozenset({str, bytes, bytearray, type(None)})
_SIZED_TYPES = frozenset({str, bytes, bytearray, memoryview, list, tuple, dict})


def value_bytes(value: Any) -> int:
    """What a fetched value roughly costs: the length of text and bytes (within lists and mappings too), 8 otherwise.

    >>> value_bytes("abc"), value_bytes(42), value_bytes(["ab", None])
    (3, 8, 10)
    """
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(map(value_bytes, value))
    if isinstance(value, dict):
        return sum(value_bytes(k) + value_bytes(v) for k, v in value.items())
    return 8


def _batch_bytes(rows: list[tuple[Any, ...]]) -> tuple[int, int]:
    """What ``rows`` cost (``value_bytes``) and at most what one of them does, measured a column at a time: a
    column of text or of numbers and dates is measured with one call per value at most."""
    total = widest = 0
    for column in zip(*rows):
        kinds = set(map(type, column))
        if kinds <= _TEXT_TYPES:
            sizes = list(map(len, filter(None, column)))
        elif kinds.isdisjoint(_SIZED_TYPES):
            sizes = [8]
            total += 8 * (len(column) - 1)
        else:  # nested values, or a JSON column mixing numbers and text
            sizes = list(map(value_bytes, column))
        total += sum(sizes)
        widest += max(sizes, default=0)
    return total, widest


def fetch_within(fetchmany: Callable[[int], list], *, limit: int, max_bytes: int | None) -> list[tuple[Any, ...]]:
    """Up to ``limit`` + 1 rows from ``fetchmany(n)``, in batches that grow only while the rows stay small, so
    that no more than about ``max_bytes`` (plus the last batch) is ever held; ResultTooLarge once over it."""
    if max_bytes is None:
        return fetchmany(limit + 1)
    rows: list[tuple[Any, ...]] = []
    held, widest, batch = 0, 1, 1
    while len(rows) <= limit:
        fetched = fetchmany(batch)
        size, widest_here = _batch_bytes(fetched)
        held, widest = held + size, max(widest, widest_here)
        rows.extend(fetched)
        if held > max_bytes:
            raise ResultTooLarge(f"the result holds more than query.max_result_mb ({max_bytes / 2**20:g} MB) "
                                 f"after {len(rows):,} row{'s' if len(rows) != 1 else ''}; the row cap does not bound bytes")
        if len(fetched) < batch:
            break
        batch = max(1, min(limit + 1 - len(rows), batch * _BATCH_GROWTH, (max_bytes - held) // widest))
    return rows


def as_text(value: Any) -> str:
    """A fetched value as text (also ``json.dumps``' ``default``): bytes the way SQL engines print a BLOB,
    printable ASCII kept and other bytes as ``\\xHH``, not Python's ``b'…'``.

    >>> as_text(b"\\x89PNG\\r\\n")
    '\\\\x89PNG\\\\x0D\\\\x0A'
    """
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in bytes(value))
    return str(value)


def json_safe(data: Any) -> Any:
    """``data`` as JSON can say it: warehouse types as text (``as_text``), and a float that is not a number or is
    infinite (DuckDB's 0.0/0) as "NaN", "Infinity", "-Infinity": bare NaN is no JSON, and parsers refuse it.

    >>> json_safe([float("nan"), float("-inf"), 1.5, b"\\x00"])
    ['NaN', '-Infinity', 1.5, '\\\\x00']
    """
    import json

    return json.loads(json.dumps(data, default=as_text), parse_constant=str)


def shown_value(value: Any, max_chars: int) -> str:
    """A value as text for a person or a model, at most about ``max_chars`` characters: a long one is cut and
    says how long it was.

    >>> shown_value("x" * 50, 10)
    'xxxxxxxxxx… (50 characters)'
    """
    text = "NULL" if value is None else as_text(value)
    return text if len(text) <= max_chars else f"{text[:max_chars]}… ({len(text):,} characters)"


def readable(value: Any, max_chars: int) -> str:
    """``shown_value`` for a person reading a table: a float without binary noise (``158405.92999999996``, a sum's
    ``2630131.3100000098``) at 12 significant digits, or more to keep every digit before the point and two after
    (up to 17, all a float has); a decimal without trailing zeros (PostgreSQL's ``4521971.640000000000``). JSON and the model keep
    the values as fetched.

    >>> readable(158405.92999999996, 20), readable(2630131.3100000098, 20), readable(0.1 + 0.2, 20), readable(3.0, 20)
    ('158405.93', '2630131.31', '0.3', '3.0')
    >>> readable(12345678901234.5, 20), readable(1e20, 20), readable(0.1234567890123456, 20)
    ('12345678901234.5', '1e+20', '0.123456789012')
    >>> readable(1234567890123456.0, 20), readable(99999999999999.98, 20)
    ('1234567890123456.0', '99999999999999.98')
    >>> from decimal import Decimal
    >>> readable(Decimal("4521971.640000000000"), 20), readable(Decimal("100.00"), 20), readable(Decimal("1E+3"), 20)
    ('4521971.64', '100', '1000')
    """
    import math
    from decimal import Decimal

    if isinstance(value, float) and math.isfinite(value):
        digits = len(str(int(abs(value)))) + 2  # every digit before the point, two after
        value = repr(float(f"{value:.{min(17, max(12, digits))}g}"))
    elif isinstance(value, Decimal) and value.is_finite():
        text = format(value, "f")
        value = text.rstrip("0").rstrip(".") if "." in text else text
    return shown_value(value, max_chars)


class Warehouse(Protocol):
    dialect: str

    def tables(self) -> list[str]:
        """Fully qualified ``schema.table`` names, lower case."""

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column of ``table``; raises TableNotFound."""

    def schema(self) -> dict[str, dict[str, str]]:
        """Every table's columns: {"schema.table": {"column": "TYPE"}}."""

    def user_functions(self, cache: "Path | None" = None) -> "list[OwnCode]":
        """The database's own code that SQL may reach without naming a schema (PostgreSQL's functions in ``public`` and
        the operators and casts made with them, DuckDB's macros), each with how SQL reaches it. Read once per warehouse
        object; ``cache`` is a file where a warehouse whose catalog is slow to read may keep them between processes."""

    def engine_calls(self, sql: str) -> "set[str] | None":
        """Every function the engine runs by name for ``sql`` (operators and syntax it makes calls of included), as its
        own parser reads it; None when the warehouse cannot tell."""

    def execute(self, sql: str, *, limit: int = 1000, timeout_s: float = 30.0, max_bytes: int | None = None) -> QueryResult:
        """Run trusted SQL, at most ``limit`` rows, interrupted after ``timeout_s``; ResultTooLarge once the rows
        fetched hold more than ``max_bytes`` (None: no budget)."""

    def cursor(self) -> "Warehouse":
        """Another handle on the same warehouse that one other thread may use at the same time."""

    def close(self) -> None: ...


def open_warehouse(config: "Config", read_only: bool = True) -> Warehouse:
    """Open the warehouse that ``vedder.yaml`` (or VEDDER_WAREHOUSE) names."""
    if config.warehouse_type == "postgres":
        if not config.warehouse_url:
            raise WarehouseError("no PostgreSQL warehouse url configured",
                                 "set `warehouse: {type: postgres, url: postgresql://user@host:5432/dbname}` in vedder.yaml or VEDDER_WAREHOUSE")
        from vedder.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(config.warehouse_url, password_env=config.warehouse_password_env,
                                 connect_timeout_s=config.warehouse_connect_timeout_s)
    if config.warehouse_type != "duckdb":
        raise WarehouseError(f"warehouse type '{config.warehouse_type}' is not supported",
                             "set `warehouse: {type: duckdb, path: …}` or `{type: postgres, url: postgresql://…}` in vedder.yaml")
    if config.warehouse_path is None:
        raise WarehouseError("no warehouse configured", "set `warehouse: {type: duckdb, path: …}` in vedder.yaml")
    from vedder.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(config.warehouse_path, read_only=read_only, max_memory_mb=config.max_memory_mb)
