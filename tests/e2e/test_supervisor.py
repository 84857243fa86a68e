"""``whisperq serve`` restarts a runner that crashed, and the new one works."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR

pytestmark = pytest.mark.e2e


def _runner_pid(service: Service, not_pid: int | None = None, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in (service.data_dir / "bucket" / "runners").glob("*.json"):
            beat = json.loads(path.read_text())
            if beat["pid"] != not_pid and time.time() - beat["updated_at"] < 3 and not beat["stopping"]:
                return beat["pid"]
        time.sleep(0.2)
    raise TimeoutError(f"no new runner heartbeat; log: {service.log_tail()}")


def test_a_crashed_runner_is_restarted(tmp_path):
    service = Service(tmp_path / "data").start()
    try:
        first = _runner_pid(service)
        os.kill(first, signal.SIGKILL)
        second = _runner_pid(service, not_pid=first)
        assert second != first
        status = service.wait_finished(
            service.submit(SPEECH_DIR / "en_ivr.wav", model_name="tiny.en").json()["task_id"]
        )
        assert status["status"] == "done"
        assert "runner[cpu] exited with -9; restarting" in service.log_tail(20000)
    finally:
        service.stop()
