"""On a phone (390×844): a seeker moves their booking in a few taps; axe finds nothing on the
new pages (the list of free sessions, the confirmation, the refusal, the private page after)."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.core.cache import cache
from playwright.sync_api import Page, expect

from reservations import services
from reservations.models import Reservation
from reservations.rules import Status
from tests.browser.test_a11y import AXE, OPTIONS
from tests.conftest import tokyo
from tests.seeker_pages import NOW

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _calendar(office, terms):
    cache.clear()
    with time_machine.travel(NOW, tick=True):
        yield


def no_violations(page: Page, name: str) -> None:
    """axe's WCAG 2.0/2.1 A and AA rules and best practices: none at all on a new page."""
    violations = AXE.run(page, options=OPTIONS).response["violations"]
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]]) for v in violations]
    assert found == [], f"{name}: {found}"


def test_a_seeker_moves_a_confirmed_booking_in_a_few_taps(
    page: Page, make_reservation, counselor
) -> None:
    booking: Reservation = make_reservation(tokyo(2026, 12, 24, 10), now=NOW, platform="teleoffice")
    services.reservation_confirm(
        reservation=booking,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        now=NOW,
    )
    page.goto(f"/r/{booking.token}/")
    page.get_by_role("link", name="日時を変更する").click()  # tap 1
    expect(page.get_by_role("heading", level=1)).to_have_text("日時を変更する")
    no_violations(page, "move-list")
    # Every choice is a button big enough for a thumb, and the page does not scroll sideways.
    first = page.locator("button.slot").first
    box = first.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 44
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.locator("button.slot[value='2026-12-25T14:00']").click()  # tap 2
    expect(page.get_by_role("heading", level=1)).to_have_text("日時の変更の確認")
    expect(page.locator("[data-new]")).to_contain_text("14:00")
    no_violations(page, "move-confirm")
    page.get_by_role("button", name="この日時に変更する").click()  # tap 3

    expect(page).to_have_url(re.compile(rf"/r/{booking.token}/$"))
    expect(page.get_by_text("日時を変更しました")).to_be_visible()
    expect(page.locator("[data-status]")).to_have_attribute("data-status", "requested")
    no_violations(page, "booking-after-move")
    booking.refresh_from_db()
    assert booking.status == Status.REQUESTED
    assert booking.slot.starts_at == tokyo(2026, 12, 25, 14)


def test_the_slot_taken_page_offers_the_nearest(page: Page, make_reservation) -> None:
    booking = make_reservation(tokyo(2026, 12, 24, 10), now=NOW, platform="teleoffice")
    page.goto(f"/r/{booking.token}/move/confirm/?slot=2026-12-25T14:00")
    make_reservation(tokyo(2026, 12, 25, 14), now=NOW)  # someone else is faster
    page.get_by_role("button", name="この日時に変更する").click()
    expect(page.locator("[data-refusal=slot_taken]")).to_be_visible()
    no_violations(page, "move-slot-taken")
    page.locator("button.slot").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("日時の変更の確認")


def test_the_refusal_page(page: Page, make_reservation, office) -> None:
    office.max_seeker_moves = 0
    office.save()
    booking = make_reservation(tokyo(2026, 12, 24, 10), now=NOW, platform="teleoffice")
    page.goto(f"/r/{booking.token}/")
    expect(page.locator("[data-move-refusal]")).to_be_visible()
    page.goto(f"/r/{booking.token}/move/")
    expect(page.locator("[data-refusal=moves_disabled]")).to_be_visible()
    no_violations(page, "move-refused")
