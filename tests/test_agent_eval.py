"""vedder eval with a model: the agent's answers scored against gold SQL, with who answered, the tokens, the cost and
the checks each answer failed; a vetted pair still answers without the model, and a model's decline is an abstention.
The model is the scripted OpenAI-compatible server (tests/fake_openai.py), called through litellm for real."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from test_agent import _served, project, server, warehouse_file  # noqa: F401 (fixtures)
from vedder.cli import app
from vedder.config import load_config
from vedder.eval import run_eval
from vedder.project import load_project

PRICED = "openai/gpt-4o-mini"  # litellm knows its price, so the cost is filled
ITEMS = [
    # a vetted pair answers it: no model call
    {"question": "How many orders per country?", "cluster": "shop",
     "sql": "SELECT country, COUNT(*) FROM shop.orders GROUP BY country"},
    # the model answers it right
    {"question": "How many orders are there in total?", "cluster": "shop", "sql": "SELECT COUNT(*) FROM shop.orders"},
    # the model answers it wrong (only the US), and its words state a figure its result does not hold: flagged
    {"question": "What is the total value of all orders?", "cluster": "shop", "sql": "SELECT SUM(amount) FROM shop.orders"},
    # the model's query is refused, and it says the cluster cannot answer: an abstention, not an error
    {"question": "What does each employee earn?", "cluster": "shop", "sql": "SELECT name, salary FROM hr.salaries"},
]


def script(server) -> None:
    server.enqueue_tool_call("run_sql", {"sql": "SELECT COUNT(*) AS n FROM shop.orders"})
    server.enqueue_text("There are 5 orders in total.")
    server.enqueue_tool_call("run_sql", {"sql": "SELECT SUM(amount) AS total FROM shop.orders WHERE country = 'US'"})
    server.enqueue_text("All orders together are worth 25.5 EUR.")
    server.enqueue_tool_call("run_sql", {"sql": "SELECT name, salary FROM hr.salaries"})
    server.enqueue_text("This cannot be answered: salaries are not part of the shop cluster's tables.")


@pytest.fixture
def served(project, server):  # noqa: F811 (fixtures)
    _served(project, server)
    return load_project(load_config(project.root))


def test_eval_with_a_model_scores_and_flags_each_answer(served, server):
    script(server)
    report = run_eval(served, ITEMS, model=PRICED, given_cluster=True)

    rows = [(i.status, i.model, i.correct, i.failed_checks) for i in report.items]
    assert rows == [("answered", "offline", True, []), ("answered", PRICED, True, []),
                    ("answered", PRICED, False, ["numbers_in_result"]), ("not_covered", PRICED, False, [])]
    assert [i.tokens for i in report.items] == [0, 240, 240, 240]
    assert report.items[0].cost == 0 and all(i.cost > 0 for i in report.items[1:])
    assert len(server.requests) == 6  # two per model answer, none for the pair's
    summary = report.summary
    assert (summary["answered"], summary["abstained"], summary["errors"]) == (3, 1, 0)
    assert summary["execution_accuracy"] == 0.5 and summary["precision"] == round(2 / 3, 4)
    assert summary["answered_flagged"] == 1 and summary["flagged_wrong"] == 1
    assert summary["cost"] == pytest.approx(sum(i.cost for i in report.items))


def test_cli_eval_with_a_model_prints_the_fields_and_marks_flagged_answers(served, server, tmp_path):
    script(server)
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    as_json = CliRunner().invoke(app, ["eval", str(path), "--json", "--given-cluster", "--model", PRICED,
                                       "--project", str(served.root)])
    assert as_json.exit_code == 0, as_json.output
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [line.get("failed_checks") for line in lines[:-1]] == [[], [], ["numbers_in_result"], []]
    assert lines[2]["cost"] > 0 and lines[2]["model"] == PRICED and lines[-1]["summary"]["flagged_wrong"] == 1
    assert lines[2]["answer"] == "All orders together are worth 25.5 EUR." and lines[3]["answer"].startswith("This cannot be")

    script(server)
    shown = CliRunner().invoke(app, ["eval", str(path), "--given-cluster", "--model", PRICED, "--project", str(served.root)])
    assert shown.exit_code == 0, shown.output
    words = " ".join(shown.stdout.split())
    assert "240t What is the total value of all orders? [checks failed: numbers_in_result]" in words
    assert "✗ not_covered" in shown.stdout and "flagged_wrong" in shown.stdout
