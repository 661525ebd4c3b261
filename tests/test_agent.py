"""The agent through litellm for real, against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest

from fake_openai import FakeOpenAI
from vedder.agent import AgentResult, complete, is_model, run_agent
from vedder.agent.llm import check_model, redact
from vedder.agent.loop import parse_text_reply
from vedder.agent.tools import Toolbox
from vedder.config import load_config
from vedder.errors import ModelError
from vedder.project import load_project
from vedder.warehouse import open_warehouse

MODEL = "openai/fake-model"
COUNT_SQL = "SELECT country, COUNT(*) AS orders FROM orders GROUP BY country ORDER BY orders DESC"


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA shop; CREATE SCHEMA hr")
    con.execute("CREATE TABLE shop.orders (order_id INTEGER, customer_id INTEGER, country VARCHAR, amount DOUBLE)")
    con.execute("INSERT INTO shop.orders VALUES (1, 10, 'US', 5.0), (2, 11, 'US', 7.5), (3, 12, 'SE', 3.0), (4, 10, 'US', 1.0), (5, 13, 'GB', 9.0)")
    con.execute("CREATE TABLE shop.customers (id INTEGER, name VARCHAR, is_test BOOLEAN)")
    con.execute("INSERT INTO shop.customers VALUES (10, 'Ada', false), (11, 'Bo', false), (12, 'Cy', true), (13, 'Di', false)")
    con.execute("CREATE TABLE hr.salaries (name VARCHAR, salary INTEGER)")
    con.close()
    return path


@pytest.fixture
def project(tmp_path, warehouse_file):
    write(tmp_path / "vedder.yaml", f"""
        warehouse: {{type: duckdb, path: {warehouse_file}}}
        dialect: duckdb
        model: {MODEL}
        agent: {{max_steps: 6}}
        model_options: {{api_key: dummy, num_retries: 2, retry_backoff_s: 0.01, timeout: 5}}
    """)
    write(tmp_path / "clusters/shop/cluster.yaml", """
        id: shop
        title: Shop orders
        description: Orders and customers of the web shop.
        owners: {team: commerce-analytics, members: [ada], contact: "#commerce"}
        datasets: [shop.orders, shop.customers]
        default_schema: shop
    """)
    write(tmp_path / "clusters/shop/datasets/shop.orders.yaml", """
        table: shop.orders
        description: One row per order.
        row_count: 5
        partitioning: null
        columns:
          - {name: order_id, type: INTEGER, description: Order id, distinct_count: 5}
          - {name: customer_id, type: INTEGER, description: Buyer, see shop.customers.id}
          - name: country
            type: VARCHAR
            description: ISO country code of the buyer
            null_fraction: 0.0
            distinct_count: 3
            common_values: [{value: US, frequency: 0.6}, {value: SE, frequency: 0.2}, {value: GB, frequency: 0.2}]
          - {name: amount, type: DOUBLE, description: Order value in EUR, min: 1.0, max: 9.0}
          - {name: discount, type: DOUBLE, description: Dropped in 2023}
    """)
    write(tmp_path / "clusters/shop/pairs/orders-by-country.yaml", f"""
        question: How many orders per country?
        sql: {COUNT_SQL}
        verified_by: ada
        verified_at: 2024-05-01
    """)
    write(tmp_path / "clusters/shop/docs/test-accounts.md", """
        ---
        title: Test accounts
        tags: [customers]
        ---
        # Test accounts
        Customers with is_test = true are internal test accounts; exclude them from revenue.
    """)
    return load_project(load_config(tmp_path))


@dataclass
class StubContext:
    """What build_context returns, as far as the agent reads it."""

    text: str
    pairs: list[tuple[Any, float]] = field(default_factory=list)
    docs: list[tuple[Any, float]] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)


@pytest.fixture
def cluster(project):
    return project.cluster("shop")


@pytest.fixture
def context(cluster):
    pair = cluster.pair("orders-by-country")
    return StubContext(text=f"Table shop.orders(order_id, customer_id, country, amount)\nPair: {pair.question}\n{pair.sql}",
                       pairs=[(pair, 0.9)], docs=[(cluster.docs[0], 0.4)], tables=["shop.orders"])


@pytest.fixture
def server():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def warehouse(project):
    opened = open_warehouse(project.config)
    yield opened
    opened.close()


def ask(project, cluster, context, warehouse, server, question="How many orders per country?", **options) -> AgentResult:
    model_options = {"api_base": server.url, **options.pop("model_options", {})}
    return run_agent(project, cluster, question, context=context, warehouse=warehouse, model=MODEL,
                     model_options=model_options, **options)


def tool_messages(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_tool_calling_run_answers_with_sql_result_and_sources(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("describe_table", {"table": "orders"}, content="Check the columns first.")
    server.enqueue_tool_call("run_sql", {"sql": COUNT_SQL})
    server.enqueue_text("The US has the most orders (3); SE and GB have 1 each.")
    seen = []
    result = ask(project, cluster, context, warehouse, server, on_step=seen.append, model_options={"tool_calling": True})

    assert result.status == "answered", result.error
    assert result.answer.startswith("The US has the most orders")
    assert result.sql == "SELECT country, COUNT(*) AS orders FROM shop.orders GROUP BY country ORDER BY orders DESC"
    assert result.result.rows[0] == ("US", 3)
    assert [s["tool"] for s in result.steps] == ["describe_table", "run_sql"] == [s["tool"] for s in seen]
    assert result.steps[0]["thought"] == "Check the columns first."
    assert result.tokens == 3 * 120
    assert result.cost == 0.0
    assert result.sources == [
        {"kind": "pair", "id": "shop/orders-by-country"},
        {"kind": "doc", "id": "clusters/shop/docs/test-accounts.md"},
        {"kind": "dataset", "id": "shop.orders"},
    ]
    first = server.requests[0]
    assert first["model"] == "fake-model"
    assert {t["function"]["name"] for t in first["tools"]} == {"search", "describe_table", "column_values", "run_sql"}
    assert first["messages"][0]["role"] == "system" and context.text in first["messages"][0]["content"]
    assert first["messages"][-1] == {"role": "user", "content": "How many orders per country?"}
    description = tool_messages(server.requests[1])[0]
    assert "country VARCHAR — ISO country code of the buyer" in description
    assert "'US' (60%)" in description
    assert "discount" in description and "NOT in the warehouse" in description
    assert "3 rows" in tool_messages(server.requests[2])[1]


def test_sql_error_goes_back_to_the_model_which_corrects_it(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT cntry, COUNT(*) FROM orders GROUP BY cntry"})
    server.enqueue_tool_call("run_sql", {"sql": COUNT_SQL})
    server.enqueue_text("US: 3, SE: 1, GB: 1.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered"
    assert [s["ok"] for s in result.steps] == [False, True]
    error = tool_messages(server.requests[1])[0]
    assert error.startswith("SQL error:") and "cntry" in error
    assert result.sql.startswith("SELECT country")


def test_guard_refusals_are_observations(project, cluster, context, warehouse, server):
    server.enqueue_tool_calls([("run_sql", {"sql": "SELECT * FROM hr.salaries"}), ("run_sql", {"sql": "DROP TABLE shop.orders"})])
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("There are 5 orders.")
    result = ask(project, cluster, context, warehouse, server, question="How many orders?", model_options={"tool_calling": True})

    refusals = tool_messages(server.requests[1])
    assert refusals[0].startswith("Refused by the SQL guard (rule table_not_allowed)")
    assert "hr.salaries" in refusals[0]
    assert refusals[1].startswith("Refused by the SQL guard (rule read_only)")
    assert result.status == "answered"
    assert result.result.rows == [(5,)]
    assert {"kind": "dataset", "id": "hr.salaries"} not in result.sources


def test_step_bound_ends_in_a_clean_error_showing_the_last_successful_query(project, cluster, context, warehouse, server):
    for _ in range(3):
        server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    result = ask(project, cluster, context, warehouse, server, max_steps=2, model_options={"tool_calling": True})

    assert result.status == "error"
    assert result.error == "no final answer after 2 steps"
    assert "agent.max_steps" in result.hint
    assert "unconfirmed" in result.answer
    assert result.result.rows == [(5,)]
    assert len(server.requests) == 2


def test_the_bound_comes_from_the_config(project, cluster, context, warehouse, server):
    for number in range(7):  # a different search each time: the same one again is stopped as stuck
        server.enqueue_tool_call("search", {"query": f"orders {number}"})
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.error == "no final answer after 6 steps"
    assert result.answer == "" and result.sql is None
    assert len(server.requests) == 6


def test_a_model_that_times_out_ends_in_a_clean_error(project, cluster, context, warehouse, server):
    server.enqueue_text("too late", delay=1.0)
    server.enqueue_text("too late again", delay=1.0)
    result = ask(project, cluster, context, warehouse, server,
                 model_options={"tool_calling": True, "timeout": 0.3, "num_retries": 1})

    assert result.status == "error"
    assert "timed out" in result.error and "after 2 attempts" in result.error and server.url in result.error
    assert "timeout" in result.hint
    assert len(server.requests) == 2


def test_malformed_tool_calls_are_recovered(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", '{"sql": "SELECT 1')
    server.enqueue_tool_calls([("drop_everything", {}), ("run_sql", {}), ("describe_table", {"table": "hr.salaries"})])
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("5 orders.")
    result = ask(project, cluster, context, warehouse, server, question="How many orders?", model_options={"tool_calling": True})

    assert result.status == "answered"
    assert [s["ok"] for s in result.steps] == [False, False, False, False, True]
    assert result.steps[0]["input"] == '{"sql": "SELECT 1'
    bad_json = tool_messages(server.requests[1])[0]
    assert "not valid JSON" in bad_json and '{"sql": "..."}' in bad_json
    unknown, missing, foreign = tool_messages(server.requests[2])[1:]
    assert "no tool 'drop_everything'" in unknown and "run_sql" in unknown
    assert "run_sql needs sql" in missing
    assert "not part of cluster 'shop'" in foreign and "shop.customers" in foreign


def test_a_tool_call_written_as_text_is_run_not_shown_as_the_answer(project, cluster, context, warehouse, server):
    """Local models with tool calling (Ollama, llama.cpp) sometimes write the call in the message instead of making
    it: JSON alone, fenced, or Action lines. It is run; a JSON object that names no tool is an answer in words."""
    server.enqueue_text('{"name": "describe_table", "parameters": {"table": "orders"}}')
    server.enqueue_text('```json\n{"name": "run_sql", "arguments": {"sql": "SELECT COUNT(*) AS n FROM orders"}}\n```')
    server.enqueue_text('Action: run_sql\nAction Input: {"sql": "' + COUNT_SQL + '"}')
    server.enqueue_text("The US has the most orders (3).")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered", result.error
    assert [(s["tool"], s["ok"]) for s in result.steps] == [("describe_table", True), ("run_sql", True), ("run_sql", True)]
    assert result.answer == "The US has the most orders (3)." and result.result.rows[0] == ("US", 3)
    observed = [m["content"] for m in server.requests[1]["messages"] if m["role"] == "user"]
    assert observed[-1].startswith("Observation from describe_table:") and "country" in observed[-1]

    server.enqueue_tool_call("run_sql", {"sql": COUNT_SQL})
    server.enqueue_text('{"country": "US", "orders": 3}')
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})
    assert result.status == "answered" and result.answer == '{"country": "US", "orders": 3}'


def test_text_only_fallback(project, cluster, context, warehouse, server):
    server.enqueue_text("I will look.")
    server.enqueue_text('Thought: count per country\nAction: run_sql\nAction Input: {"sql": "' + COUNT_SQL + '"}\n'
                        "Observation: (made up by the model)")
    server.enqueue_text("Thought: the result answers it\nFinal Answer: The US leads with 3 orders.")
    result = ask(project, cluster, context, warehouse, server)  # openai/fake-model: litellm knows no tool calling

    assert result.status == "answered"
    assert result.answer == "The US leads with 3 orders."
    assert result.result.rows[0] == ("US", 3)
    assert all("tools" not in r for r in server.requests)
    system = server.requests[0]["messages"][0]["content"]
    assert "Action Input:" in system and '- run_sql {"sql": string}' in system
    assert server.requests[0]["stop"] == ["\nObservation:"]
    assert server.requests[1]["messages"][-1]["content"].startswith("Observation: Your reply had neither")
    last = server.requests[2]["messages"]
    assert last[-2]["content"].endswith('"}') and "made up" not in last[-2]["content"]
    assert last[-1]["content"].startswith("Observation: 3 rows")
    assert [s["tool"] for s in result.steps] == ["", "run_sql"]


@pytest.mark.parametrize(
    "text, action, action_input, final",
    [
        ('Thought: x\nAction: run_sql\nAction Input: {"sql": "SELECT 1"}', "run_sql", '{"sql": "SELECT 1"}', None),
        ('Action: `describe_table`\nAction Input:\n```json\n{"table": "orders"}\n```', "describe_table", '{"table": "orders"}', None),
        ("thought: done\nfinal answer: 42 orders.\nAction: run_sql", None, "", "42 orders."),
        ('Thought: a\nAction: run_sql\nAction Input: {"sql": "SELECT 2"}\nObservation: 2\nFinal Answer: 2', "run_sql", '{"sql": "SELECT 2"}', None),
        ("Just prose, no protocol.", None, "", None),
    ],
)
def test_parse_text_reply(text, action, action_input, final):
    parsed = parse_text_reply(text)
    assert (parsed.action, parsed.action_input, parsed.final_answer) == (action, action_input, final)


def test_rate_limit_and_server_errors_are_retried(project, cluster, context, warehouse, server):
    server.enqueue_error(429, "slow down")
    server.enqueue_error(503, "overloaded")
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("5 orders.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered"
    assert len(server.requests) == 4
    assert result.tokens == 2 * 120


def test_retries_are_bounded(project, cluster, context, warehouse, server):
    for _ in range(3):
        server.enqueue_error(500, "boom")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "error"
    assert result.error.endswith("server error after 3 attempts: boom")
    assert len(server.requests) == 3


def test_authentication_errors_raise_without_echoing_the_key(project, cluster, context, warehouse, server):
    key = "sk-proj-abcdef0123456789"
    server.enqueue_error(401, f"Incorrect API key provided: {key}")
    with pytest.raises(ModelError) as raised:
        ask(project, cluster, context, warehouse, server, model_options={"api_key": key})
    assert "authentication failed" in raised.value.message
    assert key not in raised.value.message and "[redacted]" in raised.value.message
    assert "API key" in raised.value.hint
    assert server.headers[0]["authorization"] == f"Bearer {key}"
    assert len(server.requests) == 1


def test_unknown_models_raise_before_any_call(project, cluster, context, warehouse, server):
    for model in ("offline", "nonsense-provider/abc", ""):
        with pytest.raises(ModelError) as raised:
            run_agent(project, cluster, "q", context=context, warehouse=warehouse, model=model)
        assert "ollama_chat/llama3.1" in raised.value.hint
    assert server.requests == []


def test_an_answer_without_a_query_is_not_an_answer(project, cluster, context, warehouse, server):
    server.enqueue_text("Probably about 40 orders.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "error"
    assert result.answer == "Not checked against the data (the model ran no query): Probably about 40 orders."
    assert "not backed by data" in result.error
    assert result.sql is None


def test_empty_results_ask_the_model_to_check_values(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT order_id FROM orders WHERE country = 'Sweden'"})
    server.enqueue_tool_call("column_values", {"table": "shop.orders", "column": "country", "contains": "s"})
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders WHERE country = 'SE'"})
    server.enqueue_text("Sweden has 1 order.")
    result = ask(project, cluster, context, warehouse, server, question="Orders from Sweden?", model_options={"tool_calling": True})

    assert tool_messages(server.requests[1])[0].startswith("The query ran and returned no rows")
    values = tool_messages(server.requests[2])[1]
    assert values == "values of country with row counts (matching): 'US' (3), 'SE' (1)"
    assert result.status == "answered" and result.result.rows == [(1,)]


def test_history_is_carried_as_earlier_turns(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders WHERE country = 'SE'"})
    server.enqueue_text("1 order.")
    history = [{"question": "Orders from the US?", "sql": "SELECT COUNT(*) FROM shop.orders WHERE country = 'US'", "summary": "1 rows: [{'n': 3}]"}]
    ask(project, cluster, context, warehouse, server, question="and for Sweden?", history=history, model_options={"tool_calling": True})

    messages = server.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[2]["content"].startswith("SQL: SELECT COUNT(*) FROM shop.orders WHERE country = 'US'")


def test_with_the_real_context_history_is_not_repeated(project, cluster, warehouse, server):
    from vedder.context import build_context

    history = [{"question": "Orders from the US?", "sql": "SELECT COUNT(*) FROM shop.orders WHERE country = 'US'", "summary": "n=3"}]
    context = build_context(project, cluster, "and for Sweden?", history=history)
    server.enqueue_tool_call("search", {"query": "test accounts"})
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders WHERE country = 'SE'"})
    server.enqueue_text("1 order.")
    result = ask(project, cluster, context, warehouse, server, question="and for Sweden?", history=history, model_options={"tool_calling": True})

    messages = server.requests[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert context.text.strip() in messages[0]["content"] and "Orders from the US?" in context.text
    assert "read-only DuckDB query" in messages[0]["content"] and "{dialect}" not in messages[0]["content"]
    assert "[doc test-accounts]" in tool_messages(server.requests[1])[0]
    assert {"kind": "doc", "id": "clusters/shop/docs/test-accounts.md"} in result.sources
    assert result.status == "answered"


def test_toolbox_directly(project, cluster, warehouse):
    toolbox = Toolbox(project, cluster, warehouse)
    assert toolbox.call("column_values", {"table": "orders", "column": "country"}).text == (
        "profiled common values: 'US' (60%), 'SE' (20%), 'GB' (20%)\n"
        "values of country with row counts: 'US' (3), 'GB' (1), 'SE' (1)"
    )
    quoted = toolbox.call("column_values", {"table": "orders", "column": "country", "contains": "x' OR 1=1 --"})
    assert quoted.ok and quoted.text == "no values of country contain 'x' OR 1=1 --'."
    assert not toolbox.call("column_values", {"table": "orders", "column": "nope"}).ok
    found = toolbox.call("search", {"query": "test accounts"})
    assert "[doc test-accounts]" in found.text
    assert {"kind": "doc", "id": "clusters/shop/docs/test-accounts.md"} in toolbox.sources
    assert toolbox.runs == []  # value lookups are not answers
    assert toolbox.call("run_sql", {"sql": "SELECT name FROM customers WHERE NOT is_test"}).text.startswith("3 rows")
    assert toolbox.last_run.guarded.tables == ["shop.customers"]


def test_complete_and_model_checks(server):
    server.enqueue_text("  How many orders per country?  ")
    text = complete(MODEL, [{"role": "user", "content": "Name this query"}], api_base=server.url, api_key="dummy")
    assert text == "How many orders per country?"
    assert "tools" not in server.requests[0]
    assert is_model("gpt-4o-mini") and not is_model("offline") and not is_model(None) and not is_model(" ")
    assert check_model("ollama_chat/llama3.1") == "ollama_chat/llama3.1"


def test_redact(monkeypatch):
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "plain-secret-value")
    assert redact("key plain-secret-value and sk-abcdefghijklmnopq, mine: hunter22", {"api_key": "hunter22"}) == (
        "key [redacted] and [redacted], mine: [redacted]"
    )


def test_result_to_dict_is_json(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("5.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})
    data = json.loads(json.dumps(result.to_dict()))
    assert data["result"] == {"columns": ["n"], "rows": [[5]], "truncated": False}
    assert data["model"] == MODEL


def test_vedder_ask_end_to_end_through_the_fake_server(project, server):
    from typer.testing import CliRunner

    from vedder.cli import app

    config = project.root / "vedder.yaml"
    config.write_text(config.read_text().replace("api_key: dummy", f"api_key: dummy, api_base: '{server.url}', tool_calling: true"))
    server.enqueue_tool_call("run_sql", {"sql": COUNT_SQL})
    server.enqueue_text("The US has the most orders: 3.")
    outcome = CliRunner().invoke(app, ["ask", "--json", "--cluster", "shop", "--project", str(project.root), "Which countries buy from us, and how often?"])

    assert outcome.exit_code == 0, outcome.output
    answer = json.loads(outcome.stdout)
    assert answer["status"] == "answered" and answer["model"] == MODEL
    assert answer["answer"] == "The US has the most orders: 3."
    assert answer["rows"][0] == ["US", 3] and answer["columns"] == ["country", "orders"]
    assert {"kind": "dataset", "id": "shop.orders"} in answer["sources"]
    assert answer["tokens"] == 240 and answer["steps"][0]["tool"] == "run_sql"


def test_cost_is_summed_when_litellm_knows_the_price(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("5 orders.")
    result = run_agent(project, cluster, "How many orders?", context=context, warehouse=warehouse, model="openai/gpt-4o-mini",
                       model_options={"api_base": server.url})

    assert "tools" in server.requests[0]  # litellm knows gpt-4o-mini calls tools natively
    assert result.tokens == 240
    assert result.cost == pytest.approx(2 * (100 * 0.15 + 20 * 0.60) / 1e6)


def test_text_action_input_may_be_bare_sql(project, cluster, warehouse):
    from vedder.agent.loop import _text_arguments

    toolbox = Toolbox(project, cluster, warehouse)
    assert _text_arguments(toolbox, "run_sql", "SELECT 1") == {"sql": "SELECT 1"}
    assert _text_arguments(toolbox, "run_sql", '{"sql": "SELECT 2"}') == {"sql": "SELECT 2"}
    assert _text_arguments(toolbox, "column_values", "orders.country") == "orders.country"  # two required: the tool says how
    assert "not valid JSON" in toolbox.call("column_values", "orders.country").text


def test_vedder_ask_model_failure_exits_5_on_stderr(project, server):
    from typer.testing import CliRunner

    from vedder.cli import app

    config = project.root / "vedder.yaml"
    config.write_text(config.read_text().replace("api_key: dummy", f"api_key: dummy, api_base: '{server.url}', tool_calling: true"))
    server.enqueue_error(401, "invalid api key")
    outcome = CliRunner().invoke(app, ["ask", "--cluster", "shop", "--project", str(project.root), "Which countries buy from us, and how often?"])

    assert outcome.exit_code == 5, outcome.output
    assert outcome.stdout == ""
    assert "error" in outcome.stderr and "Traceback" not in outcome.output


def _served(project, server, agent: str = "{max_steps: 6}") -> None:
    config = project.root / "vedder.yaml"
    text = config.read_text().replace("api_key: dummy", f"api_key: dummy, api_base: '{server.url}', tool_calling: true")
    config.write_text(text.replace("agent: {max_steps: 6}", f"agent: {agent}"))


def test_a_question_a_vetted_pair_answers_is_answered_from_it_without_the_model(project, server):
    """Vetted first: with a model configured, the pair's answer (offline's) wins, at no cost and no call."""
    from vedder.ask import ask as ask_question

    _served(project, server)
    server.enqueue_tool_call("run_sql", {"sql": "SELECT 42 AS n"})  # never asked for
    answer = ask_question(load_project(load_config(project.root)), "How many orders per country?", cluster_id="shop")

    assert server.requests == []
    assert answer.status == "answered" and answer.model == "offline" and answer.tokens == 0
    assert {"kind": "pair", "id": "shop/orders-by-country"} in answer.sources
    assert sorted(map(tuple, answer.rows)) == [("GB", 1), ("SE", 1), ("US", 3)]
    assert answer.steps[0]["tool"] == "offline_match"


def test_vetted_first_can_be_turned_off(project, server):
    from vedder.ask import ask as ask_question

    _served(project, server, "{max_steps: 6, vetted_first: false}")
    server.enqueue_tool_call("run_sql", {"sql": "SELECT 42 AS n"})
    server.enqueue_text("42.")
    answer = ask_question(load_project(load_config(project.root)), "How many orders per country?", cluster_id="shop")

    assert len(server.requests) == 2 and answer.model == MODEL and answer.rows == [[42]]


def test_a_follow_up_of_the_models_answer_does_not_adapt_an_older_pair(project, server):
    """Pair, then the model's answer, then "and for Sweden?": about the model's query, which the model adapts; the
    older pair's SQL adapted to Sweden would answer a question nobody asked."""
    from vedder.ask import ask as ask_question

    _served(project, server)
    first = ask_question(load_project(load_config(project.root)), "How many orders per country?", cluster_id="shop")
    assert first.model == "offline"
    server.enqueue_tool_call("run_sql", {"sql": "SELECT SUM(amount) AS total FROM orders"})
    server.enqueue_text("25 EUR in all.")
    second = ask_question(load_project(load_config(project.root)), "What is the total order value?", continue_id=first.conversation_id)
    assert second.model == MODEL and second.rows == [[25.5]]
    server.enqueue_tool_call("run_sql", {"sql": "SELECT SUM(amount) AS total FROM orders WHERE country = 'SE'"})
    server.enqueue_text("In Sweden, 3 EUR.")
    third = ask_question(load_project(load_config(project.root)), "and for Sweden?", continue_id=first.conversation_id)

    assert third.model == MODEL and "country = 'SE'" in third.sql and len(server.requests) == 4


