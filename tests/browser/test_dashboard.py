"""The dashboard in headless Chromium against the real service: upload real speech, read the transcript,
cancel and retry from the page, languages, errors, live refresh."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.browser.chromium import browser_test, screenshot
from tests.service import Service
from tests.speech import SPEECH_DIR, load_manifest, word_error_rate

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = browser_test

IVR = SPEECH_DIR / "en_ivr.wav"
READING = SPEECH_DIR / "en_reading.wav"


def choose_model(page, name: str) -> None:
    page.wait_for_selector(f'#opt-model option[value="{name}"]', state="attached")
    page.select_option("#opt-model", name)


def test_upload_real_speech_and_read_the_transcript(service: Service, open_page):
    tab = open_page(service)
    page = tab.page
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    choose_model(page, "tiny.en")
    page.set_input_files("#file-input", str(IVR))
    expect(page.locator("#picked li")).to_have_count(1)
    page.click("#upload-start")

    expect(page.locator(".upload").first).to_have_attribute("data-state", "sent")
    viewer = page.locator("#viewer")
    expect(viewer).to_have_attribute("data-status", "done", timeout=120_000)
    shown = page.inner_text("#viewer-text")
    reference = load_manifest()[IVR.name]["text"]
    assert word_error_rate(reference, shown, "en") <= 0.1, shown

    # The audio went straight to the (embedded) bucket's presigned URL, not through /api/transcribe.
    puts = [r for r in tab.requests if r.method == "PUT" and "/api/uploads/" in r.url]
    assert len(puts) == 1 and "signature=" in puts[0].url
    assert not [r for r in tab.requests if r.url.endswith("/api/transcribe")]
    expect(page.locator(f'#jobs-history .job[data-task="{viewer.get_attribute("data-task")}"]')).to_have_attribute(
        "data-status", "done"
    )
    expect(page.locator(".upload").first).to_have_attribute("data-status", "done")

    page.click('[data-view="segments"]')
    expect(page.locator("#viewer-segments li").first).to_contain_text("→")
    screenshot(page, "dashboard-result-ru")
    page.click('[data-view="text"]')


def test_dropped_file_carries_every_option(service: Service, open_page):
    page = open_page(service).page
    choose_model(page, "tiny.en")
    page.eval_on_selector("#opt-speed", "n => { n.value = '1.25'; n.dispatchEvent(new Event('input')); }")
    expect(page.locator("#opt-speed-out")).to_have_text("1.25×")
    page.fill("#opt-prompt", "Asterisk IVR prompts.")
    page.check("#opt-upgrade")
    dropped = page.evaluate_handle(
        """bytes => { const dt = new DataTransfer();
                     dt.items.add(new File([new Uint8Array(bytes)], 'dropped.wav', {type: 'audio/wav'}));
                     return dt; }""",
        list(IVR.read_bytes()[:48_000]),
    )
    page.dispatch_event("#drop", "drop", {"dataTransfer": dropped})
    expect(page.locator("#picked li")).to_contain_text("dropped.wav")
    with page.expect_request("**/api/uploads") as grant:
        page.click("#upload-start")
    assert grant.value.post_data_json == {
        "filename": "dropped.wav",
        "model_name": "tiny.en",
        "up_speed": 1.25,
        "upgrade_transcribation": True,
        "initial_prompt": "Asterisk IVR prompts.",
    }
    expect(page.locator(".upload").first).to_have_attribute("data-state", "sent")
    task_id = page.locator(".upload").first.get_attribute("data-task")
    status = service.get(f"/api/status/{task_id}").json()
    assert (status["up_speed"], status["initial_prompt"], status["upgrade_transcribation"]) == (
        1.25,
        "Asterisk IVR prompts.",
        True,
    )
    assert status["file_size"] == 48_000
    assert service.wait_finished(task_id)["status"] == "done"


def test_every_download_format(service: Service, open_page):
    task_id = service.submit(IVR, model_name="tiny.en").json()["task_id"]
    assert service.wait_finished(task_id)["status"] == "done"
    page = open_page(service).page
    page.locator(f'#jobs-history .job[data-task="{task_id}"]').click()
    expect(page.locator("#viewer")).to_have_attribute("data-status", "done")
    links = page.locator("#viewer-downloads a")
    expect(links).to_have_count(6)
    contents = {}
    for fmt in ("txt", "srt", "vtt", "tsv", "json", "verbose.json"):
        with page.expect_download() as info:
            page.click(f'#viewer-downloads a[data-format="{fmt}"]')
        download = info.value
        assert download.suggested_filename == f"en_ivr.{fmt}"
        contents[fmt] = Path(download.path()).read_text(encoding="utf-8")
    assert "-->" in contents["srt"] and contents["vtt"].startswith("WEBVTT")
    assert contents["tsv"].startswith("start\tend\ttext")
    assert "segments" in contents["verbose.json"]
    assert word_error_rate(load_manifest()[IVR.name]["text"], contents["txt"], "en") <= 0.1


def test_cancel_a_queued_job_and_retry_it_from_the_page(service: Service, open_page):
    page = open_page(service).page
    choose_model(page, "tiny.en")
    audio = READING.read_bytes()
    files = [{"name": f"reading-{i}.wav", "mimeType": "audio/wav", "buffer": audio} for i in range(3)]
    page.set_input_files("#file-input", files)
    page.click("#upload-start")
    expect(page.locator(".upload[data-state='sent']")).to_have_count(3)

    # One CPU runner takes one job at a time: the last in the queue waits seconds before its turn.
    expect(page.locator("#jobs-active .job[data-status='processing']")).to_have_count(1, timeout=30_000)
    queued = page.locator("#jobs-active .job[data-status='queued']")
    expect(queued).not_to_have_count(0)
    last = queued.last.get_attribute("data-task")
    screenshot(page, "dashboard-queue-ru")
    row = page.locator(f'#jobs-active .job[data-task="{last}"]')
    row.locator("[data-action='cancel']").click()

    expect(row).to_have_count(0)
    assert service.get(f"/api/status/{last}").json()["status"] == "cancelled"
    page.click("[data-tab='cancelled']")
    cancelled = page.locator(f'#jobs-history .job[data-task="{last}"]')
    expect(cancelled).to_have_attribute("data-status", "cancelled")

    with page.expect_response(f"**/api/tasks/{last}/retry") as answer:
        cancelled.locator("[data-action='retry']").click()
    again = answer.value.json()["task_id"]
    expect(page.locator("#viewer")).to_have_attribute("data-task", again)
    assert service.get(f"/api/status/{again}").json()["retry_of"] == last
    # Cancel the retried copy from the viewer too, so the queue drains quickly.
    page.click("#viewer-cancel")
    expect(page.locator("#viewer")).to_have_attribute("data-status", "cancelled")
    assert service.get(f"/api/status/{again}").json()["status"] == "cancelled"


def test_refresh_updates_rows_in_place(service: Service, open_page):
    """Auto-refresh must not rebuild the lists: the same DOM nodes survive several polls."""
    tab = open_page(service)
    page = tab.page
    expect(page.locator("#jobs-history .job").first).to_be_visible()
    expect(page.locator("#logs .log").first).to_be_attached()
    total = page.evaluate(
        "() => (window.__rows = [...document.querySelectorAll('#jobs-history .job, #logs .log, .mstate')]).length"
    )
    polls = lambda: sum("/api/queue" in r.url for r in tab.requests)  # noqa: E731
    seen = polls()
    while polls() < seen + 2:
        page.wait_for_timeout(250)
    assert total > 3
    assert page.evaluate("window.__rows.filter(n => n.isConnected).length") == total


def test_polling_pauses_while_the_tab_is_hidden(service: Service, open_page):
    tab = open_page(service)
    page = tab.page
    expect(page.locator("#conn")).to_have_attribute("data-conn", "live")
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => true });
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    expect(page.locator("#conn")).to_have_attribute("data-conn", "paused")
    before = len(tab.requests)
    page.wait_for_timeout(4500)
    assert [r.url for r in tab.requests[before:]] == []
    page.evaluate("""() => {
        Object.defineProperty(document, 'hidden', { configurable: true, get: () => false });
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    expect(page.locator("#conn")).to_have_attribute("data-conn", "live")
    assert any("/api/queue" in r.url for r in tab.requests[before:])


def test_language_switch_is_remembered(service: Service, open_page):
    page = open_page(service, locale="ru-RU").page
    expect(page.locator("#upload-title")).to_have_text("Загрузка")
    page.click(".lang-btn[data-lang='en']")
    expect(page.locator("#upload-title")).to_have_text("Upload")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("#conn-text")).to_have_text(re.compile(r"^updated "))
    page.reload()
    expect(page.locator("#upload-title")).to_have_text("Upload")
    expect(page.locator(".lang-btn[data-lang='en']")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("localStorage.getItem('whisperq.lang')") == "en"
    expect(page.locator("#jobs-history .job").first).to_be_visible()
    screenshot(page, "dashboard-en")

    english_browser = open_page(service, locale="en-US").page
    expect(english_browser.locator("#upload-title")).to_have_text("Upload")
    phone = open_page(service, locale="ru-RU", viewport={"width": 390, "height": 844}).page
    expect(phone.locator("#upload-title")).to_have_text("Загрузка")
    expect(phone.locator("#jobs-history .job").first).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, "dashboard-phone-ru")


