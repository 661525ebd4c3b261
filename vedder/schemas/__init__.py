"""The JSON Schemas of vedder's files, shipped inside the package so an installed vedder validates.

``schemas/`` at the repository root is the copy editors point at (yaml-language-server ``$schema``
comments); this package holds an identical copy (tests/test_schemas.py keeps them in step).

>>> load_schema("pair")["required"]
['question', 'sql', 'verified_by', 'verified_at']
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

KINDS = ("vedder", "cluster", "dataset", "pair", "doc", "proposal", "rejected")
"""Every file kind with a schema: vedder.yaml, cluster.yaml, datasets, pairs, doc front matter, proposals."""

SCHEMA_DIR = Path(__file__).parent


def schema_path(kind: str) -> Path:
    """The packaged ``<kind>.schema.json``."""
    if kind not in KINDS:
        raise KeyError(f"unknown schema kind {kind!r} (known: {', '.join(KINDS)})")
    return SCHEMA_DIR / f"{kind}.schema.json"


@lru_cache(maxsize=None)
def load_schema(kind: str) -> dict[str, Any]:
    """The schema for ``kind`` as a dict."""
    return json.loads(schema_path(kind).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator(kind: str):
    """A draft 2020-12 validator for ``kind`` that also checks ``format: date``."""
    from jsonschema import Draft202012Validator, FormatChecker

    return Draft202012Validator(load_schema(kind), format_checker=FormatChecker(formats=["date"]))
