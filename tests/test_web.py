"""`vedder web`: the server on 127.0.0.1:0 in a thread over a small demo copy, spoken to over real HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import duckdb
import jsonschema
import pytest
from typer.testing import CliRunner

from demo_project import REPO, copy_demo
from fake_openai import FakeOpenAI
from vedder.cli import app
from vedder.log.store import open_log
from vedder.web import MAX_BODY, create_server, page_policy, warm_model

VEDDER = str(Path(sys.executable).with_name("vedder"))
ANSWER_SCHEMA = json.loads((REPO / "schemas/answer.schema.json").read_text())
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("web") / "demo", scale=0.02)


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(demo_template, tmp_path / "demo"))


@contextmanager
def running(project: Path, **options: Any) -> Iterator[Any]:
    server = create_server(project, host="127.0.0.1", port=0, **options)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        server.app.warehouses.close()


def call(server: Any, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body bytes) of one request; a JSON ``body`` is sent with its content type."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json"} if data is not None else {}
    request = urllib.request.Request(server.url + path, data=data, method=method, headers={**sent, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def api(server: Any, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, dict[str, Any]]:
    status, _, payload = call(server, method, path, body, **options)
    return status, json.loads(payload)


def log_entries(project: Path) -> list[dict[str, Any]]:
    from vedder.config import load_config

    store = open_log(load_config(project))
    try:
        return store.entries()
    finally:
        store.close()


def test_the_page_is_served_self_contained_and_renders_server_data_as_text(demo):
    with running(demo) as server:
        status, headers, body = call(server, "GET", "/")
    page = body.decode()
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert 'id="question"' in page and 'id="cluster"' in page and 'id="new-conversation"' in page
    # Nothing from the network: no script, style, font or image from elsewhere.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|@import|url\(\s*["']?(https?:)?//""", page)
    # Server data never parsed as HTML.
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "createContextualFragment"):
        assert sink not in script, sink
    assert "textContent" in script
    # The policy allows exactly the page's own inline script and style, nothing else.
    policy = headers["Content-Security-Policy"]
    assert policy == page_policy(page) and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and policy.count("'sha256-") == 2
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_script_renders_an_answer_holding_markup_as_text(demo, tmp_path):
    """The page's own script, run by node over a minimal DOM: it renders an answer whose every field holds
    <script>, as text nodes only (a DOM with no innerHTML at all: any use of it would throw)."""
    page = (REPO / "vedder/web.html").read_text()
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    answer = {"status": "answered", "question": SCRIPT, "cluster": "listening", "answer": SCRIPT, "sql": f"SELECT '{SCRIPT}'",
              "columns": [SCRIPT, "n"], "rows": [[SCRIPT, 3], [None, 4]], "sources": [{"kind": "doc", "id": SCRIPT}],
              "owners": {"team": SCRIPT}, "closest": [], "warnings": [], "model": "offline", "latency_s": 0.1,
              "conversation_id": "abc", "hint": SCRIPT}
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_DOM + script + f"\nconst card = renderAnswer({json.dumps(answer)});\n"
                       "process.stdout.write(JSON.stringify({texts: texts(card), cls: card.className}));\n")
    done = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["cls"] == "turn answered"
    texts = shown["texts"]
    assert texts[:4] == ["Answered", SCRIPT, SCRIPT, f"Hint: {SCRIPT}"]  # the badge, question, answer, hint: plain text
    for shown_as_text in (SCRIPT, "3", "NULL", f"SELECT '{SCRIPT}'", f"Cluster listening, owned by {SCRIPT}", f"Doc {SCRIPT}"):
        assert shown_as_text in texts, (shown_as_text, texts)
    assert texts.count(SCRIPT) == 4  # question, answer, column name, cell


