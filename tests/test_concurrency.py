"""Races on real PostgreSQL: many people, separate connections, one slot.

Each thread opens its own connection first, then all start together at a barrier, so the
requests truly overlap. SQLite serialises every write transaction (IMMEDIATE), so these
tests only mean something on PostgreSQL and are skipped elsewhere.
"""

from __future__ import annotations

import re
import threading
import time as clock
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from reservations import rules, services
from reservations.models import CapacityOverride, Office, Reservation, Slot
from reservations.services import LimitReached, SlotFull
from tests.conftest import tokyo

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are only real on PostgreSQL"
    ),
]

THREADS = 50
NOW = tokyo(2026, 12, 1, 9)
SLOT = tokyo(2026, 12, 3, 10)


def race(work: Callable[[int], object], *, threads: int = THREADS) -> tuple[list, float]:
    """Run `work(i)` in `threads` threads, each on its own connection, started together."""
    start_line = threading.Barrier(threads)
    results: list[object] = [None] * threads

    def run(i: int) -> None:
        try:
            connection.ensure_connection()  # connect before the start, not during the race
            start_line.wait(timeout=60)
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - every outcome is examined by the test
            results[i] = exc
        finally:
            connection.close()

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    started = clock.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    elapsed = clock.perf_counter() - started
    assert not any(worker.is_alive() for worker in workers)
    return results, elapsed


def outcomes(results: list[object]) -> Counter[str]:
    return Counter("booked" if isinstance(r, Reservation) else type(r).__name__ for r in results)


def report(name: str, results: list[object], elapsed: float) -> None:
    print(f"\n{name}: {len(results)} requests, {dict(outcomes(results))}, {elapsed:.2f}s")


@pytest.fixture
def request_for(office, consent_given) -> Callable[..., object]:
    consent = consent_given()

    def make(i: int, *, slot=SLOT, person: str | None = None) -> Reservation:
        mine = Office.objects.get(pk=office.pk)  # each thread its own instance
        number = person or f"10040-{i + 1}"
        return services.reservation_request(
            office=mine,
            slot_start=slot,
            name=f"申込者 {i}",
            email=f"seeker{i}@example.jp",
            seeker_number=number,
            consent=consent,
            now=NOW,
        )

    return make


def active_on(slot_start) -> int:
    return Reservation.objects.filter(
        slot__starts_at=slot_start, status__in=rules.ACTIVE_STATUSES
    ).count()


@pytest.mark.parametrize("slot_row_exists", [False, True], ids=["fresh-slot", "existing-row"])
def test_fifty_people_one_place(request_for, office, slot_row_exists: bool) -> None:
    if slot_row_exists:
        # With the row already there, only the row lock (not the unique index) stands
        # between the requests.
        Slot.objects.create(office=office, starts_at=SLOT, ends_at=SLOT + timedelta(minutes=30))
    results, elapsed = race(request_for)
    report(f"capacity 1 ({'existing row' if slot_row_exists else 'fresh slot'})", results, elapsed)
    assert outcomes(results) == Counter({"booked": 1, "SlotFull": THREADS - 1})
    assert active_on(SLOT) == 1
    assert all(r.message for r in results if isinstance(r, SlotFull))


def test_fifty_people_three_places(request_for, office) -> None:
    CapacityOverride.objects.create(
        office=office, date=SLOT.date(), start_time=SLOT.time(), capacity=3
    )
    results, elapsed = race(request_for)
    report("capacity 3", results, elapsed)
    assert outcomes(results) == Counter({"booked": 3, "SlotFull": THREADS - 3})
    assert active_on(SLOT) == 3


@pytest.mark.parametrize("max_active", [1, 2])
def test_one_person_racing_for_many_slots(request_for, office, max_active: int) -> None:
    office.max_active_bookings = max_active
    office.save()
    open_slots = [
        s.start
        for s in rules.requestable_slots(
            SLOT.date(), SLOT.date() + timedelta(days=14), NOW, rules.OfficeRules()
        )
    ][:THREADS]
    assert len(open_slots) == THREADS

    results, elapsed = race(lambda i: request_for(i, slot=open_slots[i], person="10040-777"))
    report(f"one person, {THREADS} slots, limit {max_active}", results, elapsed)
    assert outcomes(results) == Counter(
        {"booked": max_active, "LimitReached": THREADS - max_active}
    )
    assert (
        Reservation.objects.filter(
            person_key="n:10040-777", status__in=rules.ACTIVE_STATUSES
        ).count()
        == max_active
    )


