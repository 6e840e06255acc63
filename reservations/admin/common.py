"""What every admin page shares: badges, record ids in URLs, how people and history read."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.http import HttpRequest
from django.urls import register_converter
from django.utils.html import format_html
from django.utils.translation import gettext

from reservations import rules
from reservations.models import (
    EventKind,
    Reservation,
)
from reservations.rules import Status
from reservations.templatetags.seeker_dates import format_datetime

logger = logging.getLogger(__name__)


EMPTY = "—"


def badge(kind: str, value: str, label: str) -> str:
    return format_html('<span class="hw-badge hw-{}-{}">{}</span>', kind, value, label)


def day_bounds(day) -> tuple[datetime, datetime]:  # noqa: ANN001 - a date
    start = datetime.combine(day, time(0), tzinfo=rules.TOKYO)
    return start, start + timedelta(days=1)


class RecordIdConverter:
    """A primary key as the admin's own pages take it: digits that fit a 64-bit integer.

    Anything else falls through to Django's admin, which answers "not found" instead of
    letting a malformed or huge id reach the database.
    """

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


register_converter(RecordIdConverter, "record_id")


def staff_name(user) -> str:  # noqa: ANN001 - a user or None
    if user is None:
        return EMPTY
    return user.get_full_name() or user.get_username()


def event_text(event) -> str:  # noqa: ANN001 - a ReservationEvent
    if event.kind == EventKind.MOVED:
        moved_from = event.details.get("from")
        moved_to = event.details.get("to")
        if moved_from and moved_to:
            text = gettext("日時の変更: %(from)s → %(to)s") % {
                "from": format_datetime(datetime.fromisoformat(moved_from)),
                "to": format_datetime(datetime.fromisoformat(moved_to)),
            }
            if event.from_status and event.from_status != event.to_status:
                # The seeker moved a confirmed booking: it waits to be confirmed again (rule 5).
                text += gettext("（%(from)s → %(to)s、再確定が必要）") % {
                    "from": Status(event.from_status).label,
                    "to": Status(event.to_status).label,
                }
            return text
        return gettext("日時の変更")
    if event.kind == EventKind.NOTE:
        related = event.details.get("next_reservation") or event.details.get("booked_from")
        if event.details.get("next_reservation"):
            return gettext("記録: 次回の予約 %(reference)s") % {"reference": related}
        if event.details.get("booked_from"):
            return gettext("記録: %(reference)s の相談中に予約") % {"reference": related}
        return gettext("記録")
    if not event.from_status:
        return Status(event.to_status).label
    text = f"{Status(event.from_status).label} → {Status(event.to_status).label}"
    source = event.details.get("source")
    if event.to_status == Status.ATTENDED and source and source != "staff":
        text += gettext("（%(source)s）") % {"source": source}
    if event.details.get("late"):
        text += gettext("（確定期限後）")
    return text


# --- Reporting --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one service call did to one booking: done, or the refusing rule's message."""

    reservation: Reservation
    ok: bool
    message: str


def booking_label(reservation: Reservation) -> str:
    """`K7P-3QX（2027年1月12日(火) 10:00）`: how a booking is named in messages.

    No names: messages may travel in a cookie (Art. 8).
    """
    return gettext("%(reference)s（%(when)s）") % {
        "reference": reservation.reference,
        "when": format_datetime(reservation.slot.starts_at),
    }


def report(request: HttpRequest, outcomes: list[Outcome]) -> None:
    """One message per booking, with a summary first when there are several."""
    if len(outcomes) > 1:
        done = sum(1 for outcome in outcomes if outcome.ok)
        level = messages.SUCCESS if done == len(outcomes) else messages.WARNING
        messages.add_message(
            request,
            level,
            gettext("%(total)s件中 %(done)s件を処理しました。%(refused)s件はできませんでした。")
            % {"total": len(outcomes), "done": done, "refused": len(outcomes) - done},
        )
    for outcome in outcomes:
        text = f"{booking_label(outcome.reservation)}: {outcome.message}"
        if outcome.ok:
            messages.success(request, text)
        else:
            messages.error(request, text)