NODE_DOM = r"""
class Node {
  constructor(tag) { this.tag = tag; this.children = []; this.text = ""; this.className = ""; this.listeners = {};
                     this.value = ""; this.parent = null;
                     this.classList = {add: (c) => { this.className += " " + c; }}; }
  set textContent(value) { this.children = []; this.text = String(value); }
  get textContent() { return this.text + this.children.map((c) => c.textContent).join(""); }
  append(...nodes) {
    for (const n of nodes) {
      const child = typeof n === "string" ? Object.assign(new Node("#text"), {text: n}) : n;
      if (child.tag === "#fragment") { this.append(...child.children); continue; }
      child.parent = this; this.children.push(child);
    }
  }
  replaceChildren() { this.children = []; }
  remove() { if (this.parent) this.parent.children = this.parent.children.filter((c) => c !== this); }
  get lastElementChild() { return this.children[this.children.length - 1]; }
  addEventListener(name, fn) { this.listeners[name] = fn; }
  querySelectorAll(selector) {
    const wanted = selector.replace(".", "");
    const found = [];
    const walk = (node) => { for (const c of node.children) { if (c.className.split(" ").includes(wanted)) found.push(c); walk(c); } };
    walk(this);
    return found;
  }
  scrollIntoView() {}
  focus() {}
}
const byIdNodes = {};
global.document = {createElement: (tag) => new Node(tag), createDocumentFragment: () => new Node("#fragment"),
                   getElementById: (id) => byIdNodes[id] || (byIdNodes[id] = new Node("div"))};
const stored = {};
global.sessionStorage = {getItem: (k) => stored[k] || null, setItem: (k, v) => { stored[k] = v; }, removeItem: (k) => { delete stored[k]; }};
const SERVER = process.env.VEDDER_WEB_URL;
const realFetch = global.fetch;
global.fetch = SERVER ? (path, options) => realFetch(SERVER + path, options)
                      : async () => ({ok: true, status: 200, json: async () => ({clusters: []})});
global.window = {prompt: () => process.env.VEDDER_WEB_TOKEN_GIVEN || null};
function texts(node) { return [node.text, ...node.children.flatMap(texts)].filter(Boolean); }
async function until(check) {
  for (let i = 0; i < 600 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!check()) throw new Error("timed out");
}
"""


