"""The Warehouse protocol and how to open the configured one.

Only ``vedder/warehouse/duckdb.py`` (and the demo builder) import duckdb; only ``vedder/warehouse/postgres.py``
imports psycopg. Untrusted SQL never reaches
``Warehouse.execute`` directly: it goes through ``vedder.sql.run.run_sql``, which applies the guard first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from vedder.errors import WarehouseError

if TYPE_CHECKING:
    from vedder.config import Config


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool = False
    elapsed_s: float = 0.0
    types: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": [list(r) for r in self.rows], "truncated": self.truncated}


class Warehouse(Protocol):
    dialect: str

    def tables(self) -> list[str]:
        """Fully qualified ``schema.table`` names, lower case."""

    def columns(self, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column of ``table``; raises TableNotFound."""

    def schema(self) -> dict[str, dict[str, str]]:
        """Every table's columns: {"schema.table": {"column": "TYPE"}}."""

    def execute(self, sql: str, *, limit: int = 1000, timeout_s: float = 30.0) -> QueryResult:
        """Run trusted SQL, at most ``limit`` rows, interrupted after ``timeout_s``."""

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

    return DuckDBWarehouse(config.warehouse_path, read_only=read_only)
