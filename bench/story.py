"""``python -m bench story``: end-to-end time of ``text_to_story`` offline, at several ``max_parallel``.

Starts the gateway and the three workers the story uses (llm, image, tts) on their offline engines, as
``make run`` does, each worker allowed ``--worker-concurrency`` runs at once (default 4), on ports from
``--port`` (default 19100). The pipeline runs as built in, except that each variant sets ``max_parallel`` on
its three map steps and the model samples greedily (temperature 0), so every variant tells the same story
and only the parallelism differs. One warm-up story first (loads the models), then ``--rounds`` rounds
of the variants in rotated order (load drift spreads evenly); medians are reported with the spread.

Times come from the job's own rows: total = ``finished_at - created_at``; per phase from the step rows
(write, the three map steps from their first start to their last end, join, storyboard). Figures swing
with machine load: compare the variants of one run with each other.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.procs import PY, Proc

ROOT = Path(__file__).resolve().parent.parent
BUILTIN = ROOT / "gateway" / "pipelines" / "builtin" / "text_to_story.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
PREMISE = "A small robot who lives in a lighthouse learns to paint the sea."
WORKERS = ("llm", "image", "tts")


def variant(parallel: int) -> str:
    """The built-in story YAML as ``text_to_story_p<N>``: max_parallel N on every map step, greedy model."""
    text = BUILTIN.read_text()
    assert "name: text_to_story\n" in text and "max_parallel: 4" in text
    text = text.replace("name: text_to_story\n", f"name: text_to_story_p{parallel}\n", 1)
    text = text.replace("max_parallel: 4", f"max_parallel: {parallel}")
    return text.replace("temperature: 0.7", "temperature: 0").replace("temperature: 0.3", "temperature: 0")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.load(resp)


def _when(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def run_story(base: str, pipeline: str, scenes: int, timeout: float = 3600) -> dict[str, Any]:
    """Submit one story and wait for it; its total and per-phase seconds from the job's rows."""
    job = _post(f"{base}/v1/jobs", {"pipeline": pipeline, "inputs": {"text": PREMISE, "scenes": scenes}})
    deadline = time.monotonic() + timeout
    while job["status"] not in ("succeeded", "failed", "canceled"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{pipeline} job {job['id']} not done after {timeout:.0f} s")
        time.sleep(0.5)
        job = _get(f"{base}/v1/jobs/{job['id']}")
    if job["status"] != "succeeded":
        raise RuntimeError(f"{pipeline} job {job['id']} {job['status']}: {job['error']}")
    steps = {s["id"]: s for s in job["steps"]}

    def span(step_id: str) -> float:
        start, end = _when(steps[step_id]["started_at"]), _when(steps[step_id]["finished_at"])
        return round((end or 0) - (start or 0), 2)

    items = [s for s in job["steps"] if s.get("parent")]
    starts = [_when(s["started_at"]) for s in items if s["started_at"]]
    ends = [_when(s["finished_at"]) for s in items if s["finished_at"]]
    return {
        "job": job["id"],
        "total_s": round((_when(job["finished_at"]) or 0) - (_when(job["created_at"]) or 0), 2),
        "write_s": span("write"),
        "segments": len(job["outputs"]["segments"]),
        "items_s": round(max(ends) - min(starts), 2) if starts and ends else None,
        "item_s_median": round(statistics.median(s["duration_ms"] / 1000 for s in items), 2),
        "join_s": span("narrate"),
        "storyboard_s": span("assemble"),
        "story_chars": len(job["outputs"]["story"]),
        "narration_s": steps["narrate"]["outputs"]["seconds"],
    }


def start_system(work: Path, port: int, concurrency: int, parallels: list[int]) -> list[Proc]:
    pipelines = work / "pipelines"
    pipelines.mkdir()
    for parallel in parallels:
        (pipelines / f"text_to_story_p{parallel}.yaml").write_text(variant(parallel))
    logs = work / "logs"
    logs.mkdir()
    env = {
        "MODALINE_FILES_ROOT": str(work / "files"),
        "DATABASE_URL": f"sqlite+aiosqlite:///{work / 'bench.db'}",
        "MODALINE_PIPELINES_DIR": str(pipelines),
        "MODALINE_UI_DIR": str(work / "no-ui"),
        "HF_HUB_OFFLINE": "1",
        "OPENROUTER_API_KEY": "",
        "HF_TOKEN": "",
    }
    procs: list[tuple[Proc, int]] = []
    for index, capability in enumerate(WORKERS, start=1):
        prefix = capability.upper()
        env[f"MODALINE_{prefix}_URL"] = f"http://127.0.0.1:{port + index}"
        worker_env = {
            **env,
            "PORT": str(port + index),
            f"{prefix}_BACKEND": "local",
            f"{prefix}_MAX_CONCURRENCY": str(concurrency),
        }
        procs.append((Proc(capability, [PY, "-m", "workers", capability], worker_env, logs), port + index))
    procs.append((Proc("gateway", [PY, "-m", "gateway", "serve"], {**env, "PORT": str(port)}, logs), port))
    try:
        for proc, at in procs:
            proc.wait_http(f"http://127.0.0.1:{at}/readyz", timeout=600)
    except BaseException:
        for proc, _ in reversed(procs):
            proc.stop()
        raise
    return [proc for proc, _ in procs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench story", description=__doc__.splitlines()[0])
    parser.add_argument("--parallel", default="1,2,4", help="max_parallel values to compare (default 1,2,4)")
    parser.add_argument("--scenes", type=int, default=6, help="segments per story (default 6)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all variants (default 1)")
    parser.add_argument("--port", type=int, default=19100, help="gateway port; workers on the next three")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="runs each worker allows at once")
    args = parser.parse_args(argv)
    parallels = [int(p) for p in args.parallel.split(",")]
    results: dict[int, list[dict[str, Any]]] = {p: [] for p in parallels}
    with tempfile.TemporaryDirectory(prefix="modaline-story-bench-") as tmp:
        procs = start_system(Path(tmp), args.port, args.worker_concurrency, parallels)
        base = f"http://127.0.0.1:{args.port}"
        try:
            print("[bench story] warm-up story (loads the models) ...", file=sys.stderr, flush=True)
            run_story(base, f"text_to_story_p{parallels[-1]}", 2)
            for round_no in range(args.rounds):
                order = parallels[round_no % len(parallels) :] + parallels[: round_no % len(parallels)]
                for parallel in order:
                    result = run_story(base, f"text_to_story_p{parallel}", args.scenes)
                    results[parallel].append(result)
                    print(f"[bench story] max_parallel {parallel}: {result}", file=sys.stderr, flush=True)
        finally:
            for proc in reversed(procs):
                proc.stop()
    baseline = statistics.median(r["total_s"] for r in results[parallels[0]])
    print(
        f"\ntext_to_story offline, {args.scenes} segments, workers allow {args.worker_concurrency} runs each"
    )
    print(
        "max_parallel | total s (median) | runs | speed-up | items phase s | write s | join s | storyboard s"
    )
    summary = {}
    for parallel in parallels:
        runs = results[parallel]
        total = statistics.median(r["total_s"] for r in runs)
        row = {
            "total_s": total,
            "runs": [r["total_s"] for r in runs],
            "speedup": round(baseline / total, 2),
            "items_s": statistics.median(r["items_s"] for r in runs),
            "write_s": statistics.median(r["write_s"] for r in runs),
            "join_s": statistics.median(r["join_s"] for r in runs),
            "storyboard_s": statistics.median(r["storyboard_s"] for r in runs),
            "segments": runs[0]["segments"],
        }
        summary[parallel] = row
        print(
            f"{parallel:>12} | {total:>16.1f} | {','.join(f'{t:.0f}' for t in row['runs']):>4} | "
            f"{row['speedup']:>7.2f}x | {row['items_s']:>13.1f} | {row['write_s']:>7.1f} | "
            f"{row['join_s']:>6.2f} | {row['storyboard_s']:>12.2f}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "story.json").write_text(json.dumps({"summary": summary, "runs": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
