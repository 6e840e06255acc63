"""Create or update many offices from a CSV file: `manage.py offices_import FILE.csv`.

The header row names the columns of `office_add`: slug, name, name_en, phone, email,
address, address_en, prefecture, accepting_bookings, copy_settings_from (hyphens or
underscores). An empty cell keeps an existing office's value. All rows or none: a bad row
is reported with its line number and nothing is imported.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.translation import gettext as _

from reservations import services
from reservations.management.commands.office_add import parse_yes_no, saved_line

COLUMNS = ("slug", *services.OFFICE_DETAILS, "copy_settings_from")


class Command(BaseCommand):
    help = (
        "CSV ファイル（1行目は見出し）からハローワークをまとめて追加・更新します。"
        "誤りのある行があれば、その行番号を示し、何も取り込みません。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="UTF-8 の CSV ファイル")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(
                _("%(file)s を UTF-8 の CSV として読めません。") % {"file": path}
            ) from exc
        reader = csv.DictReader(text.splitlines())
        header = [(name or "").strip().replace("-", "_") for name in reader.fieldnames or []]
        unknown = [name for name in header if name not in COLUMNS]
        if "slug" not in header or unknown:
            raise CommandError(
                _("1行目: 見出しは %(columns)s から選んでください（slug は必須）。")
                % {"columns": ", ".join(COLUMNS)}
            )
        reader.fieldnames = header
        saved = []
        try:
            with transaction.atomic():
                for row in reader:
                    saved.append(self._row(row, reader.line_num))
        except _RowError as error:
            raise CommandError(
                _("%(line)d行目: %(message)s（何も取り込んでいません）")
                % {"line": error.line, "message": error.message}
            ) from error
        if options["verbosity"] > 0:
            for one in saved:
                self.stdout.write(saved_line(one))
            self.stdout.write(_("%(count)d件を取り込みました。") % {"count": len(saved)})

    def _row(self, row: dict[str, str | None], line: int) -> services.OfficeSaved:
        if None in row:
            raise _RowError(line, _("列の数が見出しより多くなっています。"))
        cells = {name: (value or "").strip() or None for name, value in row.items()}
        details: dict[str, object] = {
            field: cells.get(field) for field in services.OFFICE_DETAILS if field in cells
        }
        if cells.get("accepting_bookings") is not None:
            try:
                details["accepting_bookings"] = parse_yes_no(str(cells["accepting_bookings"]))
            except ValueError as exc:
                raise _RowError(
                    line, _("accepting_bookings には yes か no を指定してください。")
                ) from exc
        if not cells.get("slug"):
            raise _RowError(line, _("slug が空です。"))
        try:
            return services.office_save(
                slug=str(cells["slug"]),
                details=details,
                copy_settings_from=cells.get("copy_settings_from"),
            )
        except services.ReservationError as error:
            raise _RowError(line, error.message) from error


class _RowError(Exception):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
