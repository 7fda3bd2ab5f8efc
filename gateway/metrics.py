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

    def observe_step(self, worker: str, outcome: str, seconds: float) -> None:
        self.step_seconds.labels(worker, outcome).observe(seconds)

    def worker_error(self, worker: str, retryable: bool) -> None:
        self.worker_errors.labels(worker, "true" if retryable else "false").inc()

    def set_job_counts(self, counts: dict[str, int]) -> None:
        for status in ("queued", "running", "succeeded", "failed", "canceled"):
            self.jobs.labels(status).set(counts.get(status, 0))

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
