"""The one SQL guard. Every statement that did not come from vedder itself passes through here.

Rules (each refusal names its rule): ``parse`` (the SQL must parse in the project dialect),
``one_statement``, ``read_only`` (SELECT / WITH / UNION …; no DDL, DML, COPY, ATTACH, PRAGMA, SET, …),
``forbidden_function`` (nothing that reads files, the environment, settings or runs SQL strings; in
PostgreSQL also large objects, dblink, the *_to_xml readers, sequences, advisory locks and index maintenance;
no function named with a schema but pg_catalog or public: the database's own code may read any table; nor, by
``refuse_user_functions`` with the warehouse's list, its own functions called by their plain name),
``table_function`` (only harmless generators such as ``range``), and ``table_not_allowed`` (only the
tables of the cluster in use; never a system catalog, nor a cast that names its objects by number; in PostgreSQL
no quoted name with capitals), ``generated_size`` (DuckDB: a value builder feeding another, printf/format fields
wider than MAX_FORMAT_WIDTH; builders and calls that grow their inputs are bounded at run time, see MAX_GROWN_SIZE). Unqualified tables are qualified with the cluster's default schema, unless a WITH
query of that name is in scope where they stand. Comments are kept, made unable to end early when rendered.

>>> guard_sql("SELECT 1").sql
'SELECT 1'
>>> guard_sql("SELECT * FROM events", default_schema="listening").tables
['listening.events']
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Collection, NamedTuple

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import NormalizationStrategy
from sqlglot.tokens import TokenType

from vedder.errors import SQLRefused

logging.getLogger("sqlglot").setLevel(logging.ERROR)

_READ_ONLY_ROOTS = (exp.Select, exp.SetOperation, exp.Subquery)

_WRITE_NODES = tuple(
    getattr(exp, name)
    for name in (
        "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "AlterTable", "TruncateTable",
        "Command", "Copy", "Pragma", "Set", "Attach", "Detach", "Install", "Use", "Export", "Load",
        "Describe", "Show", "Summarize", "Transaction", "Commit", "Rollback", "Cache", "Uncache", "Grant",
        "Analyze", "LoadData", "Comment", "Lock",
    )
    if hasattr(exp, name)
)

FORBIDDEN_FUNCTIONS = frozenset(
    {
        "read_csv", "read_csv_auto", "read_parquet", "read_json", "read_json_auto", "read_json_objects",
        "read_json_objects_auto", "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text",
        "read_blob", "read_xlsx", "parquet_scan", "parquet_metadata", "parquet_schema", "parquet_file_metadata",
        "parquet_kv_metadata", "csv_scan", "sniff_csv", "glob", "getenv", "current_setting", "query",
        "query_table", "sqlite_scan", "sqlite_attach", "postgres_scan", "postgres_query", "postgres_execute",
        "mysql_query", "iceberg_scan", "delta_scan", "http_get", "http_post", "load_extension", "install",
        "json_execute_serialized_sql", "json_serialize_plan", "read_file", "write_csv", "copy_database", "checkpoint",
        "force_checkpoint", "set_config", "enable_profiling", "which_secret", "pg_read_file",
        "readcsv", "readparquet",
        # PostgreSQL: large objects (files on the server), SQL run from a string, sequences and transaction ids.
        "loread", "lowrite", "ts_stat", "ts_rewrite", "nextval", "setval", "currval", "lastval", "txid_current",
        "inet_server_addr", "inet_server_port",
        # PostgreSQL: comments on any object, free text from the system catalog pg_description; names of any
        # relation, type, function or role by number (to_regclass('16389') is 'hr.salaries'); index maintenance
        # that writes even in a read-only transaction; tuple ids of a table named in a string.
        "obj_description", "col_description", "shobj_description", "format_type", "gin_clean_pending_list",
        "currtid", "currtid2",
        *(f"{prefix}{name}" for prefix in ("", "to_") for name in (
            "regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype", "regtypemod", "regnamespace",
            "regrole", "regcollation")),
    }
)
_FORBIDDEN_PREFIXES = ("duckdb_", "pragma_", "read_", "pg_", "sqlite_", "postgres_", "mysql_", "iceberg_", "delta_", "http",
                       "lo_", "dblink", "brin_")
# Forbidden functions that are refused for what they do rather than what they read.
_SLEEPING = ("pg_sleep",)
_NETWORK_PREFIXES = ("dblink", "http", "postgres_scan", "postgres_query", "postgres_execute", "mysql_")
# PostgreSQL's query_to_xml, table_to_xml, cursor_to_xml, schema_to_xml, database_to_xml and their xmlschema
# variants read any table (or a whole database) the role can see, through a name in a string.
_FORBIDDEN_SUFFIXES = ("_to_xml", "_to_xmlschema", "_to_xml_and_xmlschema")
# PostgreSQL's object identifier types: a cast to one prints the name of any object by its number (16389::regclass
# is hr.salaries), so that counting through numbers lists the system catalog. regconfig (text search) is harmless.
_CATALOG_TYPES = frozenset({"regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype", "regnamespace",
                            "regrole", "regcollation"})
# A function named with one of these schemas is a built-in or an extension's; any other schema's is the database's
# own code (PostgreSQL functions, DuckDB macros), which may read any table. vedder's PostgreSQL sessions run
# with the search path pinned to the same two schemas, so an unqualified name resolves to no other.
FUNCTION_SCHEMAS = ("pg_catalog", "public")

MAX_GENERATED_CHARS = 10_000
"""The longest string repeat()/lpad()/rpad() may build: ``repeat('x', 100000000)`` over 2,048 rows makes DuckDB
build ≈ 200 GB before vedder's byte budget sees a row (its memory_limit does not count such strings), so their
length argument is capped (``LEAST(n, 10000)``) — a bar chart of ``repeat('█', n)`` still draws."""
MAX_GENERATED_ITEMS = 10_000
"""The most items one DuckDB list builder may make in one value: ``range``/``generate_series`` written as a scalar
(not in FROM, where they stream rows), ``list_resize``/``array_resize``, ``equi_width_bins`` and ``repeat`` of a value
(a list, or a string the query computed). The engine builds each value whole, for a vector of 2,048 rows at a time,
before any row is seen and outside DuckDB's memory_limit: ``len(range(1000000000))`` grew vedder to 20 GB and did not
heed the timeout. 10,000 items of 8 bytes over 2,048 rows is 160 MB at most; a daily date spine of 27 years, an
hourly one of a year fit. Over it, the query stops with an error (``TOO_MANY_ITEMS``) rather than a shorter list
that would silently change its answer; ``repeat`` is capped like a string's (``LEAST``)."""
TOO_MANY_ITEMS = "would build more than {limit:,} items in one value"
# DuckDB's list builders whose size is an argument (its index): the list has that many items.
_SIZED_LIST_BUILDERS = {"list_resize": 1, "array_resize": 1, "equi_width_bins": 2}
# System catalogs are never a cluster's tables; an unqualified pg_* name resolves to pg_catalog in PostgreSQL.
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
ALLOWED_TABLE_FUNCTIONS = frozenset({
    "range", "generate_series", "generateseries", "unnest", "explode",
    # PostgreSQL's set-returning functions over values in the query (sqlglot reads its generate_series as exploding_)
    "exploding_generate_series", "generate_subscripts", "regexp_split_to_table", "string_to_table",
    "json_array_elements", "json_array_elements_text", "jsonb_array_elements", "jsonb_array_elements_text",
    "json_each", "json_each_text", "jsonb_each", "jsonb_each_text",
})


