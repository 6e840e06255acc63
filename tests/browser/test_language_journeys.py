"""A new user's phone in each of the eight languages: it lands in its language (from
Accept-Language alone), books in at most ten taps, reaches done, and the private link opened
later in a Japanese browser still speaks the booking's language. axe finds no violation on
any page of the way, in any language.

Taps are counted in the page: every pointer press, and every focus of a field that no press
brought (a field reached without a tap still costs the person one). Run with -s to see the
counts and the axe figures per language.
"""

from __future__ import annotations

import re

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from django.conf import settings
from django.core.cache import cache
from playwright.sync_api import Page, expect

from hellowork.languages import bcp47
from reservations.models import Reservation
from tests.browser.conftest import PHONE
from tests.seeker_pages import NOW

pytestmark = pytest.mark.django_db(transaction=True)

MAX_TAPS = 10
AXE = Axe()
OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}
# What each language's phone sends, as a real one would.
ACCEPT_LANGUAGE = {
    "ja": "ja-JP,ja;q=0.9",
    "en": "en-US,en;q=0.9",
    "pt-br": "pt-BR,pt;q=0.9,en;q=0.6",
    "vi": "vi-VN,vi;q=0.9,en;q=0.6",
    "tl": "fil-PH,fil;q=0.9,en;q=0.6",
    "es": "es-PE,es;q=0.9",
    "zh-hans": "zh-CN,zh;q=0.9",
    "ja-x-easy": "ja-x-easy,ja;q=0.9",
}
assert sorted(ACCEPT_LANGUAGE) == sorted(code for code, _name in settings.LANGUAGES)

COUNT_TAPS = """
(() => {
  const bump = () => sessionStorage.setItem(
    "taps", String(Number(sessionStorage.getItem("taps") || 0) + 1));
  let pressed = 0;
  document.addEventListener("pointerdown", () => { pressed = Date.now(); bump(); }, true);
  document.addEventListener("focusin", (event) => {
    const field = event.target.matches && event.target.matches(
      "input:not([type=checkbox]):not([type=radio]):not([type=hidden]), textarea, select");
    if (field && Date.now() - pressed > 500) bump();
  }, true);
})();
"""


@pytest.fixture(autouse=True)
def _calendar(office, terms):
    cache.clear()
    with time_machine.travel(NOW, tick=True):
        yield


def phone(browser, live_server, accept_language: str):  # noqa: ANN001, ANN201
    context = browser.new_context(
        base_url=live_server.url,
        viewport=PHONE,
        extra_http_headers={"Accept-Language": accept_language},
        timezone_id="Asia/Tokyo",
    )
    context.set_default_timeout(10_000)
    context.add_init_script(COUNT_TAPS)
    return context


def audit(page: Page, name: str, figures: dict[str, int]) -> None:
    violations = AXE.run(page, options=OPTIONS).response["violations"]
    figures[name] = len(violations)
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in violations]
    assert found == [], f"{name}: {found}"


def taps(page: Page) -> int:
    return int(page.evaluate("() => Number(sessionStorage.getItem('taps') || 0)"))


@pytest.mark.parametrize("code", list(ACCEPT_LANGUAGE))
def test_a_phone_books_in_its_language_in_ten_taps(browser, live_server, code):
    lang = bcp47(code)
    figures: dict[str, int] = {}
    context = phone(browser, live_server, ACCEPT_LANGUAGE[code])
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        audit(page, "home", figures)

        page.locator(".slot-list a.button").first.click()
        expect(page.locator("input[type=hidden][name=slot]")).to_have_value(
            re.compile(r"^2026-12-22T10:00")
        )
        expect(page.locator("html")).to_have_attribute("lang", lang)
        audit(page, "form", figures)
        page.locator("#id_name").fill("Maria Silva")
        page.locator("#id_seeker_number").fill("10040-1234567")
        page.locator("#id_email").fill("maria.silva@example.com")
        page.locator("input[name=platform][value=zoom]").check()
        page.locator("#id_environment").check()
        page.locator("#id_camera").check()
        page.locator("#id_agree_terms").check()
        page.locator("button[value=review]").click()

        expect(page.locator("button[value=submit]")).to_be_visible()
        audit(page, "confirm", figures)
        page.locator("button[value=submit]").click()

        expect(page).to_have_url(re.compile(r"/book/done/$"))
        expect(page.locator("html")).to_have_attribute("lang", lang)
        # Where the email went, masked.
        expect(page.locator("[data-masked-email]")).to_have_text("ma****@example.com")
        count = taps(page)
        audit(page, "done", figures)

        for name, url in (("terms", "/terms/"), ("privacy", "/privacy/")):
            page.goto(url)
            expect(page.locator("html")).to_have_attribute("lang", lang)
            audit(page, name, figures)
    finally:
        context.close()

    reservation = Reservation.objects.get()
    assert reservation.language == code
    assert reservation.consents.get().language == code

    # Later, the private link in a browser that asks for Japanese: still the booking's language.
    later = phone(browser, live_server, "ja-JP,ja;q=0.9")
    try:
        page = later.new_page()
        page.goto(reservation.get_absolute_url())
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page.locator("[data-status]")).to_be_visible()
        audit(page, "private", figures)
    finally:
        later.close()

    print(f"\n{code}: {count} taps; axe violations per page {figures}")
    assert count <= MAX_TAPS, f"{code}: {count} taps"
