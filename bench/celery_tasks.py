"""The Celery 5 + Redis baseline: one no-op task, chained three times (broker and results in Redis db 7)."""

from __future__ import annotations

import os

from celery import Celery

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
DONE_KEY = "modaline-bench:chains-done"

app = Celery("modaline_bench", broker=REDIS_URL, backend=REDIS_URL)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    worker_hijack_root_logger=False,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    result_expires=600,
)


@app.task(name="bench.noop")
def noop(value: object = None) -> object:
    """Do nothing, pass the value on (the fake worker's equivalent)."""
    return value


_redis = None


@app.task(name="bench.last")
def last(value: object = None) -> object:
    """The chain's third no-op; also counts finished chains, so the driver need not wait on 1,500 results."""
    global _redis
    if _redis is None:
        import redis

        _redis = redis.Redis.from_url(REDIS_URL)
    _redis.incr(DONE_KEY)
    return value
