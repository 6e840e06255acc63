"""Staff of office A never reach office B: by list, search, filter, direct URL, POST, action,
CSV export, autocomplete, statistics or the switcher (rule 15).

A counselor and a supervisor of ハローワーク伊勢崎 (A) against every kind of record of
ハローワーク太田 (B): no B name, email, 求職番号, reference or staff name in any response body
or CSV, 404 for direct access (403 only where the user lacks the page's permission
altogether), and the database unchanged. A superuser does see B: the checks can fail.
"""

from __future__ import annotations

import csv
import io
from datetime import date, time, timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from consent.models import ENVIRONMENT_ITEMS, Consent, TermsVersion
from consent.services import ConsentGiven
from reservations import services
from reservations.models import (
    CapacityOverride,
    Closure,
    Counselor,
    DutyException,
    DutyExceptionKind,
    DutyWindow,
    Office,
    OutgoingEmail,
    Reservation,
    Restriction,
    SessionWindow,
    StaffMembership,
    StaffRole,
    ZoomMeeting,
)
from tests.admin_support import (  # noqa: F401 - fixtures
    PASSWORD,
    counselor_user,
    staff_groups,
    supervisor_user,
)

B_NAME = "太田 秘密子"
B_EMAIL = "himitsu-b@example.jp"
B_NUMBER = "99999-8888888"
B_RESTRICTED_NUMBER = "99999-7777777"
B_RESTRICTED_EMAIL = "restricted-b@example.jp"
B_STAFF = "ota-counselor"
B_STAFF_NAME = "太田職員"
B_CLOSURE = "太田だけの休業日"
B_MEETING = "98765432101"
B_OFFICE = "ハローワーク太田"
B_COUNSELOR = "太田 担当子"
B_ZOOM_USER = "ota-zoom@example.jp"
B_LEAVE = "太田の研修"
B_WAITING = "太田 待ち子"
B_WAITING_EMAIL = "waiting-b@example.jp"


def copy_office(source: Office, *, name: str, slug: str) -> Office:
    """Another office with the same windows and a published copy of the terms."""
    office = Office.objects.create(
        name=name, slug=slug, phone="0276-46-8609", max_active_bookings=2
    )
    SessionWindow.objects.bulk_create(
        SessionWindow(
            office=office,
            weekday=w.weekday,
            start_time=w.start_time,
            end_time=w.end_time,
            capacity=w.capacity,
        )
        for w in source.windows.all()
    )
    terms = TermsVersion.objects.filter(office=source, published_at__isnull=False).first()
    TermsVersion.objects.create(
        office=office,
        version=terms.version,
        title=terms.title,
        body=terms.body,
        issued_label=terms.issued_label,
        issuer=terms.issuer,
        effective_date=terms.effective_date,
        content_hash=terms.content_hash,
        published_at=terms.published_at,
    )
    return office


def book_at(office: Office, start, *, name: str, email: str, number: str) -> Reservation:  # noqa: ANN001
    terms = TermsVersion.objects.filter(office=office, published_at__isnull=False).first()
    return services.reservation_request(
        office=office,
        slot_start=start,
        consent=ConsentGiven(
            terms_version_id=terms.pk,
            platform_terms_accepted=True,
            confirmed_items=frozenset(ENVIRONMENT_ITEMS),
            ip_address="192.0.2.77",
            user_agent="pytest",
            language="ja",
        ),
        now=timezone.now(),
        name=name,
        email=email,
        seeker_number=number,
        platform="zoom",
    )


