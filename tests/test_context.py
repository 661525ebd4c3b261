"""Routing, context selection and `vedder context` on a small two-cluster project."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from context_project import make_project
from vedder.cli import app
from vedder.config import load_config
from vedder.context import build_context, estimate_tokens, route, search
from vedder.context.tokenize import split_identifier, stem, tokenize
from vedder.project import load_project
from vedder.project.model import cache_folder


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("context-project"))


@pytest.fixture()
def project(project_dir):
    return load_project(load_config(project_dir))


def test_identifiers_split_and_words_stem():
    assert split_identifier("userCountryCode") == ["user", "country", "code"]
    assert split_identifier("stream_year") == ["stream", "year"]
    assert split_identifier("IDs") == ["ids"]
    assert stem("countries") == "country" and stem("streams") == stem("stream") == stem("streaming")
    assert tokenize("What are the names of the users?") == ["nam", "user"]


@pytest.mark.parametrize(
    "question, cluster",
    [
        ("How many streams did Sweden have?", "music"),
        ("how many premium listeners are there", "music"),
        ("total invoiced amount per customer", "billing"),
    ],
)
def test_route_picks_the_covering_cluster(project, question, cluster):
    routing = route(project, question)
    assert routing.covered and routing.cluster.id == cluster
    assert [s for _, s in routing.scores] == sorted((s for _, s in routing.scores), reverse=True)


@pytest.mark.parametrize("question", ["What's the weather in Paris?", "Which employees got a promotion in HR?"])
def test_route_says_not_covered_with_the_closest_owners(project, question):
    routing = route(project, question)
    assert not routing.covered and routing.cluster is None
    data = routing.to_dict()
    assert data["covered"] is False and {c["id"] for c in data["clusters"]} == {"music", "billing"}
    for closest in data["closest"]:
        assert closest["team"] in ("Listening Insights", "Finance Data")


def test_context_selects_relevant_tables_pairs_and_docs(project):
    context = build_context(project, project.clusters["music"], "How many streams were there in Sweden in 2023?")
    assert context.tables[0] == "music.streams"
    assert "music.track_catalog" not in context.tables
    assert context.pairs[0][0].id == "streams-country-year"
    assert [d.id for d, _ in context.docs] == ["definitions"]
    assert "A stream is a play of 30 seconds" in context.text
    assert "values: 'US', 'SE', 'DE'" in context.text
    assert context.tokens == estimate_tokens(context.text) <= 6000


def test_context_respects_the_budget_and_exclusions(project):
    music = project.clusters["music"]
    small = build_context(project, music, "streams in the US in 2024", budget=150)
    assert small.tokens <= 150 + estimate_tokens("## Tables\n") + 40  # header and section titles are always shown
    held_out = build_context(project, music, "How many streams were there in the US in 2024?", exclude_pairs=["streams-country-year"])
    assert "streams-country-year" not in [p.id for p, _ in held_out.pairs]
    assert "stream_year = 2024" not in held_out.text


def test_context_carries_the_conversation(project):
    history = [{"question": "How many streams in the US in 2024?", "sql": "SELECT COUNT(*) FROM music.streams", "summary": "3 rows"}]
    context = build_context(project, project.clusters["music"], "and for Sweden?", history=history)
    assert "## Conversation so far" in context.text and "3 rows" in context.text
    assert "music.streams" in context.tables


def test_wide_tables_are_trimmed_to_what_matters(project):
    context = build_context(project, project.clusters["music"], "track catalog attribute_7")
    assert "music.track_catalog" in context.tables
    assert "`attribute_7`" in context.text and "(15 more columns:" in context.text


def test_search_finds_pairs_and_doc_sections(project):
    hits = search(project.clusters["music"], "premium plan users", k=3)
    assert hits[0].kind == "pair" and hits[0].id == "premium-users"
    assert any(h.kind == "doc" and h.id == "definitions" for h in hits)


def test_cli_context_json(project_dir):
    result = CliRunner().invoke(app, ["context", "How many streams in Sweden?", "--json", "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clusters"][0]["id"] == "music" and data["cluster"] == "music"
    assert {"tables", "pairs", "docs", "tokens", "text"} <= set(data)
    assert data["pairs"][0].keys() >= {"id", "question", "score"}


def test_cli_context_text_and_not_covered(project_dir):
    runner = CliRunner()
    text = runner.invoke(app, ["context", "total invoiced amount", "--project", str(project_dir)])
    assert text.exit_code == 0 and "cluster billing" in text.stdout and "## Tables" in text.stdout
    weather = runner.invoke(app, ["context", "weather in Paris", "--json", "--project", str(project_dir)])
    assert json.loads(weather.stdout)["covered"] is False


def test_cli_context_unknown_cluster_is_a_clean_error(project_dir):
    result = CliRunner().invoke(app, ["context", "streams", "--cluster", "nope", "--project", str(project_dir)])
    assert result.exit_code != 0 and "unknown cluster 'nope'" in result.output and "Traceback" not in result.output


RADIO = {
    "clusters/radio/cluster.yaml": (
        "id: radio\ntitle: Radio streaming\ndescription: Streams and listeners of radio stations.\nkeywords: [streams, listeners, plays]\n"
        "owners: {team: Radio Data, members: [rae], contact: '#radio'}\ndatasets: [radio.streams]\n"
    ),
    "clusters/radio/datasets/radio.streams.yaml": (
        "table: radio.streams\ndescription: One row per stream.\ncolumns:\n"
        "  - {name: station_id, type: BIGINT}\n  - {name: country, type: VARCHAR}\n"
    ),
    "clusters/radio/pairs/top-countries.yaml": (
        "question: What are the top 2 countries by radio streams?\n"
        "sql: SELECT country, COUNT(*) AS streams FROM radio.streams GROUP BY country ORDER BY streams DESC LIMIT 2\n"
        "verified_by: rae\nverified_at: '2024-11-01'\n"
    ),
}


@pytest.fixture()
def overlapping_dir(project_dir, tmp_path):
    """The two-cluster project plus a radio cluster whose streams look like music's."""
    import shutil

    root = tmp_path / "overlapping"
    shutil.copytree(project_dir, root)
    for relative, text in RADIO.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text, encoding="utf-8")
    return root


