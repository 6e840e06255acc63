"""The terms pages in Chromium on a phone: readable, navigable by article, accessible.

Set TERMS_SCREENSHOTS to a directory to keep screenshots of the pages.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from consent.models import TermsVersion
from tests.conftest import tokyo

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = os.environ.get("TERMS_SCREENSHOTS", "")


def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def no_sideways_scrolling(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.fixture
def announced(office, terms) -> TermsVersion:
    """A version published on 1 March 2027 that takes effect on 1 April 2027."""
    new = TermsVersion(
        office=office,
        version="2027-04-01",
        title=terms.title,
        body=terms.body.replace("1回当たり30分", "1回当たり45分"),
        issued_label="令和9年3月1日",
        issuer=terms.issuer,
        effective_date=date(2027, 4, 1),
        published_at=tokyo(2027, 3, 1, 9),
    )
    new.content_hash = new.compute_hash()
    new.save()
    return new


def test_the_terms_read_well_on_a_phone_and_articles_can_be_linked(page, terms):
    page.goto("/terms/")
    expect(page.locator("h1#terms-title")).to_have_text("オンライン職業相談等利用規約")
    expect(page.locator(".terms-article")).to_have_count(14)
    expect(page.locator(".terms-signature")).to_contain_text("令和5年4月1日")
    expect(page.locator(".terms-signature")).to_contain_text("伊勢崎公共職業安定所長")
    assert no_sideways_scrolling(page)
    font_size = page.evaluate(
        "parseFloat(getComputedStyle(document.querySelector('.terms-document p')).fontSize)"
    )
    assert font_size >= 16
    shoot(page, "terms-phone")

    page.get_by_text("目次（全14条）").click()
    page.get_by_role("link", name="第6条 (利用申込み等)").click()
    expect(page).to_have_url(re.compile(r"/terms/#art-6$"))
    expect(page.locator("#art-6")).to_be_in_viewport()

    page.goto("/terms/#art-6-4")
    item = page.locator("#art-6-4")
    expect(item).to_be_in_viewport()
    expect(item).to_contain_text("連絡がないままキャンセルした場合は")
    background = item.evaluate("e => getComputedStyle(e).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # :target is highlighted


def test_the_terms_pages_pass_the_accessibility_checks(page, terms, announced):
    axe = Axe()
    with time_machine.travel(tokyo(2027, 3, 10, 12), tick=True):
        for url in ("/terms/", "/terms/2027-04-01/", "/terms/2027-04-01/changes/"):
            page.goto(url)
            results = axe.run(page, context=".terms-page")
            assert results.violations_count == 0, f"{url}\n{results.generate_report()}"


def test_the_change_is_announced_with_links_to_the_new_text_and_the_changes(page, terms, announced):
    with time_machine.travel(tokyo(2027, 3, 10, 12), tick=True):
        page.goto("/terms/")
        notice = page.get_by_role("status").filter(has_text="利用規約は")
        expect(notice).to_contain_text("利用規約は 2027年4月1日(木) から変わります。")
        notice.get_by_role("link", name="変更点を見る").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("利用規約の変更点")
        expect(page.locator(".terms-diff ins").first).to_contain_text("45")
        expect(page.locator(".terms-diff del").first).to_contain_text("30")
        assert no_sideways_scrolling(page)
        shoot(page, "terms-changes-phone")
        page.get_by_role("link", name="第6条").click()
        expect(page.locator("#art-6")).to_be_in_viewport()
        expect(page.locator(".terms-state")).to_contain_text("2027年4月1日(木) から適用されます")

    with time_machine.travel(tokyo(2027, 4, 1, 0, 1), tick=True):
        page.goto("/terms/")
        expect(page.locator("#art-6-1")).to_contain_text("1回当たり45分")
        expect(page.get_by_text("から変わります")).to_have_count(0)
