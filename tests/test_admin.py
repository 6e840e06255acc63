"""The counselor's day in the admin: lists, pages, actions, permissions, settings, logins.

Everything goes through the admin's URLs with Django's test client, as a counselor's browser
would; the services behind the buttons are the real ones.
"""

from __future__ import annotations

import csv
import io
from datetime import date, time
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse

from consent.models import ConsentMethod
from reservations import services
from reservations.models import (
    CapacityOverride,
    Closure,
    EventKind,
    MeetingState,
    Reservation,
    ReservationEvent,
    Restriction,
    RestrictionSource,
    SessionWindow,
)
from reservations.rules import Status
from tests.admin_support import (
    COUNSELOR,
    PASSWORD,
    SUPERVISOR,
    TODAY,
    book,
    counselor_user,
    staff_groups,
    supervisor_user,
)
from tests.conftest import tokyo

__all__ = ["book", "counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/reservations/reservation/"


def url(name: str, *args: object) -> str:
    return reverse(f"admin:reservations_reservation_{name}", args=args)


def act(reservation: Reservation, name: str) -> str:
    return url("act", reservation.pk, name)


def texts(response) -> list[str]:  # noqa: ANN001
    return [str(message) for message in get_messages(response.wsgi_request)]


def snapshot() -> dict[str, object]:
    """Everything an action may write, to prove a refused one wrote nothing."""
    return {
        "reservations": sorted(
            Reservation.objects.values_list(
                "id", "status", "slot_id", "confirmed_at", "meeting_state", "meeting_join_url"
            )
        ),
        "events": ReservationEvent.objects.count(),
        "restrictions": sorted(Restriction.objects.values_list("id", "lifted_at")),
    }


def login(client: Client, user) -> Client:  # noqa: ANN001
    client.force_login(user)
    return client


@pytest.fixture
def clock():  # noqa: ANN201
    """The admin's clock, frozen at 09:00 on Tuesday 2027-02-16; `clock.move_to(...)` later."""
    with time_machine.travel(TODAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def day(book) -> SimpleNamespace:  # noqa: F811 - the fixture imported above
    """Tuesday 2/16: two sessions, a late request for today, requests due today and later."""
    return SimpleNamespace(
        zoom=book(tokyo(2027, 2, 16, 10), confirm=True),
        tele=book(
            tokyo(2027, 2, 16, 10, 30),
            platform="teleoffice",
            confirm=True,
            meeting_url="https://teleoffice.example.jp/room/1",
        ),
        late=book(tokyo(2027, 2, 16, 14)),
        due=book(tokyo(2027, 2, 17, 10)),
        later=book(tokyo(2027, 2, 18, 14), platform="teleoffice"),
    )


# --- Groups and permissions -------------------------------------------------------------


def test_the_migration_creates_the_two_staff_groups(staff_groups):  # noqa: F811
    def codenames(name: str) -> set[str]:
        return set(staff_groups[name].permissions.values_list("codename", flat=True))

    counselor = codenames(COUNSELOR)
    supervisor = codenames(SUPERVISOR)
    assert {"view_reservation", "change_reservation", "add_reservation"} <= counselor
    assert "view_restriction" in counselor
    assert counselor < supervisor
    # A counselor cannot change office settings or terms, nor export personal data.
    for codename in (
        "view_office",
        "change_office",
        "add_closure",
        "add_capacityoverride",
        "change_sessionwindow",
        "add_termsversion",
        "change_termsversion",
        "add_restriction",
        "change_restriction",
        "export_reservation",
    ):
        assert codename not in counselor
        assert codename in supervisor


GET_PAGES = {
    # name: (url builder, counselor may, supervisor may)
    "list": (lambda d: CHANGELIST, True, True),
    "today": (lambda d: url("today"), True, True),
    "detail": (lambda d: url("change", d.zoom.pk), True, True),
    "confirm form": (lambda d: act(d.later, "confirm"), True, True),
    "move form": (lambda d: url("move", d.due.pk), True, True),
    "book next form": (lambda d: url("book_next", d.zoom.pk), True, True),
    "restrictions": (lambda d: "/admin/reservations/restriction/", True, True),
    "add restriction": (lambda d: "/admin/reservations/restriction/add/", False, True),
    "office settings": (
        lambda d: f"/admin/reservations/office/{d.zoom.office_id}/change/",
        False,
        True,
    ),
    "closures": (lambda d: "/admin/reservations/closure/add/", False, True),
    "capacity": (lambda d: "/admin/reservations/capacityoverride/add/", False, True),
    "terms": (lambda d: "/admin/consent/termsversion/", False, True),
    "emails sent": (lambda d: "/admin/reservations/outgoingemail/", False, True),
    "zoom meetings": (lambda d: "/admin/reservations/zoommeeting/", False, True),
}


@pytest.mark.parametrize("page", list(GET_PAGES))
@pytest.mark.parametrize("who", ["anonymous", "no group", "counselor", "supervisor"])
def test_who_may_open_which_page(
    page,
    who,
    client,
    day,
    counselor,
    counselor_user,
    supervisor_user,
    clock,  # noqa: F811
):
    build, counselor_may, supervisor_may = GET_PAGES[page]
    users = {"no group": counselor, "counselor": counselor_user, "supervisor": supervisor_user}
    if who in users:
        login(client, users[who])
    response = client.get(build(day))
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
        return
    allowed = {"no group": False, "counselor": counselor_may, "supervisor": supervisor_may}[who]
    assert response.status_code == (200 if allowed else 403)


POST_ACTIONS = {
    # name: (url builder, form data, counselor may)
    "confirm": (lambda d: act(d.due, "confirm"), {}, True),
    "reject": (lambda d: act(d.due, "reject"), {"reason": "相談内容が対象外のため"}, True),
    "cancel": (lambda d: act(d.due, "cancel"), {"reason": "本人から電話で取消し"}, True),
    "attended": (lambda d: act(d.zoom, "attended"), {}, True),
    "no show": (lambda d: act(d.tele, "no_show"), {}, True),
    "retry meeting": (lambda d: act(d.zoom, "retry_meeting"), {}, True),
    "move": (lambda d: url("move", d.due.pk), {"new_start": "2027-02-19T10:00"}, True),
    "lift": (lambda d: d.lift_url, {}, False),
}


@pytest.mark.parametrize("action", list(POST_ACTIONS))
@pytest.mark.parametrize("who", ["anonymous", "no group", "counselor", "supervisor"])
def test_who_may_take_which_action(
    action,
    who,
    client,
    day,
    office,
    counselor,
    counselor_user,
    supervisor_user,
    clock,  # noqa: F811
):
    restriction = services.restriction_create(
        office=office, reason="テスト", actor=None, email="someone@example.jp"
    )
    day.lift_url = reverse("admin:reservations_restriction_lift", args=[restriction.pk])
    clock.move_to(tokyo(2027, 2, 16, 10, 45))  # both sessions under way, past 10 minutes
    build, data, counselor_may = POST_ACTIONS[action]
    users = {"no group": counselor, "counselor": counselor_user, "supervisor": supervisor_user}
    if who in users:
        login(client, users[who])
    before = snapshot()
    response = client.post(build(day), data)
    allowed = {"anonymous": False, "no group": False, "counselor": counselor_may}.get(who, True)
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    elif not allowed:
        assert response.status_code == 403
    else:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert not response["Location"].startswith("/admin/login/")
    if not allowed:
        assert snapshot() == before


def test_bulk_actions_follow_the_same_permissions(client, day, counselor, clock):
    login(client, counselor)  # staff, but in no group
    before = snapshot()
    response = client.post(
        CHANGELIST, {"action": "confirm_selected", "_selected_action": [day.due.pk]}
    )
    assert response.status_code == 403
    assert snapshot() == before


def test_only_supervisors_export(client, day, counselor_user, supervisor_user, clock):  # noqa: F811
    data = {"action": "export_selected", "_selected_action": [day.due.pk, day.zoom.pk]}
    response = login(client, counselor_user).post(CHANGELIST + "?day=all", data)
    assert response.status_code == 302  # back to the list: no such action for a counselor
    assert response.get("Content-Type", "").startswith("text/html")

    response = login(Client(), supervisor_user).post(CHANGELIST + "?day=all", data)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0][:3] == ["予約番号", "相談日時", "状態"]
    assert [row[0] for row in rows[1:]] == [day.zoom.reference, day.due.reference]
    assert rows[1][1] == "2027年2月16日(火) 10:00"


def test_an_exported_cell_never_runs_as_a_formula(client, book, supervisor_user, clock):  # noqa: F811
    booking = book(tokyo(2027, 2, 18, 10), name="=HYPERLINK(1)")
    response = login(client, supervisor_user).post(
        CHANGELIST + "?day=all", {"action": "export_selected", "_selected_action": [booking.pk]}
    )
    assert "'=HYPERLINK(1)" in response.content.decode("utf-8")


# --- The list of bookings ---------------------------------------------------------------


def listed(response) -> list[str]:  # noqa: ANN001
    return [row.reference for row in response.context["cl"].result_list]


def test_the_list_shows_today_and_later_in_time_order_with_badges(
    client,
    day,
    book,
    counselor_user,
    clock,  # noqa: F811
):
    past = book(tokyo(2027, 2, 15, 10), requested_at=tokyo(2027, 2, 10, 9))
    login(client, counselor_user)
    response = client.get(CHANGELIST)
    assert listed(response) == [
        day.zoom.reference,
        day.tele.reference,
        day.late.reference,
        day.due.reference,
        day.later.reference,
    ]
    page = response.content.decode()
    assert "hw-badge hw-status-confirmed" in page
    assert "hw-badge hw-status-requested" in page
    assert "2027年2月16日(火) 10:00" in page
    assert "本日が確定期限" in page  # the request for tomorrow
    assert "確定期限切れ" in page  # the request for this afternoon
    assert past.reference not in listed(response)
    assert listed(client.get(CHANGELIST + "?day=past")) == [past.reference]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("day=today", ["zoom", "tele", "late"]),
        ("day=tomorrow", ["due"]),
        ("day=week", ["zoom", "tele", "late", "due", "later"]),
        ("status__exact=requested", ["late", "due", "later"]),
        ("platform__exact=teleoffice", ["tele", "later"]),
        ("meeting_state__exact=ready", ["tele"]),
        ("day=2027-02-18", ["later"]),
    ],
)
def test_the_list_filters(query, expected, client, day, counselor_user, clock):  # noqa: F811
    response = login(client, counselor_user).get(f"{CHANGELIST}?{query}")
    assert listed(response) == [getattr(day, name).reference for name in expected]


