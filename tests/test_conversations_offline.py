"""Offline conversations: a follow-up adapts the answer before only with what the conversation still asks for.

A follow-up declined since the last answer may still hold ("same for the family plan", not covered, then "and in
Germany?" asks for family in Germany); a follow-up said as part of the conversation ("and per month in 2026?")
is not answered by a pair that drops what the answer before was asked for. The blind held-out conversations
(fixtures/offline/conversations7.jsonl) are asked turn by turn through ``ask``: every answer right.
"""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import pytest

from demo_project import copy_demo
from vedder.ask import ask
from vedder.config import load_config
from vedder.offline import answer_offline, leans_on_conversation
from vedder.project import load_project

HELD_OUT = Path(__file__).parent / "fixtures" / "offline"
TODAY = date(2026, 11, 26)
# Turns of conversations7 answered (all right) today: coverage may grow, never shrink unnoticed.
CONVERSATIONS7_RIGHT = 61
# conversations8, the second blind set: 32 of 70 answerable turns right at its blind run, none wrong; after fixes:
CONVERSATIONS8_RIGHT = 46
# conversations9, the third blind set (precision traps): 41 of 45 answered right at its blind run, 4 wrong; after fixes:
CONVERSATIONS9_RIGHT = 47


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("conversations"), scale=0.02)


@pytest.fixture(scope="module")
def demo(demo_dir):
    return load_project(load_config(demo_dir))


def _first(project, question: str, cluster: str) -> dict:
    """The conversation's first answer, as ``ask`` hands it to the offline answerer."""
    result = answer_offline(project, project.clusters[cluster], question, today=TODAY)
    assert result.match is not None, result.reason
    return {"question": question, "sql": result.match.sql, "pair": result.match.pair.id}


def _follow(project, question: str, previous: dict, cluster: str, declined: list[str] = ()):
    return answer_offline(project, project.clusters[cluster], question, previous={**previous, "declined": list(declined)},
                          today=TODAY)


def test_a_declined_follow_up_still_holds_unless_the_next_replaces_it(demo):
    sweden = _first(demo, "How many active premium subscribers are there in Sweden?", "revenue")
    held = _follow(demo, "and in Germany?", sweden, "revenue", ["same for the family plan"])
    assert held.match is None and "'same for the family plan' was not answered" in held.reason
    # Near misses: the declined turn named the country the next one replaces, or asked nothing of the data.
    for declined in (["and for Norway?"], ["thanks!"], ["why?"]):
        germany = _follow(demo, "and in Germany?", sweden, "revenue", declined)
        assert germany.match is not None, (declined, germany.reason)
        assert "country = 'DE'" in germany.match.sql and "plan = 'premium'" in germany.match.sql


def test_a_declined_change_of_another_kind_blocks_a_year_and_a_top_n(demo):
    failed = _first(demo, "What was the failed payment rate per month in 2026?", "revenue")
    assert _follow(demo, "and for 2025?", failed, "revenue", ["and in Sweden?"]).match is None
    assert _follow(demo, "and for 2025?", failed, "revenue").match is not None  # nothing declined: adapted
    shows = _first(demo, "Which 10 podcast shows had the most listeners in October 2026?", "podcasts")
    assert _follow(demo, "and in September 2026?", shows, "podcasts", ["top 5 please, with more detail"]).match is None
    september = _follow(demo, "and the top 5 in September 2026?", shows, "podcasts", ["top 5 please, with more detail"])
    assert september.match is not None and "LIMIT 5" in september.match.sql, september.reason


def test_a_follow_up_does_not_drop_what_the_answer_before_was_asked_for(demo):
    india = _follow(demo, "and in India?", _first(demo, "How many users signed up in Brazil?", "listening"), "listening")
    assert india.match is not None and "'IN'" in india.match.sql
    previous = {"question": "and in India?", "sql": india.match.sql, "pair": india.match.pair.id}
    per_month = _follow(demo, "and per month in 2026?", previous, "listening")
    assert per_month.match is None and "would drop 'in'" in per_month.reason
    # Near miss: asked as a question of its own, the per-month pair answers it.
    own = _follow(demo, "How many users signed up per month in 2026?", previous, "listening")
    assert own.match is not None and own.match.pair.id == "signups-per-month"


