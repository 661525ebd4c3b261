"""Guarded execution: the only path from untrusted SQL (a model's, a pair's, a person's) to the warehouse.

``run_sql`` applies the guard for the cluster in use, refuses calls to the warehouse's own functions, then runs the
result with the configured row cap, timeout and byte budget. Without a cluster, the SQL must read only tables that one
cluster covers entirely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vedder.errors import SQLRefused
from vedder.project.model import cache_folder
from vedder.sql.guard import GuardedSQL, guard_sql, is_system_table, refuse_user_functions

if TYPE_CHECKING:
    from sqlglot import exp

    from vedder.project import Cluster, Project
    from vedder.warehouse import QueryResult, Warehouse


# Where a DuckDB warehouse keeps its macros' names between processes (``DuckDBWarehouse.user_functions``).
USER_FUNCTIONS_CACHE = "user-functions.json"


def guard_for_cluster(sql: "str | exp.Expression", cluster: "Cluster", dialect: str = "duckdb") -> GuardedSQL:
    """The guard with ``cluster``'s tables as the allowlist and its default schema (``sql`` may be a parsed tree).
    A table named without its schema that the cluster holds under one is refused naming the qualified name."""
    refused: list[str] = []

    def allowed(name: str) -> bool:
        if not cluster.covers(name):
            refused.append(name)
            return False
        return True

    try:
        return guard_sql(sql, dialect=dialect, allowed=allowed, default_schema=cluster.default_schema)
    except SQLRefused as exc:
        unqualified = next((name for name in refused if "." not in name), None)
        if exc.rule == "table_not_allowed" and unqualified and (named := tables_named(unqualified, [cluster])):
            raise SQLRefused("table_not_allowed", f"table {unqualified} names no schema",
                             f"write it as {' or '.join(table for table, _ in named)}") from None
        raise


def tables_named(name: str, clusters: "list[Cluster]") -> list[tuple[str, str]]:
    """(schema.table, cluster id) for each table of ``clusters`` called ``name`` (any schema, any case)."""
    lowered = name.lower()
    return sorted((table, c.id) for c in clusters for table in c.tables if table.lower().rsplit(".", 1)[-1] == lowered)


def cluster_for_sql(sql: str, project: "Project") -> "Cluster":
    """The cluster that covers every table ``sql`` reads (the first, by id, when several do)."""
    guarded = guard_sql(sql, dialect=project.config.dialect)
    for cluster in sorted(project.clusters.values(), key=lambda c: c.id):
        if all(cluster.covers(t) for t in guarded.tables):
            return cluster
    if not project.clusters:
        raise SQLRefused("table_not_allowed", "the project has no clusters", "`vedder cluster new` creates one")
    owners = {table: [c.id for c in project.clusters_covering(table)] for table in guarded.tables}
    uncovered = [table for table, ids in owners.items() if not ids]
    if catalogs := [table for table in uncovered if is_system_table(table)]:
        what = "is a system catalog" if len(catalogs) == 1 else "are system catalogs"
        raise SQLRefused("table_not_allowed", f"{', '.join(catalogs)} {what}, not a table a cluster can hold",
                         "query the tables of a cluster (`vedder clusters` lists the clusters; their datasets/ folders the tables)")
    if unqualified := [table for table in uncovered if "." not in table]:
        named = tables_named(unqualified[0], sorted(project.clusters.values(), key=lambda c: c.id))
        if named:
            raise SQLRefused("table_not_allowed", f"table {unqualified[0]} names no schema",
                             "write it as " + " or ".join(f"{table} (cluster {cid})" for table, cid in named))
    if uncovered:
        schema = uncovered[0].rsplit(".", 1)[0] if "." in uncovered[0] else "SCHEMA"
        not_loaded = f" (not loaded, a file is broken: {', '.join(sorted(project.broken))})" if project.broken else ""
        raise SQLRefused("table_not_allowed", f"no cluster covers {', '.join(uncovered)}",
                         f"clusters: {', '.join(sorted(project.clusters))}{not_loaded}; add the table to one's `datasets` in its "
                         f"cluster.yaml, or make a cluster for it: vedder cluster new ID --tables '{schema}.*' --owner TEAM")
    spread = " and ".join(f"{table} ({', '.join(ids)})" for table, ids in owners.items())
    raise SQLRefused("table_not_allowed", f"no single cluster covers {spread}",
                     "a query runs on one cluster's tables: split it, or add the tables to one cluster's `datasets`")


def run_sql(
    sql: str,
    *,
    project: "Project",
    warehouse: "Warehouse",
    cluster: "Cluster | None" = None,
    limit: int | None = None,
) -> tuple[GuardedSQL, "QueryResult"]:
    """Guard ``sql`` for ``cluster`` (or the cluster its tables belong to) and run it, capped and timed out."""
    cluster = cluster or cluster_for_sql(sql, project)
    guarded = guard_for_cluster(sql, cluster, project.config.dialect)
    return guarded, run_guarded(guarded, project=project, warehouse=warehouse, limit=limit)


def run_guarded(guarded: GuardedSQL, *, project: "Project", warehouse: "Warehouse", limit: int | None = None) -> "QueryResult":
    """Run SQL that already passed the guard (``guard_for_cluster`` on a parsed tree), capped and timed out; refused
    here when it may run the warehouse's own code (``refuse_user_functions``): a function, macro, operator or cast
    that only the warehouse can list.

    For callers that parse a query once and use the tree for more than running it (``vedder health``).
    """
    if not isinstance(guarded, GuardedSQL):
        raise TypeError("run_guarded runs only what the guard returned (a GuardedSQL)")
    config = project.config
    refuse_user_functions(guarded, lambda: warehouse.user_functions(cache_folder(config.root) / USER_FUNCTIONS_CACHE),
                          config.allowed_functions, warehouse.engine_calls)
    return warehouse.execute(guarded.sql, limit=limit or config.row_limit, timeout_s=config.timeout_s,
                             max_bytes=config.max_result_bytes)
