"""kill -9 the whole service right after a submit; restarted on the same folder, the job finishes once."""

from __future__ import annotations

import json
import time

import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

pytestmark = pytest.mark.e2e


def _wait_processing(service: Service, task_id: str) -> None:
    deadline = time.monotonic() + 60
    while service.get(f"/api/status/{task_id}").json()["status"] != "processing":
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.05)


@pytest.mark.parametrize("kill_when", ["right_after_submit", "mid_transcription"])
def test_job_survives_kill_9_and_finishes_exactly_once(tmp_path, kill_when: str):
    data = tmp_path / "data"
    first = Service(data).start()
    try:
        response = first.submit(SPEECH_DIR / "en_reading.wav", model_name="tiny.en")
        assert response.status_code == 200
        task_id = response.json()["task_id"]
        if kill_when == "mid_transcription":
            _wait_processing(first, task_id)
    finally:
        first.kill9()

    second = Service(data, port=first.port).start()
    try:
        status = second.wait_finished(task_id, timeout=180)
        assert status["status"] == "done", status
        reference = load_manifest()["en_reading.wav"]["text"]
        assert word_error_rate(reference, status["result"], "en") <= 0.12
        time.sleep(3)  # any duplicate delivery would show up by now
        bucket = data / "bucket"
        assert [p.name for p in (bucket / "results").iterdir()] == [f"{task_id}.json"]
        entries = [p.relative_to(bucket / "index") for p in (bucket / "index").rglob("*.json") if task_id in str(p)]
        assert [p.parts[0] for p in entries] == ["done"]  # one index entry, in its final state
        manifest = json.loads((bucket / "jobs" / f"{task_id}.json").read_text())
        assert manifest["state"] == "done"
        # Killed mid-job, the first attempt counts; right after submit the runner may have begun.
        assert manifest["attempts"] == 2 if kill_when == "mid_transcription" else manifest["attempts"] in (1, 2)
        assert second.get("/api/queue").json()["messages"] == {"visible": 0, "in_flight": 0, "dead": 0}
        done_logs = [e for e in second.get("/api/logs").json() if task_id[:8] in e["msg"] and " done " in e["msg"]]
        assert len(done_logs) == 1
    finally:
        second.stop()
