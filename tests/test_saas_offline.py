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
    try:
        assert SCORE.shop_scorer().gold_problems(warehouse, SAAS) == []
    finally:
        warehouse.close()


# Answered right today: coverage may grow, never shrink unnoticed.
# The blind run (before any fix): questions 26 right of 30 answered (27 with one blind label corrected: 'How many
# paying accounts are there in Germany?' is the count alone, see BENCHMARKS.md), conversations 34 of 35; after the
# fixes none is wrong; coverage: questions 29 (one value of a split ordered by it, "Canadian"), conversations 36 ("and in May?",
# a defined term named again).
QUESTIONS_RIGHT = 29
CONVERSATIONS_RIGHT = 36


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


def test_a_value_the_pair_leaves_out_is_no_value_it_answers_for(saas):
    """The active-accounts pair keeps ``event_name <> 'login'``: 'How many accounts logged in per day …' was answered
    with accounts active other than logging in (blind run). A verb and its particle name the value ("logged in")."""
    for question in ("How many accounts logged in per day in May 2026?", "How many logins were there per day in May 2026?"):
        result = _answer(saas, question, "support")
        assert result.match is None, (question, result.match.explanation)
        assert "value 'login' the pair leaves out" in result.reason
    # Near misses: the value left out, said so; the pair's own question.
    for question in ("How many accounts were active per day in May 2026, other than logins?",
                     "How many active accounts were there per day in April 2026?"):
        result = _answer(saas, question, "support")
        assert result.match is not None and result.match.pair.id == "daily-active-accounts", (question, result.reason)


def test_a_kind_of_the_entity_the_pair_does_not_know_is_declined(saas):
    """'How many tickets did enterprise accounts open per priority …' was answered with every account's tickets: no
    column of the support cluster holds 'enterprise' (the revenue cluster's segments do)."""
    for question in ("How many tickets did enterprise accounts open per priority in May 2026?",
                     "How many tickets did trial accounts open per priority in May 2026?"):
        result = _answer(saas, question, "support")
        assert result.match is None, (question, result.match.explanation)
        assert "says which accounts" in result.reason
    # Near misses: the entity said plainly; a country the literal adapts; a kind the pair's own words say.
    assert _answer(saas, "How many tickets did accounts open per priority in May 2026?", "support").match is not None
    uk = _answer(saas, "What is the MRR of UK accounts per segment?")
    assert uk.match is not None and "a.country_code = 'GB'" in uk.match.sql, uk.reason
    assert _answer(saas, "How many paying accounts are there per country?").match is not None


def test_a_follow_up_answered_by_another_pair_keeps_the_measure_it_did_not_change(saas):
    """After 'What is the current MRR per plan?', 'and only for accounts in Germany?' was answered with the number of
    paying accounts in Germany (another pair, filtered): the follow-up never asked for a count."""
    mrr, germany = _conversation(saas, "What is the current MRR per plan?", "and only for accounts in Germany?")
    assert mrr.status == "answered" and germany.status == "not_covered", germany.answer
    assert "not mrr_usd of the answer before" in germany.answer
    # Near misses: the follow-up asks for the count, or names the new measure.
    for follow_up in ("and how many paying accounts are there in Germany?", "and the number of paying accounts per country?"):
        _, asked = _conversation(saas, "What is the current MRR per plan?", follow_up)
        assert asked.status == "answered" and "paying-accounts-by-country" in str(asked.sources), (follow_up, asked.answer)


def _conversation(saas, *questions):
    from vedder.ask import ask
    from vedder.warehouse import open_warehouse

    warehouse = open_warehouse(saas.config)
    try:
        conversation_id, answers = None, []
        for question in questions:
            answers.append(ask(saas, question, model="offline", continue_id=conversation_id, warehouse=warehouse,
                               memory=False, today=SCORE.TODAY))
            conversation_id = conversation_id or answers[-1].conversation_id
        return answers
    finally:
        warehouse.close()


def test_and_in_may_is_the_month(saas):
    """'and in May?' after the SLA breach rate for April 2026 was declined: "May" was never read as a bare month
    (it is also a verb), though "and in April?" was."""
    *_, may = _conversation(saas, "What was the SLA breach rate per priority in April 2026?", "and in May?")
    assert may.status == "answered" and "'2026-05-01'" in may.sql and "'2026-06-01'" in may.sql, may.answer


def test_naming_the_answers_defined_term_again_lets_go_of_a_declined_other_one(saas):
    """'and the MRR of US accounts per segment?' after 'and ARR?' (declined) of MRR per plan was declined as if ARR
    still held; the docs define both, in bold, as acronyms."""
    *_, again = _conversation(saas, "MRR by plan", "and ARR?", "and the MRR of US accounts per segment?")
    assert again.status == "answered" and "mrr-us-by-segment" in str(again.sources), again.answer
    # Near misses: the declined term named again; a question that names neither.
    *_, arr = _conversation(saas, "MRR by plan", "and ARR?", "and the ARR of US accounts per segment?")
    assert arr.status == "not_covered", arr.answer
    *_, plain = _conversation(saas, "MRR by plan", "and ARR?", "and for US accounts per segment?")
    assert plain.status == "not_covered", plain.answer


def test_one_value_of_a_split_the_pair_orders_by_is_its_count(saas):
    """'How many P1 tickets were opened in May 2026?' of tickets per priority (``ORDER BY priority``) was declined:
    a pair ordered by the column it splits by was never filtered to one of its values; one row is left to order."""
    p1 = _answer(saas, "How many P1 tickets were opened in May 2026?", "support")
    assert p1.match is not None and p1.match.pair.id == "tickets-by-priority", p1.reason
    assert "priority = 'P1'" in p1.match.sql and "ORDER BY" not in p1.match.sql
    # Near misses: two values; a value of a column the pair does not split by.
    for question in ("How many P1 or P2 tickets were opened in May 2026?", "How many chat tickets came in per month in 2026?"):
        result = _answer(saas, question, "support")
        assert result.match is None, (question, result.match.explanation)


def test_a_country_said_as_its_peoples_adjective_is_its_code(saas):
    """'What is the MRR of Canadian accounts per segment?' was declined: a country column's code was named only by
    the country's names."""
    canada = _answer(saas, "What is the MRR of Canadian accounts per segment?")
    assert canada.match is not None and "a.country_code = 'CA'" in canada.match.sql, canada.reason
    # Near misses: a country no profile holds; a cluster without a country column, by name or adjective.
    assert _answer(saas, "What is the MRR of Norwegian accounts per segment?").match is None
    for question in ("How many tickets did Canadian accounts open per priority in May 2026?",
                     "How many tickets did UK accounts open per priority in May 2026?"):
        result = _answer(saas, question, "support")
        assert result.match is None, (question, result.match.explanation)
