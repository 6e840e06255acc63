"""The booking rules of the office's terms of use, as plain pure functions.

Nothing here touches the database or the clock: every function receives the office's
rules (`OfficeRules`) and, where time matters, `now`. Services and views call these; the
tests exercise them exhaustively. Article numbers refer to the terms of use (令和5年4月1日);
"rule N" here and in every module's comments is rule N of docs/rules.md.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.db.models import TextChoices
from django.utils.translation import gettext_lazy as _

TOKYO = ZoneInfo("Asia/Tokyo")

# Art. 6(1): one session is 30 minutes.
SESSION_MINUTES = 30
# Art. 6(4): ten minutes past the start without contact counts as a cancellation.
NO_SHOW_GRACE_MINUTES = 10
NO_SHOW_GRACE = timedelta(minutes=NO_SHOW_GRACE_MINUTES)
# A counselor (or the Zoom webhook) may record attendance from shortly before the start,
# while the seeker waits in the waiting room.
ATTENDANCE_EARLY_MINUTES = 15
ATTENDANCE_EARLY = timedelta(minutes=ATTENDANCE_EARLY_MINUTES)
# Year-end/new-year closure: 12/29 to 1/3 are holidays of every administrative organ
# (行政機関の休日に関する法律 第1条), so no Hello Work is open then.
YEAR_END_CLOSURE = ((12, 29), (12, 30), (12, 31), (1, 1), (1, 2), (1, 3))


class Status(TextChoices):
    """Where a booking is in its life (rule 10)."""

    REQUESTED = "requested", _("申込受付")
    CONFIRMED = "confirmed", _("予約確定")
    ATTENDED = "attended", _("相談済み")
    NO_SHOW = "no_show", _("連絡なし不参加")
    CANCELLED = "cancelled", _("キャンセル")
    EXPIRED = "expired", _("期限切れ")
    REJECTED = "rejected", _("お断り")


class Platform(TextChoices):
    """The video service of a session (Art. 4)."""

    ZOOM = "zoom", _("Zoom")
    TELEOFFICE = "teleoffice", _("TeleOffice")


class MeetingState(TextChoices):
    """Where a session's meeting link is (rule 13)."""

    NONE = "none", _("未作成")
    PENDING = "pending", _("リンク作成待ち")
    READY = "ready", _("リンクあり")
    FAILED = "failed", _("作成失敗（再試行中）")


class MeetingProblem(TextChoices):
    """Why a session's Zoom meeting is not (or not yet) as the booking needs it (rule 13)."""

    NONE = "", _("なし")
    NOT_CONFIGURED = "not_configured", _("Zoom の接続設定がない")
    AUTH_FAILED = "auth_failed", _("Zoom の認証に失敗")
    HOST_NOT_FOUND = "host_not_found", _("Zoomユーザーが見つからない")
    HOST_BUSY = "host_busy", _("主催者が同じ時間に別の会議を持っている")
    DAILY_LIMIT = "daily_limit", _("1日の作成・変更の上限")
    RATE_LIMITED = "rate_limited", _("Zoom の利用回数の制限")
    UNREACHABLE = "unreachable", _("Zoom に接続できない")
    MEETING_MISSING = "meeting_missing", _("Zoom に会議がない")
    ZOOM_ERROR = "zoom_error", _("Zoom のエラー")


def meeting_problem_text(problem: str) -> str:
    """What a counselor is told about a meeting problem: what happens next, or whom to call.

    Supervisors also see the technical reason; counselors only this (rule 13).
    """
    texts = {
        MeetingProblem.NOT_CONFIGURED: _("Zoom の接続設定がありません。管理者に連絡してください。"),
        MeetingProblem.AUTH_FAILED: _(
            "Zoom にログインできませんでした。管理者に連絡してください。"
        ),
        MeetingProblem.HOST_NOT_FOUND: _(
            "この相談員のZoomユーザーが見つかりません。管理者に連絡してください。"
        ),
        MeetingProblem.HOST_BUSY: _(
            "担当相談員のZoomに、同じ時間の別の会議があります。その会議を削除するか、"
            "担当を変えてください。その後、自動で作成されます。"
        ),
        # Zoom's day is the UTC day: it starts at 9:00 in Japan (no summer time).
        MeetingProblem.DAILY_LIMIT: _(
            "本日のZoomの作成上限に達しました。午前9時（日本時間）以降に自動で作成されます。"
        ),
        MeetingProblem.RATE_LIMITED: _("Zoom が混み合っています。しばらくして自動で再試行します。"),
        MeetingProblem.UNREACHABLE: _(
            "Zoom に接続できません。自動で再試行します。続く場合は管理者に連絡してください。"
        ),
        MeetingProblem.MEETING_MISSING: _(
            "Zoom に会議が見つかりません。管理者に連絡してください。"
        ),
        MeetingProblem.ZOOM_ERROR: _(
            "Zoom でエラーが起きました。自動で再試行します。続く場合は管理者に連絡してください。"
        ),
    }
    return str(texts.get(problem, ""))


# Requested and confirmed bookings both hold capacity (rule 4).
ACTIVE_STATUSES = frozenset({Status.REQUESTED, Status.CONFIRMED})

# rule 10: the only moves a booking can make.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    Status.REQUESTED: frozenset(
        {Status.CONFIRMED, Status.EXPIRED, Status.REJECTED, Status.CANCELLED}
    ),
    Status.CONFIRMED: frozenset({Status.ATTENDED, Status.NO_SHOW, Status.CANCELLED}),
    Status.ATTENDED: frozenset(),
    Status.NO_SHOW: frozenset(),
    Status.CANCELLED: frozenset(),
    # Rule 5 (原則として): staff may still confirm a request the sweep expired at the
    # deadline, with a recorded reason, if the slot has not started and has room.
    Status.EXPIRED: frozenset({Status.CONFIRMED}),
    Status.REJECTED: frozenset(),
}