def test_near_tie_between_clusters_is_ambiguous_with_candidates(overlapping_dir):
    project = load_project(load_config(overlapping_dir))
    tie = route(project, "streams per country")
    assert tie.covered and tie.ambiguous and tie.margin < 0.1
    assert {c.id for c in tie.candidates} == {"music", "radio"}
    data = tie.to_dict()
    assert data["ambiguous"] is True and {c["team"] for c in data["candidates"]} == {"Listening Insights", "Radio Data"}
    clear = route(project, "How many users are on the premium plan?")
    assert clear.cluster.id == "music" and not clear.ambiguous and [c.id for c in clear.candidates] == ["music"]


def test_offline_ask_abstains_on_a_near_tie_and_suggests_a_cluster(overlapping_dir):
    from vedder.ask import ask

    project = load_project(load_config(overlapping_dir))
    answer = ask(project, "streams per country", log=False)
    assert answer.status == "not_covered" and answer.cluster is None and answer.sql is None
    assert {c["cluster"] for c in answer.closest} == {"music", "radio"}
    assert "Radio Data" in answer.answer and "Listening Insights" in answer.answer
    assert "--cluster" in answer.hint
    chosen = ask(project, "What are the top 2 countries by streams?", cluster_id="music", log=False)
    assert chosen.status == "answered" and chosen.cluster == "music"


def test_routing_index_is_cached_on_disk_and_rebuilt_when_a_file_changes(overlapping_dir, monkeypatch):
    import sqlite3

    from vedder.context import index as index_module

    def stored(query: str):
        connection = sqlite3.connect(cache)
        try:
            return connection.execute(query).fetchone()[0]
        finally:
            connection.close()

    route(load_project(load_config(overlapping_dir)), "streams")
    cache = cache_folder(overlapping_dir) / index_module.ROUTE_CACHE
    assert json.loads(stored("SELECT cluster_ids FROM meta")) == ["billing", "music", "radio"]

    def no_build(cluster):
        raise AssertionError("the fresh cache should have been used")

    with monkeypatch.context() as patched:
        patched.setattr(index_module, "cluster_part", no_build)
        assert route(load_project(load_config(overlapping_dir)), "premium plan").cluster.id == "music"

    pair = overlapping_dir / "clusters/billing/pairs/invoiced-amount-year.yaml"
    pair.write_text(pair.read_text().replace("invoiced amount", "invoiced zeppelin amount"), encoding="utf-8")
    assert route(load_project(load_config(overlapping_dir)), "zeppelin").cluster.id == "billing"
    assert "zeppelin" in json.loads(stored("SELECT bag FROM parts WHERE id = 'billing'"))

    cache.write_text("{not json", encoding="utf-8")
    assert route(load_project(load_config(overlapping_dir)), "zeppelin").cluster.id == "billing"
    assert "zeppelin" in json.loads(stored("SELECT bag FROM parts WHERE id = 'billing'"))


def test_cli_context_says_when_routing_is_ambiguous(overlapping_dir):
    runner = CliRunner()
    text = runner.invoke(app, ["context", "streams per country", "--project", str(overlapping_dir)])
    assert text.exit_code == 0 and "ambiguous" in text.stdout and "Radio Data" in text.stdout
    given = runner.invoke(app, ["context", "streams per country", "--cluster", "radio", "--project", str(overlapping_dir)])
    assert given.exit_code == 0 and "ambiguous" not in given.stdout
    data = json.loads(runner.invoke(app, ["context", "streams per country", "--json", "--project", str(overlapping_dir)]).stdout)
    assert data["ambiguous"] is True and {c["id"] for c in data["candidates"]} == {"music", "radio"}