PAGE_SESSION = r"""
(async () => {
  await until(() => byId("cluster").children.length > 0);
  const picked = byId("cluster").children.map((option) => option.textContent);
  byId("question").value = "How many streams did each country have in October 2026?";
  await ask({preventDefault() {}});
  const conversation = conversationId;
  byId("question").value = "and for Sweden?";
  await ask({preventDefault() {}});
  const cards = byId("thread").children;
  const last = cards[cards.length - 1];
  const boxes = byId("thread").querySelectorAll(".feedback");
  const [up, down, comment, said] = boxes[0].children;
  comment.value = "should exclude test users";
  down.listeners.click();
  await until(() => said.textContent !== "");
  process.stdout.write(JSON.stringify({picked, conversation, followed: conversationId, classes: cards.map((c) => c.className),
                                       last: texts(last), boxes: boxes.length, said: said.textContent,
                                       token: sessionStorage.getItem("vedder-token")}));
})().catch((error) => { console.error(error); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_script_asks_follows_up_and_rates_against_the_server(demo, tmp_path):
    """The page's script, run by node over a minimal DOM against the real server (with a token the page asks for):
    clusters fill the picker, a question and its follow-up share a conversation, 👎 with a comment is recorded."""
    script = re.search(r"<script>(.*?)</script>", (REPO / "vedder/web.html").read_text(), re.S).group(1)
    harness = tmp_path / "session.js"
    harness.write_text(NODE_DOM + script + PAGE_SESSION)
    with running(demo, token="page-token") as server:
        done = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "VEDDER_WEB_URL": server.url, "VEDDER_WEB_TOKEN_GIVEN": "page-token"})
    assert done.returncode == 0, done.stderr
    session = json.loads(done.stdout)
    assert session["picked"] == ["listening: Listening — Listening Insights", "podcasts: Podcasts — Podcast Analytics",
                                 "revenue: Revenue and subscriptions — Revenue Analytics"]
    assert session["token"] == "page-token"  # asked once, kept for the tab
    assert session["classes"] == ["turn answered", "turn answered"] and session["boxes"] == 1
    assert session["conversation"] and session["followed"] == session["conversation"]
    assert session["last"][:2] == ["Answered", "and for Sweden?"] and "SE" in session["last"]
    assert any(line.startswith("Cluster listening, owned by Listening Insights") for line in session["last"])
    assert "Vetted pair listening/streams-per-country" in session["last"]
    assert session["said"] == "Thanks: recorded for Listening Insights."
    assert [(e["question"], e["feedback"], e["feedback_comment"]) for e in reversed(log_entries(demo))] == [
        ("How many streams did each country have in October 2026?", None, None),
        ("and for Sweden?", "down", "should exclude test users")]


def test_ask_offline_follow_up_and_feedback_are_logged_with_surface_web(demo):
    with running(demo) as server:
        status, first = api(server, "POST", "/api/ask", {"question": "How many streams did each country have in October 2026?"})
        conversation = first["conversation_id"]
        _, follow_up = api(server, "POST", "/api/ask", {"question": "and for Sweden?", "conversation_id": conversation})
        _, other = api(server, "POST", "/api/ask", {"question": "How many streams did each country have in October 2026?",
                                                    "conversation_id": None, "cluster": ""})
        rated_status, rated = api(server, "POST", "/api/feedback",
                                  {"conversation_id": conversation, "rating": "down", "comment": "should exclude test users"})
    assert status == 200 and first["status"] == "answered", first
    jsonschema.validate(first, ANSWER_SCHEMA)
    assert first["cluster"] == "listening" and first["owners"]["team"] == "Listening Insights"
    assert "GROUP BY" in first["sql"] and first["columns"] and len(first["rows"]) > 1
    assert {"kind": "pair", "id": "listening/streams-per-country"} in first["sources"]
    assert {"kind": "dataset", "id": "listening.events"} in first["sources"]

    assert follow_up["status"] == "answered" and follow_up["conversation_id"] == conversation, follow_up
    assert "'SE'" in follow_up["sql"] and [row[0] for row in follow_up["rows"]] == ["SE"]
    assert other["conversation_id"] != conversation

    assert rated_status == 200 and rated["rating"] == "down" and rated["conversation_id"] == conversation
    entries = log_entries(demo)
    assert {e["surface"] for e in entries} == {"web"}
    assert sorted((e["conversation_id"] == conversation, e["question"], e["feedback"]) for e in entries) == [
        (False, "How many streams did each country have in October 2026?", None),
        (True, "How many streams did each country have in October 2026?", None),
        (True, "and for Sweden?", "down")]


def test_clusters_with_their_teams(demo):
    with running(demo) as server:
        status, listed = api(server, "GET", "/api/clusters")
    assert status == 200 and listed["warnings"] == []
    assert [(c["id"], c["team"]) for c in listed["clusters"]] == [
        ("listening", "Listening Insights"), ("podcasts", "Podcast Analytics"), ("revenue", "Revenue Analytics")]
    assert listed["clusters"][0]["pairs"] == 12


def test_bad_requests_are_4xx_with_an_error_and_a_hint(demo):
    with running(demo) as server:
        answers = {
            "not json": call(server, "POST", "/api/ask", raw=b"{question: 1"),
            "not an object": call(server, "POST", "/api/ask", ["How many streams?"]),
            "no question": call(server, "POST", "/api/ask", {"cluster": "listening"}),
            "empty question": call(server, "POST", "/api/ask", {"question": "   "}),
            "unknown field": call(server, "POST", "/api/ask", {"question": "How many streams?", "clusterid": "listening"}),
            "unknown cluster": call(server, "POST", "/api/ask", {"question": "How many streams?", "cluster": "weather"}),
            "cluster not a string": call(server, "POST", "/api/ask", {"question": "How many streams?", "cluster": 5}),
            "unknown conversation": call(server, "POST", "/api/ask", {"question": "and for GB?", "conversation_id": "ffffffffff"}),
            "bad rating": call(server, "POST", "/api/feedback", {"conversation_id": "ffffffffff", "rating": "meh"}),
            "feedback, no conversation": call(server, "POST", "/api/feedback", {"conversation_id": "ffffffffff", "rating": "up"}),
            "not utf-8": call(server, "POST", "/api/ask", raw=b'{"question": "\xff"}'),
            "form post": call(server, "POST", "/api/ask", raw=b"question=x", headers={"Content-Type": "application/x-www-form-urlencoded"}),
            "unknown route": call(server, "GET", "/api/nothing"),
            "GET ask": call(server, "GET", "/api/ask"),
            "POST page": call(server, "POST", "/", {"question": "x"}),
            "DELETE clusters": call(server, "DELETE", "/api/clusters"),
            "too large": call(server, "POST", "/api/ask", {"question": "x" * MAX_BODY}),
        }
        still_serving = api(server, "GET", "/api/clusters")[0]
    expected = {"not json": 400, "not an object": 400, "no question": 400, "empty question": 400, "unknown field": 400,
                "unknown cluster": 400, "cluster not a string": 400, "unknown conversation": 400, "bad rating": 400, "feedback, no conversation": 400,
                "not utf-8": 400, "form post": 415, "unknown route": 404, "GET ask": 405, "POST page": 405,
                "DELETE clusters": 405, "too large": 413}
    assert {name: status for name, (status, _, _) in answers.items()} == expected
    for name, (_, headers, body) in answers.items():
        problem = json.loads(body)
        assert set(problem) == {"error", "hint"} and problem["error"] and problem["hint"], name
        assert headers["Content-Type"] == "application/json", name
    assert answers["GET ask"][1]["Allow"] == "POST" and answers["DELETE clusters"][1]["Allow"] == "GET"
    assert "unknown cluster 'weather'" in json.loads(answers["unknown cluster"][2])["error"]
    assert "no conversation 'ffffffffff'" in json.loads(answers["unknown conversation"][2])["error"]
    assert "'clusterid'" in json.loads(answers["unknown field"][2])["error"]
    assert json.loads(answers["cluster not a string"][2]) == {"error": "'cluster' must be a string or null",
                                                             "hint": 'e.g. {"cluster": "listening"}'}
    assert still_serving == 200
    assert log_entries(demo) == []


def test_a_token_is_required_on_the_api_when_set_and_never_printed(demo, capfd):
    token = "s3cret-token-4f1e"
    with running(demo, token=token) as server:
        page = call(server, "GET", "/")[0]
        missing = call(server, "GET", "/api/clusters")
        wrong = call(server, "POST", "/api/ask", {"question": "How many streams?"}, headers={"Authorization": "Bearer s3cret-token-4f1f"})
        basic = call(server, "GET", "/api/clusters", headers={"Authorization": f"Basic {token}"})
        right = call(server, "GET", "/api/clusters", headers={"Authorization": f"Bearer {token}"})
        asked = api(server, "POST", "/api/ask", {"question": "How many streams did each country have in October 2026?"},
                    headers={"Authorization": f"Bearer {token}"})
    assert page == 200  # the page itself holds no data; it asks for the token
    assert [missing[0], wrong[0], basic[0], right[0]] == [401, 401, 401, 200]
    assert missing[1]["WWW-Authenticate"].startswith("Bearer")
    assert json.loads(missing[2])["hint"].startswith("send Authorization: Bearer")
    assert asked[0] == 200 and asked[1]["status"] == "answered"
    assert len(log_entries(demo)) == 1
    printed = capfd.readouterr()
    assert token not in printed.out + printed.err
    assert token not in (Path(os.environ["VEDDER_LOG"])).read_bytes().decode("utf-8", "replace")


def test_cross_site_requests_are_refused(demo):
    question = {"question": "How many streams did each country have in October 2026?"}
    with running(demo) as server:
        here = server.url.removeprefix("http://")
        other_site = call(server, "POST", "/api/ask", question, headers={"Origin": "http://evil.example"})
        other_port = call(server, "POST", "/api/ask", question, headers={"Origin": "http://127.0.0.1:1"})
        opaque = call(server, "POST", "/api/feedback", {"conversation_id": "x", "rating": "up"}, headers={"Origin": "null"})
        fetch_metadata = call(server, "POST", "/api/ask", question, headers={"Sec-Fetch-Site": "cross-site"})
        rebound = call(server, "GET", "/api/clusters", headers={"Host": f"evil.example:{server.server_address[1]}"})
        rebound_post = call(server, "POST", "/api/ask", question,
                            headers={"Host": "evil.example", "Origin": "http://evil.example"})
        assert log_entries(demo) == []  # nothing asked the warehouse
        same_origin = call(server, "POST", "/api/ask", question, headers={"Origin": f"http://{here}", "Sec-Fetch-Site": "same-origin"})
        by_name = call(server, "GET", "/api/clusters", headers={"Host": f"localhost:{server.server_address[1]}"})
    for refused in (other_site, other_port, opaque, fetch_metadata, rebound, rebound_post):
        assert refused[0] == 403 and json.loads(refused[2])["hint"], refused
    assert same_origin[0] == 200 and json.loads(same_origin[2])["status"] == "answered"
    assert by_name[0] == 200


def test_markup_in_the_warehouse_comes_back_as_data_never_as_html(demo):
    with duckdb.connect(str(demo / ".vedder/warehouse.duckdb")) as db:
        db.execute("UPDATE listening.artists SET name = ?", [SCRIPT])
    with running(demo) as server:
        status, headers, body = call(server, "POST", "/api/ask", {"question": "Who were the top 5 artists by streams in November 2026?"})
        echoed = api(server, "POST", "/api/ask", {"question": f"{SCRIPT} what is the weather?"})[1]
    answer = json.loads(body)
    assert status == 200 and answer["status"] == "answered", answer
    assert answer["rows"] and all(row[0] == SCRIPT for row in answer["rows"])
    assert b"<script>" not in body and b"\\u003cscript\\u003e" in body  # no browser can sniff it as HTML
    assert headers["Content-Type"] == "application/json" and headers["X-Content-Type-Options"] == "nosniff"
    assert echoed["question"] == f"{SCRIPT} what is the weather?"


def test_the_agent_answers_through_a_scripted_openai_compatible_server(demo, capfd):
    real_users = "SELECT count(*) AS real_users FROM listening.users WHERE user_id >= 100"
    with FakeOpenAI() as model:
        config = (demo / "vedder.yaml").read_text()
        (demo / "vedder.yaml").write_text(config + f"\nmodel_options: {{api_base: '{model.url}', api_key: dummy, "
                                          "tool_calling: true, num_retries: 0, timeout: 10}\n")
        model.enqueue_tool_call("run_sql", {"sql": real_users})
        model.enqueue_text("There are this many real users (test accounts excluded).")
        with running(demo, model="openai/fake") as server:
            status, answer = api(server, "POST", "/api/ask", {"question": "How many real users are there?", "cluster": "listening"})
            failed_status, failed = api(server, "POST", "/api/ask", {"question": "How many users signed up in May?", "cluster": "listening"})
    assert status == 200 and answer["status"] == "answered", answer
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert answer["model"] == "openai/fake" and "user_id >= 100" in answer["sql"] and answer["rows"][0][0] > 0
    assert answer["steps"][0]["tool"] == "run_sql"
    # The scripted server has nothing left to say: the answer is an error with a hint, shown by the page.
    assert failed_status == 200 and failed["status"] == "error" and failed["hint"] and failed["conversation_id"]
    assert [e["surface"] for e in log_entries(demo)] == ["web", "web"]
    # With a model set, `vedder web` imports litellm while it starts listening, and says at once what is wrong.
    warm_model("nonsense-provider-xyz").join(timeout=60)
    assert "warning: litellm does not know model 'nonsense-provider-xyz'\nhint: " in capfd.readouterr().err


def test_port_in_use_is_one_line_with_a_hint(demo):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["web", "--port", str(port), "--project", str(demo)])
    assert result.exit_code == 2, result.output
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output and "hint: pick another port" in result.output
    assert "Traceback" not in result.output


def test_a_missing_project_fails_before_serving(tmp_path):
    result = CliRunner().invoke(app, ["web", "--project", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "error: project folder" in result.output and "hint:" in result.output


def test_the_command_serves_offline_without_litellm_and_stops_on_ctrl_c(demo):
    """The whole process: `vedder web` answers offline, never imports litellm, and Ctrl-C ends it with exit 0."""
    probe = ("import runpy, sys, atexit\n"
             "atexit.register(lambda: print('litellm imported' if 'litellm' in sys.modules else 'litellm not imported', file=sys.stderr))\n"
             "sys.argv = ['vedder', 'web', '--port', '0', '--host', '0.0.0.0', '--project', sys.argv[1]]\n"
             "from vedder.cli import main\nmain()\n")
    server = subprocess.Popen([sys.executable, "-c", probe, str(demo)], stderr=subprocess.PIPE, text=True)
    try:
        warning = server.stderr.readline()
        started = server.stderr.readline()
        url = re.search(r"http://\S+:(\d+)/", started)
        assert url, warning + started
        request = urllib.request.Request(f"http://127.0.0.1:{url.group(1)}/api/ask", method="POST",
                                         data=json.dumps({"question": "How many streams did each country have in October 2026?"}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.loads(response.read())["status"] == "answered"
        server.send_signal(signal.SIGINT)
        code = server.wait(timeout=90)  # a loaded 2-core machine took over 30 s
        rest = server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert warning.startswith("warning: listening on 0.0.0.0 without authentication")
    assert code == 0 and "stopped" in rest and "Traceback" not in rest, rest
    assert "litellm not imported" in rest


def _strict_json(body: bytes) -> Any:
    """``body`` parsed as a browser's JSON.parse would: NaN and Infinity are no JSON."""
    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")
    return json.loads(body, parse_constant=refuse)


