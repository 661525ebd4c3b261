"""vedder review: prompts, non-interactive decisions, resuming after a kill, and the pull request."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from curation_project import make_project, run
from fake_github import FakeGitHub
from vedder.cli import app
from vedder.files import load_yaml

runner = CliRunner()
PROPOSALS = "clusters/listening/proposals"


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    project = make_project(tmp_path)
    result = runner.invoke(app, ["propose", "listening", "--history", str(tmp_path / "history.jsonl"), "--no-pr", "--project", str(project)])
    assert result.exit_code == 0, result.output
    run("add", ".", cwd=project)
    run("commit", "--quiet", "-m", "proposals", cwd=project)
    run("push", "--quiet", "origin", "main", cwd=project)
    return project


def pending(project: Path) -> list[dict]:
    result = runner.invoke(app, ["review", "--list", "--json", "--project", str(project)])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def use_editor(tmp_path: Path, monkeypatch, script: str) -> None:
    """Make $EDITOR (and $VISUAL) a shell script that edits the file it is given."""
    editor = tmp_path / "editor.sh"
    editor.write_text(script)
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    monkeypatch.setenv("VISUAL", str(editor))


def test_list_shows_proposals_best_first(project_dir: Path):
    rows = pending(project_dir)
    assert [r["question"] for r in rows] == [
        "How many streams per country in the last 7 days, excluding test accounts?",
        "How many users per plan with plan premium or family, excluding test accounts?",
    ]
    assert rows[0]["provenance"]["users"] == 3 and rows[0]["cluster"] == "listening"


def test_accept_and_reject_by_id(project_dir: Path):
    first, second = pending(project_dir)
    accepted = runner.invoke(app, ["review", "listening", "--accept", first["id"], "--no-pr", "--project", str(project_dir)])
    assert accepted.exit_code == 0, accepted.output
    pair_path = project_dir / "clusters/listening/pairs/how-many-streams-per-country-in-the-last-7-days-excluding.yaml"
    text = pair_path.read_text()
    assert text.startswith("# yaml-language-server: $schema=../../../schemas/pair.schema.json\n")
    pair = load_yaml(pair_path).data
    assert pair["question"] == first["question"] and pair["sql"] == first["sql"]
    assert "\nsql: |\n  SELECT " in text and "\n  FROM events\n  WHERE " in text  # one clause a line, not one wrapped line
    assert pair["verified_by"] == "Vedder Test" and pair["verified_at"] == dt.date.today().isoformat()
    assert pair["tags"] == ["mined"] and f"proposal {first['id']}: 4 runs by 3 users" in pair["notes"]
    assert not (project_dir / PROPOSALS / f"{first['id']}.yaml").exists()

    no_reason = runner.invoke(app, ["review", "--reject", second["id"], "--project", str(project_dir)])
    assert no_reason.exit_code == 2 and "--reject needs --reason TEXT" in no_reason.output
    rejected = runner.invoke(app, ["review", "--reject", second["id"], "--reason", "plan filter is a one-off", "--no-pr", "--project", str(project_dir)])
    assert rejected.exit_code == 0, rejected.output
    assert "listening: 1 accepted, 1 rejected so far (acceptance rate 50%)" in rejected.output
    entries = load_yaml(project_dir / PROPOSALS / "rejected.yaml").data
    assert entries[0]["fingerprint"].startswith(second["id"]) and len(entries[0]["fingerprint"]) == 16
    assert entries == [{"fingerprint": entries[0]["fingerprint"], "question": second["question"], "sql": second["sql"],
                        "reason": "plan filter is a one-off", "rejected_by": "Vedder Test", "rejected_at": dt.date.today().isoformat()}]
    assert pending(project_dir) == []
    # Mining again proposes neither the accepted (now a pair) nor the rejected pattern.
    again = runner.invoke(app, ["propose", "listening", "--history", str(project_dir.parent / "history.jsonl"), "--no-pr", "--json", "--project", str(project_dir)])
    funnel = json.loads(again.output)["funnel"]
    assert funnel["proposed"] == 0 and funnel["dropped"]["already_vetted"] == 2 and funnel["dropped"]["rejected"] == 1


def test_unknown_id_changes_nothing(project_dir: Path):
    first, _ = pending(project_dir)
    result = runner.invoke(app, ["review", "--accept", first["id"], "nope", "--no-pr", "--project", str(project_dir)])
    assert result.exit_code == 2 and "no proposal 'nope' in any cluster" in result.output
    assert len(pending(project_dir)) == 2


def test_interactive_review_through_prompts(project_dir: Path, tmp_path: Path, monkeypatch):
    use_editor(tmp_path, monkeypatch, "#!/bin/sh\nsed -i 's/GROUP BY country/GROUP BY country ORDER BY streams DESC/' \"$1\"\n")
    answers = "x\ne\nStreams per country, last week\ny\nr\nnot a real need\n"
    result = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)], input=answers)
    assert result.exit_code == 0, result.output
    assert "1/2  listening" in result.output and "2/2  listening" in result.output
    assert "3 users" in result.output
    assert "country" in result.output and "US" in result.output  # the result preview ran
    assert "resembles pair streams-per-plan" in result.output
    assert "type a, e, r, s or q" in result.output
    pair = load_yaml(project_dir / "clusters/listening/pairs/streams-per-country-last-week.yaml").data
    assert pair["question"] == "Streams per country, last week"
    assert pair["sql"].rstrip().endswith("GROUP BY country ORDER BY streams DESC")
    assert load_yaml(project_dir / PROPOSALS / "rejected.yaml").data[0]["reason"] == "not a real need"
    assert "acceptance rate 50%" in result.output


def with_a_note(project: Path, proposal: dict) -> str:
    """Give ``proposal``'s question the kind of note ``describe`` writes for the reviewer; the question without it."""
    path = project / PROPOSALS / f"{proposal['id']}.yaml"
    note = " Note: events is partitioned by event_date, but the query filters ts, so it reads every partition."
    document = load_yaml(path).data
    path.write_text(json.dumps({**document, "question": document["question"] + note}))  # JSON is YAML
    return proposal["question"]


