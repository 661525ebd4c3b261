"""``vedder eval``: ask a file of questions in one process and score the answers against gold SQL.

Each line of the JSONL file is ``{"question": …, "sql": …?, "cluster": …?}``. Every question goes through
``vedder.ask.ask`` exactly as a person's would (surface ``eval``); the gold SQL runs through the same guard
(``vedder.sql.run.run_sql``). An answer is correct when its rows equal the gold rows as a multiset — in order
only when the gold query orders its result.

>>> rows_match([(1, "a"), (2, "b")], [(2, "b"), (1, "a")], ordered=False)
True
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from vedder.errors import UsageError, VedderError
from vedder.files import read_jsonl

if TYPE_CHECKING:
    from vedder.project import Project
    from vedder.warehouse import Warehouse


@dataclass
class EvalItem:
    question: str
    cluster: str | None
    predicted_cluster: str | None
    status: str
    sql: str | None
    correct: bool | None
    latency_s: float
    tokens: int
    gold_error: str | None = None
    error: str | None = None
    cost: float = 0.0
    model: str | None = None
    """Who answered: ``offline`` for a vetted pair's answer (also with a model configured), else the model."""
    failed_checks: list[str] | None = None
    """The checks a model's answer failed (vedder.agent.checks), each shown to the asker as a caveat."""
    answer: str = ""
    """The answer's words, to judge a verdict by hand (the rows alone do not say what the asker was told)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EvalReport:
    items: list[EvalItem]
    summary: dict[str, Any]


def load_eval_file(path: Path) -> list[dict[str, Any]]:
    """The items of a JSONL eval file; a bad line raises UsageError naming the line."""
    items = []
    for number, item in read_jsonl(path, UsageError, 'each line is one object: {"question": "…", "sql": "…", "cluster": "…"}'):
        if not isinstance(item.get("question"), str) or not item["question"].strip():
            raise UsageError(f"{path}:{number}: each line needs a non-empty \"question\" string", 'e.g. {"question": "How many users?", "sql": "SELECT count(*) FROM users"}')
        items.append(item)
    if not items:
        raise UsageError(f"{path} has no questions", 'add lines like {"question": "How many users?"}')
    return items


def _normal(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, (list, tuple)):
        return tuple(_normal(v) for v in value)
    return value


def rows_match(gold: Sequence[Sequence[Any]], predicted: Sequence[Sequence[Any]], *, ordered: bool) -> bool:
    """Execution match: the same rows (as a multiset, or in order when ``ordered``)."""
    gold_rows = [tuple(_normal(v) for v in row) for row in gold]
    predicted_rows = [tuple(_normal(v) for v in row) for row in predicted]
    if ordered:
        return gold_rows == predicted_rows
    return Counter(map(repr, gold_rows)) == Counter(map(repr, predicted_rows))


def gold_orders(sql: str, dialect: str) -> bool:
    """Whether the outermost query of ``sql`` has an ORDER BY (then row order counts)."""
    from vedder.sql.guard import parse_one_statement

    tree = parse_one_statement(sql, dialect)
    return tree.args.get("order") is not None


def evaluate_item(
    project: "Project", warehouse: "Warehouse", item: dict[str, Any], *, model: str | None = None, given_cluster: bool = False,
    memory: bool = False,
) -> EvalItem:
    """Ask one item's question and compare its result with the gold SQL's.

    With ``given_cluster`` the item's cluster is passed to ``ask`` (routing skipped), as ``--cluster`` does.
    """
    from vedder.ask import ask
    from vedder.sql.run import run_sql

    question, gold_cluster, gold_sql = item["question"], item.get("cluster"), item.get("sql")
    started = time.perf_counter()
    try:
        answer = ask(project, question, cluster_id=gold_cluster if given_cluster else None, model=model, surface="eval",
                     warehouse=warehouse, log=False, memory=memory)
        status, predicted_cluster, sql, rows, tokens, error = (
            answer.status, answer.cluster, answer.sql, answer.rows, answer.tokens, answer.error)
        cost, answered_by, words = answer.cost, answer.model, answer.answer
        failed = [check["check"] for check in answer.checks if not check["passed"]]
    except VedderError as exc:
        status, predicted_cluster, sql, rows, tokens, error = "error", None, None, [], 0, exc.message
        cost, answered_by, failed, words = 0.0, None, [], ""
    latency = time.perf_counter() - started
    correct: bool | None = None
    gold_error = None
    if gold_sql:
        if status != "answered":
            correct = False
        else:
            try:
                cluster = project.cluster(gold_cluster) if gold_cluster else None
                _, gold = run_sql(gold_sql, project=project, warehouse=warehouse, cluster=cluster)
                correct = rows_match(gold.rows, rows, ordered=gold_orders(gold_sql, project.config.dialect))
            except VedderError as exc:
                gold_error = exc.message
    return EvalItem(question, gold_cluster, predicted_cluster, status, sql, correct, round(latency, 4), tokens, gold_error, error,
                    cost, answered_by, failed, words)


def summarize(items: Sequence[EvalItem]) -> dict[str, Any]:
    """Routing and execution accuracy, answered/abstained counts, precision of the answered, medians."""
    routed = [i for i in items if i.cluster]
    gold = [i for i in items if i.correct is not None]
    answered = [i for i in items if i.status == "answered"]
    answered_gold = [i for i in answered if i.correct is not None]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "items": len(items),
        "routing_accuracy": share(sum(i.predicted_cluster == i.cluster for i in routed), len(routed)),
        "execution_accuracy": share(sum(bool(i.correct) for i in gold), len(gold)),
        "answered": len(answered),
        "abstained": sum(i.status == "not_covered" for i in items),
        "errors": sum(i.status == "error" for i in items),
        "coverage": share(len(answered), len(items)),
        "precision": share(sum(bool(i.correct) for i in answered_gold), len(answered_gold)),
        # Answers shown with a failed check: how many, and how many of those were wrong (what the checks are for).
        "answered_flagged": sum(bool(i.failed_checks) for i in answered),
        "flagged_wrong": sum(bool(i.failed_checks) and i.correct is False for i in answered_gold),
        "cost": round(sum(i.cost for i in items), 6),
        "median_latency_s": round(statistics.median(i.latency_s for i in items), 4) if items else None,
        "median_tokens": statistics.median(i.tokens for i in items) if items else None,
    }


def run_eval(
    project: "Project",
    items: Sequence[dict[str, Any]],
    *,
    model: str | None = None,
    given_cluster: bool = False,
    on_item: Callable[[EvalItem], None] | None = None,
    memory: bool = False,
) -> EvalReport:
    """Evaluate every item in one process (one warehouse connection). Routing ignores route memory (the
    conversation log of whoever runs it) unless ``memory``."""
    from vedder.warehouse import open_warehouse

    warehouse = open_warehouse(project.config)
    results: list[EvalItem] = []
    try:
        for item in items:
            result = evaluate_item(project, warehouse, item, model=model, given_cluster=given_cluster, memory=memory)
            results.append(result)
            if on_item is not None:
                on_item(result)
    finally:
        warehouse.close()
    return EvalReport(results, summarize(results))
