"""`vedder mcp`: the SDK's client talks to the server over stdio (and streamable HTTP) in a subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import duckdb
import pytest
from mcp import Client, StdioServerParameters
from typer.testing import CliRunner

from fake_openai import FakeOpenAI
from vedder.cli import app
from vedder.config import load_config
from vedder.log.store import open_log

VEDDER = str(Path(sys.executable).with_name("vedder"))

PAIR_SE_USERS = """\
question: How many users are there in Sweden?
sql: SELECT count(*) AS users FROM music.users WHERE country = 'SE' AND user_id >= 100
verified_by: ana@example.com
verified_at: 2026-01-10
paraphrases:
  - Number of users in Sweden
"""

DOC_TEST_USERS = """\
---
title: Test accounts
tags: [users]
applies_to: [music.users]
---
# Test accounts

User ids below 100 are test accounts: every count must exclude them (`user_id >= 100`).
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return build_project(tmp_path / "project")


def build_project(root: Path) -> Path:
    """Two clusters (music, finance) over a small DuckDB warehouse, model offline."""
    write(root / "vedder.yaml", "warehouse: {type: duckdb, path: warehouse.duckdb}\ndialect: duckdb\nmodel: offline\n")
    with duckdb.connect(str(root / "warehouse.duckdb")) as db:
        db.execute("CREATE SCHEMA music; CREATE SCHEMA finance")
        db.execute("CREATE TABLE music.users AS SELECT range AS user_id, "
                   "['SE', 'US', 'GB', 'SE'][range % 4 + 1] AS country, DATE '2026-01-01' + range::INT AS signup_date "
                   "FROM range(1, 401)")
        db.execute("CREATE TABLE finance.payments AS SELECT range AS payment_id, range * 100 AS amount_cents FROM range(50)")
    write(root / "clusters/music/cluster.yaml",
          "id: music\ntitle: Music listening\ndescription: Users and what they listen to.\n"
          "owners: {team: Listening Insights, members: [ana@example.com], contact: '#listening'}\n"
          "datasets: [music.users]\ndefault_schema: music\nkeywords: [users, country]\n")
    write(root / "clusters/music/datasets/music.users.yaml",
          "table: music.users\ndescription: One row per user.\nrow_count: 400\npartitioning: null\ncolumns:\n"
          "  - {name: user_id, type: BIGINT, description: Ids below 100 are test accounts.}\n"
          "  - name: country\n    type: VARCHAR\n    description: Signup country.\n"
          "    common_values: [{value: SE, frequency: 0.5}, {value: US, frequency: 0.25}, {value: GB, frequency: 0.25}]\n"
          "  - {name: signup_date, type: DATE}\n")
    write(root / "clusters/music/pairs/users-in-country.yaml", PAIR_SE_USERS)
    write(root / "clusters/music/docs/test-accounts.md", DOC_TEST_USERS)
    write(root / "clusters/finance/cluster.yaml",
          "id: finance\ntitle: Finance\ndescription: Payments.\nowners: {team: Finance Data}\n"
          "datasets: [finance.payments]\ndefault_schema: finance\n")
    return root


@asynccontextmanager
async def mcp_client(project: Path, *extra: str):
    """A client session with `vedder mcp` running on ``project`` in a subprocess over stdio."""
    env = {name: os.environ[name] for name in ("VEDDER_HOME", "VEDDER_LOG", "LITELLM_LOCAL_MODEL_COST_MAP")}
    params = StdioServerParameters(command=VEDDER, args=["mcp", "--project", str(project), *extra], env=env)
    async with Client(params, read_timeout_seconds=60) as client:
        yield client


def payload(result) -> dict:
    """A tool result's JSON (structured content, falling back on the text content)."""
    if result.structured_content is not None:
        return result.structured_content
    return json.loads(result.content[0].text)


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content)


def test_tools_are_listed_with_descriptions_and_schemas(project):
    async def scenario():
        async with mcp_client(project) as client:
            return (await client.list_tools()).tools

    tools = {tool.name: tool for tool in anyio.run(scenario)}
    assert set(tools) == {"ask", "context", "query", "list_clusters", "describe_cluster", "feedback"}
    for tool in tools.values():
        assert len(tool.description) > 100, tool.name
        for name, schema in tool.input_schema.get("properties", {}).items():
            assert schema.get("description"), f"{tool.name}.{name} has no description"
    assert tools["ask"].input_schema["required"] == ["question"]
    assert tools["feedback"].input_schema["properties"]["rating"]["enum"] == ["up", "down"]
    assert tools["query"].annotations.read_only_hint is True