@pytest.fixture
def office_b(office, terms, staff_groups, django_user_model, next_slot):  # noqa: F811
    """Office B with a booking of each kind, its staff, and every record the admin shows."""
    b = copy_office(office, name=B_OFFICE, slug="ota")
    staff = django_user_model.objects.create_user(
        username=B_STAFF, password=PASSWORD, is_staff=True, first_name=B_STAFF_NAME
    )
    staff.groups.add(Group.objects.get(name="管理者"))
    StaffMembership.objects.create(user=staff, office=b, role=StaffRole.SUPERVISOR)
    requested = book_at(b, next_slot(0), name=B_NAME, email=B_EMAIL, number=B_NUMBER)
    confirmed = book_at(b, next_slot(1), name=B_NAME, email=B_EMAIL, number=B_NUMBER)
    services.reservation_confirm(reservation=confirmed, actor=staff)
    restriction = services.restriction_create(
        office=b,
        reason="太田での不参加",
        actor=staff,
        seeker_number=B_RESTRICTED_NUMBER,
        email=B_RESTRICTED_EMAIL,
    )
    day = timezone.localdate() + timedelta(days=40)
    closure = Closure.objects.create(office=b, date=day, reason=B_CLOSURE)
    override = CapacityOverride.objects.create(
        office=b, date=day + timedelta(days=1), start_time=next_slot(0).time(), capacity=3
    )
    draft = TermsVersion.objects.create(
        office=b,
        version="2099-01-01",
        title="太田の新しい規約",
        body="第1条 太田の本文",
        issued_label="令和81年1月1日",
        issuer=B_OFFICE,
        effective_date=date(2099, 1, 1),
    )
    meeting = ZoomMeeting.objects.create(
        reservation=confirmed, state="active", meeting_id=B_MEETING, requested_at=timezone.now()
    )
    AccessAttempt.objects.create(
        username=B_STAFF, ip_address="192.0.2.99", user_agent="x", failures_since_start=1
    )
    # Someone on the full slot's waiting list; B's counselor, their duty and a leave.
    waiting = services.waitlist_join(
        office=b,
        slot_start=confirmed.slot.starts_at,
        name=B_WAITING,
        email=B_WAITING_EMAIL,
        seeker_number="99999-6666666",
        now=timezone.now(),
    )
    counselor = Counselor.objects.create(
        office=b, user=staff, display_name=B_COUNSELOR, zoom_user=B_ZOOM_USER
    )
    duty = DutyWindow.objects.create(
        counselor=counselor, weekday=0, start_time=time(10), end_time=time(12)
    )
    leave = DutyException.objects.create(
        counselor=counselor, date=day, kind=DutyExceptionKind.TRAINING, note=B_LEAVE
    )
    return {
        "counselor": counselor,
        "duty": duty,
        "leave": leave,
        "waiting": waiting,
        "office": b,
        "staff": staff,
        "requested": requested,
        "confirmed": confirmed,
        "restriction": restriction,
        "closure": closure,
        "override": override,
        "draft": draft,
        "terms": TermsVersion.objects.get(office=b, version=terms.version),
        "email": OutgoingEmail.objects.filter(reservation__office=b).first(),
        "meeting": meeting,
        "consent": Consent.objects.filter(reservation=requested).first(),
        "membership": StaffMembership.objects.get(user=staff),
        "attempt": AccessAttempt.objects.get(username=B_STAFF),
    }


@pytest.fixture
def a_booking(office, next_slot):
    return book_at(
        office, next_slot(2), name="伊勢崎 花子", email="a@example.jp", number="10040-1234567"
    )


def markers(b: dict) -> list[str]:
    return [
        B_NAME,
        B_EMAIL,
        B_NUMBER,
        B_RESTRICTED_NUMBER,
        B_RESTRICTED_EMAIL,
        B_STAFF,
        B_STAFF_NAME,
        B_CLOSURE,
        B_MEETING,
        B_OFFICE,
        B_COUNSELOR,
        B_ZOOM_USER,
        B_LEAVE,
        B_WAITING,
        B_WAITING_EMAIL,
        "99999-6666666",
        b["requested"].reference,
        b["confirmed"].reference,
        "太田の新しい規約",
    ]


def leaks(body: str, b: dict) -> list[str]:
    return [marker for marker in markers(b) if marker in body]


def snapshot(b: dict) -> dict:
    """Everything of B that a page could change."""
    office = b["office"]
    return {
        "office": Office.objects.filter(pk=office.pk).values().first(),
        "bookings": list(
            Reservation.objects.filter(office=office)
            .order_by("pk")
            .values_list("pk", "status", "slot__starts_at", "meeting_state")
        ),
        "events": Reservation.objects.filter(office=office).values("events").count(),
        "restrictions": list(
            Restriction.objects.filter(office=office).values_list("pk", "lifted_at", "ends_at")
        ),
        "closures": list(Closure.objects.filter(office=office).values_list("pk", "date", "reason")),
        "overrides": list(
            CapacityOverride.objects.filter(office=office).values_list("pk", "capacity")
        ),
        "terms": list(
            TermsVersion.objects.filter(office=office).values_list("pk", "published_at", "body")
        ),
        "emails": list(
            OutgoingEmail.objects.filter(reservation__office=office).values_list(
                "pk", "status", "attempts"
            )
        ),
        "memberships": list(
            StaffMembership.objects.filter(office=office).values_list("pk", "user_id", "role")
        ),
        "attempts": list(AccessAttempt.objects.values_list("pk", "username")),
        "windows": office.windows.count(),
    }


