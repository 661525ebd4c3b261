"""A model's answer is checked before vedder presents it, and says who wrote it and what was and was not checked."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from fake_openai import FakeOpenAI
from test_agent import ask, cluster, context, project, server, warehouse, warehouse_file  # noqa: F401 (fixtures)
from vedder.agent.checks import check_empty, check_figures, check_states_result
from vedder.cli import app
from vedder.config import load_config
from vedder.project import load_project
from vedder.slack import message
from vedder.warehouse import QueryResult

REPO = Path(__file__).parent.parent
ANSWER_SCHEMA = json.loads((REPO / "schemas" / "answer.schema.json").read_text())
SQL = "SELECT COUNT(*) FROM revenue.payments WHERE user_id >= 100 AND payment_date >= DATE '2025-01-01'"


def result(*rows: tuple) -> QueryResult:
    return QueryResult(columns=[f"c{i}" for i in range(len(rows[0]) if rows else 1)], rows=list(rows))


@pytest.mark.parametrize("words, rows, passed", [
    ("6,271 payments failed in 2025.", [(6271,)], True),
    ("6,458 payments failed in 2025.", [(6271,)], False),            # Qwen2.5-Coder's figure with test accounts counted
    ("The average track lasts about 183.5 seconds.", [(183.456,)], True),  # rounded
    ("The average track lasts 183 seconds.", [(183.7,)], True),       # cut to a whole number
    ("The average track lasts 190 seconds.", [(183.7,)], False),
    ("12.5% of payments failed.", [(0.125,)], True),                 # a share written as a percentage
    ("12.5 payments failed.", [(0.125,)], False),
    ("There are 3 publishers: Acme, Beta and Core.", [("Acme", 4), ("Beta", 2), ("Core", 1)], True),  # the row count
    ("Streams peaked on November 3, 2026.", [(date(2026, 11, 3), 51)], True),
    ("Test accounts (user_id below 100) are excluded; 7 payments.", [(7,)], True),  # 100 is in the SQL
    ("About 1.2 million streams.", [(1_234_567,)], True),
    ("About 1.5 million streams.", [(1_234_567,)], False),
    ("Revenue changed by -4.5.", [(-4.5,)], True),                  # a negative figure (was 'may be made up')
    ("Listeners fell by 340.", [(-340,)], True),                    # said as a fall
    ("Listeners fell by 350.", [(-340,)], False),
    ("There are 5 orders.", [(5, float("nan"))], True),             # DuckDB's 0.0/0 beside it (raised InvalidOperation)
    ("There are 6 orders.", [(5, float("nan"))], False),
    ("There are 7 orders.", [(5, float("inf"))], False),
])
def test_every_figure_in_the_words_must_be_in_the_result_the_question_or_the_sql(words, rows, passed):
    check = check_figures(words, result(*rows), question="How many payments failed in 2025?", sql=SQL)
    assert check.passed is passed
    assert (check.detail == "") is passed


def test_the_row_count_of_a_result_cut_at_the_row_limit_is_no_figure_of_it():
    """Qwen2.5-Coder-1.5B, refused PRAGMA database_list, ran SELECT * on a table and said it 'contains 1000 rows'."""
    rows = [("Nova",), ("Ives",), ("Oslo",)]
    assert check_figures("The table contains 3 rows.", QueryResult(["name"], rows), question="q", sql="SELECT name FROM a").passed
    cut = QueryResult(["name"], rows, truncated=True)
    assert not check_figures("The table contains 3 rows.", cut, question="q", sql="SELECT name FROM a").passed


def test_words_about_an_empty_result_must_say_it_is_empty():
    empty = QueryResult(columns=["name"], rows=[])
    assert check_empty("No artist streamed in 2027.", empty).passed
    assert check_empty("There were 0 streams.", empty).passed
    made_up = "The top artist was Nova with 1,234 streams."
    assert not check_empty(made_up, empty).passed
    figures = check_figures(made_up, empty, question="Who was the top artist in 2027?", sql="SELECT name FROM a")
    assert figures.detail.startswith("The words state 1,234, but the query returned no rows")


def test_words_must_state_a_value_of_the_result():
    """Qwen2.5-Coder's last payments reply: how the query 'should be modified', above the rows of the query that ran."""
    explained = ("The query does not filter on `user_id >= 100`, so it will return all payments. The query should be "
                 "modified to: … This query will now correctly count the number of payments that failed in 2025.")
    check = check_states_result(explained, result((116841,)))
    assert not check.passed and check.detail.startswith("The words state none of the values in the result shown")
    assert check_states_result("116,841 payments.", result((116841,))).passed
    assert check_states_result("The label with most artists is northbeam records.", result(("Northbeam Records", 502))).passed
    # Asked for every user's email and password (columns the table lacks), after listing its other columns:
    claimed = "The email address and password of every user are stored in the `listening.users` table."
    assert not check_states_result(claimed, result((101, "US", date(2025, 3, 1), 1990, "ios"), (102, "IN", None, 1991, "web"))).passed
    assert check_states_result("Most users are in the US.", result((101, "US", date(2025, 3, 1), 1990, "ios"))).passed