@pytest.mark.parametrize("how", ["--accept", "a", "e"])
def test_an_accepted_pair_asks_the_question_without_the_reviewers_note(project_dir: Path, how: str):
    first = pending(project_dir)[0]
    question = with_a_note(project_dir, first)
    assert "Note: events is partitioned" in pending(project_dir)[0]["question"]  # the reviewer sees it
    if how == "--accept":
        result = runner.invoke(app, ["review", "listening", "--accept", first["id"], "--no-pr", "--project", str(project_dir)])
    else:  # accept as proposed, or edit and keep the question offered
        result = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)],
                               input="a\nq\n" if how == "a" else "e\n\nn\nq\n")
    assert result.exit_code == 0, result.output
    pairs = [load_yaml(path).data for path in (project_dir / "clusters/listening/pairs").glob("*.yaml")]
    assert [pair["question"] for pair in pairs if "mined" in pair.get("tags", [])] == [question]


def test_edited_sql_must_pass_the_guard(project_dir: Path, tmp_path: Path, monkeypatch):
    use_editor(tmp_path, monkeypatch, "#!/bin/sh\necho 'DROP TABLE listening.events' > \"$1\"\n")
    result = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)], input="e\n\ny\nq\n")
    assert result.exit_code == 0, result.output
    assert "error: SQL refused (read_only)" in result.output
    assert len(pending(project_dir)) == 2


