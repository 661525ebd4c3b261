"""vedder health after review: docs checked against the live schema (also after --fix re-profiled), follow-ups
and off-topic questions in coverage, and the gate failing clusters with broken pairs whatever their score."""

from __future__ import annotations

import json
from pathlib import Path

from test_health import health_of, mutate, run, shop, template  # noqa: F401  (fixtures)

from vedder.config import load_config
from vedder.files import atomic_write, dump_yaml
from vedder.log.store import open_log
from vedder.project import load_project

CLUSTER = "clusters/shop"


def doc_problems(health) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in health.signal("curation_freshness").problems:
        if problem.kind == "doc_gone_column":
            found.setdefault(problem.subject, []).append(problem.message)
    return found


def write_doc(root: Path, slug: str, text: str) -> None:
    atomic_write(root / CLUSTER / "docs" / f"{slug}.md", text)


# --- 1. docs that name columns the live warehouse no longer has -----------------------------------

MONEY = """---
title: Money
applies_to: [shop.orders.amount_cents, shop.orders.country]
---
# Money

`shop.orders.amount_cents` is in cents: `SUM(amount_cents) / 100.0`. Currencies look like `'SEK'`.
"""


def test_doc_naming_a_renamed_column_stays_flagged_after_fix_reprofiles_the_dataset(shop):
    write_doc(shop, "money", MONEY)
    mutate(shop, "ALTER TABLE shop.orders RENAME COLUMN amount_cents TO amount_minor")
    before = health_of(shop)
    assert doc_problems(before) == {
        "orders": ["doc orders mentions shop.orders.amount_cents, renamed to amount_minor"],
        "money": ["doc money mentions shop.orders.amount_cents, renamed to amount_minor"],
    }

    fixed = run("--project", str(shop), "--fix", "--no-pr", "--format", "json")
    assert json.loads(fixed.stdout)["fix"]["reprofiled"] == ["shop.orders"]
    dataset = (shop / CLUSTER / "datasets/shop.orders.yaml").read_text()
    assert "amount_minor" in dataset and "amount_cents" not in dataset

    after = health_of(shop)
    assert after.signal("schema_drift").value == 1.0 and after.signal("pair_validity").value == 1.0
    assert doc_problems(after) == {
        "orders": ["doc orders mentions amount_cents, which no live table of the cluster has"],
        "money": ["doc money mentions shop.orders.amount_cents, which no longer exists (closest live column: amount_minor)"],
    }
    assert after.signal("curation_freshness").value < 1.0


def test_applies_to_is_checked_against_the_live_schema_without_any_drift(shop):
    write_doc(shop, "refund-reasons", "---\napplies_to: [shop.refunds.reason, shop.refunds]\n---\n# Why people ask for money back\n")
    health = health_of(shop)
    assert health.signal("schema_drift").value == 1.0
    assert doc_problems(health) == {"refund-reasons": ["doc refund-reasons mentions shop.refunds.reason, which no longer exists"]}


def test_live_columns_tables_and_other_inline_code_are_not_flagged(shop):
    write_doc(shop, "glossary", "---\napplies_to: [shop.orders, shop.customers.plan]\n---\n"
                                "`orders.country`, `customers.signup_country`, `plan`, `shop.refunds`, `'SEK'`, "
                                "`status`, `SUM(amount_cents) / 100.0` and `refunds.refunded_cents`.\n")
    health = health_of(shop)
    assert doc_problems(health) == {}
    assert health.signal("curation_freshness").value == 1.0


# --- 2. coverage: follow-ups with their thread, off-topic questions charged to nobody ---------------

ORDERS_IN_COUNTRY = ("How many orders were shipped to the US?",
                     "SELECT count(*) AS orders FROM orders WHERE country = 'US' AND user_id >= 100\n")


def add_country_pair(root: Path) -> None:
    question, sql = ORDERS_IN_COUNTRY
    atomic_write(root / CLUSTER / "pairs/orders_in_country.yaml",
                 dump_yaml({"question": question, "sql": sql, "verified_by": "ana", "verified_at": "2026-01-01"}))


def record(root: Path, *turns: dict) -> None:
    store = open_log(load_config(root))
    try:
        for turn in turns:
            store.record(turn)
    finally:
        store.close()


def test_follow_up_answered_by_ask_continue_counts_as_covered(shop):
    from vedder.ask import ask

    add_country_pair(shop)
    project = load_project(load_config(shop))
    assert ask(project, ORDERS_IN_COUNTRY[0]).status == "answered"
    follow_up = ask(project, "and to Germany?", follow_up=True)
    assert follow_up.status == "answered" and follow_up.steps[0]["tool"] == "offline_match"
    coverage = health_of(shop).signal("coverage")
    assert coverage.value == 1.0 and coverage.problems == []


def test_follow_up_is_judged_with_the_turn_before_it(shop):
    add_country_pair(shop)
    question, sql = ORDERS_IN_COUNTRY
    record(shop,
           {"conversation_id": "c1", "question": question, "cluster": "shop", "status": "answered", "sql": sql,
            "steps": [{"tool": "offline_match", "pair": "orders_in_country"}]},
           # The agent failed the follow-up; the offline answerer adapts the previous turn's pair to it.
           {"conversation_id": "c1", "question": "and to Germany?", "cluster": "shop", "status": "error",
            "steps": [{"tool": "run_sql"}]},
           # The same words opening a conversation have nothing to follow.
           {"conversation_id": "c2", "question": "and to Germany?", "cluster": "shop", "status": "not_covered"})
    health = health_of(shop)
    assert health.signal("coverage").value == 2 / 3
    assert health.uncovered == [{"question": "and to Germany?", "count": 1}]


