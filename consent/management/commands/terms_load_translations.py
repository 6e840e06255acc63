"""Load the reference translations of a terms version from `consent/terms/translations/`.

One file per language, `<version>/<locale>.md` (e.g. `2023-04-01/pt_BR.md`). Each must
follow the Japanese article by article; a file already loaded with the same text is left
alone, so the command is safe to run again whenever a translator finishes a language. A
translation of a published version cannot be changed once loaded (it is what people read).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import to_language

from consent.models import TermsVersion
from consent.services import TermsError, terms_translation_add

TRANSLATIONS = Path(__file__).resolve().parents[2] / "terms" / "translations"


class Command(BaseCommand):
    help = "利用規約の参考訳（consent/terms/translations/<版>/<locale>.md）を読み込みます。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--terms-version", dest="terms_version", default=None, help="版（例: 2023-04-01）"
        )
        parser.add_argument("--folder", type=Path, default=TRANSLATIONS)

    def handle(self, *args: Any, **options: Any) -> None:
        folder: Path = options["folder"]
        versions = TermsVersion.objects.select_related("office").order_by(
            "office_id", "effective_date"
        )
        if options["terms_version"]:
            versions = versions.filter(version=options["terms_version"])
        failures = 0
        for version in versions:
            for path in sorted((folder / version.version).glob("*.md")):
                language = to_language(path.stem)
                label = f"{version.office.slug}/{version.version}/{language}"
                try:
                    translation, state = terms_translation_add(
                        terms_version=version,
                        language=language,
                        text=path.read_text(encoding="utf-8"),
                    )
                except TermsError as exc:
                    failures += 1
                    self.stderr.write(f"{label}: {exc.message}")
                    continue
                self.stdout.write(f"{label}: {state} {translation.content_hash}")
        if failures:
            raise CommandError(f"{failures} translation(s) refused")