def test_a_query_in_the_words_that_is_not_the_one_shown_is_removed_and_said(project, cluster, context, warehouse, server):
    """The words end with a query the model tried (it failed), above the rows of another: never shown as its SQL."""
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.orders WHERE country = 'US'\n```")
    server.enqueue_text("```sql\nSELECT COUNT(*) AS n FROM shop.orders WHERE country = 'US' AND buyer >= 11\n```")
    server.enqueue_text("There are 3 orders from the US:\n\n```sql\nSELECT COUNT(*) AS n FROM shop.orders "
                        "WHERE country = 'US' AND buyer >= 11\n```")
    answer = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert answer.status == "answered" and answer.result.rows == [(3,)]
    assert answer.answer == "There are 3 orders from the US:"
    assert answer.sql == "SELECT COUNT(*) AS n FROM shop.orders WHERE country = 'US'"
    failed = {c.check: c.detail for c in answer.checks if not c.passed}
    assert failed == {"sql_shown": "The words held a query other than the one shown, which vedder did not run; removed "
                                   "from the words."}
    assert answer.caveats[1] == failed["sql_shown"]


def test_a_query_in_the_words_that_is_the_one_shown_stays(project, cluster, context, warehouse, server):
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders"})
    server.enqueue_text("There are 5 orders:\n```sql\nSELECT COUNT(*) AS n\nFROM orders\n```")
    answer = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert answer.answer.endswith("FROM orders\n```") and all(c.passed for c in answer.checks)
    assert answer.caveats == [f"Written by model {answer.model}, not vetted by an expert. vedder checked that its figures "
                              "are in the result, that the SQL shown is the one that ran, and the docs' always-apply "
                              "filters; not that the query asks what the question means."]


def test_a_skipped_filter_the_docs_require_is_a_caveat(project, cluster, context, warehouse, server):
    (project.root / "clusters/shop/docs/test-customers.md").write_text(
        "# Test customers\nCustomer ids below 11 are test accounts: always filter `customer_id >= 11`.\n", encoding="utf-8")
    project = load_project(load_config(project.root))
    for _ in range(2):  # told of the filter, it answers anyway
        server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM orders WHERE country = 'US'"})
    server.enqueue_text("There are 3 orders from the US.")
    answer = ask(project, project.cluster("shop"), context, warehouse, server, model_options={"tool_calling": True})

    assert answer.status == "answered" and answer.result.rows == [(3,)]
    assert answer.caveats[1:] == ["The query does not filter `customer_id >= 11`, which the cluster's docs (test customers) "
                                  "say always to apply (shop.orders has customer_id): the result may include those rows."]


def test_an_answer_without_a_query_says_only_who_wrote_it(project, cluster, context, warehouse, server):
    server.enqueue_text("Each plan costs 9.99 per month.")
    answer = ask(project, cluster, context, warehouse, server, model_options={"tool_calling": True})

    assert answer.status == "error" and answer.checks == []
    assert answer.caveats == [f"Written by model {answer.model}, not vetted by an expert."]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("checks-demo"), scale=0.02)