def test_offline_is_case_insensitive(project):
    from typer.testing import CliRunner

    from vedder.cli import app

    outcome = CliRunner().invoke(app, ["ask", "--json", "--model", "Offline", "--cluster", "shop", "--project", str(project.root), "How many orders per country?"])
    assert json.loads(outcome.stdout)["model"] == "offline"


def add_people_cluster(project) -> "Project":
    write(project.root / "clusters/people/cluster.yaml", """
        id: people
        title: People
        description: Salaries of the company's employees.
        owners: {team: people-analytics}
        datasets: [hr.salaries]
        default_schema: hr
    """)
    return load_project(load_config(project.root))


def test_the_agent_may_switch_to_another_candidate_cluster(project, warehouse, server):
    project = add_people_cluster(project)
    shop, people = project.cluster("shop"), project.cluster("people")
    server.enqueue_tool_call("switch_cluster", {"cluster": "payroll"})
    server.enqueue_tool_call("switch_cluster", {"cluster": "people"})
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM shop.orders"})
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS people FROM salaries"})
    server.enqueue_text("Nobody is on the payroll yet: 0 salaries.")
    context = StubContext(text="Table shop.orders(order_id, customer_id, country, amount)")
    result = ask(project, shop, context, warehouse, server, question="How many salaries are there?",
                 alternatives=[people], model_options={"tool_calling": True})

    assert result.status == "answered", result.error
    assert result.cluster == "people"
    assert result.sql == "SELECT COUNT(*) AS people FROM hr.salaries" and result.result.rows == [(0,)]
    first = server.requests[0]
    assert "switch_cluster" in {t["function"]["name"] for t in first["tools"]}
    system = first["messages"][0]["content"]
    assert "Routing note" in system and "`people` (team people-analytics)" in system and "hr.salaries" in system
    observations = tool_messages(server.requests[-1])
    assert "'payroll' is not a candidate cluster. Candidates: shop, people" in observations[0]
    assert "Now working on cluster people (owned by people-analytics)" in observations[1] and "hr.salaries" in observations[1]
    assert "shop.orders" in observations[2] and "not" in observations[2]  # the old cluster's tables are out of bounds now
    assert [s["ok"] for s in result.steps] == [False, True, False, True]
    assert {"kind": "dataset", "id": "hr.salaries"} in result.sources
    assert not any(s["id"].startswith("shop/") for s in result.sources if s["kind"] == "pair")


