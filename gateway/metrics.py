"""Prometheus metrics, one registry per app (so several apps in one test process do not collide).

Names follow Prometheus's naming guide (base units, ``_total`` counters, ``_seconds`` durations) and every
label is bounded: statuses and outcomes are fixed sets, ``worker`` names come from the settings, and
``pipeline``/``step`` from the loaded pipeline specs. Job ids and tenants never become labels.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_JOB_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
_STATUSES = ("queued", "running", "succeeded", "failed", "canceled")


class Metrics:
    """What the gateway counts: jobs by status, the queue, job and step latency, worker errors, retries,
    fallbacks and lease takeovers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Gauge(
            "modaline_jobs", "Jobs in the database by status", ["status"], registry=self.registry
        )
        self.queue_depth = Gauge(
            "modaline_queue_depth", "Jobs waiting in the queue (status queued)", registry=self.registry
        )
        self.queue_oldest_age = Gauge(
            "modaline_queue_oldest_age_seconds",
            "How long the oldest queued job has waited (0 when the queue is empty)",
            registry=self.registry,
        )
        self.runner_up = Gauge(
            "modaline_runner_up",
            "1 while this process runs jobs and its runner is alive, 0 otherwise",
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "modaline_step_duration_seconds",
            "Wall time of one worker call, by worker and outcome",
            ["worker", "outcome"],
            buckets=_STEP_BUCKETS,
            registry=self.registry,
        )
        self.job_step_seconds = Histogram(
            "modaline_job_step_duration_seconds",
            "Wall time of one pipeline step, retries included, by pipeline, step and outcome",
            ["pipeline", "step", "outcome"],
            buckets=_STEP_BUCKETS,
            registry=self.registry,
        )
        self.job_seconds = Histogram(
            "modaline_job_duration_seconds",
            "Wall time of a job from its start to its end, by pipeline and final status",
            ["pipeline", "status"],
            buckets=_JOB_BUCKETS,
            registry=self.registry,
        )
        self.worker_errors = Counter(
            "modaline_worker_errors_total",
            "Failed worker calls, by worker and whether the error was retryable",
            ["worker", "retryable"],
            registry=self.registry,
        )
        self.step_retries = Counter(
            "modaline_step_retries_total",
            "Worker calls retried after a retryable failure, by worker",
            ["worker"],
            registry=self.registry,
        )
        self.step_fallbacks = Counter(
            "modaline_step_fallbacks_total",
            "Steps that failed for good and used their on_error outputs instead, by worker",
            ["worker"],
            registry=self.registry,
        )
        self.lease_takeovers = Counter(
            "modaline_lease_takeovers_total",
            "Jobs this process took over because their runner stopped renewing its lease",
            registry=self.registry,
        )
        self.leases_lost = Counter(
            "modaline_leases_lost_total",
            "Jobs this process was running when another runner took them over",
            registry=self.registry,
        )
        self.jobs_finished = Counter(
            "modaline_jobs_finished_total",
            "Jobs this process finished, by final status",
            ["status"],
            registry=self.registry,
        )

        self.files = Gauge(
            "modaline_files",
            "Registered files by origin (upload or step output) and kind (image, audio, other)",
            ["origin", "kind"],
            registry=self.registry,
        )
        self.file_bytes = Gauge(
            "modaline_file_bytes",
            "Bytes of the registered files by origin and kind",
            ["origin", "kind"],
            registry=self.registry,
        )
        self.free_bytes = Gauge(
            "modaline_files_free_bytes",
            "Free space where a directory files root lives (absent for object storage)",
            registry=self.registry,
        )
        self.janitor_deleted = Counter(
            "modaline_janitor_deleted_total",
            "What this process's janitor deleted: jobs, files rows (by origin), stored keys and stray files",
            ["what"],
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

    def observe_job_step(self, pipeline: str, step: str, outcome: str, seconds: float) -> None:
        self.job_step_seconds.labels(pipeline, step, outcome).observe(seconds)

    def worker_error(self, worker: str, retryable: bool) -> None:
        self.worker_errors.labels(worker, "true" if retryable else "false").inc()

    def job_finished(self, pipeline: str, status: str, seconds: float) -> None:
        """A job this process ended: counted by status, its duration by pipeline and status."""
        self.jobs_finished.labels(status).inc()
        self.job_seconds.labels(pipeline, status).observe(max(0.0, seconds))

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status in _STATUSES:
            self.jobs.labels(status).set(counts.get(status, 0))
        self.queue_depth.set(counts.get("queued", 0))

    def set_queue_age(self, seconds: float | None) -> None:
        self.queue_oldest_age.set(max(0.0, seconds or 0.0))

    def set_stored(self, counts: list[tuple[str, str, int, int]]) -> None:
        """(origin, kind, files, bytes) rows; every known label pair is set, absent ones to 0."""
        seen = {(origin, kind): (n, size) for origin, kind, n, size in counts}
        for origin in ("upload", "output"):
            for kind in ("image", "audio", "other"):
                n, size = seen.get((origin, kind), (0, 0))
                self.files.labels(origin, kind).set(n)
                self.file_bytes.labels(origin, kind).set(size)

    def janitor_pass(self, jobs: int, files: dict[tuple[str, str], int], keys: int, strays: int) -> None:
        counts = {"jobs": jobs, "keys": keys, "strays": strays}
        for (origin, _kind), n in files.items():
            name = "uploads" if origin == "upload" else "outputs"
            counts[name] = counts.get(name, 0) + n
        for what, n in counts.items():
            if n:
                self.janitor_deleted.labels(what).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)
