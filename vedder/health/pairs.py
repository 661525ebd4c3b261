"""Pair validity (does each pair's SQL still qualify against the LIVE schema?) and pair execution (does
it run within the timeout and return rows?). Pairs already marked stale are left to curation freshness.

Each broken pair is named with what broke: a table gone, a column dropped, or a column renamed (when
drift detection found where it went).

Each pair is parsed once, and the guard checks that tree and renders the SQL to run; the runs go to the
live warehouse's query threads while the main thread parses the next pairs. A pair that runs has had
every table and column it names bound by the warehouse itself, so it qualifies; only the pairs that fail
(or that the guard refuses) are qualified with sqlglot against the live schema, to name what broke.
Pairs that do not qualify count as not run, whatever their run said.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

from vedder.errors import QueryTimeout, SQLRefused, VedderError
from vedder.health.signals import Problem, Signal, share, skipped
from vedder.sql.analyze import ColumnProblem, check_columns, tables_used
from vedder.sql.guard import GuardedSQL, parse_one_statement
from vedder.sql.run import guard_for_cluster, run_guarded

if TYPE_CHECKING:
    from vedder.health.drift import DatasetDrift
    from vedder.health.live import LiveWarehouse
    from vedder.project import Cluster, Pair, Project
    from vedder.warehouse import Warehouse


@dataclass
class PairCheck:
    """What the pair checks found, shared with --fix and reproducibility."""

    validity: Signal
    execution: Signal
    runnable: list["Pair"]
    broken: dict[str, list[Problem]]


def _gone_column(name: str, tables: list[str], drifts: dict[str, "DatasetDrift"]) -> tuple["DatasetDrift | None", str | None]:
    """The drift (and the original spelling) of a removed column ``name`` among ``tables``."""
    for table in tables:
        drift = drifts.get(table)
        if drift is None:
            continue
        original = next((c for c in drift.removed if c.lower() == name.lower()), None)
        if original is not None:
            return drift, original
    return None, None


def explain(problem: ColumnProblem, tables: list[str], drifts: dict[str, "DatasetDrift"]) -> Problem:
    """Turn an analyzer problem into what broke, in the words of drift: gone, dropped, renamed."""
    if problem.kind == "unknown_table":
        drift = drifts.get(problem.name)
        gone = drift is not None and drift.missing
        message = f"table {problem.name} " + ("is gone from the warehouse" if gone else "is not in the warehouse")
        return Problem("", "table_gone" if gone else "unknown_table", message, {"table": problem.name})
    if problem.kind == "unknown_column":
        drift, original = _gone_column(problem.name, [problem.table] if problem.table in drifts else tables, drifts)
        if drift is not None and original in drift.renamed:
            new = drift.renamed[original]
            return Problem("", "column_renamed", f"column {drift.table}.{original} was renamed to {new}",
                           {"table": drift.table, "column": original, "renamed_to": new})
        if drift is not None:
            return Problem("", "column_dropped", f"column {drift.table}.{original} was dropped",
                           {"table": drift.table, "column": original})
        return Problem("", "unknown_column", problem.message, {"column": problem.name, "suggestion": problem.suggestion})
    return Problem("", problem.kind, problem.message)


def _validity_problems(pair: "Pair", tree: exp.Expression, cluster: "Cluster", live: "LiveWarehouse",
                       drifts: dict[str, "DatasetDrift"]) -> list[Problem]:
    """What keeps ``pair`` (parsed as ``tree``, which is rewritten in place) from qualifying against the live schema."""
    found = check_columns(tree, live.prepared, live.dialect, cluster.default_schema, copy=False)
    if not found:
        return []
    tables = tables_used(tree, live.dialect, cluster.default_schema)
    return _named(pair, [explain(p, tables, drifts) for p in found])


def _named(pair: "Pair", found: list[Problem]) -> list[Problem]:
    """``found`` about ``pair``, each problem once."""
    unique = list({problem.message: problem for problem in found}.values())
    for problem in unique:
        problem.subject = pair.id
        problem.message = f"pair {pair.id}: {problem.message}"
    return unique


def _run_pair(cursor: "Warehouse", project: "Project", pair: "Pair", guarded: GuardedSQL) -> Problem | None:
    """Run ``pair``'s guarded SQL (one row is enough to know it returns rows); the problem, if any."""
    timeout = project.config.timeout_s
    try:
        result = run_guarded(guarded, project=project, warehouse=cursor, limit=1)
    except QueryTimeout:
        return Problem(pair.id, "timeout", f"pair {pair.id}: did not finish within {timeout:g} s")
    except VedderError as exc:
        return Problem(pair.id, "error", f"pair {pair.id}: {exc.message}")
    return None if result.rows else Problem(pair.id, "no_rows", f"pair {pair.id}: returns no rows")


