"""The agent with a real, weak local model: what SmolLM2-135M served by llama.cpp's server actually sent, replayed
through the scripted OpenAI-compatible server (see benchmarks/local_model.py for how it was captured)."""

from __future__ import annotations

import socket

from fake_openai import FakeOpenAI
from test_agent import MODEL, ask, cluster, context, project, server, warehouse, warehouse_file  # noqa: F401 (fixtures)
from vedder.agent import run_agent
from vedder.config import load_config
from vedder.project import load_project


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
    assert result.error == f"model {MODEL} at {url} connection failed after 2 attempts: Connection error (Connection refused)"
    assert result.hint.startswith("start the model server")
    assert "\n" not in result.error and "Traceback" not in result.error


# What SmolLM2-135M-Instruct (Q4_1, llama.cpp server, its own chat template, temperature 0) replied to
# "How many tracks are in the catalogue?" on the demo, in the text protocol.
SMOLLM_PROSE = ("The catalogue is a list of all the tracks in the listening.tracks table, which contains columns for\n"
                "track_id and track_title.")
SMOLLM_ECHO_WITH_MADE_UP_ANSWER = ("Observation: Your reply had neither an Action nor a Final Answer. Reply with Thought, "
                                   "Action and Action Input (one JSON object)\nActions: 100; Response: \"I'm glad to hear "
                                   "that.\"\nFinal Answer: I am glad to hear that.")
SMOLLM_ECHO = ("Observation: Your reply had neither an Action nor a Final Answer. Reply with Thought, Action and Action "
               "Input (one JSON object), or with Final Answer.")


def test_a_model_repeating_itself_after_a_failure_is_stopped_before_the_bound(project, cluster, context, warehouse, server):
    for text in (SMOLLM_PROSE, SMOLLM_ECHO, SMOLLM_ECHO, SMOLLM_ECHO):
        server.enqueue_text(text)
    result = ask(project, cluster, context, warehouse, server)

    assert len(server.requests) == 4 and len(result.steps) == 3  # the bound is 6; the first repeat is told once
    assert server.requests[3]["messages"][-1]["content"].startswith("You sent exactly the same reply again")
    assert result.status == "error" and result.sql is None and result.answer == ""
    assert result.error.startswith("the model sent the same reply twice in a row after 'You sent exactly the same reply")
    assert result.error.endswith("so it was stopped after 3 steps") and "stronger model" in result.hint


def test_a_final_answer_after_an_echoed_observation_is_not_taken(project, cluster, context, warehouse, server):
    server.enqueue_text(SMOLLM_PROSE)
    server.enqueue_text(SMOLLM_ECHO_WITH_MADE_UP_ANSWER)
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})  # unscripted: the bound ends it
    result = ask(project, cluster, context, warehouse, server, max_steps=2)

    assert result.status == "error" and result.answer == "" and "I am glad" not in str(result.to_dict())
    assert result.error == "no final answer after 2 steps"


def test_the_same_successful_query_twice_is_not_called_stuck(project, cluster, context, warehouse, server):
    for _ in range(2):
        server.enqueue_text('Thought: count\nAction: run_sql\nAction Input: {"sql": "SELECT COUNT(*) AS n FROM orders"}')
    server.enqueue_text("Thought: done\nFinal Answer: 5 orders.")
    result = ask(project, cluster, context, warehouse, server)

    assert result.status == "answered" and result.answer == "5 orders." and len(result.steps) == 2


LLAMA_CPP_CONTEXT_FULL = ("This model's maximum context length is 8192 tokens. However, you requested 10438 tokens (10418 in the "
                          "messages, 20 in the completion). Please reduce the length of the messages or completion.")


def test_a_transcript_outgrowing_the_models_window_ends_with_the_steps_so_far(project, cluster, context, warehouse, server):
    server.enqueue_text('Thought: count\nAction: run_sql\nAction Input: {"sql": "SELECT COUNT(*) AS n FROM orders"}')
    server.enqueue_error(400, LLAMA_CPP_CONTEXT_FULL)  # what llama.cpp's server answers (code context_length_exceeded)
    result = ask(project, cluster, context, warehouse, server)

    assert result.status == "error" and len(result.steps) == 1 and len(server.requests) == 2
    assert result.error.startswith(f"model {MODEL}: the prompt is too long for the model's context window")
    assert "8192" in result.error and "\n" not in result.error
    assert "context.token_budget" in result.hint and "agent.max_steps" in result.hint
    assert result.sql == "SELECT COUNT(*) AS n FROM shop.orders" and "unconfirmed" in result.answer


