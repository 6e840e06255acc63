"""Which terms are in force and which are announced."""

from __future__ import annotations

from datetime import datetime

from consent.models import TermsVersion
from reservations.rules import TOKYO


def terms_in_force(office_id: int, now: datetime) -> TermsVersion | None:
    """The newest published version whose effective date has come (Art. 13)."""
    today = now.astimezone(TOKYO).date()
    return (
        TermsVersion.objects.filter(
            office_id=office_id, published_at__isnull=False, effective_date__lte=today
        )
        .order_by("-effective_date", "-id")
        .first()
    )


def terms_announced(office_id: int, now: datetime) -> TermsVersion | None:
    """A published version that takes effect later: announced on every page (Art. 13)."""
    today = now.astimezone(TOKYO).date()
    return (
        TermsVersion.objects.filter(
            office_id=office_id, published_at__isnull=False, effective_date__gt=today
        )
        .order_by("effective_date", "id")
        .first()
    )
