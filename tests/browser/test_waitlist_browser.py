"""The waiting list on a phone, in Chromium (rule 16): two seekers join a full slot's list, the
booking holding it is cancelled, and the first in line claims the place from the offer email."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import Page, expect

from reservations.models import Reservation, WaitlistEntry
from reservations.rules import Status, WaitlistStatus
from tests.conftest import tokyo
from tests.seeker_pages import NOW

pytestmark = pytest.mark.django_db(transaction=True)

FULL = tokyo(2026, 12, 23, 10)  # Wednesday 10:00, one place


@pytest.fixture(autouse=True)
def _calendar(office, terms):
    cache.clear()
    with time_machine.travel(NOW, tick=True):
        yield


def join_the_list(page: Page, *, name: str, number: str, email: str) -> None:
    page.goto("/slots/?week=2026-12-21")
    page.get_by_role(
        "link", name=re.compile(r"10:00–10:30.*キャンセル待ちに登録.*12月23日")
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("キャンセル待ちに登録")
    expect(page.get_by_text(re.compile("利用規約への同意"))).to_be_visible()
    page.locator("#id_name").fill(name)
    page.locator("#id_seeker_number").fill(number)
    page.locator("#id_email").fill(email)
    page.locator("input[name=platform][value=zoom]").check()
    page.get_by_role("button", name="キャンセル待ちに登録する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("キャンセル待ちに登録しました")


def test_two_on_the_list_a_cancellation_and_a_claim_from_the_email(
    context_factory, make_reservation
):
    holder = make_reservation(FULL, email="holder@example.jp")
    first = context_factory().new_page()
    join_the_list(first, name="待田 一郎", number="10040-1111111", email="ichiro@example.jp")
    second = context_factory().new_page()
    join_the_list(second, name="待田 二郎", number="10040-2222222", email="jiro@example.jp")
    assert WaitlistEntry.objects.filter(status=WaitlistStatus.WAITING).count() == 2

    # The booking holding the place is cancelled from its private page.
    cancelling = context_factory().new_page()
    cancelling.goto(f"/r/{holder.token}/cancel/")
    cancelling.get_by_role("button", name="キャンセルする", exact=True).click()
    expect(cancelling.locator("[data-status]")).to_contain_text("キャンセル")

    # The first in line gets the offer email; the second is still waiting.
    offers = [
        m for m in mail.outbox if "ichiro@example.jp" in m.to and "空きが出ました" in m.subject
    ]
    assert len(offers) == 1, [m.subject for m in mail.outbox]
    assert not [m for m in mail.outbox if "jiro@example.jp" in m.to and "空き" in m.subject]
    link = re.search(r"(/w/[\w-]+/)", offers[0].body).group(1)
    assert f"{settings.SITE_URL}{link}" in offers[0].body

    # The claim on the phone: the slot, until when, the consent, one button.
    first.goto(link)
    expect(first.get_by_role("heading", level=1)).to_have_text("空きが出ました")
    expect(first.locator("[data-offer]")).to_contain_text("まで、あなたのために確保しています")
    first.get_by_role("button", name="この日時を申し込む").click()
    expect(first.locator(".field--error").first).to_be_visible()  # the ticks are required
    first.locator("#id_environment").check()
    first.locator("#id_camera").check()
    first.locator("#id_agree_terms").check()
    first.get_by_role("button", name="この日時を申し込む").click()
    expect(first.get_by_role("heading", level=1)).to_have_text("申込みを受け付けました")
    reference = first.locator("[data-reference]").inner_text().strip()

    claimed = Reservation.objects.get(email="ichiro@example.jp")
    assert claimed.reference == reference and claimed.status == Status.REQUESTED
    assert WaitlistEntry.objects.get(email="jiro@example.jp").status == WaitlistStatus.WAITING
    # The page fits the phone: nothing wider than the screen.
    width = first.evaluate("() => document.documentElement.scrollWidth")
    assert width <= first.viewport_size["width"]
