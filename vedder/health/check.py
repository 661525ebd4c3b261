"""``check_health``: every signal of every selected cluster, scored against its threshold.

>>> report = HealthReport(clusters=[], checked_at="2026-11-26T12:00:00+00:00")
>>> report.passed, report.to_dict()["clusters"]
(True, [])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from vedder.health.coverage import Usage, entries_by_cluster, recent_entries, usage
from vedder.health.data import data_health_signal, measure_data
from vedder.health.drift import DatasetDrift, dataset_drift, schema_drift_signal
from vedder.health.freshness import curation_freshness_signal
from vedder.health.live import LiveWarehouse
from vedder.health.pairs import PairCheck, PairRuns, finish_pairs, start_pairs
from vedder.health.reproducibility import reproducibility_signal
from vedder.health.score import gate_failures, score, threshold, validate_weights
from vedder.health.signals import Signal, skipped

if TYPE_CHECKING:
    from vedder.project import Cluster, Project
    from vedder.warehouse import Warehouse


@dataclass
class ClusterHealth:
    """One cluster's score, threshold, signals and the owners' dashboard."""

    cluster: "Cluster"
    score: float | None
    fail_under: float
    signals: list[Signal]
    uncovered: list[dict[str, Any]] = field(default_factory=list)
    negative_feedback: list[dict[str, Any]] = field(default_factory=list)
    drifts: dict[str, DatasetDrift] = field(default_factory=dict, repr=False)
    pairs: PairCheck | None = field(default=None, repr=False)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """At or above the threshold, and nothing that fails the gate whatever the score (``failures``)."""
        return not self.failures and (self.score is None or self.score >= self.fail_under)

    @property
    def actions(self) -> list[str]:
        return [s.action for s in sorted(self.signals, key=lambda s: (s.value if s.value is not None else 1.0)) if s.action]

    def signal(self, name: str) -> Signal:
        return next(s for s in self.signals if s.name == name)

    def to_dict(self) -> dict[str, Any]:
        owners = self.cluster.owners
        return {
            "cluster": self.cluster.id,
            "title": self.cluster.title,
            "owners": {"team": owners.team, "members": owners.members, "contact": owners.contact},
            "score": self.score,
            "fail_under": self.fail_under,
            "passed": self.passed,
            "fails": self.failures,
            "signals": [s.to_dict() for s in self.signals],
            "actions": self.actions,
            "uncovered_questions": self.uncovered,
            "negative_feedback": self.negative_feedback,
        }


@dataclass
class HealthReport:
    clusters: list[ClusterHealth]
    checked_at: str
    selection: str = "all clusters"

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.clusters)

    @property
    def failing(self) -> list[ClusterHealth]:
        return [c for c in self.clusters if not c.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at,
            "selection": self.selection,
            "passed": self.passed,
            "failing": [c.cluster.id for c in self.failing],
            "clusters": [c.to_dict() for c in self.clusters],
        }


@dataclass
class StartedCluster:
    """A cluster whose table scans and pair runs are under way on the query threads."""

    cluster: "Cluster"
    drifts: dict[str, DatasetDrift]
    measurements: list
    pairs: PairRuns


def start_cluster(project: "Project", cluster: "Cluster", live: LiveWarehouse, now: datetime) -> StartedCluster:
    """Compare the dataset files with the live schema, then start the tables' scans and the pairs' runs."""
    timeout = project.config.timeout_s
    drifts = dataset_drift(cluster, live.schema, live.warehouse, timeout)
    measurements = measure_data(live, drifts, now, timeout, cluster.deprecated_tables)
    return StartedCluster(cluster, drifts, measurements, start_pairs(project, cluster, live))


def finish_cluster(project: "Project", started: StartedCluster, live: LiveWarehouse, *, now: datetime,
                   entries: list[dict[str, Any]], fail_under: float | None = None, reproducibility: bool = True) -> ClusterHealth:
    """Collect what ``start_cluster`` started, measure the remaining signals and score the cluster."""
    config, cluster, drifts = project.config, started.cluster, started.drifts
    pairs = finish_pairs(project, cluster, live, started.pairs, drifts)
    used: Usage = usage(project, cluster, entries)
    repro = (reproducibility_signal(project, cluster, live.warehouse, pairs.runnable) if reproducibility
             else skipped("reproducibility", "not requested"))
    signals = [
        pairs.validity,
        pairs.execution,
        schema_drift_signal(drifts, cluster.datasets),
        data_health_signal(started.measurements),
        used.signal,
        repro,
        curation_freshness_signal(cluster, drifts, live.schema, now.date()),
    ]
    weights = validate_weights(config.health_weights, str(config.root / "vedder.yaml"))
    return ClusterHealth(
        cluster=cluster,
        score=score(signals, weights),
        fail_under=threshold(cluster, config, fail_under),
        signals=signals,
        uncovered=used.uncovered,
        negative_feedback=used.negative_feedback,
        drifts=drifts,
        pairs=pairs,
        failures=gate_failures(config, pairs),
    )


def check_cluster(project: "Project", cluster: "Cluster", live: LiveWarehouse, *, now: datetime,
                  entries: list[dict[str, Any]], fail_under: float | None = None, reproducibility: bool = True) -> ClusterHealth:
    """Measure every signal of ``cluster`` on the ``live`` warehouse and score it."""
    return finish_cluster(project, start_cluster(project, cluster, live, now), live, now=now, entries=entries,
                          fail_under=fail_under, reproducibility=reproducibility)


def check_health(
    project: "Project",
    cluster_ids: list[str] | None = None,
    *,
    warehouse: "Warehouse | None" = None,
    now: datetime | None = None,
    fail_under: float | None = None,
    reproducibility: bool = True,
    selection: str = "all clusters",
) -> HealthReport:
    """Check ``cluster_ids`` (all clusters when None) and return the report; unknown ids raise ClusterNotFound."""
    clusters = [project.cluster(c) for c in cluster_ids] if cluster_ids is not None else list(project.clusters.values())
    now = now or datetime.now(timezone.utc)
    own_warehouse = warehouse is None and bool(clusters)
    if own_warehouse:
        from vedder.warehouse import open_warehouse

        warehouse = open_warehouse(project.config)
    try:
        by_cluster = entries_by_cluster(project, recent_entries(project, now)) if clusters else {}
        results = []
        if clusters:
            with LiveWarehouse(warehouse, project.config.dialect) as live:
                # One cluster ahead: its queries run while the previous cluster is finished and scored.
                previous: StartedCluster | None = None
                for cluster in [*sorted(clusters, key=lambda c: c.id), None]:
                    started = start_cluster(project, cluster, live, now) if cluster is not None else None
                    if previous is not None:
                        results.append(finish_cluster(project, previous, live, now=now, entries=by_cluster.get(previous.cluster.id, []),
                                                      fail_under=fail_under, reproducibility=reproducibility))
                    previous = started
    finally:
        if own_warehouse:
            warehouse.close()
    return HealthReport(results, now.isoformat(timespec="seconds"), selection)
