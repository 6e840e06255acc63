"""`manage.py staff_add USERNAME --office SLUG[,SLUG…] --role counselor|supervisor [--email …]
[--display-name 名前] [--zoom-user EMAIL] [--duty "mon-fri 10:00-12:00,14:00-16:00"|windows|none]`.

Creates or updates a staff account (reservations.staff.staff_save). A password piped in on
standard input is used (never one on the command line, where `ps` and the shell history
would keep it); with none, a new account gets a strong generated one, printed once.
A counselor's profile and weekly duty in each office (rule 4) are saved with the account, in
one transaction, through `services.counselor_save` and `services.duty_windows_save`.
Options map one to one onto the service's arguments: a new option is one more line in
`add_arguments` and one in `service_arguments`.
"""

from __future__ import annotations

import re
import sys
from datetime import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from reservations import services
from reservations.errors import ReservationError
from reservations.models import Counselor, Office, StaffRole
from reservations.staff import StaffRefused, staff_save

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


def parse_duty(value: str) -> list[tuple[int, time, time]]:
    """`mon-fri 10:00-12:00,14:00-16:00; sat 10:00-12:00` as (weekday, start, end) rows."""
    duties = []
    for group in value.split(";"):
        days_part, _space, hours_part = group.strip().partition(" ")
        if not days_part or not hours_part.strip():
            raise CommandError(f"--duty: {group.strip()!r} is not 'DAYS HH:MM-HH:MM[,HH:MM-HH:MM]'")
        weekdays: list[int] = []
        for days in days_part.lower().split(","):
            first, _dash, last = days.partition("-")
            if first not in DAYS or (last and last not in DAYS):
                raise CommandError(f"--duty: unknown day {days!r} (use {', '.join(DAYS)})")
            end = DAYS.index(last or first)
            if end < DAYS.index(first):
                raise CommandError(f"--duty: {days!r} runs backwards")
            weekdays.extend(range(DAYS.index(first), end + 1))
        for hours in hours_part.replace(" ", "").split(","):
            match = _HOURS.fullmatch(hours)
            if match is None:
                raise CommandError(f"--duty: {hours!r} is not HH:MM-HH:MM")
            h1, m1, h2, m2 = (int(part) for part in match.groups())
            try:
                start, end_time = time(h1, m1), time(h2, m2)
            except ValueError:
                raise CommandError(f"--duty: {hours!r} is not a time of day") from None
            duties.extend((weekday, start, end_time) for weekday in weekdays)
    return duties


class Command(BaseCommand):
    help = "Create or update a staff account in one or more offices (password from stdin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--office", required=True, help="office slug(s), comma-separated: isesaki,maebashi"
        )
        parser.add_argument("--role", required=True, choices=StaffRole.values)
        parser.add_argument("--email", default=None)
        parser.add_argument(
            "--display-name", default=None, help="the counselor's name shown to staff"
        )
        parser.add_argument(
            "--zoom-user", default=None, help="the Zoom user (email or id) hosting their meetings"
        )
        parser.add_argument(
            "--duty",
            default=None,
            help='weekly duty: "mon-fri 10:00-12:00,14:00-16:00" (groups separated by ";"), '
            '"windows" for all the office\'s session windows, "none" to clear it',
        )

    def offices(self, value: str) -> list[Office]:
        slugs = [slug.strip() for slug in value.split(",") if slug.strip()]
        found = {office.slug: office for office in Office.objects.filter(slug__in=slugs)}
        missing = [slug for slug in slugs if slug not in found]
        if missing or not slugs:
            raise CommandError(f"unknown office: {', '.join(missing) or value!r}")
        return [found[slug] for slug in slugs]

    def piped_password(self) -> str | None:
        if sys.stdin is None or sys.stdin.isatty():
            return None
        password = sys.stdin.readline().rstrip("\r\n")
        return password or None

    def service_arguments(self, options: dict) -> dict:
        return {
            "username": options["username"],
            "offices": self.offices(options["office"]),
            "role": StaffRole(options["role"]),
            "email": options["email"],
            "password": self.piped_password(),
        }

    def counselor_options(self, options: dict) -> bool:
        wanted = any(options[o] is not None for o in ("display_name", "zoom_user", "duty"))
        if wanted and options["role"] != StaffRole.COUNSELOR:
            raise CommandError("--display-name, --zoom-user and --duty need --role counselor")
        return options["role"] == StaffRole.COUNSELOR

    def save_counselor(self, user: object, office: Office, options: dict) -> str:
        counselor = Counselor.objects.filter(office=office, user=user).first() or Counselor(
            office=office, user=user, display_name=user.get_full_name() or user.get_username()
        )
        if options["display_name"] is not None:
            counselor.display_name = options["display_name"]
        if options["zoom_user"] is not None:
            counselor.zoom_user = options["zoom_user"]
        services.counselor_save(counselor=counselor)
        duty = options["duty"]
        if duty is None:
            return ""
        if duty.strip().lower() == "none":
            windows = []
        elif duty.strip().lower() == "windows":
            windows = [(w.weekday, w.start_time, w.end_time) for w in office.windows.all()]
        else:
            windows = parse_duty(duty)
        follow_up = services.duty_windows_save(counselor=counselor, windows=windows)
        flagged = (
            f", {follow_up.needs_reassignment} bookings need reassignment"
            if follow_up.needs_reassignment
            else ""
        )
        return f" duty {office.slug}: {len(windows)} windows{flagged}"

    def handle(self, *args: object, **options: object) -> None:
        is_counselor = self.counselor_options(options)
        if options["duty"] not in (None, "none", "windows"):
            parse_duty(options["duty"])  # a bad --duty is refused before anything is saved
        notes = ""
        try:
            with transaction.atomic():
                saved = staff_save(**self.service_arguments(options))
                if is_counselor:
                    for office in self.offices(options["office"]):
                        notes += self.save_counselor(saved.user, office, options)
        except StaffRefused as refusal:
            raise CommandError(refusal.message) from None
        except ReservationError as refusal:
            raise CommandError(f"{refusal.code}: {refusal.message}") from None
        memberships = ", ".join(
            f"{m.office.slug}:{m.role}"
            for m in saved.user.office_memberships.select_related("office").order_by("office_id")
        )
        verb = "created" if saved.created else "updated"
        self.stdout.write(f"{verb} {saved.user.get_username()} ({memberships}){notes}")
        if saved.generated_password:
            self.stdout.write(f"password (shown once): {saved.generated_password}")
