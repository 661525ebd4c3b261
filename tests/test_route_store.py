"""The routing store (``.vedder/route-index.sqlite``) is brought up to date by an edit, not rebuilt: it keeps what
does not depend on the other clusters (term frequencies, document lengths), so an edit rewrites only the edited
cluster's changed terms, and routing works out idf and the average length when a question is asked. After any
change, the store holds what a store written from scratch holds, and routes to the same scores, bit for bit."""

from __future__ import annotations

import json
import shutil
import sqlite3
from array import array
from pathlib import Path

import pytest

from test_project_cache import (CHANGES, QUESTIONS, assert_same_as_from_scratch, edit, from_scratch, lazy, project_dir,
                                settle)
from vedder.context import index as index_module
from vedder.context import route
from vedder.context.index import BM25, ROUTE_CACHE, STORE_FORMAT, project_index
from vedder.context.tokenize import tokenize
from vedder.project.model import cache_folder

__all__ = ["project_dir"]  # the fixture, shared with test_project_cache
WORDS = [tokenize(q) for q in QUESTIONS] + [["zeppelin"], ["stream", "country", "zeppelin", "stream"]]
"""What the scores are compared on: the questions' terms, a word one edit adds, a word twice."""


def indexed_clusters(monkeypatch) -> list[str]:
    """The ids of the clusters indexed (``cluster_part``) from now on, in order."""
    indexed: list[str] = []
    original = index_module.cluster_part
    monkeypatch.setattr(index_module, "cluster_part", lambda cluster: indexed.append(cluster.id) or original(cluster))
    return indexed


def store_path(root: Path) -> Path:
    return cache_folder(root) / ROUTE_CACHE


def contents(path: Path) -> dict:
    """What a store says, whatever slots its clusters were given: per cluster its key, lengths and part; per term
    its postings by cluster id (and pair question number); the meta row but for the slots."""
    connection = sqlite3.connect(path)
    try:
        ids = {slot: cid for cid, slot in connection.execute("SELECT id, slot FROM clusters")}
        clusters = {cid: (key, length, array("d", lengths).tolist(), json.loads(bag), json.loads(named), json.loads(pairs))
                    for cid, key, length, lengths, bag, named, pairs in connection.execute(
                        "SELECT id, key, length, pair_lengths, bag, named, pair_bags FROM clusters JOIN parts USING (id)")}
        terms = {}
        for kind, columns in index_module.POSTINGS.items():
            for term, *blobs in connection.execute(f"SELECT term, {', '.join(columns)} FROM {kind}_terms"):
                slots, *rest = [array(code, blob).tolist() for code, blob in zip(columns.values(), blobs)]
                terms[kind, term] = sorted((ids[slot], *values) for slot, *values in zip(slots, *rest))
        meta = connection.execute("SELECT format, fingerprint, cluster_ids, lengths, pair_counts, pair_lengths FROM meta").fetchall()
    finally:
        connection.close()
    return {"clusters": clusters, "terms": terms, "meta": meta}


def every_score(root: Path) -> list:
    """Each question's score for every cluster and pair question, as the routing index gives them."""
    index = project_index(lazy(root))
    return [(index.index.scores(terms), index.pair_index.scores(terms)) for terms in WORDS]


def written_anew(root: Path) -> tuple[dict, list]:
    """The contents of a store written from scratch for ``root`` as it is now, and its scores (the store in place
    is put back as it was)."""
    path = store_path(root)
    kept = path.read_bytes()
    path.unlink()
    project_index(lazy(root))
    anew = contents(path), every_score(root)
    path.write_bytes(kept)
    return anew


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_store_brought_up_to_date_holds_what_one_written_anew_holds(project_dir, change):
    assert_same_as_from_scratch(project_dir)
    settle(project_dir)
    CHANGES[change](project_dir / "clusters")
    assert_same_as_from_scratch(project_dir, warm=False)
    scores = every_score(project_dir)
    assert (contents(store_path(project_dir)), scores) == written_anew(project_dir)  # scores bit for bit
    expected = from_scratch(project_dir)
    in_memory = index_module._memory_index(expected, index_module.routed_ids(expected),
                                           [index_module.cluster_part(index_module.routed_cluster(expected, cid))
                                            for cid in index_module.routed_ids(expected)])
    assert scores == [(in_memory.index.scores(terms), in_memory.pair_index.scores(terms)) for terms in WORDS]