def test_what_was_queried_and_cited_before_a_switch_does_not_back_the_answer(project, warehouse, server):
    project = add_people_cluster(project)
    shop, people = project.cluster("shop"), project.cluster("people")
    server.enqueue_tool_call("search", {"query": "orders per country"})
    server.enqueue_tool_call("run_sql", {"sql": COUNT_SQL})
    server.enqueue_tool_call("switch_cluster", {"cluster": "people"})
    server.enqueue_text("3 people are paid.")
    result = ask(project, shop, StubContext(text="Table shop.orders"), warehouse, server, question="How many salaries?",
                 alternatives=[people], model_options={"tool_calling": True})

    assert result.cluster == "people"
    assert result.status == "error" and "without running a query" in result.error  # shop's rows are not people's answer
    assert result.sql is None and result.result is None
    assert not any(s["id"].startswith(("shop/", "shop.")) for s in result.sources), result.sources


def test_after_a_switch_a_follow_up_keeps_its_conversation(project, warehouse, server):
    project = add_people_cluster(project)
    shop, people = project.cluster("shop"), project.cluster("people")
    server.enqueue_tool_call("switch_cluster", {"cluster": "people"})
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM salaries"})
    server.enqueue_text("0.")
    history = [{"question": "Who earns the most?", "sql": "SELECT name FROM hr.salaries ORDER BY salary DESC LIMIT 1",
                "summary": "0 rows", "cluster": None}]
    context = StubContext(text="Table shop.orders\nEarlier in this conversation: Who earns the most?")
    result = ask(project, shop, context, warehouse, server, question="and how many are there?", alternatives=[people],
                 history=history, model_options={"tool_calling": True})

    assert result.status == "answered", result.error
    switched = tool_messages(server.requests[-1])[0]
    assert "Who earns the most?" in switched  # the new cluster's context carries the conversation too


