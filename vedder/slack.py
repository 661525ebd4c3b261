"""The Slack surface: a bot that answers data questions in a thread, over the library ``vedder web`` calls.

Python's own HTTP server receives Slack's Events API at ``POST /slack/events``; answers go back through the Web
API's ``chat.postMessage`` (stdlib ``urllib``, no Slack SDK). Every request must carry Slack's v0 signature (an
HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret, compared in constant time) and a timestamp at
most five minutes old; anything else is 401. An event is acknowledged at once and answered on a worker thread
(Slack gives up after 3 s and retries); a retry of an event already taken is acknowledged and dropped.

A mention (``app_mention``) or a direct message is asked as surface ``slack`` with the Slack user id as the
user; the answer goes into the message's thread. A later message in that thread continues the conversation: the
thread → conversation map, and each answer message → conversation for 👍/👎 reactions (``feedback up/down``),
live in a small JSON file next to the conversation log, written atomically, so they survive a restart.

The bot token and signing secret come from the environment only and are never printed or logged.

>>> signature("secret", "1700000000", b'{"type":"url_verification"}')
'v0=2ff0f5a66409c6ce307360cc04aa83339d99f4340d4efcf6d6095d35876b21ca'
>>> slack_text("a < b & <!channel>")
'a &lt; b &amp; &lt;!channel&gt;'
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vedder.errors import UsageError, VedderError
from vedder.serving import ProjectWatcher, WarehousePool, ask_served, check_port, listen_error, plain
from vedder.web import MAX_BODY, Handler, HTTPProblem, WebServer, json_bytes

TOKEN_ENV = "SLACK_BOT_TOKEN"
SECRET_ENV = "SLACK_SIGNING_SECRET"
API_ENV = "VEDDER_SLACK_API"
DEFAULT_API = "https://slack.com/api"
MAX_AGE_S = 5 * 60
"""A request signed longer ago than this (or as far ahead) is refused: a captured request replayed later."""
STATE_FILE = "slack.json"
KEEP = 10_000
"""Threads and answer messages remembered (the oldest forgotten first): enough for months of a busy channel."""
TABLE_ROWS = 10
SQL_CHARS = 2_500
CELL_CHARS = 40
RATINGS = {"+1": "up", "thumbsup": "up", "-1": "down", "thumbsdown": "down"}
PERSON_SUBTYPES = {None, "thread_broadcast", "file_share"}
"""Message subtypes that are a person writing; every other subtype (an edit, a deletion, a bot, a join) is not asked."""
_MENTION = re.compile(r"<@[A-Z0-9]+(?:\|[^>]*)?>")


def credentials(env: dict[str, str]) -> tuple[str, str]:
    """The bot token and signing secret from ``env``; UsageError naming the missing variables."""
    missing = [name for name in (TOKEN_ENV, SECRET_ENV) if not (env.get(name) or "").strip()]
    if missing:
        raise UsageError(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set",
                         "export the Slack app's Bot User OAuth Token (xoxb-…) as SLACK_BOT_TOKEN and its Signing "
                         "Secret as SLACK_SIGNING_SECRET (api.slack.com/apps → your app; README: vedder slack)")
    return env[TOKEN_ENV].strip(), env[SECRET_ENV].strip()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature of a request: ``v0=`` and the hex HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify(secret: str, timestamp: str | None, given: str | None, body: bytes, now: float | None = None) -> None:
    """HTTPProblem 401 unless the request is signed with ``secret`` within ``MAX_AGE_S`` of ``now``."""
    if not timestamp or not given:
        raise HTTPProblem(401, "the request is not signed", "Slack signs every request (X-Slack-Signature, X-Slack-Request-Timestamp)")
    if not (timestamp.isascii() and timestamp.isdigit()) or abs((now or time.time()) - int(timestamp)) > MAX_AGE_S:
        raise HTTPProblem(401, "the request's timestamp is not within 5 minutes of now",
                          "a replayed request is refused; check this machine's clock")
    if not hmac.compare_digest(signature(secret, timestamp, body).encode(), given.encode()):
        raise HTTPProblem(401, "the request's signature is wrong", f"set {SECRET_ENV} to the Signing Secret of the app sending the events")


def slack_text(text: str) -> str:
    """``text`` with the three characters Slack reads as markup escaped: no answer can ping @channel or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def question_of(text: str) -> str:
    """A message's text as a question: mentions dropped, Slack's escapes undone."""
    text = _MENTION.sub(" ", text)
    return " ".join(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())