@dataclass(frozen=True)
class GuardedSQL:
    """SQL that passed the guard: its parsed tree, the tables it reads, and (rendered on first use) the text to run."""

    expression: exp.Expression
    tables: list[str]
    dialect: str = "duckdb"

    @cached_property
    def sql(self) -> str:
        # Rendered lazily: checks that never run the SQL (vedder validate) skip the generator entirely.
        return self.expression.sql(dialect=self.dialect)


def _function_names(node: exp.Func) -> set[str]:
    names = {node.sql_name().lower(), type(node).__name__.lower()}
    if isinstance(node, exp.Anonymous):
        names.add(_unescaped(node.name).lower())
    return names


def _unescaped(name: str) -> str:
    """A quoted name as PostgreSQL reads ``U&"pg\\005fread_file"``: its \\XXXX and \\+XXXXXX escapes decoded."""
    if "\\" not in name:
        return name
    return re.sub(r"\\(?:\+([0-9a-fA-F]{6})|([0-9a-fA-F]{4}))", lambda m: chr(int(m[1] or m[2], 16)), name)


def _is_forbidden(names: set[str]) -> bool:
    return any(n in FORBIDDEN_FUNCTIONS or n.startswith(_FORBIDDEN_PREFIXES) or n.endswith(_FORBIDDEN_SUFFIXES) for n in names)


def _refusal_reason(name: str) -> str:
    """Why a forbidden function is refused, said of what it does.

    >>> _refusal_reason("pg_sleep"), _refusal_reason("dblink_exec")
    ('sleeps: it holds a connection and reads no data', 'reaches the network or another database')
    """
    if name.startswith(_SLEEPING):
        return "sleeps: it holds a connection and reads no data"
    if name.startswith(_NETWORK_PREFIXES):
        return "reaches the network or another database"
    return "reads files, settings or the environment"


def _harmless_comment(comment: str) -> str:
    """``comment`` unable to end or nest the block comment it is rendered as: PostgreSQL and DuckDB nest ``/* */``,
    and sqlglot renders a ``--`` comment as one, so ``-- */ , (SELECT … FROM hr.salaries) /*`` would run."""
    return comment.replace("*/", "* /").replace("/*", "/ *")


def _function_schema(node: exp.Dot) -> str | None:
    """The schema of a call written ``schema.function()`` (or ``catalog.schema.function()``), else None."""
    if not isinstance(node.expression, exp.Func):
        return None
    path = node.this
    while isinstance(path, exp.Dot):
        path = path.expression
    return path.name.lower() if isinstance(path, exp.Identifier) else None


def _operator_schema(node: exp.Operator) -> str | None:
    """The schema of PostgreSQL's ``a OPERATOR(schema.+) b``, else None."""
    schema, dot, _ = str(node.args.get("operator") or "").rpartition(".")
    return _unescaped(schema.rpartition(".")[2].strip('"')).lower() if dot else None


def _names_a_with_query(table: exp.Table) -> bool:
    """Whether unqualified ``table`` names a WITH query where it stands, as PostgreSQL and DuckDB both read it: a
    WITH around it, but within one of that WITH's queries only the queries before it, and itself only in the
    recursive part of a RECURSIVE one (``… UNION ALL SELECT … FROM itself``). Anywhere else the name is a table
    found on the search path: ``WITH a AS (SELECT * FROM secrets), secrets AS (…)`` reads public.secrets."""
    name = table.name.lower()
    path: list[exp.Expression] = [table]
    node = table.parent
    while node is not None:
        if isinstance(node, exp.With):
            queries = node.expressions
            inside = next((i for i, cte in enumerate(queries) if cte is path[-1]), None)
            visible = queries if inside is None else queries[:inside]
            if any(cte.alias_or_name.lower() == name for cte in visible):
                return True
            if inside is not None and queries[inside].alias_or_name.lower() == name and node.args.get("recursive"):
                body = queries[inside].this
                return isinstance(body, exp.SetOperation) and any(step is body.expression for step in path)
        else:
            around = node.args.get("with")
            if around is not None and around is not path[-1] and any(cte.alias_or_name.lower() == name for cte in around.expressions):
                return True
        path.append(node)
        node = node.parent
    return False


def _named_type(node: exp.DataType) -> str | None:
    """The lower-case name of a type sqlglot has no member for (PostgreSQL's regclass, pg_catalog.regrole …)."""
    if isinstance(node.this, str):
        return node.this.lower()
    kind = node.args.get("kind")
    if node.this is not exp.DataType.Type.USERDEFINED or kind is None:
        return None
    return (kind.name if isinstance(kind, exp.Expression) else str(kind).rsplit(".", 1)[-1]).lower()


def _case_kept(table: exp.Table) -> str | None:
    """A quoted part of ``table`` with capitals: in a dialect where quoting keeps case (PostgreSQL: "Shop" is not
    shop), vedder, which knows every table by its lower-case name, would take it for another table."""
    for part in table.parts:
        if isinstance(part, exp.Identifier) and part.quoted and part.name != part.name.lower():
            return part.name
    return None


def _is_system_table(table: exp.Table) -> bool:
    return is_system_table(f"{table.db}.{table.name}" if table.db else table.name)


def is_system_table(name: str) -> bool:
    """Whether ``name`` (``schema.table`` or a bare name) is a system catalog, never a cluster's table.

    >>> is_system_table("pg_catalog.pg_authid"), is_system_table("pg_roles"), is_system_table("shop.orders")
    (True, True, False)
    """
    schema, _, table = name.lower().rpartition(".")
    schema = schema.rpartition(".")[2]
    return schema in _SYSTEM_SCHEMAS or schema.startswith("pg_temp") or (not schema and table.startswith("pg_"))


def parse_one_statement(sql: str, dialect: str = "duckdb", *, tokens: list | None = None) -> exp.Expression:
    """Parse ``sql`` as exactly one statement (rules ``parse`` and ``one_statement``); ``tokens``, when
    given, are sqlglot's tokens of ``sql`` already made (so that a caller who looked at them tokenizes once)."""
    if not sql or not sql.strip():
        raise SQLRefused("parse", "the SQL is empty")
    try:
        if tokens is None:
            parsed = sqlglot.parse(sql, read=dialect)
        else:
            parsed = sqlglot.Dialect.get_or_raise(dialect).parser().parse(tokens, sql)
        statements = [s for s in parsed if s is not None]
    except sqlglot.errors.SqlglotError as exc:
        first = str(exc).splitlines()[0]
        raise SQLRefused("parse", f"the SQL does not parse as {dialect}: {first}", "fix the syntax") from None
    if len(statements) != 1:
        raise SQLRefused("one_statement", f"expected exactly one statement, got {len(statements)}", "send one query at a time")
    return statements[0]


def table_name(table: exp.Table, default_schema: str | None) -> str:
    """Fully qualified lower-case name of a table reference."""
    parts = [p for p in (table.catalog, table.db, table.name) if p]
    if len(parts) == 1 and default_schema:
        parts.insert(0, default_schema)
    return ".".join(parts[-2:]).lower()


def _cap_length(node: exp.Expression, key: str) -> None:
    """Cap the length argument ``key`` of a string generator at MAX_GENERATED_CHARS (a literal within it stays as is)."""
    length = node.args.get(key)
    if length is None or (isinstance(length, exp.Literal) and length.is_int and int(length.name) <= MAX_GENERATED_CHARS):
        return
    node.set(key, exp.func("least", length.copy(), exp.Literal.number(MAX_GENERATED_CHARS)))


