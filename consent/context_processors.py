"""The Art. 13 notice of upcoming terms, on every public page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from consent import selectors
from reservations import selectors as reservation_selectors


def terms_notice(request: HttpRequest) -> dict:
    """The published version that will take effect later, if any."""
    if request.path.startswith("/admin/"):
        return {}
    office = getattr(request, "_office", None) or reservation_selectors.default_office()
    if office is None:
        return {"terms_upcoming": None}
    return {"terms_upcoming": selectors.terms_announced(office.pk, timezone.now())}
