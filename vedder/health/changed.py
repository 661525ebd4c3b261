"""Which clusters a change touches: ``git diff --name-only REF`` mapped to cluster folders.

A change to ``vedder.yaml`` (weights, thresholds, warehouse) touches every cluster.

>>> clusters_in_paths(["clusters/revenue/pairs/mrr.yaml", "README.md"], ["listening", "revenue"])
['revenue']
>>> clusters_in_paths(["vedder.yaml"], ["listening", "revenue"])
['listening', 'revenue']
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from vedder.config import CONFIG_FILE
from vedder.errors import GitError


def clusters_in_paths(paths: list[str], cluster_ids: list[str]) -> list[str]:
    """Clusters whose folder holds one of ``paths`` (relative to the project root); all for vedder.yaml."""
    if CONFIG_FILE in paths:
        return sorted(cluster_ids)
    touched = {p.split("/")[1] for p in paths if p.startswith("clusters/") and p.count("/") >= 2}
    return sorted(c for c in cluster_ids if c in touched)


def changed_paths(root: Path, ref: str) -> list[str]:
    """Paths (relative to ``root``) that differ between ``ref`` and the working tree, committed or not."""
    if ref.startswith("-"):
        raise GitError(f"'{ref}' is not a git revision", "pass a branch, tag or commit, e.g. origin/main")
    try:
        result = subprocess.run(["git", "diff", "--name-only", "--relative", ref, "--"], cwd=root,
                                capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise GitError(f"cannot run git: {exc.strerror}", "install git, or drop --changed-since") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["git diff failed"])[0]
        raise GitError(f"cannot diff against '{ref}': {reason}",
                       "fetch the base branch first (`git fetch origin main`, `fetch-depth: 0` in CI) or pass another ref")
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def clusters_changed_since(root: Path, ref: str, cluster_ids: list[str]) -> list[str]:
    return clusters_in_paths(changed_paths(root, ref), cluster_ids)
