"""``Prefer: wait`` versus submit-then-poll, same gateway, same run: ``python -m bench.prefer_wait``.

One gateway process (API + runner) over fake workers that answer at once, the 3-step ``bench_llm3``
pipeline, one client at a time on one keep-alive connection. Rounds alternate the two ways of getting a
result, so machine load hits both alike:

- **wait**: ``POST /v1/jobs`` with ``Prefer: wait=60``: one request, the answer is the finished job (201);
- **poll**: ``POST /v1/jobs`` (202), then ``GET /v1/jobs/{id}`` every ``--poll-ms`` until it has ended.

Reported per job: the client's wall time (p50/p99), the gateway process's CPU time and the requests sent.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.gateway_load import JOB_BODY, TERMINAL, Env, database, make_root, start_fake_worker, start_gateway
from bench.procs import Procs

RESULTS = Path(__file__).resolve().parent / "results"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _wait_job(client: httpx.Client) -> tuple[int, str]:
    answer = client.post("/v1/jobs", json=JOB_BODY, headers={"Prefer": "wait=60"})
    if answer.status_code != 201:
        raise RuntimeError(f"Prefer: wait answered {answer.status_code}: {answer.text[:300]}")
    return 1, answer.json()["status"]


def _poll_job(client: httpx.Client, poll: float) -> tuple[int, str]:
    answer = client.post("/v1/jobs", json=JOB_BODY)
    job_id, requests = answer.json()["id"], 1
    while True:
        time.sleep(poll)
        status = client.get(f"/v1/jobs/{job_id}").json()["status"]
        requests += 1
        if status in TERMINAL:
            return requests, status


def run(base: Path, kind: str, n: int, rounds: int, poll_ms: float) -> dict[str, Any]:
    """``rounds`` x (``n`` jobs with wait, ``n`` jobs with polling) on one gateway; figures per job."""
    samples: dict[str, dict[str, list[float]]] = {
        mode: {"wall_ms": [], "cpu_ms": [], "requests": []} for mode in ("wait", "poll")
    }
    with Procs(base / "logs") as procs:
        worker_url = start_fake_worker(procs, f"fake-worker-wait-{kind}")
        root = make_root(base, f"wait-{kind}")
        with database(kind, root) as db_url:
            url, gateway = start_gateway(
                procs, Env(root, db_url, worker_url, base / "logs"), "all", "gw-wait"
            )
            try:
                with httpx.Client(base_url=url, timeout=70) as client:
                    for _ in range(10):  # warm-up: connections, caches, the first claims
                        _wait_job(client)
                        _poll_job(client, poll_ms / 1000)
                    for _ in range(rounds):
                        for mode in ("wait", "poll"):
                            cpu0 = gateway.cpu_seconds()
                            for _ in range(n):
                                t0 = time.perf_counter()
                                requests, status = (
                                    _wait_job(client) if mode == "wait" else _poll_job(client, poll_ms / 1000)
                                )
                                samples[mode]["wall_ms"].append(1000 * (time.perf_counter() - t0))
                                samples[mode]["requests"].append(requests)
                                if status != "succeeded":
                                    raise RuntimeError(f"a bench job ended {status}")
                            samples[mode]["cpu_ms"].append(1000 * (gateway.cpu_seconds() - cpu0) / n)
            finally:
                procs.stop(gateway)
        shutil.rmtree(root, ignore_errors=True)
    result: dict[str, Any] = {"kind": kind, "n_per_round": n, "rounds": rounds, "poll_ms": poll_ms}
    for mode, values in samples.items():
        result[mode] = {
            "wall_ms_p50": _pct(values["wall_ms"], 0.5),
            "wall_ms_p99": _pct(values["wall_ms"], 0.99),
            "gateway_cpu_ms_per_job": statistics.median(values["cpu_ms"]),
            "requests_per_job": statistics.fmean(values["requests"]),
        }
    result["wait_vs_poll"] = {
        "wall_p50": result["wait"]["wall_ms_p50"] / result["poll"]["wall_ms_p50"],
        "gateway_cpu": result["wait"]["gateway_cpu_ms_per_job"] / result["poll"]["gateway_cpu_ms_per_job"],
    }
    return result


def report(result: dict[str, Any]) -> str:
    lines = [
        f"Prefer: wait vs submit+poll ({result['kind']}, 3 instant steps, {result['rounds']} rounds x "
        f"{result['n_per_round']} jobs each, poll every {result['poll_ms']:g} ms, one client)",
        f"{'':6} {'wall p50 ms':>12} {'wall p99 ms':>12} {'gateway CPU ms/job':>19} {'requests/job':>13}",
    ]
    for mode in ("wait", "poll"):
        row = result[mode]
        lines.append(
            f"{mode:6} {row['wall_ms_p50']:12.1f} {row['wall_ms_p99']:12.1f} "
            f"{row['gateway_cpu_ms_per_job']:19.2f} {row['requests_per_job']:13.1f}"
        )
    ratio = result["wait_vs_poll"]
    lines.append(f"wait/poll: wall p50 x{ratio['wall_p50']:.2f}, gateway CPU x{ratio['gateway_cpu']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("-n", type=int, default=100, help="jobs per mode per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-ms", type=float, default=50.0, help="the polling client's interval")
    args = parser.parse_args()
    work = Path(__import__("tempfile").mkdtemp(prefix="bench-wait-"))
    try:
        result = run(work, args.db, args.n, args.rounds, args.poll_ms)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"prefer_wait_{args.db}.json").write_text(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
