"""Fixtures for the dashboard tests: the real service (``whisperq serve``) and pages in headless Chromium.

Every page records its requests and uncaught script errors; when the test ends, a request to any host but
127.0.0.1 (a CDN, a web font) or a script error fails it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.service import Service

API_KEY = "browser-test-key-7f3a"


@dataclass
class Tab:
    page: object
    requests: list = field(default_factory=list)
    errors: list = field(default_factory=list)

    def foreign_requests(self) -> list[str]:
        return [
            r.url
            for r in self.requests
            if urlsplit(r.url).scheme in ("http", "https", "ws", "wss") and urlsplit(r.url).hostname != "127.0.0.1"
        ]


@pytest.fixture(scope="session")
def chromium():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="package")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("browser") / "data").start()
    yield svc
    svc.stop()


@pytest.fixture(scope="package")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(tmp_path_factory.mktemp("browser-keys") / "data", WHISPERQ_API_KEYS=API_KEY).start()
    yield svc
    svc.stop()


@pytest.fixture
def open_page(chromium) -> Iterator[Callable[..., Tab]]:
    """``open_page(service, locale=..., viewport=..., goto=True)`` -> a recorded :class:`Tab`."""
    contexts = []
    tabs: list[Tab] = []

    def opener(svc: Service, locale: str = "ru-RU", viewport: dict | None = None, goto: bool = True) -> Tab:
        context = chromium.new_context(
            locale=locale, viewport=viewport or {"width": 1440, "height": 1000}, accept_downloads=True
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        tab = Tab(context.new_page())
        tab.page.on("request", lambda request: tab.requests.append(request))
        tab.page.on("pageerror", lambda error: tab.errors.append(error))
        tabs.append(tab)
        if goto:
            tab.page.goto(svc.url + "/")
        return tab

    yield opener
    for context in contexts:
        context.close()
    for tab in tabs:
        assert not tab.foreign_requests(), f"the page reached beyond 127.0.0.1: {tab.foreign_requests()}"
        assert not tab.errors, f"script errors on the page: {tab.errors}"