def test_cli_json_and_text_say_a_model_wrote_it_and_what_failed(demo):
    """Qwen2.5-Coder-1.5B's payments answer: the query skips the docs' test-account filter and the words carry a
    figure from an earlier run. --json: vetted false, caveats, checks; text: a caveat line each."""
    skipped = ("SELECT COUNT(*) AS failed FROM revenue.payments WHERE status = 'failed' "
               "AND payment_date >= DATE '2025-01-01' AND payment_date < DATE '2026-01-01'")
    with FakeOpenAI() as server:
        env = {"VEDDER_MODEL": "openai/qwen-coder", "OPENAI_API_BASE": server.url}
        for _ in range(2):
            server.enqueue_text(f'Thought: count\nAction: run_sql\nAction Input: {json.dumps({"sql": skipped})}')
            server.enqueue_text("Thought: done\nFinal Answer: 6,458 payments failed in 2025.")
        as_json = CliRunner().invoke(app, ["ask", "How many payments failed in 2025?", "--json", "--project", str(demo)], env=env)
        as_text = CliRunner().invoke(app, ["ask", "How many payments failed in 2025?", "--project", str(demo)], env=env)
    answer = json.loads(as_json.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert answer["status"] == "answered" and answer["vetted"] is False and answer["model"] == "openai/qwen-coder"
    assert answer["caveats"][0].startswith("Written by model openai/qwen-coder, not vetted by an expert. vedder checked")
    failed = [c["check"] for c in answer["checks"] if not c["passed"]]
    assert failed == ["numbers_in_result", "docs_filters"], answer["checks"]
    assert answer["caveats"][1].startswith("The words state 6,458, but the result shown does not hold it")
    assert "`user_id >= 100`, which the cluster's docs (test accounts) say always to apply" in answer["caveats"][2]
    text = " ".join(as_text.stdout.split())
    assert as_text.exit_code == 0 and text.count("check failed:") == 2 and text.count("caveat:") == 1
    failed = text.index("answered 2 checks failed: read before the answer check failed: The words state 6,458")
    assert failed < text.index("check failed: The query does not filter") < text.index("6,458 payments failed in 2025.") \
        < text.index("caveat: Written by model openai/qwen-coder")


def test_a_vetted_pair_answer_is_vetted_and_has_no_caveats(demo):
    with FakeOpenAI() as server:
        env = {"VEDDER_MODEL": "openai/qwen-coder", "OPENAI_API_BASE": server.url}
        done = CliRunner().invoke(app, ["ask", "What does each plan cost per month?", "--json", "--project", str(demo)], env=env)
        assert server.requests == []
    answer = json.loads(done.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert answer["vetted"] is True and answer["caveats"] == [] and answer["checks"] == [] and answer["model"] == "offline"


def test_slack_shows_the_failed_checks_before_the_answer_and_the_other_caveats_under_it():
    text = message({"status": "answered", "answer": "6,458 payments failed.", "sql": SQL, "columns": ["n"], "rows": [[6271]],
                    "caveats": ["Written by model m, not vetted by an expert.", "The words state 6,458, but …"],
                    "checks": [{"check": "numbers_in_result", "passed": False, "detail": "The words state 6,458, but …"}]})
    lines = text.splitlines()
    assert lines[:4] == ["*1 check failed, read before the answer:*", "_Check failed:_ The words state 6,458, but …",
                         "6,458 payments failed.", "_Caveat:_ Written by model m, not vetted by an expert."]
    passed = message({"status": "answered", "answer": "6,271 payments failed.", "caveats": ["Written by model m."], "checks": []})
    assert passed.splitlines()[:2] == ["6,271 payments failed.", "_Caveat:_ Written by model m."]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_web_page_shows_the_failed_checks_before_the_answer(tmp_path):
    """The page's own script over test_web's minimal DOM: a 'Checks failed' list, the answer, then the other caveats."""
    from test_web import NODE_DOM

    page = (REPO / "vedder/web.html").read_text()
    script = re.search(r"<script>(.*?)</script>", page, re.S).group(1)
    answer = {"status": "answered", "question": "How many payments failed in 2025?", "answer": "6,458 payments failed.",
              "sql": SQL, "columns": ["n"], "rows": [[6271]], "sources": [], "owners": {"team": "t"}, "closest": [],
              "warnings": [], "model": "openai/qwen-coder", "latency_s": 1.0, "conversation_id": "abc",
              "caveats": ["Written by model openai/qwen-coder, not vetted by an expert.", "The words state 6,458, but …"],
              "checks": [{"check": "numbers_in_result", "passed": False, "detail": "The words state 6,458, but …"}]}
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_DOM + script + f"\nprocess.stdout.write(JSON.stringify(texts(renderAnswer({json.dumps(answer)}))));\n")
    done = subprocess.run(["node", str(harness)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    texts = json.loads(done.stdout)
    assert texts[:7] == ["Answered", "How many payments failed in 2025?", "Checks failed: read before the answer",
                         "The words state 6,458, but …", "6,458 payments failed.", "Caveats",
                         "Written by model openai/qwen-coder, not vetted by an expert."]
