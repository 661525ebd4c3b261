"""The conversation log: threads, feedback, filters, redaction, concurrent writers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from vedder.errors import UsageError
from vedder.log.store import ConversationLog, redact


def test_record_thread_and_feedback(tmp_path):
    log = ConversationLog(tmp_path / "log.sqlite")
    first = log.record({"question": "streams in US?", "cluster": "listening", "status": "answered", "steps": [{"tool": "x"}]})
    second = log.record({"question": "and SE?", "cluster": "listening", "status": "answered", "conversation_id": first["conversation_id"]})
    assert second["turn"] == 2
    assert [t["question"] for t in log.thread(first["conversation_id"])] == ["streams in US?", "and SE?"]
    assert log.thread(first["conversation_id"])[0]["steps"] == [{"tool": "x"}]
    log.feedback(first["conversation_id"], "down", "wrong table")
    entries = log.entries(cluster="listening")
    assert entries[0]["feedback"] == "down" and entries[0]["feedback_comment"] == "wrong table"
    assert entries[1]["feedback"] is None
    assert log.last_conversation() == first["conversation_id"]


def test_feedback_errors(tmp_path):
    log = ConversationLog(tmp_path / "log.sqlite")
    with pytest.raises(UsageError, match="no conversation"):
        log.feedback("0123456789", "up")
    row = log.record({"question": "q"})
    with pytest.raises(UsageError, match="'up' or 'down'"):
        log.feedback(row["conversation_id"], "meh")


def test_api_keys_never_logged(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-value-123")
    log = ConversationLog(tmp_path / "log.sqlite")
    row = log.record({"question": "q", "answer": "used sk-abcdefghijklmnopqrstuvwx and plain-secret-value-123"})
    stored = log.thread(row["conversation_id"])[0]["answer"]
    assert "sk-abc" not in stored and "plain-secret" not in stored
    assert redact("nothing secret") == "nothing secret"


def test_since_filter(tmp_path):
    log = ConversationLog(tmp_path / "log.sqlite")
    log.record({"question": "q"})
    assert len(log.entries(since="2000-01-01T00:00:00+00:00")) == 1
    assert log.entries(since="2999-01-01T00:00:00+00:00") == []


def test_concurrent_writers(tmp_path):
    path = tmp_path / "log.sqlite"
    script = (
        "import sys; from vedder.log.store import ConversationLog\n"
        "log = ConversationLog(sys.argv[1])\n"
        "for i in range(40): log.record({'question': f'q{i}', 'conversation_id': sys.argv[2]})\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(path), f"conv{n:06d}"]) for n in range(4)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0, 0]
    log = ConversationLog(path)
    assert len(log.entries()) == 160
    assert [t["turn"] for t in log.thread("conv000002")] == list(range(1, 41))
