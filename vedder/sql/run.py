"""Guarded execution: the only path from untrusted SQL (a model's, a pair's, a person's) to the warehouse.

``run_sql`` applies the guard for the cluster in use, then runs the result with the configured row cap
and timeout. Without a cluster, the SQL must read only tables that one cluster covers entirely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vedder.errors import SQLRefused
from vedder.sql.guard import GuardedSQL, guard_sql

if TYPE_CHECKING:
    from vedder.project import Cluster, Project
    from vedder.warehouse import QueryResult, Warehouse


def guard_for_cluster(sql: str, cluster: "Cluster", dialect: str = "duckdb") -> GuardedSQL:
    """The guard with ``cluster``'s tables as the allowlist and its default schema."""
    return guard_sql(sql, dialect=dialect, allowed=cluster.covers, default_schema=cluster.default_schema)


def cluster_for_sql(sql: str, project: "Project") -> "Cluster":
    """The cluster that covers every table ``sql`` reads (the first, by id, when several do)."""
    guarded = guard_sql(sql, dialect=project.config.dialect)
    for cluster in sorted(project.clusters.values(), key=lambda c: c.id):
        if guarded.tables and all(cluster.covers(t) for t in guarded.tables):
            return cluster
    tables = ", ".join(guarded.tables) or "no tables"
    raise SQLRefused("table_not_allowed", f"no cluster covers {tables}", "pass --cluster ID; queries run only on a cluster's tables")


def run_sql(
    sql: str,
    *,
    project: "Project",
    warehouse: "Warehouse",
    cluster: "Cluster | None" = None,
    limit: int | None = None,
) -> tuple[GuardedSQL, "QueryResult"]:
    """Guard ``sql`` for ``cluster`` (or the cluster its tables belong to) and run it, capped and timed out."""
    config = project.config
    cluster = cluster or cluster_for_sql(sql, project)
    guarded = guard_for_cluster(sql, cluster, config.dialect)
    result = warehouse.execute(guarded.sql, limit=limit or config.row_limit, timeout_s=config.timeout_s)
    return guarded, result
