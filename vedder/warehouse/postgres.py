"""PostgreSQL warehouse: the only module that imports psycopg (an optional extra: ``pip install 'vedder[postgres]'``).

Defence in depth for untrusted SQL, like DuckDB's read-only connection: every session starts with
``default_transaction_read_only=on`` and every query runs in a ``READ ONLY`` transaction, so SQL that slipped
past the guard still cannot write; ``statement_timeout`` makes the server cancel a query that runs too long.
A read-only role is still recommended (README, "PostgreSQL"): a read-only transaction can be left with
``SET TRANSACTION READ WRITE`` only by SQL the guard refuses, and the role's grants are what the server enforces.

The password never has to be in vedder.yaml: libpq reads PGPASSWORD and ~/.pgpass, and ``password_env`` names a
variable to read it from. A password in the URL is never shown: errors carry ``redact_url(url)``.

>>> redact_url("postgresql://me:hunter2@db.internal:5432/analytics?sslmode=require&password=x")
'postgresql://me:***@db.internal:5432/analytics?sslmode=require&password=***'
"""

from __future__ import annotations

import math
import os
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vedder.errors import QueryTimeout, SQLExecutionError, TableNotFound, WarehouseError
from vedder.sql.guard import FUNCTION_SCHEMAS, OPERATOR, SYNTAX, OwnCode
from vedder.warehouse import QueryResult, fetch_within

if TYPE_CHECKING:
    from pathlib import Path

    import psycopg

INSTALL_HINT = "install the PostgreSQL driver: pip install 'vedder[postgres]' (or pip install 'psycopg[binary]>=3.1')"
PASSWORD_HINT = "set the password in PGPASSWORD, in ~/.pgpass, or in the environment variable that `warehouse.password_env` names"

# Where unqualified names resolve for every query: the schemas whose functions the guard lets SQL call by name.
SEARCH_PATH = ", ".join(FUNCTION_SCHEMAS)

# User schemas only: the catalog, information_schema, TOAST and temporary schemas are PostgreSQL's own. An enum
# column's type is spelled with its labels, ENUM('smb', 'enterprise') as DuckDB spells it: profiled like text
# (distinct count, common values) and the labels are in the context, where the type's name ('crm.segment') says nothing.
_SCHEMA_SQL = """
SELECT n.nspname, c.relname, a.attname,
  CASE WHEN t.typtype = 'e' THEN 'ENUM(' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                                             FROM pg_catalog.pg_enum AS e WHERE e.enumtypid = t.oid) || ')'
       ELSE upper(format_type(a.atttypid, a.atttypmod)) END
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND has_schema_privilege(n.oid, 'USAGE')
  AND has_any_column_privilege(c.oid, 'SELECT')
ORDER BY n.nspname, c.relname, a.attnum
"""

# The database's own code SQL may reach without naming a schema: functions PostgreSQL did not create itself (initdb's
# objects all have oids below FirstNormalObjectId, 16384), with the extension each belongs to, if any; those of the
# search path's schemas (vedder pins it to FUNCTION_SCHEMAS; the guard refuses other schemas' by name), the operators
# of those schemas that run one (an operator is found on the search path too), and the casts that run one (a cast
# belongs to no schema).
_USER_FUNCTIONS_SQL = """
WITH own AS (
  SELECT p.oid, p.proname, n.nspname, e.extname
  FROM pg_catalog.pg_proc AS p
  JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
  LEFT JOIN pg_catalog.pg_depend AS d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e'
  LEFT JOIN pg_catalog.pg_extension AS e ON e.oid = d.refobjid
  WHERE p.oid >= 16384
)
SELECT 'function', own.proname, own.nspname, own.proname, own.nspname, own.extname, NULL, NULL
FROM own WHERE own.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'operator', o.oprname, n.nspname, own.proname, own.nspname, own.extname,
  CASE WHEN o.oprleft = 0 THEN 'NONE' ELSE pg_catalog.format_type(o.oprleft, NULL) END, pg_catalog.format_type(o.oprright, NULL)
FROM pg_catalog.pg_operator AS o
JOIN pg_catalog.pg_namespace AS n ON n.oid = o.oprnamespace
JOIN own ON own.oid = o.oprcode
WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'cast', own.proname, own.nspname, own.proname, own.nspname, own.extname,
  pg_catalog.format_type(c.castsource, NULL), pg_catalog.format_type(c.casttarget, NULL)
FROM pg_catalog.pg_cast AS c JOIN own ON own.oid = c.castfunc
"""
# Operators PostgreSQL applies for syntax that does not write them: = for IN, CASE, NULLIF, IS DISTINCT FROM and
# JOIN … USING, <> for NOT IN, >= and <= for BETWEEN, ~~ and its kin for LIKE, ILIKE and NOT LIKE, ~ for SIMILAR TO.
IMPLIED_OPERATORS = frozenset({"=", "<>", "<", ">", "<=", ">=", "~~", "!~~", "~~*", "!~~*", "~", "!~"})
# Extensions whose functions compute only on their arguments (similarity(), levenshtein(), crypt(), unaccent() …).
# Any other extension's functions count as the database's own: tablefunc's crosstab() runs SQL from a string,
# pgrowlocks() and pageinspect read a table named in one, xml2's xpath_table() too; dblink and postgres_fdw are
# refused by name anyway.
HARMLESS_EXTENSIONS = frozenset({
    "pg_trgm", "fuzzystrmatch", "unaccent", "citext", "hstore", "pgcrypto", "uuid-ossp", "intarray", "intagg", "ltree",
    "cube", "earthdistance", "isn", "seg", "btree_gin", "btree_gist", "tsm_system_rows", "tsm_system_time", "vector",
})

