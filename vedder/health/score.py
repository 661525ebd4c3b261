"""A cluster's score: the weighted mean of its measured signals, times 100.

Weights come from ``health.weights`` in vedder.yaml (defaults in ``vedder.config.DEFAULT_HEALTH_WEIGHTS``);
skipped signals drop out and the remaining weights are re-normalized to sum to 1. The threshold is the
cluster's own ``health.fail_under`` (cluster.yaml), else ``--fail-under``, else ``health.fail_under`` in
vedder.yaml (70 by default).

The gate also fails a cluster whatever its score when a vetted pair that is not marked stale no longer
qualifies against the live schema: such a pair means wrong or failing answers today. One renamed column can
break 4 of 13 pairs and still leave a score above 70. ``health.fail_on_broken_pairs: false`` in
vedder.yaml turns this off.

>>> from vedder.health.signals import Signal, skipped
>>> score([Signal("pair_validity", 0.5), skipped("coverage", "no log")], {"pair_validity": 0.25, "coverage": 0.15})
50.0
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from vedder.errors import ConfigError

if TYPE_CHECKING:
    from vedder.config import Config
    from vedder.health.pairs import PairCheck
    from vedder.health.signals import Signal
    from vedder.project import Cluster


def score(signals: list["Signal"], weights: dict[str, float]) -> float | None:
    """Weighted mean of the measured signals × 100; sets each signal's effective weight. None if nothing counted."""
    measured = [s for s in signals if s.value is not None and weights.get(s.name, 0) > 0]
    total = sum(weights[s.name] for s in measured)
    for signal in signals:
        signal.weight = round(weights.get(signal.name, 0) / total, 4) if signal in measured else 0.0
    if not total:
        return None
    return round(100 * sum(weights[s.name] * s.value for s in measured) / total, 1)


def threshold(cluster: "Cluster", config: "Config", fail_under: float | None = None) -> float:
    """The score ``cluster`` must reach: its own override, else ``fail_under``, else the project's."""
    health = cluster.settings.get("health") or {}
    override = health.get("fail_under") if isinstance(health, dict) else None
    if override is not None:
        try:
            value = float(override)
        except (TypeError, ValueError):
            value = math.nan
        if not 0 <= value <= 100 or isinstance(override, bool):  # .nan failed every run, 500 too, -1 none
            raise ConfigError(f"{cluster.path / 'cluster.yaml'}: health.fail_under must be a number from 0 to 100, not {override!r}",
                              "fix `health: {fail_under: …}` in the cluster.yaml, or remove it to use vedder.yaml's") from None
        return value
    return float(fail_under) if fail_under is not None else float(config.health_fail_under)


def fail_on_broken_pairs(config: "Config") -> bool:
    """``health.fail_on_broken_pairs`` from vedder.yaml (true by default); anything but a boolean is a ConfigError."""
    health = config.raw.get("health") or {}
    value = health.get("fail_on_broken_pairs", True) if isinstance(health, dict) else True
    if not isinstance(value, bool):
        raise ConfigError(f"{config.root / 'vedder.yaml'}: health.fail_on_broken_pairs must be true or false, not {value!r}",
                          "fail_on_broken_pairs: true fails a cluster with a broken pair whatever its score")
    return value


def gate_failures(config: "Config", pairs: "PairCheck | None") -> list[str]:
    """Why the gate fails a cluster regardless of its score, e.g. ``["4 broken pairs"]``; empty when none.

    ``pairs.broken`` holds only pairs not marked stale (a stale pair is already known to be broken).
    """
    if not fail_on_broken_pairs(config) or pairs is None or not pairs.broken:
        return []
    count = len(pairs.broken)
    return [f"{count} broken pair{'s' if count != 1 else ''}"]


def validate_weights(weights: dict[str, float], root_hint: str = "vedder.yaml") -> dict[str, float]:
    from vedder.config import DEFAULT_HEALTH_WEIGHTS

    unknown = sorted(set(weights) - set(DEFAULT_HEALTH_WEIGHTS))
    if unknown:
        raise ConfigError(f"{root_hint}: unknown health weight(s): {', '.join(unknown)}",
                          f"known signals: {', '.join(DEFAULT_HEALTH_WEIGHTS)}")
    try:
        clean = {name: float(value) for name, value in weights.items()}
        if not all(math.isfinite(v) for v in clean.values()):  # a .nan weight scored every cluster 100
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"{root_hint}: health weights must be numbers") from None
    if any(v < 0 for v in clean.values()):
        raise ConfigError(f"{root_hint}: health weights must not be negative")
    return clean
