"""Seed a national installation on PostgreSQL: every Hello Work office with years of history.

    DATABASE_URL=postgres://… .venv/bin/python bench/seed_national.py \
        [--database bench_national] [--offices 540] [--days 730] [--per-slot 5]

It (re)creates the database `--database` on DATABASE_URL's server (never DATABASE_URL's
own database), migrates it, imports the offices with `offices_import` (one CSV: names,
slugs and prefectures spread over the 47 in their official order, each with the first
office's weekly windows and terms), gives every window `--per-slot` places, and fills the
last `--days` days with `--per-slot` finished bookings per session, written with COPY in
one transaction per office by `--jobs` writers side by side. Bookings past the retention
period are anonymised as `purge_personal_data` leaves them. Every index and constraint
stays in place while it writes. It prints the rows, the seconds and the database's size.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import secrets
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hellowork.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bench_api import STATUS_MIX  # noqa: E402 - sets Django up
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from reservations import rules, selectors  # noqa: E402
from reservations.models import PREFECTURES, Office, SessionWindow  # noqa: E402
from tests.processes import pg_execute  # noqa: E402

DEFAULT_DATABASE = os.environ.get("BENCH_DATABASE", "bench_national")
# Languages a booking was made in, roughly as a national service would see them.
LANGUAGES = ("ja",) * 16 + ("en", "vi", "pt-br", "zh-hans")
RESERVATION_COLUMNS = (
    "id",
    "status",
    "reference",
    "token",
    "name",
    "seeker_number",
    "about_to_register",
    "email",
    "phone",
    "topic",
    "companion",
    "companion_language",
    "platform",
    "language",
    "person_key",
    "meeting_state",
    "meeting_id",
    "meeting_join_url",
    "meeting_passcode",
    "meeting_error",
    "created_at",
    "updated_at",
    "confirmed_at",
    "reminder_sent_at",
    "anonymized_at",
    "office_id",
    "slot_id",
    "needs_reassignment",
    "counselor_id",
)
NULL = r"\N"


def office_rows(count: int) -> list[dict[str, str]]:
    """`count` offices beside the first one, spread over the 47 prefectures in order."""
    rows = []
    for n in range(count):
        prefecture, latin = PREFECTURES[n * len(PREFECTURES) // max(count, 1)]
        stem = prefecture if prefecture == "北海道" else prefecture[:-1]
        number = sum(1 for row in rows if row["prefecture"] == prefecture) + 1
        rows.append(
            {
                "slug": f"{latin.lower()}-{number}",
                "name": f"ハローワーク{stem}第{number}",
                "name_en": f"Hello Work {latin} No. {number}",
                "phone": f"0{n % 9 + 1}-{1000 + n:04d}-{n % 10000:04d}",
                "prefecture": prefecture,
                "address": f"{prefecture}{stem}市中央{number}丁目{n % 30 + 1}番地",
                "copy_settings_from": "isesaki",
            }
        )
    return rows


def import_offices(count: int) -> float:
    """The offices through `offices_import` (one CSV, all or nothing); seconds taken."""
    rows = office_rows(count)
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "offices.csv"
        header = list(rows[0]) if rows else ["slug"]
        lines = [",".join(header), *(",".join(row[k] for k in header) for row in rows)]
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
        started = time.perf_counter()
        if rows:
            call_command("offices_import", str(csv), verbosity=0)
    return time.perf_counter() - started


def reference_of(serial: int) -> str:
    """A unique reference in the shape of `rules.new_reference` (25⁶ of them)."""
    alphabet = rules.REFERENCE_ALPHABET
    chars = []
    for _ in range(6):
        serial, digit = divmod(serial, len(alphabet))
        chars.append(alphabet[digit])
    return f"{''.join(chars[:3])}-{''.join(chars[3:])}"


def stamp(moment: datetime | None) -> str:
    return NULL if moment is None else moment.isoformat()


class Seeder:
    """Writes one office's slots and bookings at a time with COPY, ids chosen here."""

    def __init__(self, per_slot: int, now: datetime) -> None:
        self.per_slot = per_slot
        self.now = now
        self.retention = timedelta(days=settings.RETENTION_DAYS)
        self.statuses = [s for s, weight in STATUS_MIX for _ in range(weight)]
        self.calendars: dict[tuple, list[rules.Slot]] = {}

    @staticmethod
    def ids(cursor, table: str, count: int) -> list[int]:  # noqa: ANN001 - a DB-API cursor
        """`count` ids from the table's own sequence: safe beside other writers."""
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "  # noqa: S608
            "FROM generate_series(1, %s)",
            [count],
        )
        return [row[0] for row in cursor.fetchall()]

    def sessions(self, office: Office, first: date, last: date) -> list[rules.Slot]:
        office_rules = selectors.office_rules(office, first, last)
        # Offices copied from one another share a calendar: work it out once.
        key = (
            office_rules.windows,
            office_rules.slot_minutes,
            office_rules.closures,
            tuple(sorted(office_rules.capacity_overrides.items())),
        )
        if key not in self.calendars:
            self.calendars[key] = rules.slots_between(first, last, office_rules)
        return self.calendars[key]

    def booking(self, serial: int, office_id: int, slot_id: int, slot: rules.Slot) -> str:
        rng = self.rng
        status = rng.choice(self.statuses)
        created = slot.start - timedelta(days=rng.randint(1, 27), minutes=rng.randint(0, 600))
        confirmed = None
        if status in ("attended", "no_show") or (status == "cancelled" and rng.random() < 0.5):
            confirmed = created + timedelta(hours=rng.randint(1, 30))
        seeker_number = f"{10000 + serial % 90000:05d}-{serial % 100_000_000}"
        email = f"seeker{serial}@example.jp"
        anonymized = slot.end + self.retention if slot.end + self.retention < self.now else None
        if anonymized is None:
            name, phone, key = f"求職者 {serial}", "090-0000-0000", f"n:{seeker_number}"
        else:
            name = seeker_number = email = phone = ""
            key = f"anonymized:{serial}"
        values = (
            str(serial),
            status,
            reference_of(serial),
            secrets.token_urlsafe(32),
            name,
            seeker_number,
            "f",
            email,
            phone,
            "",
            "",
            "",
            "teleoffice",
            rng.choice(LANGUAGES),
            key,
            "none",
            "",
            "",
            "",
            "",
            stamp(created),
            stamp(max(slot.end, confirmed or created)),
            stamp(confirmed),
            stamp(slot.start - timedelta(days=1) if confirmed else None),
            stamp(anonymized),
            str(office_id),
            str(slot_id),
            "f",
            NULL,
        )
        return "\t".join(values) + "\n"

    def office(self, office: Office, first: date, last: date) -> tuple[int, int]:
        """The office's sessions from `first` to `last` that have started, each booked."""
        self.rng = random.Random(office.pk)  # noqa: S311 - benchmark data, not security
        sessions = [s for s in self.sessions(office, first, last) if s.start < self.now]
        slots, bookings = io.StringIO(), io.StringIO()
        with transaction.atomic(), connection.cursor() as cursor:
            slot_ids = self.ids(cursor, "reservations_slot", len(sessions))
            booking_ids = iter(
                self.ids(cursor, "reservations_reservation", len(sessions) * self.per_slot)
            )
            for slot_id, slot in zip(slot_ids, sessions, strict=True):
                slots.write(f"{slot_id}\t{slot.start.isoformat()}\t{slot.end.isoformat()}\t")
                slots.write(f"{office.pk}\n")
                for _place in range(self.per_slot):
                    bookings.write(self.booking(next(booking_ids), office.pk, slot_id, slot))
            slots.seek(0)
            bookings.seek(0)
            raw = cursor.connection.cursor()
            raw.copy_expert(
                "COPY reservations_slot (id, starts_at, ends_at, office_id) FROM STDIN", slots
            )
            raw.copy_expert(
                f"COPY reservations_reservation ({', '.join(RESERVATION_COLUMNS)}) FROM STDIN",
                bookings,
            )
        return len(sessions), len(sessions) * self.per_slot


