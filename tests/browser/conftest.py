"""Browser fixtures: Playwright driving Debian's Chromium against the live test server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

# Playwright's sync API runs an event loop in this thread; the Django ORM calls the tests
# make between page actions are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}

if not os.path.exists(CHROMIUM) and os.environ.get("CI"):
    raise RuntimeError(f"Chromium not found at {CHROMIUM}: CI must install Debian's chromium")

pytestmark = pytest.mark.browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
            if not os.path.exists(CHROMIUM):
                item.add_marker(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}"))


@pytest.fixture(scope="session")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def context_factory(browser, live_server):
    """New isolated browser contexts (own cookies) on the live server; phone-sized default."""
    contexts = []

    def make(*, viewport: dict | None = None, locale: str = "ja-JP"):
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport or PHONE,
            locale=locale,
            timezone_id="Asia/Tokyo",
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(context_factory):
    """A phone-sized page in a fresh context."""
    return context_factory().new_page()