def _too_many_items(name: str, limit: int = MAX_GENERATED_ITEMS,
                    why: str = "vedder's limit on a list built whole before any row is seen") -> exp.Expression:
    """A call to DuckDB's error() that stops the query, saying what would be too large and what to do instead."""
    return exp.func("error", exp.Literal.string(f"{name if name.endswith((')', ']')) or name == '||' else name + '()'} "
                                                f"{TOO_MANY_ITEMS.format(limit=limit)} ({why})"))


def _unless_too_many(name: str, too_many: exp.Expression, value: exp.Expression) -> exp.Expression:
    """``value``, or the query's end with an error where ``too_many`` holds."""
    return exp.Case(ifs=[exp.If(this=too_many, true=_too_many_items(name))], default=value)


def _builds_lists(node: exp.Expression) -> bool:
    return any(isinstance(n, (exp.GenerateSeries, exp.Repeat)) or (isinstance(n, exp.Anonymous) and n.name.lower() in _SIZED_LIST_BUILDERS)
               for n in node.walk())


def _refuse_nested_builders(name: str, arguments: list[exp.Expression]) -> None:
    """A bound is written with copies of a builder's arguments: a builder within another's would be copied again at
    each level of nesting (twice as much SQL per level), so one list or string builder may not feed another."""
    if any(_builds_lists(argument) for argument in arguments):
        raise SQLRefused("generated_size", f"{name}() of what another range/generate_series/repeat/list_resize builds "
                         f"cannot be bounded", "give it a number, a literal or a column")


def _bound_series(node: exp.GenerateSeries) -> None:
    """Stop a DuckDB ``range``/``generate_series`` used as a scalar (a list built whole) past MAX_GENERATED_ITEMS:
    its end is replaced by an error where the series would run further than ``start + MAX_GENERATED_ITEMS × step``
    in the step's direction. Written with comparisons only, so one bound serves numbers, dates and timestamps with
    interval steps, both step signs, and the 1-, 2- and 3-argument forms (sqlglot writes ``range(n)`` as ``range(0, n)``).
    In FROM a series streams rows (the row cap and timeout bound it) and is left as written."""
    if isinstance(node.parent, exp.Table):
        return
    start, end, step = node.args.get("start"), node.args.get("end"), node.args.get("step")
    if start is None or end is None:
        return
    name = "range" if node.args.get("is_end_exclusive") else "generate_series"
    _refuse_nested_builders(name, [start, end] + ([step] if step is not None else []))
    limit = exp.Literal.number(MAX_GENERATED_ITEMS)
    if step is None:
        too_many = exp.GT(this=end.copy(), expression=exp.Add(this=start.copy(), expression=limit))
    else:
        far = exp.Paren(this=exp.Add(this=start.copy(), expression=exp.Mul(this=limit, expression=step.copy())))
        onward = exp.and_(exp.GT(this=far, expression=start.copy()), exp.GT(this=end.copy(), expression=far.copy()))
        backward = exp.and_(exp.LT(this=far.copy(), expression=start.copy()), exp.LT(this=end.copy(), expression=far.copy()))
        too_many = exp.or_(onward, backward)
    node.set("end", _unless_too_many(name, too_many, end))


def _bound_list_size(node: exp.Anonymous) -> None:
    """Stop ``list_resize``/``array_resize``/``equi_width_bins`` past MAX_GENERATED_ITEMS items (their size argument)."""
    name = node.name.lower()
    index = _SIZED_LIST_BUILDERS[name]
    if len(node.expressions) <= index:
        return
    size = node.expressions[index]
    if isinstance(size, exp.Literal) and size.is_int and int(size.name) <= MAX_GENERATED_ITEMS:
        return
    _refuse_nested_builders(name, [size])
    too_many = exp.GT(this=size.copy(), expression=exp.Literal.number(MAX_GENERATED_ITEMS))
    node.expressions[index] = _unless_too_many(name, too_many, size)
    node.set("expressions", node.expressions)


def _bound_repeat_of_value(node: exp.Repeat, measure: "_Measure") -> None:
    """Stop DuckDB's ``repeat(value, n)`` of a list, a blob or a computed string past MAX_GENERATED_ITEMS in all:
    ``repeat(range(10000), 10000)`` or ``repeat(description, 10000)`` build ``len(value)`` times more than the count
    alone says. The value's size is that of its text (``_Measure.size``), which DuckDB has for every type (``len()`` has none
    for a BLOB): at least its characters, bytes or items. A literal string keeps ``_cap_length``'s cap."""
    value, times = node.this, node.args.get("times")
    if value is None or times is None or (isinstance(value, exp.Literal) and value.is_string):
        return
    _refuse_nested_builders("repeat", [value])
    too_many = exp.GT(this=_times(measure.size(value), times.copy()), expression=exp.Literal.number(MAX_GENERATED_ITEMS))
    node.set("times", _unless_too_many("repeat", too_many, times))


MAX_GROWN_SIZE = 100_000
"""The longest text that a function growing its inputs may make in one row: ``replace``, ``regexp_replace``,
``||``/``concat``/``concat_ws``, ``printf``/``format``, list/struct/map/JSON builders, encoders (``_ENCODERS``), a
separator between items, copies (``list_select``, ``list_resize``'s value), and a lambda's result over a list's items
(``list_transform``, comprehensions); ``list_concat``/``array_concat`` may make MAX_GENERATED_ITEMS
items (a list of 100,000 over 2,048 rows, held by a WITH query over 50,000 rows, passed 6 GB).
Nested (``replace(replace(s, 'a', 'aaaaaaaaaa'), …)``) or chained through WITH queries (``s || s`` at each step) they
grow tenfold or twofold per level, and DuckDB builds a 2,048-row block of such values whole, outside its memory_limit
and deaf to the timeout: five nested replaces on one row reached 1 GB; per row, vedder passed 6 GB (killed) and a
regexp_replace ran 490 s past a 30 s timeout. Before the call, an upper bound of what it makes (``_size``) is checked;
over it the query stops with an error (``TOO_MANY_ITEMS``). 100,000 characters per row is 200 MB per block at most."""
MAX_FORMAT_WIDTH = MAX_GENERATED_CHARS
"""The widest field a printf()/format() string may ask for: ``printf('%2000000000d', 1)`` made a 2 GB string
(3.9 GB of vedder) in one call, over 2,048 rows it passed 6 GB. Refused by the guard (rule ``generated_size``)."""
_PRINTF_FIELD = re.compile(r"%%|%[-+ #0']*(\*|\d+)?(?:\.(\*|\d+))?")
_FORMAT_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")
_LIST_CONCATS = frozenset({"list_concat", "list_cat", "array_cat", "array_concat"})
_TEXT_CONCATS = (exp.DPipe, exp.Concat, exp.ConcatWs)
# Calls whose text may be a number of times longer than their arguments': each byte written as 2 hex digits, 8 bits,
# %XX, base64's 4 per 3, or JSON's \u0001 (to_json of to_json of … escapes the escapes: 8 nested passed 860 MB).
_ENCODERS = {"hex": 2, "to_hex": 2, "bin": 8, "to_binary": 8, "url_encode": 3, "to_base64": 2, "base64": 2,
             "regexp_escape": 2, "to_json": 6, "json_quote": 6, "array_to_json": 6, "row_to_json": 6, "json_array": 6,
             "json_object": 6}
# Builders of one value from several (lists, structs, maps, JSON documents): as large as their arguments together,
# so copies of one list ([l, l, l] then flatten, struct_pack(a := s, b := s)) grow tenfold per WITH step.
_VALUE_BUILDERS = frozenset({"list_value", "array_value", "list_pack", "row", "struct_pack", "struct_concat", "struct_insert",
                             "struct_update", "list_zip", "array_zip", "map", "json_merge_patch", "json_insert", "json_set",
                             "path_join"})
