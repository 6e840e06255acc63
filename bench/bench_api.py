"""Benchmark: the availability API and the request service on a realistically full database.

    .venv/bin/python bench/bench_api.py                      # SQLite (a throwaway file)
    DATABASE_URL=postgres://... .venv/bin/python bench/bench_api.py   # PostgreSQL

It builds a throwaway database (never the one in DATABASE_URL itself: Django's test
database next to it), seeds several offices with two years of booking history and a busy
coming month, then times `GET /api/slots/` for 7, 28 and 62-day ranges (through the whole
middleware stack, with Django's test client) and `services.reservation_request`. Mail and
meeting work are enqueued as rows (TASK_BACKEND=database), as in production.

Options: --offices N (default 5), --years N (default 2), --repeat N (default 100).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hellowork.settings_test")
os.environ["TASK_BACKEND"] = "database"
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_test_environment,
    teardown_test_environment,
)
from django.utils import timezone  # noqa: E402

settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers")


class QueryCounter:
    """Counts statements as they run (request_started would reset `connection.queries`)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):  # noqa: ANN001, ANN204
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self) -> QueryCounter:
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapper.__exit__(*exc)


STATUS_MIX = (  # share of finished bookings, roughly as an office would see them
    ("attended", 70),
    ("cancelled", 12),
    ("no_show", 6),
    ("expired", 7),
    ("rejected", 5),
)


def seed(offices: int, years: int, now: datetime) -> dict[str, int]:
    """Offices with capacity 2, `years` of finished bookings, the next 28 days 60% held."""
    from consent.models import TermsVersion
    from reservations import rules, selectors
    from reservations.models import Office, Reservation, SessionWindow, Slot

    rng = random.Random(2026)  # noqa: S311 - benchmark data, not security
    first_office = Office.objects.get(slug="isesaki")
    terms = TermsVersion.objects.get(office=first_office)
    all_offices = [first_office]
    for n in range(1, offices):
        office = Office.objects.create(
            name=f"ハローワーク{n}", slug=f"office-{n}", phone="0270-00-0000"
        )
        SessionWindow.objects.bulk_create(
            SessionWindow(
                office=office,
                weekday=w.weekday,
                start_time=w.start_time,
                end_time=w.end_time,
                capacity=w.capacity,
            )
            for w in first_office.windows.all()
        )
        terms.pk = None
        terms.office = office
        terms.save()
        all_offices.append(office)
    SessionWindow.objects.update(capacity=2)
    Office.objects.update(horizon_days=62)

    today = now.astimezone(rules.TOKYO).date()
    history_start = today - timedelta(days=365 * years)
    future_end = today + timedelta(days=28)
    statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
    counts = {"slots": 0, "bookings": 0}
    serial = 0
    for office in all_offices:
        office_rules = selectors.office_rules(office, history_start, future_end)
        slots = rules.slots_between(history_start, future_end, office_rules)
        rows = Slot.objects.bulk_create(
            Slot(office=office, starts_at=s.start, ends_at=s.end) for s in slots
        )
        counts["slots"] += len(rows)
        bookings = []
        for row in rows:
            future = row.starts_at > now
            for _place in range(2):
                if rng.random() > (0.6 if future else 0.75):
                    continue
                serial += 1
                status = rng.choice(["requested", "confirmed"]) if future else rng.choice(statuses)
                number = f"{10000 + serial % 90000:05d}-{serial}"
                bookings.append(
                    Reservation(
                        office=office,
                        slot=row,
                        status=status,
                        reference=f"B{serial:011d}",
                        token=f"bench-token-{serial}",
                        name="ベンチ 太郎",
                        seeker_number=number,
                        email=f"bench{serial}@example.jp",
                        person_key=f"n:{number}",
                    )
                )
                if len(bookings) >= 5000:
                    Reservation.objects.bulk_create(bookings)
                    counts["bookings"] += len(bookings)
                    bookings = []
        Reservation.objects.bulk_create(bookings)
        counts["bookings"] += len(bookings)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, as a live database would have
    return counts


def timed(fn, repeat: int) -> tuple[float, float, float]:  # noqa: ANN001
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    return statistics.median(samples), p95, max(samples)


def bench_api(now: datetime, repeat: int) -> None:
    from reservations.rules import TOKYO

    client = Client()
    today = now.astimezone(TOKYO).date()
    print("\nGET /api/slots/ (office isesaki, horizon 62 days, capacity 2)")
    print(f"{'range':>8} {'slots':>6} {'queries':>8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for days in (7, 28, 62):
        params = {
            "from": (today + timedelta(days=1)).isoformat(),
            "to": (today + timedelta(days=days)).isoformat(),
        }
        with QueryCounter() as queries:
            response = client.get("/api/slots/", params)
        assert response.status_code == 200, response.content
        body = response.json()
        median, p95, worst = timed(lambda p=params: client.get("/api/slots/", p), repeat)
        print(
            f"{days:>6} d {len(body['slots']):>6} {queries.count:>8} "
            f"{median:>10.2f} {p95:>8.2f} {worst:>8.2f}"
        )


def bench_request(now: datetime, repeat: int) -> None:
    from consent.models import ENVIRONMENT_ITEMS
    from consent.selectors import terms_in_force
    from consent.services import ConsentGiven
    from reservations import selectors, services
    from reservations.models import CapacityOverride, Office
    from reservations.rules import TOKYO

    office = Office.objects.get(slug="isesaki")
    today = now.astimezone(TOKYO).date()
    free = selectors.availability(office, today, today + timedelta(days=62), now)
    target = free[-1].slot.start  # one slot, opened wide, so every request succeeds
    CapacityOverride.objects.create(
        office=office,
        date=target.astimezone(TOKYO).date(),
        start_time=target.astimezone(TOKYO).time(),
        capacity=repeat + 10,
    )
    consent = ConsentGiven(
        terms_version_id=terms_in_force(office.pk, now).pk,
        platform_terms_accepted=True,
        confirmed_items=frozenset(ENVIRONMENT_ITEMS),
        ip_address="192.0.2.1",
        user_agent="bench",
    )
    counter = iter(range(1, 10**6))

    def one() -> None:
        n = next(counter)
        services.reservation_request(
            office=office,
            slot_start=target,
            name="ベンチ 花子",
            email=f"request{n}@example.jp",
            seeker_number=f"99999-{n}",
            consent=consent,
            now=now,
        )

    with QueryCounter() as queries:
        one()
    median, p95, worst = timed(one, repeat)
    print("\nservices.reservation_request (one slot, new person each time, mail enqueued)")
    print(f"queries {queries.count}  median {median:.2f} ms  p95 {p95:.2f} ms  max {worst:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offices", type=int, default=5)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()

    db = settings.DATABASES["default"]
    scratch = None
    if db["ENGINE"].endswith("sqlite3"):
        scratch = tempfile.TemporaryDirectory()
        db.setdefault("TEST", {})["NAME"] = str(Path(scratch.name) / "bench.sqlite3")
    else:
        db.setdefault("TEST", {})["NAME"] = f"bench_{db['NAME']}"
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        now = timezone.now()
        started = time.perf_counter()
        counts = seed(args.offices, args.years, now)
        print(
            f"{connection.vendor}: {args.offices} offices, {counts['slots']} slots, "
            f"{counts['bookings']} bookings seeded in {time.perf_counter() - started:.1f}s"
        )
        bench_api(now, args.repeat)
        bench_request(now, args.repeat)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        if scratch is not None:
            scratch.cleanup()


if __name__ == "__main__":
    main()
