"""A new user's whole journey on a phone, in Chromium: home → choose → form (with a mistake)
→ fix → confirm → done → email → private page → cancel; in Japanese, in English, by keyboard
alone and without JavaScript.

Set SEEKER_SCREENSHOTS to a directory to keep a screenshot of every step.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from playwright.sync_api import Page, expect

from reservations.models import Reservation
from tests.browser.conftest import PHONE
from tests.seeker_pages import NOW

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = os.environ.get("SEEKER_SCREENSHOTS", "")


def shoot(page: Page, name: str) -> None:
    """Screens of the whole page, one phone screen high each, when SEEKER_SCREENSHOTS is set."""
    if not SCREENSHOTS:
        return
    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.documentElement.scrollHeight")
    width, screen = page.viewport_size["width"], page.viewport_size["height"]
    for number, top in enumerate(range(0, height, screen), start=1):
        clip = {"x": 0, "y": top, "width": width, "height": min(screen, height - top)}
        page.screenshot(path=str(folder / f"{name}-{number}.png"), full_page=True, clip=clip)


@pytest.fixture(autouse=True)
def _calendar(office, terms):
    """The office, its terms, a clean cache and Monday 21 December 2026, 10:00 in Tokyo."""
    cache.clear()
    with time_machine.travel(NOW, tick=True):
        yield


def fill_the_form(page: Page, *, email: str = "taro@example.jp") -> None:
    """Answer every question, by the fields' ids (their labels are checked elsewhere)."""
    page.locator("#id_name").fill("山田 太郎")
    page.locator("#id_seeker_number").fill("１００４０－１２３４５６７")  # full-width, as IMEs type
    page.locator("#id_email").fill(email)
    page.locator("#id_phone").fill("090-1234-5678")
    page.locator("#id_topic").fill("事務の仕事を探しています。")
    page.locator("input[name=platform][value=zoom]").check()
    page.locator("#id_environment").check()
    page.locator("#id_camera").check()
    page.locator("#id_agree_terms").check()


def mail_to(address: str) -> list:
    return [message for message in mail.outbox if address in message.to]


def test_the_whole_journey_in_japanese(page: Page):
    page.goto("/")
    expect(page).to_have_title(re.compile("オンライン職業相談の予約"))
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("オンライン職業相談の予約")
    expect(page.get_by_text(re.compile("通信料などの費用はご自身の負担"))).to_be_visible()
    shoot(page, "01-home-ja")

    # Choose: the week view first, then a session from it.
    page.get_by_role("link", name="ほかの日時をカレンダーで見る").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("日時を選ぶ")
    expect(page.get_by_role("heading", name="12月22日(火)")).to_be_visible()
    shoot(page, "02-week-ja")
    page.get_by_role("link", name=re.compile(r"10:00–10:30.*12月22日\(火\)")).click()

    # The form: the chosen slot is shown (not a list of every slot); every field has a
    # visible label.
    expect(page).to_have_url(re.compile(r"/book/\?slot=2026-12-22T10:00$"))
    expect(page.get_by_label(re.compile("^相談の日時"))).to_have_text("12月22日(火) 10:00–10:30")
    expect(page.locator("input[type=hidden][name=slot]")).to_have_value("2026-12-22T10:00")
    for label in ("氏名", "求職番号", "メールアドレス", "電話番号", "相談したいこと"):
        expect(page.get_by_role("textbox", name=re.compile(f"^{label}")).first).to_be_visible()
    shoot(page, "03-form-ja")
    page.get_by_label("氏名").fill("山田 太郎")
    page.get_by_role("textbox", name=re.compile("^求職番号")).fill("１００４０－１２３４５６７")
    # A typing mistake in the address.
    page.get_by_role("textbox", name=re.compile(r"^メールアドレス\s*※")).fill("taro@example")
    page.get_by_label("Zoom", exact=True).check()
    page.get_by_label(re.compile("^相談に使う端末と通信は、上のすべてを満たしています")).check()
    page.get_by_label(re.compile("^カメラ付きのスマートフォンやパソコン")).check()
    page.get_by_label(re.compile("^利用規約と、利用するアプリ")).check()
    page.get_by_role("button", name="確認画面へ進む").click()

    # The error is in the summary (which takes the focus) and under the field; nothing lost.
    summary = page.locator("#error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("メールアドレスの形が正しくありません")
    expect(page.locator("#id_email_error")).to_contain_text("正しくありません")
    expect(page.locator("#id_email")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("氏名")).to_have_value("山田 太郎")
    expect(page.locator("#id_agree_terms")).to_be_checked()
    shoot(page, "04-form-error-ja")
    summary.get_by_role("link").first.click()
    expect(page.locator("#id_email")).to_be_focused()
    page.locator("#id_email").fill("taro@example.jp")
    page.get_by_role("button", name="確認画面へ進む").click()

    # Confirm: everything shown, normalised, before anything is sent.
    expect(page.get_by_role("heading", level=1)).to_have_text("入力内容の確認")
    expect(page.locator(".details")).to_contain_text("2026年12月22日(火) 10:00–10:30")
    expect(page.locator(".details")).to_contain_text("10040-1234567")
    assert Reservation.objects.count() == 0
    shoot(page, "05-confirm-ja")
    page.get_by_role("button", name="この内容で申し込む").click()

    # Done: the reference, large; no personal data in the address.
    expect(page).to_have_url(re.compile(r"/book/done/$"))
    reference = page.locator("[data-reference]").inner_text().strip()
    reservation = Reservation.objects.get()
    assert reference == reservation.reference
    assert re.fullmatch(r"[A-Z0-9]{3}-[A-Z0-9]{3}", reference)
    shoot(page, "06-done-ja")

    # The email with the reference and the private link.
    received = mail_to("taro@example.jp")
    assert received, "no email to the seeker"
    assert reference in received[0].body
    assert f"/r/{reservation.token}/" in received[0].body

    # The private page, then cancelling with a confirmation step.
    page.get_by_role("link", name="予約ページを開く").click()
    expect(page).to_have_url(re.compile(rf"/r/{reservation.token}/$"))
    expect(page.locator("[data-status]")).to_contain_text("申込受付")
    expect(page.get_by_role("link", name=re.compile(r"\.ics"))).to_be_visible()
    shoot(page, "07-booking-ja")
    page.get_by_role("link", name="この予約をキャンセルする").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("予約のキャンセル")
    shoot(page, "08-cancel-ja")
    page.get_by_role("button", name="キャンセルする", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="予約をキャンセルしました")).to_be_visible()
    expect(page.locator("[data-status]")).to_contain_text("キャンセル")
    shoot(page, "09-cancelled-ja")
    reservation.refresh_from_db()
    assert reservation.status == "cancelled"
    assert reservation.events.filter(to_status="cancelled", actor_kind="seeker").exists()