_NAMED_BUILDERS = {exp.Array: "list_value", exp.Struct: "struct_pack", exp.Map: "map", exp.JSONObject: "json_object",
                   exp.Hex: "hex", exp.ToBase64: "to_base64", exp.ArrayToString: "array_to_string",
                   exp.Transform: "list_transform", exp.Overlay: "overlay"}
# Calls of a lambda on each item of a list: their result is the lambda's, as many times as the list has items.
_LIST_LAMBDAS = frozenset({"list_transform", "list_apply", "array_transform", "array_apply", "apply"})
# A separator between each two items: array_to_string(range(10000), s) is 10,000 copies of s.
_STRING_AGGREGATES = frozenset({"list_aggregate", "array_aggregate", "list_aggr", "array_aggr", "aggregate"})
_SELECTS = frozenset({"list_select", "array_select"})
_WITH_DEFAULT = frozenset({"list_resize", "array_resize"})
_OTHER_GROWERS = _STRING_AGGREGATES | _SELECTS | _WITH_DEFAULT | {"bitstring", "json_pretty"}
# A size estimate copies the arguments it measures; one that holds a growing call (measured by its text, through
# upper(a || b)) copies that call too. Past this many such copies in one query, nesting would double the SQL per level.
_MAX_MEASURED_COPIES = 64


def _format_string(node: exp.Expression) -> tuple[str, exp.Expression] | None:
    """('printf' or 'format', the format string) of a printf()/format() call, else None."""
    if isinstance(node, exp.Format):
        return "format", node.this
    if isinstance(node, exp.Anonymous) and node.name.lower() in ("printf", "format", "sprintf"):
        return node.name.lower(), (node.expressions[0] if node.expressions else None)
    return None


def _refuse_wide_fields(name: str, pattern: exp.Expression | None) -> int:
    """The widths a printf()/format() string asks for in all; refused (``generated_size``) past MAX_FORMAT_WIDTH,
    for a width given as an argument (``%*d``, ``{:>{}}``) or a format string that is not a literal."""
    hint = f"write the format string as a literal with widths and precisions up to {MAX_FORMAT_WIDTH:,}"
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        raise SQLRefused("generated_size", f"{name}() with a format string that is not a literal may ask for any width", hint)
    widths = 0
    if name == "format":
        fields = [m[1] for m in _FORMAT_FIELD.finditer(pattern.name) if m[1] is not None]
        if any("{" in field for field in fields):
            raise SQLRefused("generated_size", f"{name}() with a width given as an argument may ask for any width", hint)
        numbers = [int(n) for field in fields for n in re.findall(r"\d+", field.partition(":")[2])]
    else:
        fields = [m for m in _PRINTF_FIELD.finditer(pattern.name) if m[0] != "%%"]
        if any("*" in (m[1] or "") + (m[2] or "") for m in fields):
            raise SQLRefused("generated_size", f"{name}() with a width given as an argument (*) may ask for any width", hint)
        numbers = [int(n) for m in fields for n in (m[1], m[2]) if n]
    if any(n > MAX_FORMAT_WIDTH for n in numbers):
        raise SQLRefused("generated_size", f"{name}() asks for a field of {max(numbers):,} characters, over vedder's "
                         f"limit of {MAX_FORMAT_WIDTH:,}", hint)
    return sum(numbers)


def _grows(node: exp.Expression) -> bool:
    """Whether ``node`` is a call whose output may be larger than its largest input (MAX_GROWN_SIZE bounds it)."""
    if isinstance(node, (exp.Replace, exp.RegexpReplace, exp.ArrayConcat) + _TEXT_CONCATS + tuple(_NAMED_BUILDERS)) or _format_string(node):
        return True
    if not isinstance(node, exp.Anonymous):
        return False
    name = node.name.lower()
    if name in _WITH_DEFAULT:
        return len(node.expressions) > 2
    if name in _STRING_AGGREGATES:
        return len(node.expressions) > 2
    return name in _LIST_CONCATS or name in _ENCODERS or name in _VALUE_BUILDERS or name in _LIST_LAMBDAS or name in _OTHER_GROWERS


def _concatenates_lists(node: exp.Expression) -> bool:
    return isinstance(node, exp.ArrayConcat) or (isinstance(node, exp.Anonymous) and node.name.lower() in _LIST_CONCATS)


def _may_grow(node: exp.Expression) -> bool:
    """Whether growing call ``node`` may make more than its largest input (replace(s, ',', '') never does)."""
    if isinstance(node, exp.Replace):
        pattern, replacement = _literal_text(node.expression), _literal_text(node.args.get("replacement"))
        return pattern is None or replacement is None or len(replacement.encode()) > len(pattern.encode())
    if isinstance(node, exp.RegexpReplace):
        return _regexp_may_grow(node.expression, node.args.get("replacement"))[1]
    if isinstance(node, exp.ArrayToString) or (isinstance(node, exp.Anonymous) and node.name.lower() in _STRING_AGGREGATES):
        # A separator of up to two characters: never longer than the list's own text ([a, b] has ", ").
        separator = _literal_text(node.expression if isinstance(node, exp.ArrayToString) else node.expressions[-1])
        return separator is None or len(separator.encode()) > 2
    return True


def _literal_text(node: exp.Expression | None) -> str | None:
    return node.name if isinstance(node, exp.Literal) and node.is_string else None


def _regexp_may_grow(pattern: exp.Expression | None, replacement: exp.Expression | None) -> tuple[int, bool]:
    r"""(the replacement's size: literal characters plus one per back-reference, or -1 when not a literal, whether a
    match may be replaced by more than it consumes). Empty replacement, or one character for a pattern that cannot
    match the empty string ('\s+' → ' '), never grows the input."""
    text = _literal_text(replacement)
    if text is None:
        return -1, True
    references = len(re.findall(r"\\[0-9]", text))
    literal = len(text.encode()) - 2 * references
    if references == 0 and literal == 0:
        return 0, False
    if references == 0 and literal == 1 and (source := _literal_text(pattern)) is not None:
        try:
            return 1, re.compile(source).fullmatch("") is not None
        except re.error:
            return 1, True
    return literal + references, True


