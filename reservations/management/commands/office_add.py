"""Create or update one office: `manage.py office_add SLUG --name 名称 --phone … [...]`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from reservations import services

# Each option is an Office field; an option left out keeps an existing office's value.
OPTIONS = {
    "--name": "name",
    "--name-en": "name_en",
    "--phone": "phone",
    "--email": "email",
    "--address": "address",
    "--address-en": "address_en",
    "--prefecture": "prefecture",
}


def parse_yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"yes", "y", "true", "1", "はい"}:
        return True
    if value in {"no", "n", "false", "0", "いいえ"}:
        return False
    raise ValueError(raw)


def saved_line(saved: services.OfficeSaved) -> str:
    line = (
        _("作成しました: %(slug)s %(name)s")
        if saved.created
        else _("更新しました: %(slug)s %(name)s")
    ) % {"slug": saved.office.slug, "name": saved.office.name}
    if saved.terms is not None:
        line += " / " + _("利用規約 %(version)s を公開しました") % {"version": saved.terms.version}
    return line


class Command(BaseCommand):
    help = (
        "ハローワークを追加します。同じ識別名で再実行すると、指定した項目を更新します。"
        "新しい所には、既定（または --copy-settings-from の所）の相談時間帯・設定と、"
        "施行中の利用規約が入ります。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="識別名（URL の /o/<slug>/ に使われます）")
        for option, field in OPTIONS.items():
            parser.add_argument(option, dest=field)
        parser.add_argument(
            "--accepting-bookings",
            dest="accepting_bookings",
            help="yes / no（新しい所の既定は yes）",
        )
        parser.add_argument("--copy-settings-from", dest="copy_settings_from", metavar="SLUG")

    def handle(self, *args: Any, **options: Any) -> None:
        details: dict[str, object] = {field: options[field] for field in OPTIONS.values()}
        raw = options["accepting_bookings"]
        if raw is not None:
            try:
                details["accepting_bookings"] = parse_yes_no(raw)
            except ValueError as exc:
                raise CommandError(
                    _("--accepting-bookings には yes か no を指定してください。")
                ) from exc
        try:
            saved = services.office_save(
                slug=options["slug"],
                details=details,
                copy_settings_from=options["copy_settings_from"],
            )
        except services.ReservationError as error:
            raise CommandError(error.message) from error
        if options["verbosity"] > 0:
            self.stdout.write(saved_line(saved))
