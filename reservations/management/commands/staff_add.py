"""`manage.py staff_add USERNAME --office SLUG[,SLUG…] --role counselor|supervisor [--email …]`.

Creates or updates a staff account (reservations.staff.staff_save). A password piped in on
standard input is used (never one on the command line, where `ps` and the shell history
would keep it); with none, a new account gets a strong generated one, printed once.
Options map one to one onto the service's arguments: a new option is one more line in
`add_arguments` and one in `service_arguments`.
"""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reservations.models import Office, StaffRole
from reservations.staff import StaffRefused, staff_save


class Command(BaseCommand):
    help = "Create or update a staff account in one or more offices (password from stdin)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--office", required=True, help="office slug(s), comma-separated: isesaki,maebashi"
        )
        parser.add_argument("--role", required=True, choices=StaffRole.values)
        parser.add_argument("--email", default=None)

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

    def handle(self, *args: object, **options: object) -> None:
        try:
            saved = staff_save(**self.service_arguments(options))
        except StaffRefused as refusal:
            raise CommandError(refusal.message) from None
        memberships = ", ".join(
            f"{m.office.slug}:{m.role}"
            for m in saved.user.office_memberships.select_related("office").order_by("office_id")
        )
        verb = "created" if saved.created else "updated"
        self.stdout.write(f"{verb} {saved.user.get_username()} ({memberships})")
        if saved.generated_password:
            self.stdout.write(f"password (shown once): {saved.generated_password}")