@pytest.mark.parametrize("question", ["", "   ", "\n\t"])
def test_empty_questions_are_usage_errors_everywhere(project, project_dir, question):
    from vedder.errors import UsageError
    from vedder.offline import answer_offline

    cluster = project.clusters["music"]
    for call in (lambda: route(project, question), lambda: build_context(project, cluster, question),
                 lambda: answer_offline(project, cluster, question)):
        with pytest.raises(UsageError, match="the question is empty"):
            call()
    for args in (["context", question], ["context", question, "--json"], ["context", question, "--cluster", "music"]):
        result = CliRunner().invoke(app, [*args, "--project", str(project_dir)])
        assert result.exit_code == 2, result.output
        assert result.output.splitlines()[0] == "error: the question is empty" and "Traceback" not in result.output


def test_a_word_known_only_as_a_data_value_is_not_a_question():
    demo = load_project(load_config(Path(__file__).resolve().parents[1]))
    languages = [v["value"] for c in demo.clusters["podcasts"].dataset("podcasts.shows").columns
                 for v in c.common_values if c.name == "language"]
    assert "hi" in languages  # Hindi: a profiled value, and a greeting
    assert not route(demo, "hi").covered
    assert route(demo, "How many shows per language?").covered


def test_a_question_no_cluster_covers_is_answered_without_sqlglot_or_duckdb(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from vedder.ask import ask; from vedder.config import load_config; "
        "from vedder.project import load_project; "
        f"answer = ask(load_project(load_config({str(Path(__file__).resolve().parents[1])!r})), "
        "\"What's the weather in Paris tomorrow?\", log=False); "
        "assert answer.status == 'not_covered', answer; "
        "heavy = [m for m in ('sqlglot', 'duckdb', 'litellm') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_routing_index_is_rebuilt_when_a_file_is_restored_with_its_old_size_and_mtime(overlapping_dir):
    route(load_project(load_config(overlapping_dir)), "streams")
    pair = overlapping_dir / "clusters/billing/pairs/invoiced-amount-year.yaml"
    status = pair.stat()
    pair.write_text(pair.read_text().replace("invoiced", "zeppelin"), encoding="utf-8")  # as cp -p or rsync -a would
    os.utime(pair, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (pair.stat().st_size, pair.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    assert route(load_project(load_config(overlapping_dir)), "zeppelin").cluster.id == "billing"


def test_common_values_are_shown_as_sql_literals():
    """The model writes what it sees: a boolean column's values are true/false (not 'True'), numbers are bare,
    strings quoted with their quotes doubled."""
    from vedder.context.select import render_column
    from vedder.project.model import Column

    def values(*common):
        return render_column(Column("c", "X", common_values=[{"value": v, "frequency": 0.5} for v in common]))

    assert values(False, True).endswith("values: false, true")
    assert values(3, 2.5).endswith("values: 3, 2.5")
    assert values("US", "O'Brien").endswith("values: 'US', 'O''Brien'")


def test_a_question_naming_a_table_by_a_generic_word_is_covered(tmp_path):
    """README's own project (one cluster over sales.orders): "order" is generic in questions ("in ascending order"),
    so "How many paid orders are there?" named nothing the cluster is about but 'paid', a data value, and was 'No
    cluster covers this question'; a generic word that is the name of one of the cluster's tables names it."""
    files = {
        "vedder.yaml": "warehouse: {type: duckdb, path: shop.duckdb}\ndialect: duckdb\nmodel: offline\n",
        "clusters/orders/cluster.yaml": "id: orders\ntitle: Orders\ndescription: Questions answered from sales.*.\n"
                                        "owners: {team: commerce-analytics}\ndatasets: [sales.*]\n",
        "clusters/orders/datasets/sales.orders.yaml": (
            "table: sales.orders\ndescription: ''\ncolumns:\n  - {name: order_id, type: BIGINT}\n"
            "  - name: status\n    type: VARCHAR\n    common_values: [{value: paid, frequency: 0.4}, {value: pending, frequency: 0.6}]\n"),
        "clusters/orders/pairs/orders-by-status.yaml": (
            "question: How many orders are there per status?\n"
            "sql: SELECT status, COUNT(*) AS orders FROM sales.orders GROUP BY status\n"
            "verified_by: maria\nverified_at: '2026-11-20'\n"),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    shop = load_project(load_config(tmp_path))
    for question in ("How many paid orders are there?", "How many orders are paid?", "How many orders have status paid?"):
        assert route(shop, question).covered, question
    assert not route(shop, "paid?").covered  # a value alone still names nothing
    assert not route(shop, "list them in ascending order").covered


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


SHOP = {
    "vedder.yaml": "warehouse: {type: duckdb, path: shop.duckdb}\ndialect: duckdb\nmodel: offline\n",
    "clusters/market/cluster.yaml": "id: market\ntitle: Marketplace\ndescription: Orders and refunds.\n"
                                    "owners: {team: marketplace-analytics}\ndatasets: [market.*, finance.*]\n",
    "clusters/market/datasets/market.orders.yaml": (
        "table: market.orders\ndescription: One row per order.\ncolumns:\n  - {name: order_id, type: BIGINT}\n"
        "  - {name: buyer_id, type: INTEGER}\n  - {name: status_code, type: SMALLINT}\n"
        "  - {name: deleted_at, type: TIMESTAMP}\n  - {name: legacy_flag, type: BOOLEAN}\n"),
    "clusters/market/datasets/market.orders_v1.yaml": (
        "table: market.orders_v1\ndescription: Old orders.\ncolumns:\n  - {name: order_id, type: BIGINT}\n"),
    "clusters/market/datasets/finance.refunds.yaml": (
        "table: finance.refunds\ndescription: One row per refund.\ncolumns:\n  - {name: refund_id, type: BIGINT}\n"
        "  - {name: order_id, type: BIGINT}\n  - {name: amount_units, type: DOUBLE}\n"),
    "clusters/market/pairs/refund-rate.yaml": (
        "question: What was the refund rate in September 2026?\n"
        "sql: |\n  SELECT COUNT(DISTINCT r.order_id) * 1.0 / COUNT(DISTINCT o.order_id) AS refund_rate\n"
        "  FROM market.orders o LEFT JOIN finance.refunds r ON r.order_id = o.order_id\n"
        "  WHERE o.status_code = 4 AND o.deleted_at IS NULL AND o.buyer_id >= 1000\n"
        "verified_by: maria\nverified_at: '2026-11-20'\n"),
    "clusters/market/docs/orders.md": (
        "---\ntitle: Orders — what counts\napplies_to: [market.orders]\n---\n# Orders\n\n"
        "## Status codes\n\n`status_code`: 1 = placed, 4 = delivered, 9 = cancelled.\n\n"
        "## Soft deletes\n\nRows with `deleted_at` set were deleted by support: always require `deleted_at IS NULL`.\n\n"
        "## Test accounts\n\nBuyers with `buyer_id < 1000` are test accounts: always exclude them with `buyer_id >= 1000`.\n"),
    "clusters/market/docs/refunds.md": (
        "# Refunds\n\n`finance.refunds.amount_units` is in major units.\n"
        "A **refund rate** is refunded orders divided by delivered orders; refunds are counted per refund.\n"),
    "clusters/market/docs/orders-v1.md": (
        "---\ntitle: orders_v1 is deprecated\ndeprecated: [market.orders_v1]\n---\n"
        "# Do not use orders_v1\n\nNever read `market.orders_v1`; its `order_id` restarts at 1 and it has no `legacy_flag`.\n"),
}


def test_doc_rules_about_a_chosen_tables_columns_are_always_in_the_context(tmp_path):
    """A reviewer's marketplace: 'What was the refund rate?' got the refunds doc only — not which status is
    'delivered', nor the test-account and soft-delete rules a model must apply to market.orders, though 6,000
    tokens left room. Rules (always/never/must … about a column of a chosen table) now come first, and the sections
    of a doc that applies to a chosen table follow when they fit; a deprecation note of a table not chosen does not."""
    _write(tmp_path, SHOP)
    shop = load_project(load_config(tmp_path))
    context = build_context(shop, shop.clusters["market"], "What was the refund rate in October 2026?")
    assert {"finance.refunds", "market.orders"} <= set(context.tables)
    assert "market.orders_v1" not in context.tables
    for text in ("`buyer_id >= 1000`", "`deleted_at IS NULL`", "4 = delivered", "refund rate"):
        assert text in context.text, text
    docs = context.text.split("## Docs", 1)[1]
    assert docs.index("Test accounts") < docs.index("Refunds")  # rules first
    assert "orders_v1" not in docs
    assert context.tokens <= 6000


def test_a_section_with_a_rule_word_but_no_column_of_the_chosen_tables_is_not_a_rule(tmp_path):
    _write(tmp_path, {name: text for name, text in SHOP.items() if "/pairs/" not in name})
    shop = load_project(load_config(tmp_path))
    context = build_context(shop, shop.clusters["market"], "Which refund ids had amount_units above 500?")
    assert context.tables == ["finance.refunds"]  # so market.orders' rules and its doc's sections stay out
    assert "Refunds" in context.text
    assert "buyer_id >= 1000" not in context.text and "4 = delivered" not in context.text
    assert "orders_v1" not in context.text
