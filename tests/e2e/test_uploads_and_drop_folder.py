"""Presigned uploads (the embedded store's signed PUT), the drop folder and bucket webhooks."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import httpx
import pytest

from functions.signing import sign
from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

pytestmark = pytest.mark.e2e

CLIP = SPEECH_DIR / "en_ivr.wav"
REFERENCE = load_manifest()["en_ivr.wav"]["text"]


def test_presigned_upload_becomes_a_job_that_finishes(service: Service):
    grant = service.upload(CLIP, model_name="tiny.en")
    assert grant["method"] == "PUT" and grant["max_bytes"] == 2 * 1024 * 1024
    assert grant["expires_at"] > time.time() + 600
    status = service.wait_finished(grant["task_id"])
    assert status["status"] == "done", status
    assert status["filename"] == "en_ivr.wav" and status["file_size"] == CLIP.stat().st_size
    assert word_error_rate(REFERENCE, status["result"], "en") <= 0.1


def test_awaiting_upload_is_visible_and_completes_only_with_audio(service: Service):
    grant = httpx.post(service.url + "/api/uploads", json={"filename": "later.wav", "model_name": "tiny.en"}).json()
    assert service.get(f"/api/status/{grant['task_id']}").json()["status"] == "awaiting_upload"
    early = httpx.post(grant["complete_url"])
    assert early.status_code == 409 and "not arrived" in early.json()["error"]


def test_upload_url_refuses_tampering_reuse_expiry_and_size(service: Service):
    grant = httpx.post(service.url + "/api/uploads", json={"filename": "a.wav", "model_name": "tiny.en"}).json()
    url = grant["upload_url"]
    forged = httpx.put(url.replace("signature=", "signature=0"), content=CLIP.read_bytes())
    assert forged.status_code == 403 and "signature" in forged.json()["error"]
    secret = (service.data_dir / "signing.key").read_bytes()
    past = int(time.time()) - 10
    expired_url = url.split("?")[0] + f"?expires={past}&signature={sign(secret, grant['task_id'], past)}"
    expired = httpx.put(expired_url, content=CLIP.read_bytes())
    assert expired.status_code == 403 and "expired" in expired.json()["error"]
    too_big = httpx.put(url, content=b"\0" * (3 * 1024 * 1024))
    assert too_big.status_code == 413
    empty = httpx.put(url, content=b"")
    assert empty.status_code == 400
    assert service.get(f"/api/status/{grant['task_id']}").json()["status"] == "awaiting_upload"
    assert httpx.put(url, content=CLIP.read_bytes()).status_code == 200
    again = httpx.put(url, content=CLIP.read_bytes())
    assert again.status_code == 409


@pytest.mark.parametrize(
    "body, phrase",
    [
        ({}, "filename"),
        ({"filename": "a.wav", "model_name": "nope"}, "unknown model"),
        ({"filename": "a.wav", "up_speed": 0}, "up_speed"),
        ({"filename": "a.wav", "colour": "red"}, "unknown field"),
    ],
)
def test_bad_upload_requests_are_refused(service: Service, body: dict, phrase: str):
    response = httpx.post(service.url + "/api/uploads", json=body)
    assert response.status_code == 400 and phrase in response.json()["error"]


def _wait_for(path: Path, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.3)
    return path


def test_dropped_file_is_transcribed_into_outbox_in_the_formats_asked(service: Service, data_root: Path):
    folder = data_root / "inbox" / "calls" / "monday"
    folder.mkdir(parents=True)
    (folder / "first call.wav.json").write_text(json.dumps({"model_name": "tiny.en", "formats": ["txt", "srt"]}))
    shutil.copyfile(CLIP, folder / ".first call.wav.part")
    (folder / ".first call.wav.part").rename(folder / "first call.wav")
    outbox = data_root / "outbox" / "calls" / "monday"
    text = _wait_for(outbox / "first call.txt").read_text()
    assert word_error_rate(REFERENCE, text, "en") <= 0.1
    srt = _wait_for(outbox / "first call.srt").read_text()
    assert srt.startswith("1\n00:00:0") and " --> " in srt
    time.sleep(2.5)  # more inbox scans: still one job for the file
    jobs = [e for e in service.get("/api/queue").json()["completed"] if e["filename"] == "first_call.wav"]
    assert len(jobs) == 1


def test_dropped_file_with_bad_options_gets_an_error_file(service: Service, data_root: Path):
    folder = data_root / "inbox" / "bad"
    folder.mkdir(parents=True)
    (folder / "x.wav.json").write_text(json.dumps({"formats": ["docx"]}))
    shutil.copyfile(CLIP, folder / "x.wav")
    error = json.loads(_wait_for(data_root / "outbox" / "bad" / "x.error.json").read_text())
    assert "docx" in error["error"] and "allowed" in error["error"]


def test_bucket_webhook_events_make_one_job_per_object(service: Service, data_root: Path):
    target = data_root / "inbox" / "hook" / "a b.wav"
    target.parent.mkdir(parents=True)
    (target.parent / "a b.wav.json").write_text(json.dumps({"model": "tiny.en"}))
    shutil.copyfile(CLIP, target)
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": "whisperq"}, "object": {"key": "inbox/hook/a+b.wav", "size": 1}},
    }
    test_event = httpx.post(service.url + "/api/events/s3", json={"Event": "s3:TestEvent", "Service": "Amazon S3"})
    assert test_event.json() == {"received": 0, "jobs": []}
    first = httpx.post(service.url + "/api/events/s3", json={"EventName": "s3:ObjectCreated:Put", "Records": [record]})
    second = httpx.post(service.url + "/api/events/s3", json={"Records": [record, record]})
    created = first.json()["jobs"] + second.json()["jobs"]
    assert first.json()["received"] == 1 and second.json()["received"] == 2
    assert len(created) <= 1  # the inbox scan may have made it first; never two
    _wait_for(data_root / "outbox" / "hook" / "a b.txt")
    names = [e["filename"] for e in service.get("/api/queue").json()["completed"]]
    assert names.count("a_b.wav") == 1
