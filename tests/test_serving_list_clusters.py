"""MCP's list_clusters lists each cluster from the record kept in .vedder/clusters.json as it last loaded (description,
owners, keywords, tables, counts), loading none on a warm project, and says byte for byte what it said when it loaded
every cluster; an edited cluster is read again, and a cluster whose record JSON could not give back as it was (a
contact that is not text) is loaded to list it."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from demo_project import copy_demo
from test_project_cache import edit, settle
from vedder.config import load_config
from vedder.mcp import cluster_summary, create_server
from vedder.project import load_project
from vedder.serving import ProjectWatcher


def loading_every_cluster(root: Path) -> str:
    """What list_clusters said before it listed from records: every cluster loaded, in id order."""
    project = load_project(load_config(root), skip_broken=True)
    listed = {"clusters": [cluster_summary(c) for c in sorted(project.clusters.values(), key=lambda c: c.id)],
              "warnings": project.warnings}
    return json.dumps(listed, indent=2, ensure_ascii=False)


def list_clusters(watcher: ProjectWatcher) -> str:
    result = anyio.run(lambda: create_server(watcher).call_tool("list_clusters", {}))
    assert not result.is_error, result
    return json.dumps(result.structured_content, indent=2, ensure_ascii=False)


@pytest.fixture
def demo(tmp_path) -> Path:
    root = copy_demo(tmp_path / "demo")
    clusters = root / "clusters"
    (clusters / "revenue" / "pairs").joinpath(next((clusters / "revenue" / "pairs").glob("*.yaml")).name).unlink()
    (clusters / "empty").mkdir()
    (clusters / "empty" / "cluster.yaml").write_text("id: empty\ntitle: Nothing yet\nowners: Lonely Team\n"
                                                     "datasets: [nowhere.*, nowhere.table]\n")
    (clusters / "broken").mkdir()
    (clusters / "broken" / "cluster.yaml").write_text("- not a mapping\n")
    return root


def test_list_clusters_loads_none_and_says_what_loading_every_cluster_said(demo):
    expected = loading_every_cluster(demo)
    assert '"empty"' in expected and "broken" in expected  # listed; a warning
    load_project(load_config(demo), skip_broken=True, lazy=True)  # the records, as any command keeps them
    settle(demo)
    watcher = ProjectWatcher(demo)
    assert list_clusters(watcher) == expected
    assert watcher.current().clusters.loaded == []
    edit(demo / "clusters" / "podcasts" / "cluster.yaml", "title: ", "title: Zeppelin ")
    assert list_clusters(watcher) == loading_every_cluster(demo) != expected
    assert watcher.current().clusters.loaded == ["podcasts"]


def test_a_contact_that_is_not_text_is_listed_from_the_loaded_cluster(demo):
    edit(demo / "clusters" / "listening" / "cluster.yaml", "contact: '#listening-insights'", "contact: 5550100")  # a number
    load_project(load_config(demo), skip_broken=True, lazy=True)
    settle(demo)
    watcher = ProjectWatcher(demo)
    project = watcher.current()
    assert project.clusters.known_record("listening")[1] is None
    expected = json.dumps({"clusters": [cluster_summary(c) for c in sorted(project.clusters.values(), key=lambda c: c.id)],
                           "warnings": project.warnings}, indent=2, ensure_ascii=False, default=str)
    watcher = ProjectWatcher(demo)
    listed = anyio.run(lambda: create_server(watcher).call_tool("list_clusters", {}))
    assert watcher.current().clusters.loaded == ["listening"]
    assert json.dumps(listed.structured_content, indent=2, ensure_ascii=False, default=str) == expected