def test_a_result_holding_nan_or_infinity_is_json_a_browser_can_parse(demo):
    """A ratio over zero rows is NaN in DuckDB (0.0/0): the answer must still be JSON, or the page shows no answer."""
    with FakeOpenAI() as model:
        config = (demo / "vedder.yaml").read_text()
        (demo / "vedder.yaml").write_text(config + f"\nmodel_options: {{api_base: '{model.url}', api_key: dummy, "
                                          "tool_calling: true, num_retries: 0, timeout: 10}\n")
        model.enqueue_tool_call("run_sql", {"sql": "SELECT 0.0 / 0 AS ratio, 'inf'::DOUBLE AS high, -'inf'::DOUBLE AS low"})
        model.enqueue_text("The ratio is not a number.")
        with running(demo, model="openai/fake") as server:
            status, _, body = call(server, "POST", "/api/ask", {"question": "What is the skip ratio?", "cluster": "listening"})
    assert status == 200
    answer = _strict_json(body)
    assert answer["status"] == "answered" and answer["rows"] == [["NaN", "Infinity", "-Infinity"]], answer


def _raw_request(server: Any, head: bytes) -> bytes:
    with socket.create_connection(server.server_address[:2], timeout=30) as connection:
        connection.sendall(head)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_a_content_length_that_is_no_number_is_411_not_a_bug(demo, capfd):
    """Header values are read as Latin-1: '²' is a digit to str.isdigit but no number to int()."""
    with running(demo) as server:
        replies = [_raw_request(server, b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                        b"Content-Length: " + length + b"\r\nConnection: close\r\n\r\n{}")
                   for length in ("\u00b2".encode("latin-1"), b"-2", b"2x")]
    assert [reply.split(b"\r\n", 1)[0].split(b" ", 2)[1] for reply in replies] == [b"411"] * 3, replies
    assert "internal error" not in capfd.readouterr().err


