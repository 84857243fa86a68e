"""AWS protocol servers for tests and benchmarks, each in its own process on a free 127.0.0.1 port.

* moto in server mode: ``python -m moto.server -H 127.0.0.1 -p PORT``, ready when ``/moto-api/`` answers.
* MiniStack: ``python -m ministack`` with ``GATEWAY_PORT=PORT BIND_HOST=127.0.0.1 SERVICES=s3,sqs``,
  ready when ``/_ministack/health`` answers; its pid file goes to ``TMPDIR``, so that points at a
  folder of ours. Both keep everything in memory.

Clients need credentials and a region, any value: see :data:`DUMMY_AWS_ENV`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}
_START_TIMEOUT_S = 60


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unique_name(prefix: str) -> str:
    """A bucket or queue name no other test uses (lower case, valid for both)."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _spawn(name: str, argv: list[str], env: dict[str, str], health_path: str, workdir: Path, port: int) -> Server:
    log_path = workdir / f"{name}-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        if _answers(server.url + health_path):
            return server
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{name} did not answer on {server.url} within {_START_TIMEOUT_S} s:\n{server.log_tail()}")


def start_moto(workdir: Path) -> Server:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return _spawn("moto", argv, {}, "/moto-api/", workdir, port)


def start_ministack(workdir: Path) -> Server:
    port = free_port()
    env = {
        "GATEWAY_PORT": str(port),
        "BIND_HOST": "127.0.0.1",
        "SERVICES": "s3,sqs",
        "TMPDIR": str(workdir),
        "S3_PERSIST": "0",
        "PERSIST_STATE": "0",
        "LOG_LEVEL": "WARNING",
    }
    return _spawn("ministack", [sys.executable, "-m", "ministack"], env, "/_ministack/health", workdir, port)


STARTERS = {"moto": start_moto, "ministack": start_ministack}


@contextlib.contextmanager
def running(kind: str, workdir: Path | None = None) -> Iterator[Server]:
    """Start a server, retrying once if another process took the port in between; stop it after."""
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{kind}-")))
        try:
            server = STARTERS[kind](workdir)
        except RuntimeError:
            server = STARTERS[kind](workdir)
        try:
            yield server
        finally:
            server.stop()
