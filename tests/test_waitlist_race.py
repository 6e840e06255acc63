"""The waiting list's race on real PostgreSQL (rule 16): a place frees while three people wait
and a fourth requests the slot directly at the same instant; exactly one gets the place.

Threads on their own connections start together at a barrier (tests/test_concurrency.py).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection

from reservations import rules, services
from reservations.models import Office, Reservation, WaitlistEntry
from reservations.rules import WaitlistStatus
from tests.conftest import tokyo
from tests.test_concurrency import race

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are only real on PostgreSQL"
    ),
]

NOW = tokyo(2026, 12, 1, 9)
MOMENT = NOW + timedelta(minutes=5)  # when the place frees and the direct request comes
# Eight slots of Thursday and eight of Friday: one round each.
SLOTS = [
    tokyo(2026, 12, day, hour, minute)
    for day in (3, 4)
    for hour in (10, 11, 14, 15)
    for minute in (0, 30)
]


def test_a_freed_place_three_waiting_and_a_direct_request_one_winner(office, consent_given):
    consent = consent_given()
    winners: Counter[str] = Counter()
    timings = []
    for round_number, slot in enumerate(SLOTS):
        holder = services.reservation_request(
            office=office,
            slot_start=slot,
            name="予約者",
            email=f"holder{round_number}@example.jp",
            seeker_number=f"10040-{100 + round_number}",
            consent=consent,
            now=NOW,
        )
        waiting = [
            services.waitlist_join(
                office=office,
                slot_start=slot,
                name=f"待機者 {n}",
                email=f"wait{round_number}-{n}@example.jp",
                seeker_number=f"10040-{1000 + round_number * 10 + n}",
                now=NOW + timedelta(seconds=n),
            )
            for n in range(3)
        ]

        def work(i: int, holder=holder, waiting=waiting, slot=slot, n=round_number) -> object:
            if i == 0:
                return services.reservation_cancel(reservation=holder, by="seeker", now=MOMENT)
            if i == 1:
                return services.reservation_request(
                    office=Office.objects.get(pk=office.pk),
                    slot_start=slot,
                    name="直接の申込者",
                    email=f"direct{n}@example.jp",
                    seeker_number=f"10040-{5000 + n}",
                    consent=consent,
                    now=MOMENT,
                )
            # The three waiting try to claim at once: only an offer can be claimed.
            return services.waitlist_claim(entry=waiting[i - 2], consent=consent, now=MOMENT)

        results, elapsed = race(work, threads=5)
        timings.append(elapsed)
        assert isinstance(results[0], Reservation), results[0]
        for result in results[1:]:
            assert isinstance(
                result, (Reservation, services.SlotFull, services.OfferNotAvailable)
            ), result
        booked = Reservation.objects.filter(
            slot__starts_at=slot, status__in=rules.ACTIVE_STATUSES
        ).count()
        offered = WaitlistEntry.objects.filter(
            slot__starts_at=slot, status=WaitlistStatus.OFFERED
        ).count()
        # Exactly one place, held once: by a request (direct or claimed) or by a live offer.
        assert booked + offered == 1, (results, booked, offered)
        if isinstance(results[1], Reservation):
            winners["direct request"] += 1
            assert offered == 0
        elif booked:
            winners["claimed offer"] += 1
        else:
            winners["offer held"] += 1
            first = WaitlistEntry.objects.get(pk=waiting[0].pk)
            assert first.status == WaitlistStatus.OFFERED  # first come, first served
    print(
        f"\nwaitlist race: {len(SLOTS)} rounds of 5 threads, {dict(winners)}, "
        f"{min(timings):.3f}–{max(timings):.3f}s per round, "
        f"{sum(timings) / len(timings):.3f}s on average"
    )
    assert sum(winners.values()) == len(SLOTS)
