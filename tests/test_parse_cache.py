"""The parse cache: a project whose files did not change loads without parsing YAML, with the same data and
positions; a changed, added or removed file is noticed; a broken or unwritable cache costs only speed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vedder import files
from vedder.config import load_config
from vedder.project import load_project
from vedder.project.model import cache_folder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def project_dir(tmp_path) -> Path:
    shutil.copytree(REPO / "clusters", tmp_path / "clusters")
    shutil.copy(REPO / "vedder.yaml", tmp_path / "vedder.yaml")
    return tmp_path


def snapshot(project) -> dict:
    return {
        cid: (c.title, [(d.table, [col.name for col in d.columns], d.source.positions) for d in c.dataset_files.values()],
              [(p.id, p.question, p.sql, p.source.positions) for p in c.pairs],
              [(d.id, d.title, d.tags, d.front_matter.positions if d.front_matter else None) for d in c.docs])
        for cid, c in project.clusters.items()
    }


def no_parsing(monkeypatch) -> None:
    def refuse(text, path):
        raise AssertionError(f"{path} was parsed although it did not change")

    monkeypatch.setattr(files, "load_yaml_text", refuse)
    monkeypatch.setattr("vedder.project.model.load_yaml_text", refuse)


def test_an_unchanged_project_loads_from_the_cache_with_the_same_data_and_positions(project_dir, monkeypatch):
    fresh = snapshot(load_project(load_config(project_dir)))
    assert (cache_folder(project_dir) / "parse-cache.json").is_file()
    config = load_config(project_dir)
    with monkeypatch.context() as patched:
        no_parsing(patched)
        assert snapshot(load_project(config)) == fresh


def test_a_changed_file_is_parsed_again(project_dir, monkeypatch):
    load_project(load_config(project_dir))
    pair = next((project_dir / "clusters").glob("*/pairs/*.yaml"))
    pair.write_text(pair.read_text().replace("question: ", "question: Really, "))
    os.utime(pair, ns=(pair.stat().st_atime_ns, pair.stat().st_mtime_ns + 1_000_000))
    reloaded = load_project(load_config(project_dir))
    cluster = reloaded.clusters[pair.parts[-3]]
    assert cluster.pair(pair.stem).question.startswith("Really, ")


def test_removed_files_leave_the_cache(project_dir):
    load_project(load_config(project_dir))
    doomed = next((project_dir / "clusters").glob("*/docs/*.md"))
    doomed.unlink()
    load_project(load_config(project_dir))
    assert str(doomed) not in (cache_folder(project_dir) / "parse-cache.json").read_text()


def test_a_corrupt_cache_is_ignored_and_replaced(project_dir):
    fresh = snapshot(load_project(load_config(project_dir)))
    cache = cache_folder(project_dir) / "parse-cache.json"
    cache.write_text('{"version": 2, "files": {"x": [1, 2')
    assert snapshot(load_project(load_config(project_dir))) == fresh
    assert cache.read_text().startswith('{"version":2')


def test_an_unwritable_cache_folder_still_loads(project_dir, monkeypatch):
    monkeypatch.delenv("VEDDER_CACHE_DIR")
    (project_dir / ".vedder").write_text("a file where the cache folder would be")
    project = load_project(load_config(project_dir))
    assert project.clusters