@pytest.fixture(params=["counselor", "supervisor"])
def staff_a(request, counselor_user, supervisor_user):  # noqa: F811
    user = counselor_user if request.param == "counselor" else supervisor_user
    client = Client()
    client.force_login(user)
    return request.param, client


# --- Lists, searches, filters, add pages, custom pages ----------------------------------


def list_urls(b: dict) -> list[str]:
    office = b["office"].pk
    ref = b["requested"].reference
    return [
        "/admin/",
        "/admin/reservations/reservation/?day=all",
        f"/admin/reservations/reservation/?q={B_NAME}",
        f"/admin/reservations/reservation/?q={B_NUMBER}",
        f"/admin/reservations/reservation/?q={B_EMAIL}",
        f"/admin/reservations/reservation/?q={ref.lower()}",
        "/admin/reservations/reservation/today/",
        f"/admin/reservations/reservation/today/?date={b['requested'].slot.starts_at.date()}",
        f"/admin/reservations/reservation/today/?date={b['confirmed'].slot.starts_at.date()}",
        "/admin/reservations/reservation/statistics/",
        "/admin/reservations/restriction/",
        f"/admin/reservations/restriction/?q={B_RESTRICTED_NUMBER}",
        f"/admin/reservations/restriction/?q={B_RESTRICTED_EMAIL}",
        "/admin/reservations/restriction/add/",
        "/admin/reservations/closure/",
        f"/admin/reservations/closure/?office__id__exact={office}",
        "/admin/reservations/closure/add/",
        "/admin/reservations/capacityoverride/",
        "/admin/reservations/capacityoverride/add/",
        "/admin/reservations/office/",
        "/admin/reservations/outgoingemail/",
        f"/admin/reservations/outgoingemail/?q={ref}",
        "/admin/reservations/zoommeeting/",
        f"/admin/reservations/zoommeeting/?q={B_MEETING}",
        "/admin/reservations/staffmembership/",
        f"/admin/reservations/staffmembership/?q={B_STAFF}",
        "/admin/reservations/staffmembership/add/",
        "/admin/consent/consent/",
        f"/admin/consent/consent/?q={ref}",
        "/admin/consent/termsversion/",
        f"/admin/consent/termsversion/?office__id__exact={office}",
        "/admin/consent/termsversion/add/",
        "/admin/consent/termschangenotice/",
        "/admin/axes/accessattempt/",
        "/admin/reservations/counselor/",
        f"/admin/reservations/counselor/?q={B_COUNSELOR}",
        "/admin/reservations/counselor/rota/",
        "/admin/reservations/reservation/mine/",
        "/admin/reservations/waitlistentry/",
        f"/admin/reservations/waitlistentry/?q={B_WAITING}",
        f"/admin/autocomplete/?app_label=reservations&model_name=closure&field_name=office&term={B_OFFICE}",
    ]


def test_no_list_search_filter_or_page_shows_anything_of_b(staff_a, office_b, a_booking):
    role, client = staff_a
    before = snapshot(office_b)
    shown = 0
    for url in list_urls(office_b):
        response = client.get(url)
        # No admin offers an autocomplete; asking for one anyway is refused (403/404).
        allowed = (200, 403, 404) if "autocomplete" in url else (200, 403)
        assert response.status_code in allowed, (role, url, response.status_code)
        body = response.content.decode()
        if "q=" in url:  # the search box shows what was typed: that is not B's data
            body = body.replace(url.partition("q=")[2], "")
        assert not leaks(body, office_b), (role, url, leaks(body, office_b))
        shown += response.status_code == 200
    # The pages are really there (not all refused): the index, the list, today, ...
    assert shown >= (8 if role == "counselor" else 25)
    assert snapshot(office_b) == before


def test_a_superuser_sees_b_so_the_checks_can_fail(office_b, django_user_model):
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = Client()
    client.force_login(root)
    body = client.get(f"/admin/reservations/reservation/?q={B_NUMBER}").content.decode()
    assert B_NAME in body
    body = client.get("/admin/reservations/restriction/").content.decode()
    assert B_RESTRICTED_NUMBER in body
    body = client.get("/admin/reservations/counselor/").content.decode()
    assert B_COUNSELOR in body
    body = client.get("/admin/reservations/waitlistentry/").content.decode()
    assert B_WAITING in body


def test_the_lists_still_show_a(staff_a, office_b, a_booking):
    _role, client = staff_a
    body = client.get("/admin/reservations/reservation/?day=all").content.decode()
    assert "伊勢崎 花子" in body


# --- Direct URLs ------------------------------------------------------------------------