class _Measure:
    """Upper bounds (SQL expressions) of what calls make, composed through nested growing calls (so that one check
    at the outermost serves a whole nest); ``composed`` are the calls whose bound an outer one's holds. Within a
    lambda's body (or a comprehension's) the bound of each parameter is the list's whole size (``params``): nothing
    that names a parameter is copied out of the lambda."""

    def __init__(self) -> None:
        self.composed: set[int] = set()
        self.copies = 0
        self.params: dict[str, exp.Expression] = {}

    def _param(self, node: exp.Expression) -> exp.Expression | None:
        if self.params and isinstance(node, (exp.Identifier, exp.Column)) and not (isinstance(node, exp.Column) and node.table):
            return self.params.get(node.name.lower())
        return None

    def _names_a_param(self, node: exp.Expression) -> bool:
        return bool(self.params) and any(self._param(n) is not None for n in node.walk())

    def size(self, node: exp.Expression | None, items: bool = False) -> exp.Expression:
        """At least the characters, bytes or (``items``: list) items of ``node``'s value, read without making it larger."""
        if node is None or isinstance(node, (exp.Null, exp.DataType, exp.Var)):
            return exp.Literal.number(0)
        if (param := self._param(node)) is not None:
            return param.copy()
        if isinstance(node, exp.Literal):
            return exp.Literal.number(len(node.name.encode()) if node.is_string else len(node.name))
        if isinstance(node, exp.Paren):
            return self.size(node.this, items)
        if _grows(node):
            self.composed.add(id(node))
            return self.bound(node)
        if self._names_a_param(node):
            return self._size_in_lambda(node)
        if isinstance(node, exp.Pad):
            return exp.func("least", node.args["expression"].copy(), exp.Literal.number(MAX_GENERATED_CHARS))
        if isinstance(node, exp.Repeat) and _literal_text(node.this) is not None and node.args.get("times") is not None:
            times = exp.func("least", node.args["times"].copy(), exp.Literal.number(MAX_GENERATED_CHARS))
            return _times(self.size(node.this), times)
        self.copies += sum(1 for n in node.walk() if _grows(n))
        if self.copies > _MAX_MEASURED_COPIES:
            raise SQLRefused("generated_size", "calls that grow their inputs (replace, ||, concat, printf …) are nested "
                             "too deeply through other functions to be bounded", "compute the inner parts in a WITH query first")
        measured = exp.func("len", node.copy()) if items else exp.func("strlen", exp.cast(node.copy(), exp.DataType.Type.VARCHAR))
        return exp.func("coalesce", measured, exp.Literal.number(0))

    def _size_in_lambda(self, node: exp.Expression) -> exp.Expression:
        """A bound of ``node`` that names a lambda's parameter: the sum of its parts' (an upper bound for functions
        that do not grow their inputs), or the most a builder of strings or lists may make."""
        if isinstance(node, (exp.GenerateSeries, exp.Anonymous)) and _builds_lists(node):
            return exp.Literal.number(MAX_GENERATED_ITEMS * 8)
        if isinstance(node, exp.Repeat):
            text = _literal_text(node.this)
            return exp.Literal.number(len(text.encode()) * MAX_GENERATED_CHARS if text is not None else MAX_GENERATED_ITEMS)
        if isinstance(node, exp.Pad):
            return _plus(self.size(node.this), exp.Literal.number(MAX_GENERATED_CHARS))
        # A name within it (x.field, a struct's key) is not a value: only the lambda's parameters are.
        return self.total([part for part in node.iter_expressions() if not isinstance(part, exp.Identifier) or self._param(part) is not None])

    def count(self, node: exp.Expression | None) -> exp.Expression:
        """An upper bound of a number argument (a list's new size, a width): the number itself, copied."""
        if node is None:
            return exp.Literal.number(0)
        if self._names_a_param(node):
            raise SQLRefused("generated_size", f"a size given by a lambda's parameter ({node.sql('duckdb')}) cannot be bounded",
                             "give it a number or a column")
        return exp.func("coalesce", node.copy(), exp.Literal.number(0))

    def each(self, items: exp.Expression | None, params: list[str], body: exp.Expression) -> exp.Expression:
        """An upper bound of what ``body`` makes for all of the list ``items``' items together. The body's bound f is
        a sum of products of sizes, so that f(a) + f(b) <= f(a + b) + f(0): over items of sizes s1 … sn it is at most
        f(s1 + … + sn) + n × f(0), where s1 + … + sn is at most the list's size."""
        whole, outer = self.size(items), self.params
        self.params = {**outer, **{name: whole for name in params}}
        largest = self.size(body)
        self.params = {**outer, **{name: exp.Literal.number(0) for name in params}}
        smallest = self.size(body)
        self.params = outer
        if _constant(smallest) == 0:
            return largest
        return _plus(largest, _times(self.size(items, items=True), smallest))

    def bound(self, node: exp.Expression) -> exp.Expression:
        """An upper bound of the size of what growing call ``node`` makes."""
        if isinstance(node, exp.Replace):
            if (exact := self._replaced_size(node)) is not None:
                return exact
            pattern, replacement = _literal_text(node.expression), _literal_text(node.args.get("replacement"))
            value = self.size(node.this)
            if pattern is not None and replacement is not None:
                factor = -(-len(replacement.encode()) // max(len(pattern.encode()), 1))
                return value if factor <= 1 else _times(value, exp.Literal.number(factor))
            grown = exp.func("greatest", self.size(node.args.get("replacement")), exp.Literal.number(1))
            return _plus(_times(value, grown), self.size(node.expression))
        if isinstance(node, exp.RegexpReplace):
            replacement, grows = _regexp_may_grow(node.expression, node.args.get("replacement"))
            value = self.size(node.this)
            if not grows:
                return value
            each = exp.Literal.number(replacement) if replacement >= 0 else self.size(node.args.get("replacement"))
            # Each match (at most one per character, and one at the end) becomes the replacement's text, plus its
            # back-references, each at most the whole input.
            return _times(_plus(value, exp.Literal.number(1)), _plus(exp.Literal.number(1), each))
        if (formatted := _format_string(node)) is not None:
            name, pattern = formatted
            widths = _refuse_wide_fields(name, pattern)
            arguments = node.expressions if isinstance(node, exp.Format) else node.expressions[1:]
            return self.total([pattern, *arguments], extra=widths)
        if isinstance(node, exp.ConcatWs):
            separator, *parts = node.expressions
            return _plus(self.total(parts), _times(self.size(separator), exp.Literal.number(max(len(parts), 1))))
        if (grown := self._bound_duckdb_builder(node)) is not None:
            return grown
        items = _concatenates_lists(node)
        parts = [node.this, node.expression] if isinstance(node, exp.DPipe) else (
            node.expressions if isinstance(node, (exp.Concat, exp.Anonymous)) else [node.this, *node.expressions])
        return self.total(parts, items=items)

    def _replaced_size(self, node: exp.Replace) -> exp.Expression | None:
        """The exact size of what ``replace`` makes of a value no growing call made, with a literal pattern and
        replacement (``replace(s, ' ', '%20')``: ``strlen(s)`` plus each match's growth), or of a nest of such replaces
        of single characters over it (HTML escaping: ``replace(replace(replace(s, '&', '&amp;'), '<', '&lt;'), '>',
        '&gt;')``), read from the counts of those characters in ``s`` (a replace keeps what it does not match, so
        each count after it is the count before plus its matches times the character's count in the replacement,
        less one for the replaced one); None otherwise. Multiplying by the largest growth per match refused HTML
        escaping of 2,000 characters as "more than 100,000"."""
        steps, value = [], node
        while isinstance(value, exp.Replace):
            pattern, replacement = _literal_text(value.expression), _literal_text(value.args.get("replacement"))
            if not pattern or replacement is None:
                return None
            steps.append((pattern, replacement))
            value = value.this
        if value is None or self._names_a_param(value) or any(_grows(n) for n in value.walk()):
            return None
        if len(steps) > 1 and any(len(pattern) != 1 for pattern, _ in steps):
            return None
        text = exp.cast(value.copy(), exp.DataType.Type.VARCHAR)
        size = exp.func("coalesce", exp.func("strlen", text.copy()), exp.Literal.number(0))

        def matches(pattern: str) -> exp.Expression:  # how many times s holds ``pattern`` (strlen counts bytes)
            rest = exp.func("strlen", exp.func("replace", text.copy(), exp.Literal.string(pattern), exp.Literal.string("")))
            removed = exp.Anonymous(this="subtract", expressions=[size.copy(), exp.func("coalesce", rest, exp.Literal.number(0))])
            width = len(pattern.encode())
            return removed if width == 1 else exp.Anonymous(this="divide", expressions=[removed, exp.Literal.number(width)])

        if len(steps) == 1:
            (pattern, replacement), = steps
            return _plus(size, _times(matches(pattern), exp.Literal.number(len(replacement.encode()) - len(pattern.encode()))))
        # A nest, innermost first: sizes and character counts as sums of coefficient × (strlen(s) or count in s). Each
        # step's size is bounded, not only the last: a nest that grows then shrinks builds the large one in between.
        tracked = sorted({pattern for pattern, _ in steps})
        total: dict[str, int] = {"": 1}
        counts = {c: {c: 1} for c in tracked}
        sizes = []
        for pattern, replacement in reversed(steps):
            found = dict(counts[pattern])
            for key, coefficient in found.items():
                total[key] = total.get(key, 0) + coefficient * (len(replacement.encode()) - len(pattern.encode()))
            for c in tracked:
                change = replacement.count(c) - (c == pattern)
                for key, coefficient in found.items():
                    counts[c][key] = counts[c].get(key, 0) + coefficient * change
            sizes.append(_sum([_times(size.copy() if key == "" else matches(key), exp.Literal.number(coefficient))
                               for key, coefficient in sorted(total.items()) if coefficient]))
        self.composed.update(id(inner) for inner in node.this.walk() if isinstance(inner, exp.Replace))
        return exp.func("greatest", *sizes)

    def _bound_duckdb_builder(self, node: exp.Expression) -> exp.Expression | None:
        """The bound of one of DuckDB's list, struct and JSON builders, encoders, separators and lambdas; else None."""
        name = (node.name.lower() if isinstance(node, exp.Anonymous) else _NAMED_BUILDERS.get(type(node), ""))
        arguments = node.expressions if isinstance(node, exp.Anonymous) else list(node.iter_expressions())
        if (comprehension := _comprehension(node)) is not None:
            variable = comprehension.expression
            return self.each(comprehension.args.get("iterator"), [variable.name.lower()], comprehension.this)
        if name in _LIST_LAMBDAS and len(arguments) == 2 and isinstance(arguments[1], exp.Lambda):
            function = arguments[1]
            return self.each(arguments[0], [p.name.lower() for p in function.expressions], function.this)
        if name in _LIST_LAMBDAS:
            raise SQLRefused("generated_size", f"{name}() without a lambda (lambda x: …) cannot be bounded", "write the lambda in the call")
        # A field's or JSON pair's key and value (struct_pack(k := s), json_object('k', s), {'k': s}); a key written
        # as a name counts as its text.
        parts = [exp.Literal.string(part.name) if isinstance(part, exp.Identifier) and self._param(part) is None else part
                 for argument in arguments for part in (
                     [argument.this, argument.expression] if isinstance(argument, (exp.PropertyEQ, exp.JSONKeyValue, exp.Kwarg)) else [argument])]
        if name in _ENCODERS:
            return _times(self.total(parts, extra=2 * len(parts) + 2), exp.Literal.number(_ENCODERS[name]))
        if name == "json_pretty":
            # Each nesting level indents every line within it: quadratic in the input at worst.
            value = self.total(parts)
            return _times(value, _plus(_times(value.copy(), exp.Literal.number(2)), exp.Literal.number(2)))
        if name in ("array_to_string", *_STRING_AGGREGATES):
            items, separator = arguments[0], arguments[-1] if len(arguments) > 2 or name == "array_to_string" else None
            if separator is None or len(arguments) < 2:
                return self.size(items)
            return _plus(self.size(items), _times(self.size(items, items=True), self.size(separator)))
        if name in _SELECTS:
            return _times(_plus(self.size(arguments[1], items=True), exp.Literal.number(1)), self.size(arguments[0]))
        if name in _WITH_DEFAULT:
            return _plus(self.size(arguments[0]), _times(self.count(arguments[1]), self.size(arguments[2])))
        if name == "bitstring":
            return _plus(self.size(arguments[0]), self.count(arguments[1] if len(arguments) > 1 else None))
        if name in _VALUE_BUILDERS or isinstance(node, tuple(_NAMED_BUILDERS)):
            # Each item or field, its key and a separator.
            return self.total(parts, extra=2 * len(parts) + 2)
        return None

    def total(self, parts: list[exp.Expression], extra: int = 0, items: bool = False) -> exp.Expression:
        return _sum([self.size(part, items) for part in parts if part is not None] + ([exp.Literal.number(extra)] if extra else []))


def _sum(terms: list[exp.Expression]) -> exp.Expression:
    # Summed pairwise: concat() of 200 arguments nests 8 deep, not 200 (sqlglot renders by recursion).
    while len(terms) > 1:
        terms = [_plus(*terms[i:i + 2]) if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0] if terms else exp.Literal.number(0)


def _bound_growth(node: exp.Expression, measure: _Measure) -> None:
    """Stop a call that grows its inputs (and the nest of such calls within it) past MAX_GROWN_SIZE, checked before
    any of them runs: its first argument becomes ``CASE WHEN bound > MAX_GROWN_SIZE THEN error(…) ELSE argument END``.
    printf()/format() asking for wider fields than MAX_FORMAT_WIDTH are refused outright."""
    if id(node) in measure.composed:
        return
    bound = measure.bound(node)
    argument = _first_value(node)
    limit = MAX_GENERATED_ITEMS if _concatenates_lists(node) else MAX_GROWN_SIZE
    known = _constant(bound)
    if argument is None or (known is not None and known <= limit):
        return  # made of literals and short fields: its size is known and small
    if not _may_grow(node) and not _grows(argument.unnest()):
        return  # replace(s, ',', ''): never larger than s
    checked = exp.Case(ifs=[exp.If(this=exp.GT(this=bound, expression=exp.Literal.number(limit)),
                                   true=_too_many_items(_call_name(node), limit, _GROWN))])
    argument.replace(checked)
    checked.set("default", argument)


def _plus(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    # add()/multiply() rather than + and *: a warehouse macro named "+" would refuse every query with || in its name.
    return exp.Anonymous(this="add", expressions=[left, right])


def _times(left: exp.Expression, right: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this="multiply", expressions=[left, right])


def _constant(bound: exp.Expression) -> int | None:
    """The value of a bound made of numbers only (``8 + 10 * 2``, ``LEAST(10, 10000)``), else None."""
    if isinstance(bound, exp.Literal) and bound.is_int:
        return int(bound.name)
    if isinstance(bound, exp.Paren):
        return _constant(bound.this)
    if isinstance(bound, exp.Anonymous) and bound.name in ("add", "multiply"):
        left, right = (_constant(term) for term in bound.expressions)
        if left is None or right is None:
            return None
        return left + right if bound.name == "add" else left * right
    if isinstance(bound, (exp.Least, exp.Greatest)):
        values = [_constant(v) for v in [bound.this, *bound.expressions]]
        return None if None in values else (min if isinstance(bound, exp.Least) else max)(values)
    return None


_GROWN = "characters or list items; vedder's limit on what calls that grow their inputs make in one row"


def _first_value(node: exp.Expression) -> exp.Expression | None:
    """The first argument of growing call ``node`` that is a value it grows (not a format string or separator)."""
    if isinstance(node, (exp.Replace, exp.RegexpReplace, exp.DPipe, exp.ArrayConcat)):
        return node.this
    if isinstance(node, exp.Format):
        return node.expressions[0] if node.expressions else None
    if (comprehension := _comprehension(node)) is not None:
        return comprehension.args.get("iterator")
    if isinstance(node, (exp.ConcatWs, exp.Concat, exp.Anonymous)):
        values = node.expressions[1:] if isinstance(node, exp.ConcatWs) or _format_string(node) else node.expressions
    else:
        values = list(node.iter_expressions())
    first = values[0] if values else None
    return first.expression if isinstance(first, (exp.PropertyEQ, exp.JSONKeyValue, exp.Kwarg)) else first


def _comprehension(node: exp.Expression) -> exp.Comprehension | None:
    """The comprehension of ``[x || x FOR x IN l]`` (a list of one comprehension), else None."""
    if isinstance(node, exp.Array) and len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Comprehension):
        return node.expressions[0]
    return None


def _call_name(node: exp.Expression) -> str:
    if isinstance(node, exp.DPipe):
        return "||"
    if _comprehension(node) is not None:
        return "[… FOR … IN …]"
    named = _NAMED_BUILDERS.get(type(node))
    return (node.name if isinstance(node, exp.Anonymous) else named or node.sql_name()).lower() + "()"


def _bound_list_builder(node: exp.Expression, measure: "_Measure") -> None:
    """Bound ``node`` if it is one of DuckDB's list builders (MAX_GENERATED_ITEMS)."""
    if isinstance(node, exp.GenerateSeries):
        _bound_series(node)
    elif isinstance(node, exp.Repeat):
        _bound_repeat_of_value(node, measure)
    elif isinstance(node, exp.Anonymous) and node.name.lower() in _SIZED_LIST_BUILDERS:
        _bound_list_size(node)
    elif isinstance(node, (exp.Split, exp.RegexpSplit, exp.RegexpExtractAll)) or (
            isinstance(node, exp.Anonymous) and node.name.lower() == "regexp_split_to_array"):
        _bound_split(node)


def _bound_split(node: exp.Expression) -> None:
    """Stop ``string_split`` and its regular-expression kin past MAX_GENERATED_ITEMS items: each item of the list
    takes 16 bytes for a character of the text (string_split of a 100,000-character text per row took vedder to
    4.8 GB). With a literal separator the parts are counted exactly (a long text with few separators passes);
    otherwise a part per byte and one more is the most there can be."""
    anonymous = isinstance(node, exp.Anonymous)
    text, separator = (node.expressions + [None, None])[:2] if anonymous else (node.this, node.args.get("expression"))
    if text is None or (isinstance(text, exp.Literal) and text.is_string and len(text.name) < MAX_GENERATED_ITEMS):
        return
    name = node.name.lower() if isinstance(node, exp.Anonymous) else "regexp_extract_all" if isinstance(
        node, exp.RegexpExtractAll) else "string_split_regex" if isinstance(node, exp.RegexpSplit) else "string_split"
    literal = _literal_text(separator) if isinstance(node, exp.Split) else None
    length = exp.Length(this=text.copy())
    if literal == "":
        parts = length
    elif literal is not None:
        removed = exp.Sub(this=length, expression=exp.Length(this=exp.Replace(this=text.copy(), expression=separator.copy(),
                                                                              replacement=exp.Literal.string(""))))
        parts = _plus(exp.IntDiv(this=exp.Paren(this=removed), expression=exp.Literal.number(len(literal))), exp.Literal.number(1))
    else:
        parts = _plus(exp.func("strlen", text.copy()), exp.Literal.number(1))
    too_many = exp.GT(this=parts, expression=exp.Literal.number(MAX_GENERATED_ITEMS))
    checked = _unless_too_many(name, too_many, text)
    if anonymous:
        node.expressions[0] = checked
        node.set("expressions", node.expressions)
    else:
        node.set("this", checked)


def guard_sql(
    sql: str | exp.Expression,
    *,
    dialect: str = "duckdb",
    allowed: Callable[[str], bool] | None = None,
    default_schema: str | None = None,
) -> GuardedSQL:
    """Check untrusted ``sql``; return it (tables qualified) or raise SQLRefused naming the rule.

    ``allowed`` decides whether a fully qualified table may be read; None allows every table. ``sql``
    may be a tree from ``parse_one_statement`` (so that a caller who also analyzes the query parses it
    once); that tree is checked, its tables are qualified and it is rendered in place (sqlglot's
    generator may rewrite it into an equivalent form, as ``sqlglot.transpile`` does).
    """
    tree = sql if isinstance(sql, exp.Expression) else parse_one_statement(sql, dialect)
    if not isinstance(tree, _READ_ONLY_ROOTS) or (isinstance(tree, exp.Subquery) and not isinstance(tree.unnest(), _READ_ONLY_ROOTS)):
        # Named by its first word as written: sqlglot reads EXPLAIN or VACUUM as a Command, CHECKPOINT as a column name.
        kind = (tree.sql(dialect).split() or [type(tree).__name__])[0].upper()
        raise SQLRefused("read_only", f"{kind} statements are not allowed", "only read-only queries (SELECT, WITH, UNION …) run")
    table_nodes: list[exp.Table] = []
    builds_lists = dialect == "duckdb"
    measure = _Measure()
    for node in tree.walk():
        if node.comments:
            node.comments = [_harmless_comment(comment) for comment in node.comments]
        if isinstance(node, _WRITE_NODES) or (isinstance(node, exp.Into)):
            raise SQLRefused("read_only", f"{type(node).__name__.upper()} is not allowed inside a query")
        if isinstance(node, exp.Func) and _is_forbidden(_function_names(node)):
            name = sorted(_function_names(node))[0] if not isinstance(node, exp.Anonymous) else _unescaped(node.name).lower()
            raise SQLRefused("forbidden_function", f"function {name}() {_refusal_reason(name)}", "query the cluster's tables instead")
        if isinstance(node, exp.Dot) and (schema := _function_schema(node)) is not None and schema not in FUNCTION_SCHEMAS:
            raise SQLRefused("forbidden_function", f"function {node.sql(dialect)} is schema {schema}'s own code, which may read any table",
                             "call built-in functions by their plain name (DuckDB: upper(x), not x.upper())")
        if isinstance(node, exp.Operator) and (schema := _operator_schema(node)) not in (None, *FUNCTION_SCHEMAS):
            raise SQLRefused("forbidden_function", f"operator {node.args.get('operator')} is schema {schema}'s own code, which may read any table",
                             "write operators without OPERATOR(schema.…)")
        if isinstance(node, (exp.Repeat, exp.Pad)):
            _cap_length(node, "times" if isinstance(node, exp.Repeat) else "expression")
        if builds_lists:
            _bound_list_builder(node, measure)
            if _grows(node):
                _bound_growth(node, measure)
        if isinstance(node, exp.DataType) and (kind := _named_type(node)) in _CATALOG_TYPES:
            raise SQLRefused("table_not_allowed", f"a cast to {kind} reads names from the system catalog",
                             "use only the tables of the cluster in use (`vedder clusters`)")
        # Collected in the same walk (breadth-first, like find_all) rather than walking the tree twice more.
        if isinstance(node, exp.Table):
            table_nodes.append(node)
    tables: list[str] = []
    keeps_case = sqlglot.Dialect.get_or_raise(dialect).normalization_strategy is NormalizationStrategy.LOWERCASE
    for table in table_nodes:
        if isinstance(table.this, exp.Func):
            names = _function_names(table.this)
            if not names & ALLOWED_TABLE_FUNCTIONS:
                raise SQLRefused("table_function", f"table function {sorted(names)[0]}() is not allowed")
            continue
        if not table.db and _names_a_with_query(table):
            continue
        if not table.name or isinstance(table.this, exp.Literal):
            raise SQLRefused("table_not_allowed", f"'{table.sql(dialect)}' is not a table")
        if allowed is not None and _is_system_table(table):
            raise SQLRefused("table_not_allowed", f"{table.sql(dialect)} is a system catalog", "use only the tables of the cluster in use (`vedder clusters`)")
        name = table_name(table, default_schema)
        if allowed is not None and keeps_case and (quoted := _case_kept(table)):
            raise SQLRefused("table_not_allowed", f"{table.sql(dialect)} is not {name}: the quoted name \"{quoted}\" keeps its capitals in {dialect}",
                             "write table names in lower case, as the cluster's datasets list them")
        if allowed is not None and not allowed(name):
            hint = "qualify the table as schema.table" if "." not in name else "use only the tables of the cluster in use (`vedder clusters`)"
            raise SQLRefused("table_not_allowed", f"table {name} is not part of this cluster", hint)
        if default_schema and not table.db:
            table.set("db", exp.to_identifier(default_schema))
        if name not in tables:
            tables.append(name)
    return GuardedSQL(expression=tree, tables=tables, dialect=dialect)


# How SQL reaches one of the database's own objects (OwnCode.reach): CALL only as ``name(…)``; OPERATOR also by its
# symbol in the text; SYNTAX by syntax that names neither (DuckDB makes EXTRACT a call of date_part, count(*) one of
# count_star; PostgreSQL applies = for IN, CASE and JOIN … USING, ~~ for LIKE, a cast's function for a cast).
CALL, OPERATOR, SYNTAX = "call", "operator", "syntax"
# What syntax runs code that it does not name, said in a refusal of every query.
_SYNTAX_EXAMPLES = {"postgres": "= for IN, CASE and JOIN … USING, ~~ for LIKE, a cast's function for a cast", "duckdb": "PIVOT, UNPIVOT"}


class OwnCode(NamedTuple):
    """One of the database's own objects (a function, macro, operator or cast it runs) that SQL may reach without
    naming a schema: it may read any table, whatever the cluster. ``Warehouse.user_functions`` lists them."""

    name: str
    """What SQL writes to reach it: a function's lower-case name, or an operator's symbol."""
    what: str
    """What it is, for a person: 'the macro main.lower() of the warehouse file'."""
    function: str
    """The name ``query.allowed_functions`` allows it by (an operator or cast: the function it runs)."""
    reach: str = CALL


# Nodes that never make the engine run a function or an operator: a query of only these (SELECT country FROM users
# LIMIT 5) needs no list of the database's own code. Anything else asks for it (fail-safe).
_INERT_NODES = (exp.Select, exp.From, exp.Join, exp.Table, exp.TableAlias, exp.Identifier, exp.Column, exp.Star,
                exp.Literal, exp.Alias, exp.Limit, exp.Offset, exp.Order, exp.Ordered, exp.Group, exp.Paren, exp.With,
                exp.CTE, exp.Subquery, exp.SetOperation, exp.Boolean, exp.Null, exp.And, exp.Or, exp.Not, exp.Where,
                exp.Having, exp.Distinct)
# DuckDB binds comparisons, IN and BETWEEN itself (a macro named "=" is never run); PostgreSQL looks them up by name.
_INERT_IN_DUCKDB = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.In, exp.Between, exp.Is)
_OPERATOR_CHARACTERS = frozenset("+-*/<>=~!@#%^&|`?")


