"""A tiny fake of GitHub's REST API on 127.0.0.1 that records every request.

    with FakeGitHub() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        ...
        github.requests  # [(method, path, headers, json body), ...]

It answers ``POST /repos/{owner}/{repo}/pulls`` with a pull request (number 1, 2, …) and
``POST …/pulls/{n}/requested_reviewers`` with 201. ``github.fail[path_suffix] = (status, body)`` scripts
an error response for requests whose path ends with ``path_suffix``.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeGitHub:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict, dict]] = []
        self.fail: dict[str, tuple[int, dict]] = {}
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def pulls(self) -> list[dict]:
        return [body for method, path, _, body in self.requests if method == "POST" and path.endswith("/pulls")]

    def reviewer_requests(self) -> list[dict]:
        return [body for method, path, _, body in self.requests if path.endswith("/requested_reviewers")]

    def __enter__(self) -> "FakeGitHub":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _reply(self, status: int, data: dict) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", self.path, dict(self.headers), body))
                for suffix, (status, data) in fake.fail.items():
                    if self.path.endswith(suffix):
                        return self._reply(status, data)
                parts = self.path.strip("/").split("/")
                if len(parts) == 4 and parts[0] == "repos" and parts[3] == "pulls":
                    number = len(fake.pulls())
                    return self._reply(201, {"number": number, "html_url": f"https://github.test/{parts[1]}/{parts[2]}/pull/{number}"})
                if self.path.endswith("/requested_reviewers"):
                    return self._reply(201, {"requested_reviewers": [{"login": r} for r in body.get("reviewers", [])]})
                return self._reply(404, {"message": "Not Found"})

        return Handler
