"""``vedder health``: a score per cluster from live signals, a CI gate, and ``--fix``.

Signals (each 0..1, with problems and an action): pair validity, pair execution, schema drift, data
health, coverage, reproducibility and curation freshness; see the module named after each group.
"""

from vedder.health.check import ClusterHealth, HealthReport, check_cluster, check_health
from vedder.health.signals import Problem, Signal

__all__ = ["ClusterHealth", "HealthReport", "Problem", "Signal", "check_cluster", "check_health"]
