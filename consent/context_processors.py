"""The Art. 13 notice of upcoming terms, on every public page."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone

from reservations.offices import current_terms, shows_terms


def terms_notice(request: HttpRequest) -> dict:
    """The published version that will take effect later, if any (read with the terms in
    force, once per request)."""
    if not shows_terms(request):
        return {}
    return {"terms_upcoming": current_terms(request, timezone.now()).announced}
