"""vedder propose: the funnel, fingerprints, questions, proposal files and the pull request."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation_project import make_project, run, write_history
from fake_github import FakeGitHub
from vedder.cli import app
from vedder.config import load_config
from vedder.curation.describe import Vocabulary, describe
from vedder.curation.history import read_history
from vedder.curation.propose import Miner, propose
from vedder.files import load_yaml
from vedder.project import load_project
from vedder.sql.fingerprint import fingerprint

runner = CliRunner()

SAME_PATTERN = [
    [
        "SELECT country, COUNT(*) AS streams FROM events WHERE user_id >= 100 AND event_date >= DATE '2026-01-01' GROUP BY country ORDER BY streams DESC LIMIT 5",
        "select e.Country, count(*) as n from events as e where e.event_date >= date '2025-06-01' and e.user_id >= 7 group by 1 order by 2 desc limit 10",
        'SELECT "country", COUNT(*) FROM events WHERE user_id >= 100 AND event_date >= DATE \'2026-01-01\' GROUP BY "country" ORDER BY COUNT(*) DESC LIMIT 3',
    ],
    [
        "select plan from users where plan in ('a', 'b', 'c')",
        "SELECT u.plan AS p FROM users u WHERE u.plan IN ('z')",
    ],
    [
        "select count(*) from events where event_date >= current_date - interval 7 day",
        "select count(*) from events where event_date >= current_date - interval '30 days'",
    ],
    [  # people write a join INNER or not, its equality either way round, its conditions in any order
        "SELECT s.tier, SUM(o.total_cents) FROM orders o JOIN sellers s ON s.seller_id = o.seller_id AND s.region = o.region WHERE o.status <> 9 GROUP BY s.tier",
        "SELECT sellers.tier, SUM(orders.total_cents) FROM orders AS orders INNER JOIN sellers AS sellers ON orders.region = sellers.region AND orders.seller_id = sellers.seller_id WHERE 9 <> orders.status GROUP BY 1",
    ],
]
DIFFERENT_PATTERNS = [
    "select country, count(*) from events group by country",
    "select country, count(distinct user_id) from events group by country",
    "select country, count(*) from events where user_id >= 100 group by country",
    "select plan, count(*) from users group by plan",
    "select country, count(*) from events group by country order by 2 desc",
    "select e.country, count(*) from events e left join users u on u.user_id = e.user_id group by e.country",
    "select e.country, count(*) from events e join users u on u.user_id = e.user_id group by e.country",
    "select country, count(*) from events where user_id - 100 >= event_id group by country",
    "select country, count(*) from events where event_id - 100 >= user_id group by country",
]


@pytest.mark.parametrize("variants", SAME_PATTERN)
def test_near_duplicates_share_a_fingerprint(variants):
    assert len({fingerprint(sql, default_schema="listening") for sql in variants}) == 1


def test_different_patterns_have_different_fingerprints():
    assert len({fingerprint(sql, default_schema="listening") for sql in DIFFERENT_PATTERNS}) == len(DIFFERENT_PATTERNS)


DESCRIBE_CASES = Path(__file__).parent / "fixtures" / "describe"
REPO = Path(__file__).resolve().parents[1]


def golden_cases(path: Path) -> list[tuple[str, str]]:
    """(sql, expected question) for each blank-line separated case of a golden file; ``#`` lines are comments."""
    cases = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
        if lines:
            expected = [line[1:].strip() for line in lines if line.startswith("→")]
            assert len(expected) == 1, f"{path.name}: a case needs one → line: {block!r}"
            cases.append(("\n".join(line for line in lines if not line.startswith("→")), expected[0]))
    return cases


@pytest.fixture(scope="module")
def demo_project():
    return load_project(load_config(REPO))


SHOP = Path(__file__).parent / "fixtures" / "shop"


def vocabulary_for(name: str, project) -> Vocabulary | None:
    """The golden file ``<cluster>.txt`` speaks the demo cluster's vocabulary, or the reviewer's marketplace
    project's (tests/fixtures/shop) for its clusters; ``none.txt`` none."""
    if name == "none":
        return None
    if name not in project.clusters:
        project = load_project(load_config(SHOP))
    return Vocabulary.of(project.clusters[name])


