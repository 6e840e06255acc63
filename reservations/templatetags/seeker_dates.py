"""Dates the way the reader expects them: 2027年1月12日(火) 10:00, or Tue 12 January 2027."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import dateformat, translation

from reservations.rules import TOKYO

register = template.Library()

# Django's own catalogues translate the weekday and month names (月, 火, … / Mon, Tue, …);
# only the order of the parts differs between the languages.
FORMATS: dict[str, dict[str, str]] = {
    "ja": {"day": "n月j日(D)", "date": "Y年n月j日(D)", "datetime": "Y年n月j日(D) H:i"},
    "en": {"day": "D j F", "date": "D j F Y", "datetime": "D j F Y, H:i"},
}


# Slots travel in URLs and forms as Tokyo wall-clock time: /book/?slot=2026-12-07T10:00
SLOT_VALUE_FORMAT = "%Y-%m-%dT%H:%M"


def slot_value(start: datetime) -> str:
    """The form/URL value of a slot: its start in Tokyo time, e.g. 2026-12-07T10:00."""
    return start.astimezone(TOKYO).strftime(SLOT_VALUE_FORMAT)


def _formats() -> dict[str, str]:
    language = (translation.get_language() or "ja").split("-")[0]
    return FORMATS.get(language, FORMATS["ja"])


def _local(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(TOKYO)
    return value


def format_day(value: date | datetime) -> str:
    """12月7日(月) — a day in a list of days."""
    return dateformat.format(_local(value), _formats()["day"])


def format_date(value: date | datetime) -> str:
    """2027年1月12日(火)."""
    return dateformat.format(_local(value), _formats()["date"])


def format_datetime(value: datetime) -> str:
    """2027年1月12日(火) 10:00."""
    return dateformat.format(_local(value), _formats()["datetime"])


def format_time_range(start: datetime, end: datetime) -> str:
    """10:00–10:30."""
    return f"{_local(start):%H:%M}–{_local(end):%H:%M}"


@register.filter
def day(value: date | datetime | None) -> str:
    return format_day(value) if value else ""


@register.filter
def long_date(value: date | datetime | None) -> str:
    return format_date(value) if value else ""


@register.filter
def long_datetime(value: datetime | None) -> str:
    return format_datetime(value) if value else ""


@register.filter
def hhmm(value: datetime | None) -> str:
    return f"{_local(value):%H:%M}" if value else ""


@register.simple_tag
def time_range(start: datetime, end: datetime) -> str:
    return format_time_range(start, end)


@register.filter(name="slot_value")
def slot_value_filter(value: datetime | None) -> str:
    return slot_value(value) if value else ""
