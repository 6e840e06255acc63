"""Benchmark: the admin's 予約 list and 本日の相談 with every Hello Work office in one installation.

    .venv/bin/python bench/bench_offices.py                      # SQLite (a throwaway file)
    DATABASE_URL=postgres://... .venv/bin/python bench/bench_offices.py   # PostgreSQL

Seeds a throwaway database (Django's test database next to DATABASE_URL's) with --offices
offices (default 540), --busy of them (default 60) holding --per-office bookings each
(default 5) and the counselor's own office holding 40, then times the pages through the
whole middleware stack (Django's test client) for a counselor of one office and for a
national administrator (superuser), with the query count of each. A run with --offices 2
gives the baseline: the counts must be the same.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hellowork.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench_api import QueryCounter, timed  # noqa: E402 - sets Django up
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402
from django.utils import timezone  # noqa: E402


def seed(offices: int, busy: int, per_office: int) -> tuple[object, object, str]:
    from django.contrib.auth import get_user_model

    from consent.models import ENVIRONMENT_ITEMS, TermsVersion
    from consent.services import ConsentGiven
    from reservations import selectors, services
    from reservations.models import Office, SessionWindow, StaffMembership, StaffRole

    home = Office.objects.get(slug="isesaki")
    home.max_active_bookings = 100
    home.save()
    terms = TermsVersion.objects.get(office=home, published_at__isnull=False)
    windows = list(home.windows.all())

    def office_like_home(n: int) -> Office:
        office = Office.objects.create(
            name=f"ハローワーク{n:03d}", slug=f"office-{n:03d}", phone="0", max_active_bookings=100
        )
        SessionWindow.objects.bulk_create(
            SessionWindow(
                office=office,
                weekday=w.weekday,
                start_time=w.start_time,
                end_time=w.end_time,
                capacity=20,
            )
            for w in windows
        )
        fields = ("version", "title", "body", "issued_label", "issuer", "effective_date")
        TermsVersion.objects.create(
            office=office,
            content_hash=terms.content_hash,
            published_at=terms.published_at,
            **{name: getattr(terms, name) for name in fields},
        )
        return office

    home.windows.update(capacity=20)
    others = [office_like_home(n) for n in range(min(busy, offices - 1))]
    Office.objects.bulk_create(
        Office(name=f"ハローワーク{n:03d}", slug=f"office-{n:03d}", phone="0")
        for n in range(len(others), offices - 1)
    )
    now = timezone.now()
    first = now.date() + timedelta(days=3)
    starts = [
        a.slot.start for a in selectors.availability(home, first, first + timedelta(days=5), now)
    ]
    counter = 0

    def book(office: Office, start) -> object:  # noqa: ANN001
        nonlocal counter
        counter += 1
        terms_id = TermsVersion.objects.filter(office=office).values_list("pk", flat=True)[0]
        return services.reservation_request(
            office=office,
            slot_start=start,
            consent=ConsentGiven(
                terms_version_id=terms_id,
                platform_terms_accepted=True,
                confirmed_items=frozenset(ENVIRONMENT_ITEMS),
                ip_address="192.0.2.1",
                user_agent="bench",
                language="ja",
            ),
            now=now,
            name=f"予約者{counter}",
            email=f"p{counter}@example.jp",
            seeker_number=f"10040-{1000000 + counter}",
            platform="teleoffice",
        )

    User = get_user_model()
    counselor = User.objects.create_user("bench-counselor", password="x" * 20, is_staff=True)
    StaffMembership.objects.create(user=counselor, office=home, role=StaffRole.COUNSELOR)
    from django.contrib.auth.models import Group

    counselor.groups.add(Group.objects.get(name="相談員"))
    root = User.objects.create_superuser("bench-root", password="x" * 20)
    day = starts[0]
    for n in range(40):
        booking = book(home, starts[n % len(starts)])
        if n % 2:
            services.reservation_confirm(
                reservation=booking,
                actor=counselor,
                meeting_url="https://teleoffice.example.jp/r/1",
            )
    for office in others:
        for n in range(per_office):
            book(office, starts[n % len(starts)])
    return counselor, root, day.astimezone(timezone.get_current_timezone()).date().isoformat()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offices", type=int, default=540)
    parser.add_argument("--busy", type=int, default=60)
    parser.add_argument("--per-office", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=30)
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
        started = time.perf_counter()
        counselor, root, day = seed(args.offices, args.busy, args.per_office)
        print(
            f"{connection.vendor}: {args.offices} offices seeded in "
            f"{time.perf_counter() - started:.1f}s"
        )
        print(f"{'page':<34} {'who':<10} {'queries':>7} {'median':>8} {'p95':>8} {'max':>8}")
        for who, user in (("counselor", counselor), ("superuser", root)):
            client = Client()
            client.force_login(user)
            for name, url in (
                ("予約一覧 (?day=all)", "/admin/reservations/reservation/?day=all"),
                ("本日の相談", f"/admin/reservations/reservation/today/?date={day}"),
            ):
                client.get(url)
                with QueryCounter() as count:
                    assert client.get(url).status_code == 200
                median, p95, worst = timed(
                    lambda url=url, client=client: client.get(url), args.repeat
                )
                print(
                    f"{name:<34} {who:<10} {count.count:>7} {median:>6.1f}ms "
                    f"{p95:>6.1f}ms {worst:>6.1f}ms"
                )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        if scratch is not None:
            scratch.cleanup()


if __name__ == "__main__":
    main()
