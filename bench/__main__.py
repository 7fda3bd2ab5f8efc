"""``python -m bench [all|gateway|submit|throughput|latency|memory|celery|engines|storage|tracing|streaming|``
``janitor|streams] [--quick] [--profile]`` (and ``python -m bench story``: the offline story pipeline at
several max_parallel, see ``bench/story.py``).

Runs the benchmarks, prints one report with targets and PASS/MISS, and writes the numbers to
``bench/results/latest.json``. ``all`` (the default) runs every gateway part plus the engines part when
``bench/engines.py`` is there. Figures swing with machine load: compare the ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import math
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from bench import (
    baselines,
    gateway_load,
    janitor_bench,
    object_store,
    profiles,
    streaming,
    streams,
    tracing_cost,
)
from bench.loadgen import load_tool

RESULTS = Path(__file__).resolve().parent / "results"
GATEWAY_PARTS = ("submit", "throughput", "latency", "memory")
TARGETS = {
    "throughput_vs_celery": 2.0,
    "latency_p50_ms": 2.0,
    "rss_mb": 150.0,
}


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def run_parts(parts: list[str], work: Path, quick: bool, profile: bool, n: int | None) -> dict[str, Any]:
    res: dict[str, Any] = {}
    n = n or (600 if quick else 2000)
    rounds = 1 if quick else 3

    def guarded(name: str, fn: Any) -> None:
        start = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            res[name] = fn()
        except Exception as exc:
            res[name] = {"error": f"{type(exc).__name__}: {exc}"}
            traceback.print_exc()
        print(f"[bench] {name} done in {time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)

    prof_dir = RESULTS / "profiles" if profile else None
    if prof_dir is not None:
        shutil.rmtree(prof_dir, ignore_errors=True)
    if "celery" in parts or "throughput" in parts:
        guarded(
            "celery",
            lambda: baselines.celery_chains(work / "logs", burst=600 if quick else 1500, rounds=rounds),
        )
    if "submit" in parts:
        guarded(
            "submit",
            lambda: gateway_load.submit_rate(
                work, rounds=rounds, seconds=4 if quick else 8, profile_dir=prof_dir
            ),
        )
    if "throughput" in parts:
        for kind in ("sqlite", "postgresql"):
            guarded(
                f"throughput_{kind}",
                lambda kind=kind: gateway_load.throughput(
                    work, kind, n=n, rounds=rounds, profile_dir=prof_dir
                ),
            )
    if "latency" in parts:
        for kind in ("sqlite", "postgresql"):
            guarded(
                f"latency_{kind}",
                lambda kind=kind: gateway_load.latency(
                    work, kind, n=60 if quick else 200, profile_dir=prof_dir
                ),
            )
    if "memory" in parts:
        jobs = 2000 if quick else 10_000
        # The gateway as shipped (runner concurrency 512): 10,000 jobs in flight, 512 of them at the worker.
        guarded("memory_default", lambda: gateway_load.memory(work, n=jobs, watch=30.0))
        # Worst case: the runner allowed to hold every job at once.
        guarded("memory", lambda: gateway_load.memory(work, n=jobs, concurrency=jobs))
    if "storage" in parts:
        guarded("storage", lambda: object_store.run(work, quick=quick))
    if "tracing" in parts:
        guarded("tracing", lambda: tracing_cost.run(work, quick=quick))
    if "streaming" in parts:
        guarded("streaming", lambda: streaming.run(work, quick=quick))
    if "janitor" in parts:
        guarded("janitor", lambda: janitor_bench.run(work, quick=quick))
    if "streams" in parts:
        levels = (100, 1_000) if quick else streams.LEVELS
        for kind in ("sqlite", "postgresql"):
            guarded(
                f"streams_{kind}",
                lambda kind=kind: streams.idle(work, kind, levels=levels, own_jobs=200 if quick else 2_000),
            )
        guarded("streams_latency", lambda: streams.latency(work, samples=50 if quick else 200))
    if prof_dir is not None:
        res["profiles"] = profiles.summarise_dir(prof_dir)
    return res


def report(res: dict[str, Any]) -> str:
    out = io.StringIO()
    w = out.write
    w(f"\nModaline benchmark - {time.strftime('%Y-%m-%d %H:%M:%S %Z')} - {platform.node()}, ")
    w(f"{_cpu_count()} cores, load generator: {load_tool()}\n")
    rows: list[tuple[str, str, str, str]] = []

    sub = res.get("submit", {})
    if "bare" in sub:
        rows.append(
            (
                "(a) bare FastAPI JSON POST, req/s",
                f"{_fmt(sub['bare']['rps'])} (CPU {sub['bare']['cpu_ms_per_req']:.2f} ms/req)",
                "baseline",
                "-",
            )
        )
        for kind in ("sqlite", "postgresql"):
            if kind in sub:
                g = sub[kind]
                rows.append(
                    (
                        f"(a) POST /v1/jobs {kind} (runner off), req/s",
                        f"{_fmt(g['rps'])} = {g['ratio_to_bare']:.2f}x bare (CPU {g['cpu_ms_per_req']:.2f} ms/req)",
                        "report",
                        "-" if not g["errors"] else f"{g['errors']} errors",
                    )
                )
        for variant, what in (("keys", "key check"), ("keys+limits", "key check + limit counters")):
            g = sub.get(f"sqlite {variant}")
            if g:
                rows.append(
                    (
                        f"(a) POST /v1/jobs sqlite, auth on ({what}), req/s",
                        f"{_fmt(g['rps'])} = {g['ratio_to_auth_off']:.2f}x auth off (CPU {g['cpu_ms_per_req']:.2f} ms/req)",
                        "report",
                        "-" if not g["errors"] else f"{g['errors']} errors",
                    )
                )
    elif "error" in sub:
        rows.append(("(a) POST /v1/jobs", sub["error"][:60], "", "ERROR"))

    cel = res.get("celery", {})
    celery_rate = cel.get("burst_per_s")
    if celery_rate:
        rows.append(
            (
                f"(b) Celery+Redis chain of 3, burst of {cel['burst']}, chains/s",
                _fmt(celery_rate, 1),
                "baseline",
                "-",
            )
        )
    elif "error" in cel:
        rows.append(("(b) Celery chain", cel["error"][:60], "", "ERROR"))
    for kind in ("sqlite", "postgresql"):
        tp = res.get(f"throughput_{kind}")
        if not tp:
            continue
        if "error" in tp:
            rows.append((f"(b) 3-step pipelines {kind}", tp["error"][:60], "", "ERROR"))
            continue
        target = TARGETS["throughput_vs_celery"]
        ratio = tp["completed_per_s"] / celery_rate if celery_rate else None
        ok = None if ratio is None else ratio >= target and tp["failed_or_missing"] == 0
        rows.append(
            (
                f"(b) 3-step jobs/s {kind}, submit-inclusive (N={tp['n']})",
                f"{_fmt(tp['completed_per_s'], 1)}" + (f" = {ratio:.2f}x Celery" if ratio else ""),
                f">= {target:.0f}x Celery",
                _verdict(ok),
            )
        )
        r_ratio = tp["runner_per_s"] / celery_rate if celery_rate else None
        rows.append(
            (
                f"(b) 3-step jobs/s {kind}, runner-only drain",
                f"{_fmt(tp['runner_per_s'], 1)}" + (f" = {r_ratio:.2f}x Celery" if r_ratio else ""),
                f">= {target:.0f}x Celery",
                _verdict(None if r_ratio is None else r_ratio >= target),
            )
        )
        if tp.get("split_completed_per_s"):
            s_ratio = tp["split_completed_per_s"] / celery_rate if celery_rate else None
            s_bad = tp["split_failed"] + tp["split_submit_errors"]
            rows.append(
                (
                    f"(b) 3-step jobs/s {kind}, submit-inclusive, api + runner processes",
                    f"{_fmt(tp['split_completed_per_s'], 1)}"
                    + (f" = {s_ratio:.2f}x Celery" if s_ratio else "")
                    + (f", {s_bad} failed" if s_bad else ""),
                    f">= {target:.0f}x Celery",
                    _verdict(None if s_ratio is None else s_ratio >= target and not s_bad),
                )
            )
        rows.append(
            (
                f"    {kind}: submit phase req/s | gateway CPU ms/job (busy) | failed",
                f"{_fmt(tp['submit_per_s'])} | {_fmt(tp['gateway_cpu_ms_per_job'], 2)}"
                f" ({tp['gateway_cpu_busy'] * 100:.0f}% of a core) | {tp['failed_or_missing']}",
                "",
                "",
            )
        )
    for kind in ("sqlite", "postgresql"):
        lat = res.get(f"latency_{kind}")
        if not lat:
            continue
        if "error" in lat:
            rows.append((f"(c) added latency/step {kind}", lat["error"][:60], "", "ERROR"))
            continue
        p = lat["per_step_ms"]
        rows.append(
            (
                f"(c) gateway-added ms/step {kind}, p50 / p99",
                f"{p['p50']:.2f} / {p['p99']:.2f}",
                f"p50 <= {TARGETS['latency_p50_ms']:.0f} ms",
                _verdict(p["p50"] <= TARGETS["latency_p50_ms"]),
            )
        )
    for key in ("memory_default", "memory"):
        mem = res.get(key)
        if not mem:
            continue
        if "error" in mem:
            rows.append((f"(d) gateway RSS ({key})", mem["error"][:60], "", "ERROR"))
            continue
        held = mem["peak_inflight_at_worker"]
        conc = mem.get("runner_concurrency", "default")
        rows.append(
            (
                f"(d) gateway peak RSS, {mem['jobs']:,} jobs, 5 s worker, runner concurrency {conc}",
                f"{mem['rss_peak_mb']:.0f} MB (idle {mem['rss_idle_mb']:.0f})",
                f"<= {TARGETS['rss_mb']:.0f} MB",
                _verdict(mem["rss_peak_mb"] <= TARGETS["rss_mb"]),
            )
        )
        rows.append(
            (
                "    peak calls at the worker | peak running jobs | terminal",
                f"{held:,} | {mem['peak_running_jobs']:,} | {mem['terminal']:,} after {mem['drain_seconds']:.0f} s",
                "",
                "",
            )
        )
    widths = [max(len(r[i]) for r in rows) if rows else 10 for i in range(4)]
    header = ("measure", "result", "target", "verdict")
    widths = [max(widths[i], len(header[i])) for i in range(4)]
    line = "  ".join(h.ljust(widths[i]) for i, h in enumerate(header))
    w(line + "\n" + "-" * len(line) + "\n")
    for r in rows:
        w("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)) + "\n")

    for kind in ("sqlite", "postgresql"):
        lat = res.get(f"latency_{kind}")
        if lat and "breakdown_ms" in lat:
            w(f"\n(c) where a job's time goes at concurrency 1, {kind} (ms, p50 / p99):\n")
            for name, st in lat["breakdown_ms"].items():
                w(f"    {name:<48} {st['p50']:7.2f} / {st['p99']:7.2f}\n")
            w(f"    {'gateway CPU per job (ms)':<48} {lat['gateway_cpu_ms_per_job']:7.2f}\n")
            c = lat["client_observed_per_step_ms"]
            w(
                f"    {'client-observed (POST -> terminal seen) per step':<48} {c['p50']:7.2f} / {c['p99']:7.2f}\n"
            )
    if res.get("profiles"):
        w(
            "\nProfile (py-spy, gateway process; submit-* = (a), <db>-all = (b), latency-* = (c)): top self time\n"
        )
        for name, prof in res["profiles"].items():
            w(f"  {name}: {prof['samples']} samples\n")
            for frame, share in prof["top_self"][:12]:
                w(f"    {share * 100:5.1f}%  {frame}\n")
            w("   by area (inclusive):\n")
            for area, share in prof["areas"]:
                w(f"    {share * 100:5.1f}%  {area}\n")
    if "storage" in res:
        w(
            object_store.report(res["storage"])
            if "clients" in res["storage"]
            else f"\nstorage: {res['storage']}\n"
        )
    if "tracing" in res:
        w(_tracing_report(res["tracing"]))
    if "streaming" in res:
        w(
            streaming.report(res["streaming"])
            if "n_jobs" in res["streaming"]
            else f"\nstreaming: {res['streaming']}\n"
        )
    if "janitor" in res:
        w(
            janitor_bench.report(res["janitor"])
            if "error" not in res["janitor"]
            else f"\njanitor: {res['janitor']}\n"
        )
    if any(key.startswith("streams_") for key in res):
        w(streams.report(res))
    if "engines" in res:
        w("\n(engines) see the engines table above\n")
    return out.getvalue()


def _tracing_report(t: dict[str, Any]) -> str:
    if "error" in t:
        return f"\ntracing: {t['error']}\n"
    off, on = t["off"], t["on"]
    lines = [
        f"\nTracing cost (SQLite; spans exported over OTLP/HTTP to a local receiver vs OTEL_SDK_DISABLED=true;"
        f" N={t['n']}, {t['rounds']} interleaved round(s), medians)",
        f"  {'':44} {'off':>10} {'on':>10} {'on/off':>8}",
    ]
    for label, key, digits in (
        ("(b) 3-step jobs/s, submit-inclusive", "completed_per_s", 1),
        ("(b) 3-step jobs/s, runner-only drain", "runner_per_s", 1),
        ("(b) gateway CPU ms per job", "gateway_cpu_ms_per_job", 2),
        ("(c) per-step overhead p50, ms", "per_step_ms_p50", 2),
        ("(c) per-step overhead p99, ms", "per_step_ms_p99", 2),
        ("(c) gateway CPU ms per job", "latency_cpu_ms_per_job", 2),
    ):
        ratio = on[key] / off[key] if off[key] else float("nan")
        lines.append(f"  {label:<44} {_fmt(off[key], digits):>10} {_fmt(on[key], digits):>10} {ratio:>7.2f}x")
    lines.append(
        f"  spans received with tracing on: {on['spans_received']:,} of {on['spans_expected']:,} made"
        f" ({on['export_requests']:,} export requests); with it off: {off['spans_received']:,}"
    )
    return "\n".join(lines) + "\n"


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 0


def run_engines(res: dict[str, Any]) -> None:
    if importlib.util.find_spec("bench.engines") is None:
        res["engines"] = {"skipped": "bench/engines.py not present"}
        return
    import bench.engines as engines

    old_argv = sys.argv
    sys.argv = [old_argv[0]]
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            engines.main()
    except Exception as exc:
        res["engines"] = {"error": f"{type(exc).__name__}: {exc}"}
        traceback.print_exc()
    finally:
        sys.argv = old_argv
    text = buf.getvalue()
    print(text, end="")
    res.setdefault("engines", {"table": text})


def _raise_interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["story"]:  # its own options: python -m bench story --help
        from bench import story

        return story.main(given[1:])
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "part",
        nargs="?",
        default="all",
        choices=[
            "all",
            "gateway",
            "engines",
            "celery",
            "storage",
            "tracing",
            "streaming",
            "janitor",
            "streams",
            *GATEWAY_PARTS,
        ],
        help="what to run (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller N and one round (a smoke run)")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway during (a), (b) and (c)")
    parser.add_argument("--n", type=int, default=None, help="jobs per 3-step burst (default 2000)")
    args = parser.parse_args(argv)
    # Stop cleanly on SIGTERM too: the with-blocks stop every process this run started and drop its databases.
    signal.signal(signal.SIGTERM, _raise_interrupt)

    if args.part == "engines":
        res: dict[str, Any] = {}
        run_engines(res)
        return 0
    parts = list(GATEWAY_PARTS) if args.part in ("all", "gateway") else [args.part]
    if args.part == "all":
        parts += ["storage", "streaming", "janitor"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="modaline-bench-"))
    started = time.time()
    try:
        res = run_parts(parts, work, args.quick, args.profile, args.n)
        if args.part == "all":
            run_engines(res)
    finally:
        logs = RESULTS / "logs"
        shutil.rmtree(logs, ignore_errors=True)
        if (work / "logs").exists():
            shutil.copytree(work / "logs", logs)
        shutil.rmtree(work, ignore_errors=True)
    res["meta"] = {
        "started": started,
        "seconds": time.time() - started,
        "part": args.part,
        "quick": args.quick,
        "load_generator": load_tool(),
        "cores": _cpu_count(),
        "targets": TARGETS,
    }
    text = report(res)
    print(text)
    (RESULTS / "latest.json").write_text(json.dumps(res, indent=2, default=str))
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(started))
    (RESULTS / f"run-{stamp}-{args.part}{'-quick' if args.quick else ''}.json").write_text(
        json.dumps(res, indent=2, default=str)
    )
    (RESULTS / "latest.txt").write_text(text)
    print(f"numbers written to {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