@pytest.mark.parametrize("path", sorted(DESCRIBE_CASES.glob("*.txt")), ids=lambda p: p.stem)
def test_offline_questions_match_the_golden_files(path: Path, demo_project):
    vocabulary = vocabulary_for(path.stem, demo_project)
    cases = golden_cases(path)
    assert cases
    mismatches = [(sql, expected, describe(sql, vocabulary=vocabulary)) for sql, expected in cases
                  if describe(sql, vocabulary=vocabulary) != expected]
    assert not mismatches, "\n\n".join(f"{sql}\n  expected: {want}\n  got:      {got}" for sql, want, got in mismatches)


def test_golden_files_cover_every_real_pattern_of_the_demo_history(demo_project):
    truth = json.loads((REPO / "history" / "patterns.json").read_text())
    missing = []
    for pattern in truth["patterns"]:
        cluster = demo_project.clusters[pattern["cluster"]]
        miner = Miner(cluster)
        covered = {miner.classify(sql).fingerprint for sql, _ in golden_cases(DESCRIBE_CASES / f"{cluster.id}.txt")}
        if miner.classify(pattern["example_sql"]).fingerprint not in covered:
            missing.append(pattern["id"])
    assert not missing


def test_questions_never_show_table_aliases_or_repeat_words(demo_project):
    """Every query of the demo history the miner keeps gets a question free of alias.column and of
    'number of … count' doubles."""
    rows = [json.loads(line) for line in (REPO / "history" / "queries.jsonl").read_text().splitlines()]
    checked = 0
    for cluster in demo_project.clusters.values():
        miner, vocabulary = Miner(cluster), Vocabulary.of(cluster)
        for row in rows:
            if row["status"] == "success" and not miner.classify(row["query"]).reason:
                question = describe(row["query"], vocabulary=vocabulary).split(" Note: ")[0]  # notes name columns
                words = question.lower().rstrip("?").replace(",", "").split()
                assert not [w for w in words if "." in w and not w.replace(".", "").isdigit()], question
                assert not {"count", "cnt"} & set(words) and "number of number" not in question.lower(), question
                assert not any(a == b for a, b in zip(words, words[1:])), question
                checked += 1
    assert checked > 150


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def test_funnel_counts_every_drop_reason(project_dir: Path):
    project = load_project(load_config(project_dir))
    result = propose(project, "listening", read_history(project_dir.parent / "history.jsonl"))
    funnel = result.funnel
    assert (funnel.queries, funnel.parsed, funnel.in_cluster, funnel.patterns, funnel.proposed) == (24, 21, 12, 4, 2)
    assert funnel.dropped == {"failed": 1, "unrelated": 1, "unparsable": 1, "not_read": 1, "exploration": 3, "debugging": 2,
                              "deprecated": 1, "outside_cluster": 1, "schema": 1, "too_rare": 1, "already_vetted": 1}
    first, second = result.proposals
    assert first.question == "How many streams per country in the last 7 days, excluding test accounts?"
    assert first.provenance == {
        "runs": 4, "users": 3, "first_seen": "2026-10-01T09:00:00", "last_seen": "2026-10-04T09:00:00",
        "variants": [
            "select e.country, count(*) n from listening.events e where e.user_id >= 100 and e.event_date >= current_date - interval 30 day group by 1",
            "select country, count(*) from events where user_id >= 100 and event_date >= current_date - interval '14 days' group by country",
        ],
    }
    assert first.score > second.score
    assert second.question == "How many users per plan with plan premium or family, excluding test accounts?"
    assert (second.provenance["runs"], second.provenance["users"]) == (3, 2)


def test_limit_and_min_users(project_dir: Path):
    project = load_project(load_config(project_dir))
    history = read_history(project_dir.parent / "history.jsonl")
    limited = propose(project, "listening", history, limit=1)
    assert limited.funnel.proposed == 1 and limited.funnel.dropped["over_limit"] == 1
    everyone = propose(project, "listening", history, min_users=1, min_runs=2)
    assert everyone.funnel.proposed == 3 and "too_rare" not in everyone.funnel.dropped


