"""The Art. 13 notice of upcoming terms, on every public page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from consent import selectors
from reservations.offices import current_office


def terms_notice(request: HttpRequest) -> dict:
    """The published version that will take effect later, if any."""
    if request.path.startswith("/admin/"):
        return {}
    if not hasattr(request, "_terms_upcoming"):
        office = current_office(request)
        request._terms_upcoming = (
            selectors.terms_announced(office.pk, timezone.now()) if office is not None else None
        )
    return {"terms_upcoming": request._terms_upcoming}