def can_transition(current: str, target: str) -> bool:
    """Whether a booking in `current` may move to `target` (rule 10)."""
    return target in TRANSITIONS.get(current, frozenset())


def is_active(status: str) -> bool:
    """Whether a booking in this status holds a place (rule 4)."""
    return status in ACTIVE_STATUSES


def can_move(status: str) -> bool:
    """Staff can move a requested or confirmed booking to another slot (rule 10)."""
    return status in ACTIVE_STATUSES


# Bookings in these states will never take place: their meeting is deleted (rule 13).
WITHDRAWN_STATUSES = frozenset({Status.CANCELLED, Status.EXPIRED, Status.REJECTED})
# Bookings in these states have no meeting: a request has none yet, and a confirmed booking
# the seeker moved goes back to requested until staff confirm it again (rules 5, 10).
NO_MEETING_STATUSES = WITHDRAWN_STATUSES | {Status.REQUESTED}
# A Zoom booking in these link states has no meeting yet and is retried (rule 13).
MEETING_RETRY_STATES = frozenset({MeetingState.PENDING, MeetingState.FAILED})


def can_retry_meeting(status: str, platform: str, meeting_state: str) -> bool:
    """Whether a booking's Zoom meeting is still to be made: confirmed, Zoom, no link yet."""
    return (
        status == Status.CONFIRMED
        and platform == Platform.ZOOM
        and meeting_state in MEETING_RETRY_STATES
    )


class ClosedReason(StrEnum):
    """Why a day offers no sessions (rule 3)."""

    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    YEAR_END = "year_end"
    CLOSURE = "closure"
    NO_SESSIONS = "no_sessions"


@dataclass(frozen=True)
class Window:
    """A weekly session window, e.g. Monday 10:00–12:00 with one counselor (Art. 6(2)③)."""

    weekday: int  # Monday is 0
    start: time
    end: time
    capacity: int = 1


DEFAULT_WINDOWS: tuple[Window, ...] = tuple(
    Window(weekday, start, end)
    for weekday in range(5)
    for start, end in ((time(10), time(12)), (time(14), time(16)))
)


@dataclass(frozen=True)
class OfficeRules:
    """Everything the rules need to know about one office, as plain data."""

    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    slot_minutes: int = SESSION_MINUTES
    closing_time: time = time(17)  # request cut-off on the last open day before (rule 5)
    horizon_days: int = 28  # rule 6
    closures: frozenset[date] = frozenset()  # closure dates entered by staff
    # (date, slot start time) -> capacity for that date; 0 closes the slot (rule 4)
    capacity_overrides: Mapping[tuple[date, time], int] = field(default_factory=dict)
    # The counselors' duty (rule 4); None for an office without counselor records, whose
    # places are the windows' capacities.
    rota: Rota | None = None


@dataclass(frozen=True)
class Duty:
    """A counselor's weekly duty, e.g. Monday 10:00–12:00 (rule 4)."""

    counselor: int  # the counselor's id
    weekday: int  # Monday is 0
    start: time
    end: time


@dataclass(frozen=True)
class DutyChange:
    """A dated exception to the weekly duty: off duty (leave, training) or an extra shift;
    the whole day when it has no times."""

    counselor: int
    day: date
    on_duty: bool
    start: time | None = None
    end: time | None = None

    def covers(self, start: time, end: time) -> bool:
        """Whether this change touches any of start..end (a whole-day change touches all)."""
        if self.start is None or self.end is None:
            return True
        return self.start < end and start < self.end

    def spans(self, start: time, end: time) -> bool:
        """Whether this change lasts for the whole of start..end."""
        if self.start is None or self.end is None:
            return True
        return self.start <= start and end <= self.end


@dataclass(frozen=True)
class Rota:
    """Who is on duty when: the weekly duty of an office's counselors and its exceptions."""

    duties: tuple[Duty, ...] = ()
    changes: tuple[DutyChange, ...] = ()


def on_duty(day: date, start: time, end: time, rota: Rota) -> frozenset[int]:
    """The counselors on duty for the whole of `start`..`end` on `day` (rule 4).

    On duty: a weekly duty or an extra shift spans the session; off duty: any leave or
    training touching it, which wins over both (a counselor half away is away).
    """
    present = {
        duty.counselor
        for duty in rota.duties
        if duty.weekday == day.weekday() and duty.start <= start and end <= duty.end
    }
    away: set[int] = set()
    for change in rota.changes:
        if change.day != day:
            continue
        if change.on_duty and change.spans(start, end):
            present.add(change.counselor)
        elif not change.on_duty and change.covers(start, end):
            away.add(change.counselor)
    return frozenset(present - away)


@dataclass(frozen=True, order=True)
class Slot:
    """One bookable session: an aware start and end in Asia/Tokyo and its capacity."""

    start: datetime
    end: datetime
    capacity: int = 1
    # The counselors on duty in it (rule 4); empty for an office without counselor records.
    counselors: frozenset[int] = field(default=frozenset(), compare=False)

    @property
    def day(self) -> date:
        return self.start.astimezone(TOKYO).date()