def test_csv_history_and_history_sql_give_the_same_funnel(project_dir: Path, tmp_path: Path):
    project = load_project(load_config(project_dir))
    jsonl = propose(project, "listening", read_history(project_dir.parent / "history.jsonl")).funnel.to_dict()
    csv_path = tmp_path / "history.csv"
    lines = [json.loads(line) for line in (project_dir.parent / "history.jsonl").read_text().splitlines()]
    import csv

    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["query", "user", "started_at", "status", "error"])
        writer.writeheader()
        writer.writerows(lines)
    assert propose(project, "listening", read_history(csv_path)).funnel.to_dict() == jsonl
    result = runner.invoke(app, ["propose", "listening", "--history-sql", "SELECT * FROM ops.query_history",
                                 "--no-pr", "--json", "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    from_sql = json.loads(result.output)["funnel"]
    # The table has no error column: the failed run is still known by its status.
    assert from_sql == jsonl


def test_bad_history_is_a_one_line_error(project_dir: Path, tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "select 1", "user": "a"}\nnot json\n')
    result = runner.invoke(app, ["propose", "listening", "--history", str(bad), "--project", str(project_dir)])
    assert result.exit_code == 2
    assert f"error: {bad}:2: not JSON" in result.output
    missing = runner.invoke(app, ["propose", "listening", "--project", str(project_dir)])
    assert missing.exit_code == 2 and "give exactly one of --history FILE or --history-sql SQL" in missing.output
    unknown = runner.invoke(app, ["propose", "nope", "--history", str(bad), "--project", str(project_dir)])
    assert unknown.exit_code == 2 and "unknown cluster 'nope'" in unknown.output


def test_no_pr_writes_proposals_and_rerun_keeps_edited_questions(project_dir: Path):
    history = str(project_dir.parent / "history.jsonl")
    result = runner.invoke(app, ["propose", "listening", "--history", history, "--no-pr", "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    assert "queries           24" in result.output and "proposed           2" in result.output
    files = sorted((project_dir / "clusters/listening/proposals").glob("*.yaml"))
    assert len(files) == 2
    text = files[0].read_text()
    assert text.startswith("# yaml-language-server: $schema=../../../schemas/proposal.schema.json\n")
    data = load_yaml(files[0]).data
    assert data["id"] == files[0].stem and len(data["fingerprint"]) == 16
    files[0].write_text(text.replace(data["question"], "Edited question"))
    again = runner.invoke(app, ["propose", "listening", "--history", history, "--no-pr", "--json", "--project", str(project_dir)])
    report = json.loads(again.output)
    assert [p["updated"] for p in report["proposals"]] == [True, True]
    assert load_yaml(files[0]).data["question"] == "Edited question"
    assert len(list((project_dir / "clusters/listening/proposals").glob("*.yaml"))) == 2


def test_propose_opens_a_pull_request_and_leaves_the_working_tree_clean(project_dir: Path, monkeypatch):
    history = str(project_dir.parent / "history.jsonl")
    with FakeGitHub() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/warehouse")
        result = runner.invoke(app, ["propose", "listening", "--history", history, "--project", str(project_dir)])
    assert result.exit_code == 0, result.output
    assert "pull request: https://github.test/acme/warehouse/pull/1" in result.output
    [pull] = github.pulls()
    assert pull["title"] == "vedder propose: 2 proposals for listening"
    assert pull["head"].startswith("vedder/propose/listening-") and pull["base"] == "main"
    assert "queries           24" in pull["body"] and "How many streams per country in the last 7 days" in pull["body"]
    assert github.reviewer_requests() == [{"reviewers": ["ana", "bo"]}]
    files = run("ls-tree", "-r", "--name-only", pull["head"], "clusters/listening/proposals", cwd=project_dir.parent / "origin.git").splitlines()
    assert len(files) == 2
    assert run("status", "--porcelain", cwd=project_dir) == ""
    assert not (project_dir / "clusters/listening/proposals").exists()


def test_rejected_fingerprints_are_not_proposed_again(project_dir: Path):
    project = load_project(load_config(project_dir))
    history = read_history(project_dir.parent / "history.jsonl")
    first = propose(project, "listening", history).proposals[0]
    rejected = project_dir / "clusters/listening/proposals/rejected.yaml"
    rejected.parent.mkdir(parents=True)
    rejected.write_text(f"- fingerprint: {first.fingerprint}\n  reason: counts test traffic\n")
    result = propose(project, "listening", history)
    assert result.funnel.dropped["rejected"] == 1
    assert first.fingerprint not in {p.fingerprint for p in result.proposals}


def test_offline_propose_never_imports_litellm(project_dir: Path):
    code = (
        "import sys; from typer.testing import CliRunner; from vedder.cli import app; "
        f"r = CliRunner().invoke(app, ['propose', 'listening', '--history', {str(project_dir.parent / 'history.jsonl')!r}, '--no-pr', "
        f"'--project', {str(project_dir)!r}]); assert r.exit_code == 0, r.output; print('litellm' in sys.modules)"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"


def test_history_rows_on_deprecated_tables_are_dropped_even_with_aliases(project_dir: Path, tmp_path: Path):
    history = write_history(tmp_path / "h.jsonl", [
        ("select p.country, count(*) from listening.plays_legacy p group by 1", "ana", "success"),
        ("select country, count(*) from plays_legacy group by 1", "bo", "success"),
    ])
    project = load_project(load_config(project_dir))
    assert propose(project, "listening", read_history(history)).funnel.dropped == {"deprecated": 2}


DEMO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(not (DEMO_ROOT / "clusters" / "listening" / "cluster.yaml").exists(), reason="needs the demo clusters")
def test_shared_shapes_and_alias_blind_grouping_never_change_a_verdict(monkeypatch):
    """Each query shape judged on its own (a fresh miner, its own parse and qualify) gets the verdict the
    miner gave it while sharing parses between clusters and fingerprints between alias variants."""
    from vedder.curation.history import entry_from_mapping
    from vedder.curation.propose import Miner, QueryShapes
    from vedder.warehouse.demo import generate_history

    rows, _ = generate_history(1500, seed=7)
    queries = sorted({entry_from_mapping(row).query for row in rows})
    project = load_project(load_config(DEMO_ROOT))
    shapes = QueryShapes(project.config.dialect)
    fingerprinted = []
    fingerprint = Miner._fingerprint
    monkeypatch.setattr(Miner, "_fingerprint", lambda self, tree, tables: fingerprinted.append(1) or fingerprint(self, tree, tables))
    verdicts = {}
    for cluster in project.clusters.values():
        miner = Miner(cluster, project.config.dialect, shapes)
        verdicts[cluster.id] = {sql: miner.classify(sql) for sql in queries}
    in_cluster = sum(1 for each in verdicts.values() for verdict in each.values() if verdict.reason is None)
    assert 0 < len(fingerprinted) < in_cluster * 0.8
    for cluster in project.clusters.values():
        for sql, verdict in verdicts[cluster.id].items():
            assert Miner(cluster, project.config.dialect).classify(sql) == verdict, sql


@pytest.mark.parametrize(
    "datasets, words",
    [
        (["listening.events", "listening.users"], {"events", "users", "plays_legacy"}),
        (["listening.events", "ops.*"], {"events", "ops", "plays_legacy"}),
        (["listening.*"], None),
        (["*.events"], {"events", "plays_legacy"}),
    ],
)
def test_table_words_decide_which_queries_need_no_parse(project_dir: Path, datasets, words):
    from vedder.curation.propose import table_words

    cluster = load_project(load_config(project_dir)).cluster("listening")
    cluster.datasets = datasets
    assert table_words(cluster) == (frozenset(words) if words is not None else None)


def test_questions_from_the_configured_model(project_dir: Path):
    """With a model configured, litellm (for real) names each pattern's question; a failing model is a one-line error."""
    from fake_openai import FakeOpenAI

    history = str(project_dir.parent / "history.jsonl")
    with FakeOpenAI() as server:
        config = project_dir / "vedder.yaml"
        config.write_text(config.read_text().replace("model: offline", "model: openai/x")
                          + f"model_options: {{api_base: '{server.url}', api_key: dummy, num_retries: 0, timeout: 10}}\n")
        server.enqueue_text('"How many streams did each country have in the last week?"\nThis counts streams…')
        server.enqueue_text("How many users are on each plan?")
        result = runner.invoke(app, ["propose", "listening", "--history", history, "--no-pr", "--json", "--project", str(project_dir)])
        assert result.exit_code == 0, result.output
        questions = [p["question"] for p in json.loads(result.output)["proposals"]]
        assert questions == ["How many streams did each country have in the last week?", "How many users are on each plan?"]
        first = server.requests[0]
        assert first["model"] == "x"
        prompt = first["messages"][-1]["content"]
        assert "Domain: Listening. Streams and listeners" in prompt and "listening.events" in prompt
        assert "group by country" in prompt.lower()

        for path in (project_dir / "clusters/listening/proposals").glob("*.yaml"):
            path.unlink()
        server.enqueue_error(401, "invalid api key")
        failed = runner.invoke(app, ["propose", "listening", "--history", history, "--no-pr", "--project", str(project_dir)])
    assert failed.exit_code == 5 and "error: model openai/x: authentication failed" in failed.output and "Traceback" not in failed.output
    assert not list((project_dir / "clusters/listening/proposals").glob("*.yaml"))


def test_history_sql_cannot_read_another_clusters_tables(project_dir: Path):
    other = project_dir / "clusters" / "ops"
    other.mkdir()
    (other / "cluster.yaml").write_text("id: ops\ntitle: Ops\nowners: {team: platform}\ndatasets: [ops.*]\n")
    result = runner.invoke(app, ["propose", "listening", "--history-sql", "SELECT * FROM ops.query_history",
                                 "--no-pr", "--project", str(project_dir)])
    assert result.exit_code == 4
    assert "table_not_allowed" in result.output and "Traceback" not in result.output


NEW_PATTERN = [("select country, count(distinct user_id) from events where user_id >= 100 group by country", user, "success")
               for user in ("ana", "bo", "cy")]


def test_second_run_skips_what_an_open_pull_request_proposes(project_dir: Path, monkeypatch):
    """Run twice: the second run reads the open branch on origin (git, not the API) and opens no `…-2` twin;
    a new pattern later goes out alone."""
    history = project_dir.parent / "history.jsonl"
    origin = project_dir.parent / "origin.git"
    args = ["propose", "listening", "--history", str(history), "--project", str(project_dir)]
    with FakeGitHub() as github:
        monkeypatch.setenv("GITHUB_API_URL", github.url)
        monkeypatch.setenv("GITHUB_TOKEN", "t")
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/warehouse")
        first = runner.invoke(app, args)
        assert first.exit_code == 0, first.output
        [branch] = run("for-each-ref", "--format=%(refname:short)", "refs/heads/vedder", cwd=origin).splitlines()
        run("update-ref", "-d", f"refs/remotes/origin/{branch}", cwd=project_dir)  # as a colleague's clone sees it: fetched
        second = runner.invoke(app, args)
        assert second.exit_code == 0, second.output
        assert f"−      2  already proposed in branch {branch}" in second.output, second.output
        assert "nothing new to propose" in second.output and "pull request" not in second.output
        assert len(github.pulls()) == 1
        write_history(history, [*read_rows(history), *NEW_PATTERN])
        third = runner.invoke(app, [*args, "--json"])
        assert third.exit_code == 0, third.output
        report = json.loads(third.output)
    assert report["funnel"]["open_branches"] == {branch: 2} and report["funnel"]["proposed"] == 1
    assert len(github.pulls()) == 2 and report["pull_request"]["branch"] == f"{branch}-2"
    files = run("diff", "--name-only", f"main...{branch}-2", cwd=origin).splitlines()
    assert files == [f"clusters/listening/proposals/{report['proposals'][0]['id']}.yaml"]


def test_a_merged_proposal_branch_no_longer_holds_proposals_back(project_dir: Path, monkeypatch):
    history = project_dir.parent / "history.jsonl"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no gh: the branch is pushed and the command printed
    first = runner.invoke(app, ["propose", "listening", "--history", str(history), "--project", str(project_dir)])
    assert first.exit_code == 0, first.output
    [branch] = run("for-each-ref", "--format=%(refname:short)", "refs/remotes/origin/vedder", cwd=project_dir).splitlines()
    run("merge", "--quiet", "--ff-only", branch, cwd=project_dir)
    project = load_project(load_config(project_dir))
    result = propose(project, "listening", read_history(history))
    assert result.funnel.open_branches == {} and len(result.proposals) == 2
    assert result.changes == {}  # the merged files say the same: nothing to put in a pull request


def read_rows(path: Path) -> list[tuple[str, str, str]]:
    return [(row["query"], row["user"], row["status"]) for row in map(json.loads, path.read_text().splitlines())]


@pytest.mark.parametrize(("sql", "dialect", "said"), [
    ("SELECT count(*) AS invoices FROM b.invoices WHERE issued_at >= '2026-02-01' AND issued_at < '2026-02-01'::date + interval '1 month'",
     "postgres", "in February 2026"),
    ("SELECT count(*) AS invoices FROM b.invoices WHERE issued_at >= DATE '2026-01-01' AND issued_at < DATE '2026-01-01' + INTERVAL 1 YEAR",
     "duckdb", "in 2026"),
    ("SELECT count(*) AS invoices FROM b.invoices WHERE issued_at >= DATE '2026-01-01' AND issued_at < DATE '2026-01-01' + INTERVAL '7 days'",
     "duckdb", "between 2026-01-01 and 2026-01-07"),
    ("SELECT count(*) AS invoices FROM b.invoices WHERE issued_at >= DATE '2026-01-31' AND issued_at < DATE '2026-01-31' + INTERVAL '1 month'",
     "duckdb", "since 2026-01-31"),  # the end of a month plus a month: the engines clamp; not folded, not a wrong month
])
def test_a_range_written_with_date_arithmetic_keeps_its_end(sql, dialect, said):
    """'< DATE x + INTERVAL 1 month' is the upper bound, not something to drop ('since 2026-02-01' was wrong)."""
    assert said in describe(sql, dialect)


def entries(*runs: tuple[str, str]) -> list:
    from vedder.curation.history import entry_from_mapping

    return [entry_from_mapping({"query": sql, "user": user, "started_at": f"2026-11-{10 + i:02d}T10:00:00"}) for i, (user, sql) in enumerate(runs)]


def test_one_question_written_in_several_ways_is_one_proposal():
    """A typed date literal or a plain string, `NOT flag` or `flag = FALSE`, a LIMIT that cuts nothing (100 rows
    of four seller countries), a comment on top and a semicolon: one question, one proposal, shown without
    the comment, the semicolon or the cap (the reviewer's marketplace: one question came out as four)."""
    project = load_project(load_config(SHOP))
    base = ("SELECT s.country_code, COUNT(*) AS completed_orders FROM market.orders o JOIN market.sellers s ON o.seller_id = s.seller_id "
            "WHERE o.status_code = 4 AND o.deleted_at IS NULL AND o.buyer_id >= 1000 AND {internal} "
            "AND o.placed_at_utc >= {start} AND o.placed_at_utc < {end} GROUP BY 1 ORDER BY completed_orders DESC")
    history = entries(
        ("anna", "-- completed orders per seller country\n" + base.format(internal="NOT s.is_internal", start="'2026-10-01'", end="'2026-11-01'") + ";"),
        ("anna", "-- completed orders per seller country\n" + base.format(internal="NOT s.is_internal", start="'2026-09-01'", end="'2026-10-01'") + ";"),
        ("johan", base.format(internal="s.is_internal = FALSE", start="TIMESTAMP '2026-10-01 00:00:00'", end="TIMESTAMP '2026-11-01 00:00:00'")),
        ("hana", base.format(internal="s.is_internal = false", start="DATE '2026-10-26'", end="DATE '2026-11-02'") + " LIMIT 100"),
    )
    result = propose(project, "marketplace", history, skip_open_branches=False)
    assert len(result.proposals) == 1
    proposal = result.proposals[0]
    assert (proposal.provenance["users"], proposal.provenance["runs"]) == (3, 4)
    assert proposal.sql.startswith("SELECT s.country_code") and not proposal.sql.rstrip().endswith((";", "LIMIT 100"))
    assert "100" not in proposal.question and "October 2026" in proposal.question


def test_a_limit_that_cuts_groups_is_part_of_the_question():
    project = load_project(load_config(SHOP))
    top = "SELECT l.category, SUM(i.quantity) AS units FROM market.order_items i JOIN market.listings l ON l.listing_id = i.listing_id GROUP BY 1 ORDER BY units DESC LIMIT {n}"
    history = entries(("anna", top.format(n=3)), ("li", top.format(n=3)), ("omar", top.format(n=10)), ("ines", top.format(n=10)))
    result = propose(project, "marketplace", history, skip_open_branches=False, min_runs=2)
    assert sorted(p.question for p in result.proposals) == ["What are the units per category?", "Which 3 categories had the highest units?"]


def test_a_lookup_by_a_column_whose_every_value_is_one_row_is_exploration():
    """shop_name is unique (2,000 of 2,000 sellers): looking a shop up is no question, however many people
    did it (it was the reviewer's first proposal, 12 people, 62 runs)."""
    project = load_project(load_config(SHOP))
    history = entries(*[(user, f"SELECT * FROM market.sellers WHERE shop_name = 'Shop {n}'") for n, user in enumerate(["anna", "li", "omar", "ines"])])
    history += entries(("anna", "SELECT tier, COUNT(*) AS sellers FROM market.sellers WHERE country_code = 'SE' GROUP BY tier"),
                       ("li", "SELECT tier, COUNT(*) AS sellers FROM market.sellers WHERE country_code = 'FI' GROUP BY tier"))
    result = propose(project, "marketplace", history, skip_open_branches=False, min_runs=2)
    assert result.funnel.dropped["exploration"] == 4
    assert [p.question for p in result.proposals] == ["How many sellers per tier in SE?"]


def old_fingerprints(monkeypatch) -> None:
    """Fingerprints as an older vedder computed them: other hashes of the same queries."""
    from vedder.curation import propose as module

    today = module.fingerprint_of
    monkeypatch.setattr(module, "fingerprint_of", lambda tree, dialect: "01d" + today(tree, dialect)[3:])


def test_decisions_taken_under_old_fingerprints_still_hold(project_dir: Path, monkeypatch):
    """A rejection, a decision in a review whose pull request is open, and the proposals of an unmerged propose
    branch, all taken when queries fingerprinted otherwise: propose with today's code brings none back (they
    are matched by fingerprinting their stored SQL again), and the proposal left in the working tree is updated,
    not proposed a second time under another id."""
    from vedder.curation.pull_request import write_changes
    from vedder.curation.review import ReviewState, pending, reject
    from vedder.project.model import load_proposals

    history = project_dir.parent / "history.jsonl"
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no gh: the propose branch is pushed, the command printed
    with monkeypatch.context() as older:
        old_fingerprints(older)
        pushed = runner.invoke(app, ["propose", "listening", "--history", str(history), "--project", str(project_dir)])
        assert pushed.exit_code == 0, pushed.output
        project = load_project(load_config(project_dir))
        write_changes(project_dir, propose(project, "listening", read_history(history), skip_open_branches=False).changes)
        cluster = project.cluster("listening")
        first, second = sorted(load_proposals(cluster), key=lambda p: p.id)
        assert first.fingerprint.startswith("01d") and second.fingerprint.startswith("01d")
        reject(project, cluster, first, "counts test traffic")
        state = ReviewState.load(project, cluster)
        reject(project, cluster, second, "not a question", state=state)

    project = load_project(load_config(project_dir))
    cluster = project.cluster("listening")
    assert pending(project, cluster, ReviewState.load(project, cluster)) == []
    result = propose(project, "listening", read_history(history))
    assert result.proposals == [] and result.funnel.dropped["rejected"] == 1 and result.funnel.dropped["in_review"] == 1
    (project_dir / ".vedder/review/listening.json").unlink()  # the review's pull request was closed unmerged
    result = propose(project, "listening", read_history(history))
    assert result.proposals == [] and sum(result.funnel.open_branches.values()) == 1  # still in the propose branch
    result = propose(project, "listening", read_history(history), skip_open_branches=False)
    assert [(p.id, p.updated) for p in result.proposals] == [(second.id, True)]
    assert not result.proposals[0].fingerprint.startswith("01d")


@pytest.mark.parametrize(("prose", "retired"), [
    ("`market.orders_v1` is the orders table from before the migration. It is obsolete: it stops at 2025-06-30.\n"
     "Don't use it — use `market.orders`.", {"market.orders_v1"}),
    ("Do not use `orders_v1`; use `market.orders` instead.", {"market.orders_v1"}),
    ("`market.orders` replaced `market.orders_v1`, which is deprecated.", {"market.orders_v1"}),
    ("`market.orders_v1` was replaced by `market.orders`.", {"market.orders_v1"}),
    ("Use `market.orders` for orders; `market.buyers` for buyers.", set()),
    ("`market.buyers` holds one row per buyer; their `country_code` is no longer updated after signup.", set()),
    # What the word stands before is what it is said of, not the table named earlier in the sentence.
    ("GMV comes from `market.orders`, not from the deprecated `market.orders_v1`.", {"market.orders_v1"}),
    ("Read `market.orders` and never the obsolete `orders_v1` table.", {"market.orders_v1"}),
    ("Read `market.orders` and do not use the `orders_v1` table.", {"market.orders_v1"}),
    ("`market.buyers` has a deprecated `signup_source` column.", set()),
    ("`market.orders` is not deprecated, and `market.buyers` is non-obsolete.", set()),
    # A sentence about a column retires the column, not the table it belongs to.
    ("The `status` column of `market.orders` is deprecated: use `status_code`.", set()),
    ("In `market.orders`, the `status` field is obsolete.", set()),
    ("The `market.orders_v1` table is deprecated, and so is the `status` column of `market.orders`.", {"market.orders_v1"}),
])
def test_a_table_the_docs_retire_in_prose(prose: str, retired: set[str]):
    """Read from a paragraph, not from a front matter list: the table the sentence names, or the paragraph's
    subject when the sentence says 'It' — never the one it says to use instead."""
    from types import SimpleNamespace

    from vedder.curation.gotchas import retired_tables

    cluster = SimpleNamespace(docs=[SimpleNamespace(body=prose)],
                              dataset_files={name: None for name in ("market.orders", "market.orders_v1", "market.buyers")})
    assert retired_tables(cluster) == retired


def test_queries_on_a_table_the_docs_call_obsolete_are_held_back(tmp_path: Path, demo_project):
    """The reviewer's docs say in prose that market.orders_v1 is obsolete; its queries (two people, nine runs in
    the marketplace history) were proposed. The demo's clusters retire only what their front matter does."""
    import shutil

    from vedder.curation.gotchas import retired_tables

    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns("*.jsonl", "score.py"))
    market = root / "clusters" / "marketplace"
    (market / "datasets" / "market.orders_v1.yaml").write_text(
        "table: market.orders_v1\ncolumns:\n- {name: created_at, type: TIMESTAMP}\n- {name: total, type: DOUBLE}\n- {name: status, type: VARCHAR}\n")
    with open(market / "docs" / "orders.md", "a", encoding="utf-8") as doc:
        doc.write("\n## The old orders table\n\n`market.orders_v1` is the orders table from before the July 2025 migration. It is "
                  "obsolete: it stops at\n2025-06-30. Don't use it — use `market.orders`.\n")
    project = load_project(load_config(root))
    old = "SELECT date_trunc('month', created_at) AS month, SUM(total) AS gmv FROM market.orders_v1 WHERE status <> 'cancelled' AND created_at >= '{}' GROUP BY 1"
    history = entries(("maria", old.format("2025-01-01")), ("carla", old.format("2025-03-01")), ("maria", old.format("2025-01-01")))
    result = propose(project, "marketplace", history, skip_open_branches=False)
    assert result.proposals == [] and result.funnel.dropped == {"deprecated": 3}
    assert {cluster.id: retired_tables(cluster) for cluster in demo_project.clusters.values()} == {
        "listening": {"listening.plays_legacy"}, "podcasts": set(), "revenue": set()}


def test_two_people_running_a_query_once_each_is_no_pattern(project_dir: Path, tmp_path: Path):
    """7 of the marketplace's 27 proposals were ad-hoc queries two people happened to write alike, once each
    (2 runs); every real question there ran 4 times or more. A third run makes a pattern; --min-runs 2 restores
    the old bar."""
    once_each = [("select plan, count(*) from users where user_id >= 100 and plan = 'x' group by plan", user, "success") for user in ("ana", "bo")]
    history = write_history(tmp_path / "h.jsonl", once_each)
    args = ["propose", "listening", "--history", str(history), "--no-pr", "--json", "--project", str(project_dir)]
    assert json.loads(runner.invoke(app, args).output)["funnel"]["dropped"] == {"too_rare": 1}
    assert json.loads(runner.invoke(app, [*args, "--min-runs", "2"]).output)["funnel"]["proposed"] == 1
    write_history(history, [*once_each, once_each[0]])
    assert json.loads(runner.invoke(app, args).output)["funnel"]["proposed"] == 1


def test_a_long_line_of_a_query_written_over_lines_is_laid_out():
    """A query over lines with a 200-character WHERE line was shown as written; a CTE keeps its own lines."""
    from vedder.curation.propose import laid_out

    where = "WHERE o.status_code = 4 AND o.deleted_at IS NULL AND o.buyer_id >= 1000 AND s.is_internal = FALSE AND o.placed_at_utc >= '2026-10-01' AND o.placed_at_utc < '2026-11-01'"
    sql = f"SELECT s.country_code, COUNT(*) AS completed_orders\nFROM market.orders o\nJOIN market.sellers s ON o.seller_id = s.seller_id\n{where}\nGROUP BY 1"
    shown = laid_out(sql, "duckdb")
    assert max(len(line) for line in shown.splitlines()) <= 80 and shown.splitlines()[3:5] == ["WHERE o.status_code = 4", "  AND o.deleted_at IS NULL"]
    assert shown.split() == sql.split()
    cte = f"WITH delivered AS (\n  SELECT o.month, COUNT(*) AS delivered FROM market.orders o JOIN market.sellers s ON o.seller_id = s.seller_id {where}\n  GROUP BY 1\n)\nSELECT month, delivered FROM delivered"
    assert laid_out(cte, "duckdb") == cte
