"""The web surface: one page for people who do not use a terminal, and the JSON API it calls.

Python's own HTTP server (``ThreadingHTTPServer``), thin over the library the CLI and MCP call:
``vedder.ask.ask`` (through ``vedder.serving``'s warehouse pool and project watcher), the conversation log's
feedback and ``Project.summaries``. Routes: ``GET /`` the page (``web.html``, self-contained), ``POST /api/ask``,
``POST /api/feedback``, ``GET /api/clusters``. Request problems are 4xx with ``{"error", "hint"}``.

Safety: a browser page from another site must not make this server query the warehouse. A POST whose
``Origin`` is not this server's is refused, and on a loopback address a ``Host`` that names another machine
(DNS rebinding) too. With a token every ``/api`` call needs ``Authorization: Bearer TOKEN``, compared in
constant time and never printed. The page renders server data with ``textContent`` only, and its
Content-Security-Policy lets only its own inline script run.

>>> json_bytes({"answer": "<script>"})
b'{"answer": "\\\\u003cscript\\\\u003e"}'
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from vedder.errors import ClusterNotFound, UsageError, VedderError
from vedder.serving import LOCAL_HOSTS, ProjectWatcher, WarehousePool, ask_served, listen_error, plain, warn_if_public

PAGE = Path(__file__).with_name("web.html")
MAX_BODY = 64 * 1024
"""Bytes a request body may have: a question, a comment and a few ids fit many times over."""
REQUEST_TIMEOUT_S = 20.0
"""How long a client may take to send a request's headers or body, and to take the answer: a body of MAX_BODY
bytes crosses even a 2G link (~50 kbit/s) in about 10 s, while a client that announces a Content-Length larger than
what it sends (or stops reading) would otherwise hold a server thread for ever. Not a bound on answering: a question
may run for as long as the query timeout allows while the socket waits."""
TOKEN_ENV = "VEDDER_WEB_TOKEN"
ASK_FIELDS = {"question", "cluster", "conversation_id"}
FEEDBACK_FIELDS = {"conversation_id", "rating", "comment"}
EXAMPLES = {"question": "How many streams were there in Sweden in October 2026?", "cluster": "listening",
            "conversation_id": "3f9a1c2b7d", "comment": "should exclude test users"}


class HTTPProblem(Exception):
    """A request the server will not answer: the HTTP status, ``{"error", "hint"}`` and any extra headers."""

    def __init__(self, status: int, error: str, hint: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.hint, self.headers = status, error, hint, headers or {}


def json_bytes(data: Any) -> bytes:
    """``data`` as JSON with ``<``, ``>`` and ``&`` escaped: no browser can read a response as HTML."""
    text = json.dumps(plain(data), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("utf-8")


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: nothing from the network, only the page's own inline script and style
    (by hash), calls to this server only, no framing (clickjacking the feedback buttons)."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; connect-src 'self'; "
            "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise HTTPProblem(400, f"'{name}' must be a non-empty string" if required else f"'{name}' must be a string or null",
                          f"e.g. {json.dumps({name: EXAMPLES[name]}, ensure_ascii=False)}")
    return value.strip() or None


def _fields(body: Any, known: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HTTPProblem(400, "the body must be a JSON object", f"send an object with {', '.join(sorted(known))}")
    unknown = sorted(set(body) - known)
    if unknown:
        raise HTTPProblem(400, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
                          f"the fields are {', '.join(sorted(known))}")
    return body


class WebApp:
    """What the routes do, apart from HTTP: each takes the parsed body and returns the JSON to send."""

    def __init__(self, watcher: ProjectWatcher, model: str | None = None, token: str | None = None) -> None:
        self.watcher, self.model, self.token = watcher, model, token
        self.warehouses = WarehousePool()
        self.html = PAGE.read_text(encoding="utf-8")
        self.policy = page_policy(self.html)

    def ask(self, body: Any) -> dict[str, Any]:
        """The answer object of schemas/answer.schema.json (status ``error`` included: the page shows its hint)."""
        body = _fields(body, ASK_FIELDS)
        question = _text(body, "question", required=True)
        cluster, conversation = _text(body, "cluster"), _text(body, "conversation_id")
        answer = ask_served(self.watcher.current(), self.warehouses, question, surface="web", cluster_id=cluster,
                            conversation_id=conversation, model=self.model, shared=True)
        if answer.not_logged is not None:
            print(f"warning: not logged: {answer.not_logged.message}\nhint: {answer.not_logged.hint}", file=sys.stderr, flush=True)
        return answer.to_dict()

    def feedback(self, body: Any) -> dict[str, Any]:
        from vedder.log.store import open_log

        body = _fields(body, FEEDBACK_FIELDS)
        conversation = _text(body, "conversation_id", required=True)
        rating = body.get("rating")
        if rating not in ("up", "down"):
            raise HTTPProblem(400, "'rating' must be 'up' or 'down'", '{"conversation_id": "…", "rating": "up", "comment": "…"}')
        store = open_log(self.watcher.current().config)
        try:
            return store.feedback(conversation, rating, _text(body, "comment"))
        finally:
            store.close()

    def clusters(self, _body: Any = None) -> dict[str, Any]:
        """Each cluster's id, title, owning team and counts (a cluster with a broken file: its ``problem``)."""
        project = self.watcher.current()
        return {"clusters": project.summaries(), "warnings": project.warnings}


