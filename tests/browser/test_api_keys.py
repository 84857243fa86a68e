"""With ``WHISPERQ_API_KEYS`` set, the page asks for a key, remembers it and sends it with every API call."""

from __future__ import annotations

import pytest

from tests.browser.chromium import browser_test, screenshot
from tests.browser.conftest import API_KEY
from tests.service import Service
from tests.speech import SPEECH_DIR

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = browser_test


def test_the_page_asks_for_the_key_and_uses_it(keyed_service: Service, open_page):
    tab = open_page(keyed_service, locale="en-US")
    page = tab.page
    keybar = page.locator("#keybar")
    expect(keybar).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-conn", "locked")
    expect(page.locator("#key-input")).to_be_focused()
    screenshot(page, "dashboard-api-key", full_page=False)

    page.fill("#key-input", "not-the-key")
    page.click("#key-save")
    expect(keybar).to_have_attribute("data-state", "rejected")
    expect(page.locator("#key-note")).to_have_text("The service rejected this key. Check it.")

    page.fill("#key-input", API_KEY)
    page.click("#key-save")
    expect(keybar).to_be_hidden()
    expect(page.locator("#conn")).to_have_attribute("data-conn", "live")
    assert page.evaluate("localStorage.getItem('whisperq.apiKey')") == API_KEY

    # Upload with the key: the grant needs it, the presigned PUT carries its own signature instead.
    page.wait_for_selector('#opt-model option[value="tiny.en"]', state="attached")
    page.select_option("#opt-model", "tiny.en")
    page.set_input_files("#file-input", str(SPEECH_DIR / "en_ivr.wav"))
    page.click("#upload-start")
    expect(page.locator(".upload").first).to_have_attribute("data-state", "sent")
    task_id = page.locator(".upload").first.get_attribute("data-task")
    expect(page.locator(f'.job[data-task="{task_id}"]')).to_have_count(1)
    put = next(r for r in tab.requests if r.method == "PUT")
    assert "authorization" not in put.headers
    api_calls = [r for r in tab.requests if "/api/" in r.url and r.method != "PUT"]
    assert api_calls[-1].headers.get("authorization") == f"Bearer {API_KEY}"

    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-conn", "live")
    expect(keybar).to_be_hidden()
    expect(page.locator("#key-toggle")).to_be_visible()
