"""The agent's tools: search the cluster, describe a table, look up a column's values, run SQL.

A ``Toolbox`` is bound to one cluster and warehouse. ``call(name, arguments)`` never raises for anything
the model did wrong (bad arguments, unknown tool or table, refused or failing SQL): it returns an
``Observation`` whose text tells the model what went wrong and how to fix it. All SQL goes through
``vedder.sql.run.run_sql`` (the guard); the column lookup builds its SQL with sqlglot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from vedder.context.select import percent
from vedder.errors import QueryTimeout, ResultTooLarge, SQLRefused, TableNotFound, VedderError
from vedder.sql.analyze import column_sql
from vedder.warehouse import shown_value

if TYPE_CHECKING:
    from vedder.project import Cluster, Column, Doc, Pair, Project
    from vedder.sql.guard import GuardedSQL
    from vedder.warehouse import QueryResult, Warehouse

MAX_OBSERVATION_CHARS = 4000
SHOWN_ROWS = 20
SHOWN_CHARS = 500  # of one value in a result the model sees
VALUE_LOOKUP_LIMIT = 20
CANNOT_ANSWER = "If they cannot answer the question, say so."  # after naming the cluster's tables: no other reads
_OPERATORS = {"GTE": ">=", "GT": ">", "LTE": "<=", "LT": "<", "EQ": "=", "NEQ": "<>"}


@dataclass
class Observation:
    """What a tool call returns to the model; ``ok`` is False when the call failed."""

    text: str
    ok: bool = True


@dataclass
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    run: Callable[..., Observation]

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style function spec litellm sends to the model."""
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}

    def usage(self) -> str:
        """One line for the plain-text protocol: name, arguments and what it does."""
        args = ", ".join(
            f"\"{name}\": {spec.get('type', 'string')}{'' if name in self.parameters.get('required', []) else ' (optional)'}"
            for name, spec in self.parameters["properties"].items()
        )
        return f"- {self.name} {{{args}}}: {self.description}"


def _object(required: list[str], **properties: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: {"type": "string", "description": text} for name, text in properties.items()},
        "required": required,
    }


@dataclass
class SQLRun:
    """A run_sql call that succeeded (possibly with no rows)."""

    guarded: "GuardedSQL"
    result: "QueryResult"