@pytest.mark.parametrize("question, leans", [
    ("and per month in 2026?", True), ("top 3 instead?", True), ("last year?", True), ("what about Germany?", True),
    ("how about the previous month?", True), ("which advertisers were behind them?", True),
    ("and how many shows launched that year per category?", True),
    ("How many podcast shows are there per language?", False), ("What was the skip rate per genre in October 2026?", False),
    ("Which 10 podcast shows had the most listeners in October 2026?", False),
])
def test_which_follow_ups_lean_on_the_conversation(question, leans):
    assert leans_on_conversation(question) is leans


def test_through_ask_a_declined_country_is_not_dropped_by_the_next_year(demo, demo_dir, monkeypatch):
    monkeypatch.setenv("VEDDER_LOG", str(demo_dir / "turns.sqlite"))
    project = load_project(load_config(demo_dir))
    first = ask(project, "What was the failed payment rate per month in 2026?", model="offline", today=TODAY)
    assert first.status == "answered"
    sweden = ask(project, "and in Sweden?", model="offline", continue_id=first.conversation_id, today=TODAY)
    assert sweden.status == "not_covered"
    later = ask(project, "and for 2025?", model="offline", continue_id=first.conversation_id, today=TODAY)
    assert later.status == "not_covered" and "'and in Sweden?' was not answered" in later.answer
    fresh = ask(project, "What was the failed payment rate per month in 2026?", model="offline", today=TODAY)
    again = ask(project, "and for 2025?", model="offline", continue_id=fresh.conversation_id, today=TODAY)
    assert again.status == "answered" and "2025-01-01" in again.sql


def _load_scorer():
    spec = importlib.util.spec_from_file_location("conversation_score", HELD_OUT / "score_conversations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, right", [("conversations7", CONVERSATIONS7_RIGHT), ("conversations8", CONVERSATIONS8_RIGHT),
                                         ("conversations9", CONVERSATIONS9_RIGHT)])
def test_the_blind_conversations_are_answered_right_or_not_at_all(demo_dir, name, right):
    summary = _load_scorer().score(HELD_OUT / f"{name}.jsonl", root=demo_dir)
    assert summary["wrong"] == [] and summary["precision"] == 1.0, summary["wrong"]
    assert summary["right"] == right, summary
    assert summary["abstained_rightly"] == summary["abstain_turns"]


def test_a_follow_up_may_say_the_column_of_its_value_and_that_it_replaces_the_answer(demo):
    sweden = _first(demo, "How many active premium subscribers are there in Sweden?", "revenue")
    family = _follow(demo, "same for the family plan", sweden, "revenue")
    assert family.match is not None, family.reason
    assert "plan = 'family'" in family.match.sql and "country = 'SE'" in family.match.sql
    tracks = _first(demo, "What were the top 10 tracks in Sweden in October 2026?", "listening")
    three = _follow(demo, "top 3 instead?", tracks, "listening")
    assert three.match is not None and "LIMIT 3" in three.match.sql and "'SE'" in three.match.sql
    # Near misses: a word that is neither the value's column nor about the follow-up itself asks something else.
    for question in ("same for the family plan's cancellations", "and the family plan revenue?", "top 3 artists instead?"):
        previous = tracks if "top" in question else sweden
        result = _follow(demo, question, previous, "listening" if "top" in question else "revenue")
        assert result.match is None or result.match.pair.id != previous["pair"], (question, result.match.explanation)


