"""Template context every page needs: the office a seeker is dealing with, and the rules'
figures the pages quote (templates are given them, they never restate them)."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import translation

from reservations import rules
from reservations.models import speaks_japanese
from reservations.offices import current_office, office_missing


def office(request: HttpRequest) -> dict:
    """The office (name and phone appear in every page's header and footer), whether the
    address named an office that is not there, and whether the page's language shows the
    Japanese names of offices and prefectures."""
    return {
        "office": current_office(request),
        "office_missing": office_missing(request),
        "speaks_japanese": speaks_japanese(translation.get_language()),
    }


def booking_rules(request: HttpRequest) -> dict:
    """The minutes of Art. 6(4) and of the attendance window, as the rules module has them."""
    return {
        "no_show_grace_minutes": rules.NO_SHOW_GRACE_MINUTES,
        "attendance_early_minutes": rules.ATTENDANCE_EARLY_MINUTES,
    }