def _code(text: str) -> str:
    return "```\n" + text.replace("```", "`\u200b``") + "\n```"


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(plain(value))
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def table(columns: list[str], rows: list[list[Any]]) -> str:
    """The first ``TABLE_ROWS`` rows as aligned plain text, saying how many more there are.

    >>> print(table(["country", "streams"], [["SE", 3], ["US", 12]]))
    country  streams
    SE       3
    US       12
    """
    shown = [[_cell(c) for c in columns], *[[_cell(v) for v in row] for row in rows[:TABLE_ROWS]]]
    widths = [max(len(line[i]) for line in shown) for i in range(len(columns))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in shown]
    if len(rows) > TABLE_ROWS:
        lines.append(f"… {len(rows) - TABLE_ROWS:,} more rows")
    return "\n".join(lines)


def sources(answer: dict[str, Any]) -> str:
    """"Sources: cluster listening (Listening Insights) · pair listening/x · doc … · table …", or ""."""
    owners = answer.get("owners") or {}
    parts = [f"cluster {answer['cluster']}" + (f" ({owners['team']})" if owners.get("team") else "")] if answer.get("cluster") else []
    names = {"pair": "pair", "doc": "doc", "dataset": "table", "definition": "doc"}
    parts += [f"{names.get(s.get('kind'), s.get('kind'))} {s.get('id')}" for s in answer.get("sources") or []]
    return "Sources: " + " · ".join(parts) if parts else ""


def message(answer: dict[str, Any]) -> str:
    """An answer object (schemas/answer.schema.json) as one Slack message in mrkdwn."""
    status = answer.get("status")
    if status == "error":
        lines = [f"*Error:* {slack_text(answer.get('error') or answer.get('answer') or 'the question could not be answered')}"]
    elif status == "not_covered":
        lines = [f"*Not covered:* {slack_text(answer.get('answer') or '')}"]
    else:
        lines = [slack_text(answer.get("answer") or "")]
    if answer.get("hint"):
        lines.append(f"_Hint:_ {slack_text(answer['hint'])}")
    if answer.get("sql"):
        sql = answer["sql"] if len(answer["sql"]) <= SQL_CHARS else answer["sql"][:SQL_CHARS] + "\n…"
        lines.append(_code(slack_text(sql)))
    if answer.get("columns"):
        lines.append(_code(slack_text(table(answer["columns"], answer.get("rows") or []))))
    if sources(answer):
        lines.append(slack_text(sources(answer)))
    if status == "answered":
        lines.append("_React with :+1: or :-1: to rate this answer; reply in this thread to follow up._")
    return "\n".join(line for line in lines if line)