def _local(moment: datetime) -> datetime:
    """`moment` in Asia/Tokyo; a naive datetime is a bug (its zone would be guessed)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(TOKYO)


# --- Calendar (rule 3) ---------------------------------------------------------


@lru_cache(maxsize=64)
def _japanese_holidays(year: int, language: str = "ja") -> holidays.HolidayBase:
    # Includes 振替休日 (substitute holidays) and 国民の休日 (sandwiched days).
    return holidays.country_holidays("JP", years=year, language=language)


def holiday_name(day: date, language: str = "ja") -> str | None:
    """The Japanese national holiday on this day (祝日・振替休日・国民の休日), if any."""
    # The names come from the holidays library, which knows them in Japanese and English:
    # every page outside Japanese (and Easy Japanese) names the holiday in English.
    names = "ja" if (language or "ja").startswith("ja") else "en_US"
    return _japanese_holidays(day.year, names).get(day)


def is_year_end_closure(day: date) -> bool:
    """Whether the day falls in the 12/29–1/3 closure."""
    return (day.month, day.day) in YEAR_END_CLOSURE


def office_closed_reason(day: date, rules: OfficeRules) -> ClosedReason | None:
    """Why the office itself is closed on `day`, or None on a working day (rule 3)."""
    # Art. 6(2)③ offers sessions on 平日 only; weekends, national holidays and 12/29–1/3
    # are the days an administrative organ is closed (行政機関の休日に関する法律 第1条).
    if is_year_end_closure(day):
        return ClosedReason.YEAR_END
    if holiday_name(day) is not None:
        return ClosedReason.HOLIDAY
    if day in rules.closures:
        return ClosedReason.CLOSURE
    if day.weekday() >= 5:
        return ClosedReason.WEEKEND
    return None


def is_office_day(day: date, rules: OfficeRules) -> bool:
    """Whether the office works on `day`: a weekday, no holiday, closure or year-end (rule 3)."""
    return office_closed_reason(day, rules) is None


def closed_reason(day: date, rules: OfficeRules) -> ClosedReason | None:
    """Why the office offers no sessions on `day`, or None when it offers some (rule 3)."""
    reason = office_closed_reason(day, rules)
    if reason is not None:
        return reason
    if not any(window.weekday == day.weekday() for window in rules.windows):
        return ClosedReason.NO_SESSIONS
    return None


def is_open_day(day: date, rules: OfficeRules) -> bool:
    """Whether the office offers sessions on `day` (rule 3)."""
    return closed_reason(day, rules) is None


def _walk_back(day: date, accept: Callable[[date], bool]) -> date:
    candidate = day - timedelta(days=1)
    # A year has at most a few dozen closed days in a row; bound the walk regardless.
    for _step in range(366):
        if accept(candidate):
            return candidate
        candidate -= timedelta(days=1)
    raise ValueError("no such day within a year before the given day")


def previous_open_day(day: date, rules: OfficeRules) -> date:
    """The last day strictly before `day` on which the office offers sessions."""
    return _walk_back(day, lambda candidate: is_open_day(candidate, rules))


def previous_office_day(day: date, rules: OfficeRules) -> date:
    """The last working day of the office strictly before `day` (rule 3)."""
    return _walk_back(day, lambda candidate: is_office_day(candidate, rules))


# --- Slots (rules 1, 2, 4) -----------------------------------------------------


def slots_for_day(day: date, rules: OfficeRules) -> list[Slot]:
    """Every slot of an open day, with its capacity; closed days have none."""
    return [slot for slot in planned_slots(day, rules) if slot.capacity > 0]


def planned_slots(day: date, rules: OfficeRules) -> list[Slot]:
    """Every slot the windows of an open day hold, those without places (closed by an
    override, nobody on duty) too: what the rota preview shows."""
    if not is_open_day(day, rules):
        return []
    length = timedelta(minutes=rules.slot_minutes)
    slots: list[Slot] = []
    previous_end: datetime | None = None
    for window in sorted(
        (w for w in rules.windows if w.weekday == day.weekday()), key=lambda w: w.start
    ):
        start = datetime.combine(day, window.start, tzinfo=TOKYO)
        window_end = datetime.combine(day, window.end, tzinfo=TOKYO)
        # Windows are kept apart by the model; if data ever overlaps, never offer one
        # moment twice (it would double the capacity of that time).
        if previous_end is not None and start < previous_end:
            continue
        # Art. 6(2)③: a slot never straddles the end of its window.
        while start + length <= window_end:
            slots.append(_slot(day, start, start + length, window, rules))
            start += length
        previous_end = window_end
    return slots


def _slot(day: date, start: datetime, end: datetime, window: Window, rules: OfficeRules) -> Slot:
    """One slot and its places (rule 4): the counselors on duty in it once the office has a
    rota, else the window's capacity; a date's override can close or lower the places, and
    never raise them above the counselors on duty."""
    override = rules.capacity_overrides.get((day, start.time()))
    if rules.rota is None:
        capacity = window.capacity if override is None else override
        return Slot(start=start, end=end, capacity=capacity)
    counselors = on_duty(day, start.time(), end.time(), rules.rota)
    capacity = len(counselors) if override is None else min(override, len(counselors))
    return Slot(start=start, end=end, capacity=capacity, counselors=counselors)


def may_host(
    *,
    user_id: int,
    is_national: bool,
    is_supervisor: bool,
    is_office_staff: bool,
    counselor_user_id: int | None,
) -> bool:
    """Whether a staff member may have a booking's start link (rule 13): the counselor it is
    assigned to, the office's supervisors and the national administrators; a booking with no
    counselor (an office without counselor records) is hosted by any of the office's staff."""
    if is_national or is_supervisor:
        return True
    if counselor_user_id is None:
        return is_office_staff
    return is_office_staff and counselor_user_id == user_id


def pick_counselor(free: Iterable[int], sessions_that_day: Mapping[int, int]) -> int | None:
    """Who takes a booking (rule 4): of the counselors `free` in its slot, the one with the
    fewest sessions that day; ties go to the lowest id, so the same state gives the same
    choice. None when nobody is free."""
    return min(
        free, key=lambda counselor: (sessions_that_day.get(counselor, 0), counselor), default=None
    )


def free_counselors(on_duty_in_slot: Iterable[int], busy_in_slot: Iterable[int]) -> frozenset[int]:
    """The counselors on duty in a slot who have no other active booking in it (rule 4)."""
    return frozenset(on_duty_in_slot) - frozenset(busy_in_slot)


