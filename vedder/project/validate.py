"""``vedder validate``: check a whole project like a linter and report every problem, not the first.

Each file is checked against its JSON Schema (``vedder.schemas``), then across files: ids match folder
and file names and are unique, each pair's SQL is one read-only query (the one guard,
``vedder.sql.guard``) on its cluster's tables using only declared columns (``vedder.sql.analyze``),
listed datasets have dataset files, docs are not empty, overlapping clusters are noted. A file that
cannot be read or parsed is reported at its line, and checking goes on with the other files.

>>> Problem("clusters/x/pairs/a.yaml", 3, 1, "error", "missing required key 'sql'").format()
"clusters/x/pairs/a.yaml:3:1: error: missing required key 'sql'"
"""

from __future__ import annotations

import bisect
import math

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import yaml

from vedder.config import default_dialect
from vedder.errors import ProjectFileError, SQLRefused
from vedder.files import YamlDocument, escape_pointer, load_yaml_text, split_front_matter
from vedder.project.model import cache_folder, load_doc, matches_table

LEVELS = ("error", "warning", "note")
_GLOB = set("*?[")
_JSON_TYPES = {"object": "a mapping", "array": "a list", "string": "text", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "empty (null)"}


@dataclass(frozen=True)
class Problem:
    """One finding: where (path relative to the project, 1-based line and column, JSON pointer), how bad, what, what to do."""

    path: str
    line: int
    column: int
    level: str
    message: str
    pointer: str = ""
    hint: str = ""
    rule: str = ""

    def format(self) -> str:
        """``path:line:column: level: message``, the linter convention editors and CI understand."""
        return f"{self.path}:{self.line}:{self.column}: {self.level}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ValidationReport:
    """Every problem found in a project, sorted by file and position, plus how many files were read."""

    root: Path
    problems: list[Problem] = field(default_factory=list)
    files_checked: int = 0

    def count(self, level: str) -> int:
        return sum(1 for p in self.problems if p.level == level)

    @property
    def ok(self) -> bool:
        """No errors (warnings and notes do not fail validation)."""
        return self.count("error") == 0

    def summary(self) -> str:
        def plural(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        counts = ", ".join(plural(self.count(level), level) for level in LEVELS)
        return f"{counts} in {plural(self.files_checked, 'file')}"


def _json_type(value: Any) -> str:
    for name, types in (("null", type(None)), ("boolean", bool), ("integer", int), ("number", float),
                        ("string", str), ("array", list), ("object", dict)):
        if isinstance(value, types):
            return name
    return type(value).__name__


def _described(schema: dict[str, Any], fallback: str = "") -> str:
    return str(schema.get("description") or fallback)


def _not_finite(data: Any, pointer: str = "") -> Iterator[tuple[str, float]]:
    """(JSON pointer, value) of every .nan / .inf in ``data``: JSON Schema bounds let NaN through."""
    if isinstance(data, float) and not math.isfinite(data):
        yield pointer, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _not_finite(value, f"{pointer}/{escape_pointer(str(key))}")
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _not_finite(value, f"{pointer}/{i}")


def schema_problems(kind: str, data: Any) -> Iterator[tuple[str, str, str, str, str]]:
    """(level, rule, message, JSON pointer, hint) for each way ``data`` breaks the ``kind`` schema."""
    from vedder.schemas import schema_errors
    from vedder.suggest import closest

    for pointer, value in _not_finite(data):
        yield "error", "schema.number", f"{value!r} is not a number", pointer, "write a plain number (YAML's .nan and .inf are not)"

    for error in schema_errors(kind, data):
        pointer = "".join(f"/{escape_pointer(part)}" for part in error.path)
        schema, instance, keyword, rule = error.schema, error.instance, error.keyword, f"schema.{error.keyword}"
        if keyword == "additionalProperties":
            allowed = list(schema.get("properties", {}))
            for key in sorted(set(instance) - set(allowed), key=str):
                suggestion = closest(str(key), allowed)
                advice = f" (did you mean '{suggestion}'?)" if suggestion else ""
                yield ("warning", "schema.unknown_key", f"unknown key '{key}'{advice}", f"{pointer}/{escape_pointer(key)}",
                       f"vedder ignores it; known keys here: {', '.join(allowed)}")
        elif keyword == "required":
            for key in error.value:
                if key not in instance:
                    yield ("error", "schema.required", f"missing required key '{key}'", pointer,
                           f"add `{key}:` — {_described(schema['properties'].get(key, {}))}")
        elif keyword == "type" and pointer == "" and instance is None:
            yield "error", "schema.type", "the file is empty", pointer, _described(schema)
        elif keyword == "type":
            wanted = error.value if isinstance(error.value, list) else [error.value]
            expected = " or ".join(_JSON_TYPES.get(t, t) for t in wanted)
            yield "error", rule, f"expected {expected}, got {_JSON_TYPES.get(_json_type(instance), _json_type(instance))}", pointer, _described(schema)
        elif keyword == "enum":
            yield "error", rule, f"{instance!r} is not one of: {', '.join(map(str, error.value))}", pointer, _described(schema)
        elif keyword == "minLength":
            yield "error", rule, "must not be empty", pointer, _described(schema)
        elif keyword == "minItems":
            yield "error", rule, f"must list at least {error.value} item(s)", pointer, _described(schema)
        elif keyword == "pattern":
            yield "error", rule, f"{instance!r} is not in the expected form", pointer, _described(schema)
        elif keyword == "format":
            yield "error", rule, f"{instance!r} is not a valid {error.value} (YYYY-MM-DD)", pointer, _described(schema)
        else:
            bound = {"minimum": "below the minimum of", "maximum": "above the maximum of", "exclusiveMinimum": "not above"}
            yield "error", rule, f"{instance!r} is {bound.get(keyword, keyword)} {error.value}", pointer, _described(schema)


def _yaml_error(text: str) -> tuple[int, int, str] | None:
    """(line, column, problem) of the YAML syntax error in ``text``; None when it parses."""
    try:
        yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return (mark.line + 1, mark.column + 1, problem) if mark else (1, 1, problem)
    return None


def _sql_position(text: str, key: tuple[int, int], sql: str, line: int | None, column: int | None) -> tuple[int, int]:
    """Where (line, column) of ``sql`` lies in the file: inside a ``sql: |`` block or a plain one-line value.

    Quoted and folded values fall back to the position of the ``sql`` key.
    """
    lines = text.splitlines()
    key_line, key_column = key
    if line is None or key_line > len(lines):
        return key
    after_key = lines[key_line - 1][key_column - 1 :].partition(":")[2]
    value = after_key.strip()
    target = key_line + line
    if value.startswith("|") and target <= len(lines):
        indent = len(lines[target - 1]) - len(lines[target - 1].lstrip())
        return target, indent + (column or 1)
    if line == 1 and value and value == sql.splitlines()[0].strip():
        value_column = len(lines[key_line - 1]) - len(after_key.lstrip()) + 1
        return key_line, value_column + (column or 1) - 1
    return key


@dataclass
class _ClusterFacts:
    """What cross-file checks need to know about one cluster."""

    folder: Path
    document: YamlDocument | None
    id: str
    entries: list[str] = field(default_factory=list)
    default_schema: str | None = None
    team: str = ""
    columns: dict[str, dict[str, str]] = field(default_factory=dict)
    _prepared: Any = field(default=None, repr=False)

    def prepared_schema(self, dialect: str):
        """The dataset files' columns, prepared once for all of the cluster's pairs."""
        from vedder.sql.analyze import PreparedSchema

        if self._prepared is None:
            self._prepared = PreparedSchema(self.columns, dialect)
        return self._prepared

    def covers(self, table: str) -> bool:
        return any(matches_table(table, entry) for entry in self.entries)

    @property
    def tables(self) -> set[str]:
        listed = {e.lower() for e in self.entries if not _GLOB & set(e)}
        return listed | {t for t in self.columns if self.covers(t)}


class _CleanPairCache:
    """SQL checks that found nothing, remembered in ``.vedder/validate-cache.json`` (git-ignored).

    A pair whose SQL, dialect, cluster tables, default schema and declared columns are unchanged (and checked by
    the same checker code) is clean again without parsing it — and without importing sqlglot at all when every pair
    is. Only clean verdicts are kept: a pair with findings is always checked afresh, so positions stay exact.
    """

    def __init__(self, root: Path) -> None:
        import hashlib
        import json

        self.path = cache_folder(root) / "validate-cache.json"
        self._json, self._hashlib = json, hashlib
        code = [Path(__file__), Path(__file__).parent.parent / "sql" / "guard.py", Path(__file__).parent.parent / "sql" / "analyze.py"]
        self.code_version = ";".join(f"{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in code if p.exists())
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.clean = set(data["clean"]) if data.get("code") == self.code_version else set()
        except (OSError, ValueError, KeyError, TypeError):
            self.clean = set()
        self.seen: set[str] = set()
        self.changed = False

    def key(self, dialect: str, facts: "_ClusterFacts", sql: str) -> str:
        material = self._json.dumps([dialect, facts.entries, facts.default_schema, facts.columns, sql], sort_keys=True, default=str)
        return self._hashlib.sha256(material.encode()).hexdigest()[:32]

    def is_clean(self, key: str) -> bool:
        self.seen.add(key)
        return key in self.clean

    def mark_clean(self, key: str) -> None:
        self.clean.add(key)
        self.changed = True

    def save(self) -> None:
        """Keep the verdicts of this run's pairs only; never fail validation over the cache."""
        from vedder.files import atomic_write

        if not self.changed and self.clean <= self.seen:
            return
        try:
            atomic_write(self.path, self._json.dumps({"code": self.code_version, "clean": sorted(self.clean & self.seen)}))
        except OSError:
            pass


def _url_has_password(url: str) -> bool:
    from vedder.warehouse.postgres import redact_url

    return "***" in redact_url(url)


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.report = ValidationReport(root=root)
        self.dialect = "duckdb"
        self.clean_pairs = _CleanPairCache(root)

    def add(self, path: Path, level: str, rule: str, message: str, *, pointer: str = "", hint: str = "",
            document: YamlDocument | None = None, position: tuple[int, int] | None = None) -> None:
        line, column = position or (document.position(pointer) if document else (1, 1))
        relative = path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else str(path)
        self.report.problems.append(Problem(relative, line, column, level, message, pointer, hint, rule))

    def load(self, path: Path, kind: str) -> tuple[YamlDocument, str] | None:
        """Read and parse ``path``, check it against the ``kind`` schema; None when it cannot be parsed."""
        self.report.files_checked += 1
        try:
            text = path.read_text(encoding="utf-8")
            document = load_yaml_text(text, path)
        except (OSError, UnicodeDecodeError) as exc:
            self.add(path, "error", "file.unreadable", f"cannot read the file: {exc}", hint="check the file's permissions and encoding (UTF-8)")
            return None
        except ProjectFileError as exc:
            line, column, problem = _yaml_error(text) or (*getattr(exc, "position", (1, 1)), getattr(exc, "problem", "not YAML"))
            self.add(path, "error", "yaml.syntax", f"invalid YAML: {problem}", position=(line, column), hint=exc.hint)
            return None
        self.check_schema(path, kind, document)
        self.check_schema_header(path, kind, text)
        return document, text

    def check_schema(self, path: Path, kind: str, document: YamlDocument, data: Any = ...) -> None:
        data = document.data if data is ... else data
        for level, rule, message, pointer, hint in schema_problems(kind, data):
            self.add(path, level, rule, message, pointer=pointer, hint=hint, document=document)

    def check_schema_header(self, path: Path, kind: str, text: str) -> None:
        """A ``# yaml-language-server: $schema=`` header should point at this kind's schema, and exist."""
        first = text.split("\n", 1)[0]
        marker = "$schema="
        if not first.startswith("#") or "yaml-language-server" not in first or marker not in first:
            return
        target = first.split(marker, 1)[1].strip()
        expected = f"{kind}.schema.json"
        if target.rsplit("/", 1)[-1] != expected:
            self.add(path, "warning", "schema.header", f"the $schema header points at {target}, not {expected}",
                     position=(1, 1), hint=f"editors validate this file against the wrong schema; use …/schemas/{expected}")
        elif "://" not in target and not (path.parent / target).resolve().is_file():
            relative = Path("../" * (len(path.relative_to(self.root).parts) - 1)) / "schemas" / expected
            self.add(path, "warning", "schema.header", f"the $schema header points at {target}, which does not exist",
                     position=(1, 1), hint=f"use $schema={relative.as_posix()}")

    def check_config(self) -> None:
        path = self.root / "vedder.yaml"
        loaded = self.load(path, "vedder")
        if loaded is None or not isinstance(loaded[0].data, dict):
            return
        document = loaded[0]
        warehouse = document.data.get("warehouse")
        warehouse_type = warehouse.get("type", "duckdb") if isinstance(warehouse, dict) else "duckdb"
        needed = {"duckdb": "path", "postgres": "url"}.get(warehouse_type)
        if isinstance(warehouse, dict) and needed and not warehouse.get(needed):
            self.add(path, "error", "config.warehouse", f"a {warehouse_type} warehouse needs `{needed}`", pointer="/warehouse",
                     document=document, hint="e.g. `warehouse: {type: duckdb, path: warehouse.duckdb}` or `{type: postgres, url: postgresql://user@host:5432/db}`")
        if warehouse_type == "postgres" and isinstance(warehouse.get("url"), str) and _url_has_password(warehouse["url"]):
            self.add(path, "warning", "config.password_in_url", "the warehouse url holds a password, and vedder.yaml is usually in git",
                     pointer="/warehouse/url", document=document, hint="remove it from the url; set PGPASSWORD, ~/.pgpass or `password_env: VARIABLE`")
        dialect = document.data.get("dialect", default_dialect(str(warehouse_type)))
        if not isinstance(dialect, str):
            return
        if dialect == "duckdb":  # the default needs no check (and validate needs no sqlglot when pairs are cached)
            return
        from sqlglot.dialects.dialect import Dialect

        try:
            Dialect.get_or_raise(dialect)
        except ValueError as exc:
            self.add(path, "error", "config.dialect", f"unknown SQL dialect '{dialect}'", pointer="/dialect",
                     document=document, hint=str(exc).splitlines()[0])
            return
        self.dialect = dialect

    def ignore_strays(self, folder: Path, suffix: str, what: str) -> list[Path]:
        """Files in ``folder`` ending in ``suffix``; a warning for every other file (vedder never reads them)."""
        if not folder.is_dir():
            return []
        files = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix == suffix:
                files.append(path)
            else:
                self.add(path, "warning", "file.ignored", f"vedder ignores this file: {what} files end in {suffix}",
                         hint=f"rename it to {path.stem}{suffix} or move it out of {folder.name}/")
        return files

    def check_cluster(self, folder: Path) -> _ClusterFacts | None:
        path = folder / "cluster.yaml"
        if not path.is_file():
            self.add(folder, "warning", "cluster.missing_file", f"folder clusters/{folder.name} has no cluster.yaml and is ignored",
                     hint="add cluster.yaml (`vedder cluster new` scaffolds one) or move the folder out of clusters/")
            return None
        loaded = self.load(path, "cluster")
        data = loaded[0].data if loaded and isinstance(loaded[0].data, dict) else {}
        facts = _ClusterFacts(folder=folder, document=loaded[0] if loaded else None, id=str(data.get("id") or folder.name))
        if isinstance(data.get("datasets"), list):
            facts.entries = [str(e) for e in data["datasets"] if isinstance(e, str)]
        if isinstance(data.get("default_schema"), str):
            facts.default_schema = data["default_schema"]
        if isinstance(data.get("owners"), dict):
            facts.team = str(data["owners"].get("team") or "")
        if isinstance(data.get("id"), str) and data["id"] != folder.name:
            self.add(path, "error", "id.mismatch", f"id '{data['id']}' does not match the folder name '{folder.name}'",
                     pointer="/id", document=facts.document, hint=f"set `id: {folder.name}` or rename the folder to {data['id']}")
        self.check_datasets(facts)
        cluster_readable = loaded is not None and bool(facts.entries)
        pair_files = self.check_pairs(facts, cluster_readable)
        doc_files = self.check_docs(facts, cluster_readable)
        self.check_proposals(facts)
        if facts.document is not None:
            missing = [what for what, files in (("pairs", pair_files), ("docs", doc_files)) if not files]
            if missing:
                level = "warning" if len(missing) == 2 else "note"
                self.add(path, level, "cluster.empty", f"cluster '{facts.id}' has no {' and no '.join(missing)} yet",
                         position=(1, 1), hint="add vetted pairs (pairs/*.yaml) and business context (docs/*.md); `vedder propose` mines history for pairs")
        return facts

    def check_datasets(self, facts: _ClusterFacts) -> None:
        origin: dict[str, Path] = {}
        for path in self.ignore_strays(facts.folder / "datasets", ".yaml", "dataset"):
            loaded = self.load(path, "dataset")
            if loaded is None or not isinstance(loaded[0].data, dict):
                continue
            document, data = loaded[0], loaded[0].data
            table = data.get("table")
            if not isinstance(table, str):
                continue
            lowered = table.lower()
            if path.name.lower() != f"{lowered}.yaml":
                self.add(path, "error", "id.mismatch", f"file name does not match table '{table}'", pointer="/table",
                         document=document, hint=f"name the file {table}.yaml (datasets/<schema>.<table>.yaml)")
            if lowered in origin:
                self.add(path, "error", "id.duplicate", f"table '{table}' is also described by datasets/{origin[lowered].name}",
                         pointer="/table", document=document, hint="keep one dataset file per table")
                continue
            origin[lowered] = path
            columns = [c for c in data.get("columns") or [] if isinstance(c, dict) and isinstance(c.get("name"), str)]
            seen: dict[str, str] = {}
            for index, column in enumerate(data.get("columns") or []):
                name = column.get("name") if isinstance(column, dict) else None
                if isinstance(name, str) and name.lower() in seen:
                    self.add(path, "error", "dataset.duplicate_column", f"column '{name}' is declared twice",
                             pointer=f"/columns/{index}/name", document=document, hint="keep one entry per column")
                elif isinstance(name, str):
                    seen[name.lower()] = str(column.get("type") or "")
            facts.columns[lowered] = {c["name"].lower(): str(c.get("type") or "") for c in columns}
            if facts.entries and not facts.covers(lowered):
                self.add(path, "warning", "dataset.not_listed", f"table '{table}' is not listed in the cluster's datasets, so it is ignored",
                         pointer="/table", document=document, hint=f"add {table} to `datasets` in clusters/{facts.folder.name}/cluster.yaml, or delete this file")
        for index, entry in enumerate(facts.entries):
            is_pattern = bool(_GLOB & set(entry))
            if not any(matches_table(t, entry) for t in facts.columns):
                message = (f"pattern '{entry}' matches no dataset file" if is_pattern
                           else f"dataset '{entry}' has no dataset file (datasets/{entry}.yaml)")
                self.add(facts.folder / "cluster.yaml", "warning", "dataset.missing_file", message, pointer=f"/datasets/{index}",
                         document=facts.document, hint=f"run `vedder profile {facts.folder.name}` to write it; without it columns are not checked")

    def check_pairs(self, facts: _ClusterFacts, cluster_readable: bool) -> list[Path]:
        files = self.ignore_strays(facts.folder / "pairs", ".yaml", "pair")
        questions: dict[str, Path] = {}
        for path in files:
            loaded = self.load(path, "pair")
            if loaded is None or not isinstance(loaded[0].data, dict):
                continue
            document, text = loaded
            question = document.data.get("question")
            if isinstance(question, str) and question.strip():
                key = " ".join(question.lower().split())
                if key in questions:
                    self.add(path, "warning", "pair.duplicate_question", f"pair asks the same question as pairs/{questions[key].name}",
                             pointer="/question", document=document, hint="merge them, or make one a paraphrase of the other")
                questions.setdefault(key, path)
            sql = document.data.get("sql")
            if cluster_readable and isinstance(sql, str) and sql.strip():
                self.check_pair_sql(facts, path, document, text, sql, stale=bool(document.data.get("stale")))
        return files

    def check_pair_sql(self, facts: _ClusterFacts, path: Path, document: YamlDocument, text: str, sql: str, *, stale: bool) -> None:
        """The pair's SQL: one read-only query (the guard), on the cluster's tables, reading declared columns.

        A pair marked ``stale`` is not used, and usually broke for the reason it is stale: its findings are notes.
        """
        cache_key = self.clean_pairs.key(self.dialect, facts, sql)
        if self.clean_pairs.is_clean(cache_key):
            return
        found = len(self.report.problems)
        self._check_pair_sql(facts, path, text, sql, stale=stale, key=document.position("/sql"))
        if len(self.report.problems) == found:
            self.clean_pairs.mark_clean(cache_key)

    def _check_pair_sql(self, facts: _ClusterFacts, path: Path, text: str, sql: str, *, stale: bool, key: tuple[int, int]) -> None:
        from vedder.sql.analyze import check_columns
        from vedder.sql.guard import guard_sql

        def level(normal: str) -> str:
            return "note" if stale else normal

        try:
            guarded = guard_sql(sql, dialect=self.dialect, default_schema=facts.default_schema)
        except SQLRefused as exc:
            self.add(path, level("error"), f"sql.{exc.rule}", exc.message, pointer="/sql", position=key, hint=exc.hint)
            return
        for table in guarded.tables:
            if not facts.covers(table):
                listed = ", ".join(facts.entries)
                self.add(path, level("error"), "sql.table_not_in_cluster", f"table '{table}' is not one of cluster '{facts.id}''s datasets",
                         pointer="/sql", position=key, hint=f"use the cluster's tables ({listed}) or add the table to `datasets` in cluster.yaml")
        for problem in check_columns(guarded.expression, facts.prepared_schema(self.dialect), self.dialect, facts.default_schema, copy=False):
            if problem.kind == "unknown_table":
                continue
            declared = f"datasets/{problem.table}.yaml" if problem.table in facts.columns else "the cluster's dataset files"
            self.add(path, level("error" if problem.kind == "unknown_column" else "warning"), f"sql.{problem.kind}", problem.message, pointer="/sql",
                     position=_sql_position(text, key, sql, problem.line, problem.column),
                     hint=f"use a column declared in {declared}; re-run `vedder profile {facts.folder.name}` if the table changed")

    def check_docs(self, facts: _ClusterFacts, cluster_readable: bool) -> list[Path]:
        files = self.ignore_strays(facts.folder / "docs", ".md", "doc")
        for path in files:
            self.report.files_checked += 1
            try:
                doc = load_doc(path, facts.id)
            except (ProjectFileError, UnicodeDecodeError) as exc:
                self.add_doc_error(path, exc)
                continue
            if doc.front_matter is not None:
                self.check_schema(path, "doc", doc.front_matter, doc.front_matter.data or {})
            if not doc.body.strip():
                self.add(path, "error", "doc.empty", "the doc has no text", position=(doc.body_line, 1),
                         hint="write the business context (definitions, gotchas) below the front matter, or delete the file")
            if cluster_readable and doc.front_matter is not None:
                self.check_doc_references(facts, path, doc.front_matter)
        return files

    def add_doc_error(self, path: Path, exc: Exception) -> None:
        """Report why a doc could not be loaded: unreadable, bad front-matter YAML, or front matter that is not a mapping."""
        try:
            front = split_front_matter(path.read_text(encoding="utf-8"))[0]
        except (OSError, UnicodeDecodeError):
            front = None
        if front is None:
            self.add(path, "error", "file.unreadable", f"cannot read the doc: {getattr(exc, 'message', exc)}",
                     hint="check the file's permissions and encoding (UTF-8)")
        elif (error := _yaml_error(front)) is not None:
            line, column, problem = error
            self.add(path, "error", "yaml.syntax", f"invalid YAML in the front matter: {problem}", position=(line + 1, column),
                     hint="fix the YAML syntax at that line")
        else:
            self.add(path, "error", "schema.type", "the front matter must be a YAML mapping", position=(2, 1),
                     hint="write `key: value` lines between the --- markers")

    def check_doc_references(self, facts: _ClusterFacts, path: Path, front: YamlDocument) -> None:
        """Tables named in ``applies_to`` and ``deprecated`` should be the cluster's (typos go unnoticed otherwise)."""
        data = front.data if isinstance(front.data, dict) else {}
        for key in ("applies_to", "deprecated"):
            values = data.get(key)
            for index, value in enumerate(values if isinstance(values, list) else []):
                if not isinstance(value, str) or "." not in value:
                    continue
                parts = value.lower().split(".")
                table = ".".join(parts[:2])
                pointer = f"/{key}/{index}"
                if not facts.covers(table):
                    self.add(path, "warning", "doc.unknown_table", f"{key} names '{table}', which is not one of cluster '{facts.id}''s datasets",
                             pointer=pointer, document=front, hint="fix the name (schema.table or schema.table.column)")
                elif len(parts) == 3 and key == "applies_to" and table in facts.columns and parts[2] not in facts.columns[table]:
                    from vedder.suggest import closest

                    suggestion = closest(parts[2], set(facts.columns[table]))
                    advice = f" (did you mean '{suggestion}'?)" if suggestion else ""
                    self.add(path, "warning", "doc.unknown_column", f"applies_to names column '{parts[2]}', which {table} does not declare{advice}",
                             pointer=pointer, document=front, hint=f"use a column from datasets/{table}.yaml")

    def check_proposals(self, facts: _ClusterFacts) -> None:
        for path in self.ignore_strays(facts.folder / "proposals", ".yaml", "proposal"):
            kind = "rejected" if path.name == "rejected.yaml" else "proposal"
            loaded = self.load(path, kind)
            if kind == "proposal" and loaded and isinstance(loaded[0].data, dict):
                proposal_id = loaded[0].data.get("id")
                if isinstance(proposal_id, str) and proposal_id != path.stem:
                    self.add(path, "error", "id.mismatch", f"id '{proposal_id}' does not match the file name '{path.name}'",
                             pointer="/id", document=loaded[0], hint=f"set `id: {path.stem}` or rename the file")

    def check_across(self, clusters: list[_ClusterFacts]) -> None:
        """Cluster ids unique; tables listed by two clusters noted (overlapping domains)."""
        by_id: dict[str, _ClusterFacts] = {}
        for facts in clusters:
            if facts.id in by_id and facts.document is not None:
                self.add(facts.folder / "cluster.yaml", "error", "id.duplicate", f"cluster id '{facts.id}' is also used by clusters/{by_id[facts.id].folder.name}",
                         pointer="/id", document=facts.document, hint="cluster ids must be unique and equal their folder names")
            by_id.setdefault(facts.id, facts)
        noted: set[tuple[str, str, str]] = set()
        tables = [facts.tables for facts in clusters]
        sharing = _SharingIndex.of(clusters, tables)
        for later_index, later in enumerate(clusters):
            for earlier_index in sharing.before(later_index):
                earlier = clusters[earlier_index]
                shared = ({t for t in tables[later_index] if earlier.covers(t)}
                          | {t for t in tables[earlier_index] if later.covers(t)})
                for table in sorted(shared):
                    if (table, earlier.id, later.id) in noted:
                        continue
                    noted.add((table, earlier.id, later.id))
                    index = next((i for i, e in enumerate(later.entries) if matches_table(table, e)), 0)
                    team = f" (team {earlier.team})" if earlier.team else ""
                    self.add(later.folder / "cluster.yaml", "note", "cluster.overlap",
                             f"table '{table}' is also listed by cluster '{earlier.id}'{team}: overlapping domains",
                             pointer=f"/datasets/{index}", document=later.document,
                             hint="fine when both teams own the table's questions; otherwise keep it in one cluster")


@dataclass
class _SharingIndex:
    """Every cluster's table names (lower case), who lists each name, and the literal starts of glob entries (``sales.``
    of ``sales.*``): which clusters may list a table another lists, without comparing every pair (1,096 clusters: 119 s)."""

    names: list[set[str]]
    exact: dict[str, list[int]]
    globs: dict[str, list[int]]
    prefixes: list[list[str]]
    sorted_names: list[tuple[str, int]]

    @classmethod
    def of(cls, clusters: list[_ClusterFacts], tables: list[set[str]]) -> "_SharingIndex":
        names = [{t.lower() for t in listed} for listed in tables]
        exact: dict[str, list[int]] = {}
        for i, listed in enumerate(names):
            for name in listed:
                exact.setdefault(name, []).append(i)
        prefixes = [[entry.lower()[:min(entry.index(c) for c in _GLOB & set(entry))] for entry in facts.entries if _GLOB & set(entry)]
                    for facts in clusters]
        globs: dict[str, list[int]] = {}
        for i, starts in enumerate(prefixes):
            for start in starts:
                globs.setdefault(start, []).append(i)
        return cls(names, exact, globs, prefixes, sorted((name, i) for i, listed in enumerate(names) for name in listed))

    def before(self, later: int) -> list[int]:
        """The clusters before ``later`` that may list a table it lists, in order: one of the same name, or a glob whose
        literal start begins it, either way round."""
        found: set[int] = set()
        for name in self.names[later]:
            found.update(self.exact.get(name, ()))
            for end in range(len(name) + 1):
                found.update(self.globs.get(name[:end], ()))
        for prefix in self.prefixes[later]:
            at = bisect.bisect_left(self.sorted_names, (prefix, -1))
            while at < len(self.sorted_names) and self.sorted_names[at][0].startswith(prefix):
                found.add(self.sorted_names[at][1])
                at += 1
        return sorted(i for i in found if i < later)


def validate_project(root: Path) -> ValidationReport:
    """Check every file of the project at ``root`` (the folder holding vedder.yaml); never raises on content."""
    checker = _Checker(Path(root).resolve())
    checker.check_config()
    clusters_dir = checker.root / "clusters"
    folders = sorted(p for p in clusters_dir.iterdir() if p.is_dir() and not p.name.startswith(".")) if clusters_dir.is_dir() else []
    clusters = [facts for facts in map(checker.check_cluster, folders) if facts is not None]
    checker.check_across(clusters)
    checker.clean_pairs.save()
    report = checker.report
    report.problems.sort(key=lambda p: (p.path, p.line, p.column, LEVELS.index(p.level), p.message))
    return report
