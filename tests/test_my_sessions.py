"""The counselor's day: 私の相談, 本日の相談 per counselor, 要再割当 on the list, and each
counselor's private calendar feed (time, platform and reference only).

Through the admin's URLs with Django's test client; the services behind the buttons are the
real ones. Counselors and assignments are set on the rows directly.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import icalendar
import pytest
import time_machine
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reservations import selectors, services
from reservations.log_filters import PrivateLinkFilter, mask_private_links
from reservations.models import (
    Counselor,
    DutyException,
    DutyWindow,
    Reservation,
    StaffMembership,
    StaffRole,
)
from reservations.rules import Status
from tests.admin_support import (
    COUNSELOR,
    PASSWORD,
    TODAY,
    book,
    counselor_user,
    staff_groups,
    supervisor_user,
)
from tests.conftest import tokyo

__all__ = ["book", "counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db

MINE = "/admin/reservations/reservation/mine/"
MINE_CALENDAR = "/admin/reservations/reservation/mine/calendar/"
TODAY_PAGE = "/admin/reservations/reservation/today/"
CHANGELIST = "/admin/reservations/reservation/"


def texts(response) -> list[str]:  # noqa: ANN001
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def clock():  # noqa: ANN201
    with time_machine.travel(TODAY, tick=False) as traveller:
        yield traveller


def make_counselor(office, user, name: str) -> Counselor:  # noqa: ANN001
    counselor = Counselor.objects.create(office=office, user=user, display_name=name)
    for weekday in range(5):
        for start, end in (("10:00", "12:00"), ("14:00", "16:00")):
            DutyWindow.objects.create(
                counselor=counselor, weekday=weekday, start_time=start, end_time=end
            )
    return counselor


def another_counselor(django_user_model, staff_groups, office, username: str = "tanaka"):  # noqa: ANN001, ANN201, F811
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, is_staff=True
    )
    user.groups.add(staff_groups[COUNSELOR])
    StaffMembership.objects.create(user=user, office=office, role=StaffRole.COUNSELOR)
    return user


def assign(reservation: Reservation, counselor: Counselor | None, **fields: object) -> None:
    Reservation.objects.filter(pk=reservation.pk).update(counselor=counselor, **fields)


@pytest.fixture
def rota(book, office, counselor_user, supervisor_user, django_user_model, staff_groups):  # noqa: F811
    """Tuesday 2/16 at 09:00: the signed-in counselor has 10:00 and 14:00 (要再割当) today and
    10:00 tomorrow; a colleague has 10:30; a request for tomorrow is nobody's yet."""
    made = SimpleNamespace(
        first=book(tokyo(2027, 2, 16, 10), confirm=True, name="佐藤 一郎"),
        colleague_s=book(tokyo(2027, 2, 16, 10, 30), confirm=True, name="高橋 次郎"),
        reassign=book(tokyo(2027, 2, 16, 14), confirm=True, name="田中 三郎"),
        tomorrow=book(tokyo(2027, 2, 17, 10), confirm=True, name="鈴木 花子"),
        request=book(tokyo(2027, 2, 17, 10, 30), name="グエン アン", email="an@example.jp"),
    )
    made.colleague_user = another_counselor(django_user_model, staff_groups, office)
    made.mine = make_counselor(office, counselor_user, "相談 花子")
    made.colleague = make_counselor(office, made.colleague_user, "田中 太郎")
    assign(made.first, made.mine)
    assign(made.reassign, made.mine, needs_reassignment=True)
    assign(made.tomorrow, made.mine)
    assign(made.colleague_s, made.colleague)
    return made


# --- 私の相談 -----------------------------------------------------------------------------


def test_my_sessions_lists_only_my_sessions_by_day(client, rota, counselor_user, clock):  # noqa: F811
    client.force_login(counselor_user)
    response = client.get(MINE)
    assert response.status_code == 200
    days = response.context["days"]
    assert [[row.reservation.reference for row in day.sessions] for day in days] == [
        [rota.first.reference, rota.reassign.reference],
        [rota.tomorrow.reference],
    ]
    page = response.content.decode()
    assert "高橋 次郎" not in page and "グエン アン" not in page
    assert "要再割当" in page
    assert [row.may_start for row in days[0].sessions] == [True, True]  # mine to host
    assert [row.is_today for row in days[0].sessions] == [True, True]
    assert not days[1].sessions[0].is_today  # no attendance buttons for tomorrow
    assert page.count('name="csrfmiddlewaretoken"') >= 4  # attended/no-show for today's two