@dataclass(frozen=True)
class Assignment:
    """An active booking and the counselor it is assigned to, in Tokyo time."""

    booking: int
    counselor: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Reassignment:
    """What a change of the rota does to bookings already assigned (rule 4): the ones given
    to another counselor, and the ones nobody free can take (要再割当)."""

    moved: Mapping[int, int] = field(default_factory=dict)  # booking -> new counselor
    stranded: frozenset[int] = frozenset()


def off_duty(assignments: Iterable[Assignment], rota: Rota) -> list[Assignment]:
    """The bookings whose counselor is no longer on duty for the whole session (rule 4)."""
    return [
        a
        for a in assignments
        if a.counselor
        not in on_duty(_local(a.start).date(), _local(a.start).time(), _local(a.end).time(), rota)
    ]


def reassign_off_duty(assignments: Iterable[Assignment], rota: Rota) -> Reassignment:
    """Give each booking whose counselor is off duty to another counselor on duty and free
    in its slot (`pick_counselor`), in time order; the rest are stranded (rule 4).

    `assignments` are all the office's active assigned bookings on the days concerned, so
    that who is busy in a slot and how many sessions each has that day are known.
    """
    assignments = sorted(assignments, key=lambda a: (a.start, a.booking))
    busy: dict[datetime, set[int]] = {}
    sessions: dict[date, dict[int, int]] = {}
    for a in assignments:
        busy.setdefault(a.start, set()).add(a.counselor)
        day = sessions.setdefault(_local(a.start).date(), {})
        day[a.counselor] = day.get(a.counselor, 0) + 1
    moved: dict[int, int] = {}
    stranded: set[int] = set()
    for a in off_duty(assignments, rota):
        start, end = _local(a.start), _local(a.end)
        free = free_counselors(on_duty(start.date(), start.time(), end.time(), rota), busy[a.start])
        chosen = pick_counselor(free, sessions[start.date()])
        if chosen is None:
            stranded.add(a.booking)
            continue
        moved[a.booking] = chosen
        busy[a.start].discard(a.counselor)
        busy[a.start].add(chosen)
        sessions[start.date()][a.counselor] -= 1
        sessions[start.date()][chosen] = sessions[start.date()].get(chosen, 0) + 1
    return Reassignment(moved=moved, stranded=frozenset(stranded))


_ZOOM_USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


def is_zoom_user(value: str) -> bool:
    """Whether `value` can name a Zoom user in the API's path: an email or a user id."""
    return bool(_EMAIL_SHAPE.fullmatch(value) or _ZOOM_USER_ID.fullmatch(value))


def are_language_codes(value: str) -> bool:
    """Whether `value` is empty or language codes separated by commas (e.g. ja,pt-br)."""
    return all(_LANGUAGE_CODE.fullmatch(code) for code in value.split(",")) if value else True


def duty_problem(duties: Iterable[tuple[int, time, time]]) -> str | None:
    """Why a counselor's weekly duty (weekday, start, end) cannot be saved, or None: a
    weekday outside Monday–Sunday, a window that ends before it starts, or two that overlap
    on one day (rule 4)."""
    by_day: dict[int, list[tuple[time, time]]] = {}
    for weekday, start, end in duties:
        if not 0 <= weekday <= 6:  # noqa: PLR2004 - Sunday
            return "weekday"
        if not start < end:
            return "order"
        by_day.setdefault(weekday, []).append((start, end))
    for windows in by_day.values():
        windows.sort()
        for (_start, end), (next_start, _end) in zip(windows, windows[1:], strict=False):
            if next_start < end:
                return "overlap"
    return None


def slots_between(first: date, last: date, rules: OfficeRules) -> list[Slot]:
    """Every slot from `first` to `last` inclusive, in time order."""
    slots: list[Slot] = []
    day = first
    while day <= last:
        slots.extend(slots_for_day(day, rules))
        day += timedelta(days=1)
    return slots


def find_slot(start: datetime, rules: OfficeRules) -> Slot | None:
    """The slot starting exactly at `start`, if the calendar offers one."""
    start = _local(start)
    for slot in slots_for_day(start.date(), rules):
        if slot.start == start:
            return slot
    return None


# --- Deadlines (rules 5, 6, 11) ------------------------------------------------


def request_cutoff(slot_start: datetime, rules: OfficeRules) -> datetime:
    """When requests for this slot close: closing time on the last open day before it.

    Art. 6(1): bookings are confirmed by the day before, so the office needs the request
    while it is still open on the previous working day. "Open" is the office's working day
    (rule 3), not a day with sessions: staff confirming on a weekday without sessions are
    still at work, so a Monday-only office closes Monday requests on Friday, not a week
    before.
    """
    day = _local(slot_start).date()
    return datetime.combine(previous_office_day(day, rules), rules.closing_time, tzinfo=TOKYO)


def confirmation_deadline(slot_start: datetime) -> datetime:
    """The end of the day before the session (Art. 6(1) 前日までに予約を確定)."""
    return datetime.combine(_local(slot_start).date(), time(0), tzinfo=TOKYO)


def horizon_end(now: datetime, rules: OfficeRules) -> date:
    """The last date requests are open for (rule 6)."""
    return last_bookable_day(now, rules.horizon_days)


def within_horizon(slot_start: datetime, now: datetime, rules: OfficeRules) -> bool:
    """Whether the slot is no further ahead than the booking horizon (rule 6)."""
    return _local(slot_start).date() <= horizon_end(now, rules)


class RequestRefusal(StrEnum):
    """Why a slot cannot be requested right now."""

    NOT_A_SLOT = "not_a_slot"
    CLOSED = "closed"
    PAST_CUTOFF = "past_cutoff"
    BEYOND_HORIZON = "beyond_horizon"


