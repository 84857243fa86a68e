"""Start the real service (``whisperq serve``) as a process group on a free port, for e2e tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

FAST_SETTINGS = {
    "WHISPERQ_RUNNER__VISIBILITY_TIMEOUT_S": "6",
    "WHISPERQ_RUNNER__HEARTBEAT_INTERVAL_S": "1",
    "WHISPERQ_RUNNER__POLL_WAIT_S": "1",
    "WHISPERQ_RUNNER__CPU_THREADS": "2",
    "WHISPERQ_RUNNER__DEVICES": "cpu",
    "WHISPERQ_RUNNER__INBOX_POLL_S": "1",
    "WHISPERQ_REFINE__POLL_WAIT_S": "1",
    # Tests never reach a real LLM provider: a test that refines names its own local server.
    "OPENAI_BASE_URL": "",
    "OPENAI_API_KEY": "",
    "OMP_WAIT_POLICY": "PASSIVE",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """``whisperq serve`` in its own process group, so a test can kill -9 all of it at once."""

    def __init__(self, data_dir: Path, port: int | None = None, **env: str):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **FAST_SETTINGS, "WHISPERQ_DATA_DIR": str(data_dir), **env}
        self.process: subprocess.Popen | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-serve.log"

    def start(self, wait_for_runner: bool = True, timeout: float = 90) -> Service:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", "whisperq.cli", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_until(lambda: self.get("/healthz").status_code == 200, timeout, "API")
        if wait_for_runner:
            self._wait_until(lambda: self.get("/api/model_status").json(), timeout, "a runner heartbeat")
        return self

    def _wait_until(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited ({self.process.returncode}); log: {self.log_tail()}")
            try:
                if ready():
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{what} not ready after {timeout}s; log: {self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def get(self, path: str, **kwargs) -> httpx.Response:
        return httpx.get(self.url + path, timeout=30, **kwargs)

    def submit(self, audio: Path, **fields: str) -> httpx.Response:
        with open(audio, "rb") as handle:
            return httpx.post(
                self.url + "/api/transcribe", files={"file": (audio.name, handle)}, data=fields, timeout=60
            )

    def upload(self, audio: Path, **options) -> dict:
        """The presigned route: ask for an upload URL, then PUT (or POST) the file there."""
        grant = httpx.post(self.url + "/api/uploads", json={"filename": audio.name, **options}, timeout=30)
        grant.raise_for_status()
        body = grant.json()
        if body["method"] == "PUT":
            sent = httpx.put(body["upload_url"], content=audio.read_bytes(), headers=body["headers"], timeout=60)
        else:
            with open(audio, "rb") as handle:
                sent = httpx.post(body["upload_url"], data=body["fields"], files={"file": handle}, timeout=60)
        sent.raise_for_status()
        if body["method"] == "POST":  # straight into the bucket: tell the API it landed
            httpx.post(body["complete_url"], timeout=30).raise_for_status()
        return body

    def wait_finished(self, task_id: str, timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get(f"/api/status/{task_id}").json()
            if status["status"] in ("done", "error", "cancelled"):
                return status
            time.sleep(0.3)
        raise TimeoutError(f"task {task_id} not finished after {timeout}s; log: {self.log_tail()}")

    def wait_refined(self, task_id: str, timeout: float = 60) -> dict:
        """The status once the task is done and its refinement finished, whichever way."""
        status = self.wait_finished(task_id)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if status["refine"] and status["refine"]["status"] not in ("pending", "running"):
                return status
            time.sleep(0.2)
            status = self.get(f"/api/status/{task_id}").json()
        raise TimeoutError(f"refinement of {task_id} not finished after {timeout}s: {status}; log: {self.log_tail()}")

    def kill9(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()
