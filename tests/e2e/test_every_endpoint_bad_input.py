"""Every endpoint, given bad input, answers a clear 4xx JSON error and changes nothing in the store."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.service import Service

pytestmark = pytest.mark.e2e

UNKNOWN = "0" * 32

CASES = [
    ("GET", "/api/status/" + UNKNOWN, {}, 404),
    ("GET", "/api/status/not-an-id!", {}, 404),
    ("GET", "/api/status/" + UNKNOWN + "?format=srt", {}, 404),
    ("GET", "/api/result/" + UNKNOWN + ".txt", {}, 404),
    ("GET", "/api/result/" + UNKNOWN + ".exe", {}, 400),
    ("DELETE", "/api/tasks/" + UNKNOWN, {}, 404),
    ("POST", "/api/tasks/" + UNKNOWN + "/retry", {}, 404),
    ("GET", "/api/queue?limit=0", {}, 400),
    ("GET", "/api/queue?limit=abc", {}, 400),
    ("GET", "/api/logs?limit=100000", {}, 400),
    ("POST", "/api/uploads", {"content": b"{not json", "headers": {"content-type": "application/json"}}, 400),
    ("POST", "/api/uploads", {"json": ["a", "list"]}, 400),
    ("POST", "/api/uploads", {"json": {"filename": ""}}, 400),
    ("POST", "/api/uploads", {"json": {"filename": "a.wav", "upgrade_transcribation": "perhaps"}}, 400),
    ("PUT", "/api/uploads/" + UNKNOWN + "?expires=1&signature=x", {"content": b"abc"}, 403),
    ("PUT", "/api/uploads/" + UNKNOWN, {"content": b"abc"}, 400),
    ("POST", "/api/uploads/" + UNKNOWN + "/complete", {}, 404),
    ("POST", "/api/events/s3", {"content": b"[]", "headers": {"content-type": "application/json"}}, 400),
    ("POST", "/api/transcribe", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
    ("POST", "/v1/audio/transcriptions", {"files": {"file": ("a.wav", b"")}}, 400),
    ("POST", "/v1/audio/translations", {"data": {"model": "tiny.en"}, "files": {"other": ("a", b"1")}}, 400),
    ("GET", "/api/transcribe", {}, 405),
    ("DELETE", "/api/queue", {}, 405),
]


def _snapshot(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".whisperq" not in p.parts and p.parts[len(root.parts)] not in ("logs", "runners")
    }


@pytest.mark.parametrize("method, path, kwargs, code", CASES, ids=[f"{m} {p}" for m, p, _, _ in CASES])
def test_bad_input_is_a_clear_4xx_and_changes_nothing(service: Service, data_root: Path, method, path, kwargs, code):
    before = _snapshot(data_root)
    response = httpx.request(method, service.url + path, timeout=30, **kwargs)
    assert response.status_code == code, response.text
    body = response.json()
    message = body["error"]["message"] if isinstance(body["error"], dict) else body["error"]
    assert isinstance(message, str) and len(message) > 5
    assert _snapshot(data_root) == before


def test_progress_stays_between_zero_and_one_while_running(service: Service):
    from tests.speech import SPEECH_DIR

    task_id = service.submit(SPEECH_DIR / "en_reading.wav", model_name="base").json()["task_id"]
    seen = []
    while (status := service.get(f"/api/status/{task_id}").json())["status"] in ("queued", "processing"):
        if status["status"] == "processing":
            seen.append(status["progress"])
        time.sleep(0.05)
    assert all(0.0 <= p <= 1.0 for p in seen)
    assert seen == sorted(seen)  # never goes back
    assert status["status"] == "done" and status["progress"] == 1.0