def test_a_browser_that_went_away_before_the_answer_prints_no_traceback(demo, capfd):
    """Closing the tab while a question runs breaks the pipe the answer is written to: no news, no traceback."""
    with running(demo) as server:
        try:
            raise BrokenPipeError(32, "Broken pipe")
        except BrokenPipeError:
            server.handle_error(None, ("127.0.0.1", 50000))
        try:
            raise ValueError("a bug")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 50001))
    printed = capfd.readouterr().err
    assert "BrokenPipeError" not in printed and "ValueError: a bug" in printed


def test_a_page_served_through_a_tls_proxy_may_ask(demo):
    """Behind the TLS proxy the README advises (passing the Host on), the page's Origin is https://HOST: the same site."""
    question = {"question": "How many streams did each country have in October 2026?"}
    with running(demo, token="t0ken") as server:
        here = server.url.removeprefix("http://")
        proxied = call(server, "POST", "/api/ask", question,
                       headers={"Origin": f"https://{here}", "Sec-Fetch-Site": "same-origin", "Authorization": "Bearer t0ken"})
        other_site = call(server, "POST", "/api/ask", question,
                          headers={"Origin": "https://evil.example", "Authorization": "Bearer t0ken"})
        other_scheme = call(server, "POST", "/api/ask", question,
                            headers={"Origin": f"ftp://{here}", "Authorization": "Bearer t0ken"})
    assert proxied[0] == 200 and json.loads(proxied[2])["status"] == "answered", proxied
    assert other_site[0] == 403 and other_scheme[0] == 403