# Result column types by PostgreSQL's internal name, spelled as format_type() spells them in schema().
_TYPE_NAMES = {
    "int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float4": "REAL", "float8": "DOUBLE PRECISION",
    "bool": "BOOLEAN", "varchar": "CHARACTER VARYING", "bpchar": "CHARACTER", "timestamp": "TIMESTAMP WITHOUT TIME ZONE",
    "timestamptz": "TIMESTAMP WITH TIME ZONE", "time": "TIME WITHOUT TIME ZONE", "timetz": "TIME WITH TIME ZONE",
}


def redact_url(url: str) -> str:
    """``url`` with any password (in the user part or a ``password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:  # a malformed host ('[::1'): hide whatever stands between user: and @
        return re.sub(r"^([^:/]+://[^:/@]*:)[^@]*@", r"\1***@", url)
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        if ":" in credentials:
            netloc = f"{credentials.split(':', 1)[0]}:***@{host}"
    query = parts.query
    if "password" in query.lower():
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in parse_qsl(query, keep_blank_values=True)], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _url_passwords(url: str) -> list[str]:
    """The passwords written into ``url`` (user:PASSWORD@ and ?password=), to scrub from libpq's messages."""
    try:
        parts = urlsplit(url)
        found = [parts.password or ""] + [v for k, v in parse_qsl(parts.query) if k.lower() == "password"]
    except ValueError:
        match = re.match(r"^[^:/]+://[^:/@]*:([^@]*)@", url)
        found = [match[1]] if match else []
    return [secret for secret in found if secret]


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise WarehouseError("the PostgreSQL warehouse needs psycopg, which is not installed", INSTALL_HINT) from None
    return psycopg


def _password(password_env: str | None) -> str | None:
    if password_env is None:
        return None
    password = os.environ.get(password_env)
    if password is None:
        raise WarehouseError(f"the environment variable {password_env} (warehouse.password_env) is not set",
                             f"export {password_env}=… with the warehouse password, or remove `password_env` to use PGPASSWORD or ~/.pgpass")
    return password


def _connect_error(url: str, message: str, secrets: list[str]) -> WarehouseError:
    """A one-line error for a connection that failed, naming the server by its redacted URL."""
    shown = redact_url(url)
    message = message.replace(url, shown)  # libpq quotes a URI it cannot parse whole
    for secret in filter(None, secrets):
        message = message.replace(secret, "***")
    # libpq says 'connection failed: connection to server at "h", port p failed: FATAL:  <why>': keep <why>.
    first = (message.strip().splitlines() or [""])[0]
    detail = first.rsplit("failed: ", 1)[-1].split("FATAL:", 1)[-1].strip() or first
    lowered = message.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered or "password is required" in lowered:
        return WarehouseError(f"PostgreSQL at {shown} refused the login: {detail}", PASSWORD_HINT)
    if "does not exist" in lowered and "database" in lowered:
        return WarehouseError(f"PostgreSQL at {shown}: {detail}", "fix the database name at the end of `warehouse.url` (psql -l lists them)")
    if "role" in lowered and "does not exist" in lowered:
        return WarehouseError(f"PostgreSQL at {shown}: {detail}", "fix the user in `warehouse.url` (postgresql://USER@host/db)")
    if "timeout expired" in lowered or "timed out" in lowered:
        return WarehouseError(f"PostgreSQL at {shown} did not answer in time ({detail})",
                              "check host and port in `warehouse.url` and that the server is up; `warehouse.connect_timeout_s` sets the wait")
    if "connection refused" in lowered or "could not translate host name" in lowered or "no route to host" in lowered \
            or "could not connect" in lowered or "name or service not known" in lowered or "network is unreachable" in lowered:
        return WarehouseError(f"cannot reach PostgreSQL at {shown}: {detail}",
                              "check host and port in `warehouse.url`, that the server runs and accepts TCP connections (listen_addresses, pg_hba.conf)")
    return WarehouseError(f"cannot connect to PostgreSQL at {shown}: {detail}",
                          "check `warehouse.url` in vedder.yaml (or VEDDER_WAREHOUSE): postgresql://user@host:5432/dbname?libpq-parameters")


