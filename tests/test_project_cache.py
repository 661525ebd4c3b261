"""Lazy loading at scale: a one-shot command loads only the clusters it uses, routes from the cached index without
loading any, and every edit, addition, removal or rename of a pair, dataset, doc, cluster.yaml or cluster is seen
by the next load — the same clusters, routing scores and broken clusters as a project loaded from scratch."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from demo_project import copy_demo
from vedder.config import load_config
from vedder.context import index as index_module
from vedder.context import route
from vedder.context.index import _route_parts, project_index
from vedder.project import Project, load_project
from vedder.project.model import cache_folder

QUESTIONS = ["How many streams per country?", "What does each plan cost per month?", "top podcasts by listens",
             "What's the weather in Paris?", "monthly revenue in 2026", "How many listeners per country?"]


@pytest.fixture
def project_dir(tmp_path) -> Path:
    """The demo's three clusters, and a copy of each under another id (nine clusters)."""
    root = copy_demo(tmp_path / "project")
    for folder in sorted((root / "clusters").iterdir()):
        for copy in (1, 2):
            target = root / "clusters" / f"{folder.name}_{copy}"
            shutil.copytree(folder, target)
            header = target / "cluster.yaml"
            header.write_text("".join(f"id: {target.name}\n" if line.startswith("id:") else line
                                      for line in header.read_text().splitlines(keepends=True)))
    return root


def settle(root: Path) -> None:
    """As if every file had changed long before the caches last checked it (tests write files just now: a state
    or stat taken within 2 s of a change is not trusted)."""
    folder = cache_folder(root)
    states = json.loads((folder / "clusters.json").read_text())
    for entry in states["clusters"].values():
        entry[1] += 10_000_000_000
    (folder / "clusters.json").write_text(json.dumps(states))
    for cache in (folder / "clusters").glob("*.json"):
        data = json.loads(cache.read_text())
        for entry in data["files"].values():
            entry[4] += 10_000_000_000
        cache.write_text(json.dumps(data))


def from_scratch(root: Path) -> Project:
    """Every cluster loaded now, and routing indexed in memory (no cache of any kind is used)."""
    loaded = load_project(load_config(root), skip_broken=True)
    return Project(config=loaded.config, clusters=dict(loaded.clusters), broken=loaded.broken)


def routings(project: Project) -> list:
    return [(r.cluster and r.cluster.id, r.scores, r.covered, r.coverage, r.margin, [c.id for c in r.candidates],
             [b.id for b in r.not_loaded], r.not_loaded_scores, [c.id for c in r.closest])
            for r in (route(project, q) for q in QUESTIONS)]


def snapshot(project: Project) -> dict:
    return {name: (c.id, c.title, c.owners.to_dict(), sorted(c.dataset_files), [(p.id, p.question, p.sql) for p in c.pairs],
                   [(d.id, d.title, d.body) for d in c.docs]) for name, c in project.clusters.items()}


def lazy(root: Path) -> Project:
    return load_project(load_config(root), skip_broken=True, lazy=True)


def assert_same_as_from_scratch(root: Path, *, warm: bool = True) -> Project:
    """A lazy load (``warm``: its caches warm, then settled) routes like a project loaded from scratch, without
    loading the clusters that routing does not name, and holds the same clusters and broken ones."""
    if warm:
        lazy(root)
        settle(root)
    project, expected = lazy(root), from_scratch(root)
    if warm:
        assert project.clusters.loaded == []
    assert sorted(project.broken) == sorted(expected.broken)
    assert [b.warning for b in project.broken.values()] == [b.warning for b in expected.broken.values()]
    assert routings(project) == routings(expected)
    named = {c.path.name for r in (route(project, q) for q in QUESTIONS) for c in [r.cluster, *r.candidates, *r.closest] if c}
    assert set(project.clusters.loaded) == named
    index = project_index(project)
    ids, bags, pair_owners, pair_bags, named_terms = _route_parts(expected)
    assert (index.cluster_ids, index.bags, index.pair_owners, index.named) == (ids, bags, pair_owners, [set(t) for t in named_terms])
    assert snapshot(project) == snapshot(expected)
    return project


def test_a_warm_lazy_project_routes_from_the_cache_and_loads_only_what_routing_names(project_dir, monkeypatch):
    assert_same_as_from_scratch(project_dir)
    settle(project_dir)
    project = lazy(project_dir)
    with monkeypatch.context() as patched:
        patched.setattr(index_module, "cluster_part", lambda cluster: pytest.fail("the stored index should be used"))
        routing = route(project, "What does each plan cost per month?")
    assert routing.ambiguous and {c.id for c in routing.candidates} == {"revenue", "revenue_1", "revenue_2"}
    assert project.clusters.loaded == ["revenue", "revenue_1", "revenue_2"]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def with_folder_id(folder: Path, old_id: str) -> None:
    """A cluster folder copied or renamed as a person would: its cluster.yaml's id set to the folder's new name
    (an id that is not the folder's name leaves the cluster out)."""
    path = Path(folder) / "cluster.yaml"
    path.write_text(path.read_text().replace(f"id: {old_id}\n", f"id: {Path(folder).name}\n", 1))