def direct_urls(b: dict) -> list[str]:
    r, c = b["requested"].pk, b["confirmed"].pk
    return [
        f"/admin/reservations/reservation/{r}/change/",
        f"/admin/reservations/reservation/{r}/history/",
        f"/admin/reservations/reservation/{r}/delete/",
        f"/admin/reservations/reservation/{r}/act/confirm/",
        f"/admin/reservations/reservation/{r}/act/reject/",
        f"/admin/reservations/reservation/{c}/act/cancel/",
        f"/admin/reservations/reservation/{c}/move/",
        f"/admin/reservations/reservation/{c}/book-next/",
        f"/admin/reservations/reservation/{c}/start/",
        f"/admin/reservations/restriction/{b['restriction'].pk}/change/",
        f"/admin/reservations/closure/{b['closure'].pk}/change/",
        f"/admin/reservations/closure/{b['closure'].pk}/delete/",
        f"/admin/reservations/capacityoverride/{b['override'].pk}/change/",
        f"/admin/reservations/office/{b['office'].pk}/change/",
        f"/admin/reservations/outgoingemail/{b['email'].pk}/change/",
        f"/admin/reservations/zoommeeting/{b['meeting'].pk}/change/",
        f"/admin/reservations/staffmembership/{b['membership'].pk}/change/",
        f"/admin/consent/consent/{b['consent'].pk}/change/",
        f"/admin/consent/termsversion/{b['draft'].pk}/change/",
        f"/admin/consent/termsversion/{b['draft'].pk}/preview/",
        f"/admin/consent/termsversion/{b['draft'].pk}/publish/",
        f"/admin/consent/termsversion/{b['terms'].pk}/change/",
        f"/admin/axes/accessattempt/{b['attempt'].pk}/change/",
        f"/admin/reservations/counselor/{b['counselor'].pk}/change/",
        f"/admin/reservations/waitlistentry/{b['waiting'].pk}/change/",
        f"/admin/reservations/reservation/{c}/reassign/",
        f"/admin/reservations/reservation/statistics/?office={b['office'].pk}",
        f"/admin/reservations/reservation/statistics/?office={b['office'].pk}&download=csv",
    ]


def test_direct_urls_for_b_are_not_found(staff_a, office_b):
    role, client = staff_a
    before = snapshot(office_b)
    for url in direct_urls(office_b):
        response = client.get(url)
        # 404 whenever the user may open such a page at all; a page of a kind they may
        # never open (a counselor and the office settings; anyone and deleting a booking)
        # is 403 for every record alike.
        never = url.endswith("/delete/") and "/reservation/" in url
        expected = (404,) if role == "supervisor" and not never else (403, 404)
        assert response.status_code in expected, (role, url, response.status_code)
        assert not leaks(response.content.decode(), office_b), (role, url)
    assert snapshot(office_b) == before


# --- POSTs: actions, buttons, forms ----------------------------------------------------


def posts(b: dict) -> list[tuple[str, dict]]:
    r, c = b["requested"].pk, b["confirmed"].pk
    office = b["office"].pk

    def action(model: str, name: str, *pks: int) -> tuple[str, dict]:
        return (
            f"/admin/{model}/",
            {
                "action": name,
                "_selected_action": [str(pk) for pk in pks],
                "apply": "1",
                "reason": "電話で",
                "index": "0",
            },
        )

    return [
        action("reservations/reservation", "confirm_selected", r),
        action("reservations/reservation", "reject_selected", r),
        action("reservations/reservation", "cancel_selected", c),
        action("reservations/reservation", "attended_selected", c),
        action("reservations/reservation", "no_show_selected", c),
        action("reservations/reservation", "retry_meeting_selected", c),
        action("reservations/reservation", "move_selected", c),
        action("reservations/reservation", "export_selected", r, c),
        action("reservations/restriction", "lift_selected", b["restriction"].pk),
        action("reservations/closure", "delete_selected", b["closure"].pk),
        action("reservations/capacityoverride", "delete_selected", b["override"].pk),
        action("reservations/outgoingemail", "resend_selected", b["email"].pk),
        action("reservations/staffmembership", "delete_selected", b["membership"].pk),
        action("consent/consent", "export_csv", b["consent"].pk),
        action("consent/termsversion", "publish_selected", b["draft"].pk),
        action("consent/termsversion", "delete_selected", b["draft"].pk),
        action("axes/accessattempt", "delete_selected", b["attempt"].pk),
        (f"/admin/reservations/reservation/{r}/act/confirm/", {}),
        (f"/admin/reservations/reservation/{r}/act/reject/", {"reason": "満席"}),
        (f"/admin/reservations/reservation/{c}/act/cancel/", {"reason": "電話で"}),
        (f"/admin/reservations/reservation/{c}/act/no_show/", {}),
        (f"/admin/reservations/reservation/{c}/move/", {"new_start": "x", "reason": "y"}),
        (f"/admin/reservations/reservation/{c}/book-next/", {}),
        (f"/admin/reservations/restriction/{b['restriction'].pk}/lift/", {}),
        (
            f"/admin/reservations/closure/{b['closure'].pk}/change/",
            {"office": office, "date": "2099-01-05", "reason": "x"},
        ),
        (f"/admin/reservations/closure/{b['closure'].pk}/delete/", {"post": "yes"}),
        (f"/admin/reservations/capacityoverride/{b['override'].pk}/delete/", {"post": "yes"}),
        (f"/admin/reservations/office/{b['office'].pk}/change/", {"name": "x", "phone": "1"}),
        (
            f"/admin/reservations/staffmembership/{b['membership'].pk}/change/",
            {"role": "counselor"},
        ),
        (f"/admin/reservations/staffmembership/{b['membership'].pk}/delete/", {"post": "yes"}),
        (f"/admin/consent/termsversion/{b['draft'].pk}/change/", {"body": "変更"}),
        (f"/admin/consent/termsversion/{b['draft'].pk}/publish/", {}),
        (f"/admin/axes/accessattempt/{b['attempt'].pk}/delete/", {"post": "yes"}),
        ("/admin/office/", {"office": office}),
    ]


