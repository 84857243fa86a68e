"""Result formats, cancel, retry, API keys and /metrics over real HTTP."""

from __future__ import annotations

import hashlib
import re
import time

import httpx
import pytest

from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

pytestmark = pytest.mark.e2e

CLIP = SPEECH_DIR / "en_reading.wav"


@pytest.fixture(scope="module")
def done_job(service: Service) -> dict:
    task_id = service.submit(CLIP, model_name="tiny.en", up_speed="1.25").json()["task_id"]
    status = service.wait_finished(task_id)
    assert status["status"] == "done"
    return status


def _cues(srt: str) -> list[tuple[float, float]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(rest.replace(",", ".").replace(".", ".", 1))

    return [(seconds(a), seconds(b)) for a, b in re.findall(r"([\d:,.]+) --> ([\d:,.]+)", srt)]


def test_every_format_from_status_and_result_file(service: Service, done_job: dict):
    task_id = done_job["task_id"]
    texts = {}
    for fmt in ("txt", "srt", "vtt", "tsv", "json", "verbose_json"):
        by_query = service.get(f"/api/status/{task_id}", params={"format": fmt})
        extension = "verbose.json" if fmt == "verbose_json" else fmt
        by_file = service.get(f"/api/result/{task_id}.{extension}")
        assert by_query.status_code == by_file.status_code == 200, (fmt, by_query.text)
        assert by_query.text == by_file.text
        assert "attachment" in by_file.headers["content-disposition"]
        texts[fmt] = by_query.text
    reference = load_manifest()["en_reading.wav"]["text"]
    assert word_error_rate(reference, texts["txt"], "en") <= 0.25
    assert texts["vtt"].startswith("WEBVTT")
    assert texts["tsv"].splitlines()[0] == "start\tend\ttext"
    verbose = service.get(f"/api/result/{task_id}.verbose.json").json()
    assert set(verbose) >= {"task", "language", "duration", "text", "segments"}
    # Times are on the original timeline even though the audio was sped up 1.25x.
    cues = _cues(texts["srt"])
    assert cues and cues[-1][1] <= done_job["audio_duration"] + 0.01
    assert abs(cues[-1][1] - done_job["segments"][-1]["end"]) < 0.01
    assert abs(verbose["duration"] - 26.73) < 0.2


@pytest.mark.parametrize(
    "path, code",
    [
        ("/api/result/{id}.docx", 400),
        ("/api/result/{id}", 400),
        ("/api/status/{id}?format=pdf", 400),
        ("/api/result/ffff.srt", 404),
    ],
)
def test_bad_format_requests(service: Service, done_job: dict, path: str, code: int):
    response = service.get(path.format(id=done_job["task_id"]))
    assert response.status_code == code
    assert "error" in response.json()


def test_cancel_a_queued_job_and_retry_it(service: Service):
    # A long queue: the last job is still queued when it is cancelled.
    ids = [service.submit(CLIP, model_name="tiny.en").json()["task_id"] for _ in range(3)]
    victim = ids[-1]
    cancelled = httpx.delete(service.url + f"/api/tasks/{victim}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert httpx.delete(service.url + f"/api/tasks/{victim}").status_code == 409
    assert service.get(f"/api/result/{victim}.txt").status_code == 409
    retried = httpx.post(service.url + f"/api/tasks/{victim}/retry")
    assert retried.status_code == 200
    again = retried.json()["task_id"]
    status = service.wait_finished(again)
    assert status["status"] == "done" and status["retry_of"] == victim
    assert service.wait_finished(victim)["status"] == "cancelled"  # terminal states stay final
    for task_id in ids[:-1]:
        assert service.wait_finished(task_id)["status"] == "done"
    listing = service.get("/api/queue").json()
    assert victim in {e["id"] for e in listing["cancelled"]}


def test_cancel_a_running_job(service: Service):
    task_id = service.submit(CLIP, model_name="base").json()["task_id"]
    for _ in range(600):
        if service.get(f"/api/status/{task_id}").json()["status"] != "queued":
            break
        time.sleep(0.05)
    response = httpx.delete(service.url + f"/api/tasks/{task_id}")
    assert response.status_code in (200, 409)
    final = service.wait_finished(task_id)
    assert final["status"] in ("cancelled", "done")
    if response.status_code == 200:
        assert final["status"] == "cancelled" and final["result"] is None


def test_retry_refuses_jobs_that_did_not_fail(service: Service, done_job: dict):
    response = httpx.post(service.url + f"/api/tasks/{done_job['task_id']}/retry")
    assert response.status_code == 409 and "done" in response.json()["error"]
    assert httpx.post(service.url + "/api/tasks/abc/retry").status_code == 404
    assert httpx.delete(service.url + "/api/tasks/abc").status_code == 404


def test_metrics_in_prometheus_text(service: Service, done_job: dict):
    body = service.get("/metrics").text
    done = re.search(r'^whisperq_jobs\{state="done"\} (\d+)', body, re.M)
    assert done and int(float(done.group(1))) >= 1
    assert re.search(r'^whisperq_queue_messages\{kind="visible"\} \d', body, re.M)
    assert re.search(r'^whisperq_runner_up\{device="cpu",runner="[^"]+"\} 1', body, re.M)
    audio = re.search(r"^whisperq_runner_audio_seconds_total\{[^}]*\} ([\d.e+]+)", body, re.M)
    assert audio and float(audio.group(1)) >= 26
    assert "whisperq_runner_processing_seconds_bucket" in body


def test_api_keys_guard_every_endpoint_but_health(tmp_path):
    svc = Service(tmp_path / "data", WHISPERQ_API_KEYS="k-one, sha256:" + hashlib.sha256(b"k-two").hexdigest())
    svc.start(wait_for_runner=False)
    try:
        assert svc.get("/healthz").status_code == 200
        for path in ("/api/queue", "/api/logs", "/api/gpus", "/api/model_status", "/metrics", "/api/status/x"):
            response = svc.get(path)
            assert response.status_code == 401 and "API key" in response.json()["error"], path
        assert svc.get("/api/queue", headers={"Authorization": "Bearer k-one"}).status_code == 200
        assert svc.get("/api/queue", headers={"X-API-Key": "k-two"}).status_code == 200
        assert svc.get("/api/queue", headers={"X-API-Key": "k-three"}).status_code == 401
        upload = httpx.post(svc.url + "/api/transcribe", files={"file": ("a.wav", b"x")})
        assert upload.status_code == 401
        assert not (svc.data_dir / "bucket" / "jobs").exists()
    finally:
        svc.stop()
