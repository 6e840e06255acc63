"""The staff pages on a tablet (768 × 1024) and a 1280 px desktop, and a counselor's morning
in 私の相談, in Chromium.

Every staff page fits its screen without sideways scrolling, keeps the key columns in view,
wraps header links between words only, and passes axe's WCAG 2.2 A/AA rules (target size
among them) with no violation at all.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import Page, expect

from reservations.models import Counselor, DutyWindow, MeetingState, Reservation
from reservations.rules import Status
from tests.admin_support import PASSWORD, book, counselor_user, staff_groups, supervisor_user
from tests.conftest import tokyo

__all__ = ["book", "counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db(transaction=True)

TABLET = {"width": 768, "height": 1024}
DESKTOP = {"width": 1280, "height": 900}
MORNING = tokyo(2027, 2, 16, 9, 50)  # Tuesday; the first session is at 10:00
WCAG22 = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    },
    "resultTypes": ["violations"],
}


def log_in(page: Page, username: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("link", name="本日の相談を開く")).to_be_visible()


@pytest.fixture
def rota_day(office, terms, book, fake_zoom, counselor_user, supervisor_user):  # noqa: F811
    """Tuesday 2/16 in an office with two counselors on duty 10–12 and 14–16: two sessions
    of the signed-in counselor, one of the other, one 要再割当, one request for tomorrow."""
    made = SimpleNamespace(
        first=book(tokyo(2027, 2, 16, 10), confirm=True, name="佐藤 一郎"),
        second=book(tokyo(2027, 2, 16, 10, 30), confirm=True, name="鈴木 花子"),
        others=book(tokyo(2027, 2, 16, 11), confirm=True, name="高橋 次郎"),
        reassign=book(tokyo(2027, 2, 16, 14), confirm=True, name="田中 三郎"),
        request=book(tokyo(2027, 2, 17, 10), name="グエン アン", email="an@example.jp"),
    )
    mine = Counselor.objects.create(
        office=office, user=counselor_user, display_name="相談 花子", zoom_user="hanako@zoom"
    )
    other = Counselor.objects.create(
        office=office, user=supervisor_user, display_name="管理 一郎", zoom_user="ichiro@zoom"
    )
    for counselor in (mine, other):
        for start, end in (("10:00", "12:00"), ("14:00", "16:00")):
            DutyWindow.objects.create(
                counselor=counselor, weekday=1, start_time=start, end_time=end
            )
    Reservation.objects.filter(pk__in=[made.first.pk, made.second.pk]).update(counselor=mine)
    Reservation.objects.filter(pk=made.others.pk).update(counselor=other)
    Reservation.objects.filter(pk=made.reassign.pk).update(counselor=mine, needs_reassignment=True)
    made.mine, made.other = mine, other
    with time_machine.travel(MORNING, tick=True):
        yield made


def fits(page: Page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def staff_pages(made: SimpleNamespace) -> dict[str, str]:
    return {
        "list": "/admin/reservations/reservation/?day=week",
        "today": "/admin/reservations/reservation/today/",
        "mine": "/admin/reservations/reservation/mine/",
        "booking": f"/admin/reservations/reservation/{made.first.pk}/change/",
    }


@pytest.mark.parametrize("viewport", [TABLET, DESKTOP], ids=["tablet", "desktop"])
def test_the_staff_pages_fit_the_screen(context_factory, rota_day, counselor_user, viewport):  # noqa: F811
    page = context_factory(viewport=viewport).new_page()
    log_in(page, counselor_user.username)
    widths = {}
    for name, address in staff_pages(rota_day).items():
        page.goto(address)
        widths[name] = fits(page)
        # Each header link is one line: it wraps between links, never inside a word.
        lines = page.eval_on_selector_all(
            ".hw-global-nav a", "links => links.map(a => a.getClientRects().length)"
        )
        assert lines and set(lines) == {1}, (name, lines)
    print(f"scrollWidth/innerWidth at {viewport['width']}: {widths}")
    assert all(scroll <= inner for scroll, inner in widths.values()), widths

    # The key columns of the list are on the screen: time, name, status, platform, the
    # link's state and what needs doing.
    page.goto(staff_pages(rota_day)["list"])
    for column in ("when", "name", "status_badge", "platform", "meeting_badge", "attention"):
        header = page.locator(f"#result_list th.column-{column}")
        expect(header).to_be_visible()
        box = header.bounding_box()
        assert box is not None and box["x"] + box["width"] <= viewport["width"], column
    inner, outer = page.eval_on_selector(
        "#changelist .results", "e => [e.scrollWidth, e.clientWidth]"
    )
    assert inner <= outer, (inner, outer)  # the table itself does not scroll sideways either
    # The filter links are targets of at least 24 px.
    heights = page.eval_on_selector_all(
        "#changelist-filter li a", "links => links.map(a => a.getBoundingClientRect().height)"
    )
    assert heights and min(heights) >= 24, heights


def _counselor_list() -> list[str]:
    try:
        return [reverse("admin:reservations_counselor_changelist")]
    except NoReverseMatch:
        return []


@pytest.mark.parametrize("viewport", [TABLET, DESKTOP], ids=["tablet", "desktop"])
def test_every_staff_page_passes_axe_wcag_22(
    context_factory,
    rota_day,
    counselor_user,
    supervisor_user,
    viewport,  # noqa: F811
):
    axe = Axe()
    found: dict[str, list] = {}

    def audit(page: Page, address: str) -> None:
        page.goto(address)
        violations = axe.run(page, options=WCAG22).response["violations"]
        if violations:
            found[address] = [(v["id"], [n["target"] for n in v["nodes"]]) for v in violations]

    anonymous = context_factory(viewport=viewport).new_page()
    anonymous.goto("/admin/login/")
    audit(anonymous, "/admin/login/")

    counselor = context_factory(viewport=viewport).new_page()
    log_in(counselor, counselor_user.username)
    for address in ("/admin/", *staff_pages(rota_day).values()):
        audit(counselor, address)

    supervisor = context_factory(viewport=viewport).new_page()
    log_in(supervisor, supervisor_user.username)
    for address in (
        "/admin/",
        "/admin/reservations/reservation/?day=week",
        "/admin/reservations/reservation/today/",
        "/admin/reservations/reservation/statistics/",
        f"/admin/reservations/office/{rota_day.first.office_id}/change/",
        "/admin/reservations/restriction/",
        "/admin/reservations/restriction/add/",
        "/admin/reservations/staffmembership/",
        *_counselor_list(),
    ):
        audit(supervisor, address)
    for address, violations in found.items():
        print(f"axe {address}: {violations}")
    assert found == {}


def test_a_counselors_morning_in_my_sessions(context_factory, rota_day, counselor_user):  # noqa: F811
    first = Reservation.objects.get(pk=rota_day.first.pk)
    assert first.meeting_state == MeetingState.READY  # made by the fake Zoom
    context = context_factory(viewport=TABLET)
    context.route("https://zoom.example/**", lambda route: route.fulfill(body="Zoom"))
    page = context.new_page()
    log_in(page, counselor_user.username)

    page.get_by_role("link", name="私の相談を開く").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("私の相談")
    today = page.locator("table.hw-my-sessions").first
    rows = today.locator("tbody tr")
    expect(rows).to_have_count(3)  # 10:00, 10:30 and the 14:00 to be reassigned
    expect(rows.nth(0)).to_contain_text("佐藤 一郎")
    expect(rows.nth(1)).to_contain_text("鈴木 花子")
    expect(rows.nth(2)).to_contain_text("要再割当")
    expect(page.locator("table.hw-my-sessions")).not_to_contain_text("高橋 次郎")  # not mine

    # Start the 10:00 session with a fresh start link.
    with context.expect_page() as zoom_tab:
        rows.nth(0).get_by_role("link", name="Zoom を開始").click()
    expect(zoom_tab.value).to_have_url(re.compile(r"^https://zoom\.example/s/\d+\?zak=fresh$"))
    zoom_tab.value.close()

    # 10:30 is too early to record: the page says so and nothing changes.
    rows.nth(1).get_by_role("button", name="相談済み").click()
    expect(page.locator(".messagelist")).to_contain_text(
        "相談の開始前に参加を記録することはできません。"
    )
    assert Reservation.objects.get(pk=rota_day.second.pk).status == Status.CONFIRMED

    # The 10:00 session took place.
    page.locator("table.hw-my-sessions tbody tr", has_text="佐藤 一郎").get_by_role(
        "button", name="相談済み"
    ).click()
    expect(page.locator(".messagelist")).to_contain_text("相談済みにしました。")
    expect(page).to_have_url(re.compile(r"/mine/$"))
    expect(page.locator("table.hw-my-sessions tbody tr", has_text="佐藤 一郎")).to_contain_text(
        "相談済み"
    )
    assert Reservation.objects.get(pk=first.pk).status == Status.ATTENDED

    # The calendar feed: issue an address, and it serves the sessions without a login.
    page.get_by_role("button", name="カレンダーのURLを発行").click()
    feed = page.get_by_label("カレンダーのURL").input_value()
    assert re.search(r"/staff/calendar/[A-Za-z0-9_-]{40,}\.ics$", feed)
    anonymous = context_factory(viewport=TABLET).new_page()
    answer = anonymous.request.get(urlsplit(feed).path)
    assert answer.status == 200
    body = answer.text()
    assert first.reference in body and "佐藤" not in body
