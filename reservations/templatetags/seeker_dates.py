"""Dates the way the reader expects them: 2027年1月12日(火) 10:00, or Tue 12 January 2027."""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import dateformat, translation

from reservations.rules import TOKYO

register = template.Library()

# Django's own catalogues translate the weekday and month names (月, 火, … / Mon, Tue, …);
# only the order of the parts differs between the languages. Tagalog's names come from
# hellowork/locale/tl (Django ships no Tagalog). No page outside Japanese shows 月・日・曜:
# Chinese writes 年月日 itself and names the weekday 星期四.
_JA = {"day": "n月j日(D)", "date": "Y年n月j日(D)", "datetime": "Y年n月j日(D) H:i"}
FORMATS: dict[str, dict[str, str]] = {
    "ja": _JA,
    "ja-x-easy": _JA,
    "en": {"day": "D j F", "date": "D j F Y", "datetime": "D j F Y, H:i"},
    # qui, 24 de dezembro de 2026
    "pt-br": {
        "day": r"D, j \d\e F",
        "date": r"D, j \d\e F \d\e Y",
        "datetime": r"D, j \d\e F \d\e Y, H:i",
    },
    # Thứ 5, 24/12/2026
    "vi": {"day": "D, j/n", "date": "D, j/n/Y", "datetime": "D, j/n/Y, H:i"},
    # Huw, Disyembre 24, 2026
    "tl": {"day": "D, F j", "date": "D, F j, Y", "datetime": "D, F j, Y, H:i"},
    # jue 24 de diciembre de 2026
    "es": {
        "day": r"D j \d\e F",
        "date": r"D j \d\e F \d\e Y",
        "datetime": r"D j \d\e F \d\e Y, H:i",
    },
    # 12月24日 星期四
    "zh-hans": {"day": "n月j日 D", "date": "Y年n月j日 D", "datetime": "Y年n月j日 D H:i"},
}
# Portuguese writes month and weekday names in lower case; Django's catalogue capitalises them.
LOWER_CASE_NAMES = {"pt-br"}


# Slots travel in URLs and forms as Tokyo wall-clock time: /book/?slot=2026-12-07T10:00
SLOT_VALUE_FORMAT = "%Y-%m-%dT%H:%M"


def slot_value(start: datetime) -> str:
    """The form/URL value of a slot: its start in Tokyo time, e.g. 2026-12-07T10:00."""
    return start.astimezone(TOKYO).strftime(SLOT_VALUE_FORMAT)


def _language() -> str:
    language = (translation.get_language() or "ja").lower()
    if language in FORMATS:
        return language
    return language.split("-")[0] if language.split("-")[0] in FORMATS else "ja"


def _format(value: date | datetime, kind: str) -> str:
    language = _language()
    local = _local(value)
    text = dateformat.format(local, FORMATS[language][kind])
    if language in LOWER_CASE_NAMES:
        for name in (dateformat.format(local, "D"), dateformat.format(local, "F")):
            text = text.replace(name, name.lower())
    return text


def _local(value: date | datetime) -> date | datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(TOKYO)
    return value


def format_day(value: date | datetime) -> str:
    """12月7日(月) — a day in a list of days."""
    return _format(value, "day")


def format_date(value: date | datetime) -> str:
    """2027年1月12日(火)."""
    return _format(value, "date")


def format_datetime(value: datetime) -> str:
    """2027年1月12日(火) 10:00."""
    return _format(value, "datetime")


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
