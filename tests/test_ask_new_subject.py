"""A conversation (`--continue`, `vedder chat`, the web page) that turns to another cluster's subject goes there;
an ordinary follow-up stays, and adapts the last answer its cluster gave with a pair's SQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo_project import ask_json as ask, copy_demo


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("new-subject"), scale=0.02)


def sources(log_dir: Path, conversation: str) -> list[tuple[str, str]]:
    from vedder.config import load_config
    from vedder.log.store import open_log

    store = open_log(load_config(log_dir))
    try:
        return [(t["cluster"], t["cluster_source"]) for t in store.thread(conversation)]
    finally:
        store.close()


def test_a_question_about_another_clusters_subject_goes_there_and_the_thread_follows(demo_dir):
    first = ask(demo_dir, "How many streams did Sweden have in October 2026?")
    conversation = first["conversation_id"]
    revenue = ask(demo_dir, "--continue", conversation, "What was revenue per month in 2026?")
    assert revenue["status"] == "answered" and revenue["cluster"] == "revenue"
    assert revenue["sources"][0] == {"kind": "pair", "id": "revenue/revenue-per-month"}
    earlier = ask(demo_dir, "--continue", conversation, "and in 2025?")  # adapts the revenue answer, not the streams one
    assert earlier["cluster"] == "revenue" and "2025-01-01" in earlier["sql"] and "revenue-per-month" in earlier["answer"]
    assert sources(demo_dir, conversation) == [("listening", "routed"), ("revenue", "routed"), ("revenue", "conversation")]


@pytest.mark.parametrize("follow_up", ["and for Germany?", "and the top 3?", "and per platform?", "and the average?",
                                       "what about November?", "only for Sweden", "and in 2025?", "and for the US?"])
def test_an_ordinary_follow_up_stays_in_its_conversations_cluster(demo_dir, follow_up):
    first = ask(demo_dir, "How many streams did each country have in October 2026?")
    assert first["cluster"] == "listening"
    assert ask(demo_dir, "--continue", first["conversation_id"], follow_up)["cluster"] == "listening"


def test_a_follow_up_after_a_not_covered_turn_adapts_the_last_answer(demo_dir):
    first = ask(demo_dir, "How many streams did Sweden have in October 2026?")
    norway = ask(demo_dir, "--continue", first["conversation_id"], "and for Norway?")  # no Norway in the data
    assert norway["status"] == "not_covered"
    assert "Norway ('NO') is in no country column (listening." in norway["answer"] and "they hold " in norway["answer"]
    germany = ask(demo_dir, "--continue", first["conversation_id"], "and for Germany?")
    assert germany["status"] == "answered" and "country = 'DE'" in germany["sql"]
    assert "'SE' → 'DE'" in germany["answer"]


def test_a_country_the_data_does_not_hold_is_said_to_be_missing(demo_dir):
    answer = ask(demo_dir, "How many streams did Norway have in October 2026?")
    assert answer["status"] == "not_covered" and "Norway ('NO') is in no country column" in answer["answer"]
    sweden = ask(demo_dir, "How many streams did Sweden have in October 2026?")  # a country the data holds
    assert sweden["status"] == "answered"


def test_a_follow_up_not_covered_in_its_conversation_names_the_clusters_it_fits_on_its_own(demo_dir):
    """After plan prices (revenue), "how many listeners per country?" stays in revenue (its docs speak of listeners
    too) and is not covered there: the answer now says that, asked on its own, podcasts or listening fit it."""
    first = ask(demo_dir, "What does each plan cost per month?")
    assert first["cluster"] == "revenue"
    stayed = ask(demo_dir, "--continue", first["conversation_id"], "how many listeners per country?")
    assert stayed["status"] == "not_covered" and stayed["cluster"] == "revenue"
    assert "Asked on its own, this question fits podcasts (Podcast Analytics), listening (Listening Insights) better" in stayed["answer"]
    family = ask(demo_dir, "--continue", first["conversation_id"], "and the family plan in Sweden?")
    assert "Asked on its own" not in family["answer"]


def test_a_follow_up_whose_conversation_cluster_is_gone_says_so(tmp_path):
    """The conversation's cluster renamed (podcasts → pods) between turns: the follow-up is routed on its own, as
    before, and now says why it is not answered in the conversation's cluster."""
    demo = copy_demo(tmp_path / "p", scale=0.02)
    first = ask(demo, "How many podcast shows are there per language?")
    assert first["cluster"] == "podcasts"
    (demo / "clusters" / "podcasts").rename(demo / "clusters" / "pods")
    cluster_file = demo / "clusters" / "pods" / "cluster.yaml"
    cluster_file.write_text(cluster_file.read_text().replace("id: podcasts", "id: pods"))
    follow = ask(demo, "--continue", first["conversation_id"], "and in 2025?")
    assert follow["answer"].startswith("This conversation was in cluster 'podcasts', which no longer exists")
    fresh = ask(demo, "How many podcast shows are there per language?")
    assert "no longer exists" not in fresh["answer"]