def test_the_whole_journey_in_english(page: Page):
    page.goto("/")
    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    # Dates follow the reader's language (Django's own English names).
    expect(page.locator(".slot-list")).to_contain_text("Tue 22 December 10:00–10:30")
    shoot(page, "11-home-en")
    page.locator(".slot-list a.button").first.click()
    expect(page.locator("input[type=hidden][name=slot]")).to_have_value("2026-12-22T10:00")
    fill_the_form(page, email="")
    page.locator("button[value=review]").click()
    expect(page.locator("#error-summary")).to_be_visible()
    expect(page.locator("#id_email_error")).to_be_visible()
    shoot(page, "12-form-error-en")
    page.locator("#id_email").fill("taro@example.jp")
    page.locator("button[value=review]").click()
    expect(page.locator(".details")).to_contain_text("Tue 22 December 2026 10:00–10:30")
    page.locator("button[value=submit]").click()
    expect(page).to_have_url(re.compile(r"/book/done/$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    reservation = Reservation.objects.get()
    # The booking remembers the language for its emails; the consent, the page's language.
    assert reservation.language == "en"
    assert reservation.consents.get().language == "en"
    assert mail_to("taro@example.jp")
    page.goto(f"/r/{reservation.token}/")
    expect(page.locator(".details")).to_contain_text("Tue 22 December 2026")
    # Back to Japanese with the same switch.
    page.get_by_role("button", name="日本語").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator(".details")).to_contain_text("2026年12月22日(火)")
    page.locator("a[href$='/cancel/']").click()
    page.locator("form[data-once] button[type=submit]").click()
    reservation.refresh_from_db()
    assert reservation.status == "cancelled"


def tab_to(page: Page, selector: str, *, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has the focus."""
    for _press in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} cannot be reached with the Tab key")


def test_keyboard_only_completion_of_the_form(page: Page):
    page.goto("/book/?slot=2026-12-22T10:00")
    tab_to(page, "#id_name")
    # The focus is visible: DADS's black outline over a yellow ring.
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert outline == ["solid", "4px"]
    page.keyboard.type("山田 太郎")
    page.keyboard.press("Tab")
    page.keyboard.type("10040-1234567")
    tab_to(page, "#id_email")
    page.keyboard.type("taro@example.jp")
    tab_to(page, "input[name=platform]")
    page.keyboard.press("Space")
    for box in ("#id_environment", "#id_camera", "#id_agree_terms"):
        tab_to(page, box)
        page.keyboard.press("Space")
    tab_to(page, "button[value=review]")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("入力内容の確認")
    tab_to(page, "button[value=submit]")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/book/done/$"))
    reservation = Reservation.objects.get()
    assert reservation.platform == "zoom"
    assert reservation.name == "山田 太郎"


def test_the_journey_works_without_javascript(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, java_script_enabled=False
    )
    try:
        page = context.new_page()
        page.goto("/")
        page.locator(".slot-list a.button").first.click()
        fill_the_form(page)
        page.locator("button[value=review]").click()
        page.locator("button[value=submit]").click()
        expect(page).to_have_url(re.compile(r"/book/done/$"))
        page.locator("main a.button").click()
        page.locator("a[href$='/cancel/']").click()
        page.locator("form[data-once] button[type=submit]").click()
        expect(page.locator("[data-status]")).to_have_attribute("data-status", "cancelled")
    finally:
        context.close()


def test_a_double_click_on_send_books_once(page: Page):
    page.goto("/book/?slot=2026-12-22T10:00")
    fill_the_form(page)
    page.locator("button[value=review]").click()
    page.locator("button[value=submit]").dblclick()
    expect(page).to_have_url(re.compile(r"/book/done/$"))
    assert Reservation.objects.count() == 1


def test_targets_are_at_least_44px(page: Page):
    page.goto("/book/?slot=2026-12-22T10:00")
    small = page.evaluate(
        """() => [...document.querySelectorAll('main a.button, main button, .choice,'
              + ' .language-switch button, select, input[type=text]')]
            .filter(e => e.getClientRects().length && e.getBoundingClientRect().height < 44)
            .map(e => e.outerHTML.slice(0, 80))"""
    )
    assert small == []
