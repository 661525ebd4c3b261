"""The Slack surface: a bot that answers data questions in a thread, over the library ``vedder web`` calls.

Python's own HTTP server receives Slack's Events API at ``POST /slack/events``; answers go back through the Web
API's ``chat.postMessage`` (stdlib ``urllib``, no Slack SDK). Every request must carry Slack's v0 signature (an
HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the signing secret, compared in constant time) and a timestamp at
most five minutes old; anything else is 401. An event is acknowledged at once and answered on a worker thread
(Slack gives up after 3 s and retries); a retry of an event already taken is acknowledged and dropped, also
after a restart (handled event ids are kept for an hour).

A mention (``app_mention``) or a direct message is asked as surface ``slack`` with the Slack user id as the
user; the answer goes into the message's thread. A later message in that thread continues the conversation. A
👍/👎 reaction on an answer rates the turn that message answered (``feedback`` with its ``turn_id``); removing
the reaction withdraws the rating. What must survive a restart (thread → conversation, answer message → turn,
reactions, handled events) lives in ``slack.json`` next to the conversation log, written atomically, each map
bounded to its newest ``KEEP`` entries.

A message Slack refuses is retried where retrying can help (HTTP 429 after its Retry-After, 5xx, a network
error, ``ratelimited``/``internal_error``), a bounded number of times; otherwise, or when the retries run out, the
bot's terminal gets one line naming Slack's error and what to do, and the bot goes on answering.

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
from decimal import Decimal, InvalidOperation
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from vedder.errors import UsageError, VedderError
from vedder.serving import ProjectWatcher, WarehousePool, ask_served, check_port, listen_error
from vedder.warehouse import readable
from vedder.web import MAX_BODY, Handler, HTTPProblem, WebServer, json_bytes

TOKEN_ENV = "SLACK_BOT_TOKEN"
SECRET_ENV = "SLACK_SIGNING_SECRET"
API_ENV = "VEDDER_SLACK_API"
DEFAULT_API = "https://slack.com/api"
MAX_AGE_S = 5 * 60
"""A request signed longer ago than this (or as far ahead) is refused: a captured request replayed later."""
STATE_FILE = "slack.json"
KEEP = 10_000
"""Threads, answer messages and reactions remembered (the oldest forgotten first): months of a busy channel."""
EVENT_KEEP_S = 60 * 60
"""Handled event ids are remembered this long: Slack retries an event three times within about five minutes."""
POST_ATTEMPTS = 4
BACKOFF_S = 1.0
"""The wait before retrying a 5xx or a network error, doubling per attempt (Slack's 429 says its own wait)."""
MAX_RETRY_AFTER_S = 30
"""A longer Retry-After is not waited for: the asker has long stopped looking at the thread."""
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
TOKEN_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "missing_scope",
                "no_permission", "not_allowed_token_type", "ekm_access_denied"}
CHANNEL_ERRORS = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action",
                  "restricted_action_read_only_channel", "restricted_action_thread_only_channel", "cannot_reply_to_message"}
TABLE_ROWS = 10
SQL_CHARS = 2_500
CELL_CHARS = 40
TABLE_CHARS = 3_000
"""The most a result table takes in a message: columns past it are named, not shown (a wide SELECT * of 300 columns
made a message Slack refuses, msg_too_long, and none is readable in a chat window anyway)."""
TEXT_CHARS = 6_000
"""The most an answer's words take (a model's essay); past it they are cut, saying so."""
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
    text = readable(value, CELL_CHARS * 10)  # 'NULL', floats and decimals without their noise
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def table(columns: list[str], rows: list[list[Any]], max_chars: int = TABLE_CHARS) -> str:
    """The first ``TABLE_ROWS`` rows as aligned plain text, saying how many more there are; the columns that fit in
    ``max_chars`` (at least one), naming how many more there are.

    >>> print(table(["country", "streams"], [["SE", 3], ["US", 12]]))
    country  streams
    SE       3
    US       12
    >>> print(table(["country", "streams", "listeners"], [["SE", 3, 2]], max_chars=40))
    country  streams
    SE       3
    … 1 more column not shown: listeners
    """
    shown = [[_cell(c) for c in columns], *[[_cell(v) for v in row] for row in rows[:TABLE_ROWS]]]
    widths = [max(len(line[i]) for line in shown) for i in range(len(columns))]
    fit, used = 0, 0
    while fit < len(columns) and (fit == 0 or used + (2 + widths[fit]) * len(shown) <= max_chars):
        used += (2 + widths[fit]) * len(shown)
        fit += 1
    lines = ["  ".join(v.ljust(w) for v, w in zip(line[:fit], widths)).rstrip() for line in shown]
    if len(rows) > TABLE_ROWS:
        lines.append(f"… {len(rows) - TABLE_ROWS:,} more rows")
    if fit < len(columns):
        rest = [_cell(c) for c in columns[fit:]]
        names = ", ".join(rest[:5]) + (", …" if len(rest) > 5 else "")
        lines.append(f"… {len(rest):,} more column{'s' if len(rest) > 1 else ''} not shown: {names}")
    return "\n".join(lines)