def test_the_start_link_is_offered_only_to_who_may_host(
    client,
    rota,
    counselor_user,
    supervisor_user,
    clock,  # noqa: F811
):
    # The colleague's session on 本日の相談: the counselor sees no start button for it, the
    # supervisor sees every one (rule 13, selectors.may_host).
    client.force_login(counselor_user)
    rows = {row.reservation.pk: row.may_start for row in client.get(TODAY_PAGE).context["sessions"]}
    assert rows == {rota.first.pk: True, rota.colleague_s.pk: False, rota.reassign.pk: True}
    client.force_login(supervisor_user)
    rows = {row.reservation.pk: row.may_start for row in client.get(TODAY_PAGE).context["sessions"]}
    assert set(rows.values()) == {True}
    for pk in rows:
        reservation = Reservation.objects.get(pk=pk)
        user = counselor_user if pk != rota.colleague_s.pk else rota.colleague_user
        assert selectors.may_host_each(user, [reservation]) == {pk}
        assert selectors.may_host(user, reservation)


def test_my_sessions_query_count_is_constant(
    client,
    book,
    office,
    counselor_user,
    django_user_model,
    staff_groups,
    clock,
    django_assert_num_queries,  # noqa: F811
):
    mine = make_counselor(office, counselor_user, "相談 花子")
    starts = [
        tokyo(2027, 2, d, h, m)
        for d in (16, 17, 18, 19)
        for h, m in ((10, 0), (10, 30), (11, 0), (11, 30), (14, 0), (14, 30), (15, 0))
    ]

    def make(chosen: list, counselor: Counselor) -> None:
        for start in chosen:
            assign(book(start, confirm=True), counselor)

    make(starts[:2], mine)
    client.force_login(counselor_user)
    client.get(MINE)  # warm the session
    with CaptureQueriesContext(connection) as small:
        assert client.get(MINE).status_code == 200
    # More bookings and more counselors, some of them in a second record of this user.
    for index in range(3):
        colleague = make_counselor(
            office,
            another_counselor(django_user_model, staff_groups, office, f"c{index}"),
            f"相談員{index}",
        )
        make(starts[2 + index * 3 : 5 + index * 3], colleague)
    make(starts[11:], mine)
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(MINE)
    assert len(response.context["days"]) == 4
    print(
        f"私の相談: {len(small.captured_queries)} queries for 2 or 14 sessions, 1 or 4 counselors"
    )
    # session, user, permissions, the header's offices, counselors, bookings, may_host (2)
    assert len(small.captured_queries) <= 12


def test_attended_and_no_show_from_my_sessions(rota, counselor_user, clock):  # noqa: F811
    client = Client(enforce_csrf_checks=True)
    client.force_login(counselor_user)
    attended = reverse("admin:reservations_reservation_act", args=[rota.first.pk, "attended"])
    assert client.post(attended, {"next": MINE}).status_code == 403  # no CSRF token
    client = Client()
    client.force_login(counselor_user)
    early = client.post(attended, {"next": MINE})
    assert early["Location"] == MINE
    assert texts(early) == [
        f"{rota.first.reference}（2027年2月16日(火) 10:00）: "
        "相談の開始前に参加を記録することはできません。"
    ]
    no_show = reverse("admin:reservations_reservation_act", args=[rota.first.pk, "no_show"])
    clock.move_to(tokyo(2027, 2, 16, 10, 5))
    assert "10分が過ぎるまでは" in texts(client.post(no_show, {"next": MINE}))[-1]
    client.post(attended, {"next": MINE})
    assert Reservation.objects.get(pk=rota.first.pk).status == Status.ATTENDED
    page = client.get(MINE).content.decode()
    assert "相談済み" in page


