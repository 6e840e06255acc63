"""`manage.py sweep_reservations`: expire overdue requests and record no-shows, once, now.

Safe from cron every minute: every booking is re-checked under its row lock, so a second
(or overlapping) run changes nothing. `-v 0` keeps cron quiet.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.translation import gettext as _

from reservations import services


class Command(BaseCommand):
    help = (
        "期限（前日の終わり）までに確定されなかった申込みを期限切れにし、"
        "開始10分後までに参加のなかった確定済みの予約を連絡なし不参加にします（第6条(4)）。"
    )

    def handle(self, *args: object, **options: object) -> None:
        result = services.reservations_sweep(now=timezone.now())
        if int(options.get("verbosity", 1)) >= 1:
            self.stdout.write(
                _("期限切れ: %(expired)d件、連絡なし不参加: %(no_show)d件")
                % {"expired": result.expired, "no_show": result.no_show}
            )