@dataclass
class PairRuns:
    """One cluster's active pairs as ``start_pairs`` left them: each parsed and running, refused, or unparsable."""

    active: list["Pair"]
    started: dict[str, tuple[exp.Expression, "Future[Problem | None] | Problem"]]
    unparsable: dict[str, list[Problem]]


def start_pairs(project: "Project", cluster: "Cluster", live: "LiveWarehouse") -> PairRuns:
    """Parse and guard every active pair once, and start the guarded SQL on ``live``'s query threads."""
    dialect = live.dialect
    runs = PairRuns([p for p in cluster.pairs if not p.stale], {}, {})
    for pair in runs.active:
        try:
            tree = parse_one_statement(pair.sql, dialect)
        except SQLRefused as exc:
            runs.unparsable[pair.id] = _named(pair, [Problem("", f"refused_{exc.rule}", exc.message)])
            continue
        try:
            runs.started[pair.id] = (tree, live.submit(_run_pair, project, pair, guard_for_cluster(tree, cluster, dialect)))
        except SQLRefused as exc:
            runs.started[pair.id] = (tree, Problem(pair.id, "refused", f"pair {pair.id}: {exc.message}", {"rule": exc.rule}))
    return runs


def finish_pairs(project: "Project", cluster: "Cluster", live: "LiveWarehouse", runs: PairRuns,
                 drifts: dict[str, "DatasetDrift"]) -> PairCheck:
    """Wait for ``runs``; qualify the pairs that did not run against the live schema, to name what broke."""
    broken: dict[str, list[Problem]] = {}
    outcomes: dict[str, Problem | None] = {}
    for pair in runs.active:
        if pair.id in runs.unparsable:
            broken[pair.id] = runs.unparsable[pair.id]
            continue
        tree, run = runs.started[pair.id]
        outcome = run.result() if isinstance(run, Future) else run
        # A run that returned (even no rows) bound every name; anything else may be the schema's doing.
        found = _validity_problems(pair, tree, cluster, live, drifts) if outcome is not None and outcome.kind != "no_rows" else []
        if found:
            broken[pair.id] = found
        else:
            outcomes[pair.id] = outcome
    validity = _validity_signal(runs.active, broken)
    execution, runnable = _execution_signal(project, runs.active, outcomes)
    return PairCheck(validity, execution, runnable, broken)


def _validity_signal(active: list["Pair"], broken: dict[str, list[Problem]]) -> Signal:
    if not active:
        return skipped("pair_validity", "no active pairs")
    problems = [p for found in broken.values() for p in found]
    action = ""
    if broken:
        action = "repair the named pairs: `vedder health --fix` rewrites renamed columns and marks the rest stale"
    return Signal("pair_validity", share(len(active) - len(broken), len(active)), problems, action,
                  f"{len(active) - len(broken)}/{len(active)} pairs qualify against the live schema")


def _execution_signal(project: "Project", active: list["Pair"], outcomes: dict[str, Problem | None]) -> tuple[Signal, list["Pair"]]:
    """Share of active pairs that ran and returned rows; pairs that do not qualify were not run and count as failed."""
    if not active:
        return skipped("pair_execution", "no active pairs"), []
    problems = [outcomes[p.id] for p in active if outcomes.get(p.id) is not None]
    runnable = [p for p in active if p.id in outcomes and outcomes[p.id] is None]
    not_run = len(active) - len(outcomes)
    summary = f"{len(runnable)}/{len(active)} pairs run within {project.config.timeout_s:g} s and return rows"
    if not_run:
        summary += f" ({not_run} not run: they do not qualify)"
    action = "look at the named pairs: a table emptied, a filter no longer matches, or the SQL fails" if problems else ""
    return Signal("pair_execution", len(runnable) / len(active), problems, action, summary), runnable