def test_cluster_tools_and_guarded_query(project):
    async def scenario():
        async with mcp_client(project) as client:
            clusters = await client.call_tool("list_clusters", {})
            described = await client.call_tool("describe_cluster", {"cluster": "music"})
            unknown = await client.call_tool("describe_cluster", {"cluster": "weather"})
            counted = await client.call_tool("query", {"sql": "SELECT country, count(*) AS n FROM users GROUP BY 1 ORDER BY 1",
                                                       "cluster": "music"})
            routed = await client.call_tool("query", {"sql": "SELECT * FROM finance.payments", "limit": 5})
            refused = await client.call_tool("query", {"sql": "DROP TABLE music.users", "cluster": "music"})
            outside = await client.call_tool("query", {"sql": "SELECT * FROM finance.payments", "cluster": "music"})
            after = await client.call_tool("query", {"sql": "SELECT count(*) AS n FROM music.users"})
            return clusters, described, unknown, counted, routed, refused, outside, after

    clusters, described, unknown, counted, routed, refused, outside, after = anyio.run(scenario)
    listed = {c["id"]: c for c in payload(clusters)["clusters"]}
    assert set(listed) == {"music", "finance"}
    assert listed["music"]["owners"]["team"] == "Listening Insights"
    assert listed["music"]["tables"] == ["music.users"] and listed["music"]["pairs"] == 1

    music = payload(described)
    assert [c["name"] for c in music["tables"][0]["columns"]] == ["user_id", "country", "signup_date"]
    assert music["tables"][0]["columns"][1]["common_values"] == ["SE", "US", "GB"]
    assert music["pairs"][0]["uri"] == "vedder://clusters/music/pairs/users-in-country"
    assert music["docs"][0]["title"] == "Test accounts"

    assert unknown.is_error and "unknown cluster 'weather'" in text_of(unknown)
    assert "hint: `vedder clusters`" in text_of(unknown)

    assert not counted.is_error
    rows = payload(counted)
    assert rows["columns"] == ["country", "n"] and rows["rows"] == [["GB", 100], ["SE", 200], ["US", 100]]
    assert payload(routed)["cluster"] == "finance" and payload(routed)["row_count"] == 5
    assert payload(routed)["truncated"] is True

    assert refused.is_error
    assert text_of(refused).startswith("error: SQL refused (")
    assert "\nhint: " in text_of(refused)
    assert payload(refused)["error"] == "SQLRefused" and payload(refused)["rule"]
    assert outside.is_error and payload(outside)["rule"] == "table_not_allowed"
    # The server keeps serving after refusals.
    assert not after.is_error and payload(after)["rows"] == [[400]]


def test_resources_list_and_read_the_curated_files(project):
    async def scenario():
        async with mcp_client(project) as client:
            listed = (await client.list_resources()).resources
            templates = (await client.list_resource_templates()).resource_templates
            doc = await client.read_resource("vedder://clusters/music/docs/test-accounts")
            pair = await client.read_resource("vedder://clusters/music/pairs/users-in-country")
            dataset = await client.read_resource("vedder://clusters/music/datasets/music.users")
            overview = await client.read_resource("vedder://clusters/music")
            with pytest.raises(Exception) as missing:
                await client.read_resource("vedder://clusters/music/docs/nope")
            still = await client.call_tool("list_clusters", {})
            return listed, templates, doc, pair, dataset, overview, missing.value, still

    listed, templates, doc, pair, dataset, overview, missing, still = anyio.run(scenario)
    uris = {str(r.uri) for r in listed}
    assert {"vedder://clusters/music", "vedder://clusters/finance", "vedder://clusters/music/docs/test-accounts",
            "vedder://clusters/music/pairs/users-in-country", "vedder://clusters/music/datasets/music.users"} <= uris
    assert {t.uri_template for t in templates} >= {"vedder://clusters/{cluster}/docs/{slug}",
                                                   "vedder://clusters/{cluster}/pairs/{slug}"}
    assert doc.contents[0].text == DOC_TEST_USERS and doc.contents[0].mime_type == "text/markdown"
    assert pair.contents[0].text == PAIR_SE_USERS
    assert "name: country" in dataset.contents[0].text
    text = overview.contents[0].text
    assert "# Music listening" in text and "Listening Insights" in text
    assert "(vedder://clusters/music/pairs/users-in-country)" in text
    assert "no doc 'nope'" in str(missing)
    assert not still.is_error


