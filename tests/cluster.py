"""Several API and runner processes on one store and queue, as on many hosts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service import FAST_SETTINGS, free_port


class Cluster:
    def __init__(self, data_dir: Path, apis: int, runners: int, **env: str):
        self.data_dir = data_dir
        self.env = {
            **os.environ,
            **FAST_SETTINGS,
            "WHISPERQ_DATA_DIR": str(data_dir),
            "WHISPERQ_RUNNER__CPU_THREADS": "1",
            **env,
        }
        self.api_ports = [free_port() for _ in range(apis)]
        self.runner_names = [f"r{n}" for n in range(runners)]
        self.apis: list[subprocess.Popen] = []
        self.runners: dict[str, subprocess.Popen] = {}
        self.log = open(data_dir.parent / f"{data_dir.name}-cluster.log", "ab")  # noqa: SIM115

    def _spawn(self, args: list[str], **env: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "whisperq.cli", *args],
            env={**self.env, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> Cluster:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.apis = [self._spawn(["api", "--port", str(port)]) for port in self.api_ports]
        for name in self.runner_names:
            self.runners[name] = self._spawn(["runner", "--device", "cpu"], WHISPERQ_RUNNER__NAME=name)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if all(httpx.get(u + "/healthz").status_code == 200 for u in self.urls):
                    beats = httpx.get(self.urls[0] + "/api/model_status").json()
                    if beats:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise TimeoutError("cluster did not start")

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def kill_runner(self, name: str) -> None:
        os.killpg(self.runners[name].pid, signal.SIGKILL)
        self.runners[name].wait()

    def stop(self) -> None:
        for process in [*self.apis, *self.runners.values()]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.log.close()
