"""Assignment races on real PostgreSQL (rule 4): supervisors confirming at the same moment,
seekers racing for a slot with two counselors on duty, a leave entered during a confirmation.

As in tests/test_concurrency.py: every thread its own connection, all released together.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from reservations import services
from reservations.errors import ReservationError
from reservations.models import (
    Counselor,
    DutyException,
    DutyExceptionKind,
    Office,
    Reservation,
)
from reservations.rules import ACTIVE_STATUSES, TOKYO, Status
from tests.conftest import tokyo
from tests.rota_support import add_counselor
from tests.test_concurrency import outcomes, race, report

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are only real on PostgreSQL"
    ),
]

NOW = tokyo(2026, 12, 1, 9)
SLOT = tokyo(2026, 12, 3, 10)
ROUNDS = 10
SLOTS = [
    tokyo(2026, 12, day, hour, minute)
    for day in (3, 4)
    for hour in (10, 11, 14, 15)
    for minute in (0, 30)
]
SEEKERS = 50


@pytest.fixture
def request_for(office, consent_given):
    consent = consent_given()

    def make(i: int, *, slot=SLOT) -> Reservation:
        return services.reservation_request(
            office=Office.objects.get(pk=office.pk),
            slot_start=slot,
            name=f"申込者 {i}",
            email=f"seeker{i}@example.jp",
            seeker_number=f"10040-{i + 1}",
            consent=consent,
            now=NOW,
        )

    return make


def confirm_in_thread(pk: int) -> Reservation:
    return services.reservation_confirm(
        reservation=Reservation.objects.get(pk=pk), actor=None, now=NOW
    )


def test_two_supervisors_confirm_at_once_two_counselors(office, request_for) -> None:
    counselors = {add_counselor(office, "sato").pk, add_counselor(office, "suzuki").pk}
    timings = []
    for round_ in range(ROUNDS):
        slot = SLOTS[round_]
        pks = [request_for(2 * round_ + i, slot=slot).pk for i in range(2)]
        results, elapsed = race(lambda i, pks=pks: confirm_in_thread(pks[i]), threads=2)
        timings.append(elapsed)
        assert outcomes(results) == Counter({"booked": 2}), results
        assert {r.counselor_id for r in results} == counselors
    print(f"\ntwo confirmations at once, {ROUNDS} rounds: max {max(timings):.3f}s")


def test_one_counselor_free_one_refusal(office, request_for) -> None:
    sato = add_counselor(office, "sato")
    suzuki = add_counselor(office, "suzuki")
    pks = [request_for(i).pk for i in range(2)]
    services.duty_exception_save(
        exception=DutyException(counselor=suzuki, date=SLOT.date(), kind=DutyExceptionKind.LEAVE),
        now=NOW,
    )
    results, elapsed = race(lambda i: confirm_in_thread(pks[i]), threads=2)
    report("two confirmations, one counselor free", results, elapsed)
    assert outcomes(results) == Counter({"booked": 1, "ReservationError": 1})
    (refusal,) = [r for r in results if isinstance(r, ReservationError)]
    assert refusal.code == "no_counselor_free"
    assert Reservation.objects.filter(counselor=sato, status=Status.CONFIRMED).count() == 1


def test_seekers_race_for_a_slot_with_two_counselors_on_duty(office, request_for) -> None:
    add_counselor(office, "sato")
    add_counselor(office, "suzuki")
    results, elapsed = race(request_for, threads=SEEKERS)
    report(f"{SEEKERS} seekers, two counselors on duty", results, elapsed)
    assert outcomes(results) == Counter({"booked": 2, "SlotFull": SEEKERS - 2})
    held = list(
        Reservation.objects.filter(slot__starts_at=SLOT, status__in=ACTIVE_STATUSES).values_list(
            "pk", flat=True
        )
    )
    assert len(held) == 2
    confirmed, elapsed = race(lambda i: confirm_in_thread(held[i]), threads=2)
    report("then both confirmed at once", confirmed, elapsed)
    assert len({r.counselor_id for r in confirmed}) == 2


def test_leave_entered_during_a_confirmation(office, request_for) -> None:
    """Either the confirmation sees the leave (and is refused), or the leave sees the booking
    (and flags it): never a counselor on leave left holding a booking unflagged."""
    sato = add_counselor(office, "sato")
    suzuki = add_counselor(office, "suzuki")
    seen = Counter()
    for round_, slot in enumerate(SLOTS[:ROUNDS]):
        busy = request_for(100 + round_, slot=slot)
        services.reservation_confirm(reservation=busy, actor=None, counselor=suzuki, now=NOW)
        waiting = request_for(200 + round_, slot=slot).pk
        local = slot.astimezone(TOKYO)

        def work(i: int, waiting=waiting, local=local) -> object:
            if i == 0:
                return confirm_in_thread(waiting)
            return services.duty_exception_save(
                exception=DutyException(
                    counselor=Counselor.objects.get(pk=sato.pk),
                    date=local.date(),
                    kind=DutyExceptionKind.LEAVE,
                    start_time=local.time(),
                    end_time=(local + timedelta(minutes=30)).time(),
                ),
                now=NOW,
            )

        results, _elapsed = race(work, threads=2)
        unexpected = [
            r for r in results if isinstance(r, Exception) and not isinstance(r, ReservationError)
        ]
        assert not unexpected, unexpected
        booking = Reservation.objects.get(pk=waiting)
        if booking.status == Status.CONFIRMED:
            assert booking.counselor_id == sato.pk and booking.needs_reassignment
            seen["confirmed, then flagged"] += 1
        else:
            assert results[0].code == "no_counselor_free"
            seen["refused"] += 1
    print(f"\nleave during a confirmation, {ROUNDS} rounds: {dict(seen)}")
