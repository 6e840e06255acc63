"""GET /api/slots/: exactly the slots a seeker could request right now."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
import time_machine
from django.core.cache import cache

from reservations import services
from reservations.models import CapacityOverride, Closure
from reservations.rules import Status
from tests.conftest import tokyo

pytestmark = pytest.mark.django_db

URL = "/api/slots/"
NOW = tokyo(2026, 12, 1, 9)  # Tuesday
# Office, its rules (windows, closures, overrides in one), booked counts: whatever the range.
API_QUERIES = 3
# Once the office and its availability are in the shared cache: none.
API_QUERIES_CACHED = 0


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def get_slots(client, **params: str) -> dict:
    response = client.get(URL, params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def days_of(body: dict) -> set[str]:
    return {s["start"][:10] for s in body["slots"]}


def test_shape(client, office, at_now) -> None:
    body = get_slots(client, **{"from": "2026-12-03", "to": "2026-12-03"})
    assert body["office"] == "isesaki"
    assert body["slots"][0] == {
        "start": "2026-12-03T10:00:00+09:00",
        "end": "2026-12-03T10:30:00+09:00",
        "remaining": 1,
    }
    assert [s["start"][11:16] for s in body["slots"]] == [
        "10:00",
        "10:30",
        "11:00",
        "11:30",
        "14:00",
        "14:30",
        "15:00",
        "15:30",
    ]
    assert all(s["end"].endswith("+09:00") for s in body["slots"])
    assert set(body) == {"office", "slots"}


def test_never_cached(client, office, at_now) -> None:
    response = client.get(URL, {"from": "2026-12-03", "to": "2026-12-03"})
    assert "no-store" in response["Cache-Control"]


def test_office_by_slug(client, office, at_now) -> None:
    body = get_slots(client, **{"from": "2026-12-03", "to": "2026-12-03", "office": "isesaki"})
    assert body["office"] == "isesaki" and len(body["slots"]) == 8


def test_closed_days_absent(client, office, at_now) -> None:
    Closure.objects.create(office=office, date=date(2026, 12, 10), reason="研修")
    body = get_slots(client, **{"from": "2026-12-02", "to": "2026-12-29"})
    days = days_of(body)
    assert "2026-12-05" not in days and "2026-12-06" not in days  # weekend
    assert "2026-12-10" not in days  # staff closure
    assert "2026-12-29" not in days  # year-end closure
    assert {"2026-12-09", "2026-12-11", "2026-12-28"} <= days
    # Every offered day is a weekday.
    assert all(date.fromisoformat(d).weekday() < 5 for d in days)


def test_holidays_absent(client, office) -> None:
    with time_machine.travel(tokyo(2026, 9, 1, 9), tick=False):
        body = get_slots(client, **{"from": "2026-09-18", "to": "2026-09-25"})
    # 9/21 敬老の日, 9/22 国民の休日, 9/23 秋分の日.
    assert days_of(body) == {"2026-09-18", "2026-09-24", "2026-09-25"}
    with time_machine.travel(tokyo(2026, 4, 20, 9), tick=False):
        body = get_slots(client, **{"from": "2026-05-01", "to": "2026-05-08"})
    assert days_of(body) == {"2026-05-01", "2026-05-07", "2026-05-08"}  # 5/6 振替休日


def test_full_slots_absent_and_remaining_counts_down(
    client, office, make_reservation, counselor, at_now
) -> None:
    CapacityOverride.objects.create(
        office=office, date=date(2026, 12, 3), start_time=time(14), capacity=2
    )
    make_reservation(tokyo(2026, 12, 3, 10), now=NOW)
    confirmed = make_reservation(tokyo(2026, 12, 3, 14), now=NOW)
    confirmed = services.reservation_confirm(reservation=confirmed, actor=counselor, now=NOW)
    cancelled = make_reservation(tokyo(2026, 12, 3, 15), now=NOW)
    services.reservation_cancel(reservation=cancelled, by="seeker", now=NOW)
    body = get_slots(client, **{"from": "2026-12-03", "to": "2026-12-03"})
    remaining = {s["start"][11:16]: s["remaining"] for s in body["slots"]}
    assert "10:00" not in remaining  # requested holds the only place
    assert remaining["14:00"] == 1  # confirmed holds one of two
    assert remaining["15:00"] == 1  # a cancellation frees the place
    assert confirmed.status == Status.CONFIRMED


def test_zero_capacity_override_absent(client, office, at_now) -> None:
    CapacityOverride.objects.create(
        office=office, date=date(2026, 12, 3), start_time=time(10, 30), capacity=0
    )
    body = get_slots(client, **{"from": "2026-12-03", "to": "2026-12-03"})
    assert "2026-12-03T10:30:00+09:00" not in {s["start"] for s in body["slots"]}
    assert len(body["slots"]) == 7


def test_past_cutoff_absent(client, office) -> None:
    # Thursday's requests close on Wednesday at 17:00.
    params = {"from": "2026-12-02", "to": "2026-12-04"}
    with time_machine.travel(tokyo(2026, 12, 2, 16, 59), tick=False):
        assert days_of(get_slots(client, **params)) == {"2026-12-03", "2026-12-04"}
    with time_machine.travel(tokyo(2026, 12, 2, 17), tick=False):
        assert days_of(get_slots(client, **params)) == {"2026-12-04"}


def test_monday_closes_on_friday_evening(client, office) -> None:
    params = {"from": "2026-12-07", "to": "2026-12-07"}
    with time_machine.travel(tokyo(2026, 12, 4, 16, 59), tick=False):
        assert len(get_slots(client, **params)["slots"]) == 8
    with time_machine.travel(tokyo(2026, 12, 5, 10), tick=False):  # Saturday
        assert get_slots(client, **params)["slots"] == []


def test_beyond_horizon_absent(client, office, at_now) -> None:
    body = get_slots(client, **{"from": "2026-12-01", "to": "2026-12-31"})
    days = sorted(days_of(body))
    assert days[0] == "2026-12-02"  # today is never offered
    assert days[-1] == "2026-12-28"  # horizon 12/29 falls in the year-end closure
    office.horizon_days = 7
    office.save()
    assert max(days_of(get_slots(client, **{"from": "2026-12-01", "to": "2026-12-31"}))) == (
        "2026-12-08"
    )


@pytest.mark.parametrize(
    "params",
    [
        {"from": "0001-01-01", "to": "0001-02-01"},
        {"from": "9999-12-01", "to": "9999-12-31"},
        {"from": "2020-01-01", "to": "2020-01-31"},
    ],
)
def test_far_away_ranges_are_empty_not_errors(client, office, at_now, params) -> None:
    assert get_slots(client, **params)["slots"] == []


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2026-12-03"},
        {"to": "2026-12-03"},
        {"from": "", "to": ""},
        {"from": "2026-12-3", "to": "2026-12-04"},
        {"from": "20261203", "to": "20261204"},
        {"from": "2026-W49-4", "to": "2026-12-04"},
        {"from": "2026-12-03T00:00", "to": "2026-12-04"},
        {"from": "2026-13-01", "to": "2026-12-04"},
        {"from": "2027-02-30", "to": "2027-03-01"},
        {"from": "２０２６-１２-０３", "to": "2026-12-04"},
        {"from": "2026-12-03\n", "to": "2026-12-04"},
        {"from": "abc", "to": "2026-12-04"},
        {"from": "2026-12-03", "to": "x" * 10_000},
        {"from": "2026-12-05", "to": "2026-12-04"},  # reversed
        {"from": "2026-12-01", "to": "2027-02-01"},  # 63 days
        {"from": "2026-12-03", "to": "2026-12-04", "office": "nowhere"},
    ],
)
def test_bad_input_is_a_400_with_a_json_error(client, office, at_now, params) -> None:
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"].strip()


def test_range_cap_is_62_days_inclusive(client, office, at_now) -> None:
    assert client.get(URL, {"from": "2026-12-01", "to": "2027-01-31"}).status_code == 200
    assert client.get(URL, {"from": "2026-12-01", "to": "2027-02-01"}).status_code == 400


def test_only_get(client, office) -> None:
    assert client.post(URL, {"from": "2026-12-03", "to": "2026-12-03"}).status_code == 405


def test_query_count_does_not_grow_with_the_range(
    client, office, make_reservation, django_assert_num_queries
) -> None:
    office.horizon_days = 90
    office.save()
    Closure.objects.create(office=office, date=date(2027, 1, 15), reason="研修")
    CapacityOverride.objects.create(
        office=office, date=date(2027, 1, 20), start_time=time(10), capacity=3
    )
    for offset in range(0, 60, 3):
        day = date(2026, 12, 2) + timedelta(days=offset)
        if day.weekday() < 5 and not (date(2026, 12, 29) <= day <= date(2027, 1, 3)):
            make_reservation(tokyo(day.year, day.month, day.day, 10), now=NOW)
    with time_machine.travel(NOW, tick=False):
        with django_assert_num_queries(API_QUERIES):
            one_day = get_slots(client, **{"from": "2026-12-03", "to": "2026-12-03"})
        with django_assert_num_queries(API_QUERIES_CACHED):
            sixty_days = get_slots(client, **{"from": "2026-12-02", "to": "2027-01-30"})
        cache.clear()
        with django_assert_num_queries(API_QUERIES):
            assert get_slots(client, **{"from": "2026-12-02", "to": "2027-01-30"}) == sixty_days
    assert len(one_day["slots"]) >= 7
    assert len(sixty_days["slots"]) > 250