def seed_share(job: int, jobs: int, per_slot: int, days: int, now: datetime) -> tuple[int, int]:
    """One writer's share of the offices (every `jobs`-th); its slots and bookings."""
    connection.close()  # a connection of its own, never the parent's
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")  # this session only; COPY is durable
    seeder = Seeder(per_slot, now)
    today = now.astimezone(rules.TOKYO).date()
    slots = bookings = 0
    offices = list(Office.objects.order_by("id"))[job::jobs]
    started = time.perf_counter()
    for n, office in enumerate(offices, start=1):
        made = seeder.office(office, today - timedelta(days=days), today)
        slots += made[0]
        bookings += made[1]
        if n % 20 == 0:
            rate = bookings / (time.perf_counter() - started)
            print(f"  writer {job}: {n} offices, {bookings:,} bookings ({rate:,.0f}/s)", flush=True)
    connection.close()
    return slots, bookings


def use_database(name: str) -> str:
    """(Re)create `name` next to DATABASE_URL's database and point Django at it; its URL."""
    url = os.environ.get("DATABASE_URL", "")
    if "postgres" not in url:
        raise SystemExit("seed_national needs PostgreSQL: set DATABASE_URL=postgres://…")
    if name == settings.DATABASES["default"]["NAME"]:
        raise SystemExit(f"--database {name} is DATABASE_URL's own database: choose another")
    pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_execute(url, f'CREATE DATABASE "{name}"')
    connection.close()
    settings.DATABASES["default"]["NAME"] = name
    connection.settings_dict["NAME"] = name
    return url.rsplit("/", 1)[0] + f"/{name}"


def seed(*, offices: int, days: int, per_slot: int, jobs: int = 2) -> dict[str, float]:
    """Migrate the current database, import `offices` offices and write their history with
    `jobs` writers side by side."""
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    import_seconds = import_offices(offices - Office.objects.count())
    SessionWindow.objects.update(capacity=per_slot)
    now = timezone.now()
    connection.close()
    with multiprocessing.get_context("fork").Pool(jobs) as pool:
        shares = pool.starmap(seed_share, [(job, jobs, per_slot, days, now) for job in range(jobs)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("SELECT pg_database_size(current_database())")
        size = cursor.fetchone()[0]
    return {
        "offices": Office.objects.count(),
        "slots": sum(share[0] for share in shares),
        "bookings": sum(share[1] for share in shares),
        "import_seconds": import_seconds,
        "seconds": time.perf_counter() - started,
        "database_bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--offices", type=int, default=540)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--per-slot", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="writers side by side")
    options = parser.parse_args()
    use_database(options.database)
    figures = seed(
        offices=options.offices, days=options.days, per_slot=options.per_slot, jobs=options.jobs
    )
    print(
        f"{options.database}: {figures['offices']} offices (imported in "
        f"{figures['import_seconds']:.1f} s), {figures['slots']:,} slots, "
        f"{figures['bookings']:,} bookings in {figures['seconds']:.0f} s "
        f"({figures['bookings'] / figures['seconds']:,.0f} bookings/s); "
        f"database {figures['database_bytes'] / 2**30:.2f} GiB"
    )


if __name__ == "__main__":
    main()
