"""ハローワーク伊勢崎's terms of use of 令和5年4月1日, loaded from the shipped text and published.

The text is `consent/terms/isesaki-online-consultation-terms-2023-04-01.txt`, the office's
document with one page-break artefact mended (第6条(4) "連絡がないままキャンセル"). The
split into title / body / date line / issuer and the hash are written out here, not
imported, so that this migration keeps doing what it did when later code changes.
"""

import hashlib
import re
from datetime import date
from pathlib import Path

from django.db import migrations
from django.utils import timezone

SOURCE = Path(__file__).resolve().parent.parent / "terms" / (
    "isesaki-online-consultation-terms-2023-04-01.txt"
)
VERSION = "2023-04-01"
EFFECTIVE = date(2023, 4, 1)


def split(text):
    blocks = [b for b in re.split(r"\n[ \t　]*\n", text.strip("\n")) if b.strip()]
    title, issued_label, issuer = blocks[0].strip(), blocks[-2].strip(), blocks[-1].strip()
    return title, "\n\n".join(blocks[1:-2]), issued_label, issuer


def load(apps, schema_editor):
    """Create and publish the first version for the office "isesaki", if not there yet."""
    Office = apps.get_model("reservations", "Office")
    TermsVersion = apps.get_model("consent", "TermsVersion")
    office = Office.objects.filter(slug="isesaki").first()
    if office is None or TermsVersion.objects.filter(office=office, version=VERSION).exists():
        return
    title, body, issued_label, issuer = split(SOURCE.read_text(encoding="utf-8"))
    full = "\n\n".join([title, body, issued_label, issuer])
    TermsVersion.objects.create(
        office=office,
        version=VERSION,
        title=title,
        body=body,
        issued_label=issued_label,
        issuer=issuer,
        effective_date=EFFECTIVE,
        content_hash=hashlib.sha256(full.encode("utf-8")).hexdigest(),
        published_at=timezone.now(),
    )


def unload(apps, schema_editor):
    TermsVersion = apps.get_model("consent", "TermsVersion")
    TermsVersion.objects.filter(version=VERSION, consents__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0002_terms_versions_and_consent_ledger"),
        ("reservations", "0002_seed_isesaki"),
    ]
    operations = [migrations.RunPython(load, unload)]
