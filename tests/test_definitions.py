"""Offline answers from the experts' docs: "What counts as a stream?" quotes the passage that defines it."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo_project import ask_json as ask, copy_demo
from vedder.definitions import asked_term


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("definitions-demo"), scale=0.02)


@pytest.mark.parametrize("question,term", [
    ("What counts as a stream?", "stream"),
    ("what is an active listener?", "active listener"),
    ("How is the skip rate defined?", "skip rate"),
    ("What does completion rate mean?", "completion rate"),
    ("What do we mean by revenue?", "revenue"),
    ("define ARPU", "ARPU"),
    ("What is the definition of a listen?", "listen"),
    ("What are active subscribers?", "active subscribers"),
    ("How do we count active listeners?", "active listeners"),
])
def test_a_question_asking_what_a_term_means_names_the_term(question, term):
    assert asked_term(question) == term


@pytest.mark.parametrize("question", [
    "What is the skip rate in October 2026?",  # a value, not a meaning
    "What is the skip rate?",
    "What are the top 5 tracks in Sweden?",
    "What is a good way to count streams per country in October 2026 by platform?",  # too long to be a term
    "What does each plan cost per month?",
    "What are our most streamed artists?",
    "How many streams did Sweden have in 2025?",
    "What is a stream in 2025?",  # a number in it: not a term
])
def test_questions_that_ask_for_values_are_not_read_as_definitions(question):
    assert asked_term(question) is None


def test_a_definition_is_answered_offline_from_the_doc_that_defines_it(demo_dir):
    answer = ask(demo_dir, "What counts as a stream?")
    assert answer["status"] == "answered" and answer["sql"] is None and answer["rows"] == []
    assert answer["cluster"] == "listening" and answer["owners"]["team"] == "Listening Insights"
    assert answer["sources"] == [{"kind": "doc", "id": "clusters/listening/docs/definitions.md"}]
    assert "duration_ms >= 30000" in answer["answer"] and "not a query result" in answer["answer"]
    assert "**" not in answer["answer"]


def test_a_bold_definition_inside_a_section_is_found(demo_dir):
    answer = ask(demo_dir, "What does completion rate mean?")
    assert answer["status"] == "answered" and answer["cluster"] == "podcasts"
    assert "completion rate is the share of listens" in answer["answer"]


def test_a_term_no_doc_defines_stays_not_covered_naming_the_terms_near_it(demo_dir):
    answer = ask(demo_dir, "What is an active user?")  # the docs define an active *listener*
    assert answer["status"] == "not_covered"
    assert "No doc defines 'active user'; the docs define 'Active listener' (listening), 'Active subscribers' (revenue)." in answer["answer"]
    assert "No doc defines" not in ask(demo_dir, "How many streams did Norway have in October 2026?")["answer"]


def test_a_question_for_a_number_is_still_answered_from_its_pair(demo_dir):
    answer = ask(demo_dir, "What does each plan cost per month?")
    assert answer["status"] == "answered" and answer["sql"] and answer["sources"][0]["kind"] == "pair"


def test_the_routed_clusters_definition_comes_first_and_alone(demo_dir):
    answer = ask(demo_dir, "What is a test account?", "--cluster", "podcasts")
    assert answer["status"] == "answered" and answer["cluster"] == "podcasts"
    assert [s["id"] for s in answer["sources"]] == ["clusters/podcasts/docs/definitions.md"]


def test_a_term_several_clusters_define_quotes_each_with_its_cluster(tmp_path):
    from vedder.config import load_config
    from vedder.definitions import find_definitions
    from vedder.project import load_project

    project = copy_demo(tmp_path / "p", scale=0.02)
    for cluster in ("listening", "podcasts", "revenue"):
        (project / "clusters" / cluster / "docs" / "churn.md").write_text(
            f"# Churn\n\n## Churned user\nA **churned user** is defined by {cluster} its own way.\n", encoding="utf-8")
    loaded = load_project(load_config(project))
    everywhere = find_definitions(loaded, "churned users")
    assert [(d.cluster, d.path) for d in everywhere] == [(c, f"clusters/{c}/docs/churn.md") for c in ("listening", "podcasts", "revenue")]
    assert [d.cluster for d in find_definitions(loaded, "churned user", prefer=loaded.clusters["podcasts"])] == ["podcasts"]
    answer = ask(project, "What is a churned user?")  # routed to one of them: its definition alone
    assert answer["status"] == "answered" and [s["id"] for s in answer["sources"]] == [f"clusters/{answer['cluster']}/docs/churn.md"]


def test_a_definition_is_not_quoted_from_another_cluster_when_the_cluster_it_is_for_is_not_loaded(tmp_path):
    project = copy_demo(tmp_path / "p", scale=0.02)
    (project / "clusters" / "podcasts" / "docs" / "streams.md").write_text(
        "# Streams\n\n## Stream\nPodcasts' own note on streams.\n", encoding="utf-8")
    (project / "clusters" / "listening" / "pairs" / "broken.yaml").write_text("question: [unclosed\n", encoding="utf-8")
    answer = ask(project, "What counts as a stream?")
    assert answer["status"] == "not_covered" and "listening" in answer["answer"]



def test_acronyms_the_docs_spell_out_either_way_round():
    from types import SimpleNamespace

    from vedder.definitions import acronyms, acronyms_spelled_out

    body = ("**ARPU** (average revenue per paying user) is revenue per payer. We report the monthly active users (MAU)"
            " and the SMB (small and medium business) plan. Sweden (SE) is a market; DAU (daily users) is not spelled.")
    cluster = SimpleNamespace(docs=[SimpleNamespace(body=body)])
    assert acronyms(cluster) == {"arpu": "average revenue per paying user", "mau": "monthly active users",
                                 "smb": "small and medium business"}
    assert acronyms_spelled_out("MAU and ARPU in 2025?", acronyms(cluster)) == "monthly active users and average revenue per paying user in 2025?"
    # An acronym that is also a value of the data stays as written: plan 'smb' is a literal to adapt to.
    assert acronyms_spelled_out("SMB subscribers?", acronyms(cluster), lambda: {"smb"}) == "SMB subscribers?"


def test_acronyms_after_their_words_in_a_long_doc():
    """The words before "(GMV)" are read back from each acronym, whatever comes before them in a big doc."""
    from types import SimpleNamespace

    from vedder.definitions import acronyms

    filler = "order buyer seller refund status cents currency delivered (x) cancelled test-account.\n" * 20_000
    body = (filler + "Our gross merchandise value (GMV) is reported daily, one of many many words written by people before"
            " we say net promoter score (NPS), (paren) customer lifetime value (CLV) and the brand-new thing (BT)." + filler)
    cluster = SimpleNamespace(docs=[SimpleNamespace(body=body)])
    assert acronyms(cluster) == {"gmv": "gross merchandise value", "nps": "net promoter score",
                                 "clv": "customer lifetime value", "bt": "brand-new thing"}


@pytest.mark.parametrize("question,expected", [
    ("what's our ARPU for 2025?", "answered from vetted pair arpu-year"),
    ("What was the ARPU in 2024?", "adapted year 2025 → 2024"),
])
def test_an_acronym_the_docs_spell_out_meets_the_pair_that_says_it_in_full(demo_dir, question, expected):
    answer = ask(demo_dir, question)
    assert answer["status"] == "answered" and expected in answer["answer"]


def test_a_pair_for_one_year_does_not_answer_a_question_that_names_no_year(demo_dir):
    answer = ask(demo_dir, "What is the average revenue per paying user?")
    assert answer["status"] == "not_covered" and "period 2025" in answer["answer"]


@pytest.mark.parametrize("question", ["What is ARPU?", "define ARPU", "What does ARPU stand for?"])
def test_what_an_acronym_means_is_quoted_from_the_sentence_that_defines_it(demo_dir, question):
    answer = ask(demo_dir, question)
    assert answer["status"] == "answered" and answer["sql"] is None
    assert '"Revenue"): ARPU (average revenue per paying user) is revenue divided by' in answer["answer"]


def test_a_cluster_named_with_cluster_answers_only_from_its_own_docs(demo_dir):
    answer = ask(demo_dir, "What counts as a stream?", "--cluster", "revenue")
    assert answer["status"] == "not_covered" and answer["cluster"] == "revenue"


def test_a_title_over_notes_is_not_a_definition(tmp_path):
    """README's own example doc, "# Orders" over notes about `total_cents`, was quoted as what an order is."""
    from vedder.config import load_config
    from vedder.definitions import find_definitions
    from vedder.project import load_project

    project = copy_demo(tmp_path / "p", scale=0.02)
    (project / "clusters" / "revenue" / "docs" / "orders.md").write_text(
        "# Orders\n`total_cents` is in cents and NULL until payment settles. `ds` is the partition: always filter on it.\n\n"
        "## Refund\nA refund is a payment with a negative amount.\n", encoding="utf-8")
    loaded = load_project(load_config(project))
    assert find_definitions(loaded, "orders") == []
    assert [d.heading for d in find_definitions(loaded, "refund")] == ["Refund"]
