"""`vedder slack`: the bot's server on 127.0.0.1:0 in a thread over a small demo copy, Slack's side played by signed
requests over real HTTP, and a fake Slack Web API on 127.0.0.1 that records every chat.postMessage."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from vedder.cli import app as cli_app
from vedder.config import load_config
from vedder.log.store import open_log
from vedder.slack import create_server, message, signature, table

TOKEN, SECRET, BOT = "xoxb-test-token-5f1e", "signing-secret-9a7c", "UBOT"
QUESTION = "How many streams did each country have in October 2026?"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("slack") / "demo", scale=0.02)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_template, tmp_path / "demo"))


class FakeSlack(ThreadingHTTPServer):
    """Slack's Web API: records each call's path, Authorization, JSON body and arrival (monotonic); answers the
    next scripted reply ``(status, headers, body)`` while ``script`` has one, else ok with a new ts."""

    daemon_threads = True

    def __init__(self, script: list[tuple[int, dict[str, str], dict[str, Any]]] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script = list(script or [])
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), FakeSlackHandler)

    def posts(self, count: int) -> list[dict[str, Any]]:
        """The chat.postMessage bodies, once ``count`` of them arrived (a worker thread posts them)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.lock:
                posted = [c for c in self.calls if c["path"] == "/api/chat.postMessage"]
            if len(posted) >= count:
                return posted
            time.sleep(0.02)
        raise AssertionError(f"{len(posted)} posts, expected {count}: {self.calls}")