def may_run_code(guarded: GuardedSQL) -> bool:
    """Whether the SQL holds anything the engine may run a function or an operator for (a call, arithmetic, LIKE, a
    subscript …), so that one of the database's own may be among them.

    >>> may_run_code(guard_sql("SELECT a FROM t WHERE a = 1 LIMIT 5")), may_run_code(guard_sql("SELECT a + 1 FROM t"))
    (False, True)
    """
    inert = _INERT_NODES + (_INERT_IN_DUCKDB if guarded.dialect == "duckdb" else ())
    return any(not isinstance(node, inert) for node in guarded.expression.walk())


def called_functions(guarded: GuardedSQL) -> set[str]:
    """The lower-case name of every function the SQL to run calls, read from the text that runs (sqlglot may
    write a call under another name than it was given: ``strpos(a, b)`` runs as ``POSITION(b IN a)``).

    >>> sorted(called_functions(guard_sql('SELECT "AllPay"(), strpos(x, 1) FROM t', dialect="postgres")))
    ['allpay', 'position']
    """
    tokens = sqlglot.Dialect.get_or_raise(guarded.dialect).tokenize(guarded.sql)
    return {_unescaped(token.text).lower() for token, after in zip(tokens, tokens[1:])
            if after.token_type is TokenType.L_PAREN and (token.token_type is TokenType.IDENTIFIER or token.text.replace("_", "").isalnum())}