class ThreadState:
    """Slack thread → conversation id and answer message → conversation id, kept in a JSON file (atomic writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        data = self._read()
        self.threads: OrderedDict[str, str] = OrderedDict(data.get("threads") or {})
        self.answers: OrderedDict[str, str] = OrderedDict(data.get("answers") or {})

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            print(f"warning: {self.path} is unreadable ({exc}); threads answered before start a new conversation",
                  file=sys.stderr, flush=True)
            return {}
        return data if isinstance(data, dict) else {}

    def thread(self, key: str) -> str | None:
        with self._lock:
            return self.threads.get(key)

    def answer(self, key: str) -> str | None:
        with self._lock:
            return self.answers.get(key)

    def remember(self, thread: str, answer: str | None, conversation: str) -> None:
        from vedder.files import atomic_write

        with self._lock:
            for mapping, key in ((self.threads, thread), (self.answers, answer)):
                if key is None:
                    continue
                mapping[key] = conversation
                mapping.move_to_end(key)
                while len(mapping) > KEEP:
                    mapping.popitem(last=False)
            atomic_write(self.path, json.dumps({"threads": self.threads, "answers": self.answers}, indent=1))


class SlackApp:
    """What the bot does with an event, apart from HTTP: ask, post the answer, record reactions."""

    def __init__(self, watcher: ProjectWatcher, token: str, secret: str, api_base: str = DEFAULT_API, model: str | None = None) -> None:
        from vedder.log.store import log_path

        self.watcher, self.model = watcher, model
        self._token, self.secret = token, secret
        self.api_base = api_base.rstrip("/")
        self.warehouses = WarehousePool()
        self.state = ThreadState(log_path(watcher.current().config).parent / STATE_FILE)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._thread_locks: dict[str, threading.Lock] = {}
        self.workers: list[threading.Thread] = []

    def first_time(self, event_id: str | None) -> bool:
        """Whether ``event_id`` is new (Slack retries an event it thinks went unanswered, with the same id)."""
        if not event_id:
            return True
        with self._seen_lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            while len(self._seen) > KEEP:
                self._seen.popitem(last=False)
            return True

    def receive(self, payload: Any) -> dict[str, Any]:
        """The reply to one verified request: the challenge of ``url_verification``; for an event, ``{}`` at once,
        the work started on a worker thread."""
        if not isinstance(payload, dict):
            raise HTTPProblem(400, "the body must be a JSON object", "Slack sends events as JSON objects")
        if payload.get("type") == "url_verification":
            return {"challenge": payload.get("challenge")}
        event = payload.get("event")
        if payload.get("type") != "event_callback" or not isinstance(event, dict) or not self.first_time(payload.get("event_id")):
            return {}
        bot = next((a.get("user_id") for a in payload.get("authorizations") or [] if isinstance(a, dict)), None)
        work = self._work(event, bot)
        if work is not None:
            worker = threading.Thread(target=self._safely, args=work, name="slack-answer", daemon=True)
            self.workers = [w for w in self.workers if w.is_alive()] + [worker]
            worker.start()
        return {}

    def _work(self, event: dict[str, Any], bot: str | None) -> tuple[Any, ...] | None:
        """What to do with ``event`` on a worker thread, or None to ignore it."""
        kind = event.get("type")
        if kind == "reaction_added":
            item = event.get("item") or {}
            rating = RATINGS.get(str(event.get("reaction", "")).split("::")[0])
            if rating and item.get("type") == "message":
                return self.rate, f"{item.get('channel')}:{item.get('ts')}", rating, event.get("user")
            return None
        is_direct = kind == "message" and event.get("channel_type") == "im"
        if kind != "app_mention" and not is_direct:
            return None
        if event.get("bot_id") or event.get("subtype") not in PERSON_SUBTYPES or not event.get("user") or event.get("user") == bot:
            return None
        question = question_of(str(event.get("text") or ""))
        if not question:
            return None
        channel, ts = event.get("channel"), event.get("thread_ts") or event.get("ts")
        return self.answer, str(channel), str(ts), question, str(event["user"])

    def _safely(self, action, *args: Any) -> None:
        try:
            action(*args)
        except Exception as exc:  # noqa: BLE001 - a bug in one answer must not stop the bot
            print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)

    def answer(self, channel: str, thread_ts: str, question: str, user: str) -> None:
        """Ask ``question`` (continuing the thread's conversation) and post the answer in the thread."""
        key = f"{channel}:{thread_ts}"
        with self._thread_locks.setdefault(key, threading.Lock()):  # a thread's turns in order: each continues the last
            conversation = self.state.thread(key)
            try:
                answer = ask_served(self.watcher.current(), self.warehouses, question, surface="slack", conversation_id=conversation,
                                    model=self.model, shared=False, user=user).to_dict()
            except VedderError as exc:
                answer = {"status": "error", "question": question, "error": exc.message, "hint": exc.hint}
            except Exception as exc:  # noqa: BLE001 - said in the thread, and on the terminal
                print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                answer = {"status": "error", "question": question, "error": f"internal error: {type(exc).__name__}",
                          "hint": "this is a bug in vedder, not in your question; the bot's terminal shows it"}
            posted = self.post(channel, thread_ts, message(answer))
            if answer.get("conversation_id"):
                self.state.remember(key, posted and f"{channel}:{posted}", answer["conversation_id"])

    def rate(self, message_key: str, rating: str, user: str | None) -> None:
        """Record a reaction on one of the bot's answers as feedback for its conversation."""
        from vedder.log.store import open_log

        conversation = self.state.answer(message_key)
        if conversation is None:
            return
        store = open_log(self.watcher.current().config)
        try:
            store.feedback(conversation, rating, user=user)
        finally:
            store.close()

    def post(self, channel: str, thread_ts: str, text: str) -> str | None:
        """``chat.postMessage`` in the thread; the posted message's ts, or None (said on stderr) when Slack refused."""
        body = json.dumps({"channel": channel, "thread_ts": thread_ts, "text": text, "unfurl_links": False}).encode()
        request = urllib.request.Request(f"{self.api_base}/chat.postMessage", data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {self._token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                reply = json.loads(response.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            print(f"warning: Slack's chat.postMessage failed: {exc}\nhint: check that this machine reaches {self.api_base}",
                  file=sys.stderr, flush=True)
            return None
        if not reply.get("ok"):
            print(f"warning: Slack refused chat.postMessage: {reply.get('error')}\nhint: invite the bot to the channel "
                  "(/invite @bot) and give it the chat:write scope", file=sys.stderr, flush=True)
            return None
        return reply.get("ts")

    def wait(self, timeout: float = 60.0) -> None:
        """Wait for the answers being worked on (tests, and a server stopping)."""
        for worker in list(self.workers):
            worker.join(timeout)


class SlackServer(WebServer):
    """``vedder web``'s server (quiet about clients gone, ``url``) with the Slack handler."""

    def __init__(self, address: tuple[str, int], app: SlackApp) -> None:  # not super().__init__: it binds web's handler
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        ThreadingHTTPServer.__init__(self, address, SlackHandler)


class SlackHandler(Handler):
    """``POST /slack/events`` only; the body read and the reply sent as ``vedder web`` does."""

    server: SlackServer
    server_version = "vedder-slack"

    def _handle(self, method: str) -> None:
        try:
            if self.path.split("?")[0] != "/slack/events":
                raise HTTPProblem(404, f"no such path: {self.path}", "Slack's Event Subscriptions Request URL ends in /slack/events")
            if method != "POST":
                raise HTTPProblem(405, f"{method} is not allowed", "Slack POSTs events", {"Allow": "POST"})
            length = self.headers.get("Content-Length")
            if length is None or not (length.isascii() and length.isdigit()):
                self.close_connection = True
                raise HTTPProblem(411, "Content-Length is required", "send the body with its Content-Length")
            if int(length) > MAX_BODY:
                self.close_connection = True
                raise HTTPProblem(413, f"the body is over {MAX_BODY // 1024} KB", "Slack's events are a few KB")
            body = self._read(int(length))
            verify(self.server.app.secret, self.headers.get("X-Slack-Request-Timestamp"), self.headers.get("X-Slack-Signature"), body)
            try:
                payload = json.loads(body.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                raise HTTPProblem(400, f"the body is not JSON: {exc}", "Slack sends events as JSON") from None
            self._send(200, json_bytes(self.server.app.receive(payload)))
        except HTTPProblem as problem:
            self._send(problem.status, json_bytes({"error": problem.error, "hint": problem.hint}), headers=problem.headers)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 and the server keeps serving
            print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            self._send(500, json_bytes({"error": f"internal error: {type(exc).__name__}", "hint": "this is a bug in vedder"}))


for _method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
    setattr(SlackHandler, f"do_{_method}", functools.partialmethod(SlackHandler._handle, _method))


def create_server(project: Path | None = None, *, env: dict[str, str], host: str = "127.0.0.1", port: int = 8767,
                  model: str | None = None) -> SlackServer:
    """The server, bound and ready for ``serve_forever`` (port 0: any free port); credentials from ``env``."""
    token, secret = credentials(env)
    check_port(host, port)
    app = SlackApp(ProjectWatcher(project), token, secret, api_base=env.get(API_ENV) or DEFAULT_API, model=model)
    try:
        return SlackServer((host, port), app)
    except OSError as exc:
        raise listen_error(host, port, exc) from None


def serve(project: Path | None = None, *, env: dict[str, str], host: str = "127.0.0.1", port: int = 8767, model: str | None = None) -> None:
    """Receive Slack's events and answer them until Ctrl-C."""
    from vedder.web import serve_until_stopped

    server = create_server(project, env=env, host=host, port=port, model=model)
    serve_until_stopped(server, model, f"vedder slack on {server.url}/slack/events (Slack reaches it through your HTTPS "
                                       "proxy; Ctrl-C stops it)", drain=lambda: server.app.wait(10))
