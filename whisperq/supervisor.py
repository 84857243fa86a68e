"""Starts child processes (API, runners), restarts the ones that die, stops them all together.

Children get SIGKILL if the supervisor itself dies (Linux parent-death signal), so killing the
supervisor never leaves orphan runners holding jobs.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    backoff_s: float = field(default=1.0)


class Supervisor:
    def __init__(self, children: list[Child], env: dict[str, str] | None = None, grace_s: float = 30.0):
        self.children = children
        self.env = env
        self.grace_s = grace_s
        self._stopping = False

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(child.argv, env=self.env, preexec_fn=_die_with_parent)
        child.started_at = time.monotonic()
        log.info("started %s (pid %s)", child.name, child.process.pid)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        for child in self.children:
            self._start(child)
        while not self._stopping:
            for child in self.children:
                self._restart_if_dead(child)
            time.sleep(0.5)
        return self._stop_all()

    def _restart_if_dead(self, child: Child) -> None:
        code = child.process.poll() if child.process else 0
        if code is None or self._stopping:
            return
        # A child that ran for a while gets restarted at once; one that keeps crashing backs off.
        if time.monotonic() - child.started_at > 60:
            child.backoff_s = 1.0
        log.warning("%s exited with %s; restarting in %.0fs", child.name, code, child.backoff_s)
        time.sleep(child.backoff_s)
        child.backoff_s = min(child.backoff_s * 2, 30.0)
        child.restarts += 1
        if not self._stopping:
            self._start(child)

    def _on_signal(self, signum, _frame) -> None:
        self._stopping = True

    def _stop_all(self) -> int:
        for child in self.children:
            if child.process and child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                child.process.wait()
        return 0


def python_child(name: str, *args: str) -> Child:
    return Child(name, [sys.executable, "-m", "whisperq.cli", *args])


def child_env(extra: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **extra}