def request_refusal(
    slot_start: datetime, now: datetime, rules: OfficeRules
) -> RequestRefusal | None:
    """Why a seeker may not request the slot starting at `slot_start` now, else None."""
    start = _local(slot_start)
    if not is_open_day(start.date(), rules):
        return RequestRefusal.CLOSED
    if find_slot(start, rules) is None:
        return RequestRefusal.NOT_A_SLOT
    if now >= request_cutoff(start, rules):
        return RequestRefusal.PAST_CUTOFF
    if not within_horizon(start, now, rules):
        return RequestRefusal.BEYOND_HORIZON
    return None


def requestable_slots(first: date, last: date, now: datetime, rules: OfficeRules) -> list[Slot]:
    """The slots in the range a seeker could request now, before counting bookings."""
    # A slot's cut-off lies on an earlier day, so nothing before tomorrow is requestable.
    first = max(first, _local(now).date() + timedelta(days=1))
    last = min(last, horizon_end(now, rules))
    requestable: list[Slot] = []
    day = first
    while day <= last:
        slots = slots_for_day(day, rules)
        # Every slot of a day shares its cut-off (rule 5): work it out once per day.
        if slots and now < request_cutoff(slots[0].start, rules):
            requestable.extend(slots)
        day += timedelta(days=1)
    return requestable


# --- The seeker moves their own booking (振替, rule 10) ---------------------------------

# At most this many moves by the seeker per booking (an office setting; 0 turns it off), so
# that moving cannot be used to hold places.
DEFAULT_MAX_SEEKER_MOVES = 2


class MoveRefusal(StrEnum):
    """Why a seeker may not move their booking now."""

    NOT_ACTIVE = "not_active"  # not requested or confirmed
    NOT_ONLINE = "not_online"  # the office takes no online bookings now
    DISABLED = "moves_disabled"  # the office allows no moves by seekers
    PAST_CUTOFF = "move_past_cutoff"  # the booked slot's request cut-off has passed
    MOVES_USED = "moves_used"  # the office's number of moves is used up


def seeker_move_refusal(
    *,
    status: str,
    slot_start: datetime,
    now: datetime,
    rules: OfficeRules,
    moves_used: int,
    max_moves: int,
    accepting_bookings: bool = True,
) -> MoveRefusal | None:
    """Why the seeker may not move this booking now (rule 10), else None.

    Only a requested or confirmed booking moves, and only until the request cut-off of its
    own slot (rule 5): after it the office is planning that session, and the place freed
    could no longer be requested by anyone.
    """
    if status not in ACTIVE_STATUSES:
        return MoveRefusal.NOT_ACTIVE
    if not accepting_bookings:
        return MoveRefusal.NOT_ONLINE
    if max_moves <= 0:
        return MoveRefusal.DISABLED
    if now >= request_cutoff(slot_start, rules):
        return MoveRefusal.PAST_CUTOFF
    if moves_used >= max_moves:
        return MoveRefusal.MOVES_USED
    return None


class MoveTargetRefusal(StrEnum):
    """Why a slot cannot take a seeker's booking, beyond what refuses a request."""

    SAME_SLOT = "same_slot"


def move_target_refusal(
    *, current_start: datetime, target_start: datetime, now: datetime, rules: OfficeRules
) -> RequestRefusal | MoveTargetRefusal | None:
    """Why the booking may not move to `target_start`, else None (rule 10): the target must
    be a slot the seeker could request now (cut-off, horizon; rules 5, 6), and another one."""
    if _local(target_start) == _local(current_start):
        return MoveTargetRefusal.SAME_SLOT
    return request_refusal(target_start, now, rules)


def within_limit_after_move(*, other_active: int, max_active: int) -> bool:
    """Whether the person stays within the per-person limit (rule 8) once moved: the moved
    booking counts as the one it was, so only their other active bookings are added to it."""
    return other_active + 1 <= max_active


def move_needs_consent(*, consented_terms_id: int | None, terms_in_force_id: int) -> bool:
    """Whether moving needs the seeker to agree to the terms again (rule 14): the consent
    stands while the version in force is the one consented to."""
    return consented_terms_id != terms_in_force_id


def availability_period(now: datetime, closing_time: time) -> tuple[date, bool]:
    """The stretch of time `now` is in, over which the requestable slots stay the same.

    A cut-off falls at the closing time of some day (rule 5), and "from tomorrow" and the
    horizon move at midnight (rule 6): between two such moments only bookings and the office's
    calendar change what can be requested, so availability worked out once holds for the
    whole stretch (the date, and whether that day's closing time has passed).
    """
    local = _local(now)
    return local.date(), local.time() >= closing_time


def is_late_confirmation(slot_start: datetime, now: datetime) -> bool:
    """Confirming after the day-before deadline needs a recorded reason (rule 5, 原則として)."""
    return now >= confirmation_deadline(slot_start)


def is_expiry_due(slot_start: datetime, now: datetime) -> bool:
    """An unconfirmed request expires once the confirmation deadline has passed (rule 5)."""
    return now >= confirmation_deadline(slot_start)


def no_show_at(slot_start: datetime) -> datetime:
    """The moment a confirmed booking without attendance counts as cancelled (Art. 6(4))."""
    return slot_start + NO_SHOW_GRACE


def is_no_show_due(slot_start: datetime, now: datetime) -> bool:
    """Whether the Art. 6(4) ten minutes have passed since the start."""
    return now >= no_show_at(slot_start)


def can_seeker_cancel(slot_start: datetime, now: datetime) -> bool:
    """A seeker may cancel online until the session starts (Art. 6(4))."""
    return now < slot_start


def can_staff_cancel(slot_start: datetime, now: datetime) -> bool:
    """Staff may record a phoned cancellation until the booking would count as no-show."""
    return not is_no_show_due(slot_start, now)


