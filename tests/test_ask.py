"""vedder ask / query / feedback / log through the CLI on a small copy of the demo project (offline)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from vedder.cli import app
from demo_project import copy_demo

REPO = Path(__file__).parent.parent
ANSWER_SCHEMA = json.loads((REPO / "schemas" / "answer.schema.json").read_text())


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("ask-demo"), scale=0.05)


def run(demo_dir: Path, *args: str):
    return CliRunner().invoke(app, [*args, "--project", str(demo_dir)])


def ask_json(demo_dir: Path, *args: str) -> dict:
    result = run(demo_dir, "ask", *args, "--json")
    assert result.exit_code in (0, 1), result.output
    answer = json.loads(result.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    return answer


def test_vetted_question_is_answered_with_sql_and_sources(demo_dir):
    answer = ask_json(demo_dir, "What does each plan cost per month?")
    assert answer["status"] == "answered", answer
    assert answer["cluster"] == "revenue"
    assert answer["sql"] and answer["rows"] and answer["columns"]
    kinds = {source["kind"] for source in answer["sources"]}
    assert {"pair", "dataset"} <= kinds
    assert answer["owners"]["team"]
    assert re.fullmatch(r"[0-9a-f]{10}", answer["conversation_id"])


def test_question_no_cluster_covers_is_not_covered_with_owners(demo_dir):
    answer = ask_json(demo_dir, "What's the weather in Paris tomorrow?")
    assert answer["status"] == "not_covered"
    assert answer["cluster"] is None and answer["sql"] is None and answer["rows"] == []
    assert answer["closest"] and all(item["team"] for item in answer["closest"])


def test_text_output_names_cluster_team_and_sql(demo_dir):
    result = run(demo_dir, "ask", "What does each plan cost per month?")
    assert result.exit_code == 0, result.output
    assert "answered" in result.output and "Revenue Analytics" in result.output
    assert "SELECT" in result.output


def test_literal_is_adapted_and_said(demo_dir):
    answer = ask_json(demo_dir, "Who were the top 3 artists by streams in November 2026?")
    assert answer["status"] == "answered", answer
    assert "LIMIT 3" in answer["sql"]
    assert "3" in answer["answer"] and "adapted" in answer["answer"]


def test_follow_up_continues_the_conversation(demo_dir):
    first = ask_json(demo_dir, "Who were the top 5 artists by streams in November 2026?")
    follow = ask_json(demo_dir, "--continue", first["conversation_id"], "and the top 3?")
    assert follow["conversation_id"] == first["conversation_id"]
    assert follow["cluster"] == "listening"
    result = run(demo_dir, "log", "--json")
    thread = [e for e in json.loads(result.stdout) if e["conversation_id"] == first["conversation_id"]]
    assert sorted(e["turn"] for e in thread) == [1, 2]


def test_follow_up_naming_one_group_keeps_that_row_with_the_same_numbers(demo_dir):
    """"only for Sweden" after "streams per country": a filter on the grouped column, the row the grouped
    answer had; "and for Germany?" then swaps the literal; "except Sweden" is never read as "only Sweden"."""
    first = ask_json(demo_dir, "How many streams did each country have in November 2026?")
    assert first["status"] == "answered", first
    grouped = {row[0]: row[1] for row in first["rows"]}
    only = ask_json(demo_dir, "--continue", first["conversation_id"], "only for Sweden")
    assert only["status"] == "answered", only
    assert only["rows"] == [["SE", grouped["SE"]]]
    assert "country → only 'SE'" in only["answer"] and "country = 'SE'" in only["sql"]
    germany = ask_json(demo_dir, "--continue", first["conversation_id"], "and for Germany?")
    assert germany["rows"] == [["DE", grouped["DE"]]], germany
    for question in ("and excluding Sweden?", "compared with Sweden?", "what share did Sweden have?", "and Sweden and Germany?"):
        other = ask_json(demo_dir, "--continue", first["conversation_id"], question)
        assert other["status"] != "answered" or ["SE", grouped["SE"]] not in other["rows"], (question, other)


def test_question_about_one_group_is_answered_from_the_pair_that_splits_by_it(demo_dir):
    """"How many streams did Sweden have in November 2026?" from the vetted "… each country …" pair, filtered
    to 'SE': the same number as Sweden's row of the per-country answer, without the country column."""
    grouped = ask_json(demo_dir, "How many streams did each country have in November 2026?")
    sweden = ask_json(demo_dir, "How many streams did Sweden have in November 2026?")
    assert sweden["status"] == "answered", sweden
    assert sweden["rows"] == [[row[1] for row in grouped["rows"] if row[0] == "SE"]]
    assert "country → only 'SE'" in sweden["answer"] and "vetted pair streams-per-country" in sweden["answer"]
    for question in ("How many streams did Sweden and Germany have in November 2026?",
                     "How many streams did countries other than Sweden have in November 2026?",
                     "How many streams did Sweden have?"):  # two values, a negation, no period: not this pair
        other = ask_json(demo_dir, question)
        assert other["status"] != "answered" or other["rows"] != sweden["rows"], (question, other)


