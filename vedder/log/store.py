"""Recording asks and feedback; reading them back for `vedder log`, curation and health.

Several processes may write at once (CLI, MCP server, eval): the database runs in WAL mode with a busy
timeout, and each write is one short transaction. Secrets never reach the log: text that looks like an API
key, or equals the value of a *_KEY / *_TOKEN / *_SECRET environment variable, is redacted.

>>> redact("key sk-abcdefghijklmnopqrstuv used")
'key [redacted] used'
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedder.errors import LogError, UsageError
from vedder.log.migrations import migrate
from vedder.log.question_key import question_key
from vedder.warehouse import as_text

if TYPE_CHECKING:
    from vedder.config import Config

_KEY_PATTERN = re.compile(r"\b(sk-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}|xox[abp]-[A-Za-z0-9\-]{10,})")
_SECRET_ENV_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")

_JSON_FIELDS = ("context_ids", "steps", "routing")


def redact(text: str) -> str:
    """Remove API keys and the values of secret-looking environment variables from ``text``."""
    text = _KEY_PATTERN.sub("[redacted]", text)
    for name, value in os.environ.items():
        if name.upper().endswith(_SECRET_ENV_SUFFIXES) and len(value) >= 8 and value in text:
            text = text.replace(value, "[redacted]")
    return text


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def current_user() -> str:
    """VEDDER_USER, else the login name; ``uid-N`` for a user the system has no name for (``docker run --user N``
    sets no USER and has no passwd entry for N: getpass raises)."""
    if os.environ.get("VEDDER_USER"):
        return os.environ["VEDDER_USER"]
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def new_id() -> str:
    return secrets.token_hex(5)


class ConversationLog:
    """The SQLite conversation log at ``path`` (created and migrated on first use)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            migrate(self.db)
        except (OSError, sqlite3.Error) as exc:
            raise LogError(f"cannot open the conversation log {self.path}: {_reason(exc)}") from None
        self.db.row_factory = sqlite3.Row

    def close(self) -> None:
        self.db.close()

    def record(self, entry: dict[str, Any]) -> dict[str, Any]:
        """Append one turn. ``entry`` holds question, cluster, status, …; returns it with ids and time."""
        conversation_id = entry.get("conversation_id") or new_id()
        row = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "created_at": now_iso(),
            "user": entry.get("user") or current_user(),
        }
        for key in ("surface", "question", "cluster", "cluster_source", "sql", "status", "answer", "model", "tokens",
                    "cost", "latency_s", "row_count", "result_summary", *_JSON_FIELDS):
            value = entry.get(key)
            if key in _JSON_FIELDS and value is not None:
                value = json.dumps(value, default=as_text)
            if isinstance(value, str):
                value = redact(value)
            row[key] = value
        row["question_key"] = question_key(row["question"] or "")
        try:
            with self.db:
                self.db.execute("BEGIN IMMEDIATE")
                (turn,) = self.db.execute(
                    "SELECT COALESCE(MAX(turn), 0) + 1 FROM turns WHERE conversation_id = ?", (conversation_id,)
                ).fetchone()
                row["turn"] = turn
                columns = ", ".join(row)
                self.db.execute(f"INSERT INTO turns ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        except sqlite3.Error as exc:  # a read-only file or folder, a full disk
            raise LogError(f"cannot write the conversation log {self.path}: {_reason(exc)}") from None
        return row

    def thread(self, conversation_id: str) -> list[dict[str, Any]]:
        """Every turn of a conversation, oldest first."""
        rows = self.db.execute("SELECT * FROM turns WHERE conversation_id = ? ORDER BY turn", (conversation_id,))
        return [self._decode(r) for r in rows]

    def last_conversation(self, user: str | None = None) -> str | None:
        row = self.db.execute(
            "SELECT conversation_id FROM turns WHERE user = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
            (user or current_user(),),
        ).fetchone()
        return row[0] if row else None

    def feedback(self, conversation_id: str, rating: str, comment: str | None = None, user: str | None = None,
                 turn_id: str | None = None) -> dict[str, Any]:
        """Rate one turn of a conversation ``up`` or ``down``: ``turn_id`` (a surface that knows which answer was
        rated, like a Slack reaction on one message), else the latest. The row returned carries its ``id``."""
        if rating not in ("up", "down"):
            raise UsageError(f"rating must be 'up' or 'down', not '{rating}'", "vedder feedback ID up|down")
        turns = self.thread(conversation_id)
        if not turns:
            raise UsageError(f"no conversation '{conversation_id}' in the log", "`vedder log` lists conversations with their ids")
        if turn_id is not None and turn_id not in {t["id"] for t in turns}:
            raise UsageError(f"no turn '{turn_id}' in conversation '{conversation_id}'", "`vedder log --json` lists turns with their ids")
        row = {
            "conversation_id": conversation_id,
            "turn_id": turn_id or turns[-1]["id"],
            "rating": rating,
            "comment": redact(comment) if comment else None,
            "user": user or current_user(),
            "created_at": now_iso(),
        }
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO feedback (conversation_id, turn_id, rating, comment, user, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                list(row.values()),
            )
        return {**row, "id": cursor.lastrowid}

    def withdraw_feedback(self, feedback_id: int) -> bool:
        """Delete one rating its giver took back (a Slack reaction removed); whether it was there."""
        with self.db:
            return self.db.execute("DELETE FROM feedback WHERE id = ?", (feedback_id,)).rowcount > 0

    def chosen_clusters(self, question: str, clusters: list[str], user: str | None = None) -> dict[str, tuple[int, int]]:
        """Earlier answers to ``question`` (same ``question_key``) that a person chose or approved, per cluster
        among ``clusters``: (all of them, those of ``user``, default the current one). Chosen or approved: an
        answered turn whose cluster was given (``--cluster``, a surface's explicit cluster) or switched to by the
        agent, or that was rated up; never a turn rated down."""
        if not clusters:
            return {}
        rows = self.db.execute(
            f"""SELECT t.cluster, COUNT(*), SUM(t.user = ?) FROM turns t
                WHERE t.question_key = ? AND t.cluster IN ({', '.join('?' * len(clusters))}) AND t.status = 'answered'
                  AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.turn_id = t.id AND f.rating = 'down')
                  AND (t.cluster_source IN ('given', 'switched')
                       OR EXISTS (SELECT 1 FROM feedback f WHERE f.turn_id = t.id AND f.rating = 'up'))
                GROUP BY t.cluster""",
            [user if user is not None else current_user(), question_key(question), *clusters],
        )
        return {cluster: (count, yours) for cluster, count, yours in rows}

    def entries(self, cluster: str | None = None, since: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Turns, newest first, each with its latest feedback (``feedback``, ``feedback_comment``)."""
        sql = [
            "SELECT t.*, f.rating AS feedback, f.comment AS feedback_comment FROM turns t",
            "LEFT JOIN feedback f ON f.id = (SELECT MAX(id) FROM feedback WHERE turn_id = t.id)",
            "WHERE 1 = 1",
        ]
        params: list[Any] = []
        if cluster:
            sql.append("AND t.cluster = ?")
            params.append(cluster)
        if since:
            sql.append("AND t.created_at >= ?")
            params.append(since)
        sql.append("ORDER BY t.created_at DESC, t.rowid DESC")
        if limit:
            sql.append("LIMIT ?")
            params.append(limit)
        return [self._decode(r) for r in self.db.execute(" ".join(sql), params)]

    @staticmethod
    def _decode(row: sqlite3.Row) -> dict[str, Any]:
        data = dict(row)
        for key in _JSON_FIELDS:
            if data.get(key):
                data[key] = json.loads(data[key])
        return data


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc)


def log_path(config: "Config") -> Path:
    """Where the project's conversation log lives (``log_path`` in vedder.yaml / VEDDER_LOG, else .vedder/)."""
    return Path(config.log_path or config.root / ".vedder" / "log.sqlite")


def open_log(config: "Config") -> ConversationLog:
    return ConversationLog(log_path(config))


def parse_since(value: str) -> str:
    """``7d``, ``12h``, ``30m`` or an ISO date/time → ISO timestamp (UTC).

    >>> parse_since("2026-01-02")
    '2026-01-02T00:00:00+00:00'
    """
    from datetime import timedelta

    match = re.fullmatch(r"(\d+)\s*([dhm])", value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        delta = {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
        return (datetime.now(timezone.utc) - delta).isoformat(timespec="seconds")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"cannot read --since '{value}'", "use 7d, 12h, 30m or an ISO date like 2026-01-31") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.isoformat(timespec="seconds")
