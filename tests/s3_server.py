"""A real S3-speaking server for the tests: moto in server mode (``moto_server``), a child process on a free
loopback port, stopped by its PID. Not an in-process mock: every byte goes through HTTP and SigV4 as it
would to AWS or MinIO.

``MotoServer.start(auth=True)`` switches moto's authentication on (``INITIAL_NO_AUTH_ACTION_COUNT``): the
first few requests, made here, create an IAM user with an S3 policy and its access key; every later request
must be signed with that key, so wrong credentials get the real ``InvalidAccessKeyId`` /
``SignatureDoesNotMatch`` answers.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REGION = "us-east-1"
#: Requests moto serves without checking a signature when auth is on: the set-up below makes exactly these.
_SETUP_ACTIONS = 3
_S3_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}


def moto_binary() -> Path | None:
    """``moto_server`` next to this interpreter (the dev extra installs it), or None."""
    path = Path(sys.executable).with_name("moto_server")
    return path if path.exists() else None


def require_moto() -> Path:
    """The moto_server binary, or a skip (a failure under CI=true, where the dev extra is installed)."""
    binary = moto_binary()
    if binary is not None:
        return binary
    reason = "moto_server is not installed (pip install 'moto[server]', part of the dev extra)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI=true but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class MotoServer:
    """One running ``moto_server`` and the credentials that work against it."""

    endpoint: str
    access_key: str
    secret_key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    buckets: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, log_dir: Path, *, auth: bool = False) -> MotoServer:
        binary = require_moto()
        port = _free_port()
        endpoint = f"http://127.0.0.1:{port}"
        env = {**os.environ}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_SETUP_ACTIONS)
        log_path = log_dir / f"moto-{port}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        server = cls(endpoint, "moto-test-key", "moto-test-secret", process, log_path)
        try:
            server._wait_ready()
            if auth:
                server.access_key, server.secret_key = server._make_iam_user()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                # /moto-api/ is moto's own dashboard: it answers without counting as an AWS action.
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"moto_server not ready in {within} s")

    def _make_iam_user(self) -> tuple[str, str]:
        iam = self.client("iam")
        iam.create_user(UserName="modaline")
        iam.put_user_policy(UserName="modaline", PolicyName="s3", PolicyDocument=json.dumps(_S3_POLICY))
        key = iam.create_access_key(UserName="modaline")["AccessKey"]
        return str(key["AccessKeyId"]), str(key["SecretAccessKey"])

    def env(self, **overrides: str) -> dict[str, str]:
        """The AWS variables a process needs to reach this server (the same names as for AWS itself)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            **overrides,
        }

    def client(self, service: str = "s3") -> Any:
        """A boto3 client for set-up and for looking at the bucket from outside."""
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        """A fresh, empty bucket for one test."""
        name = f"modaline-test-{secrets.token_hex(6)}"
        self.client().create_bucket(Bucket=name)
        self.buckets.append(name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def stop(self) -> None:
        """Stop the server by its PID (its own process group), SIGKILL if it lingers."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
