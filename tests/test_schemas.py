"""The JSON Schemas: valid draft 2020-12, documented everywhere, shipped identical inside the package."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from vedder.schemas import KINDS, SCHEMA_DIR, load_schema, schema_path, validator

REPO_SCHEMAS = Path(__file__).parent.parent / "schemas"


def _properties(schema: dict, pointer: str = ""):
    """(pointer, property schema) for every property at every depth."""
    for name, sub in schema.get("properties", {}).items():
        yield f"{pointer}/{name}", sub
        yield from _properties(sub, f"{pointer}/{name}")
    if isinstance(schema.get("items"), dict):
        yield from _properties(schema["items"], f"{pointer}/items")


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_valid_draft_2020_12_with_an_id(kind):
    schema = load_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{kind}.schema.json")
    assert schema["description"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_has_a_description(kind):
    undocumented = [pointer for pointer, sub in _properties(load_schema(kind)) if not sub.get("description")]
    assert undocumented == []


@pytest.mark.parametrize("kind", KINDS)
def test_packaged_copy_is_identical_to_the_repository_schema(kind):
    """Editors use schemas/; an installed vedder uses its package copy. Fix: cp schemas/<kind>.schema.json vedder/schemas/"""
    assert schema_path(kind).read_bytes() == (REPO_SCHEMAS / f"{kind}.schema.json").read_bytes()


def test_packaged_schemas_live_in_the_package_data_folder():
    pyproject = (Path(__file__).parent.parent / "pyproject.toml").read_text()
    assert SCHEMA_DIR == Path(__import__("vedder").__file__).parent / "schemas"
    assert '"schemas/*.json"' in pyproject


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown schema kind 'pairs'"):
        schema_path("pairs")


@pytest.mark.parametrize(
    ("kind", "document", "ok"),
    [
        ("pair", {"question": "q", "sql": "SELECT 1", "verified_by": "ana", "verified_at": "2026-11-01"}, True),
        ("pair", {"question": "q", "sql": "SELECT 1", "verified_by": "ana", "verified_at": "2026-13-01"}, False),
        ("cluster", {"id": "music", "title": "t", "description": "d", "owners": {"team": "x"}, "datasets": ["a.*"]}, True),
        ("cluster", {"id": "Music", "title": "t", "description": "d", "owners": {"team": "x"}, "datasets": ["a.*"]}, False),
        ("cluster", {"id": "music", "title": "t", "description": "d", "owners": {"team": "x"}, "datasets": []}, False),
        ("dataset", {"table": "a.b", "columns": [{"name": "c", "type": "INT", "common_values": [{"value": "US", "frequency": 0.4}]}]}, True),
        ("dataset", {"table": "a.b", "columns": [{"name": "c"}]}, False),
        ("vedder", {"warehouse": "w.duckdb"}, True),
        ("vedder", {"warehouse": {"type": "duckdb"}}, False),
        ("vedder", {"health": {"weights": {"coverage": 0.5}, "fail_under": 60}}, True),
        ("vedder", {"health": {"weights": {"coverage": -1}}}, False),
        ("doc", {"title": "t", "deprecated": ["listening.plays_legacy"]}, True),
        ("proposal", {"id": "p1", "question": "q", "sql": "SELECT 1", "fingerprint": "f"}, True),
        ("rejected", [{"fingerprint": "f", "reason": "noise"}], True),
        ("rejected", {"fingerprint": "f", "reason": "noise"}, False),
    ],
)
def test_schema_accepts_and_refuses(kind, document, ok):
    assert validator(kind).is_valid(document) is ok


def test_health_weight_names_match_the_config_defaults():
    from vedder.config import DEFAULT_HEALTH_WEIGHTS

    weights = load_schema("vedder")["properties"]["health"]["properties"]["weights"]["properties"]
    assert set(weights) == set(DEFAULT_HEALTH_WEIGHTS)


def test_schema_files_are_pretty_json():
    for kind in KINDS:
        text = (REPO_SCHEMAS / f"{kind}.schema.json").read_text()
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