def test_posts_for_b_are_not_found_and_change_nothing(staff_a, office_b, a_booking):
    role, client = staff_a
    before = snapshot(office_b)
    for url, data in posts(office_b):
        response = client.post(url, data)
        expected = (404,) if role == "supervisor" else (403, 404)
        assert response.status_code in expected, (role, url, data.get("action"), response)
        assert not leaks(response.content.decode(), office_b), (role, url)
    assert snapshot(office_b) == before
    assert Reservation.objects.get(pk=a_booking.pk).status == a_booking.status


def test_mixing_a_and_b_in_an_action_is_not_found(supervisor_user, office_b, a_booking):  # noqa: F811
    client = Client()
    client.force_login(supervisor_user)
    before = snapshot(office_b)
    response = client.post(
        "/admin/reservations/reservation/",
        {
            "action": "confirm_selected",
            "_selected_action": [str(a_booking.pk), str(office_b["requested"].pk)],
            "index": "0",
        },
    )
    assert response.status_code == 404
    assert Reservation.objects.get(pk=a_booking.pk).status == a_booking.status
    assert snapshot(office_b) == before


def test_csv_exports_hold_only_a(supervisor_user, office_b, a_booking):  # noqa: F811
    client = Client()
    client.force_login(supervisor_user)
    response = client.post(
        "/admin/reservations/reservation/?day=all",
        {"action": "export_selected", "_selected_action": [str(a_booking.pk)], "index": "0"},
    )
    body = response.content.decode("utf-8")
    assert response["Content-Type"].startswith("text/csv")
    assert "伊勢崎 花子" in body
    assert not leaks(body, office_b)
    consent = Consent.objects.get(reservation=a_booking)
    response = client.post(
        "/admin/consent/consent/",
        {"action": "export_csv", "_selected_action": [str(consent.pk)], "index": "0"},
    )
    body = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == 2 and rows[1][1] == a_booking.reference
    assert not leaks(body, office_b)


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/admin/reservations/closure/add/", {"date": "2099-01-05", "reason": "x"}),
        (
            "/admin/reservations/capacityoverride/add/",
            {"date": "2099-01-05", "start_time": "10:00", "capacity": "2"},
        ),
        ("/admin/reservations/restriction/add/", {"seeker_number": "5-5", "reason": "x"}),
        (
            "/admin/consent/termsversion/add/",
            {
                "version": "v9",
                "effective_date": "2099-02-01",
                "title": "t",
                "body": "第1条 x",
                "issued_label": "x",
                "issuer": "x",
            },
        ),
        (
            "/admin/reservations/staffmembership/add/",
            {"username": "newbie", "password": "a-long-password-2027", "role": "counselor"},
        ),
    ],
)
def test_a_new_record_for_b_is_refused_next_to_the_office(supervisor_user, office_b, url, data):  # noqa: F811
    client = Client()
    client.force_login(supervisor_user)
    before = snapshot(office_b)
    response = client.post(url, {**data, "office": office_b["office"].pk})
    assert response.status_code == 200  # the form again, with the error by its field
    assert response.context["adminform"].form.errors.get("office")
    assert snapshot(office_b) == before
    assert not leaks(response.content.decode(), office_b)