def test_edits_on_disk_are_served_without_a_restart(project):
    async def scenario():
        async with mcp_client(project) as client:
            before = payload(await client.call_tool("describe_cluster", {"cluster": "music"}))
            write(project / "clusters/music/pairs/signups.yaml",
                  "question: How many users signed up in 2026?\nsql: SELECT count(*) FROM music.users WHERE user_id >= 100\n"
                  "verified_by: ana@example.com\nverified_at: 2026-02-01\n")
            after = payload(await client.call_tool("describe_cluster", {"cluster": "music"}))
            uris = {str(r.uri) for r in (await client.list_resources()).resources}
            counted_before = payload(await client.call_tool("query", {"sql": "SELECT count(*) FROM music.users"}))
            rebuilt = project / "rebuilt.duckdb"
            with duckdb.connect(str(rebuilt)) as db:
                db.execute("CREATE SCHEMA music; CREATE TABLE music.users AS SELECT range AS user_id FROM range(7)")
            os.replace(rebuilt, project / "warehouse.duckdb")  # how `vedder demo` rebuilds: a rename over the file
            counted_after = payload(await client.call_tool("query", {"sql": "SELECT count(*) FROM music.users"}))
            write(project / "clusters/music/pairs/half-typed.yaml", "question: [unclosed\n")
            broken = await client.call_tool("list_clusters", {})
            (project / "clusters/music/pairs/half-typed.yaml").unlink()
            mended = await client.call_tool("list_clusters", {})
            return before, after, uris, counted_before["rows"], counted_after["rows"], broken, mended

    before, after, uris, counted_before, counted_after, broken, mended = anyio.run(scenario)
    assert (counted_before, counted_after) == ([[400]], [[7]])
    # one broken file leaves its cluster out (named in warnings); the others keep serving
    assert not broken.is_error and [c["id"] for c in payload(broken)["clusters"]] == ["finance"]
    assert [w["file"] for w in payload(broken)["warnings"]] == ["clusters/music/pairs/half-typed.yaml"]
    assert not mended.is_error and payload(mended)["warnings"] == [] and len(payload(mended)["clusters"]) == 2
    assert [p["id"] for p in before["pairs"]] == ["users-in-country"]
    assert [p["id"] for p in after["pairs"]] == ["signups", "users-in-country"]
    assert "vedder://clusters/music/pairs/signups" in uris


def test_ask_context_and_feedback_are_logged_with_surface_mcp(project):
    async def scenario():
        async with mcp_client(project) as client:
            answered = await client.call_tool("ask", {"question": "How many users are there in Sweden?"})
            conversation = payload(answered)["conversation_id"]
            rated = await client.call_tool("feedback", {"conversation_id": conversation, "rating": "up",
                                                        "comment": "matches the dashboard"})
            bad_rating = await client.call_tool("feedback", {"conversation_id": conversation, "rating": "meh"})
            unknown = await client.call_tool("feedback", {"conversation_id": "0000000000", "rating": "down"})
            context = await client.call_tool("context", {"question": "How many users are there in Sweden?"})
            pinned = await client.call_tool("context", {"question": "users per country", "cluster": "music"})
            follow_up = await client.call_tool("ask", {"question": "And for Great Britain?", "conversation_id": conversation})
            stranger = await client.call_tool("ask", {"question": "How many users are there in Sweden?"})
            lost = await client.call_tool("ask", {"question": "and for GB?", "conversation_id": "ffffffffff"})
            weather = await client.call_tool("ask", {"question": "Will it rain in Paris tomorrow?"})
            weather_context = await client.call_tool("context", {"question": "Will it rain in Paris tomorrow?"})
            return answered, rated, bad_rating, unknown, context, pinned, follow_up, stranger, lost, weather, weather_context

    (answered, rated, bad_rating, unknown, context, pinned, follow_up, stranger, lost, weather,
     weather_context) = anyio.run(scenario)
    answer = payload(answered)
    assert not answered.is_error and answer["status"] == "answered", answer
    assert answer["cluster"] == "music" and "user_id >= 100" in answer["sql"]
    assert answer["rows"] == [[151]]
    assert {"kind": "pair", "id": "music/users-in-country"} in answer["sources"]

    assert not rated.is_error and payload(rated)["rating"] == "up"
    assert bad_rating.is_error
    assert unknown.is_error and "no conversation '0000000000'" in text_of(unknown) and "hint:" in text_of(unknown)

    seen = payload(context)
    assert seen["covered"] is True and seen["cluster"] == "music" and seen["clusters"][0]["id"] == "music"
    assert "users-in-country" in json.dumps(seen["pairs"]) and seen["text"]
    assert payload(pinned)["cluster"] == "music"
    assert json.loads(text_of(context)) == seen  # the text content is the same JSON, for clients that show only text

    # A follow-up continues the conversation (whether the offline answerer can adapt it is tested in its own tests).
    assert not follow_up.is_error and payload(follow_up)["conversation_id"] == answer["conversation_id"]
    assert payload(stranger)["conversation_id"] != answer["conversation_id"]
    assert lost.is_error and "no conversation 'ffffffffff'" in text_of(lost) and "\nhint: `vedder log`" in text_of(lost)

    assert not weather.is_error and payload(weather)["status"] == "not_covered"
    assert {c["team"] for c in payload(weather)["closest"]} == {"Listening Insights", "Finance Data"}
    assert payload(weather)["ambiguous"] is False  # nothing fits: not a tie to ask back about
    assert payload(weather_context)["covered"] is False and payload(weather_context)["closest"]

    store = open_log(load_config(project))
    entries = store.entries()
    store.close()
    assert [(e["surface"], e["conversation_id"], e["feedback"]) for e in reversed(entries)] == [
        ("mcp", answer["conversation_id"], "up"), ("mcp", answer["conversation_id"], None),
        ("mcp", payload(stranger)["conversation_id"], None), ("mcp", payload(weather)["conversation_id"], None)]


