"""The seeker moves their own booking (振替, rule 10): every refusal changes nothing, the limit,
a confirmed booking back to requested with its Zoom meeting deleted, and the consent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from consent import services as consent_services
from consent.models import ENVIRONMENT_ITEMS, Consent, TermsVersion
from consent.services import ConsentGiven
from reservations import selectors, services
from reservations.admin.common import event_text
from reservations.models import (
    ActorKind,
    CapacityOverride,
    Closure,
    Counselor,
    EmailKind,
    EventKind,
    MeetingState,
    Office,
    OutgoingEmail,
    Reservation,
    ZoomMeetingState,
)
from reservations.rules import Status
from reservations.services import LimitReached, Restricted, SlotFull
from tests import fake_zoom as fz
from tests.conftest import tokyo
from tests.test_services import refused

pytestmark = pytest.mark.django_db

NOW = tokyo(2026, 12, 1, 9)  # Tuesday morning
THU = tokyo(2026, 12, 3, 10)  # requests close Wednesday 12/2 17:00
FRI = tokyo(2026, 12, 4, 14)
MON = tokyo(2026, 12, 7, 10)


@pytest.fixture
def book(office, consent_given) -> Callable[..., Reservation]:
    """A seeker's request; another person with `n`."""

    def make(slot: datetime, n: int = 0, *, now: datetime = NOW, **fields: object) -> Reservation:
        values: dict = {
            "name": f"山田 太郎{n}",
            "email": f"taro{n}@example.jp",
            "seeker_number": f"10040-{1234567 + n}",
            "platform": "teleoffice",
        }
        values.update(fields)
        return services.reservation_request(
            office=office, slot_start=slot, consent=consent_given(), now=now, **values
        )

    return make


def move(reservation: Reservation, to: datetime, *, now: datetime = NOW, **kwargs) -> Reservation:
    return services.reservation_move_by_seeker(
        reservation=Reservation.objects.get(pk=reservation.pk), slot_start=to, now=now, **kwargs
    )


def test_a_request_moves_and_frees_its_place(book) -> None:
    r = book(THU)
    moved = move(r, FRI)
    r.refresh_from_db()
    assert r.slot.starts_at == FRI and r.status == Status.REQUESTED
    assert moved.slot.starts_at == FRI
    event = r.events.order_by("-id").first()
    assert event.kind == EventKind.MOVED
    assert event.actor_kind == ActorKind.SEEKER and event.actor is None
    assert (event.from_status, event.to_status) == (Status.REQUESTED, Status.REQUESTED)
    assert event.details == {
        "from": THU.isoformat(),
        "to": FRI.isoformat(),
        "consent": "stands",
    }
    assert selectors.seeker_moves_used(r) == 1
    # The old place is free for someone else; the new one is held.
    assert book(THU, 1)
    with pytest.raises(SlotFull):
        book(FRI, 2)
    # The seeker is told, in the booking's language, with the old and the new time.
    email = OutgoingEmail.objects.filter(reservation=r, kind=EmailKind.MOVED).get()
    assert email.context == {"event": event.pk}
    # Staff see it among the requests waiting (rule 5) and in the history.
    assert r in selectors.requests_waiting(Reservation.objects.all(), NOW)


def test_the_seeker_is_emailed_in_the_bookings_language(
    book, mailoutbox, django_capture_on_commit_callbacks
) -> None:
    r = book(THU, language="en")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        move(r, FRI)
    [sent] = mail.outbox
    assert sent.to == [r.email]
    assert r.reference in sent.subject
    assert "Hello Work" in sent.subject  # English, as the booking was made
    assert "Before: Thu 3" in sent.body and "After: Fri 4" in sent.body


def test_a_confirmed_booking_goes_back_to_requested(book, office, counselor) -> None:
    r = book(THU)
    helper = Counselor.objects.create(office=office, user=counselor, display_name="相談員A")
    services.reservation_confirm(
        reservation=r, actor=counselor, meeting_url="https://teleoffice.example/r/1", now=NOW
    )
    Reservation.objects.filter(pk=r.pk).update(counselor=helper, reminder_sent_at=NOW)
    move(r, FRI)
    r.refresh_from_db()
    assert r.status == Status.REQUESTED  # rule 5: staff confirm the new time again
    assert r.counselor is None
    assert r.meeting_state == MeetingState.NONE and r.meeting_join_url == ""
    assert r.reminder_sent_at is None
    event = r.events.order_by("-id").first()
    assert (event.from_status, event.to_status) == (Status.CONFIRMED, Status.REQUESTED)
    # …and can be confirmed again.
    services.reservation_confirm(
        reservation=r, actor=counselor, meeting_url="https://teleoffice.example/r/2", now=NOW
    )
    r.refresh_from_db()
    assert r.status == Status.CONFIRMED