def test_continue_without_history_is_a_clear_error(tmp_path, demo_dir):
    result = CliRunner().invoke(app, ["ask", "--continue", "and for Sweden?", "--project", str(demo_dir)],
                                env={"VEDDER_LOG": str(tmp_path / "empty.sqlite")})
    assert result.exit_code != 0
    assert "error: there is no earlier conversation" in result.output


def test_feedback_shows_in_log(demo_dir):
    answer = ask_json(demo_dir, "What does each plan cost per month?")
    result = run(demo_dir, "feedback", answer["conversation_id"], "down", "--comment", "prices look old")
    assert result.exit_code == 0, result.output
    entries = json.loads(run(demo_dir, "log", "--json", "--cluster", "revenue").stdout)
    rated = next(e for e in entries if e["conversation_id"] == answer["conversation_id"])
    assert rated["feedback"] == "down" and rated["feedback_comment"] == "prices look old"
    assert rated["surface"] == "cli" and rated["status"] == "answered"


def test_feedback_on_unknown_conversation_fails_cleanly(demo_dir):
    result = run(demo_dir, "feedback", "ffffffffff", "up")
    assert result.exit_code == 2
    assert result.output.startswith("error: no conversation")


def test_query_runs_guarded_sql(demo_dir):
    result = run(demo_dir, "query", "SELECT plan_id FROM revenue.plans ORDER BY 1", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tables"] == ["revenue.plans"] and data["rows"]


@pytest.mark.parametrize(
    "sql,rule",
    [
        ("DROP TABLE revenue.plans", "read_only"),
        ("SELECT * FROM read_csv('/etc/passwd')", "forbidden_function"),
        ("SELECT 1; SELECT 2", "one_statement"),
    ],
)
def test_query_refusal_is_one_line_with_rule_and_exit_4(demo_dir, sql, rule):
    result = run(demo_dir, "query", sql)
    assert result.exit_code == 4
    lines = result.output.strip().splitlines()
    assert lines[0].startswith(f"error: SQL refused ({rule})") and lines[1].startswith("hint:")
    assert "Traceback" not in result.output


def test_query_outside_the_cluster_is_refused(demo_dir):
    result = run(demo_dir, "query", "SELECT * FROM revenue.plans", "--cluster", "listening")
    assert result.exit_code == 4 and "table_not_allowed" in result.output


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["ask", "hi", "--cluster", "nope"], 2, "unknown cluster 'nope'"),
        (["query", "SELECT * FROM nowhere.t"], 4, "no cluster covers nowhere.t"),
        (["log", "--since", "yesterday-ish"], 2, "cannot read --since"),
    ],
)
def test_user_mistakes_are_one_line_errors(demo_dir, args, code, message):
    result = run(demo_dir, *args)
    assert result.exit_code == code, result.output
    assert message in result.output and "Traceback" not in result.output


def test_missing_warehouse_and_missing_project(tmp_path):
    copy_demo(tmp_path)
    result = CliRunner().invoke(app, ["ask", "What does each plan cost per month?", "--project", str(tmp_path)])
    assert result.exit_code == 3
    assert "does not exist" in result.output and "vedder demo" in result.output
    result = CliRunner().invoke(app, ["query", "SELECT 1", "--project", str(tmp_path / "nowhere")])
    assert result.exit_code == 2 and "error: project folder" in result.output


