"""DuckDB warehouse: the only module (besides the demo builder) that imports duckdb.

Defence in depth for untrusted SQL: the connection is read-only, external access (files, network,
extensions) is disabled and the configuration is locked, so even SQL that slipped past the guard
cannot write, read files or re-enable anything. DuckDB runs inside vedder's process, so its memory is
bounded (``query.max_memory_mb``) before the configuration is locked.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import weakref
from pathlib import Path

import duckdb

from vedder.errors import QueryTimeout, ResultTooLarge, SQLExecutionError, TableNotFound, WarehouseError
from vedder.files import atomic_write
from vedder.sql.guard import CALL, SYNTAX, OwnCode
from vedder.warehouse import QueryResult, fetch_within

_SYSTEM_SCHEMAS = ("information_schema", "pg_catalog")
# What a query may spill to disk (the warehouse's .tmp folder next to it), per MiB of memory: hash tables and sorts
# over the memory limit spill rather than fail, but DuckDB's own default is 90% of the free disk.
TEMP_PER_MEMORY = 4


class _Watchdog:
    """Interrupts a connection whose query outlives its deadline. One thread watches while queries run,
    waking at deadlines only: a ``threading.Timer`` per query would start and stop a thread on every
    query, which costs more than a small query does. The connection is held weakly, and the thread ends
    when it wakes with nothing to watch, so neither keeps an unclosed warehouse open."""

    def __init__(self, connection: "duckdb.DuckDBPyConnection") -> None:
        self._connection = weakref.ref(connection)
        self._condition = threading.Condition()
        self._tokens = itertools.count()
        self._armed: tuple[int, float] | None = None
        self._waking_at: float | None = None
        self._watching = False
        self._closed = False

    def arm(self, timeout_s: float) -> int:
        """Start the clock for the query about to run; returns the token that ``disarm`` stops it with."""
        with self._condition:
            token, deadline = next(self._tokens), time.monotonic() + timeout_s
            self._armed = (token, deadline)
            if not self._watching:
                self._watching = True
                threading.Thread(target=self._watch, name="vedder-duckdb-timeout", daemon=True).start()
            elif self._waking_at is not None and deadline < self._waking_at:
                self._condition.notify()
            return token

    def disarm(self, token: int) -> None:
        with self._condition:
            if self._armed is not None and self._armed[0] == token:
                self._armed = None

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify()

    def _watch(self) -> None:
        with self._condition:
            while not self._closed and self._armed is not None:
                now = time.monotonic()
                if self._armed[1] <= now:
                    self._armed = None
                    connection = self._connection()
                    if connection is not None:
                        connection.interrupt()
                    break
                # Queries that start meanwhile have later deadlines: arm() needs not wake the watcher.
                self._waking_at = self._armed[1]
                self._condition.wait(min(self._waking_at - now, threading.TIMEOUT_MAX))  # the loop waits again
            self._watching = False
            self._waking_at = None


def _open_error(path: Path, message: str) -> WarehouseError:
    """Why ``path`` did not open; a lock held by another process says which one and what to do."""
    holder = re.search(r"Conflicting lock is held in (\S+) \(PID (\d+)\)", message)
    if holder:
        return WarehouseError(
            f"warehouse {path} is locked by another process (PID {holder[2]}, {Path(holder[1]).name})",
            "a process writing to it (`vedder demo`, a DuckDB shell or notebook) holds the lock: close it, then try again")
    return WarehouseError(f"cannot open warehouse {path}: {message.splitlines()[0]}")


def _limit_memory(connection: "duckdb.DuckDBPyConnection", max_memory_mb: float) -> None:
    """Bound what DuckDB may hold in memory and spill to disk. Without it, one ``list(i)`` over a billion rows grew
    vedder to 16.7 GB and answered (DuckDB's default memory limit is 80% of the RAM, its spill 90% of the disk)."""
    kib = max(1, int(max_memory_mb * 1024))
    connection.execute(f"SET memory_limit = '{kib}KiB'")
    connection.execute(f"SET max_temp_directory_size = '{kib * TEMP_PER_MEMORY}KiB'")


# DuckDB's errors for one value (a string or list) over its maximum size, and the guard's for a list builder
# (vedder.sql.guard.TOO_MANY_ITEMS): what the query builds is too large, not a name that is wrong.
_TOO_LARGE = re.compile(r"maximum (supported )?string size|exceeds maximum allowed size|the result is too large|maximum allowed vector size|"
                        r"would build more than [\d,]+ items", re.IGNORECASE)


def _execution_error(exc: "duckdb.Error") -> SQLExecutionError:
    """The one-line error (with a hint that fits it) for a query DuckDB could not run."""
    message = str(exc).splitlines()[0]
    if isinstance(exc, duckdb.OutOfMemoryException):
        return SQLExecutionError(f"the query needs more memory than DuckDB may use (query.max_memory_mb): {message}",
                                 "aggregate to numbers (count, sum) rather than lists or strings of every row, filter before "
                                 "grouping, sorting or joining; query.max_memory_mb in vedder.yaml raises the limit")
    if _TOO_LARGE.search(message):
        return ResultTooLarge(f"the query builds a value too large: {message}",
                              "aggregate to numbers (count, sum) rather than a list or string of every row; "
                              "a series of rows streams from FROM range(…) or FROM generate_series(…) as a table")
    if isinstance(exc, duckdb.ParserException):  # sqlglot read it, DuckDB did not ("SELECT" without a list)
        return SQLExecutionError(message, "fix the SQL's syntax (DuckDB's own dialect: https://duckdb.org/docs/sql/introduction)")
    return SQLExecutionError(message)


# The warehouse file's macros in main, and whether each has a built-in's name (DuckDB's default macros are internal).
_MACROS_SQL = """
SELECT function_name, any_value(function_type) FILTER (WHERE NOT internal), bool_or(internal)
FROM duckdb_functions() GROUP BY function_name HAVING bool_or(NOT internal AND schema_name = 'main')
"""
# Bumped when what user_functions keeps in its cache file changes.
_CACHE_FORMAT = "own-code-2"
# DuckDB's SQL value functions: a bare name (current_date) that no column has is bound as a call of the function named here.
_VALUE_FUNCTIONS = {
    "current_catalog": "current_catalog", "current_date": "current_date", "current_schema": "current_schema",
    "current_role": "current_role", "current_time": "get_current_time", "current_timestamp": "get_current_timestamp",
    "current_user": "current_user", "localtime": "current_localtime", "localtimestamp": "current_localtimestamp",
    "session_user": "session_user", "user": "user",
}


def _own_macro(name: str, kind: str, shadows_built_in: bool) -> OwnCode:
    """A macro of the warehouse file as the guard sees it: reached by a call, or (named like an operator or a
    built-in) by syntax only DuckDB's parser can tell."""
    what = f"the {kind.replace('_', ' ')} main.{name}() of the warehouse file"
    if not re.fullmatch(r"[a-z_][a-z0-9_$]*", name, re.IGNORECASE):
        return OwnCode(name.lower(), f'the macro main."{name}" of the warehouse file, which DuckDB runs for the operator {name}', name.lower(), SYNTAX)
    if shadows_built_in:
        return OwnCode(name.lower(), f"{what}, in place of DuckDB's built-in {name}()", name.lower(), SYNTAX)
    return OwnCode(name.lower(), what, name.lower(), CALL)


class DuckDBWarehouse:
    dialect = "duckdb"

    def __init__(self, path: Path, read_only: bool = True, max_memory_mb: float | None = None) -> None:
        """Open ``path``; ``max_memory_mb`` bounds DuckDB's memory (aggregate states, hash tables, sorts; these
        spill up to TEMP_PER_MEMORY times as much to disk) — None leaves DuckDB's default, 80% of the RAM."""
        path = Path(path)
        if path.is_dir():
            raise WarehouseError(f"warehouse path {path} is a folder, not a DuckDB file", "point `warehouse.path` (or VEDDER_WAREHOUSE) at the .duckdb file")
        if read_only and not path.is_file():
            raise WarehouseError(f"warehouse file {path} does not exist", "fix `warehouse.path` in vedder.yaml (relative to vedder.yaml) or set VEDDER_WAREHOUSE; "
                                 "`vedder demo` builds the demo warehouse")
        config = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        if read_only:
            config |= {"enable_external_access": False}
        try:
            self.connection = duckdb.connect(str(path), read_only=read_only, config=config)
            # DuckDB draws its own progress bar on long queries; it would garble vedder's output. A second
            # connection to a file this process already opened shares its (locked) configuration.
            if not self.connection.execute("SELECT current_setting('lock_configuration')").fetchone()[0]:
                self.connection.execute("SET enable_progress_bar = false")
                if max_memory_mb is not None:
                    _limit_memory(self.connection, max_memory_mb)
                if read_only:
                    self.connection.execute("SET lock_configuration = true")
        except duckdb.Error as exc:
            raise _open_error(path, str(exc)) from None
        self.path = path
        self._schema: dict[str, dict[str, str]] | None = None
        self._user_functions: list[OwnCode] | None = None
        self._watchdog = _Watchdog(self.connection)

    def schema(self) -> dict[str, dict[str, str]]:
        if self._schema is None:
            rows = self.connection.execute(
                "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema NOT IN ('information_schema', 'pg_catalog') AND table_catalog = current_database() "
                "ORDER BY table_schema, table_name, ordinal_position"
            ).fetchall()
            schema: dict[str, dict[str, str]] = {}
            for schema_name, table, column, data_type in rows:
                schema.setdefault(f"{schema_name}.{table}".lower(), {})[column] = data_type
            self._schema = schema
        return self._schema

    def user_functions(self, cache: Path | None = None) -> list[OwnCode]:
        """The warehouse file's macros and table macros in ``main``: SQL may call them by their plain name, a macro named
        like an operator (``"+"``, ``"~~"`` for LIKE) runs for that operator, and one named like a built-in (``lower``,
        ``date_part`` that EXTRACT calls, ``count_star`` that count(*) calls) replaces it; other schemas' are reached only
        by a qualified name, which the guard refuses. Read once: duckdb_functions() lists every built-in too, 40-80 ms
        the first time in a process, so the list is kept in the file ``cache`` (when given) for as long as the
        warehouse file and its WAL are unchanged."""
        if self._user_functions is None:
            version = [_CACHE_FORMAT, *self._catalog_version()]
            try:
                kept = json.loads(cache.read_text(encoding="utf-8")) if cache is not None else {}
                if kept.get("version") == version:
                    self._user_functions = [OwnCode(*map(str, code)) for code in kept["functions"]]
                    return self._user_functions
            except (OSError, ValueError, TypeError, AttributeError, KeyError):
                pass  # no cache, or one from another vedder: read the catalog
            rows = self.connection.execute(_MACROS_SQL).fetchall()
            self._user_functions = [_own_macro(name, kind, shadows) for name, kind, shadows in rows]
            if cache is not None:
                try:
                    atomic_write(cache, json.dumps({"version": version, "functions": self._user_functions}))
                except OSError:
                    pass  # a read-only project folder: read the catalog again next time
        return self._user_functions

    def engine_calls(self, sql: str) -> set[str] | None:
        """Every function DuckDB runs by name for ``sql`` as its own parser reads it (``a + 1`` calls ``+``, EXTRACT
        ``date_part``, ``current_date`` ``current_date``), lower case; None when it cannot tell: the binder makes
        PIVOT and UNPIVOT calls of its own, and SQL DuckDB does not parse. About 0.6 ms."""
        try:
            # Named with its catalog: a macro json_serialize_sql in the warehouse file would replace the built-in.
            tree = json.loads(self.connection.execute("SELECT system.main.json_serialize_sql(?)", [sql]).fetchone()[0])
        except (duckdb.Error, ValueError, TypeError):
            return None
        if not isinstance(tree, dict) or tree.get("error"):
            return None
        names: set[str] = set()
        nodes: list[object] = [tree]
        while nodes:
            node = nodes.pop()
            if isinstance(node, list):
                nodes.extend(node)
                continue
            if not isinstance(node, dict):
                continue
            if node.get("type") == "PIVOT":
                return None
            if isinstance(node.get("function_name"), str):
                names.add(node["function_name"].lower())
            columns = node.get("column_names") if node.get("class") == "COLUMN_REF" else None
            if isinstance(columns, list) and len(columns) == 1 and str(columns[0]).lower() in _VALUE_FUNCTIONS:
                names.add(_VALUE_FUNCTIONS[str(columns[0]).lower()])
            nodes.extend(node.values())
        return names

    def _catalog_version(self) -> list[list[int | str]]:
        """What changes whenever a macro may have been made: the warehouse file's and its WAL's identity, size and
        times (a writer cannot change them while this read-only connection holds the file)."""
        version: list[list[int | str]] = []
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                stat = path.stat()
            except OSError:
                continue
            version.append([str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns])
        return version

    def tables(self) -> list[str]:
        return sorted(self.schema())

    def columns(self, table: str) -> list[tuple[str, str]]:
        columns = self.schema().get(table.lower())
        if columns is None:
            raise TableNotFound(f"table '{table}' is not in the warehouse {self.path.name}")
        return list(columns.items())

    def execute(self, sql: str, *, limit: int = 1000, timeout_s: float = 30.0, max_bytes: int | None = None) -> QueryResult:
        started = time.perf_counter()
        token = self._watchdog.arm(timeout_s)
        try:
            # The result streams: each fetch computes only the vectors (2,048 rows) it needs, so a result over
            # max_bytes stops after a few rows. A vector's strings are not counted by DuckDB's memory_limit.
            cursor = self.connection.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            types = [str(d[1]) for d in cursor.description or []]
            rows = fetch_within(cursor.fetchmany, limit=limit, max_bytes=max_bytes) if cursor.description else []
        except ResultTooLarge:
            # The connection holds the abandoned result (the vectors already computed) until its next query.
            self.connection.execute("SELECT 1")
            raise
        except duckdb.InterruptException:
            raise QueryTimeout(f"query interrupted after {timeout_s:g} s") from None
        except duckdb.Error as exc:
            raise _execution_error(exc) from None
        finally:
            self._watchdog.disarm(token)
        return QueryResult(
            columns=columns,
            rows=[tuple(r) for r in rows[:limit]],
            truncated=len(rows) > limit,
            elapsed_s=time.perf_counter() - started,
            types=types,
        )

    def cursor(self) -> "DuckDBWarehouse":
        """Another handle on the same open database, for another thread: its own DuckDB cursor (so its
        own timeout interrupt), the same locked read-only configuration, the schema read once (and the macros, if
        read yet)."""
        other = object.__new__(DuckDBWarehouse)
        other.connection = self.connection.cursor()
        other.path = self.path
        other._schema = self.schema()
        other._user_functions = self._user_functions
        other._watchdog = _Watchdog(other.connection)
        return other

    def close(self) -> None:
        self._watchdog.close()
        self.connection.close()

    def __enter__(self) -> "DuckDBWarehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
