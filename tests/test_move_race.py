"""The seeker's move (振替, rule 10) racing a direct request on real PostgreSQL.

A seeker moves into the last place of a slot while another person requests it directly, each
on its own connection, started together: exactly one gets the place, and the loser changes
nothing (the mover keeps their old slot; the requester has no booking).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from reservations import rules, services
from reservations.models import Office, Reservation, ReservationEvent
from reservations.services import SlotFull
from tests.conftest import tokyo
from tests.test_concurrency import NOW, race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are only real on PostgreSQL"
    ),
]

OLD = tokyo(2026, 12, 3, 10)
TARGET = tokyo(2026, 12, 4, 14)
ROUNDS = 10


def _request(office: Office, consent, slot, n: int) -> Reservation:
    return services.reservation_request(
        office=Office.objects.get(pk=office.pk),
        slot_start=slot,
        name=f"申込者 {n}",
        email=f"seeker{n}@example.jp",
        seeker_number=f"10040-{n + 1}",
        platform="teleoffice",
        consent=consent,
        now=NOW,
    )


def test_a_move_and_a_request_for_the_last_place(office, consent_given) -> None:
    consent = consent_given()
    tally: Counter[str] = Counter()
    for round_ in range(ROUNDS):
        mover = _request(office, consent, OLD, 1000 + round_)
        events_before = ReservationEvent.objects.filter(reservation=mover).count()

        def work(i: int, mover_pk: int = mover.pk, n: int = round_) -> object:
            if i == 0:
                return services.reservation_move_by_seeker(
                    reservation=Reservation.objects.get(pk=mover_pk), slot_start=TARGET, now=NOW
                )
            return _request(office, consent, TARGET, 2000 + n)

        results, elapsed = race(work, threads=2)
        winners = [r for r in results if isinstance(r, Reservation)]
        losers = [r for r in results if not isinstance(r, Reservation)]
        assert len(winners) == 1, results
        assert len(losers) == 1 and isinstance(losers[0], SlotFull), results
        held = Reservation.objects.filter(
            slot__starts_at=TARGET, status__in=rules.ACTIVE_STATUSES
        ).count()
        assert held == 1
        mover = Reservation.objects.select_related("slot").get(pk=mover.pk)
        requester = Reservation.objects.filter(email=f"seeker{2000 + round_}@example.jp")
        if isinstance(results[0], Reservation):
            tally["move"] += 1
            assert mover.slot.starts_at == TARGET
            assert not requester.exists()  # the refused request saved nothing
        else:
            tally["request"] += 1
            assert requester.get().slot.starts_at == TARGET
            # The refused move changed nothing: the same slot, status and history.
            assert mover.slot.starts_at == OLD and mover.status == rules.Status.REQUESTED
            assert ReservationEvent.objects.filter(reservation=mover).count() == events_before
        # Next round: the slot is free again for both.
        Reservation.objects.filter(slot__starts_at__in=[OLD, TARGET]).update(
            status=rules.Status.CANCELLED
        )
    print(f"\nmove vs request for the last place, {ROUNDS} rounds: {dict(tally)}")


def test_two_moves_crossing_each_other_do_not_deadlock(office, consent_given) -> None:
    """A moves Thursday → Friday while B moves Friday → Thursday: slots lock in start order."""
    consent = consent_given()
    a = _request(office, consent, OLD, 1)
    b = _request(office, consent, TARGET, 2)
    moves = [(a.pk, TARGET), (b.pk, OLD)]

    def work(i: int) -> object:
        pk, to = moves[i]
        return services.reservation_move_by_seeker(
            reservation=Reservation.objects.get(pk=pk), slot_start=to, now=NOW
        )

    results, _elapsed = race(work, threads=2)
    # Each target is full while the other has not moved: one or both are refused as full,
    # never a deadlock or another error.
    assert all(isinstance(r, Reservation | SlotFull) for r in results), results


def test_the_move_locks_person_then_booking_then_slots_in_start_order(
    office, consent_given
) -> None:
    r = _request(office, consent_given(), TARGET, 1)
    with CaptureQueriesContext(connection) as queries:
        services.reservation_move_by_seeker(reservation=r, slot_start=OLD, now=NOW)
    sql = [q["sql"] for q in queries.captured_queries]
    sql = sql[sql.index("BEGIN") : sql.index("COMMIT")]  # the move's own transaction
    locking = [s for s in sql if " FOR UPDATE" in s or ("ON CONFLICT" in s and "DO UPDATE" in s)]
    tables = [re.search(r'(?:FROM|INTO) "(\w+)"', s).group(1) for s in locking]
    assert tables == [
        "reservations_seekerlock",
        "reservations_seekerlock",
        "reservations_reservation",
        "reservations_slot",
        "reservations_slot",
        # The freed place goes to its waiting list (rule 16): the old slot, already held,
        # then its entries — still after every slot, as everywhere.
        "reservations_slot",
        "reservations_waitlistentry",
    ]
    slots = [s for s, table in zip(locking, tables, strict=True) if table == "reservations_slot"]
    # The earlier slot first (the target here), then the booked one; then the booked one
    # again (by its id) for its waiting list.
    assert "2026-12-03" in slots[0] and "2026-12-04" in slots[1]
    assert f'"reservations_slot"."id" = {r.slot_id}' in slots[2]