def test_search_finds_a_booking_however_it_is_typed(client, book, counselor_user, clock):  # noqa: F811
    old = book(
        tokyo(2027, 2, 15, 10),
        requested_at=tokyo(2027, 2, 10, 9),
        name="グエン ヴァン アン",
        seeker_number="10040-7654321",
        email="nguyen@example.jp",
    )
    other = book(tokyo(2027, 2, 18, 10))
    login(client, counselor_user)
    reference = old.reference
    for term in (
        reference,
        reference.lower().replace("-", ""),  # read out over the phone
        "グエン",
        "１００４０－７６５４３２１",  # full-width digits and hyphen
        "7654321",
        "NGUYEN@example.jp",
    ):
        response = client.get(CHANGELIST, {"q": term})
        assert listed(response) == [reference], term  # found though it is in the past
    assert other.reference not in listed(client.get(CHANGELIST, {"q": reference}))


@pytest.mark.parametrize("page", ["list", "today"])
def test_query_count_does_not_grow_with_the_bookings(
    page,
    client,
    book,
    counselor_user,
    clock,
    django_assert_num_queries,  # noqa: F811
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    login(client, counselor_user)
    target = CHANGELIST + "?day=week" if page == "list" else url("today")
    starts = [
        tokyo(2027, 2, d, h, m)
        for d in (16, 17, 18, 19)
        for h, m in ((10, 0), (10, 30), (11, 0), (11, 30), (14, 0), (14, 30), (15, 0))
    ]

    def make(chosen: list) -> None:
        for index, start in enumerate(chosen):
            book(start, confirm=index % 2 == 0)

    make(starts[:3])
    client.get(target)  # warm the session and caches
    with CaptureQueriesContext(connection) as small:
        assert client.get(target).status_code == 200
    make(starts[3:])  # 28 bookings across four days
    with django_assert_num_queries(len(small.captured_queries)):
        response = client.get(target)
    assert response.status_code == 200
    # session, user, permissions (2), office calendar (4), bookings (1–2), header office
    assert len(small.captured_queries) <= 11


# --- The page of one booking ------------------------------------------------------------


def test_the_booking_page_shows_consent_history_emails_and_meeting(
    client,
    day,
    counselor_user,
    clock,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    login(client, counselor_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(act(day.due, "reject"), {"reason": "相談の対象外のため"})
    response = client.get(url("change", day.tele.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert "オンライン職業相談等利用規約 (2023-04-01)" in page  # the version agreed to
    assert "申込画面で同意" in page
    assert "192.0.2.10" in page  # Art. 7(1)
    assert "第5条(4)" in page  # each checklist item
    assert "申込受付 → 予約確定" in page
    assert "花子" in page or "相談 花子" in page  # who confirmed
    assert "https://teleoffice.example.jp/room/1" in page
    assert "リンクあり" in page
    # Nothing on the page edits the booking: no fields, no save button.
    assert 'name="status"' not in page
    assert 'name="_save"' not in page

    rejected = client.get(url("change", day.due.pk)).content.decode()
    assert "申込受付 → お断り" in rejected
    assert "相談の対象外のため" in rejected
    email = day.due.emails.get(kind="rejected")
    assert email.subject in rejected and "送信済み" in rejected  # the email to the seeker


def test_status_cannot_be_changed_by_editing_the_booking(client, day, supervisor_user, clock):  # noqa: F811
    login(client, supervisor_user)
    before = snapshot()
    response = client.post(url("change", day.due.pk), {"status": "attended"})
    assert response.status_code == 403
    assert snapshot() == before
    assert client.get(url("add")).status_code == 403
    assert client.post(url("delete", day.due.pk)).status_code == 403


def test_the_booking_page_offers_only_what_the_booking_allows(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    requested = client.get(url("change", day.due.pk)).context["hw_buttons"]
    assert [b["label"] for b in requested] == [
        "確定する",
        "お断りする",
        "日時を変更する",
        "キャンセルする（電話連絡）",
    ]
    clock.move_to(tokyo(2027, 2, 16, 10, 11))
    confirmed = [b["label"] for b in client.get(url("change", day.zoom.pk)).context["hw_buttons"]]
    assert "相談済みにする" in confirmed
    assert "連絡なし不参加にする" in confirmed
    assert "次回の予約を作成する" in confirmed
    assert "確定する" not in confirmed


# --- Actions ----------------------------------------------------------------------------


def test_bulk_confirm_reports_each_booking_and_a_refusal_changes_nothing(
    client,
    day,
    counselor_user,
    clock,  # noqa: F811
):
    login(client, counselor_user)
    already = day.zoom
    events_before = already.events.count()
    row_before = Reservation.objects.filter(pk=already.pk).values().get()
    response = client.post(
        CHANGELIST + "?day=all",
        {"action": "confirm_selected", "_selected_action": [day.due.pk, already.pk]},
    )
    assert response.status_code == 302
    messages = texts(response)
    assert messages[0] == "2件中 1件を処理しました。1件はできませんでした。"
    assert f"{day.due.reference}（2027年2月17日(水) 10:00）: 確定しました。" in messages
    assert (
        f"{already.reference}（2027年2月16日(火) 10:00）: "
        "「予約確定」の予約を「予約確定」にすることはできません。"
    ) in messages
    day.due.refresh_from_db()
    assert day.due.status == Status.CONFIRMED
    assert Reservation.objects.filter(pk=already.pk).values().get() == row_before
    assert already.events.count() == events_before


def test_confirming_teleoffice_bookings_asks_for_each_link(
    client,
    day,
    book,
    counselor_user,
    clock,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    other = book(tokyo(2027, 2, 19, 14), platform="teleoffice")
    login(client, counselor_user)
    selection = {"action": "confirm_selected", "_selected_action": [day.later.pk, other.pk]}
    form_page = client.post(CHANGELIST, selection)
    assert form_page.status_code == 200
    assert f"{day.later.reference} の TeleOffice 会議URL" in form_page.content.decode()

    before = snapshot()
    missing = client.post(
        CHANGELIST,
        {
            **selection,
            "apply": "1",
            f"url_{day.later.pk}": "javascript:alert(1)",
            f"url_{other.pk}": "",
        },
    )
    assert missing.status_code == 200
    form = missing.context["form"]
    assert form.errors[f"url_{other.pk}"] == ["このフィールドは必須です。"]
    assert f"url_{day.later.pk}" in form.errors
    assert snapshot() == before

    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            CHANGELIST,
            {
                **selection,
                "apply": "1",
                f"url_{day.later.pk}": "https://teleoffice.example.jp/room/77",
                f"passcode_{day.later.pk}": "4321",
                f"url_{other.pk}": "teleoffice.example.jp/room/78",
            },
        )
    assert done.status_code == 302
    day.later.refresh_from_db()
    other.refresh_from_db()
    assert (day.later.status, day.later.meeting_join_url, day.later.meeting_passcode) == (
        Status.CONFIRMED,
        "https://teleoffice.example.jp/room/77",
        "4321",
    )
    assert other.meeting_join_url == "https://teleoffice.example.jp/room/78"
    confirmed_mail = [m for m in mail.outbox if day.later.email in m.to]
    assert confirmed_mail
    assert "https://teleoffice.example.jp/room/77" in confirmed_mail[-1].body


def test_a_late_confirmation_needs_a_reason(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    page = client.get(act(day.late, "confirm"))
    assert "確定期限を過ぎて確定する理由" in page.content.decode()
    before = snapshot()
    refused = client.post(act(day.late, "confirm"), {})
    assert refused.status_code == 200
    assert refused.context["form"].errors["reason"] == ["このフィールドは必須です。"]
    assert snapshot() == before

    done = client.post(act(day.late, "confirm"), {"reason": "前日に電話で日程を調整済み"})
    assert done.status_code == 302
    day.late.refresh_from_db()
    assert day.late.status == Status.CONFIRMED
    event = day.late.events.get(to_status=Status.CONFIRMED)
    assert (event.reason, event.details["late"], event.actor) == (
        "前日に電話で日程を調整済み",
        True,
        counselor_user,
    )


def test_reject_needs_a_reason_the_seeker_is_told(
    client,
    day,
    counselor_user,
    clock,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    login(client, counselor_user)
    before = snapshot()
    refused = client.post(act(day.due, "reject"), {"reason": "  "})
    assert refused.context["form"].errors["reason"] == ["このフィールドは必須です。"]
    assert snapshot() == before
    with django_capture_on_commit_callbacks(execute=True):
        client.post(act(day.due, "reject"), {"reason": "求職者向けの相談ではないため"})
    day.due.refresh_from_db()
    assert day.due.status == Status.REJECTED
    assert "求職者向けの相談ではないため" in mail.outbox[-1].body


def test_cancel_after_a_phone_call(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    page = client.get(act(day.zoom, "cancel"))
    assert "キャンセルの理由（電話連絡の内容など）" in page.content.decode()
    response = client.post(
        act(day.zoom, "cancel"), {"reason": "9時に本人から電話。体調不良のため。"}
    )
    assert response["Location"] == url("change", day.zoom.pk)
    day.zoom.refresh_from_db()
    assert day.zoom.status == Status.CANCELLED
    event = day.zoom.events.get(to_status=Status.CANCELLED)
    assert (event.actor_kind, event.reason, event.actor) == (
        "staff",
        "9時に本人から電話。体調不良のため。",
        counselor_user,
    )


def test_attendance_and_no_show_are_one_click_each(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    today = url("today")
    before = snapshot()
    early = client.post(act(day.zoom, "attended"), {"next": today})
    assert early["Location"] == today
    assert texts(early) == [
        f"{day.zoom.reference}（2027年2月16日(火) 10:00）: "
        "相談の開始前に参加を記録することはできません。"
    ]
    assert snapshot() == before

    clock.move_to(tokyo(2027, 2, 16, 10, 2))
    client.post(act(day.zoom, "attended"), {"next": today})
    clock.move_to(tokyo(2027, 2, 16, 10, 41))
    client.post(act(day.tele, "no_show"), {"next": today})
    day.zoom.refresh_from_db()
    day.tele.refresh_from_db()
    assert (day.zoom.status, day.tele.status) == (Status.ATTENDED, Status.NO_SHOW)


def test_one_click_buttons_need_the_csrf_token(day, counselor_user, clock):  # noqa: F811
    client = login(Client(enforce_csrf_checks=True), counselor_user)
    clock.move_to(tokyo(2027, 2, 16, 10, 2))
    before = snapshot()
    assert client.post(act(day.zoom, "attended")).status_code == 403
    assert snapshot() == before


def test_an_unsafe_next_address_is_ignored(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    response = client.post(act(day.due, "confirm"), {"next": "https://evil.example/"})
    assert response["Location"] == url("change", day.due.pk)


def test_move_offers_only_open_slots(client, day, book, office, counselor_user, clock):  # noqa: F811
    full = book(tokyo(2027, 2, 19, 10))  # the only place at Fri 10:00
    CapacityOverride.objects.create(
        office=office, date=date(2027, 2, 19), start_time=time(11), capacity=0
    )
    Closure.objects.create(office=office, date=date(2027, 2, 22), reason="庁舎点検")
    login(client, counselor_user)
    page = client.get(url("move", day.due.pk))
    offered = [
        value
        for _group, options in page.context["form"].fields["new_start"].choices[1:]
        for value, _label in options
    ]
    assert "2027-02-19T10:30" in offered
    assert "2027-02-17T10:00" not in offered  # where it is now
    assert "2027-02-19T10:00" not in offered  # full
    assert "2027-02-19T11:00" not in offered  # closed for the day
    assert not any(value.startswith("2027-02-22") for value in offered)  # closure
    assert not any(value.startswith("2027-02-23") for value in offered)  # 天皇誕生日
    assert not any(value.startswith("2027-02-16") for value in offered)  # past the cut-off

    before = snapshot()
    refused = client.post(url("move", day.due.pk), {"new_start": "2027-02-19T10:00"})
    assert refused.status_code == 200
    assert refused.context["form"].errors["new_start"]
    assert snapshot() == before

    moved = client.post(
        url("move", day.due.pk), {"new_start": "2027-02-19T10:30", "reason": "本人の希望"}
    )
    assert moved.status_code == 302
    day.due.refresh_from_db()
    assert day.due.slot.starts_at == tokyo(2027, 2, 19, 10, 30)
    event = day.due.events.get(kind=EventKind.MOVED)
    assert (event.reason, event.actor) == ("本人の希望", counselor_user)
    assert full.status == Status.REQUESTED


def test_move_from_the_list_takes_one_booking_at_a_time(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    two = client.post(
        CHANGELIST, {"action": "move_selected", "_selected_action": [day.due.pk, day.later.pk]}
    )
    assert texts(two) == ["日時の変更は1件ずつ選んで行ってください。"]
    one = client.post(CHANGELIST, {"action": "move_selected", "_selected_action": [day.due.pk]})
    assert one["Location"] == url("move", day.due.pk)


def test_bulk_reject_asks_once_for_the_reason(client, day, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    selection = {"action": "reject_selected", "_selected_action": [day.due.pk, day.later.pk]}
    assert client.post(CHANGELIST, selection).status_code == 200
    done = client.post(CHANGELIST, {**selection, "apply": "1", "reason": "定員の都合により"})
    assert done.status_code == 302
    assert set(
        Reservation.objects.filter(pk__in=[day.due.pk, day.later.pk]).values_list(
            "status", flat=True
        )
    ) == {Status.REJECTED}


def test_meeting_creation_can_be_retried(
    client,
    day,
    counselor_user,
    clock,
    fake_zoom,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    Reservation.objects.filter(pk=day.zoom.pk).update(
        meeting_state=MeetingState.FAILED, meeting_error="Zoom 503"
    )
    login(client, counselor_user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST, {"action": "retry_meeting_selected", "_selected_action": [day.zoom.pk]}
        )
    assert (
        f"{day.zoom.reference}（2027年2月16日(火) 10:00）: 会議の作成をもう一度依頼しました。"
        in (texts(response))
    )
    day.zoom.refresh_from_db()
    assert day.zoom.meeting_state == MeetingState.READY
    assert day.zoom.meeting_join_url.startswith("https://zoom.example/j/")
    assert any(day.zoom.meeting_join_url in m.body for m in mail.outbox)


# --- Today's sessions -------------------------------------------------------------------


def test_today_lists_the_sessions_and_the_requests_due(client, day, book, counselor_user, clock):  # noqa: F811
    login(client, counselor_user)
    response = client.get(url("today"))
    assert response.status_code == 200
    context = response.context
    assert [row.reservation.reference for row in context["sessions"]] == [
        day.zoom.reference,
        day.tele.reference,
    ]
    pending = {row.reservation.reference: row for row in context["pending"]}
    assert pending[day.due.reference].due_today
    assert not pending[day.later.reference].due_today
    assert pending[day.late.reference].late
    page = response.content.decode()
    assert "本日中に確定" in page
    assert "期限切れ（確定には理由が必要）" in page
    assert "10:00–10:30" in page
    assert "TeleOffice を開く" in page


def test_today_on_friday_highlights_monday_requests(client, book, counselor_user):  # noqa: F811
    monday = book(tokyo(2027, 2, 22, 10))
    tuesday = book(tokyo(2027, 2, 24, 10))  # 2/23 is a holiday: due on Monday
    with time_machine.travel(tokyo(2027, 2, 19, 9), tick=False):
        login(client, counselor_user)
        pending = {
            row.reservation.reference: row.due_today
            for row in client.get(url("today")).context["pending"]
        }
    assert pending == {monday.reference: True, tuesday.reference: False}


def test_today_flags_sessions_past_ten_minutes_and_shows_zoom_joins(
    client,
    day,
    counselor_user,
    clock,  # noqa: F811
):
    login(client, counselor_user)
    clock.move_to(tokyo(2027, 2, 16, 10, 35))
    # The Zoom webhook saw the seeker of the 10:30 session join.
    services.reservation_mark_attended(
        reservation=day.tele, actor=None, now=tokyo(2027, 2, 16, 10, 29), source="zoom"
    )
    response = client.get(url("today"))
    rows = {row.reservation.reference: row for row in response.context["sessions"]}
    assert rows[day.zoom.reference].overdue
    assert rows[day.zoom.reference].can_no_show
    assert rows[day.tele.reference].joined
    page = response.content.decode()
    assert "開始から10分経過・参加未記録" in page
    assert "Zoom に参加（自動記録）" in page
    assert response.context["overdue_count"] == 1


def test_today_can_show_another_day(client, day, counselor_user, clock):  # noqa: F811
    response = login(client, counselor_user).get(url("today"), {"date": "2027-02-17"})
    assert response.context["title"] == "相談の予定"
    assert response.context["sessions"] == []
    assert client.get(url("today"), {"date": "nonsense"}).status_code == 200


def test_the_start_link_is_fetched_fresh_from_zoom(
    client,
    book,
    counselor_user,
    clock,
    fake_zoom,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(tokyo(2027, 2, 16, 10), confirm=True)
    booking.refresh_from_db()
    assert booking.meeting_state == MeetingState.READY
    login(client, counselor_user)
    response = client.get(url("start", booking.pk))
    assert response.status_code == 302
    assert response["Location"] == f"https://zoom.example/s/{booking.meeting_id}?zak=fresh"

    fake_zoom.fail("get", 503)
    down = client.get(url("start", booking.pk))
    assert down.status_code == 502
    page = down.content.decode()
    assert "Zoom から開始用のリンクを取得できませんでした。" in page
    assert booking.meeting_id in page

    fake_zoom.hang("get", 5)  # longer than ZOOM_TIMEOUT
    slow = client.get(url("start", booking.pk))
    assert slow.status_code == 502
    assert "もう一度お試しください" in slow.content.decode()


def test_no_start_link_without_a_meeting(client, day, counselor_user, clock):  # noqa: F811
    response = login(client, counselor_user).get(url("start", day.tele.pk))
    assert response.status_code == 409
    assert "Zoom の予約ではありません" in response.content.decode()


# --- Book the next session --------------------------------------------------------------


def next_form(terms_id: int, **overrides: object) -> dict:
    from consent.models import ENVIRONMENT_ITEMS

    data: dict = {
        "slot": "2027-03-02T10:00",
        "platform": "zoom",
        "mark_source_attended": "on",
        "confirm": "on",
        "terms_version": terms_id,
        "terms_read": "on",
        "platform_terms": "on",
        **{f"item_{key}": "on" for key in ENVIRONMENT_ITEMS},
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def test_book_the_next_session_during_a_session(client, day, terms, counselor_user, clock):  # noqa: F811
    clock.move_to(tokyo(2027, 2, 16, 10, 20))
    login(client, counselor_user)
    form = client.get(url("book_next", day.zoom.pk)).context["form"]
    assert form["mark_source_attended"].initial is True
    response = client.post(url("book_next", day.zoom.pk), next_form(terms.pk))
    new = Reservation.objects.exclude(pk__in=[r.pk for r in vars(day).values()]).get()
    assert response["Location"] == url("change", new.pk)
    assert (new.name, new.email, new.seeker_number, new.status) == (
        day.zoom.name,
        day.zoom.email,
        day.zoom.seeker_number,
        Status.CONFIRMED,
    )
    assert new.slot.starts_at == tokyo(2027, 3, 2, 10)
    consent = new.consents.get()
    assert (consent.method, consent.recorded_by, consent.terms_version) == (
        ConsentMethod.VERBAL,
        counselor_user,
        terms,
    )
    day.zoom.refresh_from_db()
    assert day.zoom.status == Status.ATTENDED
    assert new.events.filter(kind=EventKind.NOTE, details__booked_from=day.zoom.reference)
    assert day.zoom.events.filter(kind=EventKind.NOTE, details__next_reservation=new.reference)


def test_booking_the_next_session_refuses_and_changes_nothing(
    client,
    day,
    terms,
    counselor_user,
    clock,  # noqa: F811
):
    clock.move_to(tokyo(2027, 2, 16, 10, 20))
    login(client, counselor_user)
    before = snapshot()
    missing_item = client.post(
        url("book_next", day.zoom.pk), next_form(terms.pk, item_firewall=None)
    )
    assert missing_item.context["form"].errors["item_firewall"] == ["このフィールドは必須です。"]

    no_link = client.post(url("book_next", day.zoom.pk), next_form(terms.pk, platform="teleoffice"))
    assert no_link.context["form"].errors["meeting_url"]

    # Without recording this session, the person still holds it: the limit refuses.
    limit = client.post(
        url("book_next", day.zoom.pk), next_form(terms.pk, mark_source_attended=None)
    )
    assert limit.status_code == 200
    assert "すでに有効な予約があります" in str(limit.context["form"].errors["slot"])
    assert snapshot() == before


def test_the_next_session_can_stay_a_request(client, day, terms, counselor_user, clock):  # noqa: F811
    clock.move_to(tokyo(2027, 2, 16, 10, 40))
    login(client, counselor_user)
    services.reservation_mark_attended(reservation=day.tele, actor=counselor_user)
    client.post(
        url("book_next", day.tele.pk),
        next_form(terms.pk, confirm=None, platform="teleoffice", mark_source_attended=None),
    )
    new = Reservation.objects.get(slot__starts_at=tokyo(2027, 3, 2, 10))
    assert (new.status, new.platform) == (Status.REQUESTED, "teleoffice")


# --- Office settings --------------------------------------------------------------------


def office_form(office, windows: list[tuple[int, str, str, int]], **fields: object) -> dict:
    existing = list(office.windows.order_by("id"))
    data: dict = {
        "name": office.name,
        "name_en": office.name_en,
        "prefecture": office.prefecture,
        "phone": office.phone,
        "email": office.email,
        "address": office.address,
        "address_en": office.address_en,
        "accepting_bookings": "on",
        "closing_time": "17:00",
        "horizon_days": office.horizon_days,
        "max_active_bookings": office.max_active_bookings,
        "max_seeker_moves": office.max_seeker_moves,
        "no_show_threshold": office.no_show_threshold,
        "no_show_window_days": office.no_show_window_days,
        "waitlist_max_entries": office.waitlist_max_entries,
        "waitlist_offer_minutes": office.waitlist_offer_minutes,
        "windows-TOTAL_FORMS": len(windows),
        "windows-INITIAL_FORMS": len(existing),
        "windows-MIN_NUM_FORMS": 0,
        "windows-MAX_NUM_FORMS": 1000,
    }
    for index, (weekday, start, end, capacity) in enumerate(windows):
        prefix = f"windows-{index}"
        data.update(
            {
                f"{prefix}-weekday": weekday,
                f"{prefix}-start_time": start,
                f"{prefix}-end_time": end,
                f"{prefix}-capacity": capacity,
                f"{prefix}-office": office.pk,
            }
        )
        if index < len(existing):
            data[f"{prefix}-id"] = existing[index].pk
    data.update(fields)
    return data


def current_windows(office) -> list[tuple[int, str, str, int]]:
    return [
        (w.weekday, f"{w.start_time:%H:%M}", f"{w.end_time:%H:%M}", w.capacity)
        for w in office.windows.order_by("id")
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ((0, "11:00", "13:00", 1), "の時間帯と重なっています。"),
        ((5, "10:00", "12:00", 1), "土曜日・日曜日は閉庁日のため、時間帯を設定できません。"),
        ((0, "16:30", "16:00", 1), "終了時刻は開始時刻より後にしてください。"),
        ((0, "16:30", "16:45", 1), "少なくとも相談1回分（30分）の長さにしてください。"),
        ((0, "16:30", "17:45", 1), "相談時間（30分）の倍数にしてください。"),
    ],
)
def test_office_windows_are_checked(change, message, client, office, supervisor_user, clock):  # noqa: F811
    login(client, supervisor_user)
    before = current_windows(office)
    response = client.post(
        f"/admin/reservations/office/{office.pk}/change/",
        office_form(office, [*before, change]),
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert current_windows(office) == before


def test_a_window_can_be_split_in_one_save(client, office, supervisor_user, clock):  # noqa: F811
    login(client, supervisor_user)
    windows = current_windows(office)
    windows[0] = (0, "10:00", "11:00", 1)
    response = client.post(
        f"/admin/reservations/office/{office.pk}/change/",
        office_form(office, [*windows, (0, "11:00", "12:00", 2)]),
    )
    assert response.status_code == 302
    monday = SessionWindow.objects.filter(office=office, weekday=0).order_by("start_time")
    assert [(w.start_time, w.end_time, w.capacity) for w in monday] == [
        (time(10), time(11), 1),
        (time(11), time(12), 2),
        (time(14), time(16), 1),
    ]


def test_office_settings_are_saved_and_previewed(client, office, book, supervisor_user, clock):  # noqa: F811
    book(tokyo(2027, 2, 17, 10))
    Closure.objects.create(office=office, date=date(2027, 2, 25), reason="研修")
    login(client, supervisor_user)
    windows = current_windows(office)
    windows[0] = (0, "09:30", "12:00", 2)  # Monday mornings: from 9:30, two counselors
    response = client.post(
        f"/admin/reservations/office/{office.pk}/change/",
        office_form(office, windows, horizon_days=21, max_active_bookings=2),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    office.refresh_from_db()
    assert (office.horizon_days, office.max_active_bookings) == (21, 2)
    monday = SessionWindow.objects.get(office=office, weekday=0, start_time=time(9, 30))
    assert monday.capacity == 2

    page = client.get(f"/admin/reservations/office/{office.pk}/change/").content.decode()
    assert "2月22日(月)" in page and "09:30 0/2" in page
    assert "10:00 1/1" in page  # Wednesday's booking
    assert "祝日（天皇誕生日）" in page
    assert "休業日（研修）" in page
    assert "土日（閉庁日）" in page


def test_closures_and_capacity_are_checked(client, office, book, supervisor_user, clock):  # noqa: F811
    book(tokyo(2027, 2, 18, 10))
    login(client, supervisor_user)
    past = client.post(
        "/admin/reservations/closure/add/",
        {"office": office.pk, "date": "2027-02-10", "reason": "x"},
    )
    assert "過去の日付は休業日にできません。" in past.content.decode()
    saved = client.post(
        "/admin/reservations/closure/add/",
        {"office": office.pk, "date": "2027-02-18", "reason": "停電"},
        follow=True,
    )
    assert Closure.objects.filter(date=date(2027, 2, 18)).exists()
    assert any("有効な予約が1件あります" in str(m) for m in saved.context["messages"])

    wrong = client.post(
        "/admin/reservations/capacityoverride/add/",
        {"office": office.pk, "date": "2027-02-19", "start_time": "10:15", "capacity": 2},
    )
    assert "この日の枠の開始時刻から選んでください" in wrong.content.decode()
    weekend = client.post(
        "/admin/reservations/capacityoverride/add/",
        {"office": office.pk, "date": "2027-02-20", "start_time": "10:00", "capacity": 2},
    )
    assert "この日は相談を行わない日です。" in weekend.content.decode()
    client.post(
        "/admin/reservations/capacityoverride/add/",
        {"office": office.pk, "date": "2027-02-19", "start_time": "10:00", "capacity": 3},
    )
    assert CapacityOverride.objects.get(date=date(2027, 2, 19)).capacity == 3


# --- Restrictions -----------------------------------------------------------------------


def test_a_supervisor_restricts_and_lifts(
    client,
    office,
    supervisor_user,
    counselor_user,
    consent_given,
    clock,  # noqa: F811
):
    login(client, supervisor_user)
    response = client.post(
        "/admin/reservations/restriction/add/",
        {"office": office.pk, "seeker_number": "１００４０－１２３", "reason": "暴言があったため"},
    )
    assert response.status_code == 302
    restriction = Restriction.objects.get()
    assert (restriction.seeker_number, restriction.created_by, restriction.source) == (
        "10040-123",
        supervisor_user,
        RestrictionSource.MANUAL,
    )
    with pytest.raises(services.Restricted):
        services.reservation_request(
            office=office,
            slot_start=tokyo(2027, 2, 18, 10),
            name="山田 花子",
            email="hanako@example.jp",
            seeker_number="10040-123",
            consent=consent_given(),
        )
    assert (
        client.post("/admin/reservations/restriction/add/", {"office": office.pk, "reason": "x"})
        .context["adminform"]
        .form.errors
    )

    # A counselor can look it up but not lift it.
    counselor = login(Client(), counselor_user)
    lift = reverse("admin:reservations_restriction_lift", args=[restriction.pk])
    assert (
        counselor.get(f"/admin/reservations/restriction/{restriction.pk}/change/").status_code
        == 200
    )
    assert counselor.post(lift).status_code == 403
    restriction.refresh_from_db()
    assert restriction.lifted_at is None

    client.post(lift)
    restriction.refresh_from_db()
    assert (restriction.lifted_at, restriction.lifted_by) == (TODAY, supervisor_user)


def test_automatic_restrictions_show_their_no_shows(client, office, book, supervisor_user):  # noqa: F811
    first = book(
        tokyo(2027, 2, 16, 10),
        confirm=True,
        email="same@example.jp",
        seeker_number="",
        about_to_register=True,
    )
    services.reservation_mark_no_show(reservation=first, actor=None, now=tokyo(2027, 2, 16, 10, 11))
    second = book(
        tokyo(2027, 2, 18, 10),
        confirm=True,
        email="same@example.jp",
        seeker_number="",
        about_to_register=True,
        requested_at=tokyo(2027, 2, 16, 12),
    )
    services.reservation_mark_no_show(
        reservation=second, actor=None, now=tokyo(2027, 2, 18, 10, 11)
    )
    restriction = Restriction.objects.get(source=RestrictionSource.NO_SHOW_THRESHOLD)
    login(client, supervisor_user)
    listing = client.get("/admin/reservations/restriction/")
    assert listing.context["cl"].result_list[0].no_shows == 2
    page = client.get(f"/admin/reservations/restriction/{restriction.pk}/change/").content.decode()
    assert "次の不参加により自動で登録されました" in page
    assert first.reference in page and second.reference in page


# --- Logging in -------------------------------------------------------------------------


def test_the_sixth_login_attempt_after_five_failures_is_locked(client, counselor_user):  # noqa: F811
    for _attempt in range(5):
        client.post(
            "/admin/login/?next=/admin/", {"username": "sodan", "password": "not-the-password"}
        )
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "sodan", "password": PASSWORD}
    )
    assert response.status_code == 429
    assert "ログインを一時的に停止しています" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_good_login_still_works_after_a_typo(client, counselor_user):  # noqa: F811
    client.post("/admin/login/?next=/admin/", {"username": "sodan", "password": "typo"})
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "sodan", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_staff_passwords_are_validated(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password=PASSWORD)
    login(client, admin)
    weak = client.post(
        "/admin/auth/user/add/",
        {
            "username": "new-counselor",
            "usable_password": "true",
            "password1": "12345678",
            "password2": "12345678",
        },
    )
    assert weak.status_code == 200
    page = weak.content.decode()
    assert "このパスワードは短すぎます。最低 12 文字以上必要です。" in page
    assert not django_user_model.objects.filter(username="new-counselor").exists()


def test_the_admin_speaks_japanese_and_names_the_office(client, office, counselor_user):  # noqa: F811
    page = client.get("/admin/login/").content.decode()
    assert '<html lang="ja"' in page
    assert "ハローワーク伊勢崎" in page
    index = login(client, counselor_user).get("/admin/").content.decode()
    assert "本日の相談を開く" in index
    assert "ハローワーク伊勢崎" in index
    assert Permission.objects.filter(codename="export_reservation").exists()


# --- The service behind "book the next session" -----------------------------------------


def book_next(source: Reservation, actor, terms, **overrides: object) -> Reservation:  # noqa: ANN001
    from consent.models import ENVIRONMENT_ITEMS

    values: dict = {
        "source_reservation": source,
        "slot_start": tokyo(2027, 3, 2, 10),
        "actor": actor,
        "terms_version_id": terms.pk,
        "platform_terms_accepted": True,
        "confirmed_items": set(ENVIRONMENT_ITEMS),
        "mark_source_attended": True,
        "confirm": True,
        "now": tokyo(2027, 2, 16, 10, 20),
    }
    values.update(overrides)
    return services.reservation_book_next(**values)


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"platform": "teleoffice"}, "meeting_url_required"),  # refused at the very end
        ({"confirmed_items": {"camera"}}, "consent"),
        ({"terms_version_id": 0}, "terms_changed"),
        ({"slot_start": tokyo(2027, 3, 2, 10, 15)}, "not_a_slot"),
    ],
)
def test_a_refused_next_booking_changes_nothing(overrides, code, day, terms, counselor_user):  # noqa: F811
    before = snapshot()
    with pytest.raises(services.ReservationError) as refusal:
        book_next(day.zoom, counselor_user, terms, **overrides)
    assert refusal.value.code == code
    assert snapshot() == before  # not even the attendance of the current session


def test_the_next_booking_needs_a_session_that_took_place(day, terms, counselor_user):  # noqa: F811
    before = snapshot()
    with pytest.raises(services.ReservationError) as refusal:
        book_next(day.due, counselor_user, terms)
    assert refusal.value.code == "source_status"
    assert snapshot() == before


def test_the_next_booking_reuses_the_persons_details(day, book, terms, counselor_user):  # noqa: F811
    source = book(
        tokyo(2027, 2, 16, 11),
        confirm=True,
        phone="090-1111-2222",
        companion="interpreter",
        companion_language="ポルトガル語",
        language="en",
    )
    new = book_next(source, counselor_user, terms, now=tokyo(2027, 2, 16, 11, 5))
    assert (new.phone, new.companion, new.companion_language, new.language) == (
        "090-1111-2222",
        "interpreter",
        "ポルトガル語",
        "en",
    )
    assert new.person_key == source.person_key
    assert new.events.get(kind=EventKind.STATUS, to_status=Status.REQUESTED).actor == counselor_user


@pytest.mark.parametrize("raw", ["9999-12-31", "0001-01-01", "2026-02-30"])
def test_today_ignores_dates_out_of_range(client, counselor_user, raw):
    response = login(client, counselor_user).get(url("today"), {"date": raw})
    assert response.status_code == 200


@pytest.mark.parametrize("object_id", ["abc", "99999999999999999999", "-1", "1.5"])
@pytest.mark.parametrize("page", ["move", "book-next", "start", "act/confirm"])
def test_malformed_booking_ids_are_not_found_not_errors(client, counselor_user, object_id, page):
    response = login(client, counselor_user).get(
        f"/admin/reservations/reservation/{object_id}/{page}/"
    )
    assert response.status_code in (302, 404)


def test_a_supervisor_sets_the_english_name_and_address(client, office, supervisor_user):  # noqa: F811
    login(client, supervisor_user)
    response = client.post(
        f"/admin/reservations/office/{office.pk}/change/",
        office_form(
            office,
            current_windows(office),
            name_en="Hello Work Isesaki",
            address_en="1-2-3 Example, Isesaki, Gunma",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    office.refresh_from_db()
    assert (office.name_en, office.address_en) == (
        "Hello Work Isesaki",
        "1-2-3 Example, Isesaki, Gunma",
    )
    assert office.accepting_bookings