def test_a_period_named_from_the_answer_before(demo):
    arpu = _first(demo, "What was the average revenue per paying user in 2024?", "revenue")
    refunds = _follow(demo, "and what about refunds that year?", arpu, "revenue")
    assert refunds.match is not None and refunds.match.pair.id == "refunds-year", refunds.reason
    assert "2024-01-01" in refunds.match.sql and "2025-01-01" in refunds.match.sql
    assert "'that year' read as 2024" in refunds.match.explanation
    daily = _first(demo, "How many streams were there per day in November 2026?", "listening")
    october = _follow(demo, "how about the previous month?", daily, "listening")
    assert october.match is not None and "2026-10-01" in october.match.sql and "2026-12-01" not in october.match.sql
    # Near misses: no month is read from a year, no "year before" from a month (the month a year earlier, or the year?).
    assert _follow(demo, "and refunds that month?", arpu, "revenue").match is None
    assert _follow(demo, "and the year before?", daily, "listening").match is None


def test_a_qualifier_the_answer_already_honours_gets_the_same_answer(demo):
    daily = _first(demo, "How many streams were there per day in November 2026?", "listening")
    same = _follow(demo, "and excluding test users?", daily, "listening")
    assert same.match is not None and same.match.sql == daily["sql"], same.reason
    assert "already honours 'excluding test users'" in same.match.explanation
    # Near misses: the SQL contradicts it, or the follow-up asks something more.
    for question in ("and including test users?", "and excluding test users and skips?", "and excluding test users per platform?"):
        result = _follow(demo, question, daily, "listening")
        assert result.match is None or result.match.sql != daily["sql"], (question, result.match.explanation)


def test_a_follow_up_does_not_move_the_period_before_the_data(demo):
    """listening.events holds 2026-08-28 to 2026-11-25: August and July 2026 are no months it can answer, asked
    on their own or as a follow-up; September can be."""
    tracks = _first(demo, "What were the top 10 tracks in Sweden in October 2026?", "listening")
    for question in ("and in July 2026?", "and in August?", "and the year before?"):
        result = _follow(demo, question, tracks, "listening")
        assert result.match is None, (question, result.match.explanation)
    september = _follow(demo, "and in September?", tracks, "listening")
    assert september.match is not None and "2026-09-01" in september.match.sql
    previous = {"question": "and in September?", "sql": september.match.sql, "pair": september.match.pair.id}
    assert _follow(demo, "and the month before?", previous, "listening").match is None


def test_same_but_for_is_a_follow_up_and_pls_asks_nothing(demo):
    tracks = _first(demo, "What were the top 10 tracks in Sweden in October 2026?", "listening")
    germany = _follow(demo, "same but for Germany", tracks, "listening")
    assert germany.match is not None and "'DE'" in germany.match.sql and "'SE'" not in germany.match.sql, germany.reason
    november = _follow(demo, "same but for november", tracks, "listening")
    assert november.match is not None and "2026-11-01" in november.match.sql and "LIMIT 10" in november.match.sql
    twenty = _follow(demo, "top 20 pls", tracks, "listening")
    assert twenty.match is not None and "LIMIT 20" in twenty.match.sql and "'SE'" in twenty.match.sql, twenty.reason
    # Near misses: "but" that excludes, and a word that is not about the follow-up itself.
    for question in ("all but Germany?", "everything but germany", "top 20 artists pls"):
        result = _follow(demo, question, tracks, "listening")
        assert result.match is None or "'DE'" not in result.match.sql and "LIMIT 20" not in result.match.sql, question


def _conversation(project, *questions: str):
    """Each answer of ``questions`` asked in one conversation through ``ask``, offline."""
    answers, conversation_id = [], None
    for question in questions:
        answer = ask(project, question, model="offline", continue_id=conversation_id, memory=False, today=TODAY)
        conversation_id = conversation_id or answer.conversation_id
        answers.append(answer)
    return answers