def test_sql_with_an_unknown_column_never_becomes_a_pair(project_dir: Path, tmp_path: Path, monkeypatch):
    """Accepting checks the SQL's columns against the dataset files, as `vedder validate` does: a proposal
    whose SQL passes the guard but reads an undeclared column is refused with the column and the closest one."""
    first, second = pending(project_dir)
    path = project_dir / PROPOSALS / f"{first['id']}.yaml"
    path.write_text(path.read_text().replace("count(*)", "count(distinct contry)").replace("COUNT(*)", "COUNT(DISTINCT contry)"))
    result = runner.invoke(app, ["review", "--accept", first["id"], "--no-pr", "--project", str(project_dir)])
    assert result.exit_code == 4, result.output
    assert result.output.splitlines()[0] == "error: SQL refused (unknown_column): unknown column 'contry' (did you mean 'country'?)"
    assert "hint: use a column declared in clusters/listening/datasets/" in result.output
    assert path.exists() and not list((project_dir / "clusters/listening/pairs").glob("how-many*"))

    use_editor(tmp_path, monkeypatch, "#!/bin/sh\necho 'SELECT plan, COUNT(*) FROM listening.users WHERE user_id >= 100 GROUP BY plann' > \"$1\"\n")
    edited = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)], input="s\ne\n\ny\nq\n")
    assert edited.exit_code == 0, edited.output
    assert "error: SQL refused (unknown_column): unknown column 'plann' (did you mean 'plan'?)" in edited.output
    assert len(pending(project_dir)) == 2


def test_proposal_view_has_preview_provenance_and_the_pair_it_resembles(project_dir: Path):
    from vedder.config import load_config
    from vedder.curation.review import view_proposal
    from vedder.project import load_project
    from vedder.project.model import load_proposals
    from vedder.warehouse import open_warehouse

    project = load_project(load_config(project_dir))
    cluster = project.clusters["listening"]
    by_users = {p.question: p for p in load_proposals(cluster)}
    plans = by_users["How many users per plan with plan premium or family, excluding test accounts?"]
    with open_warehouse(project.config) as warehouse:
        view = view_proposal(project, cluster, plans, warehouse, limit=1)
    assert view.preview is not None and view.preview.columns[0] == "plan" and len(view.preview.rows) == 1
    assert view.provenance == "3 runs by 2 users, 2026-10-05 to 2026-10-23"
    assert view.similar is not None and view.similar[0].id == "streams-per-plan" and 0.25 <= view.similar[1] < 0.5
    offline = view_proposal(project, cluster, plans, None, unavailable="warehouse locked")
    assert offline.preview is None and offline.preview_error == "preview unavailable: warehouse locked"
    data = offline.to_dict()
    assert data["similar"]["pair"] == "streams-per-plan" and data["preview"] is None and data["id"] == plans.id


def test_quit_keeps_earlier_decisions_and_review_resumes(project_dir: Path):
    first, second = pending(project_dir)
    result = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)], input="a\nq\n")
    assert result.exit_code == 0, result.output
    assert [p["id"] for p in pending(project_dir)] == [second["id"]]
    resumed = runner.invoke(app, ["review", "--no-pr", "--project", str(project_dir)], input="s\n")
    assert f"proposal {second['id']}" in resumed.output and f"proposal {first['id']}" not in resumed.output


def _review_process(project: Path, *arguments: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "vedder.cli", "review", "listening", *arguments, "--project", str(project)]
    if not (Path(__file__).parents[1] / "vedder" / "cli" / "__main__.py").exists():
        command = [str(Path(sys.executable).with_name("vedder")), *command[3:]]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, env=os.environ.copy())


