"""Reproducibility: can the agent, with a pair held out of its context, get the pair's result on its own?

With no model configured the signal is skipped: the offline answerer answers *from* the pairs, so
grading it on them would grade the answer key against itself. Results are compared as bags of rows,
columns matched by their values (order of rows and columns and extra columns do not matter).

>>> same_result(["n"], [(1,), (2,)], ["country", "total"], [("US", 2), ("SE", 1)])
True
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Sequence

from vedder.errors import ModelError, VedderError
from vedder.health.signals import Problem, Signal, skipped
from vedder.sql.run import run_sql

if TYPE_CHECKING:
    from vedder.project import Cluster, Pair, Project
    from vedder.warehouse import Warehouse

SAMPLE = 5
OFFLINE_REASON = "no model configured (model: offline); the offline answerer is not graded on its own answer key"


def sample_size(project: "Project") -> int:
    health = project.config.raw.get("health") or {}
    return int(health.get("reproducibility_sample", SAMPLE)) if isinstance(health, dict) else SAMPLE


def sample_pairs(pairs: list["Pair"], size: int) -> list["Pair"]:
    """A stable sample: the same pairs every run until the pairs change."""
    return sorted(pairs, key=lambda p: hashlib.sha1(p.id.encode()).hexdigest())[:size]


def _normal(value: Any) -> Any:
    if isinstance(value, (float, Decimal)):
        return round(float(value), 4)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _column_values(rows: Sequence[Sequence[Any]], index: int) -> list[str]:
    return sorted(repr(_normal(row[index])) for row in rows)


def same_result(expected_columns: list[str], expected_rows: Sequence[Sequence[Any]],
                actual_columns: list[str], actual_rows: Sequence[Sequence[Any]]) -> bool:
    """Whether the actual result holds the expected one: same rows, each expected column matched by values."""
    if len(expected_rows) != len(actual_rows):
        return False
    available = {j: _column_values(actual_rows, j) for j in range(len(actual_columns))}
    mapping = []
    for i in range(len(expected_columns)):
        values = _column_values(expected_rows, i)
        match = next((j for j, seen in available.items() if seen == values), None)
        if match is None:
            return False
        mapping.append(match)
        del available[match]
    expected = sorted(repr(tuple(_normal(v) for v in row)) for row in expected_rows)
    actual = sorted(repr(tuple(_normal(row[j]) for j in mapping)) for row in actual_rows)
    return expected == actual


def reproducibility_signal(project: "Project", cluster: "Cluster", warehouse: "Warehouse", pairs: list["Pair"]) -> Signal:
    """The agent answers a sample of ``pairs``' questions with each pair held out; share whose results match."""
    config = project.config
    if config.offline:
        return skipped("reproducibility", OFFLINE_REASON)
    sample = sample_pairs(pairs, sample_size(project))
    if not sample:
        return skipped("reproducibility", "no runnable pairs to sample")
    from vedder.agent import run_agent
    from vedder.context import build_context

    problems = []
    for pair in sample:
        _, expected = run_sql(pair.sql, project=project, warehouse=warehouse, cluster=cluster)
        context = build_context(project, cluster, pair.question, exclude_pairs=[pair.id])
        try:
            result = run_agent(project, cluster, pair.question, context=context, warehouse=warehouse, model=config.model,
                               model_options=config.model_options)
        except ModelError as exc:
            return skipped("reproducibility", f"the model failed: {exc.message}")
        except VedderError as exc:
            problems.append(Problem(pair.id, "agent_error", f"pair {pair.id}: the agent failed: {exc.message}"))
            continue
        if result.result is None:
            problems.append(Problem(pair.id, "no_answer", f"pair {pair.id}: the agent gave no result ({result.status}: {result.error or result.answer})"))
        elif not same_result(expected.columns, expected.rows, result.result.columns, result.result.rows):
            problems.append(Problem(pair.id, "different_result", f"pair {pair.id}: the agent's result differs from the pair's",
                                    {"agent_sql": result.sql}))
    matched = len(sample) - len(problems)
    action = "add docs or pairs that teach what the agent missed for the named pairs' questions" if problems else ""
    return Signal("reproducibility", matched / len(sample), problems, action,
                  f"{matched}/{len(sample)} held-out pairs reproduced by {config.model}")