def _timeout_setting(timeout_s: float) -> str:
    """``statement_timeout`` for ``timeout_s`` (at least 1 ms, at most what the setting holds: 0 would mean none)."""
    return f"{max(1, min(int(timeout_s * 1000), 2**31 - 1))}ms"


class _FetchBefore:
    """``cursor.fetchmany`` that ends by ``deadline``: statement_timeout counts per statement (each FETCH anew), so
    a FETCH that could outlast the deadline is given only the time left, and none starts after it."""

    def __init__(self, connection: "psycopg.Connection", cursor: "psycopg.ServerCursor", deadline: float, timeout_s: float) -> None:
        self.connection, self.cursor, self.deadline, self.timeout_s = connection, cursor, deadline, timeout_s
        self.allowed_s = timeout_s  # the statement_timeout in force
        # Fetches of a fast query never reset the timeout: a FETCH may end this much after the deadline.
        self.slack_s = max(0.05, timeout_s / 50)

    def __call__(self, count: int) -> list[tuple[Any, ...]]:
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise QueryTimeout(f"query stopped after {self.timeout_s:g} s (query.timeout_s) while its rows were fetched")
        if left + self.slack_s < self.allowed_s:
            self.connection.execute("SELECT set_config('statement_timeout', %s, true)", [_timeout_setting(left)])
            self.allowed_s = left
        return self.cursor.fetchmany(count)


