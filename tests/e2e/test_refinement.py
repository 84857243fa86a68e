"""LLM refinement through the real service (``whisperq serve`` starts a refiner) with real speech and
a local OpenAI-compatible server: refined ``result``, the raw transcript kept in ``raw_result``, and
every failure leaves the job done with its raw text and a clear ``refine.error``."""

from __future__ import annotations

import httpx
import pytest

from tests.llm_server import FakeLLM, refined
from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

pytestmark = pytest.mark.e2e

CLIP = "en_ivr.wav"
REFINE_ENV = {
    "OPENAI_API_KEY": "test",
    "WHISPERQ_REFINE_MODEL": "fake-model",
    "WHISPERQ_REFINE__TIMEOUT_S": "1",
    "WHISPERQ_REFINE__RETRIES": "1",
    "WHISPERQ_REFINE__BACKOFF_S": "0.05",
    "WHISPERQ_REFINE__MAX_BACKOFF_S": "0.2",
    "WHISPERQ_REFINE__POLL_WAIT_S": "0.5",
}


@pytest.fixture(scope="module")
def llm():
    server = FakeLLM().open()
    yield server
    server.close()


@pytest.fixture(scope="module")
def refining(tmp_path_factory, llm: FakeLLM):
    svc = Service(tmp_path_factory.mktemp("refine") / "data", OPENAI_BASE_URL=llm.base_url, **REFINE_ENV).start()
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def refined_job(refining: Service, llm: FakeLLM) -> dict:
    response = refining.submit(SPEECH_DIR / CLIP, model_name="tiny.en", upgrade_transcribation="true")
    assert response.status_code == 200, response.text
    return refining.wait_refined(response.json()["task_id"])


def _refine_again(service: Service, task_id: str, **body) -> dict:
    response = httpx.post(f"{service.url}/api/tasks/{task_id}/refine", json=body or None, timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["refine"]["status"] == "pending"
    return service.wait_refined(task_id)


def _raw_is_real_speech(status: dict) -> None:
    reference = load_manifest()[CLIP]
    assert word_error_rate(reference["text"], status["raw_result"], "en") <= 0.10, status["raw_result"]


def test_refined_result_beside_the_raw_transcript(refining: Service, refined_job: dict, llm: FakeLLM):
    status = refined_job
    assert status["status"] == "done" and status["upgrade_transcribation"] is True
    _raw_is_real_speech(status)
    refine = status["refine"]
    assert refine["status"] == "ok" and refine["error"] is None
    assert (refine["backend"], refine["model"], refine["preset"]) == ("openai", "fake-model", "cleanup")
    assert refine["elapsed"] > 0 and refine["chunks"] == 1
    assert status["result"] == "[cleanup] " + status["raw_result"].upper()
    assert any(status["raw_result"] in prompt for prompt in llm.prompts)  # the real transcript went out
    # The transcript files (txt, srt, ...) stay the raw, timed text.
    txt = refining.get(f"/api/result/{status['task_id']}.txt").text
    assert "[cleanup]" not in txt and word_error_rate(load_manifest()[CLIP]["text"], txt, "en") <= 0.10


@pytest.mark.parametrize(
    "mode, outcome, words",
    [
        ("500", "server_error", ["HTTP 500", "the model crashed", "after 2 attempts"]),
        ("429", "rate_limited", ["HTTP 429", "after 2 attempts"]),
        ("stall", "timeout", ["no answer", "within 1s"]),
        ("closed", "unreachable", ["cannot reach http://127.0.0.1:"]),
    ],
)
def test_failed_refinement_keeps_the_job_done_with_its_raw_text(
    refining: Service, refined_job: dict, llm: FakeLLM, mode: str, outcome: str, words: list[str]
):
    llm.reset(mode)
    if mode == "closed":
        llm.close()
    try:
        status = _refine_again(refining, refined_job["task_id"])
    finally:
        if mode == "closed":
            llm.open()
        llm.reset("ok")
    assert status["status"] == "done"
    assert status["refine"]["status"] == outcome
    assert all(word in status["refine"]["error"] for word in words), status["refine"]["error"]
    assert status["result"] == status["raw_result"] == refined_job["raw_result"]
    _raw_is_real_speech(status)


def test_rerun_with_the_call_center_preset(refining: Service, refined_job: dict, llm: FakeLLM):
    status = _refine_again(refining, refined_job["task_id"], preset="call_center")
    assert status["refine"]["status"] == "ok" and status["refine"]["preset"] == "call_center"
    assert status["result"] == refined(llm.prompts[-1]) and status["result"].startswith("[call_center] ")
    assert "Автоответчик" in llm.prompts[-1]


def test_refine_endpoint_refuses_what_it_cannot_do(refining: Service, refined_job: dict):
    task_id = refined_job["task_id"]
    url = f"{refining.url}/api/tasks/{{}}/refine"
    unknown = httpx.post(url.format("ffff0000"), timeout=30)
    assert unknown.status_code == 404
    bad = httpx.post(url.format(task_id), json={"preset": "poetry"}, timeout=30)
    assert bad.status_code == 400 and "call_center" in bad.json()["allowed"]
    assert httpx.post(url.format(task_id), content=b"{oops", timeout=30).status_code == 400
    failed_id = refining.submit(SPEECH_DIR / "NOTICE.md").json()["task_id"]
    assert refining.wait_finished(failed_id)["status"] == "error"
    conflict = httpx.post(url.format(failed_id), timeout=30)
    assert conflict.status_code == 409 and "only a done task" in conflict.json()["error"]


def test_without_a_provider_the_text_stays_raw_and_nothing_is_sent(service: Service):
    """The shared service has no OPENAI_BASE_URL or OPENAI_API_KEY."""
    task_id = service.submit(SPEECH_DIR / CLIP, model_name="tiny.en", upgrade_transcribation="true").json()["task_id"]
    status = service.wait_refined(task_id)
    assert status["status"] == "done"
    assert status["refine"]["status"] == "not_configured" and "OPENAI_BASE_URL" in status["refine"]["error"]
    assert status["result"] == status["raw_result"]
    _raw_is_real_speech(status)
    plain = service.wait_finished(service.submit(SPEECH_DIR / CLIP, model_name="tiny.en").json()["task_id"])
    assert plain["refine"] is None and plain["result"] == plain["raw_result"]


def test_webhook_waits_for_the_refined_text(refining: Service):
    import json
    import time

    from tests.webhook_receiver import WebhookReceiver

    with WebhookReceiver() as receiver:
        response = refining.submit(
            SPEECH_DIR / CLIP, model_name="tiny.en", upgrade_transcribation="true", callback_url=receiver.url
        )
        deadline = time.monotonic() + 120
        while not receiver.calls:
            assert time.monotonic() < deadline, "no callback"
            time.sleep(0.2)
    body = json.loads(receiver.calls[0]["body"])
    assert body["task_id"] == response.json()["task_id"]
    assert body["refine"]["status"] == "ok"
    assert body["result"] == "[cleanup] " + body["raw_result"].upper()
