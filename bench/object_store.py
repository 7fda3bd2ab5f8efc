"""Object-storage clients compared on this machine: upload and download MB/s and client CPU ms per MB.

``python -m bench storage [--quick]``. Starts a moto S3 server (``moto_server``, its own process, stopped by
PID) and moves the same files through each candidate client, streaming both ways (uploads from a file on
disk, downloads read chunk by chunk and dropped, as the gateway and the workers do):

- ``boto3 transfer``: ``upload_file`` / ``download_fileobj`` (s3transfer: multipart and a thread pool);
- ``boto3 stream``: one ``put_object`` from the open file / ``get_object`` body read in 256 KiB chunks;
- ``aiobotocore``: the same two calls on asyncio (what aioboto3 wraps);
- ``obstore async``: ``put_async`` / ``get_async`` streamed on asyncio;
- ``obstore``: ``put`` of the file's path (read natively; multipart past 5 MiB) / ``get`` streamed, the blocking API;
- ``S3Storage``: Modaline's own interface as the gateway drives it (``workers/kit/storage``): obstore's blocking
  calls from asyncio, one thread hop per chunk (``aput_file`` / ``aread_chunks``).

CPU is the client process's own user+system time (every thread, Rust's included) per MB moved; the moto
server's CPU is not counted, though its speed caps every client's MB/s alike, so compare the clients with each
other in the same run, not with a real S3. Rounds are interleaved and the medians reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bench.procs import Procs, free_port, release_port

MIB = 1024 * 1024
CHUNK = 256 * 1024
BUCKET = "modaline-bench"

#: (label, object size, objects per round)
SHAPES = (("1 MiB x 24", MIB, 24), ("32 MiB x 2", 32 * MIB, 2))
QUICK_SHAPES = (("1 MiB x 8", MIB, 8), ("16 MiB x 1", 16 * MIB, 1))
#: "obstore async" is never last: its asyncio calls can abort a process that exits right after one
#: (workers/kit/storage/s3.py), and a blocking call after it lets its runtime settle.
CLIENTS = ("boto3 transfer", "boto3 stream", "aiobotocore", "obstore async", "obstore", "S3Storage")


@contextlib.contextmanager
def moto_server(log_dir: Path) -> Iterator[str]:
    """A moto S3 server on a free loopback port, with the bench bucket; yields its endpoint URL."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = Path(sys.executable).with_name("moto_server")
    with Procs(log_dir) as procs:
        proc = procs.start("moto", [str(moto), "-H", "127.0.0.1", "-p", str(port)])
        proc.wait_http(f"{endpoint}/moto-api/", timeout=60)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        _boto3().create_bucket(Bucket=BUCKET)
        yield endpoint
    release_port(port)


def _boto3() -> Any:
    import boto3

    return boto3.client("s3")


def _obstore() -> Any:
    from obstore.store import S3Store

    return S3Store(BUCKET, client_options={"allow_http": True})


# ---------------------------------------------------------------- one round of one client


def _boto3_transfer(files: list[Path], keys: list[str]) -> tuple[Callable[[], None], Callable[[], int]]:
    client = _boto3()

    def up() -> None:
        for path, key in zip(files, keys, strict=True):
            client.upload_file(str(path), BUCKET, key)

    def down() -> int:
        sink = _Sink()
        for key in keys:
            client.download_fileobj(BUCKET, key, sink)
        return sink.bytes

    return up, down


def _boto3_stream(files: list[Path], keys: list[str]) -> tuple[Callable[[], None], Callable[[], int]]:
    client = _boto3()

    def up() -> None:
        for path, key in zip(files, keys, strict=True):
            with path.open("rb") as handle:
                client.put_object(Bucket=BUCKET, Key=key, Body=handle)

    def down() -> int:
        total = 0
        for key in keys:
            body = client.get_object(Bucket=BUCKET, Key=key)["Body"]
            for chunk in body.iter_chunks(CHUNK):
                total += len(chunk)
        return total

    return up, down


def _aiobotocore(files: list[Path], keys: list[str]) -> tuple[Callable[[], None], Callable[[], int]]:
    from aiobotocore.session import get_session

    # One client for the round, made outside the timed calls (as the boto3 ones are).
    loop = asyncio.new_event_loop()
    context = get_session().create_client("s3")
    client = loop.run_until_complete(context.__aenter__())

    async def up_async() -> None:
        for path, key in zip(files, keys, strict=True):
            with path.open("rb") as handle:
                await client.put_object(Bucket=BUCKET, Key=key, Body=handle)

    async def down_async() -> int:
        total = 0
        for key in keys:
            answer = await client.get_object(Bucket=BUCKET, Key=key)
            async with answer["Body"] as body:
                while chunk := await body.read(CHUNK):
                    total += len(chunk)
        return total

    def down() -> int:
        try:
            return loop.run_until_complete(down_async())
        finally:
            loop.run_until_complete(context.__aexit__(None, None, None))
            loop.close()

    return (lambda: loop.run_until_complete(up_async())), down