def _words(text: str) -> str:
    """An answer's words, cut at ``TEXT_CHARS`` saying so."""
    return text if len(text) <= TEXT_CHARS else text[:TEXT_CHARS].rstrip() + " … (cut: the answer is longer than fits in Slack)"


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
    failed, other_caveats = [], answer.get("caveats") or []
    if answer.get("checks"):  # only a model's answer has checks: an offline answer does not load the agent package
        from vedder.agent.checks import failed_first

        failed, other_caveats = failed_first(other_caveats, answer["checks"])
    if failed:  # before the answer's words, as on every surface
        lines = [f"*{len(failed)} check{'s' * (len(failed) > 1)} failed, read before the answer:*"]
        lines += [f"_Check failed:_ {slack_text(detail)}" for detail in failed]
        lines.append(slack_text(_words(answer.get("answer") or "")))
    elif status == "error":
        lines = [f"*Error:* {slack_text(_words(answer.get('error') or answer.get('answer') or 'the question could not be answered'))}"]
    elif status == "not_covered":
        lines = [f"*Not covered:* {slack_text(_words(answer.get('answer') or ''))}"]
    else:
        lines = [slack_text(_words(answer.get("answer") or ""))]
    lines += [f"_Caveat:_ {slack_text(caveat)}" for caveat in other_caveats]
    if answer.get("ambiguous"):
        names = ", ".join(f"`{cluster}`" for cluster in tie_clusters(answer))
        lines.append(f"_Reply in this thread with the one you mean ({names}) and I will ask it there._")
    elif answer.get("hint"):
        lines.append(f"_Hint:_ {slack_text(answer['hint'])}")
    if answer.get("sql"):
        sql = answer["sql"] if len(answer["sql"]) <= SQL_CHARS else answer["sql"][:SQL_CHARS] + "\n…"
        lines.append(_code(slack_text(sql)))
    if answer.get("columns"):
        lines.append(_code(slack_text(table(answer["columns"], answer.get("rows") or []))))
        if answer.get("truncated"):
            lines.append(f"_Only the first {len(answer.get('rows') or []):,} rows: the result was cut at query.row_limit._")
    if sources(answer):
        lines.append(slack_text(sources(answer)))
    if status == "answered":
        lines.append("_React with :+1: or :-1: to rate this answer; reply in this thread to follow up._")
    return "\n".join(line for line in lines if line)


def tie_clusters(answer: dict[str, Any]) -> list[str]:
    """The clusters an ambiguous answer names, best first (not those left out for a broken file)."""
    return [c["cluster"] for c in answer.get("closest") or [] if c.get("cluster") and not c.get("not_loaded")]


