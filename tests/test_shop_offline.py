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
from vedder.offline import answer_offline, self_problems
from vedder.context.index import cluster_index
from vedder.project import load_project

# Answered right today: coverage may grow, never shrink unnoticed.
# The blind run: questions 20 right of 28 answered, conversations 27 of 30 (29 of 30 with the two fraud turns
# relabelled, see conversations.jsonl); after the fixes every answer is right, and more are answered:
QUESTIONS_RIGHT = 25
CONVERSATIONS_RIGHT = 35


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


@pytest.mark.parametrize("part", ["questions", "conversations"])
def test_the_blind_sets_are_answered_right_or_not_at_all(summary, part):
    result = summary[part]
    assert result["wrong"] == [], result["wrong"]
    assert result["abstained_rightly"] == result["items"] - result["answerable"]
    assert result["right"] == {"questions": QUESTIONS_RIGHT, "conversations": CONVERSATIONS_RIGHT}[part], result


@pytest.fixture(scope="module")
def shop(shop_root):
    return load_project(load_config(shop_root))


def _answer(shop, question: str, cluster: str = "marketplace"):
    return answer_offline(shop, shop.clusters[cluster], question, today=SCORE.TODAY)


MISLABELLED = "what-was-gmv-per-seller-tier-in-october-2026"
TIER = "what-is-the-gmv-per-tier-without-deleted-at-in-october-2026"


def test_a_pair_whose_query_does_not_split_as_its_question_says_answers_nothing(shop):
    """The mined pair 'What was GMV per seller tier in October 2026?' holds refunds per buyer country: its own
    question, asked word for word, got that query (blind run)."""
    for question in ("What was GMV per seller tier in October 2026?", "and per seller tier?"):
        result = _answer(shop, question)
        assert result.match is None or result.match.pair.id != MISLABELLED, result.match.explanation
    tier = _answer(shop, "What is the GMV per seller tier in October 2026, excluding test accounts?")
    assert tier.match is not None and tier.match.pair.id == TIER, tier.reason
    # Near misses: every other pair's query splits as its question says (a "per" of an ungrouped query is a ratio).
    index = cluster_index(shop.clusters["marketplace"])
    assert [p.id for p in index.pairs if self_problems(index, p, "duckdb")] == [MISLABELLED]


def test_a_code_the_docs_name_is_adapted_and_otherwise_declined(shop):
    """The docs say `status_code`: 4 = delivered, 9 = cancelled. 'most cancelled orders' got the delivered count."""
    cancelled = _answer(shop, "Which 5 sellers in SE had the most cancelled orders in 2026?")
    assert cancelled.match is not None, cancelled.reason
    assert "o.status_code = 9" in cancelled.match.sql and "AS cancelled_orders" in cancelled.match.sql
    assert cancelled.match.explanation.endswith("adapted status_code 4 (delivered) → 9 (cancelled)")
    # Near misses: a pair that excludes the code, a pair without it, and two codes for one.
    for question in ("What was GMV per month in 2026 for cancelled orders?",
                     "How much was refunded per reason in 2026 for delivered orders?",
                     "Which 5 sellers in SE had the most shipped or cancelled orders in 2026?"):
        result = _answer(shop, question)
        assert result.match is None, (question, result.match.explanation)
    same = _answer(shop, "Which 5 sellers in SE had the most delivered orders in 2026?")
    assert same.match is not None and same.match.explanation == "answered from vetted pair top-sellers-country"


def test_a_value_is_adapted_only_to_what_the_filtered_tables_column_holds(shop):
    """Sellers are in SE, NO, DK and FI; buyers also in DE: 'sellers in Germany' was adapted to 'DE'."""
    germany = _answer(shop, "Which 5 sellers in Germany had the most delivered orders in 2026?")
    assert germany.match is None, germany.match.explanation
    norway = _answer(shop, "Which 5 sellers in Norway had the most delivered orders in 2026?")
    assert norway.match is not None and "s.country_code = 'NO'" in norway.match.sql, norway.reason


def test_what_a_question_lists_or_counts_is_what_the_pair_does(shop):
    """'Which 5 buyers …' of the sellers pair, 'How many events …' of the sessions pair (the docs define a
    session) were answered with the pair's rows."""
    assert _answer(shop, "Which 5 buyers in SE had the most delivered orders in 2026?").match is None
    assert _answer(shop, "How many events per platform were there in October 2026?", "web-analytics").match is None
    # Near misses: the pair's own subject, said another way.
    assert _answer(shop, "Top 10 sellers in SE by delivered orders in 2026").match is not None
    assert _answer(shop, "Number of sessions on each platform in Oct 2026", "web-analytics").match is not None


def test_a_headline_says_its_split_and_its_count_in_a_word(shop):
    """"Monthly GMV for 2026" of "GMV per month", "Sessions by platform last month" of "How many sessions per
    platform …" (``COUNT(DISTINCT session_id) AS sessions``): both were declined at the blind run."""
    monthly = _answer(shop, "Monthly GMV for 2026")
    assert monthly.match is not None and monthly.match.pair.id == "gmv-by-month", monthly.reason
    sessions = _answer(shop, "Sessions by platform last month", "web-analytics")
    assert sessions.match is not None and "DATE '2026-10-01'" in sessions.match.sql, sessions.reason
    # Near misses: another grain, another statistic, another split.
    for question, cluster in (("Weekly GMV for 2026", "marketplace"), ("Average sessions by platform last month", "web-analytics"),
                              ("Sessions by event type last month", "web-analytics")):
        result = _answer(shop, question, cluster)
        assert result.match is None, (question, result.match.explanation)


def _follow(shop, first: str, question: str, declined: list[str]):
    before = _answer(shop, first)
    previous = {"question": first, "sql": before.match.sql, "pair": before.match.pair.id, "declined": declined}
    return answer_offline(shop, shop.clusters["marketplace"], question, previous=previous, today=SCORE.TODAY)


def test_a_declined_follow_up_is_let_go_by_a_split_of_its_column_or_the_answers_subject_said_again(shop):
    """"and in SEK only?" (declined), then "ok, GMV per currency for October 2026 then" asks for every currency;
    "what about buyers?" (declined), then "ok, and sellers in Finland then" is about sellers again. Both were
    declined at the blind run as if SEK and buyers still held."""
    gmv, sellers = "What was GMV per month in 2026?", "Which 5 sellers in SE had the most delivered orders in 2026?"
    currency = _follow(shop, gmv, "ok, GMV per currency for October 2026 then", ["and in SEK only?"])
    assert currency.match is not None and currency.match.pair.id == "gmv-by-currency", currency.reason
    finland = _follow(shop, sellers, "ok, and sellers in Finland then", ["what about buyers?"])
    assert finland.match is not None and "s.country_code = 'FI'" in finland.match.sql, finland.reason
    # Near misses: the declined value or subject not let go, or asked again.
    for first, question, declined in ((gmv, "ok, GMV for October 2026 then", ["and in SEK only?"]),
                                      (gmv, "ok, GMV per currency for October 2026 then", ["and for enterprise sellers only?"]),
                                      (sellers, "ok, and in Finland then", ["what about buyers?"]),
                                      (sellers, "ok, buyers and sellers in Finland then", ["what about buyers?"])):
        result = _follow(shop, first, question, declined)
        assert result.match is None, (question, declined, result.match.explanation)
