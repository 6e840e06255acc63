"""The booking services: every action, every refusal, and that a refusal changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

import pytest

from consent.models import ENVIRONMENT_ITEMS, Consent
from reservations import services
from reservations.models import (
    ActorKind,
    CapacityOverride,
    Closure,
    EventKind,
    MeetingState,
    Reservation,
    ReservationEvent,
    Restriction,
    RestrictionSource,
    SeekerLock,
    SessionWindow,
    Slot,
)
from reservations.rules import Status
from reservations.services import ReservationError
from tests.conftest import tokyo

pytestmark = pytest.mark.django_db

NOW = tokyo(2026, 12, 1, 9)  # Tuesday morning
THU = tokyo(2026, 12, 3, 10)  # requests close Wed 12/2 17:00; confirm by Thu 00:00
THU_1030 = tokyo(2026, 12, 3, 10, 30)
FRI = tokyo(2026, 12, 4, 14)
DEADLINE = tokyo(2026, 12, 3, 0)  # end of Wednesday


def snapshot() -> dict[str, object]:
    """Everything a booking action may write, to prove a refusal wrote nothing."""
    return {
        "reservations": sorted(
            Reservation.objects.values_list(
                "id",
                "status",
                "slot_id",
                "confirmed_at",
                "meeting_state",
                "meeting_join_url",
                "reminder_sent_at",
            )
        ),
        "events": ReservationEvent.objects.count(),
        "consents": Consent.objects.count(),
        "restrictions": sorted(Restriction.objects.values_list("id", "lifted_at")),
        "slots": Slot.objects.count(),
        "locks": SeekerLock.objects.count(),
    }


@contextmanager
def refused(code: str) -> Iterator[pytest.ExceptionInfo[ReservationError]]:
    """The action is refused with a message fit for the person, and nothing changes."""
    before = snapshot()
    with pytest.raises(ReservationError) as info:
        yield info
    assert info.value.code == code, info.value.message
    assert info.value.message.strip()
    assert snapshot() == before


@pytest.fixture
def request_as(office, consent_given) -> Callable[..., Reservation]:
    """Request `slot` as a given person (defaults: 山田 太郎, 10040-1234567)."""

    def make(slot: datetime, *, now: datetime = NOW, **fields: object) -> Reservation:
        values: dict = {
            "name": "山田 太郎",
            "email": "taro@example.jp",
            "seeker_number": "10040-1234567",
        }
        values.update(fields)
        return services.reservation_request(
            office=office, slot_start=slot, consent=consent_given(), now=now, **values
        )

    return make


def events_of(reservation: Reservation) -> list[tuple[str, str, str]]:
    return list(reservation.events.values_list("kind", "from_status", "to_status"))


# --- Requesting (Art. 6(2), rules 4, 5, 6, 7, 8) -------------------------------------------------


def test_request_records_booking_event_and_consent(request_as) -> None:
    r = request_as(THU, seeker_number="１００４０－１２３４５６７", phone=" 090-1234-5678 ")
    assert r.status == Status.REQUESTED
    assert r.seeker_number == "10040-1234567"
    assert r.person_key == "n:10040-1234567"
    assert r.phone == "090-1234-5678"
    assert r.slot.starts_at == THU and r.slot.ends_at == THU + timedelta(minutes=30)
    assert len(r.reference) == 7 and len(r.token) >= 43
    assert events_of(r) == [(EventKind.STATUS, "", Status.REQUESTED)]
    event = r.events.get()
    assert event.at == NOW and event.actor_kind == ActorKind.SEEKER and event.actor is None
    consent = r.consents.get()
    assert consent.given_at == NOW and consent.items == dict.fromkeys(ENVIRONMENT_ITEMS, True)


def test_about_to_register_books_without_a_number(request_as) -> None:
    r = request_as(THU, seeker_number="", about_to_register=True, email=" Hana@Example.JP ")
    assert r.about_to_register and r.seeker_number == ""
    assert r.person_key == "e:hana@example.jp"
    # With a number given, the number is what counts.
    r2 = request_as(FRI, seeker_number="10040-7", about_to_register=True, email="x@example.jp")
    assert not r2.about_to_register and r2.person_key == "n:10040-7"


def test_companion_language_only_kept_with_a_companion(request_as) -> None:
    r = request_as(THU, companion="", companion_language="ポルトガル語")
    assert r.companion_language == ""
    r2 = request_as(
        FRI,
        seeker_number="10040-2",
        email="b@example.jp",
        companion="interpreter",
        companion_language=" ポルトガル語 ",
    )
    assert (r2.companion, r2.companion_language) == ("interpreter", "ポルトガル語")


def test_verbal_request_during_a_session_names_the_counselor(
    office, consent_given, counselor
) -> None:
    # Art. 6(2): the next session can be booked during a session.
    r = services.reservation_request(
        office=office,
        slot_start=THU,
        name="山田 太郎",
        email="taro@example.jp",
        seeker_number="10040-1234567",
        consent=consent_given(verbal=True, recorded_by=counselor),
        now=NOW,
    )
    event = r.events.get()
    assert event.actor == counselor and event.actor_kind == ActorKind.STAFF


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"seeker_number": "1234"}, "seeker_number"),
        ({"seeker_number": "10040-123456789"}, "seeker_number"),
        ({"seeker_number": "   "}, "seeker_number"),
        ({"seeker_number": ""}, "seeker_number"),
        ({"seeker_number": "1" * 10_000}, "seeker_number"),
        ({"name": "  "}, "name"),
        ({"name": "山" * 10_000}, "name"),
        ({"email": ""}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@" + "b" * 300 + ".jp"}, "email"),
        ({"phone": "0" * 31}, "phone"),
        ({"topic": "相" * 2001}, "topic"),
        ({"platform": "skype"}, "platform"),
        ({"companion": "friend"}, "companion"),
        ({"companion": "interpreter", "companion_language": "語" * 51}, "companion_language"),
        ({"language": "fr"}, "language"),
    ],
)
def test_bad_details_are_refused_naming_the_field(request_as, fields: dict, code: str) -> None:
    with refused(code):
        request_as(THU, **fields)


@pytest.mark.parametrize(
    ("slot", "now", "code"),
    [
        (tokyo(2026, 12, 5, 10), NOW, "closed"),  # Saturday
        (tokyo(2026, 12, 29, 10), NOW, "closed"),  # year-end closure
        (tokyo(2026, 12, 3, 10, 15), NOW, "not_a_slot"),
        (tokyo(2026, 12, 3, 12), NOW, "not_a_slot"),  # lunch break
        (tokyo(2026, 12, 3, 16), NOW, "not_a_slot"),  # after the last slot
        (THU, tokyo(2026, 12, 2, 17), "past_cutoff"),
        (tokyo(2026, 12, 1, 14), NOW, "past_cutoff"),  # today
        (tokyo(2026, 11, 30, 10), NOW, "past_cutoff"),  # the past
        (tokyo(2026, 12, 30, 10), NOW, "closed"),
        (tokyo(2027, 1, 4, 10), NOW, "beyond_horizon"),  # 34 days ahead
    ],
)
def test_calendar_refusals(request_as, slot: datetime, now: datetime, code: str) -> None:
    with refused(code):
        request_as(slot, now=now)


def test_request_until_one_second_before_the_cutoff(request_as) -> None:
    r = request_as(THU, now=tokyo(2026, 12, 2, 16, 59) + timedelta(seconds=59))
    assert r.status == Status.REQUESTED


def test_staff_closure_and_zero_capacity_override_refuse(request_as, office) -> None:
    Closure.objects.create(office=office, date=date(2026, 12, 3), reason="研修")
    with refused("closed"):
        request_as(THU)
    CapacityOverride.objects.create(
        office=office, date=date(2026, 12, 4), start_time=time(14), capacity=0
    )
    with refused("not_a_slot"):
        request_as(FRI)


def test_consent_missing_an_item_saves_nothing(office, consent_given) -> None:
    before = snapshot()
    with pytest.raises(ReservationError) as info:
        services.reservation_request(
            office=office,
            slot_start=THU,
            name="山田 太郎",
            email="taro@example.jp",
            seeker_number="10040-1234567",
            consent=consent_given(confirmed_items=frozenset({"camera"})),
            now=NOW,
        )
    assert info.value.code == "consent"
    assert snapshot() == before


# --- Capacity (rule 4) ----------------------------------------------------------------------


def test_capacity_one_refuses_the_second_person(request_as) -> None:
    request_as(THU)
    with refused("slot_full"):
        request_as(THU, seeker_number="10040-2", email="b@example.jp")


def test_capacity_override_allows_exactly_that_many(request_as, office) -> None:
    CapacityOverride.objects.create(
        office=office, date=THU.date(), start_time=THU.time(), capacity=3
    )
    for n in range(3):
        request_as(THU, seeker_number=f"10040-{n + 1}", email=f"p{n}@example.jp")
    with refused("slot_full"):
        request_as(THU, seeker_number="10040-9", email="p9@example.jp")


def test_confirmed_holds_and_cancelled_or_rejected_release_capacity(request_as, counselor) -> None:
    first = request_as(THU)
    services.reservation_confirm(reservation=first, actor=counselor, now=NOW)
    with refused("slot_full"):
        request_as(THU, seeker_number="10040-2", email="b@example.jp")
    services.reservation_cancel(reservation=first, by=ActorKind.SEEKER, now=NOW)
    second = request_as(THU, seeker_number="10040-2", email="b@example.jp")
    services.reservation_reject(reservation=second, actor=counselor, reason="定員調整", now=NOW)
    third = request_as(THU, seeker_number="10040-3", email="c@example.jp")
    assert third.status == Status.REQUESTED


# --- Per-person limits (rule 8) ----------------------------------------------------------------


def test_same_slot_twice_by_one_person(request_as, office) -> None:
    office.max_active_bookings = 3
    office.save()
    CapacityOverride.objects.create(
        office=office, date=THU.date(), start_time=THU.time(), capacity=2
    )
    request_as(THU)
    with refused("limit_reached") as info:
        request_as(THU, seeker_number="10040 1234567")
    assert "すでに申し込まれています" in info.value.message


def test_one_active_booking_per_seeker_number(request_as) -> None:
    request_as(THU)
    # Another spelling of the same number, another email: still the same person.
    with refused("limit_reached"):
        request_as(FRI, seeker_number="１００４０ー１２３４５６７", email="other@example.jp")


def test_one_active_booking_per_email_when_about_to_register(request_as) -> None:
    request_as(THU, seeker_number="", about_to_register=True, email="hana@example.jp")
    with refused("limit_reached"):
        request_as(FRI, seeker_number="", about_to_register=True, email=" HANA@example.jp")
    other = request_as(FRI, seeker_number="", about_to_register=True, email="ken@example.jp")
    assert other.status == Status.REQUESTED


def test_max_active_bookings_is_configurable(request_as, office) -> None:
    office.max_active_bookings = 2
    office.save()
    request_as(THU)
    request_as(FRI)
    with refused("limit_reached"):
        request_as(tokyo(2026, 12, 7, 10))


def test_limit_frees_up_after_cancelling_or_after_the_session(request_as, counselor) -> None:
    first = request_as(THU)
    services.reservation_cancel(reservation=first, by=ActorKind.SEEKER, now=NOW)
    second = request_as(FRI)
    services.reservation_confirm(reservation=second, actor=counselor, now=NOW)
    # Friday's session has ended (and is not swept yet): the next one may be requested.
    after = FRI + timedelta(minutes=30)
    third = request_as(tokyo(2026, 12, 8, 10), now=after)
    assert third.status == Status.REQUESTED


# --- Restrictions (Art. 6(4), 12(1), rule 12) ---------------------------------------------------


def test_manual_restriction_refuses_politely_by_number(request_as, office, counselor) -> None:
    services.restriction_create(
        office=office,
        seeker_number="10040-1234567",
        reason="暴言（第12条(1)）",
        actor=counselor,
        now=NOW - timedelta(days=1),
    )
    with refused("restricted") as info:
        request_as(THU)
    assert office.phone in info.value.message
    assert "お電話" in info.value.message


def test_restriction_by_email_applies_whatever_number_is_given(request_as, office) -> None:
    services.restriction_create(
        office=office, email="Taro@Example.jp", reason="第12条(1)", actor=None, now=NOW
    )
    with refused("restricted"):
        request_as(THU, seeker_number="10040-99", email="TARO@example.jp")


def test_lifted_and_ended_restrictions_no_longer_refuse(request_as, office, counselor) -> None:
    lifted = services.restriction_create(
        office=office, seeker_number="10040-1234567", reason="確認中", actor=counselor, now=NOW
    )
    services.restriction_lift(restriction=lifted, actor=counselor, now=NOW)
    services.restriction_create(
        office=office,
        email="taro@example.jp",
        reason="期限付き",
        actor=counselor,
        now=NOW - timedelta(days=30),
        ends_at=NOW - timedelta(days=1),
    )
    assert request_as(THU).status == Status.REQUESTED


def _no_show(request_as, counselor, slot: datetime, now: datetime) -> Reservation:
    r = request_as(slot, now=now)
    services.reservation_confirm(reservation=r, actor=counselor, now=now)
    result = services.reservations_sweep(now=slot + timedelta(minutes=10))
    assert result.no_show == 1
    r.refresh_from_db()
    assert r.status == Status.NO_SHOW
    return r


def test_no_show_threshold_restricts_automatically(request_as, counselor) -> None:
    _no_show(request_as, counselor, THU, NOW)
    assert not Restriction.objects.exists()
    _no_show(request_as, counselor, tokyo(2026, 12, 9, 10), tokyo(2026, 12, 4, 9))
    restriction = Restriction.objects.get()
    assert restriction.source == RestrictionSource.NO_SHOW_THRESHOLD
    assert restriction.seeker_number == "10040-1234567"
    assert restriction.email == "taro@example.jp"
    assert restriction.starts_at == tokyo(2026, 12, 9, 10, 10)
    assert "第6条(4)" in restriction.reason
    with refused("restricted"):
        request_as(tokyo(2026, 12, 15, 10), now=tokyo(2026, 12, 10, 9))


def test_no_shows_outside_the_window_do_not_restrict(request_as, counselor) -> None:
    _no_show(request_as, counselor, tokyo(2026, 5, 12, 10), tokyo(2026, 5, 1, 9))
    _no_show(request_as, counselor, THU, NOW)  # 205 days later; the window is 180
    assert not Restriction.objects.exists()


def _no_show_as(request_as, counselor, slot: datetime, now: datetime, **person) -> Reservation:
    r = request_as(slot, now=now, **person)
    services.reservation_confirm(reservation=r, actor=counselor, now=now)
    services.reservations_sweep(now=slot + timedelta(minutes=10))
    r.refresh_from_db()
    assert r.status == Status.NO_SHOW
    return r


def test_no_shows_with_and_without_the_number_count_for_one_person(request_as, counselor) -> None:
    # Rule 8: booked first "about to register" (no 求職番号), then with the number, same
    # email: one person, so the second no-show reaches the threshold of 2.
    first = _no_show_as(request_as, counselor, THU, NOW, seeker_number="", about_to_register=True)
    second = _no_show_as(request_as, counselor, tokyo(2026, 12, 9, 10), tokyo(2026, 12, 4, 9))
    assert first.person_key != second.person_key  # two keys, yet the same person
    restriction = Restriction.objects.get()
    assert restriction.source == RestrictionSource.NO_SHOW_THRESHOLD
    assert restriction.seeker_number == "10040-1234567"


def test_no_shows_of_two_numbers_sharing_an_email_are_two_people(request_as, counselor) -> None:
    _no_show_as(request_as, counselor, THU, NOW, seeker_number="10040-1111111")
    _no_show_as(
        request_as,
        counselor,
        tokyo(2026, 12, 9, 10),
        tokyo(2026, 12, 4, 9),
        seeker_number="10040-2222222",
    )
    assert not Restriction.objects.exists()


def test_threshold_zero_never_restricts(request_as, counselor, office) -> None:
    office.no_show_threshold = 0
    office.save()
    _no_show(request_as, counselor, THU, NOW)
    _no_show(request_as, counselor, tokyo(2026, 12, 9, 10), tokyo(2026, 12, 4, 9))
    assert not Restriction.objects.exists()


# --- Every transition through the services (rule 10) -------------------------------------------

ALLOWED = {
    (Status.REQUESTED, "confirm"),
    (Status.EXPIRED, "confirm"),  # rule 5: staff may still confirm, with a reason
    (Status.REQUESTED, "reject"),
    (Status.REQUESTED, "cancel_by_seeker"),
    (Status.REQUESTED, "cancel_by_staff"),
    (Status.REQUESTED, "expire"),
    (Status.CONFIRMED, "attend"),
    (Status.CONFIRMED, "no_show"),
    (Status.CONFIRMED, "cancel_by_seeker"),
    (Status.CONFIRMED, "cancel_by_staff"),
    (Status.CONFIRMED, "sweep_no_show"),
}
TARGET = {
    "confirm": Status.CONFIRMED,
    "reject": Status.REJECTED,
    "cancel_by_seeker": Status.CANCELLED,
    "cancel_by_staff": Status.CANCELLED,
    "expire": Status.EXPIRED,
    "attend": Status.ATTENDED,
    "no_show": Status.NO_SHOW,
    "sweep_no_show": Status.NO_SHOW,
}


def _bring_to(status: Status, r: Reservation, counselor) -> None:
    if status == Status.REQUESTED:
        return
    if status == Status.REJECTED:
        services.reservation_reject(reservation=r, actor=counselor, reason="対象外", now=NOW)
    elif status == Status.CANCELLED:
        services.reservation_cancel(reservation=r, by=ActorKind.SEEKER, now=NOW)
    elif status == Status.EXPIRED:
        services.reservations_sweep(now=DEADLINE)
    else:
        services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
        if status == Status.ATTENDED:
            services.reservation_mark_attended(
                reservation=r, actor=counselor, now=THU + timedelta(minutes=1)
            )
        elif status == Status.NO_SHOW:
            services.reservation_mark_no_show(
                reservation=r, actor=counselor, now=THU + timedelta(minutes=10)
            )
    r.refresh_from_db()
    assert r.status == status


def _act(action: str, r: Reservation, counselor) -> None:
    """Each action at a moment its own timing rule allows, so only the transition decides."""
    if action == "confirm":
        services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    elif action == "reject":
        services.reservation_reject(reservation=r, actor=counselor, reason="対象外", now=NOW)
    elif action == "cancel_by_seeker":
        services.reservation_cancel(reservation=r, by=ActorKind.SEEKER, now=NOW)
    elif action == "cancel_by_staff":
        services.reservation_cancel(
            reservation=r, by=ActorKind.STAFF, actor=counselor, reason="電話連絡", now=NOW
        )
    elif action == "attend":
        services.reservation_mark_attended(
            reservation=r, actor=counselor, now=THU + timedelta(minutes=2)
        )
    elif action == "no_show":
        services.reservation_mark_no_show(
            reservation=r, actor=counselor, now=THU + timedelta(minutes=10)
        )


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(TARGET))
def test_every_transition_through_the_services(
    request_as, counselor, status: Status, action: str
) -> None:
    r = request_as(THU)
    _bring_to(status, r, counselor)
    allowed = (status, action) in ALLOWED
    if action in ("expire", "sweep_no_show"):
        # The sweep never raises: it changes what is due and leaves everything else alone.
        before = snapshot()
        moment = DEADLINE if action == "expire" else THU + timedelta(minutes=10)
        result = services.reservations_sweep(now=moment)
        count = result.expired if action == "expire" else result.no_show
        assert (count == 1) is allowed
        if status == Status.REQUESTED and action == "sweep_no_show":
            # A request never becomes a no-show: ten minutes past the start it has expired.
            assert (result.expired, result.no_show) == (1, 0)
            r.refresh_from_db()
            assert r.status == Status.EXPIRED
            return
        if not allowed:
            assert snapshot() == before
    elif allowed:
        _act(action, r, counselor)
    else:
        with refused("transition_not_allowed"):
            _act(action, r, counselor)
    r.refresh_from_db()
    assert r.status == (TARGET[action] if allowed else status)
    if allowed:
        last = r.events.order_by("-id").first()
        assert (last.from_status, last.to_status) == (status, TARGET[action])
        system = action in ("expire", "sweep_no_show")
        assert last.actor == (None if system or action == "cancel_by_seeker" else counselor)
        assert last.actor_kind == (
            ActorKind.SYSTEM
            if system
            else ActorKind.SEEKER
            if action == "cancel_by_seeker"
            else ActorKind.STAFF
        )


def test_full_lifecycle_leaves_a_complete_history(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    services.reservation_mark_attended(reservation=r, actor=counselor, now=THU)
    assert events_of(r) == [
        (EventKind.STATUS, "", Status.REQUESTED),
        (EventKind.STATUS, Status.REQUESTED, Status.CONFIRMED),
        (EventKind.STATUS, Status.CONFIRMED, Status.ATTENDED),
    ]
    assert list(r.events.values_list("at", flat=True)) == [NOW, NOW, THU]


# --- Timing refusals of each action ------------------------------------------------------------


def test_late_confirmation_needs_a_reason(request_as, counselor) -> None:
    r = request_as(THU)
    morning = tokyo(2026, 12, 3, 8, 30)  # past the end of D-1, before the sweep ran
    with refused("late_needs_reason"):
        services.reservation_confirm(reservation=r, actor=counselor, reason="  ", now=morning)
    services.reservation_confirm(
        reservation=r, actor=counselor, reason="本人から電話で確認", now=morning
    )
    event = r.events.order_by("-id").first()
    assert event.reason == "本人から電話で確認" and event.details == {"late": True}


def test_confirmation_on_the_day_before_needs_no_reason(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(
        reservation=r, actor=counselor, now=DEADLINE - timedelta(seconds=1)
    )
    assert r.events.order_by("-id").first().details == {"late": False}


def test_no_confirmation_after_the_start(request_as, counselor) -> None:
    r = request_as(THU)
    with refused("too_late"):
        services.reservation_confirm(reservation=r, actor=counselor, reason="遅れて", now=THU)


def test_zoom_confirmation_waits_for_the_meeting(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    r.refresh_from_db()
    assert r.meeting_state == MeetingState.PENDING and r.confirmed_at == NOW


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("", "meeting_url_required"),
        ("   ", "meeting_url_required"),
        ("javascript:alert(1)", "meeting_url"),
        ("teleoffice room 12", "meeting_url"),
        ("https://tele.example.jp/" + "a" * 600, "meeting_url"),
    ],
)
def test_teleoffice_confirmation_requires_a_link(
    request_as, counselor, url: str, code: str
) -> None:
    r = request_as(THU, platform="teleoffice")
    with refused(code):
        services.reservation_confirm(reservation=r, actor=counselor, meeting_url=url, now=NOW)


def test_teleoffice_confirmation_stores_the_link(request_as, counselor) -> None:
    r = request_as(THU, platform="teleoffice")
    services.reservation_confirm(
        reservation=r,
        actor=counselor,
        meeting_url=" https://teleoffice.example.jp/room/42 ",
        meeting_passcode=" 1234 ",
        now=NOW,
    )
    r.refresh_from_db()
    assert r.meeting_state == MeetingState.READY
    assert (r.meeting_join_url, r.meeting_passcode) == (
        "https://teleoffice.example.jp/room/42",
        "1234",
    )


def test_reject_needs_a_reason(request_as, counselor) -> None:
    r = request_as(THU)
    with refused("reason_required"):
        services.reservation_reject(reservation=r, actor=counselor, reason=" ", now=NOW)


def test_staff_cancel_needs_the_call_recorded(request_as, counselor) -> None:
    r = request_as(THU)
    with refused("reason_required"):
        services.reservation_cancel(reservation=r, by=ActorKind.STAFF, actor=counselor, now=NOW)


def test_seeker_cancels_online_until_the_start(request_as) -> None:
    r = request_as(THU)
    with refused("too_late"):
        services.reservation_cancel(reservation=r, by=ActorKind.SEEKER, now=THU)
    services.reservation_cancel(reservation=r, by=ActorKind.SEEKER, now=THU - timedelta(seconds=1))


def test_staff_cancel_after_a_call_until_ten_minutes_past(request_as, counselor) -> None:
    # Art. 6(4): a call before the ten minutes are up is a cancellation, not a no-show.
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    with refused("too_late"):
        services.reservation_cancel(
            reservation=r,
            by=ActorKind.STAFF,
            actor=counselor,
            reason="電話",
            now=THU + timedelta(minutes=10),
        )
    services.reservation_cancel(
        reservation=r,
        by=ActorKind.STAFF,
        actor=counselor,
        reason="電話",
        now=THU + timedelta(minutes=9, seconds=59),
    )


def test_attendance_not_before_fifteen_minutes_ahead(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    with refused("too_early"):
        services.reservation_mark_attended(
            reservation=r, actor=counselor, now=THU - timedelta(minutes=16)
        )


def test_staff_cannot_mark_no_show_before_ten_minutes(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    with refused("too_early"):
        services.reservation_mark_no_show(
            reservation=r, actor=counselor, now=THU + timedelta(minutes=9, seconds=59)
        )


# --- The sweep (rules 5 and 11) ------------------------------------------------------------------


def test_sweep_no_show_at_ten_minutes_not_before(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    before = snapshot()
    result = services.reservations_sweep(now=THU + timedelta(minutes=9, seconds=59))
    assert (result.expired, result.no_show) == (0, 0)
    assert snapshot() == before
    result = services.reservations_sweep(now=THU + timedelta(minutes=10))
    assert (result.expired, result.no_show) == (0, 1)
    r.refresh_from_db()
    assert r.status == Status.NO_SHOW
    event = r.events.order_by("-id").first()
    assert event.actor_kind == ActorKind.SYSTEM and event.at == THU + timedelta(minutes=10)


def test_sweep_expires_at_the_deadline_not_before(request_as) -> None:
    r = request_as(THU)
    before = snapshot()
    result = services.reservations_sweep(now=DEADLINE - timedelta(seconds=1))
    assert (result.expired, result.no_show) == (0, 0)
    assert snapshot() == before
    result = services.reservations_sweep(now=DEADLINE)
    assert (result.expired, result.no_show) == (1, 0)
    r.refresh_from_db()
    assert r.status == Status.EXPIRED


def test_sweep_leaves_attended_and_is_idempotent(request_as, counselor) -> None:
    attended = request_as(THU)
    services.reservation_confirm(reservation=attended, actor=counselor, now=NOW)
    services.reservation_mark_attended(reservation=attended, actor=counselor, now=THU)
    missed = request_as(THU_1030, seeker_number="10040-2", email="b@example.jp")
    services.reservation_confirm(reservation=missed, actor=counselor, now=NOW)
    unconfirmed = request_as(tokyo(2026, 12, 3, 11), seeker_number="10040-3", email="c@ex.jp")
    later = request_as(FRI, seeker_number="10040-4", email="d@example.jp")
    services.reservation_confirm(reservation=later, actor=counselor, now=NOW)
    pending = request_as(tokyo(2026, 12, 7, 10), seeker_number="10040-5", email="e@example.jp")

    moment = THU_1030 + timedelta(minutes=10)
    first = services.reservations_sweep(now=moment)
    assert (first.expired, first.no_show) == (1, 1)
    after_first = snapshot()
    second = services.reservations_sweep(now=moment)
    assert (second.expired, second.no_show) == (0, 0)
    assert snapshot() == after_first
    statuses = dict(Reservation.objects.values_list("id", "status"))
    assert statuses[attended.pk] == Status.ATTENDED
    assert statuses[missed.pk] == Status.NO_SHOW
    assert statuses[unconfirmed.pk] == Status.EXPIRED
    assert statuses[later.pk] == Status.CONFIRMED
    assert statuses[pending.pk] == Status.REQUESTED


# --- Moves (rule 10) --------------------------------------------------------------------------


def test_move_to_an_open_slot(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservation_confirm(reservation=r, actor=counselor, now=NOW)
    Reservation.objects.filter(pk=r.pk).update(reminder_sent_at=NOW)
    services.reservation_move(
        reservation=r, new_start=FRI, actor=counselor, reason="相談員の都合", now=NOW
    )
    r.refresh_from_db()
    assert r.slot.starts_at == FRI and r.status == Status.CONFIRMED
    assert r.reminder_sent_at is None
    event = r.events.order_by("-id").first()
    assert event.kind == EventKind.MOVED and event.actor == counselor
    assert event.details == {"from": THU.isoformat(), "to": FRI.isoformat()}
    # The old slot is free again.
    assert request_as(THU, seeker_number="10040-2", email="b@example.jp")


def test_staff_may_move_past_the_request_cutoff(request_as, counselor) -> None:
    r = request_as(FRI)
    services.reservation_move(reservation=r, new_start=THU, actor=counselor, now=DEADLINE)
    r.refresh_from_db()
    assert r.slot.starts_at == THU


def test_move_to_a_full_slot(request_as, counselor) -> None:
    r = request_as(THU)
    request_as(FRI, seeker_number="10040-2", email="b@example.jp")
    with refused("slot_full"):
        services.reservation_move(reservation=r, new_start=FRI, actor=counselor, now=NOW)


@pytest.mark.parametrize(
    "target",
    [
        tokyo(2026, 12, 5, 10),  # Saturday
        tokyo(2026, 12, 31, 10),  # year-end
        tokyo(2026, 12, 4, 12),  # lunch
        tokyo(2026, 12, 9, 10),  # staff closure (below)
    ],
)
def test_move_to_a_closed_or_missing_slot(request_as, counselor, office, target) -> None:
    Closure.objects.create(office=office, date=date(2026, 12, 9), reason="研修")
    r = request_as(THU)
    with refused("not_a_slot"):
        services.reservation_move(reservation=r, new_start=target, actor=counselor, now=NOW)


def test_move_to_the_same_slot_or_the_past(request_as, counselor) -> None:
    r = request_as(THU)
    with refused("same_slot"):
        services.reservation_move(reservation=r, new_start=THU, actor=counselor, now=NOW)
    with refused("too_late"):
        services.reservation_move(
            reservation=r, new_start=tokyo(2026, 11, 30, 10), actor=counselor, now=NOW
        )


def test_move_where_the_person_already_is(request_as, counselor, office) -> None:
    office.max_active_bookings = 2
    office.save()
    CapacityOverride.objects.create(
        office=office, date=FRI.date(), start_time=FRI.time(), capacity=2
    )
    r = request_as(THU)
    request_as(FRI)
    with refused("limit_reached"):
        services.reservation_move(reservation=r, new_start=FRI, actor=counselor, now=NOW)


@pytest.mark.parametrize(
    "status",
    [Status.ATTENDED, Status.NO_SHOW, Status.CANCELLED, Status.EXPIRED, Status.REJECTED],
)
def test_finished_bookings_cannot_move(request_as, counselor, status: Status) -> None:
    r = request_as(THU)
    _bring_to(status, r, counselor)
    with refused("transition_not_allowed"):
        services.reservation_move(
            reservation=r, new_start=tokyo(2026, 12, 10, 10), actor=counselor, now=NOW
        )


# --- Rule 5: confirming after the deadline ---------------------------------------------------


def test_expired_request_confirmed_late_with_a_reason(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservations_sweep(now=DEADLINE)
    morning = THU - timedelta(hours=1)
    with refused("late_needs_reason"):
        services.reservation_confirm(reservation=r, actor=counselor, now=morning)
    services.reservation_confirm(
        reservation=r, actor=counselor, reason="電話で本人の希望を確認", now=morning
    )
    r.refresh_from_db()
    assert r.status == Status.CONFIRMED
    last = r.events.order_by("-id").first()
    assert (last.from_status, last.to_status) == (Status.EXPIRED, Status.CONFIRMED)
    assert last.reason == "電話で本人の希望を確認"
    assert last.details["late"] is True


def test_expired_request_cannot_take_back_a_place_given_to_someone_else(
    request_as, counselor
) -> None:
    r = request_as(THU)
    services.reservations_sweep(now=DEADLINE)
    # The expired request released the place; staff booked another person into it.
    other = request_as(
        THU, now=NOW, seeker_number="10040-7654321", email="hanako@example.jp", name="佐藤 花子"
    )
    assert other.status == Status.REQUESTED
    with refused("slot_full"):
        services.reservation_confirm(
            reservation=r, actor=counselor, reason="本人から電話", now=THU - timedelta(hours=1)
        )


def test_expired_request_cannot_be_confirmed_after_the_start(request_as, counselor) -> None:
    r = request_as(THU)
    services.reservations_sweep(now=DEADLINE)
    with refused("too_late"):
        services.reservation_confirm(
            reservation=r, actor=counselor, reason="遅れて連絡", now=THU + timedelta(minutes=1)
        )


# --- Rule 8: one person, whether or not the 求職番号 is given -----------------------------------


def test_the_same_email_without_a_number_is_the_same_person(request_as) -> None:
    request_as(THU, seeker_number="10040-1234567", email="taro@example.jp")
    with refused("limit_reached"):
        request_as(FRI, seeker_number="", about_to_register=True, email="TARO@example.jp")


def test_a_number_finds_the_earlier_booking_made_without_one(request_as) -> None:
    request_as(THU, seeker_number="", about_to_register=True, email="taro@example.jp")
    with refused("limit_reached"):
        request_as(FRI, seeker_number="10040-1234567", email="taro@example.jp")


def test_two_numbers_sharing_an_email_are_two_people(request_as) -> None:
    # A parent booking for two grown children from one family address.
    request_as(THU, seeker_number="10040-1111111", email="family@example.jp")
    second = request_as(FRI, seeker_number="10040-2222222", email="family@example.jp")
    assert second.status == Status.REQUESTED


def test_expired_request_is_not_confirmed_over_the_persons_new_booking(
    request_as, counselor
) -> None:
    r = request_as(THU)
    services.reservations_sweep(now=DEADLINE)
    request_as(FRI, now=DEADLINE)  # the same person booked again after the expiry
    with refused("limit_reached"):
        services.reservation_confirm(
            reservation=r, actor=counselor, reason="本人から電話", now=THU - timedelta(hours=1)
        )


def test_person_locks_hold_no_personal_data(request_as) -> None:
    request_as(THU, seeker_number="10040-1234567", email="taro@example.jp")
    keys = list(SeekerLock.objects.values_list("key", flat=True))
    assert len(keys) == 2
    assert not any("10040" in key or "taro" in key for key in keys)


def test_office_settings_save_replaces_windows_in_one_go(office) -> None:
    monday_morning = office.windows.get(weekday=0, start_time=time(10))
    office.horizon_days = 14
    services.office_settings_save(
        office=office,
        windows=[SessionWindow(weekday=0, start_time=time(9), end_time=time(9, 30), capacity=2)],
        removed=[monday_morning],
    )
    office.refresh_from_db()
    assert office.horizon_days == 14
    mondays = sorted((w.start_time, w.capacity) for w in office.windows.filter(weekday=0))
    assert mondays == [(time(9), 2), (time(14), 1)]
