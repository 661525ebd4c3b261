"""A follow-up in a conversation while a cluster is left out for a broken file.

A follow-up stays in its conversation's cluster ("and for Sweden?" rarely routes on its own) unless it names what
the broken cluster is about ("and ad revenue?" in a listening conversation while revenue has a broken pair): then it
is not covered, naming that cluster, its team and the broken FILE:LINE. When the conversation's own cluster broke
between turns, a follow-up is not covered naming it. On a copy of the demo, offline and through a scripted model.
"""

from __future__ import annotations

import dataclasses

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from fake_openai import FakeOpenAI
from vedder.ask import ask
from vedder.cli import app
from vedder.config import load_config
from vedder.context import route
from vedder.context.route import follow_up_not_loaded
from vedder.project import load_project

REPO = Path(__file__).resolve().parent.parent
ANSWER_SCHEMA = json.loads((REPO / "schemas" / "answer.schema.json").read_text())
STREAMS = "How many streams did each country have in November 2026?"  # a vetted listening pair
ADS_PAIR = "clusters/revenue/pairs/top-advertisers-revenue.yaml"
LISTENING_PAIR = "clusters/listening/pairs/daily-streams.yaml"
TWICE = "question: Which advertisers brought the most revenue?\nsql: SELECT 1\nquestion: again\n"
AD_REVENUE = "and ad revenue?"
# Follow-ups that refine the question before; none names another cluster's subject.
ORDINARY = ["and for Sweden?", "only for Sweden", "and the top 3?", "and by category?", "what about last month?",
            "and per day?", "and in 2025?", "how about Germany?", "and by country?", "and the average?",
            "same for October", "and for Norway?", "and in Mexico?", "and the week before?"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("follow-up-demo"), scale=0.02)


def broken(root: Path, file: str, text: str = TWICE):
    """Context manager: ``file`` of the demo written with ``text`` (a key twice), restored afterwards."""
    from contextlib import contextmanager

    @contextmanager
    def writing():
        path = root / file
        original = path.read_text()
        path.write_text(text)
        try:
            yield
        finally:
            path.write_text(original)

    return writing()


