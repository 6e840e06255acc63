"""Template context every page needs: the office a seeker is dealing with."""

from __future__ import annotations

from django.http import HttpRequest

from reservations import selectors


def office(request: HttpRequest) -> dict:
    """The office (name and phone appear in every page's header and footer)."""
    if not hasattr(request, "_office"):
        request._office = selectors.default_office()
    return {"office": request._office}
