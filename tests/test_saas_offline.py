"""The offline answerer on a second project no one tuned it on: a B2B SaaS company (tests/fixtures/saas).

Its clusters (revenue, support) were written from the README alone, and its blind sets (fixtures/saas/
questions.jsonl, conversations.jsonl) from the clusters' pairs, profiles and docs before vedder was asked anything;
each answer must give the gold SQL's rows, each trap no answer. Scored by the marketplace's scorer.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from saas_project import SAAS, copy_saas
from vedder.config import load_config
from vedder.project import load_project


def _load_scorer():
    spec = importlib.util.spec_from_file_location("saas_score", SAAS / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCORE = _load_scorer()


@pytest.fixture(scope="module")
def saas_root(tmp_path_factory) -> Path:
    return copy_saas(tmp_path_factory.mktemp("saas") / "saas")


@pytest.fixture(scope="module")
def summary(saas_root):
    return SCORE.score(saas_root)


def test_the_project_loads_and_validates_clean(saas_root):
    from vedder.project.validate import validate_project

    project = load_project(load_config(saas_root))
    assert sorted(project.clusters) == ["revenue", "support"]
    assert [problem.format() for problem in validate_project(saas_root).problems] == []


def test_the_gold_sql_runs_and_returns_rows(saas_root):
    from vedder.warehouse import open_warehouse

    warehouse = open_warehouse(load_project(load_config(saas_root)).config)
    read_set = SCORE.shop_scorer().read_set
    try:
        items = read_set(SAAS / "questions.jsonl")
        items += [turn for conversation in read_set(SAAS / "conversations.jsonl") for turn in conversation["turns"]]
        for item in items:
            assert (item["expect"] == "abstain") is ("gold" not in item), item["question"]
            if "gold" in item:
                assert warehouse.execute(item["gold"]).rows, item["question"]
    finally:
        warehouse.close()


# Answered right today: coverage may grow, never shrink unnoticed.
# The blind run (before any fix): questions 26 right of 30 answered (27 with one blind label corrected: 'How many
# paying accounts are there in Germany?' is the count alone, see BENCHMARKS.md), conversations 34 of 35.
QUESTIONS_RIGHT = 27
CONVERSATIONS_RIGHT = 34


@pytest.mark.xfail(strict=True, reason="the blind run: 3 wrong questions, 1 wrong conversation turn, fixed next")
@pytest.mark.parametrize("part", ["questions", "conversations"])
def test_the_blind_sets_are_answered_right_or_not_at_all(summary, part):
    result = summary[part]
    assert result["wrong"] == [], result["wrong"]
    assert result["abstained_rightly"] == result["items"] - result["answerable"]
    assert result["right"] == {"questions": QUESTIONS_RIGHT, "conversations": CONVERSATIONS_RIGHT}[part], result


@pytest.fixture(scope="module")
def saas(saas_root):
    return load_project(load_config(saas_root))


def _answer(saas, question: str, cluster: str = "revenue"):
    from vedder.offline import answer_offline

    return answer_offline(saas, saas.clusters[cluster], question, today=SCORE.TODAY)


def test_including_what_the_docs_exclude_under_that_heading_is_declined(saas):
    """The docs' "## Internal test orgs" says `account_id > 25`; a column ``is_internal`` is also named after them, and
    the pair does not filter it: 'including internal test orgs' counted as honoured (blind run)."""
    for question in ("What is the current MRR per plan including internal test orgs?",
                     "MRR by plan with internal test orgs included"):
        result = _answer(saas, question)
        assert result.match is None, (question, result.match.explanation)
    # Near misses: excluding them, and a heading's words the pair's filter is not the docs' for (trials).
    excluding = _answer(saas, "What is the current MRR per plan excluding internal test orgs?")
    assert excluding.match is not None and excluding.match.pair.id == "mrr-by-plan", excluding.reason
    assert _answer(saas, "MRR by plan including trials").match is None
