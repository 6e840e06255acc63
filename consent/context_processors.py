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
    if not hasattr(request, "_terms_upcoming"):
        if not hasattr(request, "_office"):
            request._office = reservation_selectors.default_office()
        office = request._office
        request._terms_upcoming = (
            selectors.terms_announced(office.pk, timezone.now()) if office is not None else None
        )
    return {"terms_upcoming": request._terms_upcoming}