def can_mark_attended(slot_start: datetime, now: datetime) -> bool:
    """Attendance is recorded from shortly before the start onwards."""
    return now >= slot_start - ATTENDANCE_EARLY


def can_mark_no_show(slot_start: datetime, now: datetime) -> bool:
    """Staff may record a no-show once the Art. 6(4) ten minutes have passed.

    Before that the seeker may still join or phone, and an early no-show would count
    towards the refusal threshold (rule 12) for someone the terms treat as on time.
    """
    return is_no_show_due(slot_start, now)


def no_show_threshold_reached(
    no_show_times: Iterable[datetime], now: datetime, threshold: int, window_days: int
) -> bool:
    """Whether enough recent no-shows justify refusing further use (Art. 6(4))."""
    if threshold <= 0:
        return False
    since = now - timedelta(days=window_days)
    return sum(1 for moment in no_show_times if since <= moment <= now) >= threshold


# --- 求職番号 (rule 7) -------------------------------------------------------------

SEEKER_OFFICE_DIGITS = 5
SEEKER_SERIAL_MIN_DIGITS = 1
SEEKER_SERIAL_MAX_DIGITS = 8
# Generous room for spaces and odd hyphens around the at most 14 meaningful characters.
SEEKER_NUMBER_MAX_INPUT = 40
# Characters people type for the hyphen: ASCII and full-width hyphen-minus, minus sign,
# dashes and the katakana prolonged sound mark that Japanese IMEs produce.
_HYPHENS = "-－‐‑‒–—―−ーｰ"
_SEEKER_NUMBER = re.compile(
    rf"^(\d{{{SEEKER_OFFICE_DIGITS}}})-?(\d{{{SEEKER_SERIAL_MIN_DIGITS},{SEEKER_SERIAL_MAX_DIGITS}}})$"
)


def normalize_seeker_number(raw: str) -> str | None:
    """`10040-1234567` from what a person typed (full-width, spaces, odd hyphens), or None.

    The office part is five digits; the serial part is 1–8 digits (no official source fixes
    its length, so this is the one place to tighten it).
    """
    if not raw or len(raw) > SEEKER_NUMBER_MAX_INPUT:
        return None  # no spelling of a number is this long; don't normalise a page of text
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(ch for ch in text if not ch.isspace())
    for hyphen in _HYPHENS:
        text = text.replace(hyphen, "-")
    if text.count("-") > 1:
        return None
    match = _SEEKER_NUMBER.match(text)
    if not match or not text.isascii():
        return None
    return f"{match.group(1)}-{match.group(2)}"


def is_valid_seeker_number(raw: str) -> bool:
    """Whether `raw` is a 求職番号 in any accepted spelling."""
    return normalize_seeker_number(raw) is not None


def mask_email(email: str) -> str:
    """`an****@example.com`: enough to recognise one's own address, not to read another's.

    The done page says where the email went; on a shared screen the local part stays hidden
    but its start and the whole domain let the person spot a typing mistake.
    """
    local, at, domain = (email or "").strip().rpartition("@")
    if not at or not local or not domain:
        return "****"
    shown = 2 if len(local) >= 4 else 1 if len(local) >= 2 else 0
    return f"{local[:shown]}****@{domain}"


def person_key(*, seeker_number: str, email: str) -> str:
    """Who a booking belongs to for the limits: the 求職番号, else the email (rule 8)."""
    if seeker_number:
        return f"n:{seeker_number}"
    return f"e:{email.strip().lower()}"


def person_keys(*, seeker_number: str, email: str) -> tuple[str, ...]:
    """Every identity a request is checked against for the limits (rule 8).

    The email always counts: a booking made without a 求職番号 ("about to register") and one
    made with it belong to the same person when they share the email.
    """
    keys = [f"e:{email.strip().lower()}"]
    if seeker_number:
        keys.append(f"n:{seeker_number}")
    return tuple(keys)


# --- References and tokens ------------------------------------------------------------

# No 0/O, 1/I/L, 2/Z, 5/S, 8/B: easy to read aloud over the phone.
REFERENCE_ALPHABET = "34679ACDEFGHJKMNPQRTUVWXY"


def new_reference() -> str:
    """A short booking reference such as `K7P-3QX`."""
    chars = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(6))
    return f"{chars[:3]}-{chars[3:]}"


def normalize_reference(raw: str) -> str:
    """The reference as stored, from what a person typed (case, width, hyphen)."""
    text = unicodedata.normalize("NFKC", raw or "").upper()
    text = "".join(ch for ch in text if ch.isalnum())
    return f"{text[:3]}-{text[3:]}" if len(text) == 6 else text


def new_token() -> str:
    """An unguessable token for the seeker's private link (256 bits)."""
    return secrets.token_urlsafe(32)


# --- Resending the private link ---------------------------------------------------------

# A refused second request may send the private link again, at most this often per booking,
# so that the form cannot be used to flood a person's inbox.
BOOKING_LINK_RESEND_INTERVAL = timedelta(hours=1)


def booking_link_resend_allowed(
    *, email_on_file: str, email_typed: str, last_sent_at: datetime | None, now: datetime
) -> bool:
    """Whether a refused request may send the booking's private link to its own address."""
    # The link only ever goes to the address on file: 求職番号 and email are not secrets.
    if not email_on_file or email_on_file.strip().lower() != email_typed.strip().lower():
        return False
    return last_sent_at is None or now - last_sent_at >= BOOKING_LINK_RESEND_INTERVAL


# The day-before reminder goes out from this time (Tokyo) on the calendar day before.
REMINDER_TIME = time(10)


def reminder_due_at(slot_start: datetime) -> datetime:
    """When the reminder of a session may go out: the day before, from REMINDER_TIME."""
    day_before = slot_start.astimezone(TOKYO).date() - timedelta(days=1)
    return datetime.combine(day_before, REMINDER_TIME, tzinfo=TOKYO)


