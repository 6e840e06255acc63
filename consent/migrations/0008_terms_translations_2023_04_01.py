"""The reference translations of the terms of 令和5年4月1日 present in
`consent/terms/translations/2023-04-01/` (one `<locale>.md` per language), added to the
published version. Files finished later are added by `manage.py terms_load_translations`,
which also checks that each follows the Japanese article by article.

The normalising and hashing are written out here, not imported, so that this migration
keeps doing what it did when later code changes (as 0003 does).
"""

import hashlib
from pathlib import Path

from django.db import migrations
from django.utils import timezone

FOLDER = Path(__file__).resolve().parent.parent / "terms" / "translations" / "2023-04-01"
VERSION = "2023-04-01"


def normalize(text):
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def language_of(locale):
    # Django's to_language: pt_BR → pt-br, zh_Hans → zh-hans, ja_X-easy → ja-x-easy.
    head, _sep, tail = locale.partition("_")
    return f"{head.lower()}-{tail.lower()}" if tail else head.lower()


def load(apps, schema_editor):
    TermsVersion = apps.get_model("consent", "TermsVersion")
    TermsTranslation = apps.get_model("consent", "TermsTranslation")
    now = timezone.now()
    for version in TermsVersion.objects.filter(version=VERSION):
        for path in sorted(FOLDER.glob("*.md")):
            language = language_of(path.stem)
            if TermsTranslation.objects.filter(terms_version=version, language=language).exists():
                continue
            text = normalize(path.read_text(encoding="utf-8"))
            TermsTranslation.objects.create(
                terms_version=version,
                language=language,
                text=text,
                content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                created_at=now,
            )


class Migration(migrations.Migration):
    dependencies = [("consent", "0007_terms_translations_privacy")]
    # Unapplied, the frozen translations stay; the table itself goes with 0007.
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