def test_a_follow_up_in_another_cluster_reads_its_period_from_the_answer_before(demo_dir, monkeypatch):
    monkeypatch.setenv("VEDDER_LOG", str(demo_dir / "periods-elsewhere.sqlite"))
    project = load_project(load_config(demo_dir))
    podcasts, streams, october = _conversation(project, "How many people listened to podcasts in Brazil in November 2026?",
                                               "and how many streams did brazil have that month?", "and in October?")
    assert podcasts.cluster == "podcasts" and streams.cluster == "listening", streams.answer
    assert streams.status == "answered" and "'BR'" in streams.sql and "2026-11-01" in streams.sql, streams.answer
    assert "'that month' read as November 2026" in streams.answer
    assert october.status == "answered" and "'BR'" in october.sql and "2026-10-01" in october.sql and "2026-12-01" not in october.sql
    # A follow-up that names its subject but no period takes the answer before's, and says so.
    _, daily = _conversation(project, "daily podcast listeners nov 2026 please", "how many streams per day then?")
    assert daily.status == "answered" and "2026-11-01" in daily.sql and "2026-12-01" in daily.sql, daily.answer
    assert "the period of the answer before, November 2026" in daily.answer
    # Near misses: a follow-up that only names a value is about the answer before's subject (top artists, which no
    # pair gives per country), not streams in Japan; a period said differently is not replaced.
    *_, japan = _conversation(project, "Who were the top 5 artists by streams in October 2026?", "and in Japan?")
    assert japan.status == "not_covered", japan.answer
    *_, weekly = _conversation(project, "daily podcast listeners nov 2026 please", "how many streams per week then?")
    assert weekly.status == "not_covered", weekly.answer


def test_a_correction_replaces_what_the_turn_before_named(demo):
    arpu = _first(demo, "What was the average revenue per paying user in 2025?", "revenue")
    earlier = _follow(demo, "and 2024?", arpu, "revenue")
    previous = {"question": "and 2024?", "sql": earlier.match.sql, "pair": earlier.match.pair.id}
    for question in ("no, I meant 2026", "sorry, I meant 2026", "I mean 2026"):
        fixed = _follow(demo, question, previous, "revenue")
        assert fixed.match is not None and "2026-01-01" in fixed.match.sql and "2024-01-01" not in fixed.match.sql, (question, fixed.reason)
    tracks = _first(demo, "What were the top 10 tracks in the US in October 2026?", "listening")
    sweden = _follow(demo, "sorry, I meant Sweden", tracks, "listening")
    assert sweden.match is not None and "'SE'" in sweden.match.sql and "LIMIT 10" in sweden.match.sql, sweden.reason
    # Near misses: a correction naming another kind of value than the turn before changed (Germany in 2024, or in
    # 2025?), or a declined turn's correction that names something else.
    germany = _follow(demo, "sorry, I meant Germany", previous, "revenue")
    assert germany.match is None and "names something else than it asked for" in germany.reason
    held = _follow(demo, "I meant for 2024", tracks, "listening", ["and in Norway?"])
    assert held.match is None, held.match and held.match.explanation


def test_top_n_of_a_ranked_list_without_a_limit(demo):
    publishers = _first(demo, "Which podcast publishers had the most listening hours in October 2026?", "podcasts")
    three = _follow(demo, "just the top 3", publishers, "podcasts")
    assert three.match is not None and three.match.sql.endswith("ORDER BY hours DESC LIMIT 3"), three.reason
    # Near misses: a list in date order has no top, and the bottom of a ranking is not its first rows.
    daily = _first(demo, "How many streams were there per day in November 2026?", "listening")
    assert _follow(demo, "just the top 3", daily, "listening").match is None
    assert _follow(demo, "and the bottom 3?", publishers, "podcasts").match is None


def test_never_mind_lets_go_of_the_declined_follow_up(demo):
    family = _first(demo, "How many family subscriptions were cancelled in October 2026?", "revenue")
    device = ["can you break that down by device?"]
    for question in ("ok never mind the devices, same count for the student plan?", "never mind, same for the student plan"):
        student = _follow(demo, question, family, "revenue", device)
        assert student.match is not None and "'student'" in student.match.sql and "'family'" not in student.match.sql, student.reason
    # Near misses: without letting go the breakdown still holds; letting go and asking it again is still declined.
    assert _follow(demo, "same for the student plan", family, "revenue", device).match is None
    assert _follow(demo, "never mind the devices, same for student per device?", family, "revenue", device).match is None


