"""Watching the project with inotify (vedder/project/watch.py): under a running ProjectWatcher every kind of change —
an edit in place, an editor's write-then-rename over the file, a new cluster folder (made empty, filled later), a
deleted pair, a new kind folder, vedder.yaml edited or renamed over, another branch checked out with git — is seen by
the next request, as a project loaded from scratch, both with events and with events forced off (a stat of every
file, what a system without inotify gets). With events, a request after no change stats nothing and one after an
edit scans only the cluster named; a lost event queue, no watches to be had, links and a vedder.yaml that does not
read fall back to checking every file, never to a stale answer."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from demo_project import copy_demo
from test_project_cache import edit, from_scratch, project_dir, routings, snapshot  # noqa: F401 (a fixture)
from test_serving_watcher import ZEPPELIN, _comparable, assert_same_as_from_scratch, settled
from vedder.errors import VedderError
from vedder.project import model
from vedder.project.watch import EVENT, IN_Q_OVERFLOW, Changes, ProjectEvents, _Inotify
from vedder.serving import ProjectWatcher


@pytest.fixture(params=["events", "every file"])
def watching(request, monkeypatch) -> bool:
    """Both ways a server learns of changes: inotify's events, or (forced off, as where there is no inotify) a stat
    of every file on each request."""
    if request.param == "every file":
        monkeypatch.setattr(ProjectEvents, "start", classmethod(lambda cls, root: "forced off in a test"))
    return request.param == "events"


def rename_over(path: Path, old: str, new: str) -> None:
    """As vim (backupcopy=no), VS Code and atomic writers save: write a temporary file, rename it over the file."""
    text = path.read_text()
    assert old in text, (path, old)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text.replace(old, new, 1))
    os.replace(temporary, path)


def copy_cluster(source: Path, target: Path) -> None:
    """A new cluster folder copied from another, its cluster.yaml's id set to the folder's name."""
    shutil.copytree(source, target)
    path = target / "cluster.yaml"
    path.write_text(path.read_text().replace(f"id: {source.name}", f"id: {target.name}", 1))


def new_cluster_filled_later(clusters: Path) -> None:
    """A folder made empty first (a request may come in between), then its files written one by one."""
    target = clusters / "zeppelins"
    target.mkdir()
    for source in sorted((clusters / "podcasts").rglob("*")):
        relative = source.relative_to(clusters / "podcasts")
        if source.is_dir():
            (target / relative).mkdir()
        else:
            text = source.read_text()
            (target / relative).write_text(text.replace("id: podcasts", "id: zeppelins") if relative.name == "cluster.yaml" else text)


WATCHED_CHANGES = {
    "pair edited in place": lambda c: edit(next((c / "revenue_1" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin "),
    "pair renamed over": lambda c: rename_over(next((c / "revenue_1" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin "),
    "doc renamed over": lambda c: rename_over(next((c / "podcasts" / "docs").glob("*.md")), "\n", "\nZeppelin airships.\n"),
    "cluster.yaml renamed over": lambda c: rename_over(c / "listening_1" / "cluster.yaml", "title: ", "title: Zeppelin "),
    "new cluster folder": lambda c: copy_cluster(c / "podcasts", c / "zeppelins"),
    "new cluster folder filled later": new_cluster_filled_later,
    "pair deleted": lambda c: next((c / "listening_2" / "pairs").glob("*.yaml")).unlink(),
    "pairs folder deleted": lambda c: shutil.rmtree(c / "listening_2" / "pairs"),
    "pairs folder made": lambda c: (shutil.rmtree(c / "revenue_2" / "pairs"), (c / "revenue_2" / "pairs").mkdir(),
                                    (c / "revenue_2" / "pairs" / "zeppelin.yaml").write_text(ZEPPELIN)),
    "cluster moved away and another moved in": lambda c: ((c / "revenue_2").rename(c.parent / "elsewhere"),
                                                          (c / "podcasts_2").rename(c / "revenue_2")),
}


def assert_an_edit_is_seen(watcher: ProjectWatcher, folder: Path) -> None:
    """A pair in ``folder`` edited after the watcher's project settled is seen by the next request."""
    before = settled(watcher)
    edit(next(folder.glob("*.yaml")), "question: ", "question: zeppelin ")
    after = watcher.current()
    assert after is not before
    assert_same_as_from_scratch(after)