def _wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_killed_review_loses_no_decision(project_dir: Path):
    """Without --no-pr a decision lands in the git-ignored review state at once; a killed review leaves the
    working tree clean, and the next run shows only the undecided proposal and publishes both decisions."""
    first, second = pending(project_dir)
    state_file = project_dir / ".vedder/review/listening.json"
    process = _review_process(project_dir)
    process.stdin.write("a\n")
    process.stdin.flush()
    _wait_for(state_file.exists)
    process.kill()
    process.wait()
    decisions = json.loads(state_file.read_text())["decisions"]
    assert [(d["proposal"], d["action"]) for d in decisions] == [(first["id"], "accepted")]
    assert run("status", "--porcelain", "--untracked-files=all", cwd=project_dir) == ""
    assert not list(state_file.parent.glob(".*.tmp"))
    assert [p["id"] for p in pending(project_dir)] == [second["id"]]
    with FakeGitHub() as github:
        restarted = runner.invoke(app, ["review", "listening", "--project", str(project_dir)], input="n\nr\nduplicate\n", env=_github_env(github))
    assert restarted.exit_code == 0, restarted.output
    assert "1 decision(s) on listening from an earlier review are not in a pull request yet" in restarted.output
    assert "1 accepted, 1 rejected" in restarted.output
    [pull] = github.pulls()
    assert pull["title"] == "vedder review: 1 accepted, 1 rejected for listening"
    assert json.loads(state_file.read_text())["decisions"] == []
    assert run("status", "--porcelain", "--untracked-files=all", cwd=project_dir) == ""


def test_killed_review_without_pr_keeps_its_files(project_dir: Path):
    first, second = pending(project_dir)
    process = _review_process(project_dir, "--no-pr")
    process.stdin.write("a\n")
    process.stdin.flush()
    pairs = project_dir / "clusters/listening/pairs"
    _wait_for(lambda: len(list(pairs.glob("*.yaml"))) == 2)
    process.kill()
    process.wait()
    assert len(list(pairs.glob("*.yaml"))) == 2
    assert [p["id"] for p in pending(project_dir)] == [second["id"]]
    assert not list((project_dir / PROPOSALS).glob(".*.tmp"))
    restarted = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)], input="r\nduplicate\n")
    assert restarted.exit_code == 0, restarted.output
    assert "1 accepted, 1 rejected" in restarted.output