def test_a_word_the_conversations_pairs_use_keeps_the_follow_up_in_its_cluster(demo_dir, monkeypatch):
    """Only listening's keywords say "listeners", but podcasts' vetted questions ask for podcast listeners: in a
    podcasts conversation "and listeners in japan?" is theirs (conversations9's blind run moved it to music's
    monthly active listeners)."""
    monkeypatch.setenv("VEDDER_LOG", str(demo_dir / "stays.sqlite"))
    project = load_project(load_config(demo_dir))
    _, japan = _conversation(project, "How many people listened to podcasts in Mexico in October 2026?", "and listeners in japan?")
    assert japan.cluster == "podcasts" and "monthly-active-listeners-country" not in japan.answer, japan.answer
    # Near miss: a word only the other cluster has still moves the conversation there.
    _, streams = _conversation(project, "How many people listened to podcasts in Mexico in October 2026?",
                               "and how many streams did japan have that month?")
    assert streams.cluster == "listening" and "listening.events" in (streams.sql or ""), streams.answer


def test_outside_a_value_is_no_follow_up_for_that_value(demo):
    listeners = _first(demo, "How many people listened to podcasts in Mexico in October 2026?", "podcasts")
    streams = _first(demo, "How many streams did each country have in October 2026?", "listening")
    for question, previous, cluster in (("and outside the US?", listeners, "podcasts"), ("non-US only?", streams, "listening"),
                                        ("and outside the US?", streams, "listening"), ("everything beyond Sweden?", streams, "listening")):
        result = _follow(demo, question, previous, cluster)
        assert result.match is None, (question, result.match.explanation)
    # Near miss: the value alone is the follow-up it always was.
    us = _follow(demo, "and in the US?", listeners, "podcasts")
    assert us.match is not None and "country = 'US'" in us.match.sql, us.reason


def test_a_follow_up_that_takes_the_period_of_the_answer_before_keeps_its_split(demo_dir, monkeypatch):
    """"and refunds?" after revenue per month in 2025 asks for refunds per month: the refunds pair's one total for
    2025 is another answer (conversations9's blind run gave it)."""
    monkeypatch.setenv("VEDDER_LOG", str(demo_dir / "split.sqlite"))
    project = load_project(load_config(demo_dir))
    _, refunds = _conversation(project, "What was revenue per month in 2025?", "and refunds?")
    assert refunds.status == "not_covered" and "the answer before is per month, and refunds-year is one total" in refunds.answer
    # Near misses: the answer before was one total too, or the follow-up says the year it wants.
    for first, follow_up in (("What was the average revenue per paying user in 2025?", "and refunds?"),
                             ("What was revenue per month in 2025?", "and refunds that year?")):
        _, same = _conversation(project, first, follow_up)
        assert same.status == "answered" and "refunds-year" in same.answer and "2025-01-01" in same.sql, same.answer


def test_then_is_not_the_answers_period_once_a_declined_turn_named_another(demo_dir, monkeypatch):
    """Daily streams in October, then "strems per day in september then" (not covered): "the top advertisers then"
    means September, which no answer showed — not October (conversations9's blind run answered October)."""
    monkeypatch.setenv("VEDDER_LOG", str(demo_dir / "then.sqlite"))
    project = load_project(load_config(demo_dir))
    *_, advertisers = _conversation(project, "daily streams for october 2026", "strems per day in september then",
                                    "and who were the top advertisers by ad revenue then?")
    assert advertisers.status == "not_covered", advertisers.answer
    # Near misses: nothing declined, or a declined turn that named the answer's own month: October it is.
    for turns in (("daily streams for october 2026",), ("daily streams for october 2026", "and the median in october?")):
        *_, october = _conversation(project, *turns, "and who were the top advertisers by ad revenue then?")
        assert october.status == "answered" and "2026-10-01" in october.sql, (turns, october.answer)


