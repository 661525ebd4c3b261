"""The offline answerer: vetted pairs, literal adaptation through sqlglot, follow-ups, and abstaining."""

from __future__ import annotations

import subprocess
import sys

import pytest

from context_project import make_project
from vedder.config import load_config
from vedder.offline import answer_offline
from vedder.project import load_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return load_project(load_config(make_project(tmp_path_factory.mktemp("offline-project"))))


def answer(project, question, cluster="music", **kwargs):
    return answer_offline(project, project.clusters[cluster], question, **kwargs)


@pytest.mark.parametrize(
    "question, pair",
    [
        ("How many streams were there in the US in 2024?", "streams-country-year"),
        ("Number of US streams in 2024", "streams-country-year"),
        ("Count the users on the premium plan", "premium-users"),
        ("Average duration of a stream, in seconds?", "average-duration"),
    ],
)
def test_same_question_answers_with_the_pair_sql(project, question, pair):
    result = answer(project, question)
    assert result.match is not None, result.reason
    assert result.match.pair.id == pair
    assert result.match.sql == project.clusters["music"].pair(pair).sql
    assert result.match.explanation == f"answered from vetted pair {pair}"


def test_country_and_year_are_adapted_through_sqlglot(project):
    result = answer(project, "How many streams were there in Sweden in 2023?")
    assert result.match is not None, result.reason
    assert result.match.sql == "SELECT COUNT(*) AS streams FROM music.streams WHERE country = 'SE' AND stream_year = 2023"
    assert result.match.explanation == "answered from vetted pair streams-country-year, adapted country 'US' → 'SE', stream_year 2024 → 2023"


def test_plan_value_and_top_n_are_adapted(project):
    free = answer(project, "How many users are on the free plan?")
    assert free.match is not None and "plan = 'free'" in free.match.sql
    top = answer(project, "What are the top 3 countries by streams?")
    assert top.match is not None and top.match.sql.endswith("LIMIT 3")
    assert "LIMIT 2 → 3" in top.match.explanation


@pytest.mark.parametrize(
    "question",
    [
        "What are the bottom 2 countries by streams?",  # direction differs
        "What is the average number of streams in the US in 2024?",  # aggregate differs
        "How many users are not on the premium plan?",  # negation differs
        "How many streams were there in the US in 2024 per user?",  # grouping the pair lacks
        "How many streams were there in Atlantis in 2024?",  # a literal no profile knows
        "Which artists have the longest songs?",  # nothing vetted
    ],
)
def test_questions_the_pairs_do_not_answer_get_no_match(project, question):
    result = answer(project, question)
    assert result.match is None, result.match and result.match.explanation
    assert result.reason


def test_no_match_lists_the_closest_pairs(project):
    result = answer(project, "What is the median stream duration in the US?")
    assert result.match is None
    assert result.closest and all(score <= 1.0 for _, score in result.closest)


def test_follow_up_adapts_the_previous_answer(project):
    first = answer(project, "How many streams were there in the US in 2024?")
    previous = {"question": "How many streams were there in the US in 2024?", "sql": first.match.sql, "pair": first.match.pair.id}
    follow = answer(project, "and for Sweden?", previous=previous)
    assert follow.match is not None, follow.reason
    assert "country = 'SE'" in follow.match.sql and "stream_year = 2024" in follow.match.sql
    assert follow.match.explanation.startswith("answered from the previous answer")
    unrelated = answer(project, "and what about refunds?", previous=previous)
    assert unrelated.match is None


def test_offline_never_imports_a_model_library(tmp_path):
    code = (
        "import sys; from vedder.offline import answer_offline; from vedder.context import route; "
        "assert 'litellm' not in sys.modules and 'duckdb' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
