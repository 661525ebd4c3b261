"""A scripted OpenAI-compatible chat completions server on 127.0.0.1, for tests that call litellm for real.

Enqueue what the "model" answers, in order; every request is recorded (parsed JSON body)::

    with FakeOpenAI() as server:
        server.enqueue_tool_call("run_sql", {"sql": "SELECT 1"})
        server.enqueue_text("The answer is 1.")
        litellm.completion(model="openai/fake", api_base=server.url, api_key="dummy", messages=[...])
        assert server.requests[0]["messages"][-1]["content"] == ...

Besides text and tool calls it can send malformed tool calls (arguments that are not JSON, unknown tool
names), HTTP errors (429, 500, 401 …) and slow responses (``delay`` seconds before answering). When the
queue is empty the server answers HTTP 400 with a message saying so, which litellm does not retry.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Scripted:
    """One scripted reply: a chat completion message, or an HTTP error status with a message."""

    message: dict[str, Any] | None = None
    status: int = 200
    error: str = ""
    delay: float = 0.0
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 100, "completion_tokens": 20})


class FakeOpenAI:
    """The server; ``url`` is the ``api_base`` to give litellm (``openai/<any name>`` models)."""

    def __init__(self) -> None:
        self.queue: deque[Scripted] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def enqueue_text(self, text: str, *, delay: float = 0.0, usage: dict[str, int] | None = None) -> None:
        """The model answers ``text`` (no tool call)."""
        self._push(Scripted(message={"role": "assistant", "content": text}, delay=delay), usage)

    def enqueue_tool_call(self, name: str, arguments: dict[str, Any] | str, *, content: str | None = None, delay: float = 0.0) -> None:
        """The model calls one tool; ``arguments`` as a dict (sent as JSON) or a raw string (to send malformed JSON)."""
        self.enqueue_tool_calls([(name, arguments)], content=content, delay=delay)

    def enqueue_tool_calls(self, calls: list[tuple[str, dict[str, Any] | str]], *, content: str | None = None, delay: float = 0.0) -> None:
        """The model calls several tools in one reply."""
        tool_calls = [
            {
                "id": f"call_{len(self.requests) + len(self.queue)}_{index}",
                "type": "function",
                "function": {"name": name, "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments)},
            }
            for index, (name, arguments) in enumerate(calls)
        ]
        self._push(Scripted(message={"role": "assistant", "content": content, "tool_calls": tool_calls}, delay=delay), None)

    def enqueue_error(self, status: int, message: str = "scripted error", *, delay: float = 0.0) -> None:
        """The server answers with HTTP ``status`` and an OpenAI-style error body."""
        self._push(Scripted(status=status, error=message, delay=delay), None)

    def _push(self, scripted: Scripted, usage: dict[str, int] | None) -> None:
        if usage is not None:
            scripted.usage = usage
        with self._lock:
            self.queue.append(scripted)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Scripted:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self.queue:
                return self.queue.popleft()
        return Scripted(status=400, error="fake server: no scripted response left")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "fake", "object": "model", "owned_by": "vedder-tests"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
                    return
                scripted = server._next(body, {k.lower(): v for k, v in self.headers.items()})
                if scripted.delay:
                    time.sleep(scripted.delay)
                if scripted.status != 200:
                    self._send(scripted.status, {"error": {"message": scripted.error, "type": "scripted", "code": scripted.status}})
                    return
                usage = dict(scripted.usage)
                usage["total_tokens"] = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
                finish = "tool_calls" if (scripted.message or {}).get("tool_calls") else "stop"
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [{"index": 0, "message": scripted.message, "finish_reason": finish}],
                        "usage": usage,
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

        return Handler
