"""Gateway overhead per map item: ``python -m bench.map_bench [--db sqlite|postgres] [-n 100] [--rounds 3]``.

Starts ``bench.fake_worker`` (instant answers) and the gateway in this process, then measures, in one run:

- ``map4`` / ``map32``: one job whose map step calls the worker once per item (N items from the ``split``
  transform), ``max_parallel`` 4 and 32;
- ``jobs`` (the baseline): N ordinary one-step jobs submitted at once (the same worker call, each its own job).

For each: wall time and the gateway process's CPU time per item / per job (the fake worker runs in another
process, so only the gateway's own work counts), as medians of ``--rounds``, and the ratio of a map item's
CPU to an ordinary job's. Figures swing with machine load; the ratios measured in one run are what compare.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

PIPELINES = {
    "bench_one": """\
name: bench_one
inputs:
  text: {type: text, max_length: 1000}
steps:
  - {id: a, worker: llm, inputs: {text: "{{ inputs.text }}"}}
outputs:
  text: "{{ steps.a.text }}"
""",
    **{
        f"bench_map{p}": f"""\
name: bench_map{p}
inputs:
  text: {{type: text, max_length: 100000}}
steps:
  - {{id: split, transform: split, inputs: {{text: "{{{{ inputs.text }}}}"}}, options: {{by: lines, max_items: 1000}}}}
  - id: item
    worker: llm
    for_each: "{{{{ steps.split.segments }}}}"
    as: line
    max_parallel: {p}
    inputs: {{text: "{{{{ line.text }}}}"}}
outputs:
  texts: "{{{{ steps.item.text }}}}"
"""
        for p in (4, 32)
    },
}


async def _wait_all(engine: Any, ids: list[str]) -> None:
    """Until every job ended (one cheap query per 20 ms, the same for every variant)."""
    from sqlalchemy import func, select

    from gateway.store.models import JOBS

    unfinished = select(func.count()).where(JOBS.c.id.in_(ids), JOBS.c.finished_at.is_(None))
    failed = select(func.count()).where(JOBS.c.id.in_(ids), JOBS.c.status != "succeeded")
    while True:
        async with engine.connect() as conn:
            if not (await conn.execute(unfinished)).scalar():
                assert not (await conn.execute(failed)).scalar(), "a bench job did not succeed"
                return
        await asyncio.sleep(0.02)


async def _measure(client: httpx.AsyncClient, engine: Any, pipeline: str, n: int) -> tuple[float, float]:
    """(wall seconds, gateway CPU seconds) to run ``n`` items as one map job, or ``n`` one-step jobs."""
    text = "\n".join(f"line {i}" for i in range(n))
    wall, cpu = time.perf_counter(), time.process_time()
    if pipeline == "bench_one":
        bodies = [{"pipeline": pipeline, "inputs": {"text": f"line {i}"}} for i in range(n)]
        answers = await asyncio.gather(*(client.post("/v1/jobs", json=b) for b in bodies))
        ids = [a.json()["id"] for a in answers]
    else:
        ids = [
            (await client.post("/v1/jobs", json={"pipeline": pipeline, "inputs": {"text": text}})).json()[
                "id"
            ]
        ]
    await _wait_all(engine, ids)
    return time.perf_counter() - wall, time.process_time() - cpu


async def _run(db_url: str, worker_url: str, root: Path, n: int, rounds: int) -> dict[str, Any]:
    from asgi_lifespan import LifespanManager

    from gateway.app import create_app
    from gateway.settings import Settings

    (root / "pipelines").mkdir()
    for name, text in PIPELINES.items():
        (root / "pipelines" / f"{name}.yaml").write_text(text)
    urls = {f"{cap}_url": worker_url for cap in ("llm", "image", "stt", "tts", "cyclegan")}
    settings = Settings(
        database_url=db_url,
        files_root=root / "files",
        pipelines_dir=root / "pipelines",
        ui_dir=root / "x",
        **urls,
    )
    results: dict[str, list[tuple[float, float]]] = {"jobs": [], "map4": [], "map32": []}
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        engine = app.state.engine
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=60) as client:
            await _measure(client, engine, "bench_map4", 8)  # warm up: connections, caches
            await _measure(client, engine, "bench_one", 8)
            for _ in range(rounds):  # interleaved, so load swings hit every variant alike
                results["jobs"].append(await _measure(client, engine, "bench_one", n))
                results["map4"].append(await _measure(client, engine, "bench_map4", n))
                results["map32"].append(await _measure(client, engine, "bench_map32", n))
    report: dict[str, Any] = {"items": n, "rounds": rounds}
    for name, runs in results.items():
        report[name] = {
            "wall_s": round(statistics.median(w for w, _ in runs), 3),
            "cpu_ms_per_item": round(statistics.median(c for _, c in runs) * 1000 / n, 3),
        }
    base = report["jobs"]["cpu_ms_per_item"]
    for name in ("map4", "map32"):
        report[name]["cpu_ratio_vs_jobs"] = round(report[name]["cpu_ms_per_item"] / base, 2)
    return report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=18091)
    args = parser.parse_args()
    worker = subprocess.Popen([sys.executable, "-m", "bench.fake_worker", "--port", str(args.port)])
    pg_name = f"modaline_map_bench_{int(time.time())}"
    try:
        time.sleep(1.5)
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            if args.db == "postgres":
                with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{pg_name}"')
                db_url = f"postgresql+psycopg://postgres@127.0.0.1/{pg_name}"
            else:
                db_url = f"sqlite+aiosqlite:///{root / 'bench.db'}"
            report = asyncio.run(_run(db_url, f"http://127.0.0.1:{args.port}", root, args.n, args.rounds))
    finally:
        worker.terminate()
        worker.wait(10)
        if args.db == "postgres":
            with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    print(f"map bench ({args.db}, {report['items']} items, median of {report['rounds']} rounds)")
    print(f"{'variant':<8} {'wall s':>8} {'gateway CPU ms/item':>20} {'CPU vs jobs':>12}")
    for name in ("jobs", "map4", "map32"):
        row = report[name]
        ratio = row.get("cpu_ratio_vs_jobs", 1.0)
        print(f"{name:<8} {row['wall_s']:>8.3f} {row['cpu_ms_per_item']:>20.3f} {ratio:>12.2f}")


if __name__ == "__main__":
    main()