def _slow_request(server: Any, body: bytes, *, length: int, drip_s: float | None = None) -> tuple[bytes, float]:
    """(reply, seconds until it came) of a POST announcing ``length`` bytes that sends ``body`` (a byte each ``drip_s``
    seconds, when given) and then nothing more, without closing."""
    import select
    import time

    with socket.create_connection(server.server_address[:2], timeout=30) as connection:
        started = time.monotonic()
        connection.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           b"Content-Length: %d\r\n\r\n" % length)
        for byte in ([body] if drip_s is None else [body[i:i + 1] for i in range(len(body))]):
            if select.select([connection], [], [], 0)[0]:
                break  # the reply came: what is sent after it would reset the connection before it is read
            connection.sendall(byte)
            if drip_s is not None:
                time.sleep(drip_s)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
        return received, time.monotonic() - started


def test_a_body_shorter_than_its_content_length_frees_the_thread(demo, monkeypatch, capfd):
    """A client that announces more than it sends (or drips a byte now and then) gets 408 once the request timeout
    is up, its connection closed; the server keeps answering others."""
    from vedder.web import REQUEST_TIMEOUT_S, Handler

    assert Handler.timeout == REQUEST_TIMEOUT_S and 5 <= REQUEST_TIMEOUT_S <= 60
    monkeypatch.setattr(Handler, "timeout", 0.5)
    question = b'{"question": "How many streams were there in Sweden in October 2026?"}'
    with running(demo) as server:
        short, short_s = _slow_request(server, question[:10], length=len(question))
        dripped, dripped_s = _slow_request(server, question[:8], length=len(question), drip_s=0.2)
        status, answer = api(server, "POST", "/api/ask", {"question": "How many streams were there in Sweden in October 2026?"})
    for reply in (short, dripped):
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.split(b" ", 2)[1] == b"408", reply
        assert json.loads(body)["hint"] == "send a body as long as its Content-Length says"
    assert short_s < 10 and dripped_s < 10, (short_s, dripped_s)
    assert status == 200 and answer["status"] == "answered"
    assert "internal error" not in capfd.readouterr().err