def test_the_zoom_meeting_of_a_confirmed_booking_is_deleted(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
) -> None:
    r = make_reservation(next_slot(0), platform="zoom")
    services.reservation_confirm(reservation=r, actor=counselor)
    database_tasks()
    r.refresh_from_db()
    meeting_id = r.meeting_id
    assert meeting_id in fake_zoom.state.meetings

    services.reservation_move_by_seeker(reservation=r, slot_start=next_slot(1))
    database_tasks()
    [delete] = fake_zoom.calls(fz.DELETE)
    assert delete.path == f"/v2/meetings/{meeting_id}"
    assert fake_zoom.state.meetings == {}
    assert fake_zoom.calls(fz.UPDATE) == []  # deleted, not moved: staff confirm again
    r.refresh_from_db()
    assert r.status == Status.REQUESTED
    assert r.meeting_state == MeetingState.NONE and r.meeting_id == ""
    assert r.zoom_meetings.get().state == ZoomMeetingState.DELETED
    assert OutgoingEmail.objects.filter(reservation=r, kind=EmailKind.MOVED).count() == 1

    # Confirmed again: a new meeting at the new time.
    services.reservation_confirm(reservation=r, actor=counselor)
    database_tasks()
    r.refresh_from_db()
    assert r.meeting_state == MeetingState.READY and r.meeting_id != meeting_id
    assert len(fake_zoom.calls(fz.CREATE)) == 2


def test_the_office_limit_of_moves(book, office) -> None:
    r = book(THU)
    move(r, FRI)
    move(r, MON)
    with refused("moves_used") as info:
        move(r, THU)
    assert office.phone in info.value.message
    office.max_seeker_moves = 3
    office.save()
    move(r, THU)
    assert selectors.seeker_moves_used(r) == 3


def test_staff_moves_do_not_count(book, counselor) -> None:
    r = book(THU)
    services.reservation_move(reservation=r, new_start=FRI, actor=counselor, now=NOW)
    services.reservation_move(reservation=r, new_start=MON, actor=counselor, now=NOW)
    assert selectors.seeker_moves_used(r) == 0
    move(r, THU)


def test_zero_turns_moving_off(book, office) -> None:
    office.max_seeker_moves = 0
    office.save()
    r = book(THU)
    with refused("moves_disabled"):
        move(r, FRI)


def test_an_office_not_taking_bookings_online(book, office) -> None:
    r = book(THU)
    office.accepting_bookings = False
    office.save()
    with refused("not_online"):
        move(r, FRI)


@pytest.mark.parametrize(
    "status", [Status.CANCELLED, Status.EXPIRED, Status.REJECTED, Status.ATTENDED, Status.NO_SHOW]
)
def test_a_finished_booking_does_not_move(book, status) -> None:
    r = book(THU)
    Reservation.objects.filter(pk=r.pk).update(status=status)
    with refused("not_active"):
        move(r, FRI)


def test_not_after_the_cutoff_of_the_booked_slot(book) -> None:
    r = book(THU)
    move(r, MON, now=tokyo(2026, 12, 2, 16, 59))
    r2 = book(THU, 1)
    with refused("move_past_cutoff"):
        move(r2, FRI, now=tokyo(2026, 12, 2, 17))


@pytest.mark.parametrize(
    ("target", "code"),
    [
        (THU, "same_slot"),
        (tokyo(2026, 12, 5, 10), "closed"),  # Saturday
        (tokyo(2026, 12, 30, 10), "closed"),  # year-end
        (tokyo(2026, 12, 4, 12), "not_a_slot"),  # lunch
        (tokyo(2026, 12, 9, 10), "closed"),  # the staff closure below
        (tokyo(2026, 12, 1, 14), "past_cutoff"),
        (tokyo(2027, 1, 12, 10), "beyond_horizon"),
    ],
)
def test_the_target_must_be_one_the_seeker_could_request(book, office, target, code) -> None:
    Closure.objects.create(office=office, date=date(2026, 12, 9), reason="研修")
    r = book(THU)
    with refused(code):
        move(r, target)


def test_a_closed_capacity_override_refuses(book, office) -> None:
    CapacityOverride.objects.create(
        office=office, date=FRI.date(), start_time=FRI.time(), capacity=0
    )
    r = book(THU)
    with refused("not_a_slot"):
        move(r, FRI)


def test_a_full_slot_changes_nothing_and_offers_the_nearest(book) -> None:
    r = book(THU)
    book(FRI, 1)
    with refused("slot_full") as info:
        move(r, FRI)
    alternatives = [a.slot.start for a in info.value.context["alternatives"]]
    assert alternatives and FRI not in alternatives and THU not in alternatives
    assert alternatives == sorted(alternatives)
    assert tokyo(2026, 12, 4, 14, 30) in alternatives  # the nearest to Friday 14:00
    r.refresh_from_db()
    assert r.slot.starts_at == THU