class PostgresWarehouse:
    dialect = "postgres"

    def __init__(self, url: str, *, password_env: str | None = None, connect_timeout_s: float = 10.0) -> None:
        self.url = url
        self.password_env = password_env
        self.connect_timeout_s = connect_timeout_s
        self.connection = self._connect()
        self._schema: dict[str, dict[str, str]] | None = None
        self._user_functions: list[OwnCode] | None = None

    def _connect(self) -> "psycopg.Connection":
        psycopg = _psycopg()
        # A password written into the URL (VEDDER_WAREHOUSE for one run) wins over password_env, as a URL does in libpq.
        password = None if _url_passwords(self.url) else _password(self.password_env)
        options: dict[str, Any] = {
            # libpq's connect_timeout is whole seconds (at least 2); psycopg enforces it around the whole attempt.
            "connect_timeout": max(2, math.ceil(self.connect_timeout_s)),
            "options": "-c default_transaction_read_only=on",
            "application_name": "vedder",
            "autocommit": True,
        }
        if password is not None:
            options["password"] = password
        try:
            connection = psycopg.connect(self.url, **options)
        except psycopg.Error as exc:
            raise _connect_error(self.url, str(exc), [password or "", *_url_passwords(self.url)]) from None
        except (ValueError, TypeError) as exc:
            raise WarehouseError(f"invalid warehouse url {redact_url(self.url)}: {str(exc).splitlines()[0]}",
                                 "write it as postgresql://user@host:5432/dbname") from None
        # Each query runs in a transaction of its own (``execute``), begun READ ONLY on top of the session default.
        connection.read_only = True
        return connection

    def schema(self) -> dict[str, dict[str, str]]:
        if self._schema is None:
            schema: dict[str, dict[str, str]] = {}
            for schema_name, table, column, data_type in self._fetch(_SCHEMA_SQL):
                # Unquoted names fold to lower case; a name with capitals keeps them: it is another table than its
                # lower-case spelling, and cluster files cannot name it (profile.unnameable says how to).
                schema.setdefault(f"{schema_name}.{table}", {})[column] = data_type
            self._schema = schema
        return self._schema

    def user_functions(self, cache: Path | None = None) -> list[OwnCode]:
        """The database's own code that SQL may reach without naming a schema: functions in ``public`` (or added to
        ``pg_catalog``), operators there that run one of the database's functions (``CREATE OPERATOR public.+ (…,
        FUNCTION = leak)`` runs for every ``a + b`` of those types), casts that run one; not those of an extension in
        HARMLESS_EXTENSIONS. Read once per connection (about 1 ms; ``cache`` is not used: no file says when they
        change)."""
        if self._user_functions is None:
            found: list[OwnCode] = []
            for kind, name, schema, function, function_schema, extension, left, right in self._fetch(
                    _USER_FUNCTIONS_SQL, {"schemas": list(FUNCTION_SCHEMAS)}):
                if extension in HARMLESS_EXTENSIONS:
                    continue
                runs = f"{function_schema}.{function}() of the extension {extension}" if extension else f"{function_schema}.{function}() in the database"
                if kind == "function":
                    found.append(OwnCode(name.lower(), runs, function.lower()))
                elif kind == "operator":
                    found.append(OwnCode(name, f"{schema}.{name} ({left}, {right}) runs {runs}", function.lower(),
                                         SYNTAX if name in IMPLIED_OPERATORS else OPERATOR))
                else:
                    found.append(OwnCode(function.lower(), f"the cast from {left} to {right} runs {runs}", function.lower(), SYNTAX))
            self._user_functions = found
        return self._user_functions

    def engine_calls(self, sql: str) -> set[str] | None:
        """None: PostgreSQL's parser is not exposed to ask which functions and operators ``sql`` runs."""
        return None

    def _fetch(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        psycopg = _psycopg()
        try:
            with self.connection.transaction():
                return self.connection.execute(sql, params).fetchall()
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot read the catalog of PostgreSQL at {redact_url(self.url)}: {str(exc).splitlines()[0]}") from None

    def tables(self) -> list[str]:
        return sorted(self.schema())

    def columns(self, table: str) -> list[tuple[str, str]]:
        columns = self.schema().get(table.lower())
        if columns is None:
            raise TableNotFound(f"table '{table}' is not in the warehouse {redact_url(self.url)}")
        return list(columns.items())

    def execute(self, sql: str, *, limit: int = 1000, timeout_s: float = 30.0, max_bytes: int | None = None) -> QueryResult:
        psycopg = _psycopg()
        started = time.perf_counter()
        try:
            # A server-side cursor fetches limit + 1 rows, not the whole result, to know it was truncated, in small
            # batches while the rows are large (max_bytes). The timeout is set for this transaction only: nothing a
            # query did to the session can lift it. So is the search path: unqualified functions are built-ins or
            # public's (the guard refuses other schemas'), never those of the role's own schema ("$user") or of a
            # search_path set on the role.
            with self.connection.transaction(), self.connection.cursor(name="vedder_query") as cursor:
                self.connection.execute("SELECT set_config('statement_timeout', %s, true), set_config('search_path', %s, true)",
                                        [_timeout_setting(timeout_s), SEARCH_PATH])
                cursor.execute(sql)
                description = cursor.description or []
                fetch = _FetchBefore(self.connection, cursor, started + timeout_s, timeout_s)
                rows = fetch_within(fetch, limit=limit, max_bytes=max_bytes) if description else []
        except psycopg.errors.QueryCanceled:
            raise QueryTimeout(f"query cancelled by the server after {timeout_s:g} s (statement_timeout)") from None
        except psycopg.OperationalError as exc:
            if self.connection.closed:
                raise WarehouseError(f"lost the connection to PostgreSQL at {redact_url(self.url)}: {str(exc).splitlines()[0]}",
                                     "check that the server is up, then run the command again") from None
            raise SQLExecutionError(str(exc).splitlines()[0]) from None
        except psycopg.Error as exc:
            raise SQLExecutionError(str(exc).splitlines()[0]) from None
        return QueryResult(
            columns=[d.name for d in description],
            rows=[tuple(r) for r in rows[:limit]],
            truncated=len(rows) > limit,
            elapsed_s=time.perf_counter() - started,
            types=[self._type_name(d.type_code) for d in description],
        )

    def _type_name(self, oid: int) -> str:
        info = self.connection.adapters.types.get(oid)
        name = info.name if info is not None else str(oid)
        return _TYPE_NAMES.get(name, name.upper())

    def cursor(self) -> "PostgresWarehouse":
        """Another handle for another thread: a connection of its own (so queries run side by side and time
        out on their own), the same settings, the schema read once (and the database's own functions, if read
        yet)."""
        other = object.__new__(PostgresWarehouse)
        other.url, other.password_env, other.connect_timeout_s = self.url, self.password_env, self.connect_timeout_s
        other.connection = other._connect()
        other._schema = self.schema()
        other._user_functions = self._user_functions
        return other

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "PostgresWarehouse":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
