"""Webhooks, priorities, channel split and video containers through the running service."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx
import pytest

from tests.e2e.conftest import WEBHOOK_SECRET
from tests.media import VIDEO_FORMATS, make_stereo, make_video
from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

IVR = SPEECH_DIR / "en_ivr.wav"
READING = SPEECH_DIR / "en_reading.wav"


def _wait_calls(receiver: WebhookReceiver, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(receiver.calls) < count:
        assert time.monotonic() < deadline, f"only {len(receiver.calls)} webhook calls"
        time.sleep(0.2)
    return receiver.calls


def test_webhook_is_signed_retried_and_recorded(service: Service):
    with WebhookReceiver(answers=[500]) as receiver:
        task_id = service.submit(IVR, model_name="tiny.en", callback_url=receiver.url + "/resume/abc").json()["task_id"]
        calls = _wait_calls(receiver, 2)
        time.sleep(1.5)
        assert len(receiver.calls) == 2  # delivered: no more attempts
    failed, delivered = calls
    assert failed["status"] == 500 and delivered["status"] == 200
    for call in calls:
        assert call["path"] == "/resume/abc"
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), call["body"], hashlib.sha256).hexdigest()
        assert call["headers"]["X-Whisperq-Signature"] == expected
    body = json.loads(delivered["body"])
    assert body["task_id"] == task_id and body["status"] == "done"
    assert word_error_rate(load_manifest()["en_ivr.wav"]["text"], body["result"], "en") <= 0.1
    status = service.get(f"/api/status/{task_id}").json()
    webhook = status["webhook"]
    assert webhook["status"] == "delivered"
    assert [a["status_code"] for a in webhook["attempts"]] == [500, 200]


def test_failed_jobs_call_back_too(service: Service):
    with WebhookReceiver() as receiver:
        task_id = service.submit(IVR, model_name="tiny.en", split_roads="2,A,B", callback_url=receiver.url).json()[
            "task_id"
        ]
        [call] = _wait_calls(receiver, 1)
    body = json.loads(call["body"])
    assert body["task_id"] == task_id and body["status"] == "error"
    assert "1 channel(s) but split_roads asks for 2" in body["error"]


@pytest.mark.parametrize(
    "fields, phrase",
    [
        ({"callback_url": "ftp://x"}, "callback_url"),
        ({"callback_url": "not a url"}, "callback_url"),
        ({"priority": "urgent"}, "priority"),
        ({"split_roads": "2,Client"}, "split_roads"),
        ({"split_roads": "x,A"}, "split_roads"),
        ({"language": "xx"}, "language"),
        ({"task": "summarize"}, "task"),
    ],
)
def test_bad_new_fields_are_refused(service: Service, fields: dict, phrase: str):
    response = httpx.post(service.url + "/api/transcribe", files={"file": ("a.wav", IVR.read_bytes())}, data=fields)
    assert response.status_code == 400 and phrase in response.json()["error"], response.text


def test_high_priority_jumps_the_queue(service: Service):
    blocker = service.submit(READING, model_name="base").json()["task_id"]
    normal = [service.submit(IVR, model_name="tiny.en").json()["task_id"] for _ in range(3)]
    urgent = service.submit(IVR, model_name="tiny.en", priority="high").json()["task_id"]
    started = {t: service.wait_finished(t)["started_at"] for t in [blocker, *normal, urgent]}
    assert started[urgent] < min(started[t] for t in normal)


def test_split_roads_gives_a_dialogue_in_time_order(service: Service, tmp_path):
    stereo = make_stereo(IVR, READING, tmp_path / "call.wav", right_delay_s=16.0)
    task_id = service.submit(stereo, model_name="tiny.en", split_roads="2,Оператор,Клиент").json()["task_id"]
    status = service.wait_finished(task_id)
    assert status["status"] == "done", status
    dialogue = status["dialogue"]
    assert [turn["role"] for turn in dialogue][:2] == ["Оператор", "Клиент"]
    assert all(a["start"] <= b["start"] for a, b in zip(dialogue, dialogue[1:], strict=False))
    lines = status["result"].splitlines()
    assert lines[0].startswith("Оператор: ") and lines[1].startswith("Клиент: ")
    manifest = load_manifest()
    operator = " ".join(t["text"] for t in dialogue if t["role"] == "Оператор")
    client = " ".join(t["text"] for t in dialogue if t["role"] == "Клиент")
    assert word_error_rate(manifest["en_ivr.wav"]["text"], operator, "en") <= 0.1
    assert word_error_rate(manifest["en_reading.wav"]["text"], client, "en") <= 0.15
    assert dialogue[1]["start"] >= 15.5  # the client spoke after the 16 s delay


@pytest.mark.parametrize("container", sorted(VIDEO_FORMATS))
def test_video_containers_use_their_audio_track(service: Service, tmp_path, container: str):
    video = make_video(IVR, tmp_path / f"clip.{container}")
    status = service.wait_finished(service.submit(video, model_name="tiny.en").json()["task_id"])
    assert status["status"] == "done", status
    assert word_error_rate(load_manifest()["en_ivr.wav"]["text"], status["result"], "en") <= 0.1