def reminder_due(slot_start: datetime, confirmed_at: datetime | None, now: datetime) -> bool:
    """Whether a confirmed session should get its reminder now.

    Not once it has started, and not when the confirmation itself came after the reminder
    time (that email has just told the seeker everything).
    """
    due_at = reminder_due_at(slot_start)
    if not (due_at <= now < slot_start):
        return False
    return confirmed_at is None or confirmed_at < due_at


# --- Who is the same person (rule 8) and whom a restriction covers (rule 12) ------------


def same_person(
    *, seeker_number: str, email: str, other_seeker_number: str, other_email: str
) -> bool:
    """Whether two bookings are the same person's (rule 8): the 求職番号, else the email.

    Two bookings that both carry a 求職番号 are the same person only if the numbers match;
    when either has none ("about to register", Art. 2(1)), the email decides. Symmetric.
    `selectors.same_person` is this rule as a query.
    """
    if seeker_number and other_seeker_number:
        return seeker_number == other_seeker_number
    return email.strip().lower() == other_email.strip().lower()


def restriction_covers(
    *, restricted_number: str, restricted_email: str, seeker_number: str, email: str
) -> bool:
    """Whether a restriction on a 求職番号 and/or an email covers this person (rule 12).

    Either identifier is enough: a person restricted by number cannot book by email alone,
    and the reverse. `selectors.restriction_covers` is this rule as a query.
    """
    by_number = bool(restricted_number) and restricted_number == seeker_number
    by_email = bool(restricted_email) and (
        restricted_email.strip().lower() == email.strip().lower()
    )
    return by_number or by_email


# --- What a booking allows now (rule 10), and what needs a counselor's attention ---------


