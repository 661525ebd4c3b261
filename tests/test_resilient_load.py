"""One team's broken cluster file leaves that cluster out of answering, named, instead of stopping every team.

The demo copy's podcasts cluster gets a broken pair; listening and revenue keep answering. ``vedder validate`` and
``vedder health`` (the CI gates) still fail on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from typer.testing import CliRunner

from demo_project import copy_demo
from test_mcp import mcp_client, payload
from vedder.cli import app
from vedder.config import load_config
from vedder.errors import ProjectFileError
from vedder.project import load_project

ANSWERED = "How many streams did each country have in October 2026?"  # a vetted listening pair
PODCAST_QUESTION = "What is the completion rate of podcast episodes by category?"
BROKEN = "clusters/podcasts/pairs/listens-per-category.yaml"
TWICE = "question: How many listens per category?\nsql: SELECT 1\nquestion: again\n"
WARNING = f"warning: cluster podcasts skipped: {BROKEN}:3:1: invalid YAML: key 'question' appears twice (also on line 1)"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("resilient-demo"), scale=0.02)


@pytest.fixture
def broken(demo: Path) -> Path:
    """The demo with one podcasts pair written with a key twice; restored afterwards."""
    path = demo / BROKEN
    original = path.read_text()
    path.write_text(TWICE)
    yield demo
    path.write_text(original)


def run(root: Path, *args: str, input: str | None = None):
    return CliRunner().invoke(app, [*args, "--project", str(root)], input=input)


def test_ask_on_another_cluster_answers_and_warns_once(broken):
    result = run(broken, "ask", ANSWERED)
    assert result.exit_code == 0, result.output
    assert "answered" in result.stdout and "cluster listening" in result.stdout
    assert result.stderr.count("warning: cluster podcasts skipped") == 1 and WARNING in result.stderr
    assert "hint: `vedder validate`" in result.stderr and "Traceback" not in result.output


def test_ask_json_carries_the_warning_and_a_routed_nowhere_answer_names_the_skipped_cluster(broken):
    answered = json.loads(run(broken, "ask", ANSWERED, "--json").stdout)
    assert answered["status"] == "answered" and answered["cluster"] == "listening"
    assert answered["warnings"] == [{"cluster": "podcasts", "team": "Podcast Analytics", "file": BROKEN,
                                     "message": WARNING.removeprefix("warning: ")}]
    nowhere = json.loads(run(broken, "ask", PODCAST_QUESTION, "--json").stdout)
    assert nowhere["status"] == "not_covered"
    assert "Clusters not loaded" in nowhere["answer"] and "podcasts (owned by Podcast Analytics)" in nowhere["answer"]


def test_a_question_routed_to_another_cluster_and_not_covered_there_names_the_skipped_one(broken):
    """"How many podcast listens per category …?" routes to listening while podcasts is left out; the
    not-covered answer still says podcasts was not loaded."""
    elsewhere = json.loads(run(broken, "ask", "How many podcast listens did each category get in October 2026?", "--json").stdout)
    assert elsewhere["status"] == "not_covered", elsewhere
    assert "podcasts (owned by Podcast Analytics)" in elsewhere["answer"] and "Clusters not loaded" in elsewhere["answer"]


def test_the_answer_schema_accepts_warnings(broken):
    import jsonschema

    schema = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "answer.schema.json").read_text())
    jsonschema.validate(json.loads(run(broken, "ask", ANSWERED, "--json").stdout), schema)


def test_ask_on_the_broken_cluster_is_its_files_error(broken):
    for args in (("ask", "--cluster", "podcasts", "How many listens per category?"), ("query", "SELECT 1", "--cluster", "podcasts"),
                 ("context", "listens per category", "--cluster", "podcasts")):
        result = run(broken, *args)
        assert result.exit_code == 2, result.output
        assert f"error: cluster 'podcasts' is not loaded: {BROKEN}:3:1" in result.stderr and "hint: fix that file" in result.stderr
        assert "warning:" not in result.stderr  # the error says it once
    routed = run(broken, "query", "SELECT count(*) FROM podcasts.listens")  # not 'make a cluster for it' alone
    assert routed.exit_code == 4 and "(not loaded, a file is broken: podcasts)" in routed.stderr
    as_json = json.loads(run(broken, "ask", "--cluster", "podcasts", "listens?", "--json").stdout)
    assert as_json["status"] == "error" and as_json["exit_code"] == 2 and BROKEN in as_json["error"]


def test_clusters_lists_the_broken_cluster_with_its_problem(broken):
    listed = run(broken, "clusters")
    assert listed.exit_code == 0, listed.output
    assert "podcasts" in listed.stdout and "not loaded" in listed.stdout and "listening" in listed.stdout
    assert "appears twice (also on line 1)" in listed.stdout.replace("\n", " ")
    rows = {row["id"]: row for row in json.loads(run(broken, "clusters", "--json").stdout)}
    assert rows["podcasts"]["problem"] == f"{BROKEN}:3:1: invalid YAML: key 'question' appears twice (also on line 1)"
    assert rows["podcasts"]["team"] == "Podcast Analytics" and rows["podcasts"]["pairs"] is None
    assert "problem" not in rows["listening"] and rows["listening"]["pairs"] > 0


def test_validate_and_health_still_fail_on_it(broken):
    validated = run(broken, "validate")
    assert validated.exit_code == 1 and f"{BROKEN}:3:1: error: invalid YAML" in validated.stdout
    health = run(broken, "health", "listening")
    assert health.exit_code == 2 and BROKEN in health.stderr and "Traceback" not in health.output


def test_context_and_eval_json_carry_the_warning(broken, tmp_path):
    context = json.loads(run(broken, "context", ANSWERED, "--json").stdout)
    assert context["cluster"] == "listening" and [w["cluster"] for w in context["warnings"]] == ["podcasts"]
    uncovered = run(broken, "context", PODCAST_QUESTION)
    assert "not loaded: podcasts" in uncovered.stdout
    items = tmp_path / "eval.jsonl"
    items.write_text(json.dumps({"question": ANSWERED}) + "\n")
    evaluated = run(broken, "eval", str(items), "--json")
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads(evaluated.stdout.splitlines()[-1])
    assert summary["summary"]["answered"] == 1 and [w["file"] for w in summary["warnings"]] == [BROKEN]
    assert evaluated.stderr.count("warning: cluster podcasts skipped") == 1


def test_chat_warns_once_and_answers(broken):
    chatted = run(broken, "chat", input=f"{ANSWERED}\n{ANSWERED}\n:quit\n")
    assert chatted.exit_code == 0, chatted.output
    assert chatted.stderr.count("warning: cluster podcasts skipped") == 1 and chatted.stdout.count("answered") >= 2


def test_mcp_answers_for_the_other_clusters(broken):
    async def scenario():
        async with mcp_client(broken) as client:
            asked = await client.call_tool("ask", {"question": ANSWERED})
            listed = await client.call_tool("list_clusters", {})
            pinned = await client.call_tool("describe_cluster", {"cluster": "podcasts"})
            return asked, listed, pinned

    asked, listed, pinned = anyio.run(scenario)
    assert not asked.is_error and payload(asked)["status"] == "answered" and payload(asked)["cluster"] == "listening"
    assert [w["file"] for w in payload(asked)["warnings"]] == [BROKEN]
    assert [c["id"] for c in payload(listed)["clusters"]] == ["listening", "revenue"]
    assert pinned.is_error and BROKEN in pinned.content[0].text


def test_a_fix_is_seen_at_once_through_the_parse_cache(demo):
    path = demo / BROKEN
    original = path.read_text()
    config = load_config(demo)
    try:
        assert not load_project(config).broken  # caches every file parsed
        path.write_text(TWICE)
        assert set(load_project(config, skip_broken=True).broken) == {"podcasts"}  # a break is not hidden by the cache
        path.write_text(original.replace("How many", "How  many"))  # fixed within the same second
        fixed = load_project(config, skip_broken=True)
        assert not fixed.broken and "How  many" in fixed.cluster("podcasts").pair("listens-per-category").question
        assert "warning" not in run(demo, "ask", ANSWERED).stderr
    finally:
        path.write_text(original)


@pytest.mark.parametrize("file, text, problem", [
    ("cluster.yaml", "- just\n- a list\n", "cluster.yaml:1:1: expected a YAML mapping at the top level"),
    ("docs/latin.md", b"# caf\xe9\n", "docs/latin.md: not UTF-8 text (byte 5)"),
    ("datasets/listening.users.yaml", "table: [unclosed\n", "datasets/listening.users.yaml:2:1: invalid YAML"),
])
def test_each_kind_of_unreadable_file_leaves_its_cluster_out(tmp_path, file, text, problem):
    root = copy_demo(tmp_path / "demo")
    path = root / "clusters" / "listening" / file
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)
    loaded = load_project(load_config(root), skip_broken=True)
    assert sorted(loaded.clusters) == ["podcasts", "revenue"] and list(loaded.broken) == ["listening"]
    assert loaded.broken["listening"].problem.startswith(f"clusters/listening/{problem}")
    with pytest.raises(ProjectFileError, match="clusters/listening/"):
        loaded.cluster("listening")
    with pytest.raises(ProjectFileError):
        load_project(load_config(root))  # without skip_broken (validate, health, profile, propose): an error


def test_a_broken_vedder_yaml_or_every_cluster_broken_is_still_an_error(tmp_path):
    root = copy_demo(tmp_path / "demo")
    for cluster in ("listening", "podcasts", "revenue"):
        (root / "clusters" / cluster / "cluster.yaml").write_text("id: [unclosed\n")
    nothing = run(root, "ask", ANSWERED)
    assert nothing.exit_code == 2 and "error: cluster 'listening' is not loaded: clusters/listening/cluster.yaml:2:1" in nothing.stderr
    (root / "vedder.yaml").write_text("model: offline\nmodel: offline\n")
    config = run(root, "ask", ANSWERED)
    assert config.exit_code == 2 and "vedder.yaml:2:1" in config.stderr and "key 'model' appears twice" in config.stderr
    assert run(root, "clusters").exit_code == 2