ROUTES: dict[str, dict[str, str]] = {
    "/": {"GET": "page"},
    "/api/ask": {"POST": "ask"},
    "/api/feedback": {"POST": "feedback"},
    "/api/clusters": {"GET": "clusters"},
}


class WebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: WebApp) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.app = app
        super().__init__(address, Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A browser that went away before its answer (a closed tab) is no news; anything else is a bug, printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: WebServer
    server_version = "vedder-web"
    timeout = REQUEST_TIMEOUT_S  # StreamRequestHandler sets it on the socket: each read and write waits at most this

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a request line is no news, and the person at the terminal reads the page, not the log."""

    def _handle(self, method: str) -> None:
        try:
            self._check_host()
            path = urlsplit(self.path).path
            methods = ROUTES.get(path)
            if methods is None:
                raise HTTPProblem(404, f"no such page: {path}", "the page is at /; the API is POST /api/ask, POST /api/feedback, GET /api/clusters")
            if method not in methods:
                raise HTTPProblem(405, f"{method} is not allowed on {path}", f"use {' or '.join(methods)}",
                                  {"Allow": ", ".join(methods)})
            action = methods[method]
            if action == "page":
                return self._send(200, self.server.app.html.encode("utf-8"), "text/html; charset=utf-8",
                                  {"Content-Security-Policy": self.server.app.policy})
            self._check_token()
            body = self._body() if method == "POST" else None
            self._send(200, json_bytes(self._call(getattr(self.server.app, action), body)))
        except HTTPProblem as problem:
            self._send(problem.status, json_bytes({"error": problem.error, "hint": problem.hint}), headers=problem.headers)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 and the server keeps serving
            print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            self._send(500, json_bytes({"error": f"internal error: {type(exc).__name__}",
                                        "hint": "this is a bug in vedder, not in your question; the server's terminal shows it"}))

    @staticmethod
    def _call(action: Callable[[Any], dict[str, Any]], body: Any) -> dict[str, Any]:
        try:
            return action(body)
        except (UsageError, ClusterNotFound) as exc:  # the request named what is not there (a cluster, a conversation)
            raise HTTPProblem(400, exc.message, exc.hint) from None
        except VedderError as exc:  # the project, warehouse or log: the server's side
            raise HTTPProblem(500, exc.message, exc.hint) from None

    def _check_host(self) -> None:
        """On a loopback address, only requests for a loopback name: a site whose name resolves to 127.0.0.1 after
        the page loaded (DNS rebinding) is same-origin to the browser, not to us."""
        bound = self.server.server_address[0]
        if bound not in ("127.0.0.1", "::1"):
            return
        name = urlsplit(f"//{self.headers.get('Host', '')}").hostname or ""
        if name not in LOCAL_HOSTS:
            raise HTTPProblem(403, f"requests for host '{name}' are refused", f"open {self.server.url}/")

    def _check_token(self) -> None:
        token = self.server.app.token
        if not token:
            return
        scheme, _, given = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPProblem(401, "a valid token is required", f"send Authorization: Bearer <token> (the server's --token or {TOKEN_ENV})",
                              {"WWW-Authenticate": 'Bearer realm="vedder"'})

    def _check_origin(self) -> None:
        """A POST a browser sends from another site carries that site's Origin (or Sec-Fetch-Site: cross-site). The
        page's own is http://HOST, or https://HOST behind a TLS proxy that passes the Host on."""
        origin = self.headers.get("Origin")
        if origin is not None and origin not in (f"{scheme}://{self.headers.get('Host', '')}" for scheme in ("http", "https")):
            raise HTTPProblem(403, "cross-site request refused", "open the page this server serves and ask from there")
        if self.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
            raise HTTPProblem(403, "cross-site request refused", "open the page this server serves and ask from there")

    def _body(self) -> Any:
        self._check_origin()
        if (self.headers.get_content_type() or "") != "application/json":
            raise HTTPProblem(415, "the body must be JSON", "send Content-Type: application/json")
        length = self.headers.get("Content-Length")
        if length is None or not (length.isascii() and length.isdigit()):
            self.close_connection = True
            raise HTTPProblem(411, "Content-Length is required", "send the body with its Content-Length")
        if int(length) > MAX_BODY:
            if int(length) <= 16 * MAX_BODY:
                try:
                    self._read(int(length))  # read, so that closing does not reset the connection under the reply
                except HTTPProblem:
                    pass  # too large anyway: say so
            self.close_connection = True
            raise HTTPProblem(413, f"the body is over {MAX_BODY // 1024} KB", "ask a shorter question or write a shorter comment")
        try:
            return json.loads(self._read(int(length)).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPProblem(400, f"the body is not JSON: {exc}", '{"question": "How many streams were there in Sweden in October 2026?"}') from None

    def _read(self, length: int) -> bytes:
        """The body's ``length`` bytes, all within ``timeout`` seconds (408 otherwise): the socket's timeout bounds
        each read only, and a client sending a byte now and then would keep the thread."""
        deadline = time.monotonic() + self.timeout
        chunks: list[bytes] = []
        try:
            while length > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(length)
                if not chunk:
                    break
                chunks.append(chunk)
                length -= len(chunk)
        except TimeoutError:
            self.close_connection = True
            raise HTTPProblem(408, f"the body did not arrive within {self.timeout:g} s ({length:,} bytes of its Content-Length missing)",
                              "send a body as long as its Content-Length says") from None
        finally:
            self.connection.settimeout(self.timeout)
        if length > 0:
            self.close_connection = True
            raise HTTPProblem(400, f"the body ended {length:,} bytes before its Content-Length", "send a body as long as its Content-Length says")
        return b"".join(chunks)

    def _send(self, status: int, payload: bytes, content_type: str = "application/json", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(payload)), "Cache-Control": "no-store",
                            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                            "X-Frame-Options": "DENY", **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


for _method in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):  # OPTIONS: no CORS preflight is ever allowed
    setattr(Handler, f"do_{_method}", functools.partialmethod(Handler._handle, _method))


def warm_model(model: str) -> threading.Thread:
    """Import litellm and check ``model`` on a thread while the server starts listening: the first question then
    skips the ~5 s import, and a model litellm does not know is said at once (the server keeps serving)."""
    from vedder.agent.llm import check_model

    def check() -> None:
        try:
            check_model(model)
        except VedderError as exc:
            print(f"warning: {exc.message}\nhint: {exc.hint}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=check, name="warm-model", daemon=True)
    thread.start()
    return thread


def create_server(project: Path | None = None, *, host: str = "127.0.0.1", port: int = 8766, model: str | None = None,
                  token: str | None = None) -> WebServer:
    """The server, bound and ready for ``serve_forever`` (port 0: any free port, see ``server_address``)."""
    app = WebApp(ProjectWatcher(project), model=model, token=token or None)
    try:
        return WebServer((host, port), app)
    except OSError as exc:
        raise listen_error(host, port, exc) from None


def serve(project: Path | None = None, *, host: str = "127.0.0.1", port: int = 8766, model: str | None = None,
          token: str | None = None) -> None:
    """Serve the page and API until Ctrl-C."""
    server = create_server(project, host=host, port=port, model=model, token=token)
    warn_if_public(host, token=bool(token))
    serve_until_stopped(server, model, f"vedder web on {server.url}/ (Ctrl-C stops it)")


def serve_until_stopped(server: "WebServer", model: str | None, banner: str, drain: Callable[[], None] = lambda: None) -> None:
    """Warm the model (when one is set), print ``banner`` and serve until Ctrl-C; then stop listening, ``drain``
    the work in flight and close the warehouses."""
    from vedder.agent.llm import is_model

    configured = model or server.app.watcher.current().config.model
    if is_model(configured):
        warm_model(configured)
    print(banner, file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.server_close()
        drain()
        server.app.warehouses.close()
