"""Prometheus metrics of one worker, on a registry of its own (so several apps can live in one process).

Labels are bounded: ``capability`` and ``backend`` are fixed per process, ``outcome`` and ``type`` are the
kit's error slugs (``invalid-input``, ``upstream``, ``internal``…). Counters are declared without ``_total``:
the client library adds it (``modaline_worker_runs_total``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class WorkerMetrics:
    """Runs by outcome, run latency, errors by type, runs in flight, readiness."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, capability: str, backend: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"capability": capability, "backend": backend}
        names = list(labels)
        self._runs = Counter(
            "modaline_worker_runs", "Runs finished, by outcome", [*names, "outcome"], registry=self.registry
        )
        self._latency = Histogram(
            "modaline_worker_run_seconds",
            "Wall time of successful runs",
            names,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._errors = Counter(
            "modaline_worker_errors", "Failed runs, by error type", [*names, "type"], registry=self.registry
        )
        self.in_flight = Gauge(
            "modaline_worker_in_flight", "Runs executing now", names, registry=self.registry
        ).labels(**labels)
        self.max_concurrency = Gauge(
            "modaline_worker_max_concurrency",
            "Runs admitted at once (<CAP>_MAX_CONCURRENCY); in_flight / this is the saturation",
            names,
            registry=self.registry,
        ).labels(**labels)
        self._backend_seconds = Histogram(
            "modaline_worker_backend_duration_seconds",
            "Wall time of the backend's call (one provider request or one local engine run), by outcome",
            [*names, "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._backend_errors = Counter(
            "modaline_worker_backend_errors",
            "Backend calls that failed, by error type",
            [*names, "type"],
            registry=self.registry,
        )
        self.ready = Gauge(
            "modaline_worker_ready", "1 when the backend can serve", names, registry=self.registry
        ).labels(**labels)
        self._labels = labels

    def succeeded(self, seconds: float) -> None:
        self._runs.labels(**self._labels, outcome="succeeded").inc()
        self._latency.labels(**self._labels).observe(seconds)

    def failed(self, error_type: str) -> None:
        self._runs.labels(**self._labels, outcome="failed").inc()
        self._errors.labels(**self._labels, type=error_type).inc()

    def backend_call(self, seconds: float, *, error: str | None = None) -> None:
        """One call into the backend took ``seconds``; ``error`` is its error slug when it failed."""
        outcome = "ok" if error is None else "error"
        self._backend_seconds.labels(**self._labels, outcome=outcome).observe(seconds)
        if error is not None:
            self._backend_errors.labels(**self._labels, type=error).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
