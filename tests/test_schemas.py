"""The JSON Schemas: valid draft 2020-12, documented everywhere, shipped identical inside the package."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from vedder.errors import ProjectFileError
from vedder.files import load_yaml_text, split_front_matter
from vedder.schemas import ANNOTATIONS, KEYWORDS, KINDS, SCHEMA_DIR, load_schema, schema_errors, schema_path

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
        ("vedder", {"warehouse": {"type": "sqlite", "path": "w.db"}}, False),
        ("vedder", {"health": {"weights": {"coverage": 0.5}, "fail_under": 60}}, True),
        ("vedder", {"health": {"weights": {"coverage": -1}}}, False),
        ("doc", {"title": "t", "deprecated": ["listening.plays_legacy"]}, True),
        ("proposal", {"id": "p1", "question": "q", "sql": "SELECT 1", "fingerprint": "f"}, True),
        ("rejected", [{"fingerprint": "f", "reason": "noise"}], True),
        ("rejected", {"fingerprint": "f", "reason": "noise"}, False),
    ],
)
def test_schema_accepts_and_refuses(kind, document, ok):
    assert (schema_errors(kind, document) == []) is ok
    assert _reference(kind).is_valid(document) is ok


def test_health_weight_names_match_the_config_defaults():
    from vedder.config import DEFAULT_HEALTH_WEIGHTS

    weights = load_schema("vedder")["properties"]["health"]["properties"]["weights"]["properties"]
    assert set(weights) == set(DEFAULT_HEALTH_WEIGHTS)


def test_schema_files_are_pretty_json():
    for kind in KINDS:
        text = (REPO_SCHEMAS / f"{kind}.schema.json").read_text()
        assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"


def _subschemas(schema: dict):
    yield schema
    for child in schema.get("properties", {}).values():
        yield from _subschemas(child)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from _subschemas(schema[key])


@pytest.mark.parametrize("kind", KINDS)
def test_schemas_use_only_keywords_the_evaluator_knows(kind):
    for subschema in _subschemas(load_schema(kind)):
        assert set(subschema) <= KEYWORDS | ANNOTATIONS, set(subschema) - KEYWORDS - ANNOTATIONS


def _reference(kind: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(kind), format_checker=FormatChecker(formats=["date"]))


def _kind_of(path: Path) -> str | None:
    if path.name == "vedder.yaml":
        return "vedder"
    if path.name == "cluster.yaml":
        return "cluster"
    if path.name == "rejected.yaml":
        return "rejected"
    return {"datasets": "dataset", "pairs": "pair", "docs": "doc", "proposals": "proposal"}.get(path.parent.name)


def _corpus(*folders: Path) -> list[tuple[str, object]]:
    """Every project file under ``folders``, parsed."""
    documents = []
    for path in sorted(p for folder in folders for p in folder.rglob("*")):
        kind = _kind_of(path)
        if kind is None or not path.is_file() or path.suffix not in (".yaml", ".md"):
            continue
        text = path.read_text()
        if path.suffix == ".md":
            text = split_front_matter(text)[0] or ""
        try:
            data = load_yaml_text(text, path).data
        except ProjectFileError:
            continue
        documents.append((kind, data if path.suffix == ".yaml" else data or {}))
    return documents


_WRONG = [None, "", "x", -1, 0, 1.5, 2, True, [], ["x"], {}, {"unexpected": 1}, "2026-02-30", "2026-01-05"]


def _mutations(document):
    """The document with each key removed and each value replaced by each wrong value, one at a time."""
    if isinstance(document, dict):
        for key in document:
            removed = {k: v for k, v in document.items() if k != key}
            yield removed
            for wrong in _WRONG:
                yield {**document, key: wrong}
            for inner in _mutations(document[key]):
                yield {**document, key: inner}
    elif isinstance(document, list) and document:
        for wrong in _WRONG:
            yield [wrong, *document[1:]]
        for inner in _mutations(document[0]):
            yield [inner, *document[1:]]


def _found(errors) -> set[tuple]:
    return {(tuple(e.path), e.keyword) for e in errors}


def _found_by_reference(kind, document) -> set[tuple]:
    return {(tuple(e.absolute_path), e.validator) for e in _reference(kind).iter_errors(document)}


def test_evaluator_finds_what_jsonschema_finds():
    """The fast evaluator agrees with jsonschema on every fixture and demo file, and thousands of mutations of the fixtures."""
    root = Path(__file__).parent.parent
    compared = 0
    for kind, document in _corpus(root / "tests/fixtures/validate", root / "clusters"):
        assert _found(schema_errors(kind, document)) == _found_by_reference(kind, document), (kind, document)
    for kind, document in _corpus(root / "tests/fixtures/validate/valid"):
        for variant in _mutations(copy.deepcopy(document)):
            assert _found(schema_errors(kind, variant)) == _found_by_reference(kind, variant), (kind, variant)
            compared += 1
    assert compared > 1000


def test_packaged_answer_schema_is_identical():
    """`vedder ask --json` is documented by schemas/answer.schema.json; the package ships the same file."""
    assert (SCHEMA_DIR / "answer.schema.json").read_bytes() == (REPO_SCHEMAS / "answer.schema.json").read_bytes()
