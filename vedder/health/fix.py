"""``vedder health --fix``: re-profile drifted datasets, rewrite pairs whose columns were renamed, and mark
the pairs that cannot be repaired as stale, as a set of file changes for a pull request (or the working tree).

Pairs are rewritten through sqlglot: the query is qualified against the dataset files as they were, each
column reference that resolves to a renamed column is replaced at its exact position in the original text
(so the expert's formatting survives), and a bare projected column keeps its old output name
(``ship_country AS country``). A rewrite is kept only if it qualifies against the live schema and runs.

>>> rename_columns("SELECT country, count(*) AS n FROM orders GROUP BY country",
...                {"shop.orders": {"country": "ship_country"}}, {"shop.orders": {"country": "VARCHAR"}},
...                default_schema="shop")
'SELECT ship_country AS country, count(*) AS n FROM orders GROUP BY ship_country'
"""

from __future__ import annotations

import copy
import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

from vedder.errors import VedderError
from vedder.files import dump_yaml
from vedder.sql.analyze import check_columns
from vedder.sql.guard import parse_one_statement, table_name
from vedder.sql.run import run_sql

if TYPE_CHECKING:
    from vedder.health.check import ClusterHealth, HealthReport
    from vedder.health.drift import DatasetDrift
    from vedder.project import Dataset, Pair, Project
    from vedder.warehouse import Warehouse

_SCHEMA_HEADER = re.compile(r"#\s*yaml-language-server:\s*\$schema=(\S+)")
# Execution failures that are the data's fault, not the pair's: they do not make a pair stale.
_DATA_PROBLEMS = {"no_rows", "timeout"}


@dataclass
class FixResult:
    """File changes (path relative to the project root → new text) and what they do."""

    changes: dict[str, str | None] = field(default_factory=dict)
    reprofiled: list[str] = field(default_factory=list)
    repaired: list[dict[str, Any]] = field(default_factory=list)
    stale: list[dict[str, Any]] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    clusters: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"changes": sorted(self.changes), "reprofiled": self.reprofiled, "repaired": self.repaired,
                "stale": self.stale, "untouched": self.untouched, "clusters": self.clusters}

    def summary_markdown(self) -> str:
        """The pull request body."""
        lines = ["Repairs found by `vedder health --fix`.", ""]
        if self.reprofiled:
            lines += ["**Re-profiled datasets** (schema drifted):", ""] + [f"- `{t}`" for t in self.reprofiled] + [""]
        if self.repaired:
            lines += ["**Pairs rewritten for renamed columns** (the rewrite qualifies against the warehouse and runs):", ""]
            lines += [f"- `{r['cluster']}/{r['pair']}`: " + ", ".join(f"`{o}` → `{n}`" for o, n in r["renamed"].items()) for r in self.repaired]
            lines.append("")
        if self.stale:
            lines += ["**Pairs marked stale** (cannot be repaired automatically; an owner should fix or delete them):", ""]
            lines += [f"- `{s['cluster']}/{s['pair']}`: {s['reason']}" for s in self.stale] + [""]
        if self.untouched:
            lines += ["**Left for a person**:", ""] + [f"- {u}" for u in self.untouched] + [""]
        return "\n".join(lines)


def _nested(schema: dict[str, dict[str, str]]) -> dict[str, dict[str, dict[str, str]]]:
    nested: dict[str, dict[str, dict[str, str]]] = {}
    for full_name, columns in schema.items():
        db, _, table = full_name.lower().rpartition(".")
        nested.setdefault(db, {})[table] = {c.lower(): "UNKNOWN" for c in columns}
    return nested


def _bare_projection(column: exp.Column) -> bool:
    return isinstance(column.parent, exp.Select) and column.arg_key == "expressions"


def rename_columns(sql: str, renames: dict[str, dict[str, str]], schema: dict[str, dict[str, str]],
                   dialect: str = "duckdb", default_schema: str | None = None) -> str:
    """``sql`` with every reference to a renamed column (``renames``: {table: {old: new}}) replaced.

    ``schema`` holds the columns as they were (old names), so the query resolves as its author wrote it.
    """
    original = parse_one_statement(sql, dialect)
    by_start = {c.this.meta["start"]: c for c in original.find_all(exp.Column) if "start" in c.this.meta}
    lowered = {t.lower(): {o.lower(): n for o, n in cols.items()} for t, cols in renames.items()}
    qualified = qualify(original.copy(), schema=_nested(schema), dialect=dialect, db=default_schema,
                        allow_partial_qualification=True, validate_qualify_columns=False, quote_identifiers=False,
                        identify=False, expand_stars=False)
    edits: dict[int, tuple[int, str]] = {}
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if not isinstance(source, exp.Table) or isinstance(source.this, exp.Func):
                continue
            new = lowered.get(table_name(source, default_schema), {}).get(column.name.lower())
            start = column.this.meta.get("start")
            if new is None or start is None or start not in by_start:
                continue
            written = by_start[start]
            identifier = exp.to_identifier(new, quoted=written.this.quoted or None).sql(dialect)
            text = identifier
            if _bare_projection(written):
                text += " AS " + exp.to_identifier(written.name, quoted=written.this.quoted or None).sql(dialect)
            edits[start] = (column.this.meta["end"], text)
    for start in sorted(edits, reverse=True):
        end, text = edits[start]
        sql = sql[:start] + text + sql[end + 1:]
    return sql


