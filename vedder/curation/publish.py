"""Where curation output goes: a pull request (the default) or, with ``--no-pr``, the working tree."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from vedder.curation.pull_request import PullRequestResult, open_pull_request, write_changes

if TYPE_CHECKING:
    from vedder.project import Cluster, Project


def branch_prefix(command: str, cluster_id: str) -> str:
    """Where the branches of ``command``'s pull requests for a cluster start: ``vedder/<command>/<cluster>-``."""
    return f"vedder/{command}/{cluster_id}-"


def publish(
    project: "Project",
    cluster: "Cluster",
    changes: dict[str, str | None],
    *,
    command: str,
    title: str,
    body: str,
    no_pr: bool = False,
    today: dt.date | None = None,
) -> PullRequestResult | None:
    """Open a PR on branch ``vedder/<command>/<cluster>-<date>`` asking the cluster's owners to review;
    with ``no_pr``, write ``changes`` into the working tree instead and return None."""
    if no_pr:
        write_changes(project.root, changes)
        return None
    branch = branch_prefix(command, cluster.id) + (today or dt.date.today()).isoformat()
    return open_pull_request(project.root, branch=branch, title=title, body=body, changes=changes, reviewers=cluster.owners.members)
