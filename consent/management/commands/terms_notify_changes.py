"""Email the Art. 13 change notice to bookings made after a new terms version was published.

Publishing a version already tells everyone with a booking under it; this catches the
bookings made later. Idempotent (each booking is noted once), so run it as often as you
like: hourly or daily is enough.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from consent.services import terms_notify_due


class Command(BaseCommand):
    help = "利用規約の変更のお知らせ（第13条）を、まだ知らせていない予約者にメールで送ります。"

    def handle(self, *args: Any, **options: Any) -> None:
        sent = terms_notify_due()
        for version, count in sent.items():
            self.stdout.write(f"{version}: {count}")
        self.stdout.write(self.style.SUCCESS(f"emails queued: {sum(sent.values())}"))
