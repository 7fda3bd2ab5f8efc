"""Offline engines benchmark: load time, first-call latency and warm latency (median of 3) per engine.

Run with ``python -m bench.engines`` (not part of the tests). Engines whose packages are missing are
listed as such. Figures swing with machine load: compare them with each other, not across machines.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SENTENCE = "The weather is sunny and warm today, so we will meet at the train station after lunch."


@dataclass
class Row:
    engine: str
    workload: str
    load_s: float | None = None
    first_s: float | None = None
    warm_s: float | None = None
    warm_cpu_s: float | None = None
    note: str = ""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def measure(
    engine: str, workload: str, make: Callable[[], Any], call: Callable[[Any], Any], runs: int
) -> Row:
    """Construct + load, then one first call and ``runs`` warm calls."""
    try:
        instance = make()
        load_s, _ = timed(instance.load)
    except (ImportError, RuntimeError) as exc:
        return Row(engine, workload, note=f"unavailable: {exc}")
    first_s, result = timed(lambda: call(instance))
    warm, cpu = [], []
    for _ in range(runs):
        cpu_start = time.process_time()
        warm.append(timed(lambda: call(instance))[0])
        cpu.append(time.process_time() - cpu_start)
    return Row(
        engine,
        workload,
        load_s,
        first_s,
        statistics.median(warm),
        statistics.median(cpu),
        describe(engine, result, warm),
    )


def describe(engine: str, result: Any, warm: list[float]) -> str:
    """A throughput note that makes the latency meaningful (tokens/s, real-time factor)."""
    if engine.startswith("llm"):
        return f"{result.output_tokens} tokens, {result.output_tokens / statistics.median(warm):.0f} tok/s"
    if engine.startswith("tts"):
        seconds = (len(result) - 44) / 2 / 22050
        return f"{seconds:.1f} s audio, RTF {statistics.median(warm) / seconds:.2f}"
    if engine.startswith("stt"):
        return f"{result.text[:40]!r}"
    return ""


def photo(width: int, height: int) -> Image.Image:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, width, dtype=np.float32)[None, :, None].repeat(height, 0).repeat(3, 2)
    noise = rng.normal(0, 25, (height, width, 3))
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


def stylize(engine: Any, image: Image.Image) -> Image.Image:
    return engine.stylize(image, "style-07")


def run(runs: int) -> list[Row]:
    from workers.cyclegan.backends.local import LocalStyleTransfer
    from workers.image.backends.local import PlaceholderImageRenderer
    from workers.llm.backends.local import LocalLLM
    from workers.stt.backends.local import LocalSTT
    from workers.tts.backends.local import LocalTTS

    rows = [
        measure(
            "llm smollm2-135m",
            "short answer, max 64 tokens",
            LocalLLM,
            lambda e: e.complete("Write two sentences about the sea.", None, 64, 0.0),
            runs,
        ),
        measure(
            "tts piper joe", "16-word sentence", LocalTTS, lambda e: e.synthesize(SENTENCE, None, 1.0), runs
        ),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "speech.wav"
        try:
            tts = LocalTTS()
            tts.load()
            clip.write_bytes(tts.synthesize(SENTENCE, None, 1.0))
            rows.append(
                measure("stt whisper tiny.en", "~5 s WAV clip", LocalSTT, lambda e: e.transcribe(clip), runs)
            )
        except (ImportError, RuntimeError) as exc:
            rows.append(Row("stt whisper tiny.en", "~5 s WAV clip", note=f"unavailable: {exc}"))
    for width, height in ((512, 512), (1024, 768)):
        image = photo(width, height)
        rows.append(
            measure(
                "style transfer",
                f"{width}x{height}",
                LocalStyleTransfer,
                functools.partial(stylize, image=image),
                runs,
            )
        )
    rows.append(
        measure(
            "image placeholder",
            "512x512 PNG",
            PlaceholderImageRenderer,
            lambda e: e.render("a red fox in a snowy forest at night", 512, 512, 1),
            runs,
        )
    )
    return rows


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:8.0f} ms"


def load_average() -> str:
    """The 1/5/15-minute load averages (Linux), to judge how busy the machine was."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="warm calls per engine (median reported)")
    args = parser.parse_args()
    before = load_average()
    rows = run(args.runs)
    print(f"load average before: {before}, after: {load_average()}")
    header = f"{'engine':<20} {'workload':<28} {'load':>11} {'first call':>11} {'warm median':>11} {'warm CPU':>11}  note"
    print(header)
    print("-" * len(header))
    for r in rows:
        times = f"{fmt(r.load_s):>11} {fmt(r.first_s):>11} {fmt(r.warm_s):>11} {fmt(r.warm_cpu_s):>11}"
        print(f"{r.engine:<20} {r.workload:<28} {times}  {r.note}")


if __name__ == "__main__":
    main()