def _github_env(github: FakeGitHub) -> dict[str, str]:
    return {"GITHUB_API_URL": github.url, "GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "acme/warehouse"}


def test_interrupted_accept_is_finished_not_repeated(project_dir: Path):
    """A crash after the pair was written but before the proposal was removed: the proposal is not shown again."""
    first, second = pending(project_dir)
    proposal_file = project_dir / PROPOSALS / f"{first['id']}.yaml"
    saved = proposal_file.read_text()
    runner.invoke(app, ["review", "--accept", first["id"], "--no-pr", "--project", str(project_dir)])
    proposal_file.write_text(saved)
    assert [p["id"] for p in pending(project_dir)] == [second["id"]]
    assert proposal_file.exists()  # listing changes no file
    resumed = runner.invoke(app, ["review", "listening", "--no-pr", "--project", str(project_dir)], input="q\n")
    assert resumed.exit_code == 0, resumed.output
    assert f"proposal {second['id']}" in resumed.output and not proposal_file.exists()


def test_review_decisions_go_out_as_a_pull_request(project_dir: Path):
    first, second = pending(project_dir)
    (project_dir / "notes.txt").write_text("my own work in progress\n")
    status_before = run("status", "--porcelain", "--untracked-files=all", cwd=project_dir)
    with FakeGitHub() as github:
        result = runner.invoke(app, ["review", "listening", "--project", str(project_dir)], input="a\nr\nwrong grain\n", env=_github_env(github))
    assert result.exit_code == 0, result.output
    [pull] = github.pulls()
    assert pull["title"] == "vedder review: 1 accepted, 1 rejected for listening"
    assert pull["head"].startswith("vedder/review/listening-")
    assert f"accepted `{first['id']}`" in pull["body"] and "wrong grain" in pull["body"]
    origin = project_dir.parent / "origin.git"
    changed = run("diff", "--name-status", "main", pull["head"], cwd=origin).splitlines()
    assert sorted(changed) == sorted([
        "A\tclusters/listening/pairs/how-many-streams-per-country-in-the-last-7-days-excluding.yaml",
        f"D\t{PROPOSALS}/{first['id']}.yaml",
        f"D\t{PROPOSALS}/{second['id']}.yaml",
        f"A\t{PROPOSALS}/rejected.yaml",
    ])
    pair = load_yaml(project_dir / "clusters/listening/pairs/streams-per-plan.yaml")  # the old pair is untouched
    assert pair.data["verified_by"] == "ana"
    rejected = run("show", f"{pull['head']}:{PROPOSALS}/rejected.yaml", cwd=origin)
    assert "reason: wrong grain" in rejected and f"question: {second['question']}" in rejected
    assert "pull request: https://github.test/acme/warehouse/pull/1" in result.output
    # Nothing of the review is left in the user's working tree: not a file, not a staged change.
    assert run("status", "--porcelain", "--untracked-files=all", cwd=project_dir) == status_before
    assert run("rev-parse", "--abbrev-ref", "HEAD", cwd=project_dir) == "main"
    state = json.loads((project_dir / ".vedder/review/listening.json").read_text())
    assert state["decisions"] == [] and [p["pull_request"] for p in state["published"]] == [pull_url(1)] * 2
    # Decided in the open pull request: not shown again, nor proposed again.
    assert pending(project_dir) == []
    again = runner.invoke(app, ["review", "listening", "--project", str(project_dir)], input="")
    assert again.exit_code == 0 and "awaiting" not in again.output and "proposal" not in again.output
    mined = runner.invoke(app, ["propose", "listening", "--history", str(project_dir.parent / "history.jsonl"), "--no-pr", "--json", "--project", str(project_dir)])
    assert json.loads(mined.output)["funnel"]["dropped"]["in_review"] == 2
    # Once the pull request is merged and pulled, the published entries are forgotten.
    run("pull", "--quiet", "--no-rebase", "origin", pull["head"], cwd=project_dir)
    assert pending(project_dir) == []
    runner.invoke(app, ["review", "listening", "--project", str(project_dir)], input="")
    assert not (project_dir / ".vedder/review/listening.json").exists()


def pull_url(number: int) -> str:
    return f"https://github.test/acme/warehouse/pull/{number}"


def test_failed_push_keeps_the_decisions_for_the_next_run(project_dir: Path):
    first, second = pending(project_dir)
    origin = project_dir.parent / "origin.git"
    run("remote", "set-url", "origin", str(project_dir.parent / "missing.git"), cwd=project_dir)
    with FakeGitHub() as github:
        failed = runner.invoke(app, ["review", "--reject", first["id"], second["id"], "--reason", "one-off", "--project", str(project_dir)],
                               env=_github_env(github))
    assert failed.exit_code == 6, failed.output
    assert "error: git" in failed.output and ".vedder/review/listening.json" in failed.output
    assert github.pulls() == []
    assert pending(project_dir) == []
    assert run("status", "--porcelain", "--untracked-files=all", cwd=project_dir) == ""
    run("remote", "set-url", "origin", str(origin), cwd=project_dir)
    with FakeGitHub() as github:
        again = runner.invoke(app, ["review", "listening", "--project", str(project_dir)], input="y\n", env=_github_env(github))
    assert again.exit_code == 0, again.output
    assert "2 decision(s) on listening from an earlier review" in again.output
    [pull] = github.pulls()
    assert pull["title"] == "vedder review: 0 accepted, 2 rejected for listening"
    assert json.loads((project_dir / ".vedder/review/listening.json").read_text())["decisions"] == []
    entries = run("show", f"{pull['head']}:{PROPOSALS}/rejected.yaml", cwd=origin)
    assert entries.count("reason: one-off") == 2


def test_decided_proposal_cannot_be_decided_twice(project_dir: Path):
    first, _ = pending(project_dir)
    run("remote", "set-url", "origin", str(project_dir.parent / "missing.git"), cwd=project_dir)
    runner.invoke(app, ["review", "--accept", first["id"], "--project", str(project_dir)])
    again = runner.invoke(app, ["review", "--reject", first["id"], "--reason", "x", "--project", str(project_dir)])
    assert again.exit_code == 2 and "already decided, awaiting its pull request" in again.output