def test_api_errors_are_shown_with_what_is_allowed(service: Service, open_page):
    page = open_page(service).page
    choose_model(page, "tiny.en")
    page.uncheck("#opt-direct")  # through POST /api/transcribe, which answers 400 for an empty file
    page.set_input_files("#file-input", [{"name": "empty.wav", "mimeType": "audio/wav", "buffer": b""}])
    page.click("#upload-start")
    failed = page.locator(".upload[data-state='error']")
    expect(failed).to_have_count(1)
    expect(failed.locator(".err")).to_contain_text("400")
    expect(failed.locator(".err")).to_contain_text("the file is empty")
    assert page.evaluate("localStorage.getItem('whisperq.direct')") == "0"


def test_gpu_bars_and_model_grid(service: Service, open_page):
    """No GPU here: /api/gpus and /api/model_status are answered by the test with what two H100 runners send."""
    gpus = [
        {
            "id": 0,
            "name": "NVIDIA H100 80GB HBM3",
            "memory_total_mb": 81559,
            "memory_used_mb": 61170,
            "utilization_gpu": 93,
            "temperature_c": 64,
            "power_w": 512.4,
            "host": "gpu-a",
        },
        {
            "id": 1,
            "name": "NVIDIA H100 80GB HBM3",
            "memory_total_mb": 81559,
            "memory_used_mb": 4100,
            "utilization_gpu": 0,
            "temperature_c": 31,
            "power_w": 71.0,
            "host": "gpu-a",
        },
    ]
    models = {
        "0": {"large-v3": "loaded", "tiny.en": "unloaded"},
        "1": {"large-v3": "loading", "base": "error"},
        "cpu": {"tiny.en": "loaded"},
    }
    tab = open_page(service, goto=False)
    page = tab.page
    page.route("**/api/gpus", lambda route: route.fulfill(json=gpus))
    page.route("**/api/model_status", lambda route: route.fulfill(json=models))
    page.goto(service.url + "/")
    cards = page.locator(".gpu")
    expect(cards).to_have_count(2)
    memory = cards.nth(0).locator('[data-kind="mem"]')
    expect(memory.locator(".val")).to_have_text("59.7 / 79.6 GB")
    expect(memory.locator(".bar")).to_have_attribute("data-level", "warn")
    expect(cards.nth(0).locator('[data-kind="util"] .bar')).to_have_attribute("data-level", "high")
    width = memory.locator(".bar > span").evaluate("n => n.style.width")
    assert abs(float(width.rstrip("%")) - 75.0) < 0.1
    expect(cards.nth(0).locator(".gpu-foot")).to_have_text("64 °C · 512 W")
    expect(page.locator('.mstate[data-device="0"][data-model="large-v3"]')).to_have_attribute("data-state", "loaded")
    expect(page.locator('.mstate[data-device="1"][data-model="base"]')).to_have_attribute("data-state", "error")
    expect(page.locator('.mstate[data-device="cpu"][data-model="base"]')).to_have_attribute(
        "data-state", "not_downloaded"
    )
    expect(page.locator("#models thead th")).to_have_text(["устройство", "tiny.en", "base", "large-v3"])
    screenshot(page, "dashboard-gpus-ru")