def operator_runs(guarded: GuardedSQL) -> set[str]:
    """Each run of operator characters in the text that runs (strings, quoted names and comments aside): an operator
    the text uses is within one (PostgreSQL may read ``*-`` as ``*`` then ``-``, so a run is searched, not matched).

    >>> sorted(operator_runs(guard_sql("SELECT a*-1, b || 'x->y', c <-> d FROM t", dialect="postgres")))
    ['*', '-', '<->', '||']
    """
    runs: list[str] = []
    end = -2
    for token in sqlglot.Dialect.get_or_raise(guarded.dialect).tokenize(guarded.sql):
        if token.token_type in (TokenType.STRING, TokenType.IDENTIFIER) or not set(token.text) <= _OPERATOR_CHARACTERS:
            end = -2
            continue
        if token.start == end + 1:
            runs[-1] += token.text
        else:
            runs.append(token.text)
        end = token.end
    return set(runs)


def _own_code_refused(code: OwnCode, why: str = "") -> SQLRefused:
    named = f"function {code.name}()" if code.reach == CALL or code.name.replace("_", "").isalnum() else f"operator {code.name}"
    plain = code.function.replace("_", "").isalnum()
    allow, known = (code.function, f"{code.function}()") if plain else (f"'{code.function}'", code.function)
    return SQLRefused("forbidden_function", f"{named} is the database's own code ({code.what}), which may read any table{why}",
                      f"use built-in functions; an admin who knows {known} reads only its arguments can allow it in "
                      f"vedder.yaml: `query: {{allowed_functions: [{allow}]}}` (or drop it from the database)")


