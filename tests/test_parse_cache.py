"""The parse cache: a project whose files did not change loads without parsing YAML, with the same data and
positions; a changed, added or removed file is noticed; a broken or unwritable cache costs only speed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from demo_project import copy_demo
from vedder import files
from vedder.files import read_text
from vedder.config import load_config
from vedder.project import load_project
from vedder.project.model import cache_folder

@pytest.fixture
def project_dir(tmp_path) -> Path:
    return copy_demo(tmp_path)


def cluster_caches(project_dir: Path) -> list[Path]:
    """The per-cluster parse caches (``.vedder/clusters/<name>.json``)."""
    return sorted((cache_folder(project_dir) / "clusters").glob("*.json"))


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
    assert [p.stem for p in cluster_caches(project_dir)] == sorted(p.name for p in (project_dir / "clusters").iterdir())
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
    assert str(doomed) not in (cache_folder(project_dir) / "clusters" / f"{doomed.parts[-3]}.json").read_text()


def test_a_corrupt_cache_is_ignored_and_replaced(project_dir):
    fresh = snapshot(load_project(load_config(project_dir)))
    cache = cluster_caches(project_dir)[0]
    cache.write_text(f'{{"version": {files.ParseCache.VERSION}, "files": {{"x": [1, 2')
    assert snapshot(load_project(load_config(project_dir))) == fresh
    assert cache.read_text().startswith(f'{{"version":{files.ParseCache.VERSION},')


def test_an_unwritable_cache_folder_still_loads(project_dir, monkeypatch):
    monkeypatch.delenv("VEDDER_CACHE_DIR")
    (project_dir / ".vedder").write_text("a file where the cache folder would be")
    project = load_project(load_config(project_dir))
    assert project.clusters



def same_stamp_rewrite(path: Path, old: str, new: str) -> None:
    """Rewrite ``path`` with one value changed to another of the same length, keeping its size and mtime: an
    edit within one mtime tick (1-2 s on some file systems), or a restore by cp -p, rsync -a, tar or unzip."""
    assert len(old.encode()) == len(new.encode())
    status = path.stat()
    path.write_text(path.read_text().replace(old, new, 1))
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (status.st_size, status.st_mtime_ns)


def test_a_file_rewritten_within_one_mtime_tick_is_not_served_stale(project_dir):
    load_project(load_config(project_dir))
    pair = next((project_dir / "clusters").glob("*/pairs/*.yaml"))
    question = next(line for line in pair.read_text().splitlines() if line.startswith("question: "))
    changed = "question: " + question.removeprefix("question: ").upper()
    same_stamp_rewrite(pair, question, changed)
    reloaded = load_project(load_config(project_dir)).clusters[pair.parts[-3]].pair(pair.stem)
    assert reloaded.question == changed.removeprefix("question: ")

def test_a_doc_rewritten_within_one_mtime_tick_is_not_served_stale(project_dir):
    load_project(load_config(project_dir))
    doc = next(p for p in (project_dir / "clusters").glob("*/docs/*.md") if p.read_text().startswith("---\n"))
    title = next(line for line in doc.read_text().splitlines() if line.startswith("title:"))
    changed = "title: " + title.removeprefix("title: ").upper()
    same_stamp_rewrite(doc, title, changed)
    reloaded = load_project(load_config(project_dir)).clusters[doc.parts[-3]]
    assert next(d for d in reloaded.docs if d.id == doc.stem).title == changed.removeprefix("title: ")



def test_a_cache_of_the_wrong_shape_is_ignored(project_dir):
    fresh = snapshot(load_project(load_config(project_dir)))
    cache = cluster_caches(project_dir)[0]
    cache.write_text(f'{{"version": {files.ParseCache.VERSION}, "files": []}}')
    assert snapshot(load_project(load_config(project_dir))) == fresh


def settle(project_dir: Path) -> None:
    """Make the cache's last checks 10 s later than they were, as if every file had changed long before them."""
    for cache in cluster_caches(project_dir):
        data = json.loads(cache.read_text())
        for entry in data["files"].values():
            entry[4] += 10_000_000_000
        cache.write_text(json.dumps(data))


def test_settled_unchanged_files_are_not_even_read(project_dir, monkeypatch):
    fresh = snapshot(load_project(load_config(project_dir)))
    settle(project_dir)
    config = load_config(project_dir)
    with monkeypatch.context() as patched:
        no_parsing(patched)

        def refuse(path, *args, **kwargs):
            if path.suffix == ".yaml" and path.name != "vedder.yaml":
                raise AssertionError(f"{path} was read although its stat did not change")
            return read_text(path, *args, **kwargs)

        patched.setattr(files, "read_text", refuse)
        assert snapshot(load_project(config)) == fresh


def test_a_settled_file_restored_with_its_old_mtime_is_not_served_stale(project_dir):
    load_project(load_config(project_dir))
    settle(project_dir)
    pair = next((project_dir / "clusters").glob("*/pairs/*.yaml"))
    question = next(line for line in pair.read_text().splitlines() if line.startswith("question: "))
    changed = "question: " + question.removeprefix("question: ").upper()
    same_stamp_rewrite(pair, question, changed)  # the ctime moves on: no tool can set it back
    reloaded = load_project(load_config(project_dir)).clusters[pair.parts[-3]].pair(pair.stem)
    assert reloaded.question == changed.removeprefix("question: ")


def test_the_cache_folder_ignores_itself_in_git(project_dir, monkeypatch):
    import subprocess

    monkeypatch.delenv("VEDDER_CACHE_DIR")
    subprocess.run(["git", "init", "-q", str(project_dir)], check=True)
    load_project(load_config(project_dir))
    assert (project_dir / ".vedder" / "clusters.json").is_file() and (project_dir / ".vedder" / "clusters").is_dir()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=project_dir,
                            capture_output=True, text=True, check=True).stdout
    assert ".vedder" not in status and "clusters/" in status


def test_a_warm_project_loads_without_importing_yaml(project_dir):
    import subprocess
    import sys

    code = (
        "import sys; from vedder.config import load_config; from vedder.project import load_project; "
        f"project = load_project(load_config({str(project_dir)!r})); assert project.clusters; "
        "print('yaml' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    second = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (first.strip(), second.strip()) == ("True", "False")