def test_presigned_post_to_a_bucket_and_the_fallback(service: Service, open_page):
    """On S3 the grant is a presigned POST form. The embedded store only grants PUTs, so the test rewrites
    the real grant into S3's shape and plays the bucket: first it accepts the form, then it refuses the
    connection (as a bucket without CORS does) and the page must fall back to /api/transcribe."""
    tab = open_page(service, goto=False)
    page = tab.page
    bucket = f"{service.url}/test-bucket/"
    grants: list[dict] = []
    forms: list[bytes] = []
    refuse = {"on": False}

    def as_s3_grant(route):
        answer = route.fetch()
        grant = answer.json()
        grant.pop("headers")
        fields = {"key": f"audio/{grant['task_id']}/en_ivr.wav", "policy": "cG9saWN5", "x-amz-signature": "0f"}
        grant |= {"method": "POST", "upload_url": bucket, "fields": fields}
        grants.append(grant)
        route.fulfill(response=answer, json=grant)

    def play_bucket(route):
        if refuse["on"]:
            route.abort("connectionrefused")
        else:
            forms.append(route.request.post_data_buffer or b"")
            route.fulfill(status=204)

    page.route("**/api/uploads", as_s3_grant)
    page.route(bucket + "**", play_bucket)
    page.goto(service.url + "/")
    choose_model(page, "tiny.en")

    with page.expect_request(lambda r: r.url.endswith("/complete")) as completed:
        page.set_input_files("#file-input", str(IVR))
        page.click("#upload-start")
    assert completed.value.url == grants[0]["complete_url"]
    form = forms[0]
    assert form.index(b'name="policy"') < form.index(b'name="x-amz-signature"') < form.index(b'name="file"')
    expect(page.locator(".upload").first).to_have_attribute("data-task", grants[0]["task_id"])
    assert service.get(f"/api/status/{grants[0]['task_id']}").json()["status"] == "awaiting_upload"
    httpx.delete(f"{service.url}/api/tasks/{grants[0]['task_id']}")  # its audio never reaches a real bucket

    refuse["on"] = True
    page.set_input_files("#file-input", str(IVR))
    with page.expect_response("**/api/transcribe") as submitted:
        page.click("#upload-start")
    fallback_id = submitted.value.json()["task_id"]
    expect(page.locator(".toast").last).to_contain_text("en_ivr.wav")
    expect(page.locator(".upload").first).to_have_attribute("data-task", fallback_id)
    assert service.get(f"/api/status/{grants[1]['task_id']}").json()["status"] == "cancelled"
    assert service.wait_finished(fallback_id)["status"] == "done"
