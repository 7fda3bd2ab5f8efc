"""Measure multipart upload throughput and the server's peak RSS (not a test; run it by hand).

    .venv/bin/python tests/gateway/files/measure_upload.py [--mb 200] [--port 18620]

Starts uvicorn (a subprocess) serving a Starlette app whose one route calls ``receive_multipart``,
streams a ``--mb`` MB WAV file plus a text field to it, and prints MB/s and the server's peak RSS
(``VmHWM``) after a 1 MB warm-up upload and after the big one: flat memory means the upload streamed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

BOUNDARY = "measureb0undary"


def serve(port: int, root: Path) -> None:
    """The server side: one upload route, problem+json on UploadError."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from gateway.files import FileRule, UploadError, open_storage, receive_multipart

    storage = open_storage(None, root)

    async def upload(request: Request) -> JSONResponse:
        try:
            form = await receive_multipart(
                request, storage=storage, max_bytes=1 << 31, file_rules={"audio": FileRule(kind="audio")}
            )
        except UploadError as exc:
            return JSONResponse(exc.problem(), status_code=exc.status)
        return JSONResponse({name: vars(f) for name, f in form.files.items()})

    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def wav_header(data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header (16 kHz, mono, 16-bit) for ``data_bytes`` of samples."""
    fmt = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little")
    fmt += (32000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    return (
        b"RIFF"
        + (36 + data_bytes).to_bytes(4, "little")
        + b"WAVEfmt "
        + (16).to_bytes(4, "little")
        + fmt
        + b"data"
        + data_bytes.to_bytes(4, "little")
    )


def body(total: int) -> tuple[int, Iterator[bytes]]:
    """Content length and chunks of a multipart body holding a text field and a ``total``-byte WAV."""
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="pipeline"\r\n\r\nspeech_to_text\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="audio"; filename="big.wav"\r\n'
        "Content-Type: audio/wav\r\n\r\n"
    ).encode() + wav_header(total - 44)
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    block = bytes(range(256)) * 4096  # 1 MiB of sample data

    def chunks() -> Iterator[bytes]:
        yield head
        left = total - 44
        while left > 0:
            piece = block[: min(len(block), left)]
            left -= len(piece)
            yield piece
        yield tail

    return len(head) + total - 44 + len(tail), chunks()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def upload(client: httpx.Client, size: int) -> float:
    length, chunks = body(size)
    started = time.perf_counter()
    response = client.post(
        "/upload",
        content=chunks,
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}", "content-length": str(length)},
    )
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    assert response.json()["audio"]["bytes"] == size, response.text
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--port", type=int, default=18620)
    parser.add_argument("--serve", type=Path)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.serve)
        return
    with tempfile.TemporaryDirectory() as root:
        server = subprocess.Popen([sys.executable, __file__, "--serve", root, "--port", str(args.port)])
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=600) as client:
                for _ in range(100):
                    try:
                        client.get("/")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                upload(client, 1 << 20)
                warm = peak_rss_mb(server.pid)
                size = args.mb * 1_000_000
                seconds = upload(client, size)
                peak = peak_rss_mb(server.pid)
            print(f"upload {args.mb} MB: {seconds:.2f} s, {args.mb / seconds:.0f} MB/s")
            print(f"server peak RSS: {warm:.1f} MB after a 1 MB upload, {peak:.1f} MB after {args.mb} MB")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