def refuse_user_functions(guarded: GuardedSQL, user_functions: Callable[[], Collection[OwnCode]],
                          allowed: Collection[str] = (), engine_calls: Callable[[str], set[str] | None] | None = None) -> None:
    """Refuse (rule ``forbidden_function``) SQL that may run one of the database's own objects: a PostgreSQL function
    in ``public``, an operator or cast made with one, a DuckDB macro (called by name, or named like an operator or a
    built-in that DuckDB calls for other syntax). Each may read any table, whatever the cluster.

    ``user_functions()`` lists them (``OwnCode``); it is asked only when the SQL may run code at all (``may_run_code``).
    ``allowed`` are functions an admin allowed (``query.allowed_functions``). ``engine_calls(sql)``, when the
    warehouse can tell, gives every function its engine would run by name for ``sql`` (None: it cannot tell); asked
    only when some of the database's own code is reached otherwise than by a call. Code reached by syntax that no one
    can tell refuses every query that may run code.
    """
    if not may_run_code(guarded):
        return
    suspects = sorted(code for code in user_functions() if code.function not in allowed and code.name not in allowed)
    if not suspects:
        return
    called = called_functions(guarded)
    hidden = [code for code in suspects if code.reach != CALL]
    told = engine_calls(guarded.sql) if hidden and engine_calls is not None else None
    runs = operator_runs(guarded) if told is None and any(code.reach == OPERATOR for code in hidden) else set()
    for code in suspects:
        if code.name in called or (told is not None and code.name in told):
            raise _own_code_refused(code)
        if told is None and code.reach == OPERATOR and any(code.name in run for run in runs):
            raise _own_code_refused(code)
        if told is None and code.reach == SYNTAX:
            raise _own_code_refused(code, f": {guarded.dialect} may run it for syntax that does not name it "
                                          f"({_SYNTAX_EXAMPLES.get(guarded.dialect, 'operators')}), so no query that may run code is let through")