PICK_SESSION = r"""
(async () => {
  byId("question").value = "how many listeners per country?";
  await ask({preventDefault() {}});
  const tie = byId("thread").children[0];
  const picks = tie.querySelectorAll(".pick");
  const buttons = picks.length ? picks[0].children.slice(1) : [];
  await buttons[1].listeners.click();
  const cards = byId("thread").children;
  process.stdout.write(JSON.stringify({tie: texts(tie), buttons: buttons.map((b) => b.textContent),
                                       disabled: buttons.map((b) => Boolean(b.disabled)),
                                       second: texts(cards[1]), count: cards.length, conversation: conversationId}));
})().catch((error) => { console.error(error); process.exit(1); });
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_tie_between_clusters_offers_each_and_one_click_asks_there(demo, tmp_path):
    """Offline, vedder does not guess between clusters that fit a question equally: the page names them (with their
    teams) and a click asks the same question in the chosen one, in the same conversation, logged as given."""
    script = re.search(r"<script>(.*?)</script>", (REPO / "vedder/web.html").read_text(), re.S).group(1)
    harness = tmp_path / "pick.js"
    harness.write_text(NODE_DOM + script + PICK_SESSION)
    with running(demo) as server:
        done = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "VEDDER_WEB_URL": server.url})
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["tie"][:2] == ["Not covered", "how many listeners per country?"]
    assert "Cluster listening, owned by Listening Insights (#listening-insights)" in shown["tie"]
    assert shown["buttons"] == ["podcasts (Podcast Analytics)", "listening (Listening Insights)"]
    assert shown["disabled"] == [True, True] and shown["count"] == 2
    assert shown["second"][1] == "how many listeners per country?" and "cluster 'listening'" in " ".join(shown["second"])
    tie, chosen = log_entries(demo)[::-1]
    assert (tie["cluster"], chosen["cluster"], chosen["cluster_source"], chosen["surface"]) == (None, "listening", "given", "web")
    assert tie["conversation_id"] == chosen["conversation_id"] == shown["conversation"]