def test_chat_follows_up_rates_and_survives_errors(demo_dir):
    script = "\n".join([
        "Who were the top 5 artists by streams in November 2026?",
        "and the top 3?",
        ":up",
        "",
        ":quit",
    ]) + "\n"
    result = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], input=script)
    assert result.exit_code == 0, result.output
    assert result.output.count("answered") >= 2 and "LIMIT 5 → 3" in result.output
    assert "thanks, recorded" in result.output
    entries = json.loads(run(demo_dir, "log", "--json").stdout)
    chat_turns = [e for e in entries if e["surface"] == "chat"]
    assert len({e["conversation_id"] for e in chat_turns[:2]}) == 1
    assert chat_turns[0]["feedback"] == "up"
    broken = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], input="What does each plan cost per month?\n:quit\n",
                                env={"VEDDER_WAREHOUSE": str(demo_dir / "missing.duckdb")})
    assert broken.exit_code == 0 and "does not exist" in broken.output and broken.output.endswith("? ")


def test_pair_broken_by_a_schema_change_is_named_with_whom_to_tell(tmp_path):
    """A column renamed under a vetted pair: the error names the pair, `vedder health` and the owners, not only
    DuckDB's binder error."""
    import duckdb

    root = copy_demo(tmp_path / "broken", scale=0.02)
    with duckdb.connect(str(root / ".vedder" / "warehouse.duckdb")) as db:
        db.execute("ALTER TABLE revenue.plans RENAME COLUMN monthly_price_cents TO price_cents")
    result = run(root, "ask", "What does each plan cost per month?")
    assert result.exit_code == 4, result.output
    text = " ".join(result.output.split())
    assert "vetted pair revenue/plan-prices no longer runs on the warehouse" in text
    assert "`vedder health revenue` checks every pair" in text and "Revenue Analytics" in text
    assert "Traceback" not in result.output
    result = run(root, "ask", "What does each plan cost per month?", "--json")
    answer = json.loads(result.stdout)
    jsonschema.validate(answer, ANSWER_SCHEMA)
    assert result.exit_code == 4 and answer["status"] == "error" and "vedder health revenue" in answer["hint"]


def test_a_result_column_named_after_a_swapped_value_is_renamed_with_it(demo_dir):
    """'playlist' → 'search': the share comes back as search_share, never as playlist_share."""
    answer = ask_json(demo_dir, "What share of streams came from search in October 2026?")
    assert answer["status"] == "answered", answer
    assert answer["columns"] == ["search_share"] and "source = 'search'" in answer["sql"]


def test_a_period_past_the_profiled_data_is_said_to_be_incomplete(demo_dir):
    """November 2026 while the events were profiled through 2026-11-25: the answer says the numbers may cover
    part of the month; October, fully profiled, has no such note."""
    november = ask_json(demo_dir, "How many streams did each country have in November 2026?")
    assert november["status"] == "answered"
    assert "(note: listening.events.event_date was profiled through 2026-11-25: the period may be incomplete)" in november["answer"]
    october = ask_json(demo_dir, "How many streams did each country have in October 2026?")
    assert october["status"] == "answered" and "note:" not in october["answer"]


def test_a_language_code_is_not_a_country(demo_dir):
    """'de' in podcasts.shows.language is German, not Germany: "shows in Germany" must not be answered as
    German-language shows (it was, by narrowing the per-language pair)."""
    germany = ask_json(demo_dir, "How many podcast shows are there in Germany?")
    assert germany["status"] != "answered" or "'de'" not in (germany["sql"] or ""), germany
    sweden = ask_json(demo_dir, "How many streams did Germany have in October 2026?")  # country columns still map
    assert sweden["status"] == "answered" and "country = 'DE'" in sweden["sql"]


def test_a_tie_between_clusters_is_flagged_so_surfaces_can_ask_back(demo_dir):
    tied = ask_json(demo_dir, "how many listeners per country?")
    assert tied["status"] == "not_covered" and tied["ambiguous"] is True
    assert {c["cluster"] for c in tied["closest"]} == {"listening", "podcasts"}
    uncovered = ask_json(demo_dir, "what's the weather in Paris?")
    assert uncovered["status"] == "not_covered" and uncovered["ambiguous"] is False
    assert ask_json(demo_dir, "What does each plan cost per month?")["ambiguous"] is False


