"""The seeker moving their own booking (振替, rule 10): when a move is allowed, and where to."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reservations import rules
from reservations.rules import (
    MoveRefusal,
    MoveTargetRefusal,
    OfficeRules,
    RequestRefusal,
    Status,
)
from tests.conftest import tokyo

OFFICE = OfficeRules()
NOW = tokyo(2026, 12, 1, 9)  # Tuesday morning
THU = tokyo(2026, 12, 3, 10)  # requests close Wednesday 12/2 17:00
FRI = tokyo(2026, 12, 4, 14)


def refusal(**overrides: object) -> MoveRefusal | None:
    values: dict = {
        "status": Status.REQUESTED,
        "slot_start": THU,
        "now": NOW,
        "rules": OFFICE,
        "moves_used": 0,
        "max_moves": 2,
        "accepting_bookings": True,
    }
    values.update(overrides)
    return rules.seeker_move_refusal(**values)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, None),
        ({"status": Status.CONFIRMED}, None),
        ({"status": Status.ATTENDED}, MoveRefusal.NOT_ACTIVE),
        ({"status": Status.CANCELLED}, MoveRefusal.NOT_ACTIVE),
        ({"status": Status.EXPIRED}, MoveRefusal.NOT_ACTIVE),
        ({"status": Status.REJECTED}, MoveRefusal.NOT_ACTIVE),
        ({"status": Status.NO_SHOW}, MoveRefusal.NOT_ACTIVE),
        ({"accepting_bookings": False}, MoveRefusal.NOT_ONLINE),
        ({"max_moves": 0}, MoveRefusal.DISABLED),
        ({"moves_used": 1}, None),
        ({"moves_used": 2}, MoveRefusal.MOVES_USED),
        ({"moves_used": 5, "max_moves": 5}, MoveRefusal.MOVES_USED),
        # The booked slot's own cut-off (rule 5): Wednesday 17:00 for Thursday.
        ({"now": tokyo(2026, 12, 2, 16, 59)}, None),
        ({"now": tokyo(2026, 12, 2, 17)}, MoveRefusal.PAST_CUTOFF),
        ({"now": THU}, MoveRefusal.PAST_CUTOFF),
        # A finished booking says so before anything else.
        ({"status": Status.ATTENDED, "max_moves": 0}, MoveRefusal.NOT_ACTIVE),
    ],
)
def test_when_a_seeker_may_move(overrides: dict, expected: MoveRefusal | None) -> None:
    assert refusal(**overrides) == expected


def test_a_monday_booking_moves_until_friday_17_00() -> None:
    monday = tokyo(2026, 12, 7, 10)
    assert refusal(slot_start=monday, now=tokyo(2026, 12, 4, 16, 59)) is None
    assert refusal(slot_start=monday, now=tokyo(2026, 12, 4, 17)) == MoveRefusal.PAST_CUTOFF


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (FRI, None),
        (THU, MoveTargetRefusal.SAME_SLOT),
        (THU.astimezone(rules.ZoneInfo("UTC")), MoveTargetRefusal.SAME_SLOT),
        (tokyo(2026, 12, 5, 10), RequestRefusal.CLOSED),  # Saturday
        (tokyo(2026, 12, 30, 10), RequestRefusal.CLOSED),  # year-end
        (tokyo(2026, 12, 4, 12), RequestRefusal.NOT_A_SLOT),  # lunch
        (tokyo(2026, 12, 4, 10, 15), RequestRefusal.NOT_A_SLOT),
        (tokyo(2026, 12, 1, 14), RequestRefusal.PAST_CUTOFF),  # today: closed yesterday
        (tokyo(2026, 12, 29, 10) + timedelta(days=7), RequestRefusal.BEYOND_HORIZON),
    ],
)
def test_where_a_booking_may_move(target: datetime, expected: object) -> None:
    assert (
        rules.move_target_refusal(current_start=THU, target_start=target, now=NOW, rules=OFFICE)
        == expected
    )


def test_a_closure_entered_by_staff_refuses_the_target() -> None:
    closed = OfficeRules(closures=frozenset({date(2026, 12, 4)}))
    assert (
        rules.move_target_refusal(current_start=THU, target_start=FRI, now=NOW, rules=closed)
        == RequestRefusal.CLOSED
    )


@given(
    start=st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2027, 3, 31)).map(
        lambda naive: naive.replace(second=0, microsecond=0, tzinfo=rules.TOKYO)
    ),
    now=st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2027, 3, 31)).map(
        lambda naive: naive.replace(tzinfo=rules.TOKYO)
    ),
)
@settings(max_examples=300, deadline=None)
def test_a_target_is_exactly_a_slot_one_could_request(start: datetime, now: datetime) -> None:
    """Over random moments: moving is allowed to a slot exactly when it could be requested."""
    current = tokyo(2026, 10, 1, 10)  # never a candidate target
    expected = rules.request_refusal(start, now, OFFICE)
    assert (
        rules.move_target_refusal(current_start=current, target_start=start, now=now, rules=OFFICE)
        == expected
    )


@given(
    status=st.sampled_from(list(Status)),
    moves_used=st.integers(min_value=0, max_value=12),
    max_moves=st.integers(min_value=0, max_value=10),
    day_offset=st.integers(min_value=0, max_value=40),
)
@settings(max_examples=300, deadline=None)
def test_a_move_is_offered_only_within_every_limit(
    status: Status, moves_used: int, max_moves: int, day_offset: int
) -> None:
    slot_start = THU + timedelta(days=day_offset)
    found = refusal(
        status=status, slot_start=slot_start, moves_used=moves_used, max_moves=max_moves
    )
    allowed = (
        status in rules.ACTIVE_STATUSES
        and max_moves > 0
        and moves_used < max_moves
        and rules.request_cutoff(slot_start, OFFICE) > NOW
    )
    assert (found is None) == allowed


@pytest.mark.parametrize(
    ("other_active", "max_active", "within"),
    [(0, 1, True), (1, 1, False), (1, 2, True), (2, 2, False), (0, 3, True)],
)
def test_the_moved_booking_counts_as_the_one_it_was(
    other_active: int, max_active: int, within: bool
) -> None:
    assert rules.within_limit_after_move(other_active=other_active, max_active=max_active) is within


@pytest.mark.parametrize(
    ("consented", "in_force", "needed"), [(3, 3, False), (2, 3, True), (None, 3, True)]
)
def test_the_consent_stands_while_the_terms_are_the_same(
    consented: int | None, in_force: int, needed: bool
) -> None:
    assert (
        rules.move_needs_consent(consented_terms_id=consented, terms_in_force_id=in_force) is needed
    )


def test_a_request_has_no_meeting() -> None:
    assert Status.REQUESTED in rules.NO_MEETING_STATUSES
    assert rules.WITHDRAWN_STATUSES < rules.NO_MEETING_STATUSES
    assert Status.CONFIRMED not in rules.NO_MEETING_STATUSES