def test_a_staff_member_without_a_counselor_record(client, book, supervisor_user, clock):  # noqa: F811
    book(tokyo(2027, 2, 16, 10), confirm=True)
    response = client.force_login(supervisor_user) or client.get(MINE)
    assert response.status_code == 200
    assert response.context["days"] == []
    assert "相談員として登録されていない" in response.content.decode()


def test_the_index_and_header_link_my_sessions(client, counselor_user):  # noqa: F811
    client.force_login(counselor_user)
    page = client.get("/admin/").content.decode()
    assert "私の相談を開く" in page
    assert f'href="{MINE}">私の相談</a>' in page


# --- 本日の相談 per counselor -------------------------------------------------------------


def test_today_has_a_column_per_counselor_on_duty(
    client,
    rota,
    office,
    counselor_user,
    django_user_model,
    staff_groups,
    clock,  # noqa: F811
):
    # A third counselor, on leave all day: no column.
    away = make_counselor(
        office, another_counselor(django_user_model, staff_groups, office, "away"), "休暇 中"
    )
    DutyException.objects.create(counselor=away, date=tokyo(2027, 2, 16).date(), kind="leave")
    client.force_login(counselor_user)
    board = client.get(TODAY_PAGE).context["board"]
    assert sorted(c.display_name for c in board.counselors) == ["田中 太郎", "相談 花子"]
    column = {c.pk: index for index, c in enumerate(board.counselors)}
    by_time = {row.start: row for row in board.rows}
    ten = by_time[tokyo(2027, 2, 16, 10)].cells
    assert [r.pk for r in ten[column[rota.mine.pk]].bookings] == [rota.first.pk]
    assert ten[column[rota.colleague.pk]].bookings == []
    assert [cell.on_duty for cell in ten] == [True, True]
    half_past = by_time[tokyo(2027, 2, 16, 10, 30)].cells[column[rota.colleague.pk]]
    assert [r.pk for r in half_past.bookings] == [rota.colleague_s.pk]
    page = client.get(TODAY_PAGE).content.decode()
    assert "相談員ごとの予定" in page and "未割当・申込み" in page
    assert "要再割当 1件" in page
    # Tomorrow: the request is nobody's yet.
    board = client.get(TODAY_PAGE, {"date": "2027-02-17"}).context["board"]
    unassigned = [r.pk for row in board.rows for r in row.unassigned]
    assert unassigned == [rota.request.pk]


def test_an_office_without_counselors_looks_as_before(client, book, counselor_user, clock):  # noqa: F811
    book(tokyo(2027, 2, 16, 10), confirm=True)
    client.force_login(counselor_user)
    response = client.get(TODAY_PAGE)
    assert response.context["board"] is None
    assert "相談員ごとの予定" not in response.content.decode()
    assert [row.may_start for row in response.context["sessions"]] == [True]


# --- 要再割当 on the list -------------------------------------------------------------------


def test_the_list_flags_and_filters_bookings_to_reassign(client, rota, counselor_user, clock):  # noqa: F811
    client.force_login(counselor_user)
    page = client.get(CHANGELIST, {"day": "today"}).content.decode()
    assert page.count('class="hw-badge hw-flag-reassign"') == 1
    assert "相談 花子" in page  # the 担当 column
    flagged = client.get(CHANGELIST, {"day": "all", "reassign": "yes"})
    assert [r.pk for r in flagged.context["cl"].result_list] == [rota.reassign.pk]


# --- The calendar feed -------------------------------------------------------------------


def feed_path(counselor: Counselor) -> str:
    counselor.refresh_from_db()
    return reverse("reservations:counselor-calendar", args=[counselor.calendar_token])


