"""What streaming an llm step costs the gateway: ``step.delta`` events versus a plain run, in the same run.

``python -m bench streaming [--quick]``. For each database, rounds alternate the two modes on the same build:
``MODALINE_STREAM_LLM_STEPS=false`` (plain JSON runs) and ``true`` (the worker streams, the runner writes
coalesced ``step.delta`` events and deletes them when the step ends). Each round gets a fresh database, a
fresh gateway (``role=all``) and a fake llm worker that answers 64 pieces of text 10 ms apart either way
(0.64 s a step, like a small model at ~100 tokens/s), and runs N three-step jobs queued straight into the
database. Reported per llm step: the gateway process's CPU (first job queued → last job finished), events
written (the largest ``seq``: every row ever inserted) and events left once the jobs ended.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.gateway_load import (
    STEPS,
    Env,
    Probe,
    database,
    fill_queue,
    make_root,
    start_gateway,
    wait_terminal,
)
from bench.procs import PY, Procs, free_port

PIECES = 64
PIECE_DELAY = 0.01


def _fake_streaming_worker(procs: Procs, name: str) -> str:
    port = free_port()
    cmd = [PY, "-m", "bench.fake_worker", "--port", str(port)]
    cmd += ["--stream-pieces", str(PIECES), "--piece-delay", str(PIECE_DELAY)]
    proc = procs.start(name, cmd)
    url = f"http://127.0.0.1:{port}"
    proc.wait_http(url + "/healthz", timeout=30)
    return url


def _one(base: Path, kind: str, streamed: bool, n: int, index: int) -> dict[str, float]:
    mode = "streamed" if streamed else "plain"
    log_dir = base / "logs"
    with Procs(log_dir) as procs:
        worker_url = _fake_streaming_worker(procs, f"fake-llm-{kind}-{mode}-{index}")
        root = make_root(base, f"stream-{kind}-{mode}-{index}")
        with database(kind, root) as db_url:
            extra = {"MODALINE_STREAM_LLM_STEPS": "true" if streamed else "false"}
            env = Env(root, db_url, worker_url, log_dir, extra=extra)
            _, gw = start_gateway(procs, env, "all", f"gateway-{kind}-{mode}-{index}")
            probe = Probe(db_url)
            try:
                time.sleep(0.5)  # let start-up work settle before measuring
                cpu0, t0 = gw.cpu_seconds(), time.perf_counter()
                fill_queue(db_url, n)
                done = wait_terminal(probe, n, timeout=300, proc=gw)
                cpu, wall = gw.cpu_seconds() - cpu0, time.perf_counter() - t0
                succeeded = probe.status_counts().get("succeeded", 0)
                written = int(probe.query("SELECT max(seq) FROM job_events")[0][0] or 0)
                kept = int(probe.query("SELECT count(*) FROM job_events")[0][0])
                deltas_left = int(
                    probe.query("SELECT count(*) FROM job_events WHERE type = 'step.delta'")[0][0]
                )
            finally:
                probe.close()
    steps = n * STEPS
    return {
        "cpu_ms_per_step": 1000 * cpu / steps,
        "events_written_per_step": written / steps,
        "events_kept_per_step": kept / steps,
        "deltas_left": deltas_left,
        "wall_s": wall,
        "failed": n - succeeded if done >= n else n - done,
    }


def run(
    base: Path, *, quick: bool = False, kinds: tuple[str, ...] = ("sqlite", "postgresql")
) -> dict[str, Any]:
    """Plain versus streamed llm steps, ``rounds`` interleaved pairs per database; medians and ratios."""
    n = 60 if quick else 150
    rounds = 1 if quick else 3
    out: dict[str, Any] = {
        "n_jobs": n,
        "steps_per_job": STEPS,
        "pieces": PIECES,
        "piece_delay_s": PIECE_DELAY,
    }
    for kind in kinds:
        runs: dict[str, list[dict[str, float]]] = {"plain": [], "streamed": []}
        for index in range(rounds):
            for streamed in (False, True):
                runs["streamed" if streamed else "plain"].append(_one(base, kind, streamed, n, index))
        summary: dict[str, Any] = {}
        for mode, results in runs.items():
            summary[mode] = {key: statistics.median(r[key] for r in results) for key in results[0]}
        plain, streamed = summary["plain"], summary["streamed"]
        summary["cpu_ratio"] = streamed["cpu_ms_per_step"] / plain["cpu_ms_per_step"]
        summary["extra_cpu_ms_per_step"] = streamed["cpu_ms_per_step"] - plain["cpu_ms_per_step"]
        summary["extra_events_written_per_step"] = (
            streamed["events_written_per_step"] - plain["events_written_per_step"]
        )
        out[kind] = summary
    return out


def report(res: dict[str, Any]) -> str:
    lines = [
        f"\n(streaming) llm steps streamed as step.delta events vs plain runs: {res['n_jobs']} jobs x "
        f"{res['steps_per_job']} steps, {res['pieces']} pieces {res['piece_delay_s'] * 1000:.0f} ms apart per step",
        f"{'database':<11} {'mode':<9} {'CPU ms/step':>12} {'events written/step':>20} {'kept/step':>10} {'wall s':>7}",
    ]
    for kind in ("sqlite", "postgresql"):
        summary = res.get(kind)
        if not summary:
            continue
        for mode in ("plain", "streamed"):
            r = summary[mode]
            lines.append(
                f"{kind:<11} {mode:<9} {r['cpu_ms_per_step']:>12.2f} {r['events_written_per_step']:>20.1f} "
                f"{r['events_kept_per_step']:>10.1f} {r['wall_s']:>7.1f}"
                + (f"  ({int(r['failed'])} failed)" if r["failed"] else "")
                + (f"  ({int(r['deltas_left'])} deltas left!)" if r["deltas_left"] else "")
            )
        lines.append(
            f"{kind:<11} streamed/plain CPU {summary['cpu_ratio']:.2f}x "
            f"(+{summary['extra_cpu_ms_per_step']:.2f} ms and "
            f"+{summary['extra_events_written_per_step']:.1f} events written per step)"
        )
    return "\n".join(lines) + "\n"