def test_a_restricted_person_is_refused(book, office, counselor) -> None:
    r = book(THU)
    services.restriction_create(
        office=office, reason="連絡のない不参加", actor=counselor, email=r.email, now=NOW
    )
    with refused("restricted"):
        move(r, FRI)
    assert isinstance(Restricted("x"), services.ReservationError)


def test_the_person_cannot_move_onto_their_other_booking(book, office) -> None:
    office.max_active_bookings = 2
    office.save()
    r = book(THU)
    book(FRI, email=r.email, seeker_number=r.seeker_number)
    CapacityOverride.objects.create(
        office=office, date=FRI.date(), start_time=FRI.time(), capacity=2
    )
    with refused("limit_reached"):
        move(r, FRI)


def test_the_moved_booking_counts_as_the_one_it_was(book, office, counselor) -> None:
    office.max_active_bookings = 2
    office.save()
    r = book(THU)
    book(MON, email=r.email, seeker_number=r.seeker_number)
    move(r, FRI)  # two before, two after
    # Lowered meanwhile: the person already holds more than the office now allows.
    office.max_active_bookings = 1
    office.save()
    with refused("limit_reached") as info:
        move(r, THU)
    assert isinstance(info.value, LimitReached)


def test_the_consent_stands_while_the_terms_are_the_same(book) -> None:
    r = book(THU)
    move(r, FRI)
    assert Consent.objects.filter(reservation=r).count() == 1


@pytest.fixture
def new_terms(office, terms) -> TermsVersion:
    """A new version published on Tuesday, in force from Wednesday 12/2."""
    draft = TermsVersion.objects.create(
        office=office,
        version="2026-12-02",
        title=terms.title,
        body=terms.body.replace("1回当たり30分", "1回当たり45分"),
        issued_label="令和8年12月1日",
        issuer=terms.issuer,
        effective_date=date(2026, 12, 2),
    )
    return consent_services.terms_publish(terms_version=draft, actor=None, now=NOW)


WED = tokyo(2026, 12, 2, 9)


def renewed(terms_version: TermsVersion, **overrides: object) -> ConsentGiven:
    values: dict = {
        "terms_version_id": terms_version.pk,
        "platform_terms_accepted": True,
        "confirmed_items": frozenset(ENVIRONMENT_ITEMS),
        "ip_address": "192.0.2.20",
        "user_agent": "pytest",
        "language": "ja",
    }
    values.update(overrides)
    return ConsentGiven(**values)


def test_new_terms_are_agreed_to_with_the_move(book, new_terms) -> None:
    r = book(FRI)
    with refused("consent_needed"):
        move(r, MON, now=WED)
    with refused("terms_changed"):
        move(r, MON, now=WED, consent=renewed(TermsVersion.objects.get(version="2023-04-01")))
    with refused("consent"):
        move(r, MON, now=WED, consent=renewed(new_terms, platform_terms_accepted=False))
    move(r, MON, now=WED, consent=renewed(new_terms))
    latest = Consent.objects.filter(reservation=r).order_by("-given_at", "-id").first()
    assert latest.terms_version == new_terms and latest.given_at == WED
    assert Consent.objects.filter(reservation=r).count() == 2
    assert r.events.order_by("-id").first().details["consent"] == "renewed"
    # From then on the consent stands again.
    move(r, FRI, now=WED)
    assert Consent.objects.filter(reservation=r).count() == 2


def test_a_consent_offered_while_it_stands_is_not_recorded_again(book) -> None:
    r = book(THU)
    move(r, FRI, consent=renewed(TermsVersion.objects.get(version="2023-04-01")))
    assert Consent.objects.filter(reservation=r).count() == 1


def test_staff_see_the_move_in_the_history(book, counselor) -> None:
    r = book(THU)
    services.reservation_confirm(
        reservation=r, actor=counselor, meeting_url="https://teleoffice.example/r/1", now=NOW
    )
    move(r, FRI)
    event = r.events.get(kind=EventKind.MOVED)
    text = event_text(event)
    assert "日時の変更" in text and "再確定が必要" in text
    assert event.get_actor_kind_display() == "申込者"


def test_the_office_setting_is_saved_by_the_service(office) -> None:
    office.max_seeker_moves = 0
    services.office_settings_save(office=office)
    office.refresh_from_db()
    assert office.max_seeker_moves == 0
    assert "max_seeker_moves" in services.OFFICE_SETTINGS  # copied to a new office


def test_the_database_refuses_more_than_ten_moves(office) -> None:
    with (
        pytest.raises(IntegrityError, match="office_seeker_moves_at_most_ten"),
        transaction.atomic(),
    ):
        Office.objects.filter(pk=office.pk).update(max_seeker_moves=11)


def test_the_admin_form_offers_the_setting(admin_client, office) -> None:
    html = admin_client.get(f"/admin/reservations/office/{office.pk}/change/").content.decode()
    assert 'name="max_seeker_moves"' in html
