"""Shared fixtures: vedder's home and log point at a temp dir for every test."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("vedder-home")
    monkeypatch.setenv("VEDDER_HOME", str(home))
    monkeypatch.setenv("VEDDER_LOG", str(home / "log.sqlite"))
    monkeypatch.setenv("VEDDER_CACHE_DIR", str(home / "cache"))
    # CI machines may have no git identity; commits made by tests need one.
    for name, value in (("GIT_AUTHOR_NAME", "Vedder Test"), ("GIT_AUTHOR_EMAIL", "test@vedder.invalid"),
                        ("GIT_COMMITTER_NAME", "Vedder Test"), ("GIT_COMMITTER_EMAIL", "test@vedder.invalid")):
        monkeypatch.setenv(name, value)
    for name in ("VEDDER_MODEL", "VEDDER_WAREHOUSE", "GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return home