def test_naming_the_answers_statistic_again_lets_go_of_a_declined_other_statistic(demo):
    arpu = _first(demo, "What was the average revenue per paying user in 2024?", "revenue")
    median = ["and the median revenue per paying user?"]
    average = _follow(demo, "and for 2026, the average one", arpu, "revenue", median)
    assert average.match is not None and "2026-01-01" in average.match.sql, average.reason
    minutes = _first(demo, "How many minutes did the average listener in Brazil stream in October 2026?", "listening")
    total = ["and the total minutes?", "and in Mexico"]
    mexico = _follow(demo, "average minutes per listener in Mexico?", minutes, "listening", total)
    assert mexico.match is not None and "'MX'" in mexico.match.sql and "'BR'" not in mexico.match.sql, mexico.reason
    # Near misses: the other statistic not let go, said again, or a declined filter, which no statistic replaces.
    for question, previous, declined, cluster in (
            ("and for 2026?", arpu, median, "revenue"), ("and for 2026, the median one", arpu, median, "revenue"),
            ("and minutes in Mexico?", minutes, total, "listening"),
            ("average minutes per listener in Mexico?", minutes, ["including test accounts?"], "listening")):
        result = _follow(demo, question, previous, cluster, declined)
        assert result.match is None, (question, declined, result.match.explanation)


def test_a_follow_up_may_say_again_what_the_answer_measures(demo):
    minutes = _first(demo, "How many minutes did the average listener in Brazil stream in October 2026?", "listening")
    mexico = _follow(demo, "and average minutes per listener in Mexico?", minutes, "listening")
    assert mexico.match is not None and "'MX'" in mexico.match.sql, mexico.reason
    # Near misses: a word the answer before never said asks for something else.
    for question in ("and the total minutes in Mexico?", "and skipped minutes per listener in Mexico?"):
        result = _follow(demo, question, minutes, "listening")
        assert result.match is None or result.match.pair.id != "minutes-per-listener", (question, result.match.explanation)
    # Nor is the value it replaces a word said again: "and Sweden and Germany?" after "and for Germany?" names two.
    germany = _follow(demo, "and for Germany?", minutes, "listening")
    previous = {"question": "and for Germany?", "sql": germany.match.sql, "pair": germany.match.pair.id}
    for question in ("and Sweden and Germany?", "and average minutes per listener in Sweden and Germany?"):
        result = _follow(demo, question, previous, "listening")
        assert result.match is None or result.match.pair.id != "minutes-per-listener", (question, result.match.explanation)


def test_never_mind_may_end_with_a_spaced_dash(demo):
    family = _first(demo, "How many family subscriptions were cancelled in October 2026?", "revenue")
    device = ["can you break that down by device?"]
    student = _follow(demo, "ok forget the devices - same for the student plan", family, "revenue", device)
    assert student.match is not None and "'student'" in student.match.sql, student.reason
    # Near miss: a hyphen inside a word ends nothing.
    assert _follow(demo, "forget the non-ios devices same for the student plan", family, "revenue", device).match is None


def test_a_first_question_about_an_unknown_country_is_asked_again_for_the_one_named_next(demo_dir, monkeypatch):
    """"How many active premium subscribers do we have in Norway?" is not covered (no Norway in the data); "ok, Sweden
    then" has no answer to adapt, but asks that question for Sweden."""
    monkeypatch.setenv("VEDDER_LOG", str(demo_dir / "again.sqlite"))
    project = load_project(load_config(demo_dir))
    norway = "How many active premium subscribers do we have in Norway?"
    for follow_up in ("ok, Sweden then", "sorry, I meant Sweden"):
        first, sweden = _conversation(project, norway, follow_up)
        assert first.status == "not_covered" and sweden.status == "answered", sweden.answer
        assert "'SE'" in sweden.sql and "'premium'" in sweden.sql and "read as 'How many active premium subscribers do we have in Sweden?'" in sweden.answer
    # Near misses: the follow-up asks something more, or the question before named no country to replace.
    for first, follow_up in ((norway, "and family in Sweden?"), (norway, "Sweden in 2025?"),
                             ("Which playlists have the most followers?", "ok, Sweden then")):
        _, answer = _conversation(project, first, follow_up)
        assert answer.status == "not_covered", (first, follow_up, answer.answer)