@dataclass
class Toolbox:
    """The tools for one question on one cluster; remembers what was used and the successful queries."""

    project: "Project"
    cluster: "Cluster"
    warehouse: "Warehouse"
    runs: list[SQLRun] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    question: str = ""
    alternatives: list["Cluster"] = field(default_factory=list)
    context: Any = None
    history: list[dict[str, Any]] | None = None
    _vocabulary: Any = field(default=None, init=False, repr=False)
    _tried: set[str] = field(default_factory=set, init=False, repr=False)  # (cluster, its docs' filters), read on first use

    def __post_init__(self) -> None:
        self.candidates = [self.cluster, *self.alternatives]
        self.tools = {
            tool.name: tool
            for tool in (
                Tool("search", "Search the cluster's vetted question-SQL pairs and business docs (definitions, gotchas).",
                     _object(["query"], query="what to look for, in words"), self.search),
                Tool("describe_table", "Columns of a table with types, descriptions, null fractions and common values.",
                     _object(["table"], table="table name, schema.table"), self.describe_table),
                Tool("column_values", "The most frequent values of a column, to write exact WHERE filters; "
                     "`contains` narrows them to values containing that text.",
                     _object(["table", "column"], table="table name, schema.table", column="column name",
                             contains="optional text the values contain (case-insensitive)"), self.column_values),
                Tool("run_sql", "Run one read-only SQL query on the cluster's tables and see the result "
                     f"(first {SHOWN_ROWS} rows).", _object(["sql"], sql="one SELECT query"), self.run_sql),
            )
        }
        if self.alternatives:
            self.tools["switch_cluster"] = Tool(
                "switch_cluster", "Work on another of the candidate clusters instead (see the routing note): its "
                "context replaces the current one and SQL then runs on its tables.",
                _object(["cluster"], cluster="id of a candidate cluster"), self.switch_cluster)

    def specs(self) -> list[dict[str, Any]]:
        return [tool.spec() for tool in self.tools.values()]

    def usage(self) -> str:
        return "\n".join(tool.usage() for tool in self.tools.values())

    @property
    def last_run(self) -> SQLRun | None:
        return self.runs[-1] if self.runs else None

    def same_query_runs(self) -> int:
        """How many times the last successful query ran, this time included (as the guard wrote it)."""
        last = self.last_run
        return sum(run.guarded.sql == last.guarded.sql for run in self.runs) if last else 0

    def call(self, name: str, arguments: dict[str, Any] | str) -> Observation:
        """Run tool ``name``; ``arguments`` as a dict or the model's raw JSON string."""
        tool = self.tools.get(name)
        if tool is None:
            # Qwen2.5-Coder-0.5B called the table it meant to read ({"name": "listening.artists", "arguments": {"country": "SE"}}).
            table = f" {name} is a table of this cluster: read it with run_sql and a query on it." if name in self.cluster.tables else ""
            return Observation(f"Error: there is no tool '{name}'.{table} Available tools: {', '.join(self.tools)}. Only the "
                               "cluster's tables can be read (run_sql); not files, settings or other databases.", ok=False)
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except json.JSONDecodeError as exc:
                return Observation(f"Error: the arguments of {name} are not valid JSON ({exc.msg}). "
                                   f"Call {name} again with a JSON object like {self._example(tool)}.", ok=False)
        if not isinstance(arguments, dict):
            return Observation(f"Error: the arguments of {name} must be a JSON object like {self._example(tool)}.", ok=False)
        required = tool.parameters.get("required", [])
        missing = [p for p in required if not isinstance(arguments.get(p), str) or not arguments[p].strip()]
        if missing:
            return Observation(f"Error: {name} needs {', '.join(missing)}. Call it like {self._example(tool)}.", ok=False)
        known = {k: str(v) for k, v in arguments.items() if k in tool.parameters["properties"] and v is not None}
        observation = tool.run(**known)
        if len(observation.text) > MAX_OBSERVATION_CHARS:
            observation.text = observation.text[:MAX_OBSERVATION_CHARS] + "\n… (cut)"
        return observation

    @staticmethod
    def _example(tool: Tool) -> str:
        return json.dumps({name: "..." for name in tool.parameters.get("required", [])})

    def _cite(self, kind: str, source_id: str) -> None:
        entry = {"kind": kind, "id": source_id}
        if entry not in self.sources:
            self.sources.append(entry)

    def search(self, query: str) -> Observation:
        from vedder.context.search import search

        hits = search(self.cluster, query)
        if not hits:
            return Observation("No pair or doc matches. Try other words, or describe the tables.")
        lines = []
        for hit in hits:
            if hit.kind == "pair":
                self._cite("pair", pair_source(hit.item))
                lines.append(f"[pair {hit.id}] Q: {hit.title}\nSQL: {hit.text.strip()}")
            else:
                self._cite("doc", doc_source(self.project, hit.item))
                lines.append(f"[doc {hit.id}] {hit.title}\n{hit.text.strip()[:800]}")
        return Observation("\n\n".join(lines))

    def switch_cluster(self, cluster: str) -> Observation:
        """Move to another candidate cluster: later searches, descriptions and queries use its tables."""
        from vedder.context import build_context

        choices = {c.id: c for c in self.candidates}
        target = choices.get(cluster.strip().strip("`'\"").strip())
        if target is None:
            return Observation(f"Error: '{cluster}' is not a candidate cluster. Candidates: {', '.join(choices)}.", ok=False)
        if target is self.cluster:
            return Observation(f"Already working on cluster {target.id}.")
        # The answer comes from one cluster: queries run and pairs or docs found in the old one do not back it.
        self.cluster, self.runs, self.sources = target, [], []
        self.context = build_context(self.project, target, self.question, history=self.history)
        return Observation(f"Now working on cluster {target.id} (owned by {target.owners.team or 'no team'}); "
                           f"queries run on its tables only. Its context:\n\n{self.context.text}")

    def resolve_table(self, table: str) -> str:
        """The cluster's fully qualified name for ``table``; TableNotFound when the cluster has no such table."""
        lowered = table.strip().strip('"').lower()
        tables = {t.lower(): t for t in self.cluster.tables}
        if "." not in lowered:
            if self.cluster.default_schema and f"{self.cluster.default_schema.lower()}.{lowered}" in tables:
                lowered = f"{self.cluster.default_schema.lower()}.{lowered}"
            else:
                same_name = [t for t in tables if t.rsplit(".", 1)[-1] == lowered]
                lowered = same_name[0] if len(same_name) == 1 else lowered
        if lowered in tables:
            return tables[lowered]
        if "." in lowered and self.cluster.covers(lowered):
            return lowered
        raise TableNotFound(f"table '{table}' is not part of cluster '{self.cluster.id}'",
                            f"the cluster's tables: {', '.join(self.cluster.tables) or 'none'}")

    def _live_columns(self, table: str) -> list[tuple[str, str]] | None:
        try:
            return self.warehouse.columns(table)
        except TableNotFound:
            return None

    def describe_table(self, table: str) -> Observation:
        try:
            name = self.resolve_table(table)
        except TableNotFound as exc:
            return Observation(f"Error: {exc.message}. {exc.hint}. {CANNOT_ANSWER}", ok=False)
        dataset = self.cluster.dataset(name)
        live = self._live_columns(name)
        lines = [f"Table {name}" + (f": {dataset.description.strip()}" if dataset and dataset.description else "")]
        if name.lower() in self.cluster.deprecated_tables:
            lines.append("DEPRECATED: the cluster's docs say not to use this table (search the docs for its replacement).")
        if dataset and dataset.row_count is not None:
            lines.append(f"rows: {dataset.row_count:,}")
        if dataset and dataset.partitioning:
            part = dataset.partitioning
            lines.append(f"partitioned by {part.get('column')} ({part.get('granularity', '')}, {part.get('first', '?')} … {part.get('last', '?')})")
        if live is None:
            lines.append("WARNING: the table is not in the warehouse; queries on it will fail.")
        profiled = {c.name.lower(): c for c in dataset.columns} if dataset else {}
        live_types = {n.lower(): (n, t) for n, t in live or []}
        names = [n for n, _ in live] if live is not None else [c.name for c in profiled.values()]
        names += [c.name for key, c in profiled.items() if live is not None and key not in live_types]
        lines.append("columns:")
        for column_name in names:
            column = profiled.get(column_name.lower())
            live_type = live_types.get(column_name.lower(), (None, None))[1]
            lines.append(_describe_column(column_sql(column_name, self.project.config.dialect), live_type, column,
                                              missing=live is not None and live_type is None))
        return Observation("\n".join(lines))

    def column_values(self, table: str, column: str, contains: str | None = None) -> Observation:
        try:
            name = self.resolve_table(table)
        except TableNotFound as exc:
            return Observation(f"Error: {exc.message}. {exc.hint}. {CANNOT_ANSWER}", ok=False)
        live = self._live_columns(name) or []
        actual = next((n for n, _ in live if n.lower() == column.strip().strip('"').lower()), None)
        if actual is None:
            known = ", ".join(n for n, _ in live) or "none (the table is not in the warehouse)"
            return Observation(f"Error: table {name} has no column '{column}'. Its columns: {known}.", ok=False)
        lines = []
        dataset = self.cluster.dataset(name)
        profiled = dataset.column(actual) if dataset else None
        if profiled and profiled.common_values and not contains:
            lines.append("profiled common values: " + _common_values(profiled, limit=10))
        try:
            guarded, result = self._run(_value_lookup_sql(name, actual, contains, self.project.config.dialect))
        except VedderError as exc:
            return Observation("\n".join([*lines, f"Error: the value lookup failed: {exc.message}"]), ok=bool(lines))
        if not result.rows:
            lines.append(f"no values of {actual}" + (f" contain '{contains}'" if contains else "") + ".")
        else:
            values = ", ".join(f"{value!r} ({count:,})" for value, count in result.rows)
            lines.append(f"values of {actual} with row counts{' (matching)' if contains else ''}: {values}")
        return Observation("\n".join(lines))

    def guard(self, sql: str) -> "GuardedSQL":
        """``sql`` as the guard writes it for this cluster (SQLRefused when it refuses it), without running it."""
        from vedder.sql.run import guard_for_cluster

        return guard_for_cluster(sql, self.cluster, self.project.config.dialect)

    def _run(self, sql: str) -> tuple["GuardedSQL", "QueryResult"]:
        from vedder.sql.run import run_sql

        return run_sql(sql, project=self.project, warehouse=self.warehouse, cluster=self.cluster)

    def tried(self, sql: str) -> bool:
        """Whether run_sql was given this query before (spelled the same once parsed), whatever came of it."""
        return _normalized(sql, self.project.config.dialect) in self._tried

    def run_sql(self, sql: str) -> Observation:
        self._tried.add(_normalized(sql, self.project.config.dialect))
        try:
            guarded, result = self._run(sql)
        except SQLRefused as exc:
            # The model is told what it may read instead, and to say so when that cannot answer: a question asking
            # for files, settings, catalogs or other clusters' tables is answered "cannot", not retried elsewhere.
            reason = exc.message.removeprefix(f"SQL refused ({exc.rule}): ")
            return Observation(f"Refused by the SQL guard (rule {exc.rule}): {reason}. {exc.hint}. Only one read-only "
                               f"SELECT on this cluster's tables runs: {', '.join(self.cluster.tables)}. {CANNOT_ANSWER}",
                               ok=False)
        except QueryTimeout as exc:
            return Observation(f"Error: {exc.message}. Make the query cheaper (filters, LIMIT, fewer joins).", ok=False)
        except ResultTooLarge as exc:
            return Observation(f"Error: {exc.message}. Select fewer or narrower columns, or aggregate.", ok=False)
        except VedderError as exc:
            columns = self.columns_of_tables_in(sql)
            return Observation(f"SQL error: {exc.message}. Fix the query and run it again "
                               + (f"using only these columns: {columns}." if columns else
                                  "(describe_table shows the exact column names)."), ok=False)
        self.runs.append(SQLRun(guarded, result))
        skipped = "".join(f"\n\n{skip.note()}" for skip in self.skipped_filters(guarded))
        if not result.rows:
            return Observation("The query ran and returned no rows. If it filters on values, check them with "
                               f"column_values (case, spelling, codes); if no rows is the answer, say so.{skipped}")
        return Observation(format_result(result) + skipped)

    def columns_of_tables_in(self, sql: str) -> str:
        """The live columns of the cluster's tables ``sql`` reads ('listening.artists: artist_id, name, …'), so a
        model that used a column the table lacks sees which it has, and the nearest name for each column it used
        that none of them has ('platform: did you mean signup_platform?'); empty when the SQL does not parse."""
        import difflib

        import sqlglot
        from sqlglot import exp

        try:
            tree = sqlglot.parse_one(sql, read=self.project.config.dialect)
        except sqlglot.errors.SqlglotError:
            return ""
        named = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        shown: dict[str, list[str]] = {}
        for table in tree.find_all(exp.Table):
            if not table.name or (not table.db and table.name.lower() in named):
                continue
            try:
                name = self.resolve_table(f"{table.db}.{table.name}" if table.db else table.name)
            except TableNotFound:
                continue
            live = self._live_columns(name)
            if live and name not in shown:
                shown[name] = [column for column, _ in live]
        known = {column.lower(): column for columns in shown.values() for column in columns}
        aliases = {alias.alias.lower() for alias in tree.find_all(exp.Alias)}
        unknown = dict.fromkeys(c.name for c in tree.find_all(exp.Column)
                                if c.name and c.name.lower() not in known and c.name.lower() not in aliases)
        # A name inside another (platform, signup_platform) or a typo; not any look-alike (user_id is no artist_id).
        guesses = [f"{column}: did you mean {near[0]}?" for column in unknown
                   if (near := [known[k] for k in known if min(len(k), len(column)) > 3 and (column.lower() in k or k in column.lower())]
                       or [known[k] for k in difflib.get_close_matches(column.lower(), list(known), n=1, cutoff=0.8)])]
        listed = "; ".join(f"{name}: {', '.join(columns)}" for name, columns in shown.items())
        return listed + (f" ({' '.join(guesses)})" if listed and guesses else "")

    def skipped_filters(self, guarded: "GuardedSQL") -> list["SkippedFilter"]:
        """The filters the cluster's docs say always to apply (a 'Test accounts' section: always filter
        `user_id >= 100`) that the query skips though a table it reads has the column; a breakdown by the column
        shows those rows apart, so it counts as filtering."""
        from sqlglot import exp

        from vedder.curation.describe import Vocabulary

        if self._vocabulary is None or self._vocabulary[0] is not self.cluster:
            self._vocabulary = (self.cluster, Vocabulary.of(self.cluster, self.project.config.dialect))
        used = {c.name.lower() for node in guarded.expression.find_all(exp.Where, exp.Group, exp.Join)
                for c in node.find_all(exp.Column)}
        skipped = []
        for (column, operator, value), explained in self._vocabulary[1].documented.items():
            if not explained.excludes or not explained.subject or column in used:
                continue
            tables = [t for t in guarded.tables if (d := self.cluster.dataset(t)) is not None and d.column(column) is not None
                      and explained.subject.rstrip("s") != t.rpartition(".")[2].rstrip("s")]
            if tables:
                shown = value[:-2] if value.endswith(".0") else value
                skipped.append(SkippedFilter(explained.subject, f"{column} {_OPERATORS.get(operator, operator)} {shown}",
                                             column, tables))
        return skipped