def chosen_cluster(reply: str, clusters: list[str]) -> str | None:
    """The cluster a thread reply picks from a tie: its id ("podcasts", "`podcasts`", "podcasts please") or its
    number in the list ("2"); None for anything else: a new question in the thread, also one that names a tied
    cluster ("is listening time up?"), since the reply says more than the choice (``CHOICE_WORDS``).

    >>> chosen_cluster("the podcasts one", ["podcasts", "listening"]), chosen_cluster("2", ["podcasts", "listening"])
    ('podcasts', 'listening')
    >>> chosen_cluster("is listening time up?", ["podcasts", "listening"]) is None
    True
    """
    words = re.findall(r"[\w-]+", reply.lower())
    if len(words) == 1 and words[0].isdigit() and 1 <= int(words[0]) <= len(clusters):
        return clusters[int(words[0]) - 1]
    named = [c for c in clusters if c.lower() in words]
    if len(named) != 1 or any(word not in CHOICE_WORDS and word != named[0].lower() for word in words):
        return None
    return named[0]


CHOICE_WORDS = frozenset("the one please pls i mean meant use in that cluster ok okay yes yeah go with it its s".split())  # s: it's
"""The words a reply choosing a cluster may say besides its id ("I mean listening", "the podcasts one please")."""


def post_hint(error: str, needed: str | None = None) -> str:
    """What to do about Slack's ``error`` for chat.postMessage.

    >>> post_hint("not_in_channel")
    'invite the bot to the channel (/invite @vedder in it)'
    """
    if error in TOKEN_ERRORS:
        scopes = f"; Slack says it needs {needed}" if needed else ""
        return (f"check {TOKEN_ENV} (the Bot User OAuth Token of the installed app) and the token's scopes: chat:write, "
                f"app_mentions:read, reactions:read, im:history{scopes}")
    if error in CHANNEL_ERRORS:
        return "invite the bot to the channel (/invite @vedder in it)"
    if error == "msg_too_long":
        return "the answer is over Slack's message size; ask for fewer columns"
    if error in RETRYABLE_ERRORS:
        return "Slack is overloaded or down (status.slack.com); the asker can ask again"
    return f"{error} is explained at https://api.slack.com/methods/chat.postMessage#errors"


def _retry_after(value: str | None) -> float:
    """Seconds to wait for a 429's Retry-After (Slack sends whole seconds; anything else waits one)."""
    return float(value) if value and value.strip().isascii() and value.strip().isdigit() else 1.0


def _event_time(ts: Any) -> Decimal:
    """Slack's ``event_ts`` ("1700000000.000100") as a number that orders exactly; now when it is missing."""
    try:
        return Decimal(str(ts))
    except (InvalidOperation, ValueError):
        return Decimal(f"{time.time():.6f}")


class SlackState:
    """What the bot remembers across restarts, in one JSON file (atomic writes), each map its newest ``KEEP``:
    ``threads`` (channel:thread_ts → conversation), ``answers`` (channel:ts → [conversation, turn id]),
    ``reactions`` (channel:ts user rating → [event_ts, feedback id or null]), ``ties`` (channel:thread_ts → the
    question several clusters fit and their ids, until the next reply in the thread) and ``events`` (handled event
    id → unix time, forgotten after ``EVENT_KEEP_S``)."""

    MAPS = ("threads", "answers", "reactions", "ties", "events")

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        data = self._read()
        self.maps: dict[str, OrderedDict[str, Any]] = {}
        for name in self.MAPS:
            saved = data.get(name)
            self.maps[name] = OrderedDict(saved if isinstance(saved, dict) else {})
        for key, value in self.maps["answers"].items():  # written before answers knew their turn: rate the latest
            if isinstance(value, str):
                self.maps["answers"][key] = [value, None]
        self._forget_old_events()

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

    def get(self, name: str, key: str) -> Any:
        with self._lock:
            return self.maps[name].get(key)

    def put(self, changes: dict[str, dict[str, Any]], event_id: str | None = None) -> None:
        """Set ``changes`` ({map: {key: value}}; a value None forgets the key) and mark ``event_id`` handled, in one write of the file. A file that
        cannot be written is said on stderr; the bot goes on from memory."""
        from vedder.files import atomic_write

        if event_id:
            changes = {**changes, "events": {event_id: round(time.time())}}
        with self._lock:
            for name, entries in changes.items():
                for key, value in entries.items():
                    if value is None:  # forget the key
                        self.maps[name].pop(key, None)
                        continue
                    self.maps[name][key] = value
                    self.maps[name].move_to_end(key)
            for mapping in self.maps.values():
                while len(mapping) > KEEP:
                    mapping.popitem(last=False)
            self._forget_old_events()
            try:
                atomic_write(self.path, json.dumps(self.maps, separators=(",", ":")))
            except OSError as exc:
                print(f"warning: cannot write {self.path}: {exc.strerror or exc}; hint: threads and ratings since are "
                      "forgotten at a restart unless the folder is writable", file=sys.stderr, flush=True)

    def _forget_old_events(self) -> None:
        events, oldest = self.maps["events"], time.time() - EVENT_KEEP_S
        while events and not (isinstance(value := next(iter(events.values())), (int, float)) and value >= oldest):
            events.popitem(last=False)


