"""A counselor's morning in the admin, in Chromium on a desktop screen.

Log in → today's sessions → confirm a pending Zoom request (the fake Zoom makes the meeting)
→ the seeker's email arrives with the link → start the session → mark it attended → book
the next session; confirm a TeleOffice request by entering its link; move a booking; cancel
one after a phone call; act on several bookings at once.

Screenshots of each step go to ADMIN_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import time_machine
from django.core import mail
from playwright.sync_api import Page, expect

from reservations.models import EmailKind, MeetingState, Reservation
from reservations.rules import Status
from tests.admin_support import (
    PASSWORD,
    book,
    counselor_user,
    staff_groups,
    supervisor_user,
)
from tests.conftest import tokyo

__all__ = ["book", "counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 900}
MORNING = tokyo(2027, 2, 16, 9, 50)  # Tuesday; the first session is at 10:00
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS", "")


def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def log_in(page: Page, username: str) -> None:
    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator("#site-name")).to_contain_text("ハローワーク伊勢崎")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("link", name="本日の相談を開く")).to_be_visible()


@pytest.fixture
def morning(office, terms, book, fake_zoom):  # noqa: F811 - the fixture imported above
    """The bookings a counselor finds on Tuesday morning, the clock then running from 09:50."""
    bookings = {
        "session": book(tokyo(2027, 2, 16, 10), confirm=True, name="佐藤 一郎"),
        "zoom_request": book(tokyo(2027, 2, 17, 10), name="鈴木 花子", email="hanako@example.jp"),
        "tele_request": book(
            tokyo(2027, 2, 18, 14), platform="teleoffice", name="グエン アン", email="an@example.jp"
        ),
        "to_move": book(tokyo(2027, 2, 19, 10), name="高橋 次郎"),
        "to_cancel": book(tokyo(2027, 2, 19, 14), confirm=True, name="田中 三郎"),
    }
    with time_machine.travel(MORNING, tick=True):
        yield bookings


def test_a_counselors_morning(context_factory, morning, counselor_user, fake_zoom):  # noqa: F811
    session = Reservation.objects.get(pk=morning["session"].pk)
    assert session.meeting_state == MeetingState.READY  # made by the fake Zoom
    context = context_factory(viewport=DESKTOP)
    # The start link leads to Zoom; here Zoom's own page is a stand-in.
    context.route("https://zoom.example/**", lambda route: route.fulfill(body="Zoom"))
    page = context.new_page()

    log_in(page, counselor_user.username)
    shoot(page, "01-index")
    page.get_by_role("link", name="本日の相談を開く").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("本日の相談")
    sessions = page.locator("table.hw-sessions")
    expect(sessions.locator("tbody tr")).to_have_count(1)
    expect(sessions).to_contain_text("10:00–10:30")
    expect(sessions).to_contain_text("佐藤 一郎")
    pending = page.locator("table.hw-pending-table")
    request_row = pending.locator("tr", has_text="鈴木 花子")
    expect(request_row).to_contain_text("本日中に確定")
    expect(request_row).to_have_class(re.compile("hw-row-due"))
    shoot(page, "02-today")

    # Confirm the Zoom request: the meeting is made, the seeker gets the link by email.
    request_row.get_by_role("button", name="確定する").click()
    expect(page.locator(".messagelist")).to_contain_text("確定しました。")
    confirmed = Reservation.objects.get(pk=morning["zoom_request"].pk)
    assert confirmed.status == Status.CONFIRMED
    assert confirmed.meeting_state == MeetingState.READY
    emails = [m for m in mail.outbox if "hanako@example.jp" in m.to]
    assert confirmed.emails.filter(kind=EmailKind.CONFIRMED, status="sent").exists()
    assert any(confirmed.meeting_join_url in m.body for m in emails)
    assert all("zak=" not in m.body for m in emails)  # the start link is for staff only
    expect(pending.locator("tr", has_text="鈴木 花子")).to_have_count(0)

    # Start the 10:00 session with a fresh start link, then record the attendance.
    with context.expect_page() as zoom_tab:
        sessions.get_by_role("link", name="Zoom を開始").click()
    expect(zoom_tab.value).to_have_url(re.compile(r"^https://zoom\.example/s/\d+\?zak=fresh$"))
    zoom_tab.value.close()
    sessions.get_by_role("button", name="相談済み").click()
    expect(page.locator(".messagelist")).to_contain_text("相談済みにしました。")
    expect(sessions.locator("tbody tr").first).to_contain_text("相談済み")
    assert Reservation.objects.get(pk=session.pk).status == Status.ATTENDED
    shoot(page, "03-attended")

    # Book the next session for the same person, consent confirmed verbally.
    sessions.get_by_role("link", name="佐藤 一郎").click()
    page.get_by_role("link", name="次回の予約を作成する").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("次回の予約を作成する")
    page.get_by_label("次回の日時").select_option("2027-03-02T10:00")
    for box in page.locator(
        "input[type=checkbox][name^=item_], #id_terms_read, #id_platform_terms"
    ).all():
        box.check()
    shoot(page, "04-book-next")
    page.get_by_role("button", name="次回の予約を作成する").click()
    expect(page.locator(".messagelist")).to_contain_text("次回の予約を作成し、確定しました。")
    expect(page.locator(".field-status_badge")).to_contain_text("予約確定")
    expect(page.locator(".field-consent_display")).to_contain_text("相談中に口頭で確認")
    follow_up = Reservation.objects.get(slot__starts_at=tokyo(2027, 3, 2, 10))
    assert (follow_up.name, follow_up.status) == ("佐藤 一郎", Status.CONFIRMED)
    shoot(page, "05-next-booking")


def test_confirming_teleoffice_moving_and_cancelling(context_factory, morning, counselor_user):  # noqa: F811
    page = context_factory(viewport=DESKTOP).new_page()
    log_in(page, counselor_user.username)
    page.goto("/admin/reservations/reservation/today/")

    # TeleOffice: the counselor makes the room and enters its link.
    row = page.locator("table.hw-pending-table tr", has_text="グエン アン")
    row.get_by_role("link", name="リンクを入力して確定").click()
    link = page.get_by_label(re.compile("TeleOffice 会議URL"))
    page.get_by_role("button", name="確定する").click()  # forgot the link
    expect(page.locator(".errorlist")).to_contain_text("このフィールドは必須です。")
    link.fill("https://teleoffice.example.jp/room/42")
    shoot(page, "06-teleoffice-link")
    page.get_by_role("button", name="確定する").click()
    expect(page).to_have_url(re.compile(r"/today/$"))
    expect(page.locator(".messagelist")).to_contain_text("確定しました。")
    tele = Reservation.objects.get(pk=morning["tele_request"].pk)
    assert (tele.status, tele.meeting_join_url) == (
        Status.CONFIRMED,
        "https://teleoffice.example.jp/room/42",
    )
    assert any("https://teleoffice.example.jp/room/42" in m.body for m in mail.outbox)

    # Move: only open slots are offered.
    row = page.locator("table.hw-pending-table tr", has_text="高橋 次郎")
    row.get_by_role("link", name="日時を変更").click()
    select = page.get_by_label("変更後の日時")
    expect(select.locator("option[value='2027-02-19T14:00']")).to_have_count(0)  # taken
    select.select_option("2027-02-24T11:30")
    page.get_by_label("変更の理由").fill("本人の希望（電話）")
    shoot(page, "07-move")
    page.get_by_role("button", name="日時を変更する").click()
    expect(page.locator(".messagelist")).to_contain_text("日時を変更しました。")
    moved = Reservation.objects.get(pk=morning["to_move"].pk)
    assert moved.slot.starts_at == tokyo(2027, 2, 24, 11, 30)

    # Cancel after a phone call (Art. 6(4)), from the booking's page.
    page.goto(f"/admin/reservations/reservation/{morning['to_cancel'].pk}/change/")
    page.get_by_role("link", name="キャンセルする（電話連絡）").click()
    page.get_by_label("キャンセルの理由（電話連絡の内容など）").fill(
        "本人より電話。就職が決まったため。"
    )
    page.get_by_role("button", name="キャンセルする（電話連絡）").click()
    expect(page.locator(".messagelist")).to_contain_text("キャンセルしました。")
    expect(page.locator(".field-history_display")).to_contain_text("就職が決まったため")
    assert Reservation.objects.get(pk=morning["to_cancel"].pk).status == Status.CANCELLED
    shoot(page, "08-cancelled")


def test_bulk_actions_report_each_booking(context_factory, morning, counselor_user):  # noqa: F811
    page = context_factory(viewport=DESKTOP).new_page()
    log_in(page, counselor_user.username)
    page.goto("/admin/reservations/reservation/?day=week")
    for name in ("鈴木 花子", "高橋 次郎", "田中 三郎"):
        page.locator("#result_list tr", has_text=name).locator("input.action-select").check()
    page.locator("select[name=action]").first.select_option(label="選択した予約を確定する")
    page.get_by_role("button", name="実行").click()
    messages = page.locator(".messagelist")
    expect(messages).to_contain_text("3件中 2件を処理しました。1件はできませんでした。")
    expect(messages).to_contain_text("「予約確定」の予約を「予約確定」にすることはできません。")
    shoot(page, "09-bulk")
    statuses = dict(
        Reservation.objects.filter(name__in=["鈴木 花子", "高橋 次郎", "田中 三郎"]).values_list(
            "name", "status"
        )
    )
    assert statuses == {
        "鈴木 花子": Status.CONFIRMED,
        "高橋 次郎": Status.CONFIRMED,
        "田中 三郎": Status.CONFIRMED,
    }


def test_a_counselor_cannot_open_office_settings(context_factory, morning, counselor_user):  # noqa: F811
    page = context_factory(viewport=DESKTOP).new_page()
    log_in(page, counselor_user.username)
    expect(page.get_by_role("link", name="ハローワーク", exact=True)).to_have_count(0)
    response = page.goto(f"/admin/reservations/office/{morning['session'].office_id}/change/")
    assert response is not None and response.status == 403


def test_a_supervisor_previews_the_slots(context_factory, morning, supervisor_user):  # noqa: F811
    page = context_factory(viewport=DESKTOP).new_page()
    log_in(page, supervisor_user.username)
    page.goto(f"/admin/reservations/office/{morning['session'].office_id}/change/")
    preview = page.locator(".field-slot_preview")
    expect(preview).to_contain_text("2月23日(火)")
    expect(preview).to_contain_text("祝日（天皇誕生日）")
    expect(preview).to_contain_text("10:00 1/1")
    shoot(page, "10-office")


def test_the_staff_pages_pass_axe(context_factory, morning, counselor_user):  # noqa: F811
    from axe_playwright_python.sync_playwright import Axe

    page = context_factory(viewport=DESKTOP).new_page()
    log_in(page, counselor_user.username)
    axe = Axe()
    request = morning["zoom_request"]
    pages = [
        "/admin/",
        "/admin/reservations/reservation/today/",
        "/admin/reservations/reservation/?day=week",
        f"/admin/reservations/reservation/{request.pk}/change/",
        f"/admin/reservations/reservation/{morning['tele_request'].pk}/act/confirm/",
        f"/admin/reservations/reservation/{request.pk}/act/reject/",
        f"/admin/reservations/reservation/{request.pk}/move/",
        f"/admin/reservations/reservation/{morning['session'].pk}/book-next/",
    ]
    found = {}
    for address in pages:
        page.goto(address)
        violations = axe.run(page).response["violations"]
        if violations:
            found[address] = [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]
    assert found == {}


def test_the_login_locks_after_five_failures(context_factory, morning, counselor_user):  # noqa: F811
    page = context_factory(viewport=DESKTOP).new_page()
    page.goto("/admin/login/")
    page.get_by_label("ユーザー名").fill(counselor_user.username)
    page.get_by_label("パスワード").fill("wrong-password-123")
    page.get_by_role("button", name="ログイン").click()
    expect(page.locator(".errornote")).to_be_visible()  # an ordinary mistake first
    for _attempt in range(4):
        page.goto("/admin/login/")
        page.get_by_label("ユーザー名").fill(counselor_user.username)
        page.get_by_label("パスワード").fill("wrong-password-123")
        page.get_by_role("button", name="ログイン").click()
    page.goto("/admin/login/")
    page.get_by_label("ユーザー名").fill(counselor_user.username)
    page.get_by_label("パスワード").fill(PASSWORD)  # the right one, too late
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="ログイン").click()
    assert answer.value.status == 429
    expect(page.get_by_role("heading", name="ログインを一時的に停止しています")).to_be_visible()
    shoot(page, "11-locked")