@pytest.mark.parametrize("change", sorted(WATCHED_CHANGES))
def test_each_kind_of_change_is_seen_by_the_next_request(project_dir, watching, change):
    watcher = ProjectWatcher(project_dir)
    assert watcher.watching is watching
    before = settled(watcher)
    routings(before)
    WATCHED_CHANGES[change](project_dir / "clusters")
    after = watcher.current()
    assert after is not before
    assert_same_as_from_scratch(after)
    stable = settled(watcher)
    assert watcher.current() is stable
    edit(next((project_dir / "clusters" / "revenue" / "pairs").glob("*.yaml")), "question: ", "question: airship ")
    assert_same_as_from_scratch(watcher.current())  # and the folders it made are watched


@pytest.mark.parametrize("how", ["renamed", "deleted and made again"])
def test_edits_inside_a_cluster_folder_renamed_or_made_again_are_seen(project_dir, watching, how):
    """The watches follow a folder's new name, and a folder made again under an old name is watched afresh."""
    clusters = project_dir / "clusters"
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    if how == "renamed":
        (clusters / "revenue_2").rename(clusters / "billing")
        folder = clusters / "billing"
    else:
        shutil.rmtree(clusters / "revenue_2")
        shutil.copytree(clusters / "revenue_1", clusters / "revenue_2")
        folder = clusters / "revenue_2"
    assert_same_as_from_scratch(watcher.current())
    for _ in range(2):
        assert_an_edit_is_seen(watcher, folder / "pairs")


@pytest.mark.parametrize("how", ["edited in place", "renamed over"])
def test_a_vedder_yaml_change_reloads_the_project(project_dir, watching, how):
    watcher = ProjectWatcher(project_dir)
    before = settled(watcher)
    (edit if how == "edited in place" else rename_over)(project_dir / "vedder.yaml", "token_budget: 6000", "token_budget: 5000")
    after = watcher.current()
    assert after is not before and after.config.token_budget == 5000
    assert_same_as_from_scratch(after)


def test_a_vedder_yaml_that_does_not_read_fails_every_request_until_fixed(project_dir, watching):
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    config = project_dir / "vedder.yaml"
    good = config.read_text()
    config.write_text("warehouse: [unclosed\n")
    for _ in range(2):
        with pytest.raises(VedderError):
            watcher.current()
    config.write_text(good.replace("token_budget: 6000", "token_budget: 4000"))
    assert watcher.current().config.token_budget == 4000


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e.st", *args], cwd=root, check=True, capture_output=True)