def _obstore_sync(files: list[Path], keys: list[str]) -> tuple[Callable[[], None], Callable[[], int]]:
    import obstore

    store = _obstore()

    def up() -> None:
        for path, key in zip(files, keys, strict=True):
            obstore.put(store, key, path)

    def down() -> int:
        total = 0
        for key in keys:
            for chunk in obstore.get(store, key).stream(min_chunk_size=CHUNK):
                total += len(chunk)
        return total

    return up, down


def _obstore_async(files: list[Path], keys: list[str]) -> tuple[Callable[[], None], Callable[[], int]]:
    import obstore

    store = _obstore()

    async def up_async() -> None:
        for path, key in zip(files, keys, strict=True):
            await obstore.put_async(store, key, path)

    async def down_async() -> int:
        total = 0
        for key in keys:
            answer = await obstore.get_async(store, key)
            async for chunk in answer.stream(min_chunk_size=CHUNK):
                total += len(chunk)
        return total

    return (lambda: asyncio.run(up_async())), (lambda: asyncio.run(down_async()))


def _modaline(files: list[Path], keys: list[str]) -> tuple[Callable[[], None], Callable[[], int]]:
    from workers.kit.storage.s3 import S3Storage

    storage = S3Storage(BUCKET)

    async def up_async() -> None:
        for path, key in zip(files, keys, strict=True):
            await storage.aput_file(key, path, content_type="application/octet-stream")

    async def down_async() -> int:
        total = 0
        for key in keys:
            async for chunk in await storage.aread_chunks(key):
                total += len(chunk)
        return total

    return (lambda: asyncio.run(up_async())), (lambda: asyncio.run(down_async()))


_MAKERS = {
    "boto3 transfer": _boto3_transfer,
    "boto3 stream": _boto3_stream,
    "aiobotocore": _aiobotocore,
    "obstore": _obstore_sync,
    "obstore async": _obstore_async,
    "S3Storage": _modaline,
}


class _Sink:
    """A write-only file object that counts bytes (download_fileobj needs one)."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _figures(mb: float, wall: float, cpu: float) -> dict[str, float]:
    return {"mb_per_s": mb / wall, "cpu_ms_per_mb": cpu * 1000 / mb}


def run(work: Path, *, quick: bool = False, rounds: int | None = None) -> dict[str, Any]:
    """Every client on every shape, ``rounds`` interleaved rounds; medians per client, shape and direction."""
    rounds = rounds or (1 if quick else 3)
    shapes = QUICK_SHAPES if quick else SHAPES
    data_dir = work / "storage-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {name: os.environ.get(name) for name in [*env, "AWS_ENDPOINT_URL"]}
    os.environ.update(env)
    samples: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    try:
        with moto_server(work / "logs"):
            for label, size, count in shapes:
                files = [_make_file(data_dir / f"{size}-{i}.bin", size) for i in range(count)]
                mb = size * count / MIB
                for round_no in range(rounds):
                    for client in CLIENTS:
                        keys = [f"{client.replace(' ', '-')}/{round_no}/{i}" for i in range(count)]
                        up, down = _MAKERS[client](files, keys)
                        _, wall, cpu = _timed(up)
                        samples.setdefault((client, label, "upload"), []).append(_figures(mb, wall, cpu))
                        moved, wall, cpu = _timed(down)
                        if moved != size * count:
                            raise RuntimeError(f"{client} downloaded {moved} bytes, expected {size * count}")
                        samples.setdefault((client, label, "download"), []).append(_figures(mb, wall, cpu))
                        print(f"[bench] storage {client} {label} round {round_no + 1}", file=sys.stderr)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    results: dict[str, Any] = {"rounds": rounds, "shapes": [s[0] for s in shapes], "clients": {}}
    for (client, label, direction), values in samples.items():
        results["clients"].setdefault(client, {}).setdefault(label, {})[direction] = {
            key: statistics.median(v[key] for v in values) for key in ("mb_per_s", "cpu_ms_per_mb")
        }
    return results


def _make_file(path: Path, size: int) -> Path:
    if not path.exists() or path.stat().st_size != size:
        with path.open("wb") as handle:
            for _ in range(size // MIB):
                handle.write(os.urandom(MIB))
    return path


def report(res: dict[str, Any]) -> str:
    """The comparison as a table: MB/s and CPU ms/MB per client, shape and direction."""
    lines = [f"\nObject storage clients against moto (medians of {res['rounds']} rounds)"]
    header = f"  {'client':<16}"
    for shape in res["shapes"]:
        header += f" | {shape + ' up':>24} | {shape + ' down':>24}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for client, shapes in res["clients"].items():
        row = f"  {client:<16}"
        for shape in res["shapes"]:
            for direction in ("upload", "download"):
                fig = shapes[shape][direction]
                row += f" | {fig['mb_per_s']:7.1f} MB/s {fig['cpu_ms_per_mb']:6.2f} ms/MB"
        lines.append(row)
    lines.append("  (MB/s: wall-clock throughput; ms/MB: client CPU, every thread, per MB moved)")
    return "\n".join(lines) + "\n"
