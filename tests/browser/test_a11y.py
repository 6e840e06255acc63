"""axe-core on every public page of the seeker, on a phone: no serious or critical violation.

JIS X 8341-3:2016 level AA is WCAG 2.0 AA; axe runs its WCAG 2.0/2.1 A and AA rules and its
best practices. Minor and moderate findings are printed (run with -s) but do not fail.
"""

from __future__ import annotations

import re

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from django.core.cache import cache
from playwright.sync_api import Page, expect

from reservations import services
from reservations.models import Reservation
from tests.conftest import tokyo
from tests.seeker_pages import HOLIDAY_SLOT, NOW

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Axe()
BLOCKING = {"serious", "critical"}
OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
    "resultTypes": ["violations"],
}


@pytest.fixture(autouse=True)
def _calendar(office, terms):
    cache.clear()
    with time_machine.travel(NOW, tick=True):
        yield


def audit(page: Page, name: str) -> None:
    """Run axe on the page as it is now; fail on serious or critical violations."""
    violations = AXE.run(page, options=OPTIONS).response["violations"]
    for violation in violations:
        print(f"axe {name}: {violation['impact']} {violation['id']} ({len(violation['nodes'])})")
    blocking = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in violations
        if v["impact"] in BLOCKING
    ]
    assert blocking == [], f"{name}: {blocking}"
    print(f"axe {name}: {len(violations)} violation(s), none serious or critical")


def fill(page: Page) -> None:
    page.locator("#id_name").fill("山田 太郎")
    page.locator("#id_seeker_number").fill("10040-1234567")
    page.locator("#id_email").fill("taro@example.jp")
    page.locator("input[name=platform][value=zoom]").check()
    page.locator("#id_environment").check()
    page.locator("#id_camera").check()
    page.locator("#id_agree_terms").check()


def test_home_and_week_pages(page: Page):
    for name, url in (
        ("home", "/"),
        ("week", "/slots/?week=2026-12-21"),
        ("week-year-end", "/slots/?week=2026-12-28"),
        ("week-holiday", "/slots/?week=2027-01-11"),
        ("not-found", "/r/unknown/"),
    ):
        page.goto(url)
        audit(page, name)


def test_the_request_pages(page: Page):
    page.goto("/book/?slot=2026-12-22T10:00")
    audit(page, "form")
    page.locator("button[value=review]").click()  # nothing filled in: every error at once
    expect(page.locator("#error-summary")).to_be_visible()
    audit(page, "form-errors")
    page.goto(f"/book/?slot={HOLIDAY_SLOT}")
    audit(page, "form-closed-day-notice")
    page.goto("/book/?slot=2026-12-22T10:00")
    fill(page)
    page.locator("button[value=review]").click()
    audit(page, "confirm")
    page.locator("button[value=submit]").click()
    expect(page).to_have_url(re.compile(r"/book/done/$"))
    audit(page, "done")
    page.locator("main a.button").first.click()
    audit(page, "booking-requested")
    page.locator("a[href$='/cancel/']").click()
    audit(page, "cancel")
    page.locator("form[data-once] button[type=submit]").click()
    audit(page, "booking-cancelled")


def test_the_refusal_pages(page: Page, make_reservation, settings):
    # The first person books; the same person tries again (limit), then the slot fills.
    page.goto("/book/?slot=2026-12-22T10:00")
    fill(page)
    page.locator("button[value=review]").click()
    page.locator("button[value=submit]").click()
    page.goto("/book/?slot=2026-12-22T10:30")
    fill(page)
    page.locator("button[value=review]").click()
    page.locator("button[value=submit]").click()
    expect(page.locator("[data-refusal=limit]")).to_be_visible()
    audit(page, "refused-limit")

    page.goto("/book/?slot=2026-12-23T10:00")
    fill(page)
    page.locator("#id_seeker_number").fill("10040-2222222")
    page.locator("#id_email").fill("b@example.jp")
    page.locator("button[value=review]").click()
    make_reservation(tokyo(2026, 12, 23, 10), now=NOW)  # someone else is faster
    page.locator("button[value=submit]").click()
    expect(page.locator("[data-refusal=slot_taken]")).to_be_visible()
    audit(page, "slot-taken")

    settings.REQUEST_RATE_LIMIT_PER_IP = 1
    page.locator("button[value=review]").click()
    page.locator("button[value=submit]").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("しばらくしてからお試しください")
    audit(page, "too-many-requests")


def test_a_confirmed_booking_and_the_english_pages(page: Page, make_reservation, counselor):
    booking: Reservation = make_reservation(tokyo(2026, 12, 24, 10), now=NOW, platform="teleoffice")
    services.reservation_confirm(
        reservation=booking,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        meeting_passcode="428571",
        now=NOW,
    )
    page.goto(f"/r/{booking.token}/")
    expect(page.locator("[data-passcode]")).to_have_text("428571")
    audit(page, "booking-confirmed")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    audit(page, "booking-confirmed-en")
    page.goto("/")
    audit(page, "home-en")
    page.goto("/book/?slot=2026-12-22T10:00")
    audit(page, "form-en")