def rows(path: Path) -> dict:
    connection = sqlite3.connect(path)
    try:
        return {(kind, term): blobs for kind in index_module.POSTINGS
                for term, *blobs in connection.execute(f"SELECT * FROM {kind}_terms")}
    finally:
        connection.close()


def test_an_edit_indexes_only_its_cluster_and_rewrites_only_the_terms_it_changed(project_dir, monkeypatch):
    project_index(lazy(project_dir))
    settle(project_dir)
    before = rows(store_path(project_dir))
    edit(next((project_dir / "clusters" / "revenue_1" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    indexed, rewritten, spliced = indexed_clusters(monkeypatch), [], index_module._spliced
    monkeypatch.setattr(index_module, "_spliced", lambda columns, by_slot: rewritten.append(by_slot) or spliced(columns, by_slot))
    assert route(lazy(project_dir), "zeppelin").cluster.id == "revenue_1"
    assert indexed == ["revenue_1"] and len(rewritten) == 2  # in the cluster's document and in a pair question's
    after = rows(store_path(project_dir))
    assert {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)} == {
        ("cluster", "zeppelin"), ("pair", "zeppelin")}
    # A touch (same text, new stat) indexes the cluster again and rewrites no postings.
    pair = next((project_dir / "clusters" / "podcasts" / "pairs").glob("*.yaml"))
    pair.write_text(pair.read_text())
    indexed.clear()
    rewritten.clear()
    route(lazy(project_dir), "zeppelin")
    assert indexed == ["podcasts"] and rewritten == [] and rows(store_path(project_dir)) == after


def test_a_reader_keeps_the_store_it_opened_while_another_process_updates_it(project_dir):
    """Stores are renamed into place whole: a server that opened one before an edit reads that one to the end, every
    term it has not read yet too, and routes as the project it opened it for."""
    first = lazy(project_dir)
    route(first, "How many streams per country?")
    expected = every_score(project_dir)
    settle(project_dir)
    edit(next((project_dir / "clusters" / "listening" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin podcasts ")
    route(lazy(project_dir), "zeppelin podcasts")  # another process writes the store for the edit
    index = project_index(first)
    assert [(index.index.scores(terms), index.pair_index.scores(terms)) for terms in WORDS] == expected


def test_two_processes_writing_the_store_at_once_each_rename_a_whole_one(project_dir, monkeypatch):
    """The second process copies the store, and while it indexes the edited cluster the first one renames its own
    update into place; the second then renames its whole store over it. Both route as from scratch, and the store
    left in place reads as one written anew."""
    project_index(lazy(project_dir))
    settle(project_dir)
    edit(next((project_dir / "clusters" / "podcasts_2" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    original, raced = index_module._parts, []

    def racing(project, ids, keys, stored):
        if not raced:
            raced.append(ids)
            route(lazy(project_dir), "zeppelin")  # the other process, start to end
        return original(project, ids, keys, stored)

    monkeypatch.setattr(index_module, "_parts", racing)
    late = lazy(project_dir)
    assert route(late, "zeppelin").cluster.id == "podcasts_2" and raced == [["podcasts_2"]]
    monkeypatch.setattr(index_module, "_parts", original)
    assert_same_as_from_scratch(project_dir, warm=False)
    connection = sqlite3.connect(store_path(project_dir))
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        connection.close()
    assert contents(store_path(project_dir)) == written_anew(project_dir)[0]
    assert not list(cache_folder(project_dir).glob(".route-index.sqlite.*"))  # no temporary file left


def test_a_store_of_another_format_is_written_anew_none_of_it_reused(project_dir, monkeypatch):
    project_index(lazy(project_dir))
    connection = sqlite3.connect(store_path(project_dir))
    try:
        connection.execute("UPDATE meta SET format = 'what version 3 or another tokenizer wrote'")
        connection.execute("UPDATE parts SET bag = '{\"stale\": 1.0}'")
        connection.commit()
    finally:
        connection.close()
    settle(project_dir)
    edit(next((project_dir / "clusters" / "revenue" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    indexed = indexed_clusters(monkeypatch)
    project_index(lazy(project_dir))
    assert len(indexed) == 9
    assert contents(store_path(project_dir))["meta"][0][0] == STORE_FORMAT
    assert contents(store_path(project_dir)) == written_anew(project_dir)[0]


@pytest.mark.parametrize("damage", ["a part missing", "a bad page"])
def test_a_store_that_does_not_update_is_written_anew(project_dir, damage):
    """A copy whose parts do not read (a row lost, a page of garbage: caches are written without fsync) cannot be
    brought up to date: the store is written anew, and routes as from scratch."""
    project_index(lazy(project_dir))
    path = store_path(project_dir)
    if damage == "a part missing":
        connection = sqlite3.connect(path)
        try:
            connection.execute("DELETE FROM parts WHERE id = 'listening_1'")
            connection.commit()
        finally:
            connection.close()
    else:
        data = bytearray(path.read_bytes())
        data[4 * 4096:] = bytes(len(data) - 4 * 4096)
        path.write_bytes(bytes(data))
    settle(project_dir)
    edit(project_dir / "clusters" / "listening_1" / "cluster.yaml", "title: ", "title: Zeppelin ")
    assert_same_as_from_scratch(project_dir, warm=False)
    assert contents(path) == written_anew(project_dir)[0]


def test_a_store_that_cannot_be_written_routes_from_memory_as_from_scratch(project_dir, monkeypatch):
    """A read-only checkout (no temporary file to be had): routing indexes in memory, from the parts the store has
    and the edited cluster, and leaves the store as it was."""
    project_index(lazy(project_dir))
    settle(project_dir)
    edit(next((project_dir / "clusters" / "listening_2" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    kept = store_path(project_dir).read_bytes()

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(index_module.tempfile, "mkstemp", read_only)
    indexed = indexed_clusters(monkeypatch)
    project = assert_same_as_from_scratch(project_dir, warm=False)
    assert isinstance(project_index(project).index, BM25) and "listening_2" in indexed
    assert route(project, "zeppelin").cluster.id == "listening_2"
    assert store_path(project_dir).read_bytes() == kept


def test_clusters_added_and_removed_take_new_slots_and_route_as_from_scratch(project_dir):
    """A cluster that goes frees its slot for no one (its postings are dropped); one that comes takes the next."""
    project_index(lazy(project_dir))
    settle(project_dir)
    clusters = project_dir / "clusters"
    shutil.rmtree(clusters / "listening_1")
    for name in ("aaa_first", "zzz_last"):
        (clusters / "podcasts_1").rename(clusters / name) if name == "aaa_first" else shutil.copytree(clusters / "revenue", clusters / name)
        path = clusters / name / "cluster.yaml"
        path.write_text("".join(f"id: {name}\n" if line.startswith("id:") else line for line in path.read_text().splitlines(keepends=True)))
    assert_same_as_from_scratch(project_dir, warm=False)
    connection = sqlite3.connect(store_path(project_dir))
    try:
        slots = dict(connection.execute("SELECT id, slot FROM clusters"))
    finally:
        connection.close()
    assert "listening_1" not in slots and sorted(slots.values())[-2:] == [9, 10]
    assert contents(store_path(project_dir)) == written_anew(project_dir)[0]


def test_copies_a_killed_writer_left_are_removed_by_the_next_writer(project_dir):
    """A writer killed mid-write leaves its temporary copy (10 MB on 1,000 clusters); the next one removes copies
    older than an hour, not one another writer may be filling right now."""
    import os
    import time

    route(lazy(project_dir), "How many streams per country?")
    folder = store_path(project_dir).parent
    old, fresh = folder / f".{ROUTE_CACHE}.killed.tmp", folder / f".{ROUTE_CACHE}.writing.tmp"
    for leftover in (old, fresh):
        leftover.write_bytes(b"x" * 1000)
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    settle(project_dir)
    edit(next((project_dir / "clusters" / "listening" / "pairs").glob("*.yaml")), "question: ", "question: zeppelin ")
    assert route(lazy(project_dir), "zeppelin").cluster.id == "listening"
    assert not old.exists() and fresh.exists()


def test_a_long_running_server_keeps_a_bounded_number_of_terms_worked_out(project_dir, monkeypatch):
    monkeypatch.setattr(index_module, "MEMO_TERMS", 3)
    route(lazy(project_dir), "How many streams per country?")
    index = project_index(lazy(project_dir))
    expected = [index.index.scores([f"word{n}", "stream"]) for n in range(10)]
    assert len(index.index.memo) <= 3
    assert [index.index.scores([f"word{n}", "stream"]) for n in range(10)] == expected  # the same scores, worked out again