def test_one_person_racing_for_one_slot_many_times(request_for, office) -> None:
    office.max_active_bookings = 5
    office.save()
    CapacityOverride.objects.create(
        office=office, date=SLOT.date(), start_time=SLOT.time(), capacity=5
    )
    results, elapsed = race(lambda i: request_for(i, person="10040-777"))
    report("one person, one slot", results, elapsed)
    assert outcomes(results) == Counter({"booked": 1, "LimitReached": THREADS - 1})
    assert all(
        "すでに申し込まれています" in r.message for r in results if isinstance(r, LimitReached)
    )


# --- Why the lock matters ---------------------------------------------------------------------


def test_the_same_check_without_a_lock_overbooks(office) -> None:
    """The service's check-then-write, done on the model layer without the row lock.

    The second barrier lets every thread finish its check before any writes: an interleaving
    a busy server meets by chance, forced here so the outcome is certain. Every thread sees
    a free place, and all of them take it.
    """
    slot_row = Slot.objects.create(
        office=office, starts_at=SLOT, ends_at=SLOT + timedelta(minutes=30)
    )
    checked = threading.Barrier(THREADS)

    def unlocked(i: int) -> Reservation | None:
        with transaction.atomic():
            held = Reservation.objects.filter(
                slot_id=slot_row.pk, status__in=rules.ACTIVE_STATUSES
            ).count()
            checked.wait(timeout=60)
            if held >= 1:
                return None
            return Reservation.objects.create(
                office_id=office.pk,
                slot_id=slot_row.pk,
                reference=rules.new_reference(),
                token=rules.new_token(),
                name=f"申込者 {i}",
                seeker_number=f"10040-{i + 1}",
                email=f"seeker{i}@example.jp",
                person_key=f"n:10040-{i + 1}",
            )

    results, elapsed = race(unlocked)
    report("without the lock", results, elapsed)
    assert outcomes(results) == Counter({"booked": THREADS})
    assert active_on(SLOT) == THREADS  # fifty people in a one-person slot


def test_with_the_lock_the_same_interleaving_books_once(request_for, office) -> None:
    """The same worst case through the service: every request is past its pre-checks and
    waiting at the slot's row lock at the same moment; still exactly one gets the place."""
    slot_row = Slot.objects.create(
        office=office, starts_at=SLOT, ends_at=SLOT + timedelta(minutes=30)
    )
    outcome: dict[str, object] = {}

    def all_waiting() -> int:
        with connection.cursor() as cursor:
            # Activity statistics are a snapshot per transaction: take a fresh one each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            return cursor.fetchone()[0]

    def gatekeeper() -> None:
        # Hold the slot's row lock, as a long booking transaction would, until all wait.
        with transaction.atomic():
            Slot.objects.select_for_update().get(pk=slot_row.pk)
            outcome["gate_closed"] = True
            deadline = clock.monotonic() + 60
            while clock.monotonic() < deadline:
                waiting = all_waiting()
                outcome["waiting"] = waiting
                if waiting >= THREADS:
                    break
                clock.sleep(0.05)
        connection.close()

    gate = threading.Thread(target=gatekeeper)
    gate.start()
    while "gate_closed" not in outcome:
        clock.sleep(0.01)
    results, elapsed = race(request_for)
    gate.join(timeout=120)
    report(f"through the lock ({outcome['waiting']} waiting at once)", results, elapsed)
    assert outcome["waiting"] == THREADS
    assert outcomes(results) == Counter({"booked": 1, "SlotFull": THREADS - 1})
    assert active_on(SLOT) == 1


def test_request_locks_person_then_slot(request_for) -> None:
    """The booking transaction takes its row locks in the fixed order: person, then slot."""
    with CaptureQueriesContext(connection) as queries:
        request_for(0)
    sql = [q["sql"] for q in queries.captured_queries]
    booking = sql[sql.index("BEGIN") : sql.index("COMMIT")]
    # A row is locked by SELECT … FOR UPDATE, or by an insert that updates the row it meets.
    locking = [
        statement
        for statement in booking
        if " FOR UPDATE" in statement or ("ON CONFLICT" in statement and "DO UPDATE" in statement)
    ]
    locked = [re.search(r'(?:FROM|INTO) "(\w+)"', statement).group(1) for statement in locking]
    # One lock per identity of the person (email and 求職番号, rule 8), then the slot.
    assert locked == ["reservations_seekerlock", "reservations_seekerlock", "reservations_slot"]
    keys = [re.search(r"'([0-9a-f]{64})'", statement).group(1) for statement in locking[:2]]
    assert keys == sorted(keys)