def test_a_candidate_named_as_the_routing_note_writes_it_is_found(project, warehouse):
    project = add_people_cluster(project)
    toolbox = Toolbox(project, project.cluster("shop"), warehouse, question="How many salaries?",
                      alternatives=[project.cluster("people")])
    observation = toolbox.call("switch_cluster", {"cluster": " `people` "})  # the note shows ids in backticks
    assert observation.ok and toolbox.cluster.id == "people", observation.text


def test_vedder_ask_hands_near_equal_clusters_to_the_agent(project, server):
    from vedder.ask import ask as vedder_ask
    from vedder.context import route

    add_people_cluster(project)
    shutil.copytree(project.root / "clusters/shop", project.root / "clusters/shop-eu")  # a second team's copy
    eu = project.root / "clusters/shop-eu/cluster.yaml"
    eu.write_text(eu.read_text().replace("id: shop", "id: shop-eu").replace("commerce-analytics", "eu-commerce"))
    project = load_project(load_config(project.root))
    question = "What is the average order amount?"
    routing = route(project, question)
    assert routing.ambiguous and {c.id for c in routing.candidates} == {"shop", "shop-eu"}, routing.to_dict()
    other = next(c.id for c in routing.candidates if c.id != routing.cluster.id)
    server.enqueue_tool_call("switch_cluster", {"cluster": other})
    server.enqueue_tool_call("run_sql", {"sql": "SELECT AVG(amount) AS average FROM orders"})
    server.enqueue_text("The average order is 5.1 EUR.")
    project.config.model_options.update({"api_base": server.url, "tool_calling": True})
    answer = vedder_ask(project, question, model=MODEL, log=False)

    assert answer.status == "answered", answer.error
    assert answer.cluster == other and answer.owners["team"] == project.cluster(other).owners.team
    assert answer.rows == [[5.1]]