def test_chat_asks_which_cluster_on_a_tie_and_asks_again_there(demo_dir):
    script = "how many listeners per country?\n2\nand for Sweden?\n:quit\n"
    result = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], input=script)
    assert result.exit_code == 0, result.output
    assert "which one? [1] podcasts  [2] listening (Enter: neither)" in result.output
    entries = [e for e in json.loads(run(demo_dir, "log", "--json").stdout) if e["surface"] == "chat"]
    tie, chosen, follow = sorted(entries, key=lambda e: (e["created_at"], e["turn"]))[-3:]
    assert tie["question"] == chosen["question"] == "how many listeners per country?"
    assert (tie["cluster"], chosen["cluster"], chosen["cluster_source"]) == (None, "listening", "given")
    # The choice is the conversation's cluster from then on.
    assert follow["question"] == "and for Sweden?" and follow["cluster"] == "listening"
    assert len({tie["conversation_id"], chosen["conversation_id"], follow["conversation_id"]}) == 1
    # Enter picks neither: nothing is asked again.
    neither = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], input="how many listeners per country?\n\n:quit\n")
    assert neither.exit_code == 0 and neither.output.count("Several clusters fit") == 1


def test_chat_sees_the_files_edited_between_questions(tmp_path, monkeypatch):
    """An expert edits a pair and the cluster's team while a chat is open: the next question answers from the
    files as they are now (it answered from the files as they were when the chat started)."""
    root = copy_demo(tmp_path / "demo", scale=0.02)
    pair = root / "clusters" / "revenue" / "pairs" / "plan-prices.yaml"
    cluster_file = root / "clusters" / "revenue" / "cluster.yaml"

    def edit() -> None:
        pair.write_text(pair.read_text().replace("ORDER BY monthly_price_usd", "ORDER BY monthly_price_usd DESC"))
        cluster_file.write_text(cluster_file.read_text().replace("team: Revenue Analytics", "team: Pricing Guild"))

    lines = iter(["What does each plan cost per month?", edit, "What does each plan cost per month?", ":quit"])

    def typed(prompt: str = "") -> str:
        line = next(lines)
        if callable(line):
            line()
            line = next(lines)
        return line

    monkeypatch.setattr("builtins.input", typed)
    result = CliRunner().invoke(app, ["chat", "--project", str(root)])
    assert result.exit_code == 0, result.output
    first, second = result.output.split("owned by Revenue Analytics")[0], result.output.split("owned by Revenue Analytics")[-1]
    assert "ORDER BY" in first and "DESC" not in first
    assert "owned by Pricing Guild" in second and "DESC" in second, result.output


def test_chat_tie_takes_a_choice_in_words_and_a_new_question_is_asked(demo_dir):
    """At 'which one?' a choice in words picks the cluster (as in Slack); anything else is the next question, asked
    (it was dropped without a word). The tie shows the menu, not the command-line hint to rerun with --cluster."""
    script = "how many listeners per country?\nthe listening one\n:new\nhow many listeners per country?\n" \
             "What does each plan cost per month?\n:quit\n"
    result = CliRunner().invoke(app, ["chat", "--project", str(demo_dir)], input=script)
    assert result.exit_code == 0, result.output
    assert "hint: vedder ask --cluster" not in result.output
    entries = [e for e in json.loads(run(demo_dir, "log", "--json").stdout) if e["surface"] == "chat"]
    last = entries[3::-1]  # the log lists the newest first
    assert [(e["question"], e["cluster"]) for e in last] == [
        ("how many listeners per country?", None), ("how many listeners per country?", "listening"),
        ("how many listeners per country?", None), ("What does each plan cost per month?", "revenue")]
    assert last[1]["cluster_source"] == "given" and last[3]["status"] == "answered"


def test_ask_says_when_the_result_was_cut_at_the_row_limit(tmp_path):
    """query.row_limit 3 and eight countries: the terminal said nothing, so three rows read as the whole answer."""
    root = copy_demo(tmp_path / "demo", scale=0.02)
    config = root / "vedder.yaml"
    config.write_text(config.read_text().replace("row_limit: 1000", "row_limit: 3"))
    result = run(root, "ask", "How many streams did each country have in October 2026?")
    assert result.exit_code == 0, result.output
    assert "only the first 3 rows" in " ".join(result.output.split()), result.output
    whole = run(root, "ask", "How many streams did Sweden have in October 2026?")
    assert whole.exit_code == 0 and "streams-per-country" in whole.output and "only the first" not in whole.output