@dataclass(frozen=True)
class SkippedFilter:
    """A filter the cluster's docs (section ``subject``) say always to apply that a query skips, though ``tables``
    it reads have ``column``."""

    subject: str
    filter: str
    column: str
    tables: list[str]

    def note(self) -> str:
        """What the model is told with the query's result, so it adds the filter."""
        return (f"Note: the cluster's docs ({self.subject}) say to always filter `{self.filter}`, and "
                f"{', '.join(self.tables)} has {self.column}, but this query does not filter on it. Add the filter and "
                "run the query again, unless the question asks to include those rows.")

    def caveat(self) -> str:
        """What the person is told under an answer whose query skips it."""
        return (f"The query does not filter `{self.filter}`, which the cluster's docs ({self.subject}) say always to "
                f"apply ({', '.join(self.tables)} has {self.column}): the result may include those rows.")


def _normalized(sql: str, dialect: str) -> str:
    import sqlglot

    try:
        return sqlglot.parse_one(sql, read=dialect).sql(dialect=dialect)
    except sqlglot.errors.SqlglotError:
        return " ".join(sql.split())


def pair_source(pair: "Pair") -> str:
    """A pair's source id: ``cluster/slug``."""
    return f"{pair.cluster}/{pair.id}"


def doc_source(project: "Project", doc: "Doc") -> str:
    """A doc's source id: its path relative to the project."""
    try:
        return doc.path.relative_to(project.root).as_posix()
    except ValueError:
        return doc.path.as_posix()


