"""本日の相談: the day's sessions and the requests that must be confirmed."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext

from reservations import rules, selectors
from reservations.admin import scope
from reservations.admin.actions import admin_context
from reservations.models import (
    Counselor,
    Office,
    Reservation,
)
from reservations.rules import Status

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.db.models import QuerySet

logger = logging.getLogger(__name__)


# --- Today's sessions -------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    reservation: Reservation
    can_attend: bool
    can_no_show: bool
    overdue: bool  # Art. 6(4): ten minutes past the start, attendance not recorded
    joined: bool  # the Zoom webhook saw the seeker join (and recorded the attendance)
    may_start: bool = True  # rule 13: this user may have the start link


@dataclass(frozen=True)
class BoardCell:
    """One counselor's bookings in one slot, and whether they are on duty then."""

    bookings: list[Reservation]
    on_duty: bool


@dataclass(frozen=True)
class BoardRow:
    start: datetime
    end: datetime
    cells: list[BoardCell]  # one per column of `Board.counselors`
    unassigned: list[Reservation]  # requests, and sessions nobody is assigned to


@dataclass(frozen=True)
class Board:
    """本日の相談 per counselor: one column for each counselor on duty that day (rule 4)."""

    counselors: list[Counselor]
    rows: list[BoardRow]


@dataclass(frozen=True)
class PendingRow:
    reservation: Reservation
    deadline: datetime
    due_today: bool  # must be confirmed before the office next opens (rule 5)
    late: bool  # the deadline has passed: confirming needs a reason


# The today page looks at most this far from today; further dates are typing mistakes.
_DAY_RANGE = timedelta(days=366)


def _parse_day(raw: str | None, today: date) -> date:
    try:
        day = date.fromisoformat(raw) if raw else today
    except ValueError:
        return today
    return day if abs(day - today) <= _DAY_RANGE else today


def confirmation_due_before(office: Office | None, now: datetime | None = None) -> datetime:
    """Requests whose deadline falls before this moment must be confirmed today (rule 5)."""
    now = now or timezone.now()
    today = now.astimezone(rules.TOKYO).date()
    office_rules = (
        selectors.office_rules(office, today, today + timedelta(days=14))
        if office is not None
        else rules.OfficeRules()
    )
    return rules.confirmation_due_before(now, office_rules)


def counselor_board(office: Office, scoped: QuerySet[Reservation], day: date) -> Board | None:
    """The day's bookings among `scoped` laid out per slot and counselor; None for an office
    without counselor records, whose day is the one time-ordered list."""
    office_rules = selectors.office_rules(office, day, day)
    if office_rules.rota is None:
        return None
    counselors = selectors.office_counselors(office)
    bookings = list(selectors.bookings_of_day(scoped, day))
    slots = {slot.start: slot for slot in rules.slots_for_day(day, office_rules)}
    assigned = {r.counselor_id for r in bookings if r.counselor_id is not None}
    on_duty_today = set().union(*(slot.counselors for slot in slots.values()))
    columns = [c for c in counselors if c.pk in on_duty_today or c.pk in assigned]
    index = {c.pk: position for position, c in enumerate(columns)}
    ends = {start: slot.end for start, slot in slots.items()}
    for r in bookings:
        ends.setdefault(r.slot.starts_at, r.slot.ends_at)
    rows = []
    for start in sorted(ends):
        slot = slots.get(start)
        here = [r for r in bookings if r.slot.starts_at == start]
        cells = [
            BoardCell(
                bookings=[r for r in here if r.counselor_id == c.pk],
                on_duty=slot is not None and c.pk in slot.counselors,
            )
            for c in columns
        ]
        unassigned = [r for r in here if r.counselor_id not in index]
        rows.append(BoardRow(start=start, end=ends[start], cells=cells, unassigned=unassigned))
    return Board(counselors=columns, rows=rows)


def today_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """本日の相談: the day's sessions in time order, and the requests waiting to be confirmed."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    today = now.astimezone(rules.TOKYO).date()
    # The day of the office the counselor is working in (the header switches it).
    office = scope.working_office(request)
    bookings = model_admin.get_queryset(request).filter(office=office)
    day = _parse_day(request.GET.get("date"), today)
    next_open = confirmation_due_before(office, now)

    def session_row(r: Reservation) -> SessionRow:
        allowed = rules.booking_actions(
            status=r.status,
            platform=r.platform,
            meeting_state=r.meeting_state,
            slot_start=r.slot.starts_at,
            now=now,
        )
        flag = rules.attention(
            status=r.status,
            meeting_state=r.meeting_state,
            slot_start=r.slot.starts_at,
            now=now,
            due_before=next_open,
        )
        return SessionRow(
            reservation=r,
            can_attend=rules.BookingAction.ATTENDED in allowed,
            can_no_show=rules.BookingAction.NO_SHOW in allowed,
            overdue=flag == rules.Attention.OVERDUE,
            joined=r.joined_via_zoom,
        )

    day_sessions = list(selectors.sessions_of_day(bookings, day))
    hostable = selectors.may_host_each(request.user, day_sessions)
    sessions = [
        dataclasses.replace(session_row(r), may_start=r.pk in hostable) for r in day_sessions
    ]
    board = counselor_board(office, bookings, day) if office is not None else None
    # Rule 5: a request must be confirmed by the end of the day before its session; those
    # whose deadline falls before the office next opens have to be dealt with today.
    pending = [
        PendingRow(
            reservation=r,
            deadline=rules.confirmation_deadline(r.slot.starts_at),
            due_today=rules.confirmation_deadline(r.slot.starts_at) <= next_open,
            late=rules.is_late_confirmation(r.slot.starts_at, now),
        )
        for r in selectors.requests_waiting(bookings, now)
    ]
    counts = dict.fromkeys(selectors.DAY_SESSION_STATUSES, 0)
    for row in sessions:
        counts[row.reservation.status] += 1
    return TemplateResponse(
        request,
        "reservations/admin/today.html",
        admin_context(
            model_admin,
            request,
            title=gettext("本日の相談") if day == today else gettext("相談の予定"),
            working_office=office,
            day=day,
            today=today,
            is_today=day == today,
            previous_day=day - timedelta(days=1),
            next_day=day + timedelta(days=1),
            sessions=sessions,
            pending=pending,
            due_today_count=sum(1 for row in pending if row.due_today),
            confirmed_count=counts[Status.CONFIRMED],
            attended_count=counts[Status.ATTENDED],
            no_show_count=counts[Status.NO_SHOW],
            overdue_count=sum(1 for row in sessions if row.overdue),
            reassign_count=sum(1 for row in sessions if row.reservation.needs_reassignment),
            board=board,
            now=now,
            can_change=model_admin.has_change_permission(request),
            this_url=request.get_full_path(),
        ),
    )
