"""Route memory: an ambiguous question that people already answered in one candidate cluster goes there.

Real SQLite logs, the demo project on a real DuckDB warehouse. "How many were there per day in November
2026?" routes to listening and podcasts about equally (streams or podcast listeners?), and each has a vetted
pair that answers it offline.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from fake_openai import FakeOpenAI
from vedder.ask import ask
from vedder.cli import app
from vedder.config import load_config
from vedder.context import route, route_with_memory
from vedder.log.migrations import m001_turns_and_feedback, m002_routing_scores
from vedder.log.store import ConversationLog
from vedder.project import load_project

REPO = Path(__file__).parent.parent
ANSWER_SCHEMA = json.loads((REPO / "schemas" / "answer.schema.json").read_text())
QUESTION = "How many were there per day in November 2026?"
SAME_QUESTION = "  how many were there per day in november, 2026 "


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("memory-demo"), scale=0.05)


@pytest.fixture
def project(demo_dir):
    """The demo project; its log is the test's own (VEDDER_LOG points into a fresh home for every test)."""
    return load_project(load_config(demo_dir))


@pytest.fixture
def log(project):
    opened = ConversationLog(project.config.log_path)
    yield opened
    opened.close()


def cli(demo_dir: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--project", str(demo_dir)])


def ask_json(demo_dir: Path, *args: str) -> dict:
    result = cli(demo_dir, "ask", *args, "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    return answer


def turn(log: ConversationLog, cluster: str, source: str | None, status: str = "answered", question: str = QUESTION,
         user: str | None = None) -> str:
    """A turn as ``ask`` writes it; returns its conversation id (for feedback)."""
    return log.record({"question": question, "cluster": cluster, "cluster_source": source, "status": status,
                       "user": user})["conversation_id"]


def test_the_demo_question_is_a_tie_both_clusters_answer(project):
    routing = route(project, QUESTION)
    assert routing.ambiguous and {c.id for c in routing.candidates} == {"listening", "podcasts"}
    assert route(project, SAME_QUESTION).ambiguous


@pytest.mark.parametrize("chosen", ["podcasts", "listening"])
def test_an_earlier_explicit_answer_settles_the_tie_offline(demo_dir, chosen):
    assert ask_json(demo_dir, QUESTION)["status"] == "not_covered"
    assert ask_json(demo_dir, QUESTION, "--cluster", chosen)["status"] == "answered"

    answer = ask_json(demo_dir, SAME_QUESTION)
    note = f"routed by 1 earlier answer to the same question in cluster {chosen}"
    assert answer["status"] == "answered" and answer["cluster"] == chosen and answer["rows"]
    assert answer["routing_note"] == note
    text = cli(demo_dir, "ask", SAME_QUESTION)
    assert text.exit_code == 0 and note in " ".join(text.output.split())

    context = json.loads(cli(demo_dir, "context", QUESTION, "--json").stdout)
    assert context["cluster"] == chosen and context["ambiguous"] is False
    assert context["memory"] == {"cluster": chosen, "answers": 1, "note": note}
    assert {c["id"] for c in context["candidates"]} == {"listening", "podcasts"}
    shown = cli(demo_dir, "context", QUESTION)
    assert f"cluster {chosen}" in shown.output and note in " ".join(shown.output.split())
    # The answers memory routed are not evidence themselves: still the one explicit answer.
    assert ask_json(demo_dir, QUESTION)["routing_note"] == note


def test_turns_record_how_their_cluster_was_chosen(project, log):
    ask(project, QUESTION, cluster_id="podcasts")
    ask(project, QUESTION)
    ask(project, "What does each plan cost per month?")
    ask(project, QUESTION, cluster_id="listening")
    ask(project, QUESTION)
    rows = log.db.execute("SELECT cluster, cluster_source, status, question_key FROM turns ORDER BY rowid").fetchall()
    assert [tuple(r)[:3] for r in rows] == [
        ("podcasts", "given", "answered"), ("podcasts", "memory", "answered"), ("revenue", "routed", "answered"),
        ("listening", "given", "answered"), (None, None, "not_covered"),  # conflicting evidence: a tie again
    ]
    assert rows[0]["question_key"] == "how many were there per day in november 2026"


def test_conflicting_evidence_stays_ambiguous(demo_dir, project, log):
    turn(log, "podcasts", "given")
    turn(log, "podcasts", "given")
    turn(log, "listening", "given")
    routing = route_with_memory(project, QUESTION)
    assert routing.ambiguous and routing.memory is None
    answer = ask_json(demo_dir, QUESTION)
    assert answer["status"] == "not_covered" and answer["routing_note"] is None
    assert "Several clusters fit" in answer["answer"]


def test_a_rated_down_turn_is_not_evidence(demo_dir, project, log):
    conversation = turn(log, "podcasts", "given")
    assert route_with_memory(project, QUESTION).memory is not None
    log.feedback(conversation, "down", "meant streams")
    assert route_with_memory(project, QUESTION).ambiguous
    assert ask_json(demo_dir, QUESTION)["status"] == "not_covered"


def test_a_routed_answer_is_evidence_only_when_rated_up(project, log):
    conversation = turn(log, "podcasts", "routed")
    turn(log, "podcasts", "memory")
    turn(log, "podcasts", "conversation")
    turn(log, "podcasts", None)  # logged before vedder recorded how the cluster was chosen
    assert route_with_memory(project, QUESTION).ambiguous
    log.feedback(conversation, "up")
    routing = route_with_memory(project, QUESTION)
    assert routing.cluster.id == "podcasts" and routing.memory.answers == 1


def test_errors_not_covered_and_other_questions_are_not_evidence(project, log):
    turn(log, "podcasts", "given", status="error")
    turn(log, "podcasts", "given", status="not_covered")
    turn(log, "podcasts", "given", question="How many were there per day in October 2026?")
    assert route_with_memory(project, QUESTION).ambiguous


def test_evidence_outside_the_candidates_is_ignored(project, log):
    turn(log, "revenue", "given")
    assert route_with_memory(project, QUESTION).ambiguous
    turn(log, "listening", "given")
    routing = route_with_memory(project, QUESTION)
    assert routing.cluster.id == "listening" and routing.memory.answers == 1


def test_one_answer_by_someone_else_is_not_enough_two_are(project, log):
    turn(log, "podcasts", "given", user="ann")
    assert route_with_memory(project, QUESTION, user="bob").ambiguous
    assert route_with_memory(project, QUESTION, user="ann").cluster.id == "podcasts"
    turn(log, "podcasts", "given", user="cem")
    assert route_with_memory(project, QUESTION, user="bob").memory.answers == 2


def test_an_agent_switch_that_answered_is_evidence(project, log):
    with FakeOpenAI() as server:
        project.config.model_options.update({"api_base": server.url, "api_key": "dummy", "tool_calling": True})
        first = route(project, QUESTION).cluster.id
        other = "podcasts" if first == "listening" else "listening"
        table = {"podcasts": "podcasts.listens", "listening": "listening.events"}[other]
        server.enqueue_tool_call("switch_cluster", {"cluster": other})
        server.enqueue_tool_call("run_sql", {"sql": f"SELECT COUNT(*) AS n FROM {table}"})
        server.enqueue_text("Counted.")
        answer = ask(project, QUESTION, model="openai/fake-model")
    assert answer.status == "answered" and answer.cluster == other, answer.error
    (source,) = log.db.execute("SELECT cluster_source FROM turns").fetchone()
    assert source == "switched"
    offline = ask(project, QUESTION, model="offline")
    assert offline.status == "answered" and offline.cluster == other and offline.routing_note


def test_an_old_log_migrates_keeps_its_rows_and_its_rated_up_turns_count(project):
    path = project.config.log_path
    old_log(path, [("podcasts", "answered", "[]"), ("listening", "answered", "[]"), (None, "not_covered", "[]")],
            question=QUESTION.upper())
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO feedback (conversation_id, turn_id, rating, created_at) VALUES ('c0', 't0', 'up', '2026-01-02')")

    routing = route_with_memory(project, QUESTION, user="ann")
    assert routing.cluster.id == "podcasts" and routing.memory.answers == 1  # the unrated listening turn is not evidence
    log = ConversationLog(path)
    rows = log.db.execute("SELECT id, cluster, cluster_source, question_key FROM turns ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(f"t{n}", c, None, "how many were there per day in november 2026")
                                        for n, c in enumerate(["podcasts", "listening", None])]
    applied = [r[0] for r in log.db.execute("SELECT name FROM migrations ORDER BY name")]
    assert applied == ["m001_turns_and_feedback", "m002_routing_scores", "m003_route_memory",
                       "m004_given_clusters_of_earlier_turns"]
    assert log.entries()[0]["routing"] == []
    log.close()


def test_an_unreadable_log_is_no_memory_and_no_error(demo_dir, project):
    path = project.config.log_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not a database")
    routing = route_with_memory(project, QUESTION)
    assert routing.ambiguous and routing.memory is None
    result = cli(demo_dir, "ask", QUESTION, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "not_covered"
    assert "not logged" in result.stderr
    context = cli(demo_dir, "context", QUESTION, "--json")
    assert context.exit_code == 0 and json.loads(context.stdout)["ambiguous"] is True
    assert path.read_text() == "this is not a database"


def test_a_missing_log_is_no_memory_and_context_does_not_create_it(demo_dir, project):
    path = project.config.log_path
    assert not path.exists()
    assert route_with_memory(project, QUESTION).ambiguous
    assert json.loads(cli(demo_dir, "context", QUESTION, "--json").stdout)["memory"] is None
    assert not path.exists()


def test_the_mcp_surface_records_its_explicit_cluster_and_says_why_it_routed(project):
    from vedder.mcp import WarehousePool, ask_result, context_result

    pool = WarehousePool()
    assert ask_result(project, pool, QUESTION, None, None, "offline")["status"] == "not_covered"
    assert ask_result(project, pool, QUESTION, "listening", None, "offline")["status"] == "answered"
    answer = ask_result(project, pool, SAME_QUESTION, None, None, "offline")
    note = "routed by 1 earlier answer to the same question in cluster listening"
    assert answer["status"] == "answered" and answer["cluster"] == "listening" and answer["routing_note"] == note
    context = context_result(project, QUESTION, None)
    assert context["cluster"] == "listening" and context["memory"]["note"] == note


def test_the_log_shows_how_each_turn_s_cluster_was_chosen(demo_dir):
    ask_json(demo_dir, QUESTION, "--cluster", "podcasts")
    ask_json(demo_dir, SAME_QUESTION)
    ask_json(demo_dir, "What does each plan cost per month?")
    entries = json.loads(cli(demo_dir, "log", "--json").stdout)
    assert [(e["cluster"], e["cluster_source"]) for e in entries] == [
        ("revenue", "routed"), ("podcasts", "memory"), ("podcasts", "given")]
    lines = cli(demo_dir, "log").stdout.splitlines()
    assert "revenue (routed)  answered" in lines[0] and "podcasts (memory)  answered" in lines[2]
    assert "podcasts (given)  answered" in lines[4]


def test_with_a_model_memory_picks_the_context_and_the_agent_may_still_switch(project, log):
    turn(log, "podcasts", "given")
    with FakeOpenAI() as server:
        project.config.model_options.update({"api_base": server.url, "api_key": "dummy", "tool_calling": True})
        server.enqueue_tool_call("switch_cluster", {"cluster": "listening"})
        server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM listening.events"})
        server.enqueue_text("Counted.")
        answer = ask(project, QUESTION, model="openai/fake-model")
        first = server.requests[0]
    system = first["messages"][0]["content"]
    assert "switch_cluster" in {t["function"]["name"] for t in first["tools"]}
    assert "The context below is cluster `podcasts`'s" in system and "- `listening`" in system
    assert "routed by 1 earlier answer to the same question in cluster podcasts" in system
    assert answer.status == "answered" and answer.cluster == "listening", answer.error
    assert answer.routing_note is None
    (source,) = log.db.execute("SELECT cluster_source FROM turns ORDER BY rowid DESC").fetchone()
    assert source == "switched"


def old_log(path: Path, turns: list[tuple[str | None, str, str | None]], question: str = QUESTION) -> None:
    """A log as vedder wrote it before route memory (migrations m001 and m002): ``turns`` of (cluster, status,
    routing as ask recorded it), asked by ann."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    m001_turns_and_feedback(db)
    m002_routing_scores(db)
    db.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    db.executemany("INSERT INTO migrations VALUES (?, '2026-01-01T00:00:00+00:00')",
                   [("m001_turns_and_feedback",), ("m002_routing_scores",)])
    for number, (cluster, status, routing) in enumerate(turns):
        db.execute("INSERT INTO turns (id, conversation_id, turn, created_at, user, question, cluster, status, routing) "
                   "VALUES (?, ?, 1, '2026-01-01T00:00:00+00:00', 'ann', ?, ?, ?, ?)",
                   (f"t{number}", f"c{number}", question, cluster, status, routing))
    db.commit()
    db.close()


def test_old_turns_whose_cluster_was_given_are_inferred_from_their_routing(project):
    given = '[{"id": "podcasts", "score": 1.0}]'  # what ask recorded for --cluster podcasts: routing never ran
    routed = '[{"id": "listening", "score": 9.871}, {"id": "podcasts", "score": 9.5}, {"id": "revenue", "score": 1.2}]'
    old_log(project.config.log_path, [
        ("podcasts", "answered", given),
        ("listening", "answered", routed),
        ("listening", "answered", given),  # not what ask wrote for a cluster given (it names another one)
        ("podcasts", "answered", '[{"id": "podcasts", "score": 3.2}]'),  # routed in a one-cluster project
        ("podcasts", "answered", None),  # logged before routing scores were
        (None, "not_covered", routed),
    ])
    routing = route_with_memory(project, QUESTION, user="ann")
    assert routing.cluster.id == "podcasts" and routing.memory.answers == 1
    log = ConversationLog(project.config.log_path)
    sources = [r[0] for r in log.db.execute("SELECT cluster_source FROM turns ORDER BY id")]
    log.close()
    assert sources == ["given", None, None, None, None, None]


def test_a_user_without_a_name_still_asks_and_is_logged_by_uid(demo_dir, project, monkeypatch):
    """`docker run --user 1000` sets no USER and has no passwd entry for the uid: getpass.getuser() raises
    KeyError. That was a traceback for every ask (logging, and route memory on a tie)."""
    import os
    import pwd

    def no_entry(uid):
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    for name in ("VEDDER_USER", "LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    ask_json(demo_dir, QUESTION, "--cluster", "podcasts")
    answer = ask_json(demo_dir, SAME_QUESTION)
    assert answer["cluster"] == "podcasts" and answer["routing_note"]
    entries = json.loads(cli(demo_dir, "log", "--json").stdout)
    assert [e["user"] for e in entries] == [f"uid-{os.getuid()}"] * 2


def test_eval_ignores_route_memory_unless_asked(demo_dir, tmp_path):
    """`vedder eval` numbers must not depend on who runs it: the log's memory counts only with --memory."""
    assert ask_json(demo_dir, QUESTION, "--cluster", "podcasts")["status"] == "answered"
    questions = tmp_path / "q.jsonl"
    questions.write_text(json.dumps({"question": QUESTION, "cluster": "podcasts"}) + "\n")
    plain = cli(demo_dir, "eval", str(questions), "--json")
    remembered = cli(demo_dir, "eval", str(questions), "--json", "--memory")
    assert plain.exit_code == 0 and remembered.exit_code == 0, plain.output + remembered.output
    first = lambda result: json.loads(result.stdout.splitlines()[0])  # noqa: E731
    assert first(plain)["status"] == "not_covered"
    assert first(remembered)["status"] == "answered" and first(remembered)["predicted_cluster"] == "podcasts"


def test_a_shared_mcp_server_trusts_no_answer_as_the_askers_own(project, log):
    """Over HTTP every asker is the server's OS user: one earlier answer would be "yours" for everyone (on
    Spider, one answer by someone else settled 6 ties, none right). Shared, it takes two, as for others."""
    from vedder.context.memory import ANONYMOUS
    from vedder.mcp import WarehousePool, ask_result, context_result

    pool = WarehousePool()
    turn(log, "listening", "given")  # by the OS user the server runs as
    assert ask_result(project, pool, QUESTION, None, None, "offline")["status"] == "answered"  # stdio: the person
    assert ask_result(project, pool, QUESTION, None, None, "offline", shared=True)["status"] == "not_covered"
    assert context_result(project, QUESTION, None, shared=True)["ambiguous"]
    assert route_with_memory(project, QUESTION, user=ANONYMOUS).memory is None
    turn(log, "listening", "given", user="ann")
    shared = ask_result(project, pool, QUESTION, None, None, "offline", shared=True)
    assert shared["status"] == "answered" and shared["routing_note"].startswith("routed by 2 earlier answers")