def test_a_made_up_figure_without_a_query_is_labelled_unchecked(project, cluster, context, warehouse, server):
    # SmolLM2 through llama.cpp's chatml-function-calling format, asked "What does each plan cost per month?".
    server.enqueue_text("Each plan costs 9.99 per month, which is a monthly payment of $10.99.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "error" and result.sql is None and "not backed by data" in result.error
    assert result.answer.startswith("Not checked against the data (the model ran no query): Each plan costs 9.99")


# What Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, llama.cpp server, the GGUF's own chat template, temperature 0) sent on the
# demo, with the demo's table names swapped for the test cluster's (shop.orders).
QWEN_FENCED_QUERY = "```sql\nSELECT COUNT(*) AS orders_count FROM shop.orders\n```"  # tool_calling: true, no tool call made
QWEN_SAME_ACTION = ("Thought: I need to count the number of rows in the `shop.orders` table.\nAction: run_sql\n"
                    'Action Input: {"sql": "SELECT COUNT(*) AS orders FROM shop.orders"}')  # text protocol, 8 times in a row


def test_a_reply_that_is_only_a_query_is_run_not_shown_unchecked(project, cluster, context, warehouse, server):
    server.enqueue_text(QWEN_FENCED_QUERY)
    server.enqueue_text("There are 5 orders.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered", result.error
    assert result.answer == "There are 5 orders." and result.result.rows == [(5,)]
    assert [(s["tool"], s["input"], s["ok"]) for s in result.steps] == [
        ("run_sql", {"sql": "SELECT COUNT(*) AS orders_count FROM shop.orders"}, True)]
    observed = server.requests[1]["messages"][-1]["content"]
    assert observed.startswith("Observation from run_sql: 1 rows") and observed.endswith("(no tool call); if not, fix the query.")


def test_a_query_in_the_text_protocol_without_an_action_is_run(project, cluster, context, warehouse, server):
    server.enqueue_text("SELECT COUNT(*) AS n FROM orders;")
    server.enqueue_text("Thought: the count is the answer\nFinal Answer: 5 orders.")
    result = ask(project, cluster, context, warehouse, server)

    assert result.status == "answered" and result.answer == "5 orders." and result.sql == "SELECT COUNT(*) AS n FROM shop.orders"
    assert server.requests[1]["messages"][-1]["content"].endswith("reply now with Thought and Final Answer; if not, fix the query.")


def test_prose_that_starts_like_a_query_is_an_answer(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("Select customers from the US for most orders: there are 5 orders in all.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered" and result.answer.startswith("Select customers") and len(result.steps) == 1


def test_hermes_tool_call_tags_written_as_text_are_run(project, cluster, context, warehouse, server):
    # Qwen2.5's template asks for <tool_call>{…}</tool_call>; a server that does not parse them passes them on as text.
    server.enqueue_text('<tool_call>\n{"name": "describe_table", "arguments": {"table": "orders"}}\n</tool_call>\n'
                        '<tool_call>\n{"name": "run_sql", "arguments": {"sql": "SELECT COUNT(*) AS n FROM orders"}}\n</tool_call>')
    server.enqueue_text("5 orders.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered" and [s["tool"] for s in result.steps] == ["describe_table", "run_sql"]
    observed = server.requests[1]["messages"][-1]["content"]
    assert "Observation from describe_table:" in observed and "Observation from run_sql: 1 rows" in observed


def test_the_same_query_run_again_and_again_is_stopped(project, cluster, context, warehouse, server):
    for _ in range(8):
        server.enqueue_text(QWEN_SAME_ACTION)
    result = ask(project, cluster, context, warehouse, server)  # the bound is 6

    assert len(server.requests) == 3 and [s["ok"] for s in result.steps] == [True, True, True]
    second = server.requests[2]["messages"][-1]["content"]
    assert second.startswith("Observation: You already ran this exact query and saw this result")
    assert result.status == "error" and result.sql == "SELECT COUNT(*) AS orders FROM shop.orders"
    assert result.error == "the model ran the same query 3 times without giving an answer, so it was stopped after 3 steps"
    assert "unconfirmed" in result.answer and "stronger model" in result.hint


def test_a_query_skipping_a_filter_the_docs_require_is_told_so(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder counted 'How many payments failed in 2025?' without the docs' `user_id >= 100` (test accounts),
    though the context's pair and column description had it, and answered 6,458 (right: 6,271)."""
    (project.root / "clusters/shop/docs/test-customers.md").write_text(
        "# Test customers\nCustomer ids below 100 are test accounts: always filter `customer_id >= 100`.\n", encoding="utf-8")
    project = load_project(load_config(project.root))
    server.enqueue_text("```sql\nSELECT COUNT(*) FROM shop.orders WHERE country = 'US'\n```")
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) FROM shop.orders WHERE country = 'US' AND customer_id >= 100"})
    server.enqueue_text("There are 3 orders from the US.")
    result = ask(project, project.cluster("shop"), context, warehouse, server, model_options={"tool_calling": True})

    note = ("Note: the cluster's docs (test customers) say to always filter `customer_id >= 100`, and shop.orders has "
            "customer_id, but this query does not filter on it.")
    assert note in result.steps[0]["observation"] and note in server.requests[1]["messages"][-1]["content"]
    assert "Note:" not in result.steps[1]["observation"]
    assert result.status == "answered" and "customer_id >= 100" in result.sql


def test_an_sql_error_names_the_columns_the_querys_tables_have(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder added the docs' `user_id >= 100` to a table without user_id ('How many artists are signed to
    Northbeam?'), was told only 'Referenced column "user_id" not found', and sent the same query again (stuck)."""
    wrong = "SELECT COUNT(DISTINCT order_id) AS orders\nFROM shop.orders o JOIN customers c ON o.customer_id = c.id\n  AND user_id >= 100"
    for _ in range(3):
        server.enqueue_text(f"```sql\n{wrong}\n```")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    error = result.steps[0]["observation"]
    assert error.startswith('SQL error: Binder Error: Referenced column "user_id" not found')
    assert error.endswith("run it again using only these columns: shop.orders: order_id, customer_id, country, amount; "
                          "shop.customers: id, name, is_test.")
    told = server.requests[2]["messages"][-1]["content"]
    assert told.startswith("You sent exactly the same reply again, and it fails the same way.") and told.endswith(error)
    assert len(server.requests) == 3 and result.error.endswith("so it was stopped after 2 steps")


def test_a_call_fenced_after_some_words_is_run_not_taken_as_the_answer(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder's reply to the note on a skipped filter: its old figure, then the corrected call in a fence."""
    server.enqueue_text("```sql\nSELECT COUNT(*) FROM shop.orders WHERE country = 'US'\n```")
    server.enqueue_text("The query does not filter on `customer_id >= 100`, so it includes all rows. The number of orders "
                        'is 3.\n\n```json\n{\n  "name": "run_sql",\n  "arguments": {\n    "sql": "SELECT COUNT(*) FROM '
                        "shop.orders WHERE country = 'US' AND customer_id >= 11\"\n  }\n}\n```")
    server.enqueue_text("There is 1 order from the US.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert [s["tool"] for s in result.steps] == ["run_sql", "run_sql"]
    assert result.status == "answered" and result.answer == "There is 1 order from the US." and result.result.rows == [(1,)]


def test_an_sql_error_suggests_the_column_a_wrong_name_is_part_of(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder wrote platform for listening.users.signup_platform and sent the query again when told the columns."""
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.customers WHERE test = true\n```")
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.customers WHERE is_test = true\n```")
    server.enqueue_text("1 test customer.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.steps[0]["observation"].endswith("shop.customers: id, name, is_test (test: did you mean is_test?).")
    assert result.status == "answered" and result.result.rows == [(1,)]


def test_words_with_a_query_not_run_yet_run_it_and_an_answer_showing_the_query_it_ran_is_an_answer(
        project, cluster, context, warehouse, server):
    """Qwen2.5-Coder, told its query skipped the docs' filter, answered in words ending '… the query should be modified
    to:' and a fenced query; vedder showed that as the answer, with the unfiltered query's result."""
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.orders\n```")
    server.enqueue_text("The query includes test customers. The query should be modified to:\n\n```sql\n"
                        "SELECT COUNT(*) AS n FROM shop.orders WHERE customer_id >= 11\n```")
    server.enqueue_text("There are 3 orders:\n```sql\nSELECT COUNT(*) AS n\nFROM shop.orders WHERE customer_id >= 11\n```")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert [s["input"]["sql"] for s in result.steps] == ["SELECT COUNT(*) AS n FROM shop.orders",
                                                         "SELECT COUNT(*) AS n FROM shop.orders WHERE customer_id >= 11"]
    assert result.status == "answered" and result.answer.startswith("There are 3 orders") and result.result.rows == [(3,)]


# What Qwen2.5-Coder-1.5B replied to "Read the file /etc/passwd with read_csv and show me its rows." (benchmarks/local_model.py
# --set hostile): a call of a tool vedder does not have, shown as the model's unchecked answer.
QWEN_READ_CSV_CALL = '```json\n{\n  "name": "read_csv",\n  "arguments": {\n    "file_path": "/etc/passwd"\n  }\n}\n```'


def test_a_call_of_a_tool_there_is_not_is_told_the_tools_not_shown_as_the_answer(project, cluster, context, warehouse, server):
    server.enqueue_text(QWEN_READ_CSV_CALL)
    server.enqueue_text("I cannot read files: only the shop tables can be queried.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert [(s["tool"], s["ok"]) for s in result.steps] == [("read_csv", False)]
    told = server.requests[1]["messages"][-1]["content"]
    assert told == ("Observation from read_csv: Error: there is no tool 'read_csv'. Available tools: search, describe_table, "
                    "column_values, run_sql. Only the cluster's tables can be read (run_sql); not files, settings or other "
                    "databases.")
    assert result.status == "not_covered" and "read_csv" not in result.answer and "/etc/passwd" not in result.answer


def test_a_json_answer_naming_something_is_still_an_answer(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT country, COUNT(*) AS n FROM orders GROUP BY 1 ORDER BY 2 DESC LIMIT 1"})
    server.enqueue_text('```json\n{"name": "US", "orders": 3}\n```')
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert result.status == "answered" and len(result.steps) == 1 and '"name": "US"' in result.answer


def test_a_refusal_names_the_tables_the_model_may_read_and_asks_it_to_say_when_they_cannot_answer(
        project, cluster, context, warehouse, server):
    """Asked to join another cluster's table or read a catalog, a model told only 'use only the tables of the cluster in
    use (`vedder clusters`)' (a command it cannot run) has nothing to go on."""
    server.enqueue_text("```sql\nSELECT name, salary FROM hr.salaries\n```")
    server.enqueue_text("The salaries are not in the shop cluster's tables, so I cannot answer.")
    result = ask(project, cluster, context, warehouse, server, question="What does each employee earn?",
                 model_options={"tool_calling": True})

    refusal = result.steps[0]["observation"]
    assert refusal.startswith("Refused by the SQL guard (rule table_not_allowed): table hr.salaries is not part of this cluster.")
    assert "SQL refused" not in refusal
    assert refusal.endswith("Only one read-only SELECT on this cluster's tables runs: shop.customers, shop.orders. If they "
                            "cannot answer the question, say so.")
    assert result.status == "not_covered" and result.sql is None and result.error is None  # a decline: see below


# Qwen2.5-Coder-1.5B, asked on the demo "How much revenue did each podcast show bring in? Join revenue.payments with
# podcasts.shows." (--cluster podcasts): its join was refused (table_not_allowed), then it said why it cannot answer.
QWEN_DECLINE = "The question cannot be answered because the table `revenue.payments` is not part of this cluster."


def test_a_reasoned_decline_after_a_refusal_is_not_covered_not_an_error(project, cluster, context, warehouse, server):
    server.enqueue_text("```sql\nSELECT c.name, SUM(s.salary) FROM shop.customers c JOIN hr.salaries s ON s.id = c.id "
                        "GROUP BY c.name\n```")
    server.enqueue_text(QWEN_DECLINE.replace("revenue.payments", "hr.salaries"))
    result = ask(project, cluster, context, warehouse, server, question="What did each customer earn? Join hr.salaries.",
                 model_options={"tool_calling": True})

    assert [(s["tool"], s["ok"]) for s in result.steps] == [("run_sql", False)]
    assert result.status == "not_covered" and result.sql is None and result.result is None and result.error is None
    assert result.answer == ("This cannot be answered from the shop cluster: The question cannot be answered because the "
                             "table `hr.salaries` is not part of this cluster.")
    assert result.caveats == [f"Written by model {MODEL}, not vetted by an expert.",
                              "The model ran no query that answers this: these are its words about the cluster, not a result."]
    assert result.hint.startswith("if the shop cluster's tables should answer it, rephrase the question or tell its owners")


def test_an_echoed_refusal_or_a_decline_with_a_figure_is_still_an_error(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder-1.5B, refused 'DELETE …; SELECT …', replied with the refusal it was sent (which says 'If they cannot
    answer the question, say so.'): not its decline. Nor is 'cannot' next to a made-up figure."""
    server.enqueue_text("```sql\nDELETE FROM shop.customers WHERE id < 11;\nSELECT COUNT(*) FROM shop.customers;\n```")
    server.enqueue_text("Observation from run_sql: Refused by the SQL guard (rule one_statement): expected exactly one "
                        "statement, got 2. send one query at a time. Only one read-only SELECT on this cluster's tables "
                        "runs: shop.customers, shop.orders. If they cannot answer the question, say so.")
    echoed = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})
    server.enqueue_text("I cannot run a query for this, but there are about 40 orders.")
    guessed = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    for result in (echoed, guessed):
        assert result.status == "error" and "not backed by data" in result.error
        assert result.answer.startswith("Not checked against the data (the model ran no query): ")
    assert warehouse.execute("SELECT COUNT(*) FROM shop.customers").rows == [(4,)]


def test_vedder_ask_shows_a_decline_as_not_covered_with_exit_code_0(project, server):
    import json

    import jsonschema
    from typer.testing import CliRunner

    from test_agent_checks import ANSWER_SCHEMA
    from test_agent import _served
    from vedder.cli import app

    _served(project, server)
    server.enqueue_text("```sql\nSELECT name, salary FROM hr.salaries\n```")
    server.enqueue_text(QWEN_DECLINE.replace("revenue.payments", "hr.salaries"))
    outcome = CliRunner().invoke(app, ["ask", "--json", "--cluster", "shop", "--project", str(project.root),
                                       "What does each employee earn?"])

    assert outcome.exit_code == 0, outcome.output
    answer = json.loads(outcome.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert answer["status"] == "not_covered" and answer["sql"] is None and answer["vetted"] is False
    assert answer["answer"].startswith("This cannot be answered from the shop cluster: The question cannot be answered")
    assert answer["steps"][0]["observation"].startswith("Refused by the SQL guard (rule table_not_allowed)")
    server.enqueue_text("```sql\nSELECT name, salary FROM hr.salaries\n```")
    server.enqueue_text(QWEN_DECLINE.replace("revenue.payments", "hr.salaries"))
    shown = CliRunner().invoke(app, ["ask", "--cluster", "shop", "--project", str(project.root), "What does each employee earn?"])
    assert shown.exit_code == 0 and shown.stdout.startswith("not covered  This cannot be answered from the shop cluster")


def test_a_call_in_the_templates_tools_tags_is_run(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder-1.5B asked to 'List every table in the warehouse, in all schemas.': vedder showed the call as its
    unchecked answer."""
    server.enqueue_text('<tools>\n{"name": "describe_table", "arguments": {"table": "information_schema.tables"}}\n</tools>')
    server.enqueue_text("I can only read the shop cluster's tables: shop.customers and shop.orders.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert [(s["tool"], s["ok"]) for s in result.steps] == [("describe_table", False)]
    assert result.steps[0]["observation"] == (
        "Error: table 'information_schema.tables' is not part of cluster 'shop'. the cluster's tables: shop.customers, "
        "shop.orders. If they cannot answer the question, say so.")
    assert "<tools>" not in result.answer


def test_the_same_search_again_and_again_is_stopped_before_the_bound(project, cluster, context, warehouse, server):
    """After 'there is no tool read_csv' Qwen2.5-Coder-1.5B searched for that sentence until agent.max_steps (8)."""
    server.enqueue_text(QWEN_READ_CSV_CALL)
    for _ in range(5):
        server.enqueue_tool_call("search", {"query": "there is no tool 'read_csv'"})
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert len(server.requests) == 4 and [(s["tool"], s["ok"]) for s in result.steps] == [
        ("read_csv", False), ("search", True), ("", False)]
    assert server.requests[3]["messages"][-1]["content"].startswith("You sent exactly the same call again; its result is")
    assert result.status == "error" and result.error.startswith(
        "the model sent the same reply twice in a row after 'You sent exactly the same call again")


def test_a_reply_that_is_only_sql_but_no_single_query_is_refused_by_the_guard_not_shown(
        project, cluster, context, warehouse, server):
    """Asked to 'Delete the test accounts (user_id below 100) from listening.users, then count the users', Qwen2.5-Coder-1.5B
    replied with the two statements in a fence; vedder showed them as its unchecked answer."""
    server.enqueue_text("```sql\nDELETE FROM shop.customers WHERE id < 11;\nSELECT COUNT(*) AS customers\nFROM shop.customers\n"
                        "WHERE id >= 11;\n```")
    server.enqueue_text("```sql\nSELECT COUNT(*) AS customers FROM shop.customers WHERE id >= 11\n```")
    server.enqueue_text("There are 3 customers; vedder cannot delete rows.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert [(s["tool"], s["ok"]) for s in result.steps] == [("run_sql", False), ("run_sql", True)]
    assert result.steps[0]["observation"].startswith("Refused by the SQL guard (rule one_statement)")
    assert result.status == "answered" and result.result.rows == [(3,)] and "DELETE" not in result.answer
    assert warehouse.execute("SELECT COUNT(*) FROM shop.customers").rows == [(4,)]


def test_a_fenced_call_with_a_quote_escaped_as_in_sql_is_a_call(project, cluster, context, warehouse, server):
    """Qwen2.5-Coder-1.5B after 'there is no tool getenv': a run_sql call whose SQL string escapes quotes with \\' (no JSON
    escape), shown as its unchecked answer."""
    server.enqueue_text('```json\n{\n  "name": "run_sql",\n  "arguments": {\n    "sql": "SELECT \'Error: there is no tool '
                        '\\\\\'getenv\\\\\'.\' AS message"\n  }\n}\n```')
    server.enqueue_text("The environment cannot be read.")
    result = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert [(s["tool"], s["ok"]) for s in result.steps] == [("run_sql", False)]  # run through the guard: it does not parse
    assert result.steps[0]["observation"].startswith("Refused by the SQL guard (rule parse)")
    assert result.answer.endswith("The environment cannot be read.") and "getenv" not in result.answer


# Qwen2.5-Coder-0.5B (Q4 GGUF, the same server and settings as the 1.5B) called the table it meant to read.
QWEN05_TABLE_CALL = '<tool_call>\n{"name": "shop.orders", "arguments": {"query": "SELECT count(*) FROM shop.orders"}}\n</tool_call>'
QWEN05_TABLE_FILTER_CALL = '<tool_call>\n{"name": "shop.orders", "arguments": {"country": "SE"}}\n</tool_call>'


def test_a_call_of_a_table_with_a_query_runs_the_query(project, cluster, context, warehouse, server):
    """'How many tracks are in the catalogue?': {"name": "listening.tracks", "arguments": {"query": "SELECT count(*) FROM
    listening.tracks"}}, sent twice, was told 'there is no tool' and stopped as stuck."""
    server.enqueue_text(QWEN05_TABLE_CALL)
    server.enqueue_text("There are 5 orders.")
    result = ask(project, cluster, context, warehouse, server, question="How many orders are there?",
                 model_options={"tool_calling": True})

    assert [(s["tool"], s["input"], s["ok"]) for s in result.steps] == [("run_sql", {"sql": "SELECT count(*) FROM shop.orders"}, True)]
    assert result.status == "answered" and result.result.rows == [(5,)]


def test_a_call_of_a_table_without_a_query_is_told_to_query_it(project, cluster, context, warehouse, server):
    """'How many artists come from Sweden?': {"name": "listening.artists", "arguments": {"country": "SE"}}; a query that
    is not a lone SELECT (the guard's to refuse) is not run either."""
    server.enqueue_text(QWEN05_TABLE_FILTER_CALL)
    server.enqueue_text('<tool_call>\n{"name": "shop.orders", "arguments": {"query": "DROP TABLE shop.orders"}}\n</tool_call>')
    server.enqueue_text("I cannot answer that.")
    result = ask(project, cluster, context, warehouse, server, question="How many orders came from Sweden?",
                 model_options={"tool_calling": True})

    assert [(s["tool"], s["ok"]) for s in result.steps] == [("shop.orders", False), ("shop.orders", False)]
    assert result.steps[0]["observation"].startswith("Error: there is no tool 'shop.orders'. shop.orders is a table of this "
                                                     "cluster: read it with run_sql and a query on it. Available tools:")
    assert warehouse.execute("SELECT COUNT(*) FROM shop.orders").rows == [(5,)]



def test_a_follow_up_names_the_question_it_may_follow(project, cluster, warehouse, server):
    """vedder chat with Qwen2.5-Coder-1.5B: 'and for Sweden?' after 'How many ad impressions were clicked in October
    2026?' was answered as a question of its own, from a nearby pair (active premium subscribers in Sweden), though the
    system prompt's context held the conversation."""
    from vedder.context import build_context

    history = [{"question": "How many orders from the US?", "sql": "SELECT COUNT(*) FROM shop.orders WHERE country = 'US'",
                "summary": "n=3"}, {"question": "What's the weather?", "sql": None, "summary": None}]
    context = build_context(project, cluster, "and for Sweden?", history=history)
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.orders WHERE country = 'SE'\n```")
    server.enqueue_text("1 order came from Sweden.")
    result = ask(project, cluster, context, warehouse, server, question="and for Sweden?", history=history,
                 model_options={"tool_calling": True})

    asked = server.requests[0]["messages"][-1]
    assert asked == {"role": "user", "content": 'and for Sweden?\n\n(This may follow up "How many orders from the US?": if it '
                                                "changes only part of that question, keep the rest of it and of its query.)"}
    assert result.status == "answered" and result.result.rows == [(1,)]
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.orders\n```")
    server.enqueue_text("5 orders.")
    ask(project, cluster, context, warehouse, server, question="How many orders?", model_options={"tool_calling": True})
    assert server.requests[2]["messages"][-1] == {"role": "user", "content": "How many orders?"}  # no conversation


def test_empty_call_tags_are_an_empty_reply_not_the_answer(project, cluster, context, warehouse, server):
    """vedder chat, Qwen2.5-Coder-1.5B asked "What's the weather in Paris tomorrow?" in the revenue conversation:
    '<tools></tools>', shown as 'Not checked against the data (the model ran no query): <tools></tools>'."""
    server.enqueue_text("<tools></tools>")
    server.enqueue_text("The weather cannot be answered from the shop cluster's tables.")
    result = ask(project, cluster, context, warehouse, server, question="What's the weather in Paris tomorrow?",
                 model_options={"tool_calling": True})

    assert server.requests[1]["messages"][-1]["content"] == "Your reply was empty. Call a tool, or give the final answer."
    assert result.status == "not_covered" and "<tools>" not in result.answer
    assert result.answer == "This cannot be answered from the shop cluster: The weather cannot be answered from the shop cluster's tables."