def test_off_topic_questions_are_charged_to_no_cluster(shop):
    record(shop,
           {"question": "what's the weather in Paris?", "cluster": None, "status": "not_covered",
            "routing": [{"id": "shop", "score": 0.0}]},
           {"question": "Who won the football yesterday?", "cluster": None, "status": "not_covered"},
           {"question": "How many orders per country?", "cluster": "shop", "status": "answered"})
    health = health_of(shop)
    assert health.signal("coverage").value == 1.0 and health.uncovered == []


def test_not_covered_question_routed_clearly_closest_is_still_charged(shop):
    record(shop, {"question": "Which orders shipped to customers on the family plan were refunded?", "cluster": None,
                  "status": "not_covered"})
    health = health_of(shop)
    assert health.signal("coverage").value == 0.0
    assert [u["question"] for u in health.uncovered] == ["Which orders shipped to customers on the family plan were refunded?"]


def test_failed_turns_are_not_uncovered_questions(shop):
    """A missing API key, a model or warehouse error says nothing about whether the cluster covers a question:
    only not_covered questions are uncovered; the failures are counted apart."""
    record(shop,
           {"question": "What is the average basket size?", "cluster": "shop", "status": "error",
            "answer": "OPENAI_API_KEY is not set"},
           {"question": "Which warehouse ships fastest?", "cluster": "shop", "status": "error", "answer": "model timed out"},
           {"question": "Refunds by reason", "cluster": "shop", "status": "not_covered"},
           {"question": "How many orders per country?", "cluster": "shop", "status": "answered"})
    health = health_of(shop)
    coverage = health.signal("coverage")
    assert coverage.value == 1 / 2
    assert health.uncovered == [{"question": "Refunds by reason", "count": 1}]
    assert "2 failed turns (errors) not counted" in coverage.summary, coverage.summary


def test_a_cluster_whose_turns_all_failed_has_no_coverage_to_judge(shop):
    record(shop, {"question": "What is the average basket size?", "cluster": "shop", "status": "error"})
    health = health_of(shop)
    coverage = health.signal("coverage")
    assert coverage.value is None and health.uncovered == []
    assert "1 failed turn (errors)" in coverage.skipped, coverage.skipped


# --- 3. the gate fails a cluster with broken pairs whatever its score --------------------------------

RENAME = "ALTER TABLE shop.orders RENAME COLUMN country TO ship_country"


def test_broken_pairs_fail_the_gate_even_above_the_threshold(shop):
    mutate(shop, RENAME)
    health = health_of(shop)
    assert health.score >= health.fail_under == 70
    assert health.failures == ["2 broken pairs"] and not health.passed

    text = run("--project", str(shop), "--fail-under", "1")
    assert text.exit_code == 1
    assert "fails: 2 broken pairs" in " ".join(text.stdout.split())
    markdown = run("--project", str(shop), "--format", "markdown")
    assert markdown.exit_code == 1
    assert "❌ **fail** (fails: 2 broken pairs)" in markdown.stdout
    data = json.loads(run("--project", str(shop), "--format", "json").stdout)
    assert data["passed"] is False and data["failing"] == ["shop"]
    assert data["clusters"][0]["fails"] == ["2 broken pairs"] and data["clusters"][0]["passed"] is False


def test_fail_on_broken_pairs_can_be_turned_off(shop):
    mutate(shop, RENAME)
    config = shop / "vedder.yaml"
    config.write_text(config.read_text() + "health:\n  fail_on_broken_pairs: false\n")
    health = health_of(shop)
    assert health.failures == [] and health.passed
    assert run("--project", str(shop)).exit_code == 0


def test_stale_pairs_do_not_fail_the_gate(shop):
    mutate(shop, RENAME)
    for slug in ("orders_by_country", "orders_by_country_and_plan"):
        path = shop / CLUSTER / "pairs" / f"{slug}.yaml"
        path.write_text(path.read_text() + "stale: {reason: country was renamed, since: 2026-01-01}\n")
    health = health_of(shop)
    assert health.failures == []
    assert run("--project", str(shop), "--fail-under", "1").exit_code == 0


def test_fail_on_broken_pairs_must_be_a_boolean(shop):
    config = shop / "vedder.yaml"
    config.write_text(config.read_text() + "health:\n  fail_on_broken_pairs: sometimes\n")
    result = run("--project", str(shop))
    assert result.exit_code == 2
    assert "health.fail_on_broken_pairs must be true or false" in result.output


def test_a_definition_the_docs_give_counts_as_covered(shop):
    """'What counts as an order?' answered from the docs is no coverage gap; asked before the doc existed, it is
    covered once the doc defines it, as 'a vetted pair answers it today' is; a term no doc defines stays uncovered."""
    from vedder.ask import ask

    write_doc(shop, "orders", "# Orders\n\n## Order\nAn **order** is a row of `shop.orders` that was paid.\n")
    project = load_project(load_config(shop))
    answered = ask(project, "What counts as an order?", cluster_id="shop")
    assert answered.status == "answered" and answered.steps[0]["tool"] == "doc_definition"
    record(shop, {"question": "How is a refund defined?", "cluster": "shop", "status": "not_covered"},
           {"question": "What is a shipment?", "cluster": "shop", "status": "not_covered"})
    write_doc(shop, "refunds", "# Refunds\n\n## Refund\nA **refund** is money paid back.\n")
    health = health_of(shop)
    assert health.signal("coverage").value == 2 / 3
    assert health.uncovered == [{"question": "What is a shipment?", "count": 1}]