class SlackApp:
    """What the bot does with an event, apart from HTTP: ask, post the answer, record reactions."""

    def __init__(self, watcher: ProjectWatcher, token: str, secret: str, api_base: str = DEFAULT_API, model: str | None = None) -> None:
        from vedder.log.store import log_path

        self.watcher, self.model = watcher, model
        self._token, self.secret = token, secret
        self.api_base = api_base.rstrip("/")
        self.warehouses = WarehousePool()
        self.state = SlackState(log_path(watcher.current().config).parent / STATE_FILE)
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._thread_locks: dict[str, threading.Lock] = {}
        self._reactions_lock = threading.Lock()
        self.workers: list[threading.Thread] = []

    def first_time(self, event_id: str | None) -> bool:
        """Whether ``event_id`` is new: not taken since start, nor handled before a restart (Slack retries an event it
        thinks went unanswered, with the same id)."""
        if not event_id:
            return True
        with self._seen_lock:
            if event_id in self._seen or self.state.get("events", event_id) is not None:
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
            worker = threading.Thread(target=self._safely, args=(payload.get("event_id"), *work), name="slack-answer", daemon=True)
            self.workers = [w for w in self.workers if w.is_alive()] + [worker]
            worker.start()
        return {}

    def _work(self, event: dict[str, Any], bot: str | None) -> tuple[Any, ...] | None:
        """What to do with ``event`` on a worker thread, or None to ignore it."""
        kind = event.get("type")
        if kind in ("reaction_added", "reaction_removed"):
            item = event.get("item") or {}
            rating = RATINGS.get(str(event.get("reaction", "")).split("::")[0])  # "+1::skin-tone-2" is +1
            if rating and item.get("type") == "message" and event.get("user"):
                return (self.rate, f"{item.get('channel')}:{item.get('ts')}", rating, str(event["user"]),
                        kind == "reaction_added", _event_time(event.get("event_ts")))
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

    def _safely(self, event_id: str | None, action, *args: Any) -> None:
        """Run ``action(event_id, *args)``; whatever goes wrong is one line on stderr and the event counts as handled."""
        try:
            action(event_id, *args)
            return
        except VedderError as exc:
            print(f"error: {exc.message}; hint: {exc.hint}", file=sys.stderr, flush=True)
        except Exception as exc:  # noqa: BLE001 - a bug in one answer must not stop the bot
            print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        self.state.put({}, event_id)

    def answer(self, event_id: str | None, channel: str, thread_ts: str, question: str, user: str) -> None:
        """Ask ``question`` (continuing the thread's conversation) and post the answer in the thread."""
        key = f"{channel}:{thread_ts}"
        with self._thread_locks.setdefault(key, threading.Lock()):  # a thread's turns in order: each continues the last
            conversation = self.state.get("threads", key)
            tie = self.state.get("ties", key)
            cluster = chosen_cluster(question, tie["clusters"]) if tie else None
            if cluster:  # a reply naming one of the clusters a tie named: the tied question, asked there
                question = tie["question"]
            try:
                asked = ask_served(self.watcher.current(), self.warehouses, question, surface="slack", conversation_id=conversation,
                                   model=self.model, shared=False, user=user, cluster_id=cluster)
                answer = {**asked.to_dict(), "turn_id": asked.turn_id}
            except VedderError as exc:
                answer = {"status": "error", "question": question, "error": exc.message, "hint": exc.hint}
            except Exception as exc:  # noqa: BLE001 - said in the thread, and on the terminal
                print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                answer = {"status": "error", "question": question, "error": f"internal error: {type(exc).__name__}",
                          "hint": "this is a bug in vedder, not in your question; the bot's terminal shows it"}
            posted = self.post(channel, thread_ts, message(answer))
            changes: dict[str, dict[str, Any]] = {}
            if answer.get("ambiguous"):
                changes["ties"] = {key: {"question": question, "clusters": tie_clusters(answer)}}
            elif tie:
                changes["ties"] = {key: None}  # any other reply ends the choice
            if answer.get("conversation_id"):
                changes["threads"] = {key: answer["conversation_id"]}
                if posted:
                    changes["answers"] = {f"{channel}:{posted}": [answer["conversation_id"], answer.get("turn_id")]}
            self.state.put(changes, event_id)

    def rate(self, event_id: str | None, message_key: str, rating: str, user: str, added: bool, at: Decimal) -> None:
        """A reaction added to (or removed from) one of the bot's answers: rate the turn that message answered (or
        withdraw that rating). Reactions apply in Slack's order (``event_ts``), whatever order they arrive in."""
        from vedder.log.store import open_log

        key = f"{message_key} {user} {rating}"
        with self._reactions_lock:
            answered = self.state.get("answers", message_key)
            last_at, feedback_id = self.state.get("reactions", key) or (None, None)
            if answered is None or (last_at is not None and Decimal(last_at) >= at):
                return  # not on an answer (every reaction in the bot's channels comes here), or stale: nothing to keep
            if added != (feedback_id is not None):
                store = open_log(self.watcher.current().config)
                try:
                    if added:
                        feedback_id = store.feedback(answered[0], rating, user=user, turn_id=answered[1])["id"]
                    else:
                        store.withdraw_feedback(feedback_id)
                        feedback_id = None
                finally:
                    store.close()
            self.state.put({"reactions": {key: [str(at), feedback_id]}}, event_id)

    def post(self, channel: str, thread_ts: str, text: str) -> str | None:
        """``chat.postMessage`` in the thread; the posted message's ts. Retried where that can help (429 after its
        Retry-After, 5xx, a network error, Slack's ``ratelimited``), up to ``POST_ATTEMPTS`` times; a refusal is one
        line on stderr naming Slack's error with a hint, and None."""
        body = json.dumps({"channel": channel, "thread_ts": thread_ts, "text": text, "unfurl_links": False}).encode()
        request = urllib.request.Request(f"{self.api_base}/chat.postMessage", data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8", "Authorization": f"Bearer {self._token}"})
        for attempt in range(1, POST_ATTEMPTS + 1):
            wait = BACKOFF_S * 2 ** (attempt - 1)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    reply = json.loads(response.read().decode("utf-8"))
                if not isinstance(reply, dict):
                    raise ValueError(f"{self.api_base} answered JSON that is no object")
                if reply.get("ok"):
                    return reply.get("ts")
                error = str(reply.get("error") or "unknown_error")
                retryable, hint = error in RETRYABLE_ERRORS, post_hint(error, reply.get("needed"))
            except urllib.error.HTTPError as exc:
                error, retryable = f"HTTP {exc.code}", exc.code == 429 or exc.code >= 500
                hint = post_hint("ratelimited") if retryable else f"is {self.api_base} Slack's Web API? ({API_ENV} sets another)"
                if exc.code == 429:
                    wait = _retry_after(exc.headers.get("Retry-After"))
                    error = f"HTTP 429, rate limited (Retry-After {wait:g} s)"
            except (OSError, ValueError) as exc:
                error, retryable = str(getattr(exc, "reason", None) or exc), True
                hint = f"check that this machine reaches {self.api_base}"
            if not retryable or attempt == POST_ATTEMPTS or wait > MAX_RETRY_AFTER_S:
                tries = f" ({attempt} attempts)" if attempt > 1 else ""
                print(f"error: Slack did not take the answer for channel {channel}{tries}: {error}; hint: {hint}",
                      file=sys.stderr, flush=True)
                return None
            time.sleep(wait)

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