def _describe_column(name: str, live_type: str | None, column: "Column | None", *, missing: bool) -> str:
    parts = [f"- {name} {live_type or (column.type if column else '')}".rstrip()]
    if missing:
        parts.append("(in the dataset file but NOT in the warehouse: do not use)")
    if column is None:
        return " ".join(parts + ["(not profiled)"])
    if column.description:
        parts.append(f"— {column.description.strip()}")
    facts = []
    if column.null_fraction:
        facts.append(f"nulls {percent(column.null_fraction)}")
    if column.distinct_count is not None:
        facts.append(f"distinct {column.distinct_count:,}")
    if column.min is not None and column.max is not None:
        facts.append(f"range {column.min} … {column.max}")
    if column.common_values:
        facts.append("common: " + _common_values(column, limit=5))
    if facts:
        parts.append(f"[{'; '.join(facts)}]")
    return " ".join(parts)


def _common_values(column: "Column", *, limit: int) -> str:
    shown = []
    for entry in column.common_values[:limit]:
        frequency = entry.get("frequency")
        share = f" ({frequency:.0%})" if isinstance(frequency, float) and frequency <= 1 else ""
        shown.append(f"{entry.get('value')!r}{share}")
    return ", ".join(shown)


def _value_lookup_sql(table: str, column: str, contains: str | None, dialect: str) -> str:
    """``SELECT column, COUNT(*) … GROUP BY … ORDER BY count DESC``, built with sqlglot (quoted names and literal)."""
    import sqlglot
    from sqlglot import exp

    schema, _, name = table.rpartition(".")
    target = exp.column(column, quoted=True)
    query = (
        sqlglot.select(target.as_("value", quoted=True), exp.Count(this=exp.Star()).as_("n", quoted=True))
        .from_(exp.table_(name, db=schema or None, quoted=True))
        .group_by(target)
        .order_by(exp.Ordered(this=exp.column("n", quoted=True), desc=True), exp.Ordered(this=exp.column("value", quoted=True)))
        .limit(VALUE_LOOKUP_LIMIT)
    )
    if contains:
        pattern = exp.Literal.string(f"%{contains}%")
        query = query.where(exp.ILike(this=exp.cast(target, exp.DataType.Type.VARCHAR), expression=pattern))
    return query.sql(dialect=dialect)


def format_result(result: "QueryResult", limit: int = SHOWN_ROWS) -> str:
    """A result as a small pipe table for the model, with the row count."""
    header = " | ".join(result.columns)
    rows = [" | ".join(shown_value(v, SHOWN_CHARS) for v in row) for row in result.rows[:limit]]
    count = f"{len(result.rows)}{'+' if result.truncated else ''} rows"
    more = f" (first {limit} shown)" if len(result.rows) > limit else ""
    return "\n".join([f"{count}{more}", header, *rows])