def ask_json(root: Path, *args: str) -> dict:
    result = CliRunner().invoke(app, ["ask", *args, "--json", "--project", str(root)])
    assert result.exit_code in (0, 1), result.output
    answer = json.loads(result.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    return answer


def test_a_follow_up_naming_the_broken_cluster_is_not_covered_and_the_conversation_goes_on(demo):
    first = ask_json(demo, STREAMS)
    assert first["status"] == "answered" and first["cluster"] == "listening"
    conversation = first["conversation_id"]
    with broken(demo, ADS_PAIR):
        ads = ask_json(demo, "--continue", conversation, AD_REVENUE)
        sweden = ask_json(demo, "--continue", conversation, "only for Sweden")
    assert ads["status"] == "not_covered" and ads["cluster"] is None and ads["sql"] is None
    assert ads["conversation_id"] == conversation
    assert ads["answer"].startswith("This question is for cluster revenue (owned by Revenue Analytics, "
                                    "revenue-analytics@vedder-music.example), which is not loaded because a file of it is broken: "
                                    f"{ADS_PAIR}:3:1: invalid YAML: key 'question' appears twice")
    assert ads["closest"][0] == {"cluster": "revenue", "score": ads["closest"][0]["score"], "team": "Revenue Analytics",
                                 "contact": "revenue-analytics@vedder-music.example", "not_loaded": True, "file": ADS_PAIR}
    assert ads["hint"].startswith(f"fix {ADS_PAIR} (`vedder validate`")
    # The turn not answered does not move the conversation: the next follow-up is listening's, with the same numbers.
    grouped = {row[0]: row[1] for row in first["rows"]}
    assert sweden["status"] == "answered" and sweden["cluster"] == "listening" and sweden["rows"] == [["SE", grouped["SE"]]]
    assert sweden["conversation_id"] == conversation


def test_healthy_the_same_follow_up_goes_to_the_cluster_it_names(demo):
    """With revenue loaded, the conversation turns to it (tests/test_ask_new_subject.py), as routing alone would."""
    first = ask_json(demo, STREAMS)
    ads = ask_json(demo, "--continue", first["conversation_id"], AD_REVENUE)
    assert ads["cluster"] == "revenue" and ads["conversation_id"] == first["conversation_id"]


@pytest.mark.parametrize("conversation, file, leaves", [
    ("listening", ADS_PAIR, ["and ad revenue?", "what about refunds?", "split by plan?", "and for premium users?"]),
    ("listening", "clusters/podcasts/pairs/shows-per-language.yaml", ["and for podcasts?", "and for episodes?", "now by language"]),
    ("revenue", LISTENING_PAIR, ["and by genre?", "and for which songs?"]),
])
def test_only_follow_ups_that_name_the_broken_clusters_subject_leave_the_conversation(demo, conversation, file, leaves):
    with broken(demo, file, "question: [unclosed\n"):
        project = load_project(load_config(demo), skip_broken=True)
    (skipped,) = project.broken
    own = project.clusters[conversation]
    assert [q for q in ORDINARY if follow_up_not_loaded(route(project, q), own)] == []
    assert {q: [b.id for b in follow_up_not_loaded(route(project, q), own)] for q in leaves} == {q: [skipped] for q in leaves}


def test_a_follow_up_in_a_cluster_that_fits_it_about_as_well_stays(demo):
    """"how many listeners per country" fits listening and podcasts about equally: with podcasts left out it is not
    covered as a first question, but a follow-up in a listening conversation stays in listening."""
    with broken(demo, "clusters/podcasts/pairs/listens-per-category.yaml", "- a list\n"):
        project = load_project(load_config(demo), skip_broken=True)
    routing = route(project, "how many listeners per country")
    assert [b.id for b in routing.not_loaded] == ["podcasts"] and "listening" in {c.id for c in routing.candidates}
    assert follow_up_not_loaded(routing, project.clusters["listening"]) == []


def test_the_conversations_own_cluster_broken_since_the_last_turn(demo):
    first = ask_json(demo, STREAMS)
    conversation = first["conversation_id"]
    with broken(demo, LISTENING_PAIR, "question: [unclosed\n"):
        sweden = ask_json(demo, "--continue", conversation, "only for Sweden")
        elsewhere = ask_json(demo, "--continue", conversation, "and revenue per plan?")  # reaches revenue: still not guessed
        shown = CliRunner().invoke(app, ["ask", "--continue", conversation, "and for Germany?", "--project", str(demo)])
    for answer in (sweden, elsewhere):
        assert answer["status"] == "not_covered" and answer["cluster"] is None and answer["sql"] is None, answer
        assert answer["conversation_id"] == conversation
        assert answer["answer"].startswith("This conversation is in cluster listening (owned by Listening Insights, "
                                           "#listening-insights), which is not loaded because a file of it is broken: "
                                           f"{LISTENING_PAIR}:2:1: invalid YAML")
        assert answer["closest"] == [{"cluster": "listening", "score": answer["closest"][0]["score"], "team": "Listening Insights",
                                      "contact": "#listening-insights", "not_loaded": True, "file": LISTENING_PAIR}]
        assert answer["hint"].startswith(f"fix {LISTENING_PAIR} (`vedder validate`") and "without --continue" in answer["hint"]
    assert shown.exit_code == 0 and "This conversation is in cluster listening" in " ".join(shown.stdout.split())
    assert "Traceback" not in shown.output
    fixed = ask_json(demo, "--continue", conversation, "only for Sweden")
    assert fixed["status"] == "answered" and fixed["cluster"] == "listening" and fixed["conversation_id"] == conversation


def test_cluster_given_on_a_follow_up_is_still_the_persons_choice(demo):
    first = ask_json(demo, STREAMS)
    with broken(demo, ADS_PAIR):
        chosen = ask_json(demo, "--continue", first["conversation_id"], AD_REVENUE, "--cluster", "listening")
    assert chosen["cluster"] == "listening" and "No vetted pair in cluster 'listening'" in chosen["answer"]


def scripted(project, server: FakeOpenAI):
    """The model at ``server``, asked every question (not vetted first: these follow-ups are the agent's to answer)."""
    project.config = dataclasses.replace(project.config, vetted_first=False)
    project.config.model_options.update({"api_base": server.url, "api_key": "dummy", "tool_calling": True})


def test_with_a_model_the_agent_runs_only_where_the_follow_up_belongs(demo):
    healthy = load_project(load_config(demo))
    with FakeOpenAI() as server:
        scripted(healthy, server)
        server.enqueue_tool_call("run_sql", {"sql": "SELECT country, COUNT(*) AS streams FROM listening.events GROUP BY 1"})
        server.enqueue_text("Streams per country.")
        first = ask(healthy, STREAMS, model="openai/fake-model")
    assert first.status == "answered" and first.cluster == "listening"
    with broken(demo, ADS_PAIR):
        project = load_project(load_config(demo), skip_broken=True)
    with FakeOpenAI() as server:
        scripted(project, server)
        server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) FROM listening.events"})
        server.enqueue_text("Counted.")
        ads = ask(project, AD_REVENUE, model="openai/fake-model", continue_id=first.conversation_id)
        assert server.requests == []  # not answered from listening's tables
        sweden = ask(project, "and for Sweden?", model="openai/fake-model", continue_id=first.conversation_id)
        assert len(server.requests) == 2
    assert ads.status == "not_covered" and ads.cluster is None and "cluster revenue (owned by Revenue Analytics" in ads.answer
    assert sweden.status == "answered" and sweden.cluster == "listening" and sweden.conversation_id == first.conversation_id
    with broken(demo, LISTENING_PAIR, "question: [unclosed\n"):
        gone = load_project(load_config(demo), skip_broken=True)
    with FakeOpenAI() as server:
        scripted(gone, server)
        server.enqueue_text("Counted.")
        orphan = ask(gone, "and for Germany?", model="openai/fake-model", continue_id=first.conversation_id)
        assert server.requests == []
    assert orphan.status == "not_covered" and orphan.answer.startswith("This conversation is in cluster listening")


def test_chat_follow_ups_with_a_broken_cluster(demo):
    with broken(demo, ADS_PAIR):
        chatted = CliRunner().invoke(app, ["chat", "--project", str(demo)], input=f"{STREAMS}\n{AD_REVENUE}\nonly for Sweden\n:quit\n")
    assert chatted.exit_code == 0, chatted.output
    text = " ".join(chatted.stdout.split())
    assert "This question is for cluster revenue (owned by Revenue Analytics" in text
    assert text.count("answered") >= 2 and "Traceback" not in chatted.output