class BookingAction(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    START_MEETING = "start_meeting"
    RETRY_MEETING = "retry_meeting"
    MOVE = "move"
    CANCEL = "cancel"
    BOOK_NEXT = "book_next"
    REASSIGN = "reassign"


def can_reassign(status: str, slot_start: datetime, now: datetime) -> bool:
    """Staff can give a confirmed booking to another counselor until it starts (rule 4)."""
    return status == Status.CONFIRMED and now < slot_start


def can_confirm(status: str, slot_start: datetime, now: datetime) -> bool:
    """Staff can confirm a request (or an expired one, rule 5) until the session starts."""
    return can_transition(status, Status.CONFIRMED) and now < slot_start


def can_reject(status: str, slot_start: datetime, now: datetime) -> bool:
    """Staff can decline a request that has not started (Art. 12(1))."""
    return status == Status.REQUESTED and now < slot_start


def can_start_meeting(status: str, platform: str, meeting_state: str) -> bool:
    """A counselor can open the Zoom room of a confirmed booking once it exists (rule 13)."""
    return (
        status == Status.CONFIRMED
        and platform == Platform.ZOOM
        and meeting_state == MeetingState.READY
    )


def can_book_next(status: str, *, anonymized: bool) -> bool:
    """The next session can be booked from a confirmed or attended booking (Art. 6(2))."""
    return status in (Status.CONFIRMED, Status.ATTENDED) and not anonymized


def booking_actions(
    *,
    status: str,
    platform: str,
    meeting_state: str,
    slot_start: datetime,
    now: datetime,
    anonymized: bool = False,
) -> frozenset[BookingAction]:
    """Every action staff may take on a booking now; buttons and services ask the same."""
    allowed = {
        BookingAction.CONFIRM: status == Status.REQUESTED and can_confirm(status, slot_start, now),
        BookingAction.REJECT: can_reject(status, slot_start, now),
        BookingAction.ATTENDED: status == Status.CONFIRMED and can_mark_attended(slot_start, now),
        BookingAction.NO_SHOW: status == Status.CONFIRMED and can_mark_no_show(slot_start, now),
        BookingAction.START_MEETING: can_start_meeting(status, platform, meeting_state),
        BookingAction.RETRY_MEETING: can_retry_meeting(status, platform, meeting_state),
        BookingAction.MOVE: can_move(status) and now < slot_start,
        BookingAction.CANCEL: is_active(status) and can_staff_cancel(slot_start, now),
        BookingAction.BOOK_NEXT: can_book_next(status, anonymized=anonymized),
        BookingAction.REASSIGN: can_reassign(status, slot_start, now),
    }
    return frozenset(action for action, ok in allowed.items() if ok)


class Attention(StrEnum):
    LATE = "late"  # past the rule-5 deadline: confirming needs a reason
    DUE_TODAY = "due"  # must be confirmed today (rule 5)
    OVERDUE = "overdue"  # started NO_SHOW_GRACE ago and no attendance recorded (Art. 6(4))
    MEETING_FAILED = "failed"  # the Zoom meeting could not be made (rule 13)


def attention(
    *,
    status: str,
    meeting_state: str,
    slot_start: datetime,
    now: datetime,
    due_before: datetime,
) -> Attention | None:
    """What about a booking needs a counselor now, most urgent first, or None."""
    if status == Status.REQUESTED and slot_start > now:
        if is_late_confirmation(slot_start, now):
            return Attention.LATE
        if confirmation_deadline(slot_start) <= due_before:
            return Attention.DUE_TODAY
    if status == Status.CONFIRMED and is_no_show_due(slot_start, now):
        return Attention.OVERDUE
    if status == Status.CONFIRMED and meeting_state == MeetingState.FAILED:
        return Attention.MEETING_FAILED
    return None


def confirmation_due_before(now: datetime, rules: OfficeRules) -> datetime:
    """Requests whose deadline falls before this moment must be confirmed today (rule 5).

    The deadline is the end of the day before the session; when the office is closed in
    between (a weekend, a holiday), the last chance is the current working day.
    """
    candidate = _local(now).date() + timedelta(days=1)
    for _step in range(60):
        if is_office_day(candidate, rules):
            break
        candidate += timedelta(days=1)
    return datetime.combine(candidate, time(0), tzinfo=TOKYO)


def attended_in_session(joined: datetime, slot_start: datetime, slot_end: datetime) -> bool:
    """Whether joining the meeting at `joined` counts as attending this session.

    From ATTENDANCE_EARLY before the start (people open the room early) to the end.
    """
    return slot_start - ATTENDANCE_EARLY <= joined <= slot_end


# --- Office windows as supervisors enter them (rules 2–3) --------------------------


class WindowProblem(StrEnum):
    WEEKEND = "weekend"
    ENDS_BEFORE_START = "ends_before_start"
    SHORTER_THAN_SESSION = "shorter_than_session"
    NOT_WHOLE_SESSIONS = "not_whole_sessions"


def window_problem(weekday: int, start: time, end: time, slot_minutes: int) -> WindowProblem | None:
    """What is wrong with a weekly session window, or None when it can hold sessions."""
    if weekday >= 5:
        return WindowProblem.WEEKEND  # rule 3: the office is open Monday to Friday only
    if end <= start:
        return WindowProblem.ENDS_BEFORE_START  # a window past midnight would leave the day
    minutes = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    if minutes < slot_minutes:
        return WindowProblem.SHORTER_THAN_SESSION
    if minutes % slot_minutes:
        return WindowProblem.NOT_WHOLE_SESSIONS  # Art. 6(2)③: no slot straddles the end
    return None


def windows_overlap(first: tuple[int, time, time], second: tuple[int, time, time]) -> bool:
    """Whether two (weekday, start, end) windows share any minute."""
    return first[0] == second[0] and first[1] < second[2] and second[1] < first[2]


def last_bookable_day(now: datetime, horizon_days: int) -> date:
    """The last date requests are open for (rule 6)."""
    return _local(now).date() + timedelta(days=horizon_days)


# --- The waiting list of a full slot (キャンセル待ち, rule 16) ------------------------------

# A freed place is held for the person offered it this long, never past the cut-off.
WAITLIST_OFFER_MINUTES = 30
# How many open entries one person may have at once, unless the office sets otherwise.
WAITLIST_MAX_ENTRIES = 2


class WaitlistStatus(TextChoices):
    """Where a waiting-list entry is (rule 16)."""

    WAITING = "waiting", _("待機中")
    OFFERED = "offered", _("空きを案内中")
    CLAIMED = "claimed", _("予約に切替済み")
    LEFT = "left", _("取消し")
    EXPIRED = "expired", _("終了")


# Entries still in line: waiting, or holding an offer.
OPEN_WAITLIST_STATUSES = frozenset({WaitlistStatus.WAITING, WaitlistStatus.OFFERED})


class WaitlistRefusal(StrEnum):
    """Why a slot's waiting list cannot be joined now (beyond `RequestRefusal`)."""

    NOT_FULL = "not_full"


def waitlist_refusal(
    slot_start: datetime, now: datetime, rules: OfficeRules, *, remaining: int
) -> RequestRefusal | WaitlistRefusal | None:
    """Why a person may not join this slot's waiting list now, else None.

    The list is for a slot one could request but for its places (rules 4–6): a closed day,
    a past cut-off or a slot beyond the horizon has no list, and a slot with a free place
    is booked directly.
    """
    refusal = request_refusal(slot_start, now, rules)
    if refusal is not None:
        return refusal
    if remaining > 0:
        return WaitlistRefusal.NOT_FULL
    return None


def waitlist_closes_at(slot_start: datetime, rules: OfficeRules) -> datetime:
    """When a slot's waiting list closes and its entries expire: the request cut-off
    (rule 5), after which the place could not be requested any more."""
    return request_cutoff(slot_start, rules)


def is_waitlist_closed(closes_at: datetime, now: datetime) -> bool:
    """Whether the waiting list that closes at `closes_at` has closed."""
    return now >= closes_at


def offer_expires_at(now: datetime, hold_minutes: int, closes_at: datetime) -> datetime:
    """When an offer made now stops holding the place: after the hold, never past the
    cut-off (a claim is a request, and requests close then)."""
    return min(now + timedelta(minutes=hold_minutes), closes_at)


def can_offer(now: datetime, closes_at: datetime) -> bool:
    """A freed place is offered only while the slot can still be requested."""
    return now < closes_at


def is_offer_live(status: str, expires_at: datetime | None, now: datetime) -> bool:
    """Whether an offer can still be claimed: offered, and its hold not over."""
    return status == WaitlistStatus.OFFERED and expires_at is not None and now < expires_at


def places_to_offer(capacity: int, booked: int, offers: int) -> int:
    """How many freed places are waiting for an offer: the places neither a booking nor a
    live offer holds (both hold one, rule 4)."""
    return max(capacity - booked - offers, 0)


def next_in_line(waiting: Iterable[tuple[datetime, int]], count: int = 1) -> list[int]:
    """The ids of the next `count` people to offer a place to: first come, first served
    (the moment they joined, then the entry id for ties)."""
    return [entry_id for _joined, entry_id in sorted(waiting)[: max(count, 0)]]


def free_offer_places(taken: Iterable[int], count: int) -> list[int]:
    """The numbers (1, 2, …) of the slot's places `count` new offers hold: the lowest not
    held by a live offer, so that one place is never offered twice."""
    used = set(taken)
    places: list[int] = []
    candidate = 1
    while len(places) < count:
        if candidate not in used:
            places.append(candidate)
        candidate += 1
    return places


def can_waitlist_join(open_entries: int, max_entries: int) -> bool:
    """Whether a person with `open_entries` open entries may join another list."""
    return open_entries < max_entries
