"""What a health signal is: a value from 0 to 1, the problems behind it, and what to do about it.

>>> Signal("pair_validity", 0.5, [Problem("p1", "column_dropped", "column x is gone")], "fix p1").to_dict()["value"]
0.5
>>> share(3, 4)
0.75
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SIGNAL_TITLES = {
    "pair_validity": "pair validity",
    "pair_execution": "pair execution",
    "schema_drift": "schema drift",
    "data_health": "data health",
    "coverage": "coverage",
    "reproducibility": "reproducibility",
    "curation_freshness": "curation freshness",
}


@dataclass
class Problem:
    """One thing a signal found wrong: ``subject`` is a pair id, a table, a doc or a question."""

    subject: str
    kind: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "kind": self.kind, "message": self.message, **({"data": self.data} if self.data else {})}


@dataclass
class Signal:
    """A signal's value (None when skipped), its problems, a suggested action and what it checked."""

    name: str
    value: float | None
    problems: list[Problem] = field(default_factory=list)
    action: str = ""
    summary: str = ""
    skipped: str | None = None
    weight: float = 0.0

    @property
    def title(self) -> str:
        return SIGNAL_TITLES.get(self.name, self.name.replace("_", " "))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if self.value is None else round(self.value, 4),
            "weight": self.weight,
            "skipped": self.skipped,
            "summary": self.summary,
            "action": self.action,
            "problems": [p.to_dict() for p in self.problems],
        }


def skipped(name: str, reason: str) -> Signal:
    """A signal that could not be measured; the score leaves it out and re-normalizes the weights."""
    return Signal(name, None, skipped=reason, summary=f"skipped: {reason}")


def share(good: int, total: int) -> float:
    """``good / total``, 1.0 when there is nothing to check."""
    return good / total if total else 1.0
