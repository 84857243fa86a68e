"""Every bad upload gets a clear 4xx JSON error and leaves nothing behind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR

pytestmark = pytest.mark.e2e

CLIP = SPEECH_DIR / "en_ivr.wav"


def _objects(root: Path) -> set[str]:
    return {
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and ".whisperq" not in p.parts and p.parts[len(root.parts)] in ("audio", "jobs", "index")
    }


def _post(service: Service, **kwargs) -> httpx.Response:
    return httpx.post(service.url + "/api/transcribe", timeout=30, **kwargs)


def _file(content: bytes = b"", name: str = "a.wav") -> dict:
    return {"file": (name, content or CLIP.read_bytes())}


BAD_REQUESTS = {
    "no body": ({}, 415, "multipart/form-data"),
    "no file field": ({"data": {"model_name": "base"}, "files": {"other": ("x.txt", b"x")}}, 400, "'file'"),
    "empty file": ({"files": {"file": ("empty.wav", b"")}}, 400, "empty"),
    "unknown model": ({"files": _file(), "data": {"model_name": "large-v9"}}, 400, "unknown model"),
    "up_speed zero": ({"files": _file(), "data": {"up_speed": "0"}}, 400, "up_speed"),
    "up_speed negative": ({"files": _file(), "data": {"up_speed": "-1"}}, 400, "up_speed"),
    "up_speed too fast": ({"files": _file(), "data": {"up_speed": "10"}}, 400, "up_speed"),
    "up_speed not a number": ({"files": _file(), "data": {"up_speed": "fast"}}, 400, "up_speed"),
    "up_speed nan": ({"files": _file(), "data": {"up_speed": "nan"}}, 400, "up_speed"),
    "bad boolean": ({"files": _file(), "data": {"upgrade_transcribation": "maybe"}}, 400, "true or false"),
    "two files": ({"files": [("file", ("a.wav", b"1")), ("file", ("b.wav", b"2"))]}, 400, "exactly one"),
    "too large": ({"files": {"file": ("big.wav", b"\0" * (3 * 1024 * 1024))}}, 413, "too large"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_upload_is_refused_with_a_clear_error_and_changes_nothing(service: Service, data_root, case):
    kwargs, code, phrase = BAD_REQUESTS[case]
    before = _objects(data_root)
    response = _post(service, **kwargs)
    assert response.status_code == code, response.text
    body = response.json()
    assert phrase in body["error"]
    assert _objects(data_root) == before
    assert not any((service.data_dir / "uploads").glob("upload-*"))


def test_errors_say_what_is_allowed(service: Service):
    body = _post(service, files=_file(), data={"model_name": "nope"}).json()
    assert "tiny.en" in body["allowed"] and "base" in body["allowed"]
    body = _post(service, files=_file(), data={"up_speed": "0"}).json()
    assert "0.25" in body["allowed"] and "4.0" in body["allowed"]


def test_bytes_that_are_not_audio_end_as_a_job_error(service: Service):
    response = _post(service, files={"file": ("notes.mp3", b"this is not audio at all " * 200)})
    assert response.status_code == 200
    status = service.wait_finished(response.json()["task_id"], timeout=60)
    assert status["status"] == "error"
    assert status["error"].startswith("cannot decode audio: ")
    failed = {e["id"] for e in service.get("/api/queue").json()["failed"]}
    assert response.json()["task_id"] in failed


def test_unknown_task_is_404(service: Service):
    for task_id in ("0" * 32, "x" * 100, "jobs.json", "..."):
        response = service.get(f"/api/status/{task_id}")
        assert response.status_code == 404
        assert response.json()["error"] == "Task not found"
