"""Counselors as people (rule 4): the rota gives the places, confirmation assigns a counselor
on duty and free, staff reassign, and leave taken after booking reassigns or flags."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django_tasks_db.models import DBTaskResult

from reservations import rules, selectors, services
from reservations.errors import ReservationError, SlotFull, TransitionNotAllowed
from reservations.meetings.sync import sync_meeting
from reservations.models import (
    Counselor,
    DutyException,
    DutyExceptionKind,
    EventKind,
    Platform,
    Reservation,
    ReservationEvent,
)
from reservations.rules import Status
from tests.conftest import tokyo
from tests.rota_support import MORNINGS, add_counselor

pytestmark = pytest.mark.django_db

NOW = tokyo(2026, 12, 1, 9)  # Tuesday morning
THU = tokyo(2026, 12, 3, 10)
THU_1030 = tokyo(2026, 12, 3, 10, 30)
THU_14 = tokyo(2026, 12, 3, 14)
THURSDAY = THU.date()


@pytest.fixture
def two(office) -> tuple[Counselor, Counselor]:
    return add_counselor(office, "sato"), add_counselor(office, "suzuki")


@pytest.fixture
def book(make_reservation):
    def make(start=THU, **fields):
        return make_reservation(start, now=NOW, **fields)

    return make


def confirm(reservation: Reservation, **kwargs) -> Reservation:
    return services.reservation_confirm(reservation=reservation, actor=None, now=NOW, **kwargs)


def leave(counselor: Counselor, *, start=None, end=None, kind=DutyExceptionKind.LEAVE, day=None):
    exception = DutyException(
        counselor=counselor, date=day or THURSDAY, kind=kind, start_time=start, end_time=end
    )
    return exception, services.duty_exception_save(exception=exception, now=NOW)


# --- The rota as the office's rules ------------------------------------------------------


def test_office_rules_load_the_rota_in_the_one_query(office, two, django_assert_num_queries):
    sato, suzuki = two
    DutyException.objects.create(counselor=sato, date=THURSDAY, kind=DutyExceptionKind.LEAVE)
    DutyException.objects.create(
        counselor=suzuki, date=THURSDAY + timedelta(days=30), kind=DutyExceptionKind.LEAVE
    )
    with django_assert_num_queries(1):
        loaded = selectors.office_rules(office, THURSDAY, THURSDAY + timedelta(days=1))
    assert loaded.rota is not None
    assert {d.counselor for d in loaded.rota.duties} == {sato.pk, suzuki.pk}
    assert loaded.rota.changes == (rules.DutyChange(sato.pk, THURSDAY, False),)
    slot = rules.find_slot(THU, loaded)
    assert slot.counselors == {suzuki.pk} and slot.capacity == 1


def test_no_rota_without_an_active_counselor_with_duty(office):
    counselor = add_counselor(office, "sato", duty=())
    assert selectors.office_rules(office, THURSDAY, THURSDAY).rota is None
    services.duty_windows_save(counselor=counselor, windows=MORNINGS, now=NOW)
    assert selectors.office_rules(office, THURSDAY, THURSDAY).rota is not None
    counselor.is_active = False
    services.counselor_save(counselor=counselor, now=NOW)
    loaded = selectors.office_rules(office, THURSDAY, THURSDAY)
    assert loaded.rota is None
    # Back to the windows' capacities, as in a fresh install.
    assert rules.find_slot(THU_14, loaded).capacity == 1


def test_places_are_the_counselors_on_duty(office, two, book):
    book()
    book()
    with pytest.raises(SlotFull):
        book()
    sato, _suzuki = two
    services.duty_windows_save(counselor=sato, windows=MORNINGS, now=NOW)
    # Afternoons: only suzuki.
    book(THU_14)
    with pytest.raises(SlotFull):
        book(THU_14)


# --- Confirmation assigns a counselor ----------------------------------------------------


def test_confirming_two_requests_assigns_two_counselors(two, book):
    first, second = confirm(book()), confirm(book())
    assert {first.counselor_id, second.counselor_id} == {c.pk for c in two}
    assert not first.needs_reassignment


def test_the_counselor_with_fewer_sessions_that_day_is_picked(two, book):
    sato, suzuki = two
    confirm(book(THU_14), counselor=sato)
    assert confirm(book()).counselor_id == suzuki.pk
    # Tied at one each: the lower id.
    assert confirm(book(THU_1030)).counselor_id == min(sato.pk, suzuki.pk)


def test_staff_may_choose_a_free_counselor_on_duty(office, two, book):
    sato, suzuki = two
    assert confirm(book(), counselor=suzuki).counselor_id == suzuki.pk
    with pytest.raises(ReservationError) as busy:
        confirm(book(), counselor=suzuki)
    assert busy.value.code == "counselor"
    services.duty_windows_save(counselor=sato, windows=MORNINGS, now=NOW)
    afternoon = book(THU_14)
    with pytest.raises(ReservationError) as off:
        confirm(afternoon, counselor=sato)
    assert off.value.code == "counselor" and "勤務していません" in off.value.message
    afternoon.refresh_from_db()
    assert afternoon.status == Status.REQUESTED and afternoon.counselor_id is None


def test_nobody_free_is_refused_clearly(two, book):
    sato, suzuki = two
    waiting = book()
    confirm(book(), counselor=sato)
    leave(suzuki)
    with pytest.raises(ReservationError) as refused:
        confirm(waiting)
    assert refused.value.code == "no_counselor_free"
    waiting.refresh_from_db()
    assert waiting.status == Status.REQUESTED


def test_an_office_without_counselors_confirms_as_before(book):
    confirmed = confirm(book())
    assert confirmed.status == Status.CONFIRMED and confirmed.counselor_id is None


def test_an_office_without_a_rota_cannot_take_a_chosen_counselor(office, book):
    lonely = add_counselor(office, "sato", duty=())
    with pytest.raises(ReservationError):
        confirm(book(), counselor=lonely)


@pytest.mark.parametrize("counselors", [2, 6])
def test_confirm_and_reassign_queries_do_not_grow(
    office, make_reservation, counselors, django_assert_num_queries
):
    staff = [add_counselor(office, f"c{i}") for i in range(counselors)]
    # Other bookings that day, of every counselor.
    for i, counselor in enumerate(staff[:-1]):
        other = make_reservation(THU + timedelta(minutes=30 * (i % 4)), now=NOW)
        confirm(other, counselor=counselor)
    target = make_reservation(THU_14, now=NOW)
    with django_assert_num_queries(CONFIRM_QUERIES):
        confirmed = confirm(target)
    spare = next(c for c in staff if c.pk != confirmed.counselor_id)
    with django_assert_num_queries(REASSIGN_QUERIES):
        services.reservation_reassign(reservation=confirmed, counselor=spare, actor=None, now=NOW)


# Fixed, whatever the number of counselors and bookings (asserted above for 2 and 6).
CONFIRM_QUERIES = 9
REASSIGN_QUERIES = 8


# --- Reassignment ------------------------------------------------------------------------


def test_reassign_to_a_free_counselor_records_it_and_moves_the_meeting(two, book, database_tasks):
    sato, suzuki = two
    booking = confirm(book(platform=Platform.ZOOM), counselor=sato)
    before = DBTaskResult.objects.filter(task_path=sync_meeting.module_path).count()
    moved = services.reservation_reassign(
        reservation=booking, counselor=suzuki, actor=None, reason="体調不良", now=NOW
    )
    assert moved.counselor_id == suzuki.pk
    event = ReservationEvent.objects.filter(reservation=booking, kind=EventKind.NOTE).get()
    assert event.details == {
        "action": "reassigned",
        "from_counselor": sato.pk,
        "to_counselor": suzuki.pk,
    }
    assert event.reason == "体調不良"
    after = DBTaskResult.objects.filter(task_path=sync_meeting.module_path).count()
    assert after == before + 1


def test_reassign_refusals(two, book):
    sato, suzuki = two
    requested = book()
    with pytest.raises(TransitionNotAllowed):
        services.reservation_reassign(reservation=requested, counselor=sato, actor=None, now=NOW)
    booking = confirm(book(), counselor=sato)
    with pytest.raises(ReservationError) as same:
        services.reservation_reassign(reservation=booking, counselor=sato, actor=None, now=NOW)
    assert same.value.code == "counselor"
    confirm(requested, counselor=suzuki)
    with pytest.raises(ReservationError) as busy:
        services.reservation_reassign(reservation=booking, counselor=suzuki, actor=None, now=NOW)
    assert "ほかの相談" in busy.value.message
    booking.refresh_from_db()
    assert booking.counselor_id == sato.pk


def test_moving_keeps_the_counselor_when_free_else_picks_one(two, book):
    sato, suzuki = two
    booking = confirm(book(), counselor=sato)
    services.reservation_move(reservation=booking, new_start=THU_1030, actor=None, now=NOW)
    booking.refresh_from_db()
    assert booking.counselor_id == sato.pk
    confirm(book(THU_14), counselor=sato)
    services.reservation_move(reservation=booking, new_start=THU_14, actor=None, now=NOW)
    booking.refresh_from_db()
    assert booking.counselor_id == suzuki.pk


# --- Leave after bookings exist ----------------------------------------------------------


def test_leave_reassigns_where_another_counselor_is_free(two, book):
    sato, suzuki = two
    booking = confirm(book(), counselor=sato)
    _exception, result = leave(sato)
    booking.refresh_from_db()
    assert booking.counselor_id == suzuki.pk and not booking.needs_reassignment
    assert result == services.RotaFollowUp(reassigned=1, needs_reassignment=0)
    assert ReservationEvent.objects.filter(
        reservation=booking, details__action="reassigned"
    ).exists()


def test_leave_with_nobody_free_flags_and_withdrawing_it_unflags(two, book):
    sato, suzuki = two
    mine = confirm(book(), counselor=sato)
    confirm(book(), counselor=suzuki)
    exception, result = leave(sato, start=time(10), end=time(10, 30))
    mine.refresh_from_db()
    assert mine.needs_reassignment and mine.counselor_id == sato.pk
    assert result.needs_reassignment == 1
    services.duty_exception_delete(exception=exception, now=NOW)
    mine.refresh_from_db()
    assert not mine.needs_reassignment


@pytest.mark.parametrize("action", ["cancel", "move", "reassign", "extra_shift"])
def test_the_flag_clears_when_dealt_with(office, two, book, action):
    sato, suzuki = two
    mine = confirm(book(), counselor=sato)
    other = confirm(book(), counselor=suzuki)
    leave(sato, start=time(10), end=time(11))
    mine.refresh_from_db()
    assert mine.needs_reassignment
    if action == "cancel":
        services.reservation_cancel(
            reservation=mine, by="staff", actor=None, reason="電話", now=NOW
        )
    elif action == "move":
        services.reservation_move(reservation=mine, new_start=THU_14, actor=None, now=NOW)
    elif action == "reassign":
        services.reservation_cancel(
            reservation=other, by="staff", actor=None, reason="電話", now=NOW
        )
        services.reservation_reassign(reservation=mine, counselor=suzuki, actor=None, now=NOW)
    else:
        # Someone on an extra shift is free: the booking goes to them at once.
        third = add_counselor(office, "tanaka", duty=())
        leave(third, kind=DutyExceptionKind.EXTRA, start=time(10), end=time(12))
        mine.refresh_from_db()
        assert mine.counselor_id == third.pk
    mine.refresh_from_db()
    assert not mine.needs_reassignment


def test_an_extra_shift_adds_a_place_and_its_withdrawal_flags(office, two, book):
    extra_hand = add_counselor(office, "tanaka", duty=())
    exception, _result = leave(extra_hand, kind=DutyExceptionKind.EXTRA)
    for _i in range(3):
        confirm(book())
    taken = Reservation.objects.filter(counselor=extra_hand).get()
    services.duty_exception_delete(exception=exception, now=NOW)
    taken.refresh_from_db()
    assert taken.needs_reassignment


def test_a_counselor_taken_off_counselling_hands_over(two, book):
    sato, suzuki = two
    booking = confirm(book(THU_14), counselor=sato)
    sato.is_active = False
    result = services.counselor_save(counselor=sato, now=NOW)
    booking.refresh_from_db()
    assert booking.counselor_id == suzuki.pk and result.reassigned == 1


def test_past_bookings_are_left_alone(two, book):
    sato, _suzuki = two
    booking = confirm(book(), counselor=sato)
    services.duty_exception_save(
        exception=DutyException(counselor=sato, date=THURSDAY, kind=DutyExceptionKind.LEAVE),
        now=THU + timedelta(minutes=5),
    )
    booking.refresh_from_db()
    assert booking.counselor_id == sato.pk and not booking.needs_reassignment


# --- Bad input ---------------------------------------------------------------------------


def test_bad_duty_windows_are_refused_and_change_nothing(two):
    sato, _suzuki = two
    before = list(sato.duty_windows.values_list("weekday", "start_time", "end_time"))
    for windows in (
        [(0, time(12), time(10))],
        [(0, time(10), time(12)), (0, time(11), time(13))],
        [(9, time(10), time(12))],
    ):
        with pytest.raises(ReservationError) as refused:
            services.duty_windows_save(counselor=sato, windows=windows, now=NOW)
        assert refused.value.code == "duty_windows" and refused.value.message
    assert list(sato.duty_windows.values_list("weekday", "start_time", "end_time")) == before


@pytest.mark.parametrize(
    ("start", "end"), [(time(10), None), (time(12), time(10)), (time(10), time(10))]
)
def test_bad_exception_times_are_refused(two, start, end):
    sato, _suzuki = two
    with pytest.raises(ReservationError) as refused:
        leave(sato, start=start, end=end)
    assert refused.value.code == "end_time"
    assert not DutyException.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("zoom_user", "not a user"), ("languages", "Japanese"), ("display_name", "")],
)
def test_bad_counselor_details_are_refused_naming_the_field(two, field, value):
    sato, _suzuki = two
    setattr(sato, field, value)
    with pytest.raises(ReservationError) as refused:
        services.counselor_save(counselor=sato, now=NOW)
    assert refused.value.code == field


def test_a_counselor_must_work_in_the_office(office, two, django_user_model):
    outsider = django_user_model.objects.create_user(username="outsider", is_staff=True)
    with pytest.raises(ReservationError) as refused:
        services.counselor_save(
            counselor=Counselor(office=office, user=outsider, display_name="外部"), now=NOW
        )
    assert refused.value.code == "user"
