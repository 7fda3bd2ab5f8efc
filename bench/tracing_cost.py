"""What tracing costs the gateway: (b) 3-step throughput and (c) per-step latency with spans exported over
OTLP/HTTP to a local receiver (``bench/otlp_receiver.py``), against the same runs with tracing off, in one run.

Tracing is switched on only through the standard variables (``OTEL_EXPORTER_OTLP_ENDPOINT``), as an operator
would; the receiver's span count shows the exporter really sent them (and how many the SDK dropped, if any:
its batch queue holds 2,048 spans by default).
"""

from __future__ import annotations

import json
import statistics
import urllib.request
from pathlib import Path
from typing import Any

from bench import gateway_load
from bench.procs import PY, Procs, free_port

PY_MODULE = "bench.otlp_receiver"
#: Spans one bench job makes in the gateway: the request, the job, and a step and a worker call per step.
SPANS_PER_JOB = 2 + 2 * gateway_load.STEPS


def _stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url + "/stats", timeout=10) as resp:
        return dict(json.loads(resp.read()))


def run(base: Path, *, quick: bool) -> dict[str, Any]:
    """Off and on, interleaved round by round (so machine load hits both alike), for (b) on SQLite
    (submit-inclusive and runner-only) and (c) on SQLite; medians over the rounds."""
    n = 600 if quick else 2000
    rounds = 1 if quick else 3
    lat_n = 60 if quick else 200
    samples: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    spans = {"off": 0, "on": 0}
    requests = {"off": 0, "on": 0}
    with Procs(base / "logs") as procs:
        port = free_port()
        receiver = procs.start("otlp-receiver", [PY, "-m", PY_MODULE, "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        receiver.wait_http(url + "/healthz", timeout=30)
        envs = {"off": {"OTEL_SDK_DISABLED": "true"}, "on": {"OTEL_EXPORTER_OTLP_ENDPOINT": url}}
        for _ in range(rounds):
            for label, env in envs.items():
                before = _stats(url)
                tp = gateway_load.throughput(base, "sqlite", n=n, rounds=1, split=False, extra_env=env)
                lat = gateway_load.latency(base, "sqlite", n=lat_n, extra_env=env)
                after = _stats(url)
                spans[label] += after["spans"] - before["spans"]
                requests[label] += after["requests"] - before["requests"]
                samples[label].append(
                    {
                        "completed_per_s": tp["completed_per_s"],
                        "runner_per_s": tp["runner_per_s"],
                        "gateway_cpu_ms_per_job": tp["gateway_cpu_ms_per_job"],
                        "failed_or_missing": tp["failed_or_missing"],
                        "per_step_ms_p50": lat["per_step_ms"]["p50"],
                        "per_step_ms_p99": lat["per_step_ms"]["p99"],
                        "latency_cpu_ms_per_job": lat["gateway_cpu_ms_per_job"],
                    }
                )
    # Jobs per round: warm-up 50 + N through the API (all spans), N filled straight into the queue (no
    # request span), 20 + lat_n one at a time through the API.
    expected = rounds * ((50 + n + 20 + lat_n) * SPANS_PER_JOB + n * (SPANS_PER_JOB - 1))
    out: dict[str, Any] = {"n": n, "rounds": rounds, "latency_n": lat_n}
    for label, rows in samples.items():
        out[label] = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
        out[label]["spans_received"] = spans[label]
        out[label]["export_requests"] = requests[label]
        out[label]["spans_expected"] = expected if label == "on" else 0
    off, traced = out["off"], out["on"]
    out["throughput_ratio"] = (
        traced["completed_per_s"] / off["completed_per_s"] if off["completed_per_s"] else None
    )
    out["runner_ratio"] = traced["runner_per_s"] / off["runner_per_s"] if off["runner_per_s"] else None
    out["per_step_p50_ratio"] = (
        traced["per_step_ms_p50"] / off["per_step_ms_p50"] if off["per_step_ms_p50"] else None
    )
    return out