class FakeSlackHandler(BaseHTTPRequestHandler):
    server: FakeSlack

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.server.lock:
            self.server.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body,
                                      "at": time.monotonic()})
            ts = f"1700000000.{len(self.server.calls):06d}"
            status, headers, reply = self.server.script.pop(0) if self.server.script else (200, {}, None)
        payload = json.dumps(reply or {"ok": True, "channel": body.get("channel"), "ts": ts}).encode()
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def fake_slack(script: list[tuple[int, dict[str, str], dict[str, Any]]] | None = None) -> Iterator[FakeSlack]:
    server = FakeSlack(script)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def running(project: Path, slack: FakeSlack) -> Iterator[Any]:
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "VEDDER_SLACK_API": f"http://127.0.0.1:{slack.server_address[1]}/api"}
    server = create_server(project, env=env, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.app.wait()
        server.shutdown()
        server.server_close()
        server.app.warehouses.close()


def send(server: Any, payload: Any, *, secret: str = SECRET, timestamp: int | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Post ``payload`` to /slack/events signed as Slack signs it; (status, JSON reply)."""
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    request = urllib.request.Request(f"{server.url}/slack/events", data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature(secret, stamp, body), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


_ids = iter(range(1, 10**6))


def event(inner: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"type": "event_callback", "event_id": event_id or f"Ev{next(_ids):06d}", "event": inner,
            "authorizations": [{"user_id": BOT, "is_bot": True}]}


def mention(text: str, ts: str, thread_ts: str | None = None, user: str = "U0ASTRID") -> dict[str, Any]:
    inner = {"type": "app_mention", "user": user, "text": f"<@{BOT}> {text}", "channel": "C0DATA", "ts": ts}
    return event({**inner, "thread_ts": thread_ts} if thread_ts else inner)


def log_entries(project: Path) -> list[dict[str, Any]]:
    store = open_log(load_config(project))
    try:
        return list(reversed(store.entries()))
    finally:
        store.close()


def test_url_verification_answers_the_challenge(demo):
    with fake_slack() as slack, running(demo, slack) as server:
        status, reply = send(server, {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    assert (status, reply) == (200, {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})


def test_a_bad_signature_or_a_stale_timestamp_is_401_and_nothing_is_answered(demo):
    with fake_slack() as slack, running(demo, slack) as server:
        wrong = send(server, mention(QUESTION, "1.1"), secret="another-secret")
        stale = send(server, mention(QUESTION, "1.2"), timestamp=int(time.time()) - 6 * 60)
        future = send(server, mention(QUESTION, "1.3"), timestamp=int(time.time()) + 6 * 60)
        unsigned_request = urllib.request.Request(f"{server.url}/slack/events", data=b"{}", method="POST",
                                                  headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as unsigned:
            urllib.request.urlopen(unsigned_request, timeout=10)
        server.app.wait()
    assert wrong[0] == stale[0] == future[0] == unsigned.value.code == 401
    assert "signature is wrong" in wrong[1]["error"] and "SLACK_SIGNING_SECRET" in wrong[1]["hint"]
    assert "5 minutes" in stale[1]["error"] and "5 minutes" in future[1]["error"]
    assert slack.calls == [] and log_entries(demo) == []


def test_a_mention_is_answered_offline_in_its_thread_and_a_reply_continues_the_conversation(demo):
    with fake_slack() as slack, running(demo, slack) as server:
        assert send(server, mention(QUESTION, "1700000100.000100")) == (200, {})
        first = slack.posts(1)[0]
        assert send(server, mention("and for Sweden?", "1700000200.000200", thread_ts="1700000100.000100")) == (200, {})
        second = slack.posts(2)[1]
    assert first["auth"] == f"Bearer {TOKEN}"
    assert first["body"]["channel"] == "C0DATA" and first["body"]["thread_ts"] == "1700000100.000100"
    text = first["body"]["text"]
    assert "answered from vetted pair streams-per-country" in text
    assert "```\nSELECT" in text and "FROM listening.events" in text  # the SQL in a code block
    assert "country" in text and "SE" in text and "US" in text  # the result table
    assert "Sources: cluster listening (Listening Insights) · pair listening/streams-per-country" in text
    assert second["body"]["thread_ts"] == "1700000100.000100"
    assert "country = 'SE'" in second["body"]["text"] and "US " not in second["body"]["text"]
    entries = log_entries(demo)
    assert [(e["question"], e["surface"], e["user"]) for e in entries] == [
        (QUESTION, "slack", "U0ASTRID"), ("and for Sweden?", "slack", "U0ASTRID")]
    assert entries[0]["conversation_id"] == entries[1]["conversation_id"]


def test_the_thread_survives_a_restart_and_a_reaction_is_feedback_for_its_conversation(demo):
    with fake_slack() as slack:
        with running(demo, slack) as server:
            send(server, mention(QUESTION, "1700000100.000100"))
            slack.posts(1)
        with running(demo, slack) as server:  # a new process: the thread map comes from the file
            send(server, mention("and for Sweden?", "1700000200.000200", thread_ts="1700000100.000100"))
            slack.posts(2)
        with running(demo, slack) as server:
            answer_ts = f"1700000000.{2:06d}"  # the fake's ts for the second post: the Sweden answer
            reaction = {"type": "reaction_added", "user": "U0KWAME", "reaction": "-1", "item_user": BOT,
                        "item": {"type": "message", "channel": "C0DATA", "ts": answer_ts}}
            assert send(server, event(reaction)) == (200, {})
            elsewhere = {**reaction, "reaction": "+1", "item": {"type": "message", "channel": "C0DATA", "ts": "1.000001"}}
            send(server, event(elsewhere))  # not an answer of the bot's: nothing to rate
            other_emoji = {**reaction, "reaction": "tada"}
            send(server, event(other_emoji))
            server.app.wait()
    entries = log_entries(demo)
    assert entries[0]["conversation_id"] == entries[1]["conversation_id"]
    assert [(e["question"], e["feedback"]) for e in entries] == [(QUESTION, None), ("and for Sweden?", "down")]
    store = open_log(load_config(demo))
    try:
        rows = store.db.execute("SELECT rating, user FROM feedback").fetchall()
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [("down", "U0KWAME")]


def test_retries_are_not_answered_twice_and_bot_messages_edits_and_other_channels_are_ignored(demo):
    with fake_slack() as slack, running(demo, slack) as server:
        first = mention(QUESTION, "1700000100.000100")
        send(server, first)
        retry = send(server, first, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
        ignored = [
            {"type": "message", "channel_type": "im", "channel": "D0A", "ts": "2.1", "text": QUESTION, "bot_id": "B1", "user": "U0OTHERBOT"},
            {"type": "message", "channel_type": "im", "channel": "D0A", "ts": "2.2", "text": QUESTION, "user": BOT},
            {"type": "message", "channel_type": "im", "channel": "D0A", "ts": "2.3", "subtype": "message_changed",
             "message": {"text": QUESTION}},
            {"type": "message", "channel_type": "channel", "channel": "C0DATA", "ts": "2.4", "text": QUESTION, "user": "U0ASTRID"},
            {"type": "app_mention", "channel": "C0DATA", "ts": "2.5", "text": f"<@{BOT}>", "user": "U0ASTRID"},
        ]
        replies = [send(server, event(inner)) for inner in ignored]
        direct = {"type": "message", "channel_type": "im", "channel": "D0A", "ts": "3.1", "text": "and for Sweden? &lt;3", "user": "U0LUCIA"}
        send(server, event(direct))
        server.app.wait()
        posts = slack.posts(2)
    assert retry == (200, {}) and all(reply == (200, {}) for reply in replies)
    assert sorted((p["body"]["channel"], p["body"]["thread_ts"]) for p in posts) == [("C0DATA", "1700000100.000100"), ("D0A", "3.1")]
    assert sorted((e["question"], e["user"]) for e in log_entries(demo)) == [(QUESTION, "U0ASTRID"), ("and for Sweden? <3", "U0LUCIA")]


def test_not_covered_and_errors_are_said_with_their_hint_and_no_markup_reaches_slack():
    not_covered = message({"status": "not_covered", "answer": "No cluster covers <!channel> payroll.",
                           "hint": "ask Finance & People", "sources": []})
    assert not_covered == "*Not covered:* No cluster covers &lt;!channel&gt; payroll.\n_Hint:_ ask Finance &amp; People"
    error = message({"status": "error", "error": "the query ran past 30 s", "hint": "narrow the question"})
    assert error == "*Error:* the query ran past 30 s\n_Hint:_ narrow the question"
    many = message({"status": "answered", "answer": "ok", "sql": "SELECT 1 /* ``` */", "columns": ["n"],
                    "rows": [[i] for i in range(25)], "sources": []})
    assert "… 15 more rows" in many and many.count("```") == 4 and "cut at" not in many
    cut = message({"status": "answered", "answer": "ok", "columns": ["n"], "rows": [[i] for i in range(3)], "truncated": True})
    assert "_Only the first 3 rows: the result was cut at query.row_limit._" in cut


def test_a_wide_result_or_a_long_answer_still_fits_in_one_slack_message():
    """300 columns made a 130,000-character message Slack refuses (msg_too_long): the asker got nothing."""
    columns = [f"metric_{i:03}_{'x' * 30}" for i in range(300)]
    wide = message({"status": "answered", "answer": "Here they are. " * 1000, "sql": "SELECT *", "columns": columns,
                    "rows": [[1.0] * 300 for _ in range(25)], "sources": []})
    assert len(wide) < 12_000
    assert "more columns not shown: metric_" in wide and "… 15 more rows" in wide and "metric_000" in wide
    assert "(cut: the answer is longer than fits in Slack)" in wide
    assert table(["only"], [["y" * 40]], max_chars=5).splitlines()[0] == "only"  # one column always shows


def test_the_token_and_secret_are_never_printed_or_logged(demo, capfd):
    with fake_slack() as slack, running(demo, slack) as server:
        send(server, mention(QUESTION, "1700000100.000100"))
        slack.posts(1)
        send(server, mention(QUESTION, "1700000300.000300"), secret="wrong")
    seen = capfd.readouterr()
    files = "".join(p.read_text(errors="replace") for p in Path(load_config(demo).log_path).parent.glob("*") if p.is_file())
    log = json.dumps(log_entries(demo))
    for secret in (TOKEN, SECRET):
        assert secret not in seen.out + seen.err and secret not in log and secret not in files


def test_missing_credentials_are_one_line_with_a_hint_and_exit_2(demo, monkeypatch):
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    result = CliRunner().invoke(cli_app, ["slack", "--project", str(demo), "--port", "0"])
    assert result.exit_code == 2
    assert result.output.splitlines()[0] == "error: SLACK_BOT_TOKEN is not set"
    assert "hint: export the Slack app's Bot User OAuth Token" in result.output and SECRET not in result.output


def reaction(ts: str, emoji: str, event_ts: str, user: str = "U0KWAME", removed: bool = False) -> dict[str, Any]:
    return event({"type": "reaction_removed" if removed else "reaction_added", "user": user, "reaction": emoji,
                  "item_user": BOT, "item": {"type": "message", "channel": "C0DATA", "ts": ts}, "event_ts": event_ts})


def ratings(project: Path) -> list[tuple[str, str, str]]:
    """(rating, who, question of the rated turn) of every feedback row, oldest first."""
    store = open_log(load_config(project))
    try:
        rows = store.db.execute("SELECT f.rating, f.user, t.question FROM feedback f JOIN turns t ON t.id = f.turn_id ORDER BY f.id")
        return [tuple(r) for r in rows]
    finally:
        store.close()


def thread_of_three(demo: Path, slack: FakeSlack) -> list[str]:
    """Three answers in one thread; the ts of each posted answer."""
    with running(demo, slack) as server:
        for n, text in enumerate([QUESTION, "and for Sweden?", "and for Great Britain?"]):
            send(server, mention(text, f"1700000{n + 1}00.000100", thread_ts=None if n == 0 else "1700000100.000100"))
            slack.posts(n + 1)
    return [f"1700000000.{n:06d}" for n in (1, 2, 3)]  # the fake's ts of its first three posts


def test_a_reaction_rates_the_answer_it_is_on_even_after_a_restart_and_removing_it_withdraws_the_rating(demo):
    with fake_slack() as slack:
        first, _, third = thread_of_three(demo, slack)
        with running(demo, slack) as server:  # a new process: which message answered which turn comes from slack.json
            send(server, reaction(first, "-1", "1700000400.000100"))
            send(server, reaction(third, "+1::skin-tone-3", "1700000400.000200", user="U0LUCIA"))
            server.app.wait()
            rated = ratings(demo)
            send(server, reaction(first, "-1", "1700000500.000100", removed=True))
            server.app.wait()
    assert rated == [("down", "U0KWAME", QUESTION), ("up", "U0LUCIA", "and for Great Britain?")]
    assert ratings(demo) == [("up", "U0LUCIA", "and for Great Britain?")]
    assert [(e["question"], e["feedback"]) for e in log_entries(demo)] == [
        (QUESTION, None), ("and for Sweden?", None), ("and for Great Britain?", "up")]


def test_reactions_apply_in_slacks_order_and_a_retried_reaction_counts_once(demo):
    with fake_slack() as slack:
        first, second, _ = thread_of_three(demo, slack)
        with running(demo, slack) as server:
            send(server, reaction(first, "+1", "1700000600.000100", removed=True))  # the removal overtook its add
            server.app.wait()
            send(server, reaction(first, "+1", "1700000550.000100"))
            server.app.wait()
            overtaken = ratings(demo)
            added = reaction(second, "-1", "1700000700.000100")
            send(server, added)
            server.app.wait()
        with running(demo, slack) as server:
            assert send(server, added, headers={"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}) == (200, {})
            send(server, reaction(second, "-1", "1700000700.000200"))  # a second 👎 by the same person: still one
            server.app.wait()
    assert overtaken == []
    assert ratings(demo) == [("down", "U0KWAME", "and for Sweden?")]


def test_an_event_answered_before_a_restart_is_not_answered_again_and_the_state_stays_bounded(demo, monkeypatch):
    monkeypatch.setattr("vedder.slack.KEEP", 2)
    state_file = Path(load_config(demo).log_path).parent / "slack.json"
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps({"events": {"EvHOURSAGO": int(time.time()) - 3 * 3600, "EvMINUTEAGO": int(time.time()) - 60}}))
    with fake_slack() as slack:
        first = mention(QUESTION, "1700000100.000100")
        with running(demo, slack) as server:
            send(server, first)
            slack.posts(1)
        with running(demo, slack) as server:
            retried = send(server, first, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
            also_retried = send(server, mention(QUESTION, "1700000150.000100") | {"event_id": "EvMINUTEAGO"})
            server.app.wait()
            answered_once = len(slack.calls), len(log_entries(demo))
            for n in (2, 3):
                send(server, mention(QUESTION, f"170000{n}000.000100"))
                slack.posts(n)
    assert retried == also_retried == (200, {}) and answered_once == (1, 1)
    state = json.loads(state_file.read_text())
    assert list(state["threads"]) == ["C0DATA:1700002000.000100", "C0DATA:1700003000.000100"]
    assert list(state["answers"]) == ["C0DATA:1700000000.000002", "C0DATA:1700000000.000003"]
    assert len(state["events"]) == 2 and "EvHOURSAGO" not in state["events"]


def error_lines(capfd) -> list[str]:
    return [line for line in capfd.readouterr().err.splitlines() if line.startswith(("error", "warning", "Traceback"))]


def test_a_429_is_retried_after_its_retry_after_and_a_5xx_after_a_pause(demo, capfd, monkeypatch):
    monkeypatch.setattr("vedder.slack.BACKOFF_S", 0.05)
    script = [(429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}), (503, {}, {"ok": False, "error": "service_unavailable"}),
              (200, {}, {"ok": False, "error": "ratelimited"})]
    with fake_slack(script) as slack, running(demo, slack) as server:
        send(server, mention(QUESTION, "1700000100.000100"))
        slack.posts(4)
        server.app.wait()
        send(server, mention("and for Sweden?", "1700000200.000200", thread_ts="1700000100.000100"))
        posts = slack.posts(5)
    assert posts[1]["at"] - posts[0]["at"] >= 1.0  # Slack's Retry-After was waited for
    assert len({json.dumps(p["body"]) for p in posts[:4]}) == 1 and "streams-per-country" in posts[3]["body"]["text"]
    assert "country = 'SE'" in posts[4]["body"]["text"]  # the answer that got through continues its thread
    assert error_lines(capfd) == []


@pytest.mark.parametrize(("error", "hint"), [
    ("not_in_channel", "invite the bot to the channel (/invite @vedder in it)"),
    ("channel_not_found", "invite the bot to the channel"),
    ("invalid_auth", "check SLACK_BOT_TOKEN (the Bot User OAuth Token of the installed app) and the token's scopes"),
    ("missing_scope", "Slack says it needs chat:write"),
])
def test_a_refused_post_is_one_line_naming_slacks_error_and_the_bot_goes_on(demo, capfd, error, hint):
    refusal = {"ok": False, "error": error, **({"needed": "chat:write"} if error == "missing_scope" else {})}
    with fake_slack([(200, {}, refusal)]) as slack, running(demo, slack) as server:
        send(server, mention(QUESTION, "1700000100.000100"))
        slack.posts(1)
        server.app.wait()
        send(server, mention(QUESTION, "1700000200.000100"))
        posts = slack.posts(2)
    lines = error_lines(capfd)
    assert len(posts) == 2 and "streams-per-country" in posts[1]["body"]["text"]  # not retried; the next one answered
    assert len(lines) == 1 and lines[0].startswith(f"error: Slack did not take the answer for channel C0DATA: {error}; hint: ")
    assert hint in lines[0] and TOKEN not in lines[0]
    assert len(log_entries(demo)) == 2


def test_retries_are_bounded_and_a_long_retry_after_or_an_unreachable_slack_is_said_once(demo, capfd, monkeypatch):
    monkeypatch.setattr("vedder.slack.BACKOFF_S", 0.01)
    limited = (429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})
    with fake_slack([limited] * 4 + [(429, {"Retry-After": "120"}, {"ok": False, "error": "ratelimited"})]) as slack:
        with running(demo, slack) as server:
            send(server, mention(QUESTION, "1700000100.000100"))
            slack.posts(4)
            server.app.wait()
            send(server, mention(QUESTION, "1700000200.000100"))
            slack.posts(5)
            server.app.wait()
            rate_limited = error_lines(capfd)
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "VEDDER_SLACK_API": f"http://127.0.0.1:{closed.getsockname()[1]}/api"}
        closed.close()
        server = create_server(demo, env=env, host="127.0.0.1", port=0)
        worker = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        worker.start()
        try:
            send(server, mention(QUESTION, "1700000300.000100"))
            server.app.wait()
        finally:
            server.shutdown()
            server.server_close()
            server.app.warehouses.close()
        unreachable = error_lines(capfd)
    assert len(slack.calls) == 5
    assert rate_limited == [
        "error: Slack did not take the answer for channel C0DATA (4 attempts): HTTP 429, rate limited (Retry-After 0 s); "
        "hint: Slack is overloaded or down (status.slack.com); the asker can ask again",
        "error: Slack did not take the answer for channel C0DATA: HTTP 429, rate limited (Retry-After 120 s); "
        "hint: Slack is overloaded or down (status.slack.com); the asker can ask again"]
    assert len(unreachable) == 1 and unreachable[0].startswith("error: Slack did not take the answer for channel C0DATA (4 attempts): ")
    assert "refused" in unreachable[0] and f"hint: check that this machine reaches {env['VEDDER_SLACK_API']}" in unreachable[0]
    assert len(log_entries(demo)) == 3


def test_a_slack_json_written_before_answers_knew_their_turn_still_rates_and_continues(demo):
    with fake_slack() as slack:
        first, second, _ = thread_of_three(demo, slack)
        state_file = Path(load_config(demo).log_path).parent / "slack.json"
        state = json.loads(state_file.read_text())
        state_file.write_text(json.dumps({"threads": state["threads"], "answers": {k: v[0] for k, v in state["answers"].items()}}))
        with running(demo, slack) as server:  # the last session's format: answer message → conversation only
            send(server, reaction(first, "+1", "1700000800.000100"))
            server.app.wait()
            send(server, mention("and for Sweden?", "1700000900.000100", thread_ts="1700000100.000100"))
            slack.posts(4)
    assert ratings(demo) == [("up", "U0KWAME", "and for Great Britain?")]  # its turn unknown: the latest, as before
    assert len({e["conversation_id"] for e in log_entries(demo)}) == 1


def test_a_slack_json_that_cannot_be_written_is_said_and_the_bot_goes_on_from_memory(demo, capfd):
    (Path(load_config(demo).log_path).parent / "slack.json").mkdir(parents=True)  # neither readable nor replaceable
    with fake_slack() as slack, running(demo, slack) as server:
        send(server, mention(QUESTION, "1700000100.000100"))
        slack.posts(1)
        server.app.wait()
        send(server, mention("and for Sweden?", "1700000200.000200", thread_ts="1700000100.000100"))
        posts = slack.posts(2)
    lines = error_lines(capfd)
    assert "country = 'SE'" in posts[1]["body"]["text"]
    assert lines[0].startswith("warning: ") and "slack.json is unreadable" in lines[0]
    assert len(lines) == 3 and all(line.startswith("warning: cannot write ") and "hint: threads and ratings" in line for line in lines[1:])


def test_a_tie_between_clusters_asks_back_and_a_reply_naming_one_asks_there(demo):
    """Offline, a question two clusters fit equally is not guessed: the bot names them and asks which; a reply in the
    thread naming one (or its number) asks the tied question in that cluster, logged as the person's choice; any other
    reply is a question of its own."""
    tied = "how many listeners per country?"
    with fake_slack() as slack, running(demo, slack) as server:
        send(server, mention(tied, "1700000300.000100"))
        first = slack.posts(1)[0]["body"]["text"]
        send(server, mention("the listening one", "1700000301.000100", thread_ts="1700000300.000100"))
        second = slack.posts(2)[1]["body"]["text"]
        send(server, mention(tied, "1700000400.000100"))
        slack.posts(3)
        send(server, mention("How many streams did each country have in October 2026?", "1700000401.000100",
                             thread_ts="1700000400.000100"))
        fourth = slack.posts(4)[3]["body"]["text"]
    assert first.startswith("*Not covered:* Several clusters fit this question about equally well")
    assert "_Reply in this thread with the one you mean (`podcasts`, `listening`) and I will ask it there._" in first
    assert "No vetted pair in cluster 'listening'" in second
    assert "answered from vetted pair streams-per-country" in fourth
    entries = log_entries(demo)
    assert [(e["question"], e["cluster"], e["cluster_source"]) for e in entries[:2]] == [
        (tied, None, None), (tied, "listening", "given")]
    assert entries[0]["conversation_id"] == entries[1]["conversation_id"]
    assert entries[3]["question"].startswith("How many streams") and entries[3]["cluster"] == "listening"
    state = json.loads((Path(load_config(demo).log_path).parent / "slack.json").read_text())
    assert state["ties"] == {}  # the choice made and the new question in the other thread ended both ties


@pytest.mark.parametrize("reply, chosen", [
    ("the listening one", "listening"), ("listening", "listening"), ("`podcasts`", "podcasts"), ("2", "listening"),
    ("podcasts please", "podcasts"), ("I mean listening", "listening"), ("in listening", "listening"),
    ("it's listening", "listening"),
    ("is listening time up?", None), ("listening time per user", None), ("top listening hours", None),
    ("podcasts in 2026", None), ("podcasts and listening", None), ("3", None),
])
def test_a_reply_to_a_tie_picks_a_cluster_only_when_it_says_no_more_than_that(reply, chosen):
    """A new question in the thread that happens to name a tied cluster ('is listening time up?') was taken as the
    choice: the bot asked the old tied question there and the new one was never answered."""
    from vedder.slack import chosen_cluster

    assert chosen_cluster(reply, ["podcasts", "listening"]) == chosen