CHANGES = {
    "pair edited": lambda c: edit(next((c / "revenue_1" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin "),
    "pair added": lambda c: (c / "revenue_1" / "pairs" / "zeppelin.yaml").write_text(
        "question: How many zeppelins landed?\nsql: SELECT 1\nverified_by: a@b.c\nverified_at: 2026-01-01\n"),
    "pair removed": lambda c: next((c / "listening_2" / "pairs").glob("*.yaml")).unlink(),
    "pair renamed": lambda c: (lambda p: p.rename(p.with_name("zz-" + p.name)))(next((c / "listening_2" / "pairs").glob("*.yaml"))),
    "dataset edited": lambda c: edit(next((c / "podcasts_1" / "datasets").glob("*.yaml")), "description: ", "description: zeppelin "),
    "doc edited": lambda c: edit(next((c / "podcasts" / "docs").glob("*.md")), "\n", "\nZeppelin airships are podcasts too.\n"),
    "cluster.yaml edited": lambda c: edit(c / "listening_1" / "cluster.yaml", "title: ", "title: Zeppelin "),
    "cluster added": lambda c: with_folder_id(shutil.copytree(c / "podcasts", c / "zeppelins"), "podcasts"),
    "cluster removed": lambda c: shutil.rmtree(c / "revenue_2"),
    "cluster renamed": lambda c: with_folder_id((c / "revenue_2").rename(c / "billing"), "revenue_2"),
    "pair broken": lambda c: next((c / "podcasts_2" / "pairs").glob("*.yaml")).write_text("question: [unclosed\n"),
    "cluster.yaml broken": lambda c: (c / "listening_1" / "cluster.yaml").write_text("- a list\n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_every_change_is_seen_by_the_next_lazy_load(project_dir, change):
    assert_same_as_from_scratch(project_dir)
    before = routings(lazy(project_dir))
    settle(project_dir)  # the change comes well after every check: only the files' stats can tell
    CHANGES[change](project_dir / "clusters")
    project = assert_same_as_from_scratch(project_dir, warm=False)
    assert_same_as_from_scratch(project_dir)
    if change not in ("pair removed", "pair renamed"):  # the copies left tie as before
        assert routings(project) != before or change.endswith("broken")
    if change.endswith("broken"):
        assert project.broken and project.warnings


def test_a_broken_cluster_stays_left_out_and_its_fix_is_seen(project_dir):
    pair = next((project_dir / "clusters" / "podcasts_1" / "pairs").glob("*.yaml"))
    original = pair.read_text()
    pair.write_text("question: [unclosed\n")
    broken = assert_same_as_from_scratch(project_dir)
    assert list(broken.broken) == ["podcasts_1"] and "podcasts_1" not in broken.clusters
    settle(project_dir)
    again = lazy(project_dir)  # its state says broken: loaded again for the error, the same as before
    assert [b.warning for b in again.broken.values()] == [b.warning for b in broken.broken.values()]
    pair.write_text(original)
    fixed = assert_same_as_from_scratch(project_dir)
    assert not fixed.broken and "podcasts_1" in fixed.clusters


def test_a_settled_cluster_rewritten_within_one_mtime_tick_is_loaded_again(project_dir):
    """A same-size rewrite that keeps the mtime (an edit within one tick, or cp -p) moves the ctime: the cluster's
    state is not trusted, so the broken file is found."""
    assert_same_as_from_scratch(project_dir)
    header = project_dir / "clusters" / "revenue_1" / "cluster.yaml"
    status = header.stat()
    text = header.read_text()
    header.write_text("[" + text[1:])  # same size, no longer YAML
    os.utime(header, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (header.stat().st_size, header.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)
    project = lazy(project_dir)
    assert list(project.broken) == ["revenue_1"]


def test_an_eager_load_reads_every_cluster_and_a_lazy_one_iterates_them_all(project_dir):
    expected = snapshot(from_scratch(project_dir))
    lazy(project_dir)
    settle(project_dir)
    project = lazy(project_dir)
    assert len(project.clusters) == 9 and project.clusters.loaded == []
    assert snapshot(project) == expected and len(project.clusters.loaded) == 9
    assert [row["id"] for row in project.summaries()] == sorted(c.id for c in from_scratch(project_dir).clusters.values())


def test_the_caches_of_earlier_versions_and_of_removed_clusters_are_deleted(project_dir):
    folder = cache_folder(project_dir)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "parse-cache.json").write_text("{}")
    (folder / "route-index.json").write_text("{}")
    route(lazy(project_dir), "How many streams per country?")
    assert not (folder / "parse-cache.json").exists() and not (folder / "route-index.json").exists()
    assert (folder / "clusters" / "revenue_2.json").is_file()
    shutil.rmtree(project_dir / "clusters" / "revenue_2")
    lazy(project_dir)
    assert not (folder / "clusters" / "revenue_2.json").exists()


def test_one_shot_cli_ask_answers_as_an_eager_project_does(tmp_path):
    from demo_project import ask_json
    from vedder.ask import ask

    root = copy_demo(tmp_path / "demo", scale=0.05)
    question = "What does each plan cost per month?"
    ask_json(root, question)
    settle(root)
    cli = ask_json(root, question)
    direct = ask(load_project(load_config(root), skip_broken=True), question, log=False).to_dict()
    for answer in (cli, direct):
        for key in ("latency_s", "conversation_id"):
            answer.pop(key)
    assert cli["status"] == "answered" and cli == direct


def test_a_first_run_on_many_clusters_reads_and_indexes_them_on_every_core(project_dir, monkeypatch):
    """Worker processes parse the clusters (writing their parse caches) and index them: the same project and
    routing as one process loading everything, and the next run loads nothing."""
    from vedder.project import model

    monkeypatch.setattr(model, "PARALLEL_MINIMUM", 2)
    monkeypatch.setattr(model.os, "cpu_count", lambda: 2)
    pair = next((project_dir / "clusters" / "listening_2" / "pairs").glob("*.yaml"))
    pair.write_text("question: [unclosed\n")
    project = lazy(project_dir)
    assert list(project.broken) == ["listening_2"] and project.clusters.loaded == []
    project_index(project)
    assert project.clusters.loaded == []
    assert_same_as_from_scratch(project_dir, warm=False)
    assert_same_as_from_scratch(project_dir)


PARENT = os.getpid()


def _dies_in_a_worker(item: int) -> int:
    """Killed like the OOM killer would kill it, in a worker process only (the parent computes it)."""
    if item == 3 and os.getpid() != PARENT:
        os.kill(os.getpid(), 9)
    return item * item


def test_a_worker_that_dies_does_not_hang_the_first_run():
    """A worker killed mid-run (the OOM killer on a first run over 1,000 clusters) left multiprocessing.Pool.map
    waiting forever: `vedder ask` hung. The work is done here instead."""
    import threading

    from vedder.project.model import in_processes

    results: list = []
    runner = threading.Thread(target=lambda: results.append(in_processes(_dies_in_a_worker, list(range(8)))), daemon=True)
    runner.start()
    runner.join(120)  # not a timing assertion: a hang, bounded so the suite ends
    assert results == [[item * item for item in range(8)]], "in_processes hung after a worker died"


def test_a_corrupt_routing_store_is_rebuilt_not_read_as_no_cluster_covering(project_dir):
    """A route-index.sqlite whose pages after its meta table are garbage (written without fsync: a crash after the
    rename can leave that) routed every question as 'No cluster covers this question' until a cluster changed:
    each term's read failed and weighed nothing. It routes as a project loaded from scratch and is written anew."""
    import sqlite3

    project_index(lazy(project_dir))
    store = cache_folder(project_dir) / index_module.ROUTE_CACHE
    data = bytearray(store.read_bytes())
    data[8192:] = bytes(len(data) - 8192)
    store.write_bytes(bytes(data))
    connection = sqlite3.connect(store)
    try:
        assert connection.execute("SELECT fingerprint FROM meta").fetchone()  # still opens as this project's store
        with pytest.raises(sqlite3.DatabaseError):
            connection.execute("SELECT count(*) FROM cluster_terms").fetchone()
    finally:
        connection.close()
    assert routings(lazy(project_dir)) == routings(from_scratch(project_dir))
    connection = sqlite3.connect(store)
    try:
        assert connection.execute("PRAGMA quick_check").fetchone() == ("ok",)
    finally:
        connection.close()


def test_a_routing_store_with_unreadable_parts_routes_as_from_scratch(project_dir):
    """A part that does not read (here: not JSON) was a traceback where routing reads a cluster's bag."""
    import sqlite3

    project_index(lazy(project_dir))
    connection = sqlite3.connect(cache_folder(project_dir) / index_module.ROUTE_CACHE)
    try:
        connection.execute("UPDATE parts SET bag = '{not json', named = '['")
        connection.commit()
    finally:
        connection.close()
    assert routings(lazy(project_dir)) == routings(from_scratch(project_dir))
