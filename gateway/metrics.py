"""Prometheus metrics, one registry per app (so several apps in one test process do not collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """What the gateway counts: jobs by status, step latency, worker errors."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "modaline_jobs", "Jobs in the database by status", ["status"], registry=self.registry
        )
        self.step_seconds = Histogram(
            "modaline_step_duration_seconds",
            "Wall time of one worker call, by worker and outcome",
            ["worker", "outcome"],
            buckets=_STEP_BUCKETS,
            registry=self.registry,
        )
        self.worker_errors = Counter(
            "modaline_worker_errors_total",
            "Failed worker calls, by worker and whether the error was retryable",
            ["worker", "retryable"],
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "modaline_jobs_finished_total",
            "Jobs this process finished, by final status",
            ["status"],
            registry=self.registry,
        )

        self.event_streams = Gauge(
            "modaline_event_subscriptions",
            "Open subscriptions of this process's event hub (SSE streams and in-process consumers)",
            registry=self.registry,
        )
        self.event_hub_events = Gauge(
            "modaline_event_hub_delivered",
            "Events this process's event hub handed to subscriptions since it started",
            registry=self.registry,
        )

    def set_hub(self, subscriptions: int, delivered: int) -> None:
        self.event_streams.set(subscriptions)
        self.event_hub_events.set(delivered)

    def observe_step(self, worker: str, outcome: str, seconds: float) -> None:
        self.step_seconds.labels(worker, outcome).observe(seconds)

    def worker_error(self, worker: str, retryable: bool) -> None:
        self.worker_errors.labels(worker, "true" if retryable else "false").inc()

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status in ("queued", "running", "succeeded", "failed", "canceled"):
            self.jobs.labels(status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
