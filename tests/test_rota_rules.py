"""Rule 4 with a rota: the places of a slot are the counselors on duty, and who takes a booking.

Pure functions, exhaustively: hypothesis draws random weekly duties, leave, training and
extra shifts, and per-date overrides, and the properties below hold for every one of them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from reservations import rules
from reservations.rules import (
    TOKYO,
    Assignment,
    Duty,
    DutyChange,
    OfficeRules,
    Rota,
)

MONDAY = date(2026, 12, 7)  # an ordinary working week (no holiday)
WEEK = [MONDAY + timedelta(days=i) for i in range(5)]
HALF_HOURS = [time(h, m) for h in range(9, 17) for m in (0, 30)]
COUNSELORS = st.integers(min_value=1, max_value=6)


@st.composite
def spans(draw: st.DrawFn) -> tuple[time, time]:
    start, end = sorted(
        draw(st.lists(st.sampled_from(HALF_HOURS), min_size=2, max_size=2, unique=True))
    )
    return start, end


@st.composite
def duties(draw: st.DrawFn) -> Duty:
    start, end = draw(spans())
    return Duty(draw(COUNSELORS), draw(st.integers(min_value=0, max_value=4)), start, end)


@st.composite
def changes(draw: st.DrawFn) -> DutyChange:
    whole_day = draw(st.booleans())
    start, end = (None, None) if whole_day else draw(spans())
    return DutyChange(
        draw(COUNSELORS), draw(st.sampled_from(WEEK)), draw(st.booleans()), start, end
    )


rotas = st.builds(
    Rota,
    duties=st.lists(duties(), max_size=12).map(tuple),
    changes=st.lists(changes(), max_size=8).map(tuple),
)


@st.composite
def overrides(draw: st.DrawFn) -> dict[tuple[date, time], int]:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(WEEK), st.sampled_from(HALF_HOURS)), max_size=10, unique=True
        )
    )
    return {key: draw(st.integers(min_value=0, max_value=8)) for key in keys}


def week_slots(office_rules: OfficeRules) -> list[rules.Slot]:
    return rules.slots_between(WEEK[0], WEEK[-1], office_rules)


def unbounded_slots(rota: Rota | None) -> list[rules.Slot]:
    """Every half hour of the week as a slot, so that duty outside 10–12 and 14–16 counts too."""
    windows = tuple(rules.Window(d, time(9), time(17), capacity=3) for d in range(5))
    return week_slots(OfficeRules(windows=windows, rota=rota))


# --- Places ------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(rotas, overrides())
def test_never_more_places_than_counselors_on_duty(rota: Rota, override: dict) -> None:
    office_rules = OfficeRules(rota=rota, capacity_overrides=override)
    for slot in week_slots(office_rules):
        local = slot.start.astimezone(TOKYO)
        assert slot.counselors == rules.on_duty(local.date(), local.time(), slot.end.time(), rota)
        assert 0 < slot.capacity <= len(slot.counselors)


@settings(max_examples=150, deadline=None)
@given(rotas, overrides())
def test_an_override_only_lowers_or_closes(rota: Rota, override: dict) -> None:
    plain = {s.start: s.capacity for s in week_slots(OfficeRules(rota=rota))}
    lowered = {
        s.start: s.capacity for s in week_slots(OfficeRules(rota=rota, capacity_overrides=override))
    }
    assert set(lowered) <= set(plain)
    for start, places in lowered.items():
        assert places <= plain[start]
        asked = override.get((start.date(), start.time()))
        assert places == (plain[start] if asked is None else min(asked, plain[start]))
    for (day, start), places in override.items():
        moment = datetime.combine(day, start, tzinfo=TOKYO)
        if places == 0:
            assert moment not in lowered


@settings(max_examples=150, deadline=None)
@given(rotas, COUNSELORS, st.sampled_from(WEEK), st.booleans(), spans())
def test_leave_wins_over_duty_and_extra_shifts(
    rota: Rota, counselor: int, day: date, whole_day: bool, span: tuple[time, time]
) -> None:
    start, end = (None, None) if whole_day else span
    leave = DutyChange(counselor, day, on_duty=False, start=start, end=end)
    extra = DutyChange(counselor, day, on_duty=True)
    with_leave = Rota(rota.duties, (*rota.changes, extra, leave))
    for slot in unbounded_slots(with_leave):
        local = slot.start.astimezone(TOKYO)
        if local.date() == day and leave.covers(local.time(), slot.end.time()):
            assert counselor not in slot.counselors


@settings(max_examples=150, deadline=None)
@given(rotas, COUNSELORS, st.sampled_from(WEEK), spans())
def test_an_extra_shift_adds_the_counselor(
    rota: Rota, counselor: int, day: date, span: tuple[time, time]
) -> None:
    # Without leave of theirs that day, an extra shift puts them on duty for all of it.
    kept = tuple(c for c in rota.changes if c.on_duty or c.counselor != counselor or c.day != day)
    base = Rota(rota.duties, kept)
    extra = Rota(rota.duties, (*kept, DutyChange(counselor, day, True, *span)))
    before = {s.start: s.counselors for s in unbounded_slots(base)}
    for slot in unbounded_slots(extra):
        local = slot.start.astimezone(TOKYO)
        inside = local.date() == day and span[0] <= local.time() and slot.end.time() <= span[1]
        if inside:
            assert counselor in slot.counselors
        assert before.get(slot.start, frozenset()) <= slot.counselors


@settings(max_examples=200, deadline=None)
@given(overrides(), st.lists(st.integers(min_value=0, max_value=4), min_size=5, max_size=5))
def test_an_office_without_counselors_keeps_its_capacities(override: dict, capacities) -> None:
    windows = tuple(
        rules.Window(d, s, e, capacities[d])
        for d in range(5)
        for s, e in ((time(10), time(12)), (time(14), time(16)))
    )
    slots = week_slots(OfficeRules(windows=windows, capacity_overrides=override))
    for slot in slots:
        local = slot.start.astimezone(TOKYO)
        expected = override.get((local.date(), local.time()), capacities[local.weekday()])
        assert slot.capacity == expected > 0
        assert slot.counselors == frozenset()


def test_an_empty_rota_has_no_places() -> None:
    assert week_slots(OfficeRules(rota=Rota())) == []


def test_half_away_is_away() -> None:
    rota = Rota(
        duties=(Duty(1, 0, time(10), time(12)), Duty(2, 0, time(10), time(12))),
        changes=(DutyChange(1, MONDAY, False, time(10, 15), time(10, 45)),),
    )
    places = {s.start.time(): s.capacity for s in week_slots(OfficeRules(rota=rota))}
    assert places[time(10)] == 1 and places[time(10, 30)] == 1 and places[time(11)] == 2


# --- Who takes a booking -----------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.frozensets(COUNSELORS),
    st.dictionaries(COUNSELORS, st.integers(min_value=0, max_value=8)),
)
def test_pick_counselor_takes_the_fewest_sessions_then_the_lowest_id(free, sessions) -> None:
    picked = rules.pick_counselor(free, sessions)
    if not free:
        assert picked is None
        return
    assert picked in free
    fewest = min(sessions.get(c, 0) for c in free)
    assert sessions.get(picked, 0) == fewest
    assert picked == min(c for c in free if sessions.get(c, 0) == fewest)
    # Stable: the order the counselors come in changes nothing.
    assert rules.pick_counselor(sorted(free, reverse=True), sessions) == picked


def test_free_counselors_are_on_duty_without_a_booking_in_the_slot() -> None:
    assert rules.free_counselors({1, 2, 3}, {2, 5}) == {1, 3}


@st.composite
def booked_rota(draw: st.DrawFn) -> tuple[Rota, list[Assignment], Rota]:
    """A rota, bookings assigned under it (each to a counselor on duty and free), and the
    rota after random changes (leave, extra shifts, duty removed)."""
    rota = draw(rotas)
    slots = unbounded_slots(rota)
    assignments: list[Assignment] = []
    booking = 0
    for slot in draw(st.lists(st.sampled_from(slots), max_size=15, unique=True)) if slots else []:
        taken = draw(st.sets(st.sampled_from(sorted(slot.counselors)), min_size=1))
        for counselor in sorted(taken):
            booking += 1
            assignments.append(Assignment(booking, counselor, slot.start, slot.end))
    later = Rota(
        duties=tuple(d for d in rota.duties if draw(st.booleans())),
        changes=(*rota.changes, *draw(st.lists(changes(), max_size=6))),
    )
    return rota, assignments, later


@settings(max_examples=150, deadline=None)
@given(booked_rota())
def test_reassignment_after_a_rota_change(case: tuple[Rota, list[Assignment], Rota]) -> None:
    _rota, assignments, later = case
    plan = rules.reassign_off_duty(assignments, later)
    off = {a.booking for a in rules.off_duty(assignments, later)}
    # Every booking taken away from its counselor is either reassigned or flagged, not both.
    assert set(plan.moved) | plan.stranded == off
    assert not set(plan.moved) & plan.stranded
    final = {a.booking: plan.moved.get(a.booking, a.counselor) for a in assignments}
    by_slot: dict[datetime, list[int]] = {}
    for a in assignments:
        by_slot.setdefault(a.start, []).append(final[a.booking])
        if a.booking in plan.moved:
            local, end = a.start.astimezone(TOKYO), a.end.astimezone(TOKYO)
            # Moved only to someone on duty for the whole session.
            assert final[a.booking] in rules.on_duty(local.date(), local.time(), end.time(), later)
    # Never one counselor twice in a slot.
    for counselors in by_slot.values():
        assert len(counselors) == len(set(counselors))
    # Flagged only when nobody on duty in the slot was left free.
    for a in assignments:
        if a.booking in plan.stranded:
            local, end = a.start.astimezone(TOKYO), a.end.astimezone(TOKYO)
            on = rules.on_duty(local.date(), local.time(), end.time(), later)
            assert on <= set(by_slot[a.start])


def test_a_leave_moves_the_booking_to_the_counselor_with_fewer_sessions() -> None:
    rota = Rota(
        duties=tuple(Duty(c, 0, time(10), time(12)) for c in (1, 2, 3)),
        changes=(DutyChange(1, MONDAY, False),),
    )
    ten = datetime.combine(MONDAY, time(10), tzinfo=TOKYO)
    eleven = datetime.combine(MONDAY, time(11), tzinfo=TOKYO)
    half = timedelta(minutes=30)
    assignments = [
        Assignment(1, 1, ten, ten + half),
        Assignment(2, 2, eleven, eleven + half),
    ]
    plan = rules.reassign_off_duty(assignments, rota)
    assert plan.moved == {1: 3} and plan.stranded == frozenset()


def test_a_leave_with_nobody_free_flags_the_booking() -> None:
    rota = Rota(
        duties=tuple(Duty(c, 0, time(10), time(12)) for c in (1, 2)),
        changes=(DutyChange(1, MONDAY, False, time(10), time(11)),),
    )
    ten = datetime.combine(MONDAY, time(10), tzinfo=TOKYO)
    half = timedelta(minutes=30)
    plan = rules.reassign_off_duty(
        [Assignment(1, 1, ten, ten + half), Assignment(2, 2, ten, ten + half)], rota
    )
    assert plan.moved == {} and plan.stranded == {1}


def test_duty_problems() -> None:
    assert rules.duty_problem([(0, time(10), time(12)), (0, time(14), time(16))]) is None
    assert rules.duty_problem([(7, time(10), time(12))]) == "weekday"
    assert rules.duty_problem([(0, time(12), time(10))]) == "order"
    assert rules.duty_problem([(0, time(10), time(12)), (0, time(11), time(13))]) == "overlap"
    assert rules.duty_problem([(0, time(10), time(12)), (1, time(11), time(13))]) is None


def test_zoom_users_and_language_codes() -> None:
    assert rules.is_zoom_user("counselor1@example.jp")
    assert rules.is_zoom_user("KdYKjnimT4KPd8FFgQt9FQ")
    assert not rules.is_zoom_user("two words")
    assert not rules.is_zoom_user("a/../b")
    assert rules.are_language_codes("") and rules.are_language_codes("ja,pt-br")
    assert not rules.are_language_codes("Japanese") and not rules.are_language_codes("ja,,en")


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(list(rules.Status)),
    st.integers(min_value=-3 * 24 * 60, max_value=3 * 24 * 60),
)
def test_reassign_is_offered_for_confirmed_bookings_until_they_start(status, offset) -> None:
    start = datetime.combine(MONDAY, time(10), tzinfo=TOKYO)
    now = start + timedelta(minutes=offset)
    allowed = rules.booking_actions(
        status=status, platform="zoom", meeting_state="pending", slot_start=start, now=now
    )
    expected = status == rules.Status.CONFIRMED and now < start
    assert (
        (rules.BookingAction.REASSIGN in allowed)
        == expected
        == rules.can_reassign(status, start, now)
    )
