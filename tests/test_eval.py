"""vedder eval: execution match, the summary, and the CLI's JSONL output."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from context_project import make_project
from vedder.cli import app
from vedder.config import load_config
from vedder.errors import UsageError
from vedder.eval import gold_orders, load_eval_file, rows_match, run_eval
from vedder.project import load_project

ITEMS = [
    # answered correctly from a vetted pair (through routing)
    {"question": "How many streams were there in the US in 2024?", "sql": "SELECT COUNT(*) FROM music.streams WHERE country = 'US' AND stream_year = 2024", "cluster": "music"},
    # answered with an adapted literal; the gold counts the same rows another way
    {"question": "How many streams were there in Sweden in 2024?", "sql": "SELECT SUM(1) FROM streams WHERE country = 'SE' AND stream_year = 2024", "cluster": "music"},
    # answered, but the gold asks something else: wrong
    {"question": "How many users are on the premium plan?", "sql": "SELECT COUNT(*) FROM music.users", "cluster": "music"},
    # nothing vetted: abstains
    {"question": "Which customer was invoiced the most?", "sql": "SELECT customer_id FROM billing.invoices ORDER BY amount DESC LIMIT 1", "cluster": "billing"},
    # no cluster covers it
    {"question": "What's the weather in Paris?"},
]


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("eval-project"))


def test_rows_match_is_a_multiset_unless_ordered():
    assert rows_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], ordered=False)
    assert not rows_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], ordered=True)
    assert not rows_match([(1,), (1,)], [(1,)], ordered=False)
    assert rows_match([(0.1 + 0.2,)], [(0.3,)], ordered=True)


def test_gold_orders_only_for_an_outer_order_by():
    assert gold_orders("SELECT a FROM t ORDER BY a", "duckdb")
    assert not gold_orders("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)", "duckdb")


def test_run_eval_scores_each_item_and_summarizes(project_dir):
    report = run_eval(load_project(load_config(project_dir)), ITEMS)
    statuses = [i.status for i in report.items]
    assert statuses == ["answered", "answered", "answered", "not_covered", "not_covered"]
    assert [i.correct for i in report.items] == [True, True, False, False, None]
    assert [i.predicted_cluster for i in report.items[:4]] == ["music", "music", "music", "billing"]
    summary = report.summary
    assert summary["items"] == 5 and summary["answered"] == 3 and summary["abstained"] == 2
    assert summary["routing_accuracy"] == 1.0
    assert summary["execution_accuracy"] == 0.5
    assert summary["precision"] == round(2 / 3, 4)


def test_cli_eval_json_lines_then_summary(project_dir, tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in ITEMS))
    result = CliRunner().invoke(app, ["eval", str(path), "--json", "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 6 and lines[-1]["summary"]["answered"] == 3
    for line in lines[:-1]:
        assert {"question", "cluster", "predicted_cluster", "status", "sql", "correct", "latency_s", "tokens"} <= set(line)


def test_cli_eval_text_shows_items_and_summary(project_dir, tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps(ITEMS[0]) + "\n")
    result = CliRunner().invoke(app, ["eval", str(path), "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    assert "✓ answered" in result.stdout and "routing_accuracy" in result.stdout


@pytest.mark.parametrize(
    "text, message",
    [
        ("{not json\n", ":1: not JSON"),
        ('{"sql": "SELECT 1"}\n', ':1: each line needs a non-empty "question"'),
        ('{"question": "How many?"}\n{"question": "   "}\n', ':2: each line needs a non-empty "question"'),
        ('["How many users?"]\n', ":1: expected a JSON object"),
        (b'{"question": "caf\xe9"}\n', "not UTF-8 text"),
        ("\n", "has no questions"),
    ],
)
def test_bad_eval_files_are_clear_errors(tmp_path, project_dir, text, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        load_eval_file(path)
    result = CliRunner().invoke(app, ["eval", str(path), "--project", str(project_dir)])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output


def test_a_missing_eval_file_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="cannot read .*nope.jsonl") as caught:
        load_eval_file(tmp_path / "nope.jsonl")
    assert "JSONL" in caught.value.hint or "question" in caught.value.hint
