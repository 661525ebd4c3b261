"""`vedder slack`: the bot's server on 127.0.0.1:0 in a thread over a small demo copy, Slack's side played by signed
requests over real HTTP, and a fake Slack Web API on 127.0.0.1 that records every chat.postMessage."""

from __future__ import annotations

import json
import shutil
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
from vedder.slack import create_server, message, signature

TOKEN, SECRET, BOT = "xoxb-test-token-5f1e", "signing-secret-9a7c", "UBOT"
QUESTION = "How many streams did each country have in October 2026?"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("slack") / "demo", scale=0.02)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_template, tmp_path / "demo"))


class FakeSlack(ThreadingHTTPServer):
    """Slack's Web API: records each call's path, Authorization and JSON body; answers ok with a new ts."""

    daemon_threads = True

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
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
            self.server.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
            ts = f"1700000000.{len(self.server.calls):06d}"
        payload = json.dumps({"ok": True, "channel": body.get("channel"), "ts": ts}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    server = FakeSlack()
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
    assert "… 15 more rows" in many and many.count("```") == 4


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
