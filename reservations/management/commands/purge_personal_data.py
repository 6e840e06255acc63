"""Erase the personal data of finished bookings older than the retention period (rule 15)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from reservations import services


class Command(BaseCommand):
    help = (
        "終了した予約のうち保存期間（RETENTION_DAYS）を過ぎたものの個人情報を消去します。"
        "何度実行しても結果は同じです。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=settings.RETENTION_DAYS,
            help="保存期間（日）。既定は RETENTION_DAYS。",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = services.reservations_purge_personal_data(retention_days=options["days"])
        if options["verbosity"] > 0:
            self.stdout.write(
                _("個人情報を消去した予約: %(reservations)d件、同意の記録: %(consents)d件")
                % {"reservations": result.reservations, "consents": result.consents}
            )