def pair_text(pair: "Pair", updates: dict[str, Any]) -> str:
    """The pair's file with ``updates`` applied, keeping its key order and yaml-language-server header."""
    data = dict(pair.source.data) if pair.source is not None and isinstance(pair.source.data, dict) else {}
    data.update(updates)
    first = pair.path.read_text(encoding="utf-8").splitlines()[:1]
    header = _SCHEMA_HEADER.match(first[0]) if first else None
    return dump_yaml(data, schema_url=header.group(1) if header else None)


def _renamed_dataset(dataset: "Dataset", renamed: dict[str, str]) -> "Dataset":
    """A copy of ``dataset`` with renamed columns under their new names, so descriptions follow them."""
    clone = copy.copy(dataset)
    clone.columns = [dataclasses.replace(c, name=renamed.get(c.name, c.name)) for c in dataset.columns]
    if isinstance(dataset.partitioning, dict) and dataset.partitioning.get("column") in renamed:
        clone.partitioning = {**dataset.partitioning, "column": renamed[dataset.partitioning["column"]]}
    return clone


def _reprofile(project: "Project", health: "ClusterHealth", warehouse: "Warehouse", result: FixResult) -> None:
    from vedder.profile import profile_tables
    from vedder.schemas import schema_header

    root = project.root
    for drift in health.drifts.values():
        if not drift.drifted:
            continue
        if drift.missing:
            result.untouched.append(f"`{drift.table}` is gone from the warehouse{drift.rename_guess}: restore it or remove it from "
                                    f"`{health.cluster.id}`'s cluster.yaml and datasets/")
            continue
        existing = _renamed_dataset(drift.dataset, drift.renamed)
        profile = profile_tables(warehouse, [drift.table], {drift.table: existing})[drift.table]
        result.changes[str(drift.dataset.path.relative_to(root))] = dump_yaml(profile, schema_url=schema_header(drift.dataset.path, "dataset"))
        result.reprofiled.append(drift.table)


def _documented_schema(drifts: dict[str, "DatasetDrift"]) -> dict[str, dict[str, str]]:
    return {key: {c.name: c.type for c in d.dataset.columns} for key, d in drifts.items() if d.dataset is not None}


def _try_rewrite(project: "Project", health: "ClusterHealth", warehouse: "Warehouse", pair: "Pair",
                 renamed: dict[str, dict[str, str]]) -> tuple[str | None, str]:
    """(rewritten SQL, "") when the rewrite qualifies against the live schema and runs, else (None, why not)."""
    cluster, config = health.cluster, project.config
    try:
        sql = rename_columns(pair.sql, renamed, _documented_schema(health.drifts), config.dialect, cluster.default_schema)
        left = check_columns(sql, warehouse.schema(), config.dialect, cluster.default_schema)
        if left:
            return None, "; ".join(p.message for p in left)
        run_sql(sql, project=project, warehouse=warehouse, cluster=cluster, limit=1)
    except SqlglotError as exc:
        return None, f"the rewrite failed: {str(exc).splitlines()[0]}"
    except VedderError as exc:
        return None, f"the rewritten SQL does not run: {exc.message}"
    return sql, ""


