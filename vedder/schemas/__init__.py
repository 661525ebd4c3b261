"""The JSON Schemas of vedder's files, shipped inside the package so an installed vedder validates.

``schemas/`` at the repository root is the copy editors point at (yaml-language-server ``$schema``
comments); this package holds an identical copy (tests/test_schemas.py keeps them in step).

Checking uses a small evaluator of the keywords these schemas use (``KEYWORDS``) instead of importing
jsonschema, whose import alone costs more than validating a whole project; tests/test_schemas.py proves
that every schema uses only those keywords and that the evaluator finds the same errors as jsonschema.

>>> load_schema("pair")["required"]
['question', 'sql', 'verified_by', 'verified_at']
>>> [(e.path, e.keyword) for e in schema_errors("pair", {"question": "q", "sql": "", "verified_by": "a", "verified_at": "2026-02-30"})]
[(('sql',), 'minLength'), (('verified_at',), 'format')]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

KINDS = ("vedder", "cluster", "dataset", "pair", "doc", "proposal", "rejected")
"""Every file kind with a schema: vedder.yaml, cluster.yaml, datasets, pairs, doc front matter, proposals."""

SCHEMA_DIR = Path(__file__).parent

ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "default"})
KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "enum", "pattern", "format",
    "minLength", "minItems", "minimum", "maximum", "exclusiveMinimum",
})
"""The validation keywords the evaluator understands; the schemas may use only these (and ANNOTATIONS)."""


def schema_header(path: Path, kind: str) -> str | None:
    """The ``$schema`` URL for a yaml-language-server header in the file at ``path``: the relative path to the
    nearest ``schemas/<kind>.schema.json`` in a folder above it (what ``vedder init`` copies into a project),
    or None when there is none — a header pointing nowhere only earns a warning from ``vedder validate``.
    The search stops at the project (the folder with vedder.yaml): a ``schemas/`` above it is someone else's.
    """
    name = f"{kind}.schema.json"
    folder = Path(os.path.abspath(path)).parent
    for ancestor in (folder, *folder.parents):
        if (ancestor / "schemas" / name).is_file():
            return Path(os.path.relpath(ancestor / "schemas" / name, folder)).as_posix()
        if (ancestor / "vedder.yaml").is_file():
            return None
    return None


def schema_path(kind: str) -> Path:
    """The packaged ``<kind>.schema.json``."""
    if kind not in KINDS:
        raise KeyError(f"unknown schema kind {kind!r} (known: {', '.join(KINDS)})")
    return SCHEMA_DIR / f"{kind}.schema.json"


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict[str, Any]:
    """The schema for ``kind`` as a dict."""
    return json.loads(schema_path(kind).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class SchemaError:
    """One failed keyword: where in the document (``path``), which keyword with which value, in which subschema."""

    path: tuple[str | int, ...]
    keyword: str
    value: Any
    instance: Any
    schema: dict[str, Any]


_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _is_date(value: str) -> bool:
    try:
        return bool(_DATE.match(value)) and bool(dt.date.fromisoformat(value))
    except ValueError:
        return False


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 equals 1.0, but true does not equal 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _failures(schema: dict[str, Any], value: Any) -> list[str]:
    """Keywords of ``schema`` (not descending into children) that ``value`` fails."""
    failed = []
    wanted = schema.get("type")
    if wanted is not None and not any(_TYPES[t](value) for t in ([wanted] if isinstance(wanted, str) else wanted)):
        failed.append("type")
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        failed.append("enum")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            failed.append("minLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            failed.append("pattern")
        if schema.get("format") == "date" and not _is_date(value):
            failed.append("format")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            failed.append("minimum")
        if "maximum" in schema and value > schema["maximum"]:
            failed.append("maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            failed.append("exclusiveMinimum")
    if isinstance(value, list) and len(value) < schema.get("minItems", 0):
        failed.append("minItems")
    if isinstance(value, dict):
        if any(key not in value for key in schema.get("required", ())):
            failed.append("required")
        if schema.get("additionalProperties") is False and set(value) - set(schema.get("properties", {})):
            failed.append("additionalProperties")
    return failed


def _errors(schema: dict[str, Any], value: Any, path: tuple[str | int, ...]) -> list[SchemaError]:
    found = [SchemaError(path, keyword, schema[keyword], value, schema) for keyword in _failures(schema, value)]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key, item in value.items():
            if key in properties:
                found.extend(_errors(properties[key], item, (*path, key)))
            elif isinstance(schema.get("additionalProperties"), dict):
                found.extend(_errors(schema["additionalProperties"], item, (*path, key)))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            found.extend(_errors(schema["items"], item, (*path, index)))
    return found


def schema_errors(kind: str, document: Any) -> list[SchemaError]:
    """Every way ``document`` breaks the ``kind`` schema, outermost first."""
    return _errors(load_schema(kind), document, ())
