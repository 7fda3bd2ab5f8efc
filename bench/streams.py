"""(e) Live event streams at scale: idle streams held by an ``api``-role gateway while a ``runner``-role
process holds the jobs running (a fake worker that answers after an hour), and the cross-process latency
of a committed event to an SSE client.

- idle: CPU (% of one core) and RSS of the api process with 0, 100, 1,000 and 10,000 open streams spread
  over 100 running jobs, then 2,000 streams each on its own running job; the streams come from
  ``bench.stream_clients`` (raw asyncio sockets, a process of its own, RLIMIT_NOFILE raised).
- latency (PostgreSQL): this process inserts an event into a running job and commits (with the NOTIFY the
  gateway's writers send), one SSE client in this process times its arrival; with LISTEN/NOTIFY and with
  the poll alone (``MODALINE_SSE_LISTEN=false``, ``MODALINE_SSE_POLL_SECONDS`` 0.5).
"""

from __future__ import annotations

import random
import resource
import socket
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.gateway_load import Env, Probe, database, fill_queue, make_root, start_fake_worker, start_gateway
from bench.procs import PY, Procs

LEVELS = (100, 1_000, 10_000)
MEASURE_SECONDS = 10.0


def _raise_nofile() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _wait_running(probe: Probe, n: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe.status_counts().get("running", 0) >= n:
            return
        time.sleep(0.2)
    raise RuntimeError(f"only {probe.status_counts()} after {timeout} s; wanted {n} running")


def _cpu_rss(proc: Any, seconds: float) -> tuple[float, float]:
    """CPU % of one core over ``seconds`` and RSS (MB) at the end."""
    c0, t0 = proc.cpu_seconds(), time.monotonic()
    time.sleep(seconds)
    cpu = (proc.cpu_seconds() - c0) / (time.monotonic() - t0) * 100
    return cpu, proc.rss_bytes() / 2**20


class Clients:
    """The stream_clients process, driven over its stdin."""

    def __init__(self, port: int, jobs_file: Path, log: Path) -> None:
        self.popen = subprocess.Popen(
            [PY, "-m", "bench.stream_clients", "--port", str(port), "--jobs", str(jobs_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("ab"),
            text=True,
            cwd=Path(__file__).resolve().parent.parent,
        )

    def ask(self, line: str) -> list[str]:
        assert self.popen.stdin and self.popen.stdout
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()
        return self.popen.stdout.readline().split()

    def close(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def idle(base: Path, kind: str, levels: tuple[int, ...] = LEVELS, own_jobs: int = 2_000) -> dict[str, Any]:
    """The idle-stream curve on one database."""
    _raise_nofile()
    log_dir = base / "logs"
    out: dict[str, Any] = {"kind": kind, "levels": {}}
    with Procs(log_dir) as procs:
        worker_url = start_fake_worker(procs, f"fake-worker-streams-{kind}", delay=3_600)
        root = make_root(base, f"streams-{kind}")
        with database(kind, root) as db_url:
            extra = {
                "MODALINE_RUNNER_CONCURRENCY": str(own_jobs + 200),
                "MODALINE_WORKER_MAX_CONNECTIONS": str(own_jobs + 200),
                "MODALINE_LIMIT_RUNNING_JOBS": "0",
                "MODALINE_SSE_MAX_STREAMS": "0",
                "MODALINE_SSE_MAX_STREAMS_PER_TENANT": "0",
                "MODALINE_STEP_TIMEOUT_SECONDS": "7200",
            }
            env = Env(root, db_url, worker_url, log_dir, extra)
            probe = Probe(db_url)
            try:
                jobs = fill_queue(db_url, 100)
                start_gateway(procs, env, "runner", f"runner-streams-{kind}")
                _wait_running(probe, 100)
                api_url, api = start_gateway(procs, env, "api", f"api-streams-{kind}")
                port = int(api_url.rsplit(":", 1)[1])
                time.sleep(2)
                cpu, rss = _cpu_rss(api, MEASURE_SECONDS)
                out["levels"][0] = {"cpu_pct": cpu, "rss_mb": rss}
                jobs_file = root / "jobs.txt"
                jobs_file.write_text("\n".join(jobs))
                clients = Clients(port, jobs_file, log_dir / f"stream-clients-{kind}.log")
                try:
                    for n in levels:
                        answer = clients.ask(f"open {n}")
                        time.sleep(2)
                        cpu, rss = _cpu_rss(api, MEASURE_SECONDS)
                        stats = clients.ask("stats")
                        out["levels"][n] = {
                            "cpu_pct": cpu,
                            "rss_mb": rss,
                            "open_seconds": float(answer[2]),
                            "open": int(stats[1]),
                            "closed_by_server": int(stats[3]),
                        }
                finally:
                    clients.close()
                top = max(levels)
                out["per_stream_kb"] = (
                    (out["levels"][top]["rss_mb"] - out["levels"][0]["rss_mb"]) * 1024 / top
                )
                if own_jobs:
                    out["own_jobs"] = _own_jobs(procs, env, probe, port, root, log_dir, own_jobs, api, kind)
            finally:
                probe.close()
    return out


def _own_jobs(
    procs: Procs, env: Env, probe: Probe, port: int, root: Path, log_dir: Path, n: int, api: Any, kind: str
) -> dict[str, Any]:
    """``n`` more running jobs, one stream each (on the same api process, after the curve's streams closed)."""
    time.sleep(3)  # the previous clients' streams are gone
    jobs = fill_queue(env.db_url, n)
    _wait_running(probe, 100 + n, timeout=300)
    jobs_file = root / "own-jobs.txt"
    jobs_file.write_text("\n".join(jobs))
    clients = Clients(port, jobs_file, log_dir / f"stream-clients-own-{kind}.log")
    try:
        answer = clients.ask(f"open {n}")
        time.sleep(2)
        cpu, rss = _cpu_rss(api, MEASURE_SECONDS)
        stats = clients.ask("stats")
    finally:
        clients.close()
    return {
        "streams": n,
        "cpu_pct": cpu,
        "rss_mb": rss,
        "open_seconds": float(answer[2]),
        "open": int(stats[1]),
    }


# --- latency -------------------------------------------------------------------------------------------------


def latency(base: Path, samples: int = 200) -> dict[str, Any]:
    """Commit → SSE client, p50/p99 ms, api and runner in separate processes, PostgreSQL."""
    import psycopg

    out: dict[str, Any] = {}
    log_dir = base / "logs"
    for mode, listen in (("listen_notify", "true"), ("poll_only", "false")):
        with Procs(log_dir) as procs:
            worker_url = start_fake_worker(procs, f"fake-worker-latency-{mode}", delay=3_600)
            root = make_root(base, f"latency-{mode}")
            with database("postgresql", root) as db_url:
                env = Env(root, db_url, worker_url, log_dir, {"MODALINE_SSE_LISTEN": listen})
                probe = Probe(db_url)
                try:
                    (job,) = fill_queue(db_url, 1)
                    start_gateway(procs, env, "runner", f"runner-latency-{mode}")
                    _wait_running(probe, 1)
                    api_url, _ = start_gateway(procs, env, "api", f"api-latency-{mode}")
                    port = int(api_url.rsplit(":", 1)[1])
                    dsn = db_url.replace("+psycopg", "")
                    with psycopg.connect(dsn) as writer:
                        out[mode] = _time_events(writer, port, job, samples)
                finally:
                    probe.close()
    return out


def _time_events(writer: Any, port: int, job: str, samples: int) -> dict[str, float]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(f"GET /v1/jobs/{job}/events HTTP/1.1\r\nHost: gw\r\n\r\n".encode())
    sock.settimeout(10)
    buf = b""
    while b"job.running" not in buf:
        buf += sock.recv(65536)
    waits: list[float] = []
    for i in range(samples):
        marker = f"bench-{i}".encode()
        writer.execute(
            "INSERT INTO job_events (tenant_id, job_id, type, detail, at) "
            "VALUES ('default', %s, 'bench.ping', %s, now())",
            (job, marker.decode()),
        )
        writer.execute("NOTIFY modaline_events")  # as every gateway writer does with its events
        writer.commit()
        t0 = time.perf_counter()
        buf = b""
        while marker + b'"' not in buf:
            buf += sock.recv(65536)
        waits.append((time.perf_counter() - t0) * 1000)
        time.sleep(random.uniform(0.01, 0.05))
    sock.close()
    waits.sort()
    return {
        "samples": len(waits),
        "p50_ms": statistics.median(waits),
        "p99_ms": waits[min(len(waits) - 1, int(len(waits) * 0.99))],
        "max_ms": waits[-1],
    }


def report(res: dict[str, Any]) -> str:
    lines = ["\n(e) live event streams: api-role process, runner elsewhere, streams idle"]
    for kind in ("sqlite", "postgresql"):
        r = res.get(f"streams_{kind}")
        if not r:
            continue
        if "error" in r:
            lines.append(f"  {kind}: ERROR {r['error']}")
            continue
        lines.append(f"  {kind}: streams over 100 running jobs -> CPU % of a core | RSS MB")
        for n, v in r["levels"].items():
            lines.append(f"    {int(n):>6,}  {v['cpu_pct']:6.1f} %  {v['rss_mb']:7.1f} MB")
        lines.append(f"    per stream: {r['per_stream_kb']:.1f} KB")
        own = r.get("own_jobs")
        if own:
            lines.append(
                f"    {own['streams']:,} streams, each on its own running job: {own['cpu_pct']:.1f} % | "
                f"{own['rss_mb']:.1f} MB"
            )
        most = max(r["levels"], key=int)
        top = r["levels"][most]
        verdict = "PASS" if top["cpu_pct"] <= 10 and top["rss_mb"] <= 300 else "MISS"
        if int(most) < 10_000:
            verdict += " (but measured at fewer than 10,000 streams)"
        lines.append(f"    target CPU <= 10 %, RSS <= 300 MB, at {int(most):,} streams: {verdict}")
    lat = res.get("streams_latency")
    if lat and "error" not in lat:
        lines.append("  commit -> SSE client across processes (PostgreSQL), ms p50 / p99:")
        for mode, v in lat.items():
            lines.append(f"    {mode:<14} {v['p50_ms']:8.2f} / {v['p99_ms']:8.2f}  (n={v['samples']})")
    elif lat:
        lines.append(f"  latency: ERROR {lat['error']}")
    return "\n".join(lines) + "\n"
