"""The offline answerer on a project no one tuned it on: a reviewer's marketplace (tests/fixtures/shop).

The blind sets (fixtures/shop/questions.jsonl, conversations.jsonl) were written from the clusters' pairs, profiles
and docs before vedder was asked anything; each answer must give the gold SQL's rows, each trap no answer.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shop_project import SHOP, copy_shop
from vedder.config import load_config
from vedder.project import load_project

# Answered right today: coverage may grow, never shrink unnoticed.
# The blind run (before any fix): questions 20 right of 28 answered, conversations 27 of 30.
QUESTIONS_RIGHT = 20
CONVERSATIONS_RIGHT = 27


def _load_scorer():
    spec = importlib.util.spec_from_file_location("shop_score", SHOP / "score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCORE = _load_scorer()


@pytest.fixture(scope="module")
def shop_root(tmp_path_factory) -> Path:
    return copy_shop(tmp_path_factory.mktemp("shop") / "shop")


@pytest.fixture(scope="module")
def summary(shop_root):
    return SCORE.score(shop_root)


def test_the_project_loads_with_both_clusters(shop_root):
    project = load_project(load_config(shop_root))
    assert sorted(project.clusters) == ["marketplace", "web-analytics"]


def test_the_gold_sql_runs_and_returns_rows(shop_root):
    from vedder.warehouse import open_warehouse

    warehouse = open_warehouse(load_project(load_config(shop_root)).config)
    try:
        items = SCORE.read_set(SHOP / "questions.jsonl")
        items += [turn for conversation in SCORE.read_set(SHOP / "conversations.jsonl") for turn in conversation["turns"]]
        for item in items:
            assert (item["expect"] == "abstain") is ("gold" not in item), item["question"]
            if "gold" in item:
                assert warehouse.execute(item["gold"]).rows, item["question"]
    finally:
        warehouse.close()


@pytest.mark.xfail(strict=True, reason="the blind run: 8 wrong questions, 3 wrong conversation turns, fixed next")
@pytest.mark.parametrize("part", ["questions", "conversations"])
def test_the_blind_sets_are_answered_right_or_not_at_all(summary, part):
    result = summary[part]
    assert result["wrong"] == [], result["wrong"]
    assert result["abstained_rightly"] == result["items"] - result["answerable"]
    assert result["right"] == {"questions": QUESTIONS_RIGHT, "conversations": CONVERSATIONS_RIGHT}[part], result