def _repair_pairs(project: "Project", health: "ClusterHealth", warehouse: "Warehouse", today: date, result: FixResult) -> None:
    root, cluster = project.root, health.cluster
    failures: dict[str, list[str]] = {}
    renames: dict[str, dict[str, dict[str, str]]] = {}
    for pair_id, problems in health.pairs.broken.items():
        if all(p.kind == "column_renamed" for p in problems):
            for p in problems:
                renames.setdefault(pair_id, {}).setdefault(p.data["table"].lower(), {})[p.data["column"]] = p.data["renamed_to"]
        else:
            failures[pair_id] = [p.message.removeprefix(f"pair {pair_id}: ") for p in problems]
    for problem in health.signal("pair_execution").problems:
        if problem.kind not in _DATA_PROBLEMS and problem.subject not in failures:
            failures[problem.subject] = [problem.message.removeprefix(f"pair {problem.subject}: ")]
    for pair_id, renamed in renames.items():
        pair = cluster.pair(pair_id)
        sql, why = _try_rewrite(project, health, warehouse, pair, renamed)
        if sql is None:
            failures[pair_id] = [why]
            continue
        result.changes[str(pair.path.relative_to(root))] = pair_text(pair, {"sql": sql})
        result.repaired.append({"cluster": cluster.id, "pair": pair_id,
                                "renamed": {o: n for cols in renamed.values() for o, n in cols.items()}, "sql": sql})
    for pair_id, reasons in sorted(failures.items()):
        pair = cluster.pair(pair_id)
        reason = "; ".join(reasons)
        result.changes[str(pair.path.relative_to(root))] = pair_text(pair, {"stale": {"reason": reason, "since": today.isoformat()}})
        result.stale.append({"cluster": cluster.id, "pair": pair_id, "reason": reason})


def fix_health(project: "Project", report: "HealthReport", warehouse: "Warehouse", today: date | None = None) -> FixResult:
    """The changes that repair what ``report`` found (nothing is written here)."""
    today = today or date.today()
    result = FixResult()
    for health in report.clusters:
        before = len(result.changes) + len(result.untouched)
        _reprofile(project, health, warehouse, result)
        if health.pairs is not None:
            _repair_pairs(project, health, warehouse, today, result)
        if len(result.changes) + len(result.untouched) > before:
            result.clusters.append(health.cluster.id)
    return result


def reviewers(project: "Project", cluster_ids: list[str]) -> list[str]:
    """Owners' members that look like GitHub logins, for the pull request's review requests."""
    names = [m for c in cluster_ids for m in project.clusters[c].owners.members]
    return sorted({m.lstrip("@") for m in names if re.fullmatch(r"@?[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", m)})


def apply_fix(project: "Project", result: FixResult, *, pull_request: bool = True, today: date | None = None):
    """Write the changes to the working tree (``pull_request=False``) or open a pull request with them."""
    if pull_request:
        from vedder.curation.pull_request import open_pull_request

        today = today or date.today()
        names = ", ".join(result.clusters)
        return open_pull_request(project.root, branch=f"vedder/health-fix/{today.isoformat()}",
                                 title=f"vedder health --fix: {names}", body=result.summary_markdown(),
                                 changes=result.changes, reviewers=reviewers(project, result.clusters))
    from vedder.curation.pull_request import write_changes

    write_changes(project.root, result.changes)
    return None


def rechecked(project: "Project", report: "HealthReport", result: FixResult, warehouse: "Warehouse",
              fail_under: float | None = None) -> "HealthReport":
    """``report`` once ``result`` is in the working tree: the clusters it changed checked again on the project as
    the files now are, the others as they were (nothing of theirs changed).

    A CI job that runs ``vedder health --fix --no-pr`` and commits the result is judged on what it commits.
    """
    from vedder.health.check import HealthReport, check_health
    from vedder.project import load_project

    if not result.changes:
        return report
    changed = [c.cluster.id for c in report.clusters if c.cluster.id in result.clusters]
    again = check_health(load_project(project.config), changed, warehouse=warehouse, fail_under=fail_under,
                         now=datetime.fromisoformat(report.checked_at))
    by_id = {c.cluster.id: c for c in again.clusters}
    return HealthReport([by_id.get(c.cluster.id, c) for c in report.clusters], report.checked_at, report.selection)


def repair(project: "Project", report: "HealthReport", warehouse: "Warehouse", *, pull_request: bool,
           fail_under: float | None = None) -> tuple["HealthReport", dict[str, Any]]:
    """Repair what ``report`` found, as a pull request or in the working tree: (the report to show and gate on,
    what was done). In the working tree the report is the one after the repair, and what was done says each
    changed cluster's score before it (``before``); a pull request leaves the working tree, and so the report,
    as they were until it merges."""
    result = fix_health(project, report, warehouse)
    outcome: dict[str, Any] = {**result.to_dict(), "summary": result.summary_markdown() if result.changes or result.untouched else ""}
    if not result.changes:
        return report, {**outcome, "applied": "nothing to change"}
    pr = apply_fix(project, result, pull_request=pull_request)
    if pr is not None:
        return report, {**outcome, "applied": "pull request", "pull_request": pr.to_dict()}
    after = rechecked(project, report, result, warehouse, fail_under)
    before = [{"cluster": c.cluster.id, "score": c.score, "passed": c.passed, "fails": c.failures}
              for c in report.clusters if c.cluster.id in result.clusters]
    return after, {**outcome, "applied": "working tree", "before": before}