def test_the_feed_is_issued_renewed_and_revoked_from_my_sessions(
    client,
    rota,
    counselor_user,
    clock,  # noqa: F811
):
    client.force_login(counselor_user)
    assert "カレンダーのURLを発行" in client.get(MINE).content.decode()
    response = client.post(MINE_CALENDAR, {"counselor": rota.mine.pk, "do": "renew"})
    assert response["Location"] == MINE
    assert "カレンダーのURLを発行しました。" in texts(response)[0]
    first = feed_path(rota.mine)
    assert len(rota.mine.calendar_token) >= 40
    assert first in client.get(MINE).content.decode()

    anonymous = Client()
    answer = anonymous.get(first)
    assert answer.status_code == 200
    assert answer["Content-Type"] == "text/calendar; charset=utf-8"
    assert "sessionid" not in answer.cookies

    client.post(MINE_CALENDAR, {"counselor": rota.mine.pk, "do": "renew"})
    second = feed_path(rota.mine)
    assert second != first
    assert anonymous.get(first).status_code == 404
    assert anonymous.get(second).status_code == 200

    response = client.post(MINE_CALENDAR, {"counselor": rota.mine.pk, "do": "revoke"})
    assert "停止しました" in texts(response)[-1]
    rota.mine.refresh_from_db()
    assert rota.mine.calendar_token == ""
    assert anonymous.get(second).status_code == 404
    assert anonymous.get("/staff/calendar/unknown-token-123.ics").status_code == 404


def test_only_ones_own_feed_can_be_changed(client, rota, counselor_user, clock):  # noqa: F811
    token = services.counselor_calendar_renew(counselor=rota.colleague, actor=None)
    client.force_login(counselor_user)
    for do in ("renew", "revoke"):
        response = client.post(MINE_CALENDAR, {"counselor": rota.colleague.pk, "do": do})
        assert response.status_code == 404
    assert client.post(MINE_CALENDAR, {"counselor": "x"}).status_code == 404
    assert client.get(MINE_CALENDAR).status_code == 405
    rota.colleague.refresh_from_db()
    assert rota.colleague.calendar_token == token


def test_the_feed_carries_time_platform_and_reference_only(client, rota, clock):  # noqa: F811
    Reservation.objects.filter(pk=rota.first.pk).update(
        topic="転職の相談（前職 株式会社サンプル）", phone="090-1234-5678"
    )
    services.counselor_calendar_renew(counselor=rota.mine, actor=None)
    body = Client().get(feed_path(rota.mine)).content.decode()
    calendar = icalendar.Calendar.from_ical(body)
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == 3  # mine: today's two and tomorrow's; not the colleague's
    first = next(e for e in events.values() if rota.first.reference in str(e["summary"]))
    assert first.decoded("dtstart") == tokyo(2027, 2, 16, 10)
    assert first.decoded("dtend") == tokyo(2027, 2, 16, 10, 30)
    assert "Zoom" in str(first["summary"])
    for reservation in Reservation.objects.filter(office=rota.mine.office):
        for personal in (
            reservation.name,
            *reservation.name.split(),
            reservation.email,
            reservation.seeker_number,
            reservation.phone,
            reservation.token,
            reservation.meeting_join_url,
            reservation.meeting_passcode,
            reservation.topic,
        ):
            if personal:
                assert personal not in body, personal
    assert "株式会社サンプル" not in body and "10040-" not in body


def test_a_cancelled_session_drops_out_of_the_feed(client, rota, clock):  # noqa: F811
    services.counselor_calendar_renew(counselor=rota.mine, actor=None)
    services.reservation_cancel(reservation=rota.tomorrow, by="staff", actor=None, reason="電話")
    body = Client().get(feed_path(rota.mine)).content.decode()
    assert rota.tomorrow.reference not in body
    assert rota.first.reference in body


def test_the_feed_token_is_masked_in_the_logs(client, rota, caplog, clock):  # noqa: F811
    token = services.counselor_calendar_renew(counselor=rota.mine, actor=None)
    path = f"/staff/calendar/{token}.ics"
    assert mask_private_links(f"Not Found: {path}") == "Not Found: /staff/calendar/[token].ics"
    record = logging.LogRecord(
        "django.request", logging.WARNING, "", 0, "Not Found: %s", (path,), None
    )
    PrivateLinkFilter().filter(record)
    assert token not in record.getMessage()
    with caplog.at_level(logging.INFO):
        services.counselor_calendar_revoke(counselor=rota.mine, actor=None)
        services.counselor_calendar_renew(counselor=rota.mine, actor=None)
    rota.mine.refresh_from_db()
    assert token not in caplog.text and rota.mine.calendar_token not in caplog.text
