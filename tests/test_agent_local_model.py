"""The agent with a real, weak local model: what SmolLM2-135M served by llama.cpp's server actually sent, replayed
through the scripted OpenAI-compatible server (see benchmarks/local_model.py for how it was captured)."""

from __future__ import annotations

import socket

from fake_openai import FakeOpenAI
from test_agent import MODEL, ask, cluster, context, project, server, warehouse, warehouse_file  # noqa: F401 (fixtures)
from vedder.agent import run_agent


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_openai_environment_variables_point_at_a_local_server(project, cluster, context, warehouse, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_BASE", server.url)
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("There are 5 orders.")
    result = run_agent(project, cluster, "How many orders?", context=context, warehouse=warehouse, model=MODEL,
                       model_options={"api_key": None, "tool_calling": True})

    assert result.status == "answered" and result.result.rows == [(5,)]
    assert server.headers[0]["authorization"] == "Bearer none"


def test_a_server_that_is_not_running_is_one_clean_error_naming_it(project, cluster, context, warehouse, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    result = run_agent(project, cluster, "How many orders?", context=context, warehouse=warehouse, model=MODEL,
                       model_options={"api_base": url, "num_retries": 1, "retry_backoff_s": 0.01})

    assert result.status == "error" and result.steps == []
    assert result.error == f"model {MODEL} at {url} connection failed after 2 attempts: Connection refused"
    assert result.hint.startswith("start the model server")
    assert "\n" not in result.error and "Traceback" not in result.error