def test_checking_out_another_branch_is_seen(project_dir, watching):
    git(project_dir, "init", "-q", "-b", "main")
    git(project_dir, "add", "vedder.yaml", "clusters")
    git(project_dir, "commit", "-qm", "main")
    git(project_dir, "checkout", "-qb", "other")
    clusters = project_dir / "clusters"
    copy_cluster(clusters / "podcasts", clusters / "zeppelins")
    shutil.rmtree(clusters / "revenue_2")
    next((clusters / "listening_1" / "pairs").glob("*.yaml")).unlink()
    edit(next((clusters / "revenue_1" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    edit(project_dir / "vedder.yaml", "token_budget: 6000", "token_budget: 5000")
    git(project_dir, "add", "-A", "vedder.yaml", "clusters")
    git(project_dir, "commit", "-qm", "other")
    git(project_dir, "checkout", "-q", "main")
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    for branch, budget in (("other", 5000), ("main", 6000), ("other", 5000)):
        git(project_dir, "checkout", "-q", branch)
        project = watcher.current()
        assert project.config.token_budget == budget
        assert ("zeppelins" in project.clusters) is (branch == "other")
        assert_same_as_from_scratch(project)


def count_scans(monkeypatch) -> list[str]:
    scanned: list[str] = []
    real = model.scan_cluster

    def counting(folder: Path) -> model.ClusterFiles:
        scanned.append(folder.name)
        return real(folder)

    monkeypatch.setattr(model, "scan_cluster", counting)
    return scanned


def test_with_events_a_request_stats_nothing_unless_a_file_changed_and_then_only_its_cluster(project_dir, monkeypatch):
    watcher = ProjectWatcher(project_dir)
    project = settled(watcher)
    scanned = count_scans(monkeypatch)
    monkeypatch.setattr("vedder.serving.config_stamp", lambda root: pytest.fail("vedder.yaml stat'ed"))
    for _ in range(3):
        assert watcher.current() is project
    assert scanned == []
    (project_dir / "clusters" / "revenue_1" / "pairs" / "zeppelin.yaml").write_text(ZEPPELIN)
    (project_dir / "clusters" / "revenue_1" / "pairs" / ".zeppelin.yaml.swp").write_text("not a pair")
    (project_dir / "clusters" / "revenue_1" / "notes.txt").write_text("not read by vedder")
    after = watcher.current()
    assert scanned == ["revenue_1"] and after is not project
    assert any(p.id == "zeppelin" for p in after.clusters["revenue_1"].pairs)
    (project_dir / "clusters" / "revenue_1" / "pairs" / "notes.txt").write_text("not a pair either")
    (project_dir / "clusters" / "revenue_1" / "proposals").mkdir()
    assert watcher.current() is after and scanned == ["revenue_1"]


def test_without_events_every_file_is_stat_ed_on_each_request(project_dir, watching, monkeypatch):
    if watching:
        pytest.skip("the fallback's own test")
    watcher = ProjectWatcher(project_dir)
    project = settled(watcher)
    scanned = count_scans(monkeypatch)
    assert watcher.current() is project and len(scanned) == len(project.files) == 9


def test_a_lost_event_queue_checks_every_file_once_and_watches_on(project_dir, monkeypatch):
    watcher = ProjectWatcher(project_dir)
    project = settled(watcher)
    events = watcher._events
    real = events.changes
    lost = [EVENT.pack(-1, IN_Q_OVERFLOW, 0, 0)]  # what the kernel queues when the queue was full
    monkeypatch.setattr(events, "changes", lambda: events._changes_in(lost.pop()) if lost else real())
    scanned = count_scans(monkeypatch)
    copy_cluster(project_dir / "clusters" / "podcasts", project_dir / "clusters" / "zeppelins")
    after = watcher.current()
    assert len(scanned) == 10 and watcher.watching and "zeppelins" in after.clusters
    assert_same_as_from_scratch(after)
    edit(next((project_dir / "clusters" / "zeppelins" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    scanned.clear()
    project = watcher.current()
    assert scanned == ["zeppelins"]
    assert_same_as_from_scratch(project)


def test_no_watches_to_be_had_falls_back_with_a_note(project_dir, monkeypatch, capsys):
    def out_of_watches(self, path: str, mask: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(_Inotify, "add_watch", out_of_watches)
    watcher = ProjectWatcher(project_dir)
    assert not watcher.watching
    assert "max_user_watches" in capsys.readouterr().err
    assert_an_edit_is_seen(watcher, project_dir / "clusters" / "revenue_1" / "pairs")


def test_a_new_folder_that_cannot_be_watched_falls_back(project_dir, monkeypatch):
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    real = _Inotify.add_watch

    def full_for_zeppelins(self, path: str, mask: int) -> int:
        if "zeppelins" in path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(self, path, mask)

    monkeypatch.setattr(_Inotify, "add_watch", full_for_zeppelins)
    copy_cluster(project_dir / "clusters" / "podcasts", project_dir / "clusters" / "zeppelins")
    project = watcher.current()
    assert not watcher.watching and "zeppelins" in project.clusters
    edit(next((project_dir / "clusters" / "zeppelins" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    assert_same_as_from_scratch(watcher.current())


@pytest.mark.parametrize("link", ["pair", "hard-linked pair", "cluster folder", "pairs folder"])
def test_links_fall_back_to_a_stat_of_every_file(project_dir, tmp_path, link):
    """An edit through a link's other name is no event in the project's folders."""
    clusters = project_dir / "clusters"
    outside = tmp_path / "outside"
    shutil.copytree(clusters / "revenue_2", outside)
    if link == "cluster folder":
        shutil.rmtree(clusters / "revenue_2")
        (clusters / "revenue_2").symlink_to(outside)
    elif link == "pairs folder":
        shutil.rmtree(clusters / "revenue_2" / "pairs")
        (clusters / "revenue_2" / "pairs").symlink_to(outside / "pairs")
    else:
        pair = next((clusters / "revenue_2" / "pairs").glob("*.yaml"))
        pair.unlink()
        (os.link if link == "hard-linked pair" else os.symlink)(outside / "pairs" / pair.name, pair)
    watcher = ProjectWatcher(project_dir)
    assert not watcher.watching
    assert_an_edit_is_seen(watcher, outside / "pairs")


def test_a_link_made_while_watching_stops_the_watching(project_dir, tmp_path):
    watcher = ProjectWatcher(project_dir)
    settled(watcher)
    outside = tmp_path / "zeppelin.yaml"
    outside.write_text(ZEPPELIN)
    (project_dir / "clusters" / "revenue_1" / "pairs" / "zeppelin.yaml").symlink_to(outside)
    assert "zeppelin" in [p.id for p in watcher.current().clusters["revenue_1"].pairs]
    assert not watcher.watching
    edit(outside, "How many", "How few")
    assert_same_as_from_scratch(watcher.current())


def test_the_events_name_the_changed_clusters(tmp_path):
    root = copy_demo(tmp_path / "demo")
    events = ProjectEvents(root)
    try:
        assert events.changes() == Changes()
        (root / "clusters" / "revenue" / "pairs" / "zeppelin.yaml").write_text(ZEPPELIN)
        (root / "clusters" / "listening" / "cluster.yaml").touch()
        assert events.changes() == Changes(clusters={"revenue", "listening"})
        (root / "vedder.yaml").touch()
        (root / "README.md").write_text("not the project's")
        assert events.changes() == Changes(config=True)
        (root / "clusters").rename(root / "gone")
        assert events.changes().everything
    finally:
        events.close()


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    return copy_demo(tmp_path_factory.mktemp("watch") / "demo", scale=0.02)


def test_web_answers_follow_a_pair_renamed_over_like_a_fresh_project(demo_template, tmp_path, watching):
    from vedder.ask import ask
    from vedder.config import load_config
    from vedder.project import load_project
    from vedder.web import WebApp

    demo = Path(shutil.copytree(demo_template, tmp_path / "demo"))
    question = "How many zeppelins landed?"
    web = WebApp(ProjectWatcher(demo))
    assert web.watcher.watching is watching
    pair = demo / "clusters" / "revenue" / "pairs" / "zeppelins.yaml"
    try:
        for answer in (None, 42, 43):
            if answer is not None:
                temporary = pair.with_name(".zeppelins.yaml.tmp")
                temporary.write_text(ZEPPELIN.replace("42", str(answer)))
                os.replace(temporary, pair)
            fresh = _comparable(ask(load_project(load_config(demo), skip_broken=True), question, log=False).to_dict())
            assert fresh["rows"] == ([[answer]] if answer else fresh["rows"])
            assert _comparable(web.ask({"question": question})) == fresh
    finally:
        web.warehouses.close()