def test_ask_through_the_agent_with_a_scripted_model(project):
    real_users = "SELECT count(*) AS real_users FROM music.users WHERE user_id >= 100"
    with FakeOpenAI() as model:
        write(project / "vedder.yaml", "warehouse: {type: duckdb, path: warehouse.duckdb}\nmodel: openai/fake\n"
              f"model_options: {{api_base: '{model.url}', api_key: dummy, tool_calling: true, num_retries: 0, timeout: 10}}\n")
        model.enqueue_tool_call("run_sql", {"sql": real_users})
        model.enqueue_text("There are 301 real users (test accounts below id 100 excluded).")
        model.enqueue_error(401, "invalid api key")
        steps = []

        async def progress(done, total, message):
            steps.append((done, total, message))

        async def scenario():
            async with mcp_client(project) as client:
                answered = await client.call_tool("ask", {"question": "How many real users are there?", "cluster": "music"},
                                                  progress_callback=progress)
                failed = await client.call_tool("ask", {"question": "How many users signed up in May?", "cluster": "music"})
                listed = await client.call_tool("list_clusters", {})
                return answered, failed, listed

        answered, failed, listed = anyio.run(scenario)
    answer = payload(answered)
    assert not answered.is_error and answer["status"] == "answered", answer
    assert answer["model"] == "openai/fake" and answer["rows"] == [[301]] and "user_id >= 100" in answer["sql"]
    assert "301" in answer["answer"]
    assert steps and steps[0] == (1, 8, "step 1: run_sql")  # agent steps arrive as progress notifications
    assert failed.is_error and text_of(failed).startswith("error: ") and "\nhint: " in text_of(failed)
    assert payload(failed)["status"] == "error" and payload(failed)["conversation_id"]
    assert not listed.is_error


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_streamable_http_on_localhost(project):
    port = free_port()
    server = subprocess.Popen([VEDDER, "mcp", "--http", "--port", str(port), "--project", str(project)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stderr.read()
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)

        async def scenario():
            async with Client(f"http://127.0.0.1:{port}/mcp") as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                refused = await client.call_tool("query", {"sql": "DELETE FROM music.users"})
                clusters = await client.call_tool("list_clusters", {})
                return tools, refused, clusters

        tools, refused, clusters = anyio.run(scenario)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "ask" in tools
    assert refused.is_error and "SQL refused" in text_of(refused)
    assert [c["id"] for c in payload(clusters)["clusters"]] == ["finance", "music"]


def test_http_port_in_use_is_a_clear_error(project):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["mcp", "--http", "--port", str(port), "--project", str(project)])
    assert result.exit_code == 2, result.output
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.output and "hint: pick another port" in result.output


def test_missing_project_fails_before_serving(tmp_path):
    result = CliRunner().invoke(app, ["mcp", "--project", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "error: project folder" in result.output and "hint:" in result.output


def test_broken_project_file_is_reported_at_start(project):
    write(project / "clusters/music/pairs/broken.yaml", "question: [unclosed\n")
    result = CliRunner().invoke(app, ["mcp", "--project", str(project)])  # serves finance until stdin ends
    assert result.exit_code == 0, result.output
    assert "warning: cluster music skipped: clusters/music/pairs/broken.yaml:" in result.output and "hint:" in result.output


def test_the_project_is_reloaded_when_a_file_is_restored_with_its_old_size_and_mtime(project):
    from vedder.mcp import ProjectWatcher

    watcher = ProjectWatcher(project)
    cluster = project / "clusters/music/cluster.yaml"
    status = cluster.stat()
    cluster.write_text(cluster.read_text().replace("Music listening", "Music LISTENING"))  # as cp -p or rsync -a would
    os.utime(cluster, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (cluster.stat().st_size, cluster.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    assert watcher.current().cluster("music").title == "Music LISTENING"
