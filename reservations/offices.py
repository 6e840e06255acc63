"""Which office a request is for: looked up once per request and shared by views and pages."""

from __future__ import annotations

from django.http import Http404, HttpRequest

from reservations import selectors
from reservations.models import Office


def current_office(request: HttpRequest) -> Office | None:
    """The office this request is for (the views, the context processors and the terms pages
    ask here, so a page looks it up once)."""
    if not hasattr(request, "_office"):
        request._office = selectors.default_office()
    return request._office


def current_office_or_404(request: HttpRequest) -> Office:
    """The office this request is for; a page for no office is not found."""
    office = current_office(request)
    if office is None:
        raise Http404
    return office
