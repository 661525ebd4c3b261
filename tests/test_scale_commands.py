"""Commands on many clusters. `vedder clusters` lists from the summaries recorded as each cluster loaded (title,
team, counts in ``.vedder/clusters.json``), loading none that did not change — and every edit, addition, removal,
rename or breakage is listed as a project loaded from scratch lists it. `vedder chat` walks the project's files once
to start and once per question."""

from __future__ import annotations

import json

import pytest
from test_project_cache import CHANGES, from_scratch, lazy, project_dir, settle  # noqa: F401 (project_dir: a fixture)
from typer.testing import CliRunner

from vedder.cli import app
from vedder.config import load_config
from vedder.project import load_project
from vedder.project.model import cache_folder


def listed(root) -> list[dict]:
    result = CliRunner().invoke(app, ["clusters", "--json", "--project", str(root)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def warm(root) -> None:
    """A lazy load that records every cluster's state, settled as if long ago (tests write files just now)."""
    lazy(root)
    settle(root)


def test_a_warm_project_lists_every_cluster_without_loading_one(project_dir):
    expected = from_scratch(project_dir).summaries()
    warm(project_dir)
    project = lazy(project_dir)
    assert project.summaries() == expected and project.clusters.loaded == []
    assert listed(project_dir) == expected
    assert [row["id"] for row in expected] == sorted(path.name for path in (project_dir / "clusters").iterdir())


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_is_listed_as_from_scratch(project_dir, change):
    warm(project_dir)
    before = lazy(project_dir).summaries()
    CHANGES[change](project_dir / "clusters")
    expected = from_scratch(project_dir).summaries()
    assert listed(project_dir) == expected
    warm(project_dir)
    assert listed(project_dir) == expected
    if change in LISTED:
        assert expected != before


LISTED = {"pair added", "pair removed", "cluster.yaml edited", "cluster added", "cluster removed", "pair broken",
          "cluster.yaml broken"}
"""The changes a row shows (a count, the title, a problem); the others change what no row holds (a renamed folder
keeps its cluster.yaml's id)."""


def test_a_changed_cluster_is_read_again_and_only_it(project_dir):
    warm(project_dir)
    (project_dir / "clusters" / "revenue_1" / "pairs" / "zeppelin.yaml").write_text(
        "question: How many zeppelins landed?\nsql: SELECT 1\nverified_by: a@b.c\nverified_at: 2026-01-01\n")
    project = lazy(project_dir)
    assert project.clusters.loaded == ["revenue_1"]
    rows = {row["id"]: row for row in project.summaries()}
    assert project.clusters.loaded == ["revenue_1"]
    assert rows["revenue_1"]["pairs"] == rows["revenue"]["pairs"] + 1


def test_states_of_the_earlier_version_are_read_again(project_dir):
    """An earlier vedder kept no summary in clusters.json: its states are not trusted, every cluster is read once."""
    expected = from_scratch(project_dir).summaries()
    warm(project_dir)
    states = cache_folder(project_dir) / "clusters.json"
    data = json.loads(states.read_text())
    states.write_text(json.dumps({"version": 1, "clusters": {name: entry[:3] for name, entry in data["clusters"].items()}}))
    project = lazy(project_dir)
    assert len(project.clusters.loaded) == 9 and project.summaries() == expected
    settle(project_dir)
    assert lazy(project_dir).summaries() == expected


def test_clusters_read_in_worker_processes_are_listed_without_loading(project_dir, monkeypatch):
    from vedder.project import model

    monkeypatch.setattr(model, "PARALLEL_MINIMUM", 2)
    monkeypatch.setattr(model.os, "cpu_count", lambda: 2)
    (next((project_dir / "clusters" / "listening_2" / "pairs").glob("*.yaml"))).write_text("question: [unclosed\n")
    expected = from_scratch(project_dir).summaries()
    first = lazy(project_dir)
    assert first.clusters.loaded == [] and list(first.broken) == ["listening_2"]
    assert first.summaries() == expected  # its files were written just now: too recent to trust, they are loaded
    settle(project_dir)
    project = lazy(project_dir)  # as the workers recorded them
    assert project.summaries() == expected and project.clusters.loaded == []
    assert "problem" in next(row for row in expected if row["id"] == "listening_2")


def test_a_server_keeps_the_summaries_of_unchanged_clusters(project_dir):
    """``load_project(..., previous=...)`` (ProjectWatcher after an edit) takes over what it knew of the clusters it
    keeps: listing them loads none."""
    warm(project_dir)
    config = load_config(project_dir)
    first = load_project(config, skip_broken=True, lazy=True)
    settle(project_dir)
    first.files = {name: files for name, files in first.files.items()}
    for files in first.files.values():
        files.scanned_ns += 10_000_000_000  # as if scanned long after the files last changed
    (project_dir / "clusters" / "podcasts" / "cluster.yaml").write_text(
        (project_dir / "clusters" / "podcasts" / "cluster.yaml").read_text().replace("title: ", "title: Zeppelin ", 1))
    (cache_folder(project_dir) / "clusters.json").unlink()  # what the server knew is all there is
    second = load_project(config, skip_broken=True, lazy=True, previous=first)
    assert second.clusters.loaded == ["podcasts"]
    assert second.summaries() == from_scratch(project_dir).summaries()
    assert second.clusters.loaded == ["podcasts"]


@pytest.mark.parametrize("watching", [True, False])
def test_chat_walks_the_project_once_to_start_and_once_per_question_only_without_events(tmp_path, monkeypatch, watching):
    """Each walk stats every file (34k on Spider x8, ~0.4 s): chat walked four times before its first answer. With
    inotify's events (vedder/project/watch.py) a question after no change walks nothing."""
    from demo_project import copy_demo

    from vedder.project import model
    from vedder.project.watch import ProjectEvents

    if not watching:
        monkeypatch.setattr(ProjectEvents, "start", classmethod(lambda cls, root: "forced off in a test"))
    root = copy_demo(tmp_path / "demo", scale=0.02)

    walks = []
    scan = model.scan_project
    monkeypatch.setattr(model, "scan_project", lambda config: walks.append(1) or scan(config))
    monkeypatch.setattr("vedder.serving.scan_project", model.scan_project)
    script = "What does each plan cost per month?\nand per year?\n:quit\n"
    result = CliRunner().invoke(app, ["chat", "--cluster", "revenue", "--project", str(root)], input=script)
    assert result.exit_code == 0, result.output
    assert "answered from vetted pair" in result.output and len(walks) == (1 if watching else 3)
