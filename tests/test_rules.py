"""The booking rules of the terms of use, article by article, as tables and properties."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reservations import rules, selectors
from reservations.models import Reservation, Slot
from reservations.rules import (
    TOKYO,
    ClosedReason,
    OfficeRules,
    RequestRefusal,
    Status,
    Window,
)
from tests.conftest import tokyo

DEFAULT = OfficeRules()


def starts(slots: list[rules.Slot]) -> list[str]:
    return [f"{s.start:%H:%M}" for s in slots]


# --- Art. 6(2)③ / rule 3: which days are open ---------------------------------------


@pytest.mark.parametrize(
    ("day", "reason", "holiday"),
    [
        # 振替休日: 憲法記念日 (5/3) fell on a Sunday in 2026, so Wednesday 5/6 is off.
        (date(2026, 5, 6), ClosedReason.HOLIDAY, "振替休日"),
        (date(2025, 11, 24), ClosedReason.HOLIDAY, "振替休日"),
        # 国民の休日: Tuesday 9/22/2026 sits between 敬老の日 and 秋分の日.
        (date(2026, 9, 22), ClosedReason.HOLIDAY, "国民の休日"),
        (date(2026, 9, 21), ClosedReason.HOLIDAY, "敬老の日"),
        (date(2026, 9, 23), ClosedReason.HOLIDAY, "秋分の日"),
        (date(2026, 5, 7), None, None),
        (date(2026, 9, 24), None, None),
        # Year-end/new-year closure 12/29–1/3, whatever the weekday.
        (date(2026, 12, 28), None, None),
        (date(2026, 12, 29), ClosedReason.YEAR_END, None),
        (date(2026, 12, 30), ClosedReason.YEAR_END, None),
        (date(2026, 12, 31), ClosedReason.YEAR_END, None),
        (date(2027, 1, 1), ClosedReason.YEAR_END, "元日"),
        (date(2027, 1, 2), ClosedReason.YEAR_END, None),
        (date(2027, 1, 3), ClosedReason.YEAR_END, None),
        (date(2027, 1, 4), None, None),
        (date(2026, 12, 5), ClosedReason.WEEKEND, None),
        (date(2026, 12, 6), ClosedReason.WEEKEND, None),
        (date(2026, 12, 7), None, None),
    ],
)
def test_open_days(day: date, reason: ClosedReason | None, holiday: str | None) -> None:
    assert rules.closed_reason(day, DEFAULT) == reason
    assert rules.is_open_day(day, DEFAULT) is (reason is None)
    assert (rules.slots_for_day(day, DEFAULT) == []) is (reason is not None)
    if holiday is not None:
        assert rules.holiday_name(day) == holiday


def test_closure_entered_by_staff_closes_the_day() -> None:
    closed = OfficeRules(closures=frozenset({date(2026, 12, 9)}))
    assert rules.closed_reason(date(2026, 12, 9), closed) == ClosedReason.CLOSURE
    assert rules.slots_for_day(date(2026, 12, 9), closed) == []
    assert len(rules.slots_for_day(date(2026, 12, 10), closed)) == 8
    assert rules.find_slot(tokyo(2026, 12, 9, 10), closed) is None
    assert rules.request_refusal(tokyo(2026, 12, 9, 10), tokyo(2026, 12, 1), closed) == (
        RequestRefusal.CLOSED
    )


def test_weekday_without_windows_offers_nothing_but_office_still_works() -> None:
    monday_only = OfficeRules(windows=(Window(0, time(10), time(12)),))
    tuesday = date(2026, 12, 8)
    assert rules.closed_reason(tuesday, monday_only) == ClosedReason.NO_SESSIONS
    assert rules.is_office_day(tuesday, monday_only)


# --- Art. 6(1), 6(2)③ / rules 1, 2: the slots of a day --------------------------------------


def test_default_day_has_the_eight_slots_of_art_6() -> None:
    slots = rules.slots_for_day(date(2026, 12, 7), DEFAULT)
    assert starts(slots) == [
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
    ]
    assert all(s.end - s.start == timedelta(minutes=30) for s in slots)
    assert all(s.start.utcoffset() == timedelta(hours=9) for s in slots)
    assert all(s.capacity == 1 for s in slots)


@pytest.mark.parametrize(
    ("window", "minutes", "expected"),
    [
        # A 10:00–11:45 window: 11:30 would end at 12:00, past the window, so it is not offered.
        ((time(10), time(11, 45)), 30, ["10:00", "10:30", "11:00"]),
        ((time(10), time(12)), 45, ["10:00", "10:45"]),
        ((time(10, 15), time(11, 15)), 30, ["10:15", "10:45"]),
        ((time(10), time(10, 29)), 30, []),
        ((time(10), time(10, 30)), 30, ["10:00"]),
    ],
)
def test_slot_never_straddles_the_window_end(
    window: tuple[time, time], minutes: int, expected: list[str]
) -> None:
    office = OfficeRules(windows=(Window(0, *window),), slot_minutes=minutes)
    slots = rules.slots_for_day(date(2026, 12, 7), office)
    assert starts(slots) == expected
    assert all(s.end.time() <= window[1] for s in slots)


def test_overlapping_windows_never_offer_a_moment_twice() -> None:
    office = OfficeRules(windows=(Window(0, time(10), time(12)), Window(0, time(11), time(13))))
    assert starts(rules.slots_for_day(date(2026, 12, 7), office)) == [
        "10:00",
        "10:30",
        "11:00",
        "11:30",
    ]


# --- Rule 4: capacity ------------------------------------------------------------------------


def test_capacity_per_window_and_overrides_per_date() -> None:
    day = date(2026, 12, 7)
    office = OfficeRules(
        windows=(Window(0, time(10), time(12), capacity=2), Window(0, time(14), time(16))),
        capacity_overrides={
            (day, time(10)): 0,  # 0 closes the slot
            (day, time(14)): 3,
            (day, time(9)): 5,  # not a slot: ignored
            (date(2026, 12, 14), time(10, 30)): 0,  # another Monday only
        },
    )
    capacities = {f"{s.start:%H:%M}": s.capacity for s in rules.slots_for_day(day, office)}
    assert capacities == {
        "10:30": 2,
        "11:00": 2,
        "11:30": 2,
        "14:00": 3,
        "14:30": 1,
        "15:00": 1,
        "15:30": 1,
    }
    assert rules.find_slot(tokyo(2026, 12, 7, 10), office) is None
    assert rules.request_refusal(tokyo(2026, 12, 7, 10), tokyo(2026, 12, 1), office) == (
        RequestRefusal.NOT_A_SLOT
    )
    next_monday = {f"{s.start:%H:%M}" for s in rules.slots_for_day(date(2026, 12, 14), office)}
    assert "10:00" in next_monday and "10:30" not in next_monday


def test_override_can_open_a_slot_of_a_zero_capacity_window() -> None:
    day = date(2026, 12, 7)
    office = OfficeRules(
        windows=(Window(0, time(10), time(11), capacity=0),),
        capacity_overrides={(day, time(10, 30)): 1},
    )
    assert starts(rules.slots_for_day(day, office)) == ["10:30"]


# --- Art. 6(1) / rule 5: the request cut-off ---------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "cutoff", "office"),
    [
        # Monday: the previous Friday at closing time.
        (tokyo(2026, 12, 7, 10), tokyo(2026, 12, 4, 17), DEFAULT),
        (tokyo(2026, 12, 8, 15, 30), tokyo(2026, 12, 7, 17), DEFAULT),
        # After the Golden Week holidays (5/3 Sun, 5/4, 5/5, 5/6 振替休日): back to Friday 5/1.
        (tokyo(2026, 5, 7, 10), tokyo(2026, 5, 1, 17), DEFAULT),
        # After 敬老の日, 国民の休日 and 秋分の日: back to Friday 9/18.
        (tokyo(2026, 9, 24, 10), tokyo(2026, 9, 18, 17), DEFAULT),
        # First day after the year-end closure: the last working day of the old year.
        (tokyo(2027, 1, 4, 10), tokyo(2026, 12, 28, 17), DEFAULT),
        # A staff closure on Friday moves a Monday cut-off back to Thursday.
        (
            tokyo(2026, 12, 7, 10),
            tokyo(2026, 12, 3, 17),
            OfficeRules(closures=frozenset({date(2026, 12, 4)})),
        ),
        # An office closing at noon.
        (tokyo(2026, 12, 8, 10), tokyo(2026, 12, 7, 12), OfficeRules(closing_time=time(12))),
        # An office with Monday sessions only still works on Friday: the cut-off is Friday.
        (
            tokyo(2026, 12, 7, 10),
            tokyo(2026, 12, 4, 17),
            OfficeRules(windows=(Window(0, time(10), time(12)),)),
        ),
    ],
)
def test_request_cutoff(slot: datetime, cutoff: datetime, office: OfficeRules) -> None:
    assert rules.request_cutoff(slot, office) == cutoff
    before = cutoff - timedelta(seconds=1)
    assert rules.request_refusal(slot, before, office) is None
    assert rules.request_refusal(slot, cutoff, office) == RequestRefusal.PAST_CUTOFF


def test_monday_slot_is_requestable_until_friday_17_00() -> None:
    first, last = date(2026, 12, 7), date(2026, 12, 8)
    friday_before = tokyo(2026, 12, 4, 16, 59)
    friday_close = tokyo(2026, 12, 4, 17)
    mondays = rules.requestable_slots(first, last, friday_before, DEFAULT)
    assert {s.day for s in mondays} == {date(2026, 12, 7), date(2026, 12, 8)}
    after = rules.requestable_slots(first, last, friday_close, DEFAULT)
    assert {s.day for s in after} == {date(2026, 12, 8)}
    # Saturday and Sunday change nothing for Tuesday: its cut-off is Monday 17:00.
    weekend = rules.requestable_slots(first, last, tokyo(2026, 12, 6, 12), DEFAULT)
    assert {s.day for s in weekend} == {date(2026, 12, 8)}


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        rules.request_cutoff(datetime(2026, 12, 7, 10), DEFAULT)


# --- Rule 6: the booking horizon ----------------------------------------------------------------


def test_horizon_edges() -> None:
    now = tokyo(2026, 11, 2, 9)  # Monday; 28 days ahead is Monday 11/30
    assert rules.horizon_end(now, DEFAULT) == date(2026, 11, 30)
    assert rules.request_refusal(tokyo(2026, 11, 30, 15, 30), now, DEFAULT) is None
    assert rules.request_refusal(tokyo(2026, 12, 1, 10), now, DEFAULT) == (
        RequestRefusal.BEYOND_HORIZON
    )
    offered = rules.requestable_slots(date(2026, 11, 1), date(2026, 12, 31), now, DEFAULT)
    # Tomorrow (11/3) is 文化の日, so the first slot is on Wednesday.
    assert offered[0].start == tokyo(2026, 11, 4, 10)
    assert offered[-1].start == tokyo(2026, 11, 30, 15, 30)


def test_horizon_counts_in_tokyo_days() -> None:
    # 15:30 UTC on 11/1 is already 00:30 on 11/2 in Tokyo.
    now = datetime(2026, 11, 1, 15, 30, tzinfo=UTC)
    assert rules.horizon_end(now, DEFAULT) == date(2026, 11, 30)
    assert rules.horizon_end(now, OfficeRules(horizon_days=1)) == date(2026, 11, 3)


def test_past_slots_and_todays_slots_are_never_offered() -> None:
    now = tokyo(2026, 12, 8, 9)
    offered = rules.requestable_slots(date(2026, 12, 1), date(2026, 12, 9), now, DEFAULT)
    assert {s.day for s in offered} == {date(2026, 12, 9)}
    assert rules.request_refusal(tokyo(2026, 12, 8, 15), now, DEFAULT) == (
        RequestRefusal.PAST_CUTOFF
    )


# --- Rule 5: confirmation deadline and expiry; Art. 6(4): no-show -------------------------------


def test_confirmation_deadline_is_the_end_of_the_day_before() -> None:
    slot = tokyo(2026, 12, 8, 10)
    assert rules.confirmation_deadline(slot) == tokyo(2026, 12, 8, 0)
    just_before = tokyo(2026, 12, 7, 23, 59) + timedelta(seconds=59)
    assert not rules.is_late_confirmation(slot, just_before)
    assert not rules.is_expiry_due(slot, just_before)
    assert rules.is_late_confirmation(slot, tokyo(2026, 12, 8, 0))
    assert rules.is_expiry_due(slot, tokyo(2026, 12, 8, 0))


@pytest.mark.parametrize(
    ("offset", "no_show_due", "staff_cancel", "staff_no_show"),
    [
        (timedelta(minutes=-1), False, True, False),
        (timedelta(0), False, True, False),
        (timedelta(minutes=9, seconds=59), False, True, False),
        (timedelta(minutes=10), True, False, True),
        (timedelta(hours=3), True, False, True),
    ],
)
def test_no_show_after_ten_minutes(
    offset: timedelta, no_show_due: bool, staff_cancel: bool, staff_no_show: bool
) -> None:
    slot = tokyo(2026, 12, 8, 10)
    now = slot + offset
    assert rules.no_show_at(slot) == tokyo(2026, 12, 8, 10, 10)
    assert rules.is_no_show_due(slot, now) is no_show_due
    assert rules.can_staff_cancel(slot, now) is staff_cancel
    assert rules.can_mark_no_show(slot, now) is staff_no_show


def test_seeker_cancel_and_attendance_windows() -> None:
    slot = tokyo(2026, 12, 8, 10)
    assert rules.can_seeker_cancel(slot, slot - timedelta(seconds=1))
    assert not rules.can_seeker_cancel(slot, slot)
    assert rules.can_mark_attended(slot, slot - timedelta(minutes=15))
    assert not rules.can_mark_attended(slot, slot - timedelta(minutes=15, seconds=1))


# --- Rule 12: the no-show threshold ------------------------------------------------------------


@pytest.mark.parametrize(
    ("ago_days", "threshold", "window", "reached"),
    [
        ([], 2, 180, False),
        ([10], 2, 180, False),
        ([10, 20], 2, 180, True),
        ([10, 181], 2, 180, False),
        ([10, 180], 2, 180, True),  # the window's first moment still counts
        ([1, 2, 3], 3, 30, True),
        ([1, 2, 31], 3, 30, False),
        ([1, 2], 1, 180, True),
        ([1, 2, 3], 0, 180, False),  # 0 switches the automatic restriction off
        ([-1, 5], 2, 180, False),  # a future moment is not a no-show yet
    ],
)
def test_no_show_threshold(ago_days: list[int], threshold: int, window: int, reached: bool) -> None:
    now = tokyo(2026, 12, 8, 12)
    moments = [now - timedelta(days=days) for days in ago_days]
    assert rules.no_show_threshold_reached(moments, now, threshold, window) is reached


# --- Rule 10: the lifecycle -----------------------------------------------------------------------

ALLOWED = {
    (Status.REQUESTED, Status.CONFIRMED),
    (Status.REQUESTED, Status.EXPIRED),
    (Status.REQUESTED, Status.REJECTED),
    (Status.REQUESTED, Status.CANCELLED),
    (Status.CONFIRMED, Status.ATTENDED),
    (Status.CONFIRMED, Status.NO_SHOW),
    (Status.CONFIRMED, Status.CANCELLED),
    (Status.EXPIRED, Status.CONFIRMED),  # rule 5: late confirmation by staff, with a reason
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_every_transition_pair(current: Status, target: Status) -> None:
    assert rules.can_transition(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize("status", list(Status))
def test_active_and_movable_statuses(status: Status) -> None:
    holds_a_place = status in (Status.REQUESTED, Status.CONFIRMED)
    assert rules.is_active(status) is holds_a_place
    assert rules.can_move(status) is holds_a_place


def test_unknown_status_cannot_move_anywhere() -> None:
    assert not rules.can_transition("lost", Status.CONFIRMED)


# --- Art. 6(2)② / rule 7: 求職番号 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("10040-1234567", "10040-1234567"),
        ("100401234567", "10040-1234567"),  # missing hyphen
        ("１００４０－１２３４５６７", "10040-1234567"),  # full-width digits and hyphen
        ("１００４０-1234567", "10040-1234567"),
        ("10040ー1234567", "10040-1234567"),  # katakana prolonged sound mark from an IME
        ("10040ｰ1234567", "10040-1234567"),  # half-width one
        ("10040‐1234567", "10040-1234567"),  # U+2010 hyphen
        ("10040−1234567", "10040-1234567"),  # U+2212 minus sign
        ("10040–1234567", "10040-1234567"),  # en dash
        ("10040—1234567", "10040-1234567"),  # em dash
        (" 10040 - 1234567 ", "10040-1234567"),
        ("10040\u30001234567", "10040-1234567"),  # ideographic space as separator
        ("10040-1", "10040-1"),  # serial of 1 digit
        ("10040-12345678", "10040-12345678"),  # serial of 8 digits
        ("10040-0000001", "10040-0000001"),  # leading zeros kept
        ("", None),
        ("   ", None),
        ("10040", None),  # no serial
        ("10040-", None),
        ("1004-1234567", None),  # office part too short
        ("100400-1234567", None),  # office part too long
        ("10040-123456789", None),  # serial too long
        ("1004012345678901", None),
        ("10040--1234567", None),
        ("10040-123-4567", None),
        ("-100401234567", None),
        ("A0040-1234567", None),
        ("10040-12345b7", None),
        ("１００４０－１２３４５６７ａ", None),
        ("١٠٠٤٠-١٢٣٤٥٦٧", None),  # Arabic-Indic digits are not a Japanese number
        ("1" * 10_000, None),
        ("10040-1234567" + " " * 10_000, None),
    ],
)
def test_seeker_number_normalisation(raw: str, normalized: str | None) -> None:
    assert rules.normalize_seeker_number(raw) == normalized
    assert rules.is_valid_seeker_number(raw) is (normalized is not None)


def test_person_key_prefers_the_seeker_number() -> None:
    assert rules.person_key(seeker_number="10040-1", email="A@x.jp") == "n:10040-1"
    assert rules.person_key(seeker_number="", email=" Taro@Example.JP ") == "e:taro@example.jp"


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@settings(max_examples=150, deadline=None)
@given(
    office=st.from_regex(r"[0-9]{5}", fullmatch=True),
    serial=st.from_regex(r"[0-9]{1,8}", fullmatch=True),
    hyphen=st.sampled_from(["-", "", "－", "ー", "ｰ", "‐", "−", "–", " - ", "　"]),
    wide=st.booleans(),
    pad=st.sampled_from(["", " ", "　", "\t"]),
)
def test_every_spelling_of_a_number_normalises_the_same(
    office: str, serial: str, hyphen: str, wide: bool, pad: str
) -> None:
    typed = f"{pad}{office}{hyphen}{serial}{pad}"
    if wide:
        typed = typed.translate(_FULL_WIDTH)
    assert rules.normalize_seeker_number(typed) == f"{office}-{serial}"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_normalisation_never_raises_and_only_gives_canonical_numbers(raw: str) -> None:
    result = rules.normalize_seeker_number(raw)
    assert result is None or re.fullmatch(r"[0-9]{5}-[0-9]{1,8}", result)


# --- References -----------------------------------------------------------------------------------


def test_reference_is_short_unambiguous_and_normalises_back() -> None:
    for _ in range(200):
        reference = rules.new_reference()
        assert re.fullmatch(
            r"[34679ACDEFGHJKMNPQRTUVWXY]{3}-[34679ACDEFGHJKMNPQRTUVWXY]{3}", reference
        )
        typed = reference.replace("-", "").lower()
        assert rules.normalize_reference(typed) == reference
    assert rules.normalize_reference("ｋ７ｐ－３ｑｘ") == "K7P-3QX"
    assert len(rules.new_token()) >= 43


# --- Properties over the calendar, 2025–2035 --------------------------------------------------

_QUARTERS = [time(h, m) for h in range(7, 20) for m in (0, 15, 30, 45)]
_YEARS = (date(2025, 1, 1), date(2035, 12, 31))


@st.composite
def office_rules(draw: st.DrawFn, near: date) -> OfficeRules:
    """Any office: windows on any weekday (weekends too), closures and overrides near `near`."""
    windows: list[Window] = []
    for weekday in range(7):
        # Up to two windows a day, apart from each other, as the model keeps them.
        cursor = draw(st.sampled_from(_QUARTERS[:8]))
        for _ in range(draw(st.integers(0, 2) if weekday >= 5 else st.integers(1, 2))):
            start = datetime.combine(near, cursor)
            end = start + timedelta(minutes=15 * draw(st.integers(1, 12)))
            if end.date() != near:
                break
            windows.append(
                Window(weekday, start.time(), end.time(), draw(st.sampled_from([0, 1, 1, 2, 3])))
            )
            cursor = (end + timedelta(minutes=15 * draw(st.integers(0, 8)))).time()
            if cursor < end.time():
                break
    around = st.dates(near - timedelta(days=21), near + timedelta(days=45))
    closures = draw(st.frozensets(around, max_size=8))
    overrides = draw(
        st.dictionaries(
            st.tuples(around, st.sampled_from(_QUARTERS)), st.integers(0, 3), max_size=20
        )
    )
    return OfficeRules(
        windows=tuple(windows),
        slot_minutes=draw(st.sampled_from([15, 20, 30, 30, 45, 60])),
        closing_time=draw(st.sampled_from([time(12), time(17), time(17, 15), time(23, 59)])),
        horizon_days=draw(st.integers(1, 60)),
        closures=closures,
        capacity_overrides=overrides,
    )


def _assert_slot_is_lawful(slot: rules.Slot, office: OfficeRules) -> None:
    local = slot.start.astimezone(TOKYO)
    day = local.date()
    assert slot.start.utcoffset() == timedelta(hours=9)
    # Rule 3: a weekday that is no holiday, not in 12/29–1/3 and not closed by staff.
    assert day.weekday() < 5
    assert rules.holiday_name(day) is None
    assert (day.month, day.day) not in rules.YEAR_END_CLOSURE
    assert day not in office.closures
    # Rules 1, 2: exactly one session long, inside one window of that weekday.
    assert slot.end - slot.start == timedelta(minutes=office.slot_minutes)
    assert slot.end.astimezone(TOKYO).date() == day
    assert any(
        w.weekday == day.weekday()
        and w.start <= local.time()
        and slot.end.astimezone(TOKYO).time() <= w.end
        for w in office.windows
    )
    assert slot.capacity > 0
    # Rule 5: the cut-off comes strictly before, at closing time on a working day.
    cutoff = rules.request_cutoff(slot.start, office)
    assert cutoff < slot.start
    assert rules.is_office_day(cutoff.date(), office)
    assert cutoff.time() == office.closing_time
    between = cutoff.date() + timedelta(days=1)
    while between < day:  # nothing but closed days between the cut-off and the slot
        assert not rules.is_office_day(between, office)
        between += timedelta(days=1)


@st.composite
def office_and_day(draw: st.DrawFn) -> tuple[OfficeRules, date]:
    day = draw(st.dates(*_YEARS))
    return draw(office_rules(day)), day


@settings(max_examples=200, deadline=None)
@given(office_and_day())
def test_no_slot_on_a_closed_day_or_outside_the_windows(case: tuple[OfficeRules, date]) -> None:
    office, day = case
    slots = rules.slots_for_day(day, office)
    if not rules.is_open_day(day, office):
        assert slots == []
    for slot in slots:
        assert slot.day == day
        _assert_slot_is_lawful(slot, office)
        assert rules.find_slot(slot.start, office) == slot
    assert len({s.start for s in slots}) == len(slots)
    assert slots == sorted(slots)


@settings(max_examples=100, deadline=None)
@given(
    office_and_day(),
    st.times(),
    st.integers(0, 40),
)
def test_requestable_slots_respect_cutoff_and_horizon(
    case: tuple[OfficeRules, date], clock: time, span: int
) -> None:
    office, today = case
    now = datetime.combine(today, clock, tzinfo=TOKYO)
    first = today - timedelta(days=3)
    last = first + timedelta(days=span)
    offered = rules.requestable_slots(first, last, now, office)
    for slot in offered:
        _assert_slot_is_lawful(slot, office)
        assert today < slot.day
        assert first <= slot.day <= last
        assert now < rules.request_cutoff(slot.start, office)
        assert slot.day <= rules.horizon_end(now, office)
        assert rules.request_refusal(slot.start, now, office) is None
    # And nothing requestable is left out.
    every = rules.slots_between(first, last, office)
    assert offered == [s for s in every if rules.request_refusal(s.start, now, office) is None]


@settings(max_examples=100, deadline=None)
@given(office_and_day(), st.sampled_from(_QUARTERS))
def test_refusal_agrees_with_the_calendar(case: tuple[OfficeRules, date], clock: time) -> None:
    """Any time of a day is a requestable slot or refused for a reason that holds."""
    office, day = case
    slot_start = datetime.combine(day, clock, tzinfo=TOKYO)
    now = slot_start - timedelta(days=5)
    refusal = rules.request_refusal(slot_start, now, office)
    if refusal == RequestRefusal.CLOSED:
        assert not rules.is_open_day(day, office)
    elif refusal == RequestRefusal.NOT_A_SLOT:
        assert rules.find_slot(slot_start, office) is None
    else:
        assert rules.find_slot(slot_start, office) is not None


# --- One rule, one place: the pure rules and their query forms agree ----------------------

IDENTITIES = [
    (number, email)
    for number in ("", "10040-1111111", "10040-2222222")
    # Stored addresses are stripped by the services; case differs in what people type.
    for email in ("taro@example.jp", "TARO@example.jp", "hanako@example.jp")
]


@pytest.fixture
def identity_rows(office) -> list:
    slot = Slot.objects.create(
        office=office, starts_at=tokyo(2026, 12, 3, 10), ends_at=tokyo(2026, 12, 3, 10, 30)
    )
    return [
        Reservation.objects.create(
            office=office,
            slot=slot,
            status=Status.CANCELLED,
            reference=f"REF-{index:03d}",
            token=f"token-{index:03d}-" + "x" * 20,
            name="テスト",
            seeker_number=number,
            about_to_register=not number,
            email=email,
            person_key=rules.person_key(seeker_number=number, email=email),
        )
        for index, (number, email) in enumerate(IDENTITIES)
    ]


@pytest.mark.parametrize(("number", "email"), IDENTITIES)
def test_same_person_query_is_the_rule(identity_rows, number: str, email: str) -> None:
    by_query = set(
        Reservation.objects.filter(
            selectors.same_person(seeker_number=number, email=email)
        ).values_list("pk", flat=True)
    )
    by_rule = {
        row.pk
        for row in identity_rows
        if rules.same_person(
            seeker_number=number,
            email=email,
            other_seeker_number=row.seeker_number,
            other_email=row.email,
        )
    }
    assert by_query == by_rule


@pytest.mark.parametrize(("number", "email"), IDENTITIES)
def test_restriction_query_is_the_rule(identity_rows, number: str, email: str) -> None:
    covered = set(
        Reservation.objects.filter(
            selectors.covered_by_restriction(seeker_number=number, email=email)
        ).values_list("pk", flat=True)
    )
    by_rule = {
        row.pk
        for row in identity_rows
        if rules.restriction_covers(
            restricted_number=number,
            restricted_email=email,
            seeker_number=row.seeker_number,
            email=row.email,
        )
    }
    assert covered == by_rule


@given(
    st.sampled_from(IDENTITIES),
    st.sampled_from(IDENTITIES),
)
def test_same_person_is_symmetric(first: tuple[str, str], second: tuple[str, str]) -> None:
    forward = rules.same_person(
        seeker_number=first[0], email=first[1], other_seeker_number=second[0], other_email=second[1]
    )
    backward = rules.same_person(
        seeker_number=second[0], email=second[1], other_seeker_number=first[0], other_email=first[1]
    )
    assert forward == backward


STATUSES = list(Status)
PLATFORMS = list(rules.Platform)
MEETING_STATES = list(rules.MeetingState)


@given(
    status=st.sampled_from(STATUSES),
    platform=st.sampled_from(PLATFORMS),
    meeting_state=st.sampled_from(MEETING_STATES),
    offset_minutes=st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60),
    anonymized=st.booleans(),
)
def test_booking_actions_agree_with_each_rule(
    status: str, platform: str, meeting_state: str, offset_minutes: int, anonymized: bool
) -> None:
    start = tokyo(2026, 12, 7, 10)
    now = start + timedelta(minutes=offset_minutes)
    allowed = rules.booking_actions(
        status=status,
        platform=platform,
        meeting_state=meeting_state,
        slot_start=start,
        now=now,
        anonymized=anonymized,
    )
    Action = rules.BookingAction
    assert (Action.CONFIRM in allowed) == (status == Status.REQUESTED and now < start)
    assert (Action.REJECT in allowed) == (status == Status.REQUESTED and now < start)
    assert (Action.ATTENDED in allowed) == (
        status == Status.CONFIRMED and rules.can_mark_attended(start, now)
    )
    assert (Action.NO_SHOW in allowed) == (
        status == Status.CONFIRMED and now >= start + rules.NO_SHOW_GRACE
    )
    assert (Action.RETRY_MEETING in allowed) == (
        status == Status.CONFIRMED
        and platform == rules.Platform.ZOOM
        and meeting_state in (rules.MeetingState.PENDING, rules.MeetingState.FAILED)
    )
    assert (Action.START_MEETING in allowed) == (
        status == Status.CONFIRMED
        and platform == rules.Platform.ZOOM
        and meeting_state == rules.MeetingState.READY
    )
    # Never both: a meeting is either there to start or still to be made.
    assert not {Action.START_MEETING, Action.RETRY_MEETING} <= allowed
    assert (Action.MOVE in allowed) == (rules.is_active(status) and now < start)
    assert (Action.BOOK_NEXT in allowed) == (
        status in (Status.CONFIRMED, Status.ATTENDED) and not anonymized
    )
    # A finished booking allows nothing (an expired request is confirmed through the
    # late-confirmation page, rule 5, not a button).
    if status in (Status.CANCELLED, Status.EXPIRED, Status.REJECTED, Status.NO_SHOW):
        assert allowed == frozenset()


@pytest.mark.parametrize(
    ("weekday", "start", "end", "problem"),
    [
        (0, time(10), time(12), None),
        (5, time(10), time(12), rules.WindowProblem.WEEKEND),
        (0, time(12), time(10), rules.WindowProblem.ENDS_BEFORE_START),
        (0, time(10), time(10), rules.WindowProblem.ENDS_BEFORE_START),
        (0, time(10), time(10, 20), rules.WindowProblem.SHORTER_THAN_SESSION),
        (0, time(10), time(11, 15), rules.WindowProblem.NOT_WHOLE_SESSIONS),
    ],
)
def test_window_problems(weekday: int, start: time, end: time, problem) -> None:
    assert rules.window_problem(weekday, start, end, 30) == problem


def test_windows_overlap_only_on_the_same_day_and_shared_minutes() -> None:
    assert rules.windows_overlap((0, time(10), time(12)), (0, time(11), time(13)))
    assert not rules.windows_overlap((0, time(10), time(12)), (0, time(12), time(13)))
    assert not rules.windows_overlap((0, time(10), time(12)), (1, time(10), time(12)))


def test_attendance_window_and_confirmation_due_before() -> None:
    start, end = tokyo(2026, 12, 7, 10), tokyo(2026, 12, 7, 10, 30)
    assert rules.attended_in_session(start - rules.ATTENDANCE_EARLY, start, end)
    assert not rules.attended_in_session(
        start - rules.ATTENDANCE_EARLY - timedelta(1e-3), start, end
    )
    assert rules.attended_in_session(end, start, end)
    assert not rules.attended_in_session(end + timedelta(seconds=1), start, end)
    # Friday: the next office day is Monday, so Saturday's to Monday's sessions are due today.
    office_rules = rules.OfficeRules()
    assert rules.confirmation_due_before(tokyo(2026, 12, 4, 9), office_rules) == tokyo(2026, 12, 7)
    assert rules.confirmation_due_before(tokyo(2026, 12, 7, 9), office_rules) == tokyo(2026, 12, 8)


@settings(max_examples=200, deadline=None)
@given(office_and_day(), st.times(), st.times(), st.integers(0, 40))
def test_requestable_slots_stay_the_same_within_an_availability_period(
    case: tuple[OfficeRules, date], one: time, other: time, span: int
) -> None:
    # What the shared cache of availability relies on: within one period (a date, before or
    # after its closing time) only bookings and the calendar change what can be requested.
    office, today = case
    first_moment = datetime.combine(today, one, tzinfo=TOKYO)
    second_moment = datetime.combine(today, other, tzinfo=TOKYO)
    first, last = today - timedelta(days=3), today + timedelta(days=span)
    same = rules.availability_period(
        first_moment, office.closing_time
    ) == rules.availability_period(second_moment, office.closing_time)
    assert same == ((one >= office.closing_time) == (other >= office.closing_time))
    if same:
        assert rules.requestable_slots(first, last, first_moment, office) == (
            rules.requestable_slots(first, last, second_moment, office)
        )


def test_an_availability_period_ends_at_the_closing_time_and_at_midnight() -> None:
    office = OfficeRules(closing_time=time(17))
    before = datetime(2026, 12, 22, 16, 59, 59, 999999, tzinfo=TOKYO)
    at = datetime(2026, 12, 22, 17, tzinfo=TOKYO)
    midnight = datetime(2026, 12, 23, tzinfo=TOKYO)
    periods = {rules.availability_period(m, office.closing_time) for m in (before, at, midnight)}
    assert len(periods) == 3
    # The 23rd's slots close at 17:00 on the 22nd: the period that begins then no longer has them.
    thursday = date(2026, 12, 23)
    assert rules.requestable_slots(thursday, thursday, before, office)
    assert not rules.requestable_slots(thursday, thursday, at, office)


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("andrew@example.com", "an****@example.com"),
        ("anna@example.jp", "an****@example.jp"),
        ("ann@example.jp", "a****@example.jp"),
        ("al@example.jp", "a****@example.jp"),
        ("a@example.jp", "****@example.jp"),
        ("taro.yamada+hw@mail.example.co.jp", "ta****@mail.example.co.jp"),
        ("no-at-sign", "****"),
        ("", "****"),
    ],
)
def test_mask_email_keeps_the_start_and_the_domain(email: str, masked: str):
    assert rules.mask_email(email) == masked


@given(st.emails())
def test_mask_email_never_shows_more_than_two_letters_of_the_local_part(email: str):
    masked = rules.mask_email(email)
    local, _at, domain = email.rpartition("@")
    assert masked.endswith(f"****@{domain}")
    assert len(masked) - len(domain) - 5 <= min(2, len(local) - 1)
    assert local[:2].startswith(masked[: len(masked) - len(domain) - 5])


# --- Rule 13: who may have a booking's start link -----------------------------------------


@pytest.mark.parametrize(
    ("is_national", "is_supervisor", "is_office_staff", "counselor_user_id", "allowed"),
    [
        # The assigned counselor, and no other counselor of the office.
        (False, False, True, 7, True),
        (False, False, True, 8, False),
        # The office's supervisors and the national administrators, whoever is assigned.
        (False, True, True, 8, True),
        (True, False, False, 8, True),
        (True, False, False, None, True),
        # No counselor (an office without counselor records): any of the office's staff.
        (False, False, True, None, True),
        (False, False, False, None, False),
        # A counselor assigned here but no longer staff of the office.
        (False, False, False, 7, False),
    ],
)
def test_may_host(is_national, is_supervisor, is_office_staff, counselor_user_id, allowed):
    assert (
        rules.may_host(
            user_id=7,
            is_national=is_national,
            is_supervisor=is_supervisor,
            is_office_staff=is_office_staff,
            counselor_user_id=counselor_user_id,
        )
        is allowed
    )


@given(
    user_id=st.integers(1, 5),
    is_national=st.booleans(),
    is_supervisor=st.booleans(),
    is_office_staff=st.booleans(),
    counselor_user_id=st.one_of(st.none(), st.integers(1, 5)),
)
def test_a_counselor_never_hosts_another_counselors_session(
    user_id, is_national, is_supervisor, is_office_staff, counselor_user_id
):
    allowed = rules.may_host(
        user_id=user_id,
        is_national=is_national,
        is_supervisor=is_supervisor,
        is_office_staff=is_office_staff,
        counselor_user_id=counselor_user_id,
    )
    if not (is_national or is_supervisor):
        if counselor_user_id is not None and counselor_user_id != user_id:
            assert not allowed
        if not is_office_staff:
            assert not allowed
    else:
        assert allowed
