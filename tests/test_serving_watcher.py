"""ProjectWatcher, what `vedder web`, `vedder mcp` and `vedder slack` answer from: clusters load on first use, a
request where nothing changed keeps the project (and its routing index), and every edit, addition, removal or
rename of a pair, dataset, doc, cluster.yaml, cluster or vedder.yaml made under a running watcher is seen by the
next request — the same clusters, routing and broken clusters as a project loaded from scratch — reading again only
the clusters that changed. Each test runs with inotify's events and with a stat of every file (``watching``)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

from demo_project import copy_demo
from test_project_cache import CHANGES, edit, from_scratch, project_dir, routings, settle, snapshot  # noqa: F401 (a fixture)
from vedder.context import route
from vedder.errors import ProjectFileError
from vedder.project import Project
from vedder.serving import ProjectWatcher

AFFECTED = {
    "pair edited": {"revenue_1"}, "pair added": {"revenue_1"}, "pair removed": {"listening_2"},
    "pair renamed": {"listening_2"}, "dataset edited": {"podcasts_1"}, "doc edited": {"podcasts"},
    "cluster.yaml edited": {"listening_1"}, "cluster added": {"zeppelins"}, "cluster removed": {"revenue_2"},
    "cluster renamed": {"revenue_2", "billing"}, "pair broken": {"podcasts_2"}, "cluster.yaml broken": {"listening_1"},
}
"""The cluster folders each of ``CHANGES`` touches."""


@pytest.fixture(autouse=True, params=["events", "every file"])
def watching(request, monkeypatch) -> bool:
    """Every test here both ways a server learns of changes: inotify's events (vedder/project/watch.py), and a stat
    of every file on each request (forced here, as where there is no inotify)."""
    from vedder.project.watch import ProjectEvents

    if request.param == "every file":
        monkeypatch.setattr(ProjectEvents, "start", classmethod(lambda cls, root: "forced off in a test"))
    return request.param == "events"


def settled(watcher: ProjectWatcher) -> Project:
    """The watcher's project, as if its last check and the caches' had come well after every change (tests write
    files just now: a stat taken within 2 s of a change is not trusted, so those clusters are read again)."""
    project = watcher.current()
    settle(project.root)
    for files in project.files.values():
        files.scanned_ns += 10_000_000_000
    return project


def assert_same_as_from_scratch(project: Project) -> None:
    expected = from_scratch(project.root)
    assert sorted(project.broken) == sorted(expected.broken)
    assert [b.warning for b in project.broken.values()] == [b.warning for b in expected.broken.values()]
    assert routings(project) == routings(expected)
    assert snapshot(project) == snapshot(expected)


def test_a_warm_start_loads_no_cluster_and_an_unchanged_project_is_kept(project_dir):
    route(ProjectWatcher(project_dir).current(), "What does each plan cost per month?")  # the caches and routing store
    settle(project_dir)
    watcher = ProjectWatcher(project_dir)
    project = settled(watcher)
    assert project.clusters.loaded == []
    route(project, "What does each plan cost per month?")
    assert project.clusters.loaded == ["revenue", "revenue_1", "revenue_2"]
    assert watcher.current() is project and watcher.current() is project
    assert project.clusters.loaded == ["revenue", "revenue_1", "revenue_2"]
    assert_same_as_from_scratch(project)


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_under_a_running_watcher_is_seen_and_only_its_clusters_are_read_again(project_dir, change):
    watcher = ProjectWatcher(project_dir)
    before = settled(watcher)
    routings(before)  # loads the clusters routing names
    loaded = {name: before.clusters[name] for name in before.clusters.loaded}
    assert len(loaded) >= 6
    CHANGES[change](project_dir / "clusters")
    after = watcher.current()
    assert after is not before
    for name, cluster in loaded.items():
        if name in AFFECTED[change]:
            assert name not in after.clusters or after.clusters.loaded_cluster(name) is not cluster
        else:
            assert after.clusters.loaded_cluster(name) is cluster, name
    assert_same_as_from_scratch(after)
    stable = settled(watcher)  # the changed cluster is read on each request until its change has settled
    assert watcher.current() is stable


def test_a_changed_vedder_yaml_reloads_the_project(project_dir):
    watcher = ProjectWatcher(project_dir)
    before = settled(watcher)
    assert before.config.token_budget == 6000
    edit(project_dir / "vedder.yaml", "token_budget: 6000", "token_budget: 5000")
    after = watcher.current()
    assert after is not before and after.config.token_budget == 5000
    assert_same_as_from_scratch(after)


def test_an_unchanged_rewrite_of_vedder_yaml_keeps_the_project(project_dir):
    watcher = ProjectWatcher(project_dir)
    before = settled(watcher)
    config = project_dir / "vedder.yaml"
    config.write_text(config.read_text())
    assert watcher.current() is before


@pytest.mark.parametrize("path", ["vedder.yaml", "clusters/revenue_1/pairs", "clusters/podcasts/cluster.yaml"])
def test_a_file_restored_with_its_old_size_and_mtime_is_seen(project_dir, path):
    """cp -p, rsync -a and tar put the old mtime back; the ctime (and inode) still moves."""
    watcher = ProjectWatcher(project_dir)
    before = settled(watcher)
    old = snapshot(before)
    target = project_dir / path
    if target.is_dir():
        target = sorted(target.glob("*.yaml"))[0]
    status = target.stat()
    text = target.read_text()
    changed = re.sub(r"^(question|title|  token_budget): (.*)$", lambda m: f"{m[1]}: {m[2].upper().replace('6', '5')}",
                     text, count=1, flags=re.M)  # the same size
    assert changed != text and len(changed) == len(text)
    target.write_text(changed)
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    after = watcher.current()
    assert after is not before
    if path == "vedder.yaml":
        assert after.config.token_budget == 5000
    else:
        assert snapshot(after) != old
    assert_same_as_from_scratch(after)


def test_a_broken_cluster_is_named_once_on_stderr_and_left_out_until_fixed(project_dir, capsys):
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    pair = sorted((project_dir / "clusters" / "podcasts_1" / "pairs").glob("*.yaml"))[0]
    original = pair.read_text()
    pair.write_text("question: [unclosed\n")
    for _ in range(3):
        project = watcher.current()
        assert list(project.broken) == ["podcasts_1"] and "podcasts_1" not in project.clusters
    project = settled(watcher)
    assert watcher.current() is project and list(project.broken) == ["podcasts_1"]
    assert capsys.readouterr().err.count("warning: cluster podcasts_1 skipped: clusters/podcasts_1/pairs/") == 1
    pair.write_text(original)
    assert not watcher.current().broken
    pair.write_text("question: [unclosed\n")
    assert list(watcher.current().broken) == ["podcasts_1"]
    assert capsys.readouterr().err.count("warning: cluster podcasts_1 skipped") == 1


def test_threads_asking_while_files_change_see_whole_projects(project_dir):
    """A web server's threads call ``current()`` and load clusters while the files change under them. A request
    that took the project before a cluster broke or went away, and loads that cluster only then, gets its
    ProjectFileError (a one-line error with a hint on every surface); anything else is a bug."""
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    failures: list[BaseException] = []
    stop = threading.Event()

    def ask_again() -> None:
        while not stop.is_set():
            try:
                project = watcher.current()
                for question in ("How many streams per country?", "What does each plan cost per month?"):
                    routing = route(project, question)
                    assert routing.cluster or routing.candidates or routing.closest
                for cluster in project.clusters.values():
                    assert cluster.id
            except ProjectFileError:
                pass
            except BaseException as exc:  # noqa: BLE001 (reported below)
                failures.append(exc)
                return

    threads = [threading.Thread(target=ask_again) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for change in ("pair edited", "pair added", "dataset edited", "cluster added", "cluster renamed", "pair broken"):
            CHANGES[change](project_dir / "clusters")
            watcher.current()
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)
    assert not failures, failures
    assert_same_as_from_scratch(watcher.current())


def test_a_cluster_asked_for_by_many_threads_at_once_loads_once(project_dir):
    watcher = ProjectWatcher(project_dir)
    project = settled(watcher)
    barrier = threading.Barrier(6)
    seen: list[object] = []

    def load() -> None:
        barrier.wait()
        seen.append(project.clusters["listening_2"])

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(seen) == 6 and all(cluster is seen[0] for cluster in seen)


ZEPPELIN = "question: How many zeppelins landed?\nsql: SELECT 42 AS zeppelins\nverified_by: a@b.c\nverified_at: 2026-01-01\n"


def _comparable(answer: dict) -> dict:
    return {key: value for key, value in answer.items() if key not in ("latency_s", "conversation_id")}


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("watcher") / "demo", scale=0.02)


def test_web_and_mcp_answers_follow_a_pair_added_and_removed_like_a_fresh_project(demo_template, tmp_path):
    import shutil

    from vedder.ask import ask
    from vedder.config import load_config
    from vedder.mcp import ask_result
    from vedder.project import load_project
    from vedder.serving import WarehousePool
    from vedder.web import WebApp

    demo = Path(shutil.copytree(demo_template, tmp_path / "demo"))
    question = "How many zeppelins landed?"
    web, mcp_watcher, warehouses = WebApp(ProjectWatcher(demo)), ProjectWatcher(demo), WarehousePool()
    try:
        for added in (False, True, False):
            pair = demo / "clusters" / "revenue" / "pairs" / "zeppelins.yaml"
            if added:
                pair.write_text(ZEPPELIN)
            else:
                pair.unlink(missing_ok=True)
            fresh = _comparable(ask(load_project(load_config(demo), skip_broken=True), question, log=False).to_dict())
            assert fresh["status"] == ("answered" if added else "not_covered")
            assert (fresh["rows"] == [[42]]) is added
            assert _comparable(web.ask({"question": question})) == fresh
            served = ask_result(mcp_watcher.current(), warehouses, question, None, None, None)
            assert (served["status"], served["rows"], served["sql"]) == (fresh["status"], fresh["rows"], fresh["sql"])
    finally:
        web.warehouses.close()
        warehouses.close()
