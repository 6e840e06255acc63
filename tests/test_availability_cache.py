"""Availability in the shared cache: every change that can alter it makes the next read fresh,
and a cached read costs no query for the availability itself."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from reservations import selectors, services
from reservations.models import CapacityOverride, Closure, Office, Reservation
from reservations.rules import TOKYO, Status
from tests.admin_support import counselor_user, staff_groups, supervisor_user
from tests.conftest import tokyo
from tests.test_admin import current_windows, login, office_form

__all__ = ["counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db

NOW = tokyo(2026, 12, 21, 10)  # Monday
SLOT = tokyo(2026, 12, 24, 10)  # Thursday 10:00, requestable
OTHER = tokyo(2026, 12, 24, 14)
SWEEP_TIME = tokyo(2026, 12, 24, 0, 5)  # the 24th's unconfirmed requests have expired


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def remaining(office, start, now=NOW) -> int | None:
    """Places left in the slot as a seeker's page reads them (None: not requestable)."""
    available = selectors.booking_horizon(office, now).availability.get(start)
    return None if available is None else available.remaining


def test_a_cached_read_runs_no_availability_query(office, django_assert_num_queries):
    with django_assert_num_queries(2):  # the office's rules, the held places
        first = selectors.booking_horizon(office, NOW)
    with django_assert_num_queries(0):
        again = selectors.booking_horizon(office, NOW)
    assert again == first
    # Another moment of the same period (before 17:00) reads the same entry.
    with django_assert_num_queries(0):
        selectors.booking_horizon(office, NOW + timedelta(hours=6, minutes=59))
    # 17:00 closes the 22nd's requests: a new period, worked out afresh.
    with django_assert_num_queries(2):
        later = selectors.booking_horizon(office, tokyo(2026, 12, 21, 17))
    assert tokyo(2026, 12, 22, 10) in first.availability
    assert tokyo(2026, 12, 22, 10) not in later.availability


def test_the_cached_pages_and_api_run_fewer_queries(
    client, office, terms, django_assert_num_queries
):
    one_day = {"from": "2026-12-24", "to": "2026-12-24"}
    with django_assert_num_queries(3):  # office, its rules, held places
        cold = client.get("/api/slots/", one_day).json()
    with django_assert_num_queries(0):
        assert client.get("/api/slots/", one_day).json() == cold
    # A page also needs the office's terms (read with the office for the pages); the
    # availability is kept.
    with django_assert_num_queries(2):  # office, terms in force and announced
        assert client.get("/slots/").status_code == 200
    with django_assert_num_queries(0):
        assert client.get("/book/?slot=2026-12-24T10:00").status_code == 200


def test_a_booking_and_every_change_of_it_make_the_next_read_fresh(
    office, make_reservation, counselor_user
):
    office.windows.update(capacity=2)
    assert remaining(office, SLOT) == 2
    first = make_reservation(SLOT, now=NOW)
    assert remaining(office, SLOT) == 1
    second = make_reservation(SLOT, now=NOW)
    assert remaining(office, SLOT) == 0
    services.reservation_cancel(reservation=first, by="seeker", now=NOW)
    assert remaining(office, SLOT) == 1
    services.reservation_reject(reservation=second, actor=counselor_user, reason="都合", now=NOW)
    assert remaining(office, SLOT) == 2

    moved = make_reservation(SLOT, now=NOW)
    assert (remaining(office, SLOT), remaining(office, OTHER)) == (1, 2)
    services.reservation_move(reservation=moved, new_start=OTHER, actor=counselor_user, now=NOW)
    assert (remaining(office, SLOT), remaining(office, OTHER)) == (2, 1)

    # Confirming changes no count, but the version moves all the same.
    version = selectors.availability_version(office.pk)
    services.reservation_confirm(reservation=moved, actor=counselor_user, now=NOW)
    assert selectors.availability_version(office.pk) != version


def test_expiry_and_no_show_make_the_next_read_fresh(office, make_reservation, counselor_user):
    requested = make_reservation(OTHER, now=NOW)
    confirmed = make_reservation(SLOT, now=NOW)
    services.reservation_confirm(reservation=confirmed, actor=counselor_user, now=NOW)
    for moment, _status in (
        (SWEEP_TIME, Status.EXPIRED),
        (SLOT + timedelta(minutes=11), Status.NO_SHOW),
    ):
        version = selectors.availability_version(office.pk)
        services.reservations_sweep(now=moment)
        assert selectors.availability_version(office.pk) != version
    assert Reservation.objects.get(pk=requested.pk).status == Status.EXPIRED
    assert Reservation.objects.get(pk=confirmed.pk).status == Status.NO_SHOW


def test_closures_and_capacity_overrides_make_the_next_read_fresh(office):
    day = SLOT.astimezone(TOKYO).date()
    assert remaining(office, SLOT) == 1
    services.closure_save(closure=Closure(office=office, date=day, reason="研修"))
    assert remaining(office, SLOT) is None
    services.closure_delete(closures=Closure.objects.filter(office=office, date=day))
    assert remaining(office, SLOT) == 1
    services.capacity_override_save(
        override=CapacityOverride(office=office, date=day, start_time=time(10), capacity=3)
    )
    assert remaining(office, SLOT) == 3
    services.capacity_override_delete(overrides=CapacityOverride.objects.filter(office=office))
    assert remaining(office, SLOT) == 1


def test_closures_and_overrides_deleted_in_the_admin_make_the_next_read_fresh(
    client, office, supervisor_user
):
    login(client, supervisor_user)
    day = date(2026, 12, 24)
    closure = Closure.objects.create(office=office, date=day, reason="研修")
    assert remaining(office, SLOT) is None
    response = client.post(f"/admin/reservations/closure/{closure.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert remaining(office, SLOT) == 1
    override = CapacityOverride.objects.create(
        office=office, date=day, start_time=time(10), capacity=0
    )
    cache.clear()  # made outside the services: only a fresh cache knows of it
    assert remaining(office, SLOT) is None
    response = client.post(
        "/admin/reservations/capacityoverride/",
        {"action": "delete_selected", "_selected_action": [override.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert remaining(office, SLOT) == 1


def test_office_settings_saved_in_the_admin_make_the_next_read_fresh(
    client, office, supervisor_user
):
    login(client, supervisor_user)
    assert remaining(office, SLOT) == 1
    windows = [(w, s, e, 2) for w, s, e, _capacity in current_windows(office)]
    response = client.post(
        f"/admin/reservations/office/{office.pk}/change/", office_form(office, windows)
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    office.refresh_from_db()
    assert remaining(office, SLOT) == 2
    # The horizon is part of the office row and of the key.
    response = client.post(
        f"/admin/reservations/office/{office.pk}/change/",
        office_form(office, windows, horizon_days=2),
    )
    assert response.status_code == 302
    office.refresh_from_db()
    assert remaining(office, SLOT) is None


def test_the_version_moves_only_once_the_change_commits(
    office, make_reservation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_reservation(SLOT, now=NOW)
    # Replaced once within the transaction and once more after its commit, so that a read
    # between the two cannot keep what the transaction was about to change.
    version = selectors.availability_version(office.pk)
    assert len(callbacks) >= 1
    for callback in callbacks:
        callback()
    assert selectors.availability_version(office.pk) != version


# --- The pages and the API: their kept parts ------------------------------------------

FIRST = tokyo(2026, 12, 22, 10)  # Tuesday 10:00: the first session home offers
FIRST_VALUE = "2026-12-22T10:00"
WEEK = "/slots/?week=2026-12-21"


def offered(client, prefix: str = "") -> tuple[bool, bool, int | None]:  # noqa: ANN001
    """Whether the week page and home offer FIRST, and the places the API says are left."""
    week = client.get(f"{prefix}{WEEK}").content.decode()
    home = client.get(f"{prefix}/").content.decode()
    office = prefix.removeprefix("/o/")
    query = {"from": "2026-12-22", "to": "2026-12-22", **({"office": office} if office else {})}
    places = {s["start"]: s["remaining"] for s in client.get("/api/slots/", query).json()["slots"]}
    link = f'/book/?slot={FIRST_VALUE}"'
    return link in week, link in home, places.get(FIRST.isoformat())


def rendered(response) -> set[str]:  # noqa: ANN001
    return {template.name for template in response.templates}


def without_csrf(response) -> str:  # noqa: ANN001
    """The page without its CSRF token, which is masked afresh on every response."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def test_a_kept_page_renders_only_its_frame(client, office, terms):
    for url, part in ((WEEK, "reservations/_week.html"), ("/", "reservations/_home.html")):
        first = client.get(url)
        assert part in rendered(first)
        again = client.get(url)
        assert part not in rendered(again)
        assert without_csrf(again) == without_csrf(first)


def test_the_pages_and_the_api_are_fresh_after_every_change(
    client, office, terms, make_reservation, counselor_user
):
    day = FIRST.astimezone(TOKYO).date()
    assert offered(client) == (True, True, 1)
    booking = make_reservation(FIRST, now=NOW)
    assert offered(client) == (False, False, None)
    services.reservation_cancel(reservation=booking, by="seeker", now=NOW)
    assert offered(client) == (True, True, 1)

    services.closure_save(closure=Closure(office=office, date=day, reason="研修"))
    assert offered(client) == (False, False, None)
    assert "休業日のため、お休みです" in client.get(WEEK).content.decode()
    services.closure_delete(closures=Closure.objects.filter(office=office, date=day))
    assert offered(client) == (True, True, 1)

    services.capacity_override_save(
        override=CapacityOverride(office=office, date=day, start_time=time(10), capacity=0)
    )
    assert offered(client) == (False, False, None)
    services.capacity_override_delete(overrides=CapacityOverride.objects.filter(office=office))
    assert offered(client) == (True, True, 1)
    services.capacity_override_save(
        override=CapacityOverride(office=office, date=day, start_time=time(10), capacity=3)
    )
    assert offered(client) == (True, True, 3)


def test_a_change_of_the_office_row_shows_at_once(client, office, terms):
    assert "0270-99-9999" not in client.get(WEEK).content.decode()
    client.get("/")
    Office.objects.filter(pk=office.pk).update(phone="0270-99-9999", name="ハローワーク新伊勢崎")
    week = client.get(WEEK).content.decode()
    home = client.get("/").content.decode()
    assert "お電話（0270-99-9999）" in week
    assert "ハローワーク新伊勢崎の職業相談" in home


def test_the_kept_parts_differ_per_language(office, terms):
    japanese = Client(HTTP_ACCEPT_LANGUAGE="ja")
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    for _round in range(2):  # kept after the first round: each language keeps its own
        week_ja = japanese.get(WEEK).content.decode()
        week_en = english.get(WEEK).content.decode()
        assert ">予約する<" in week_ja and ">Book<" not in week_ja
        assert ">Book<" in week_en and ">予約する<" not in week_en
        home_ja = japanese.get("/").content.decode()
        home_en = english.get("/").content.decode()
        assert "予約できる日時" in home_ja and "予約できる日時" not in home_en


def test_the_kept_parts_differ_per_office(office, terms, maebashi, make_reservation):
    client = Client()
    isesaki, maebashi = "/o/isesaki", "/o/maebashi"
    assert offered(client, isesaki) == offered(client, maebashi) == (True, True, 1)
    make_reservation(FIRST, now=NOW)  # at Isesaki
    assert offered(client, isesaki) == (False, False, None)
    assert offered(client, maebashi) == (True, True, 1)
    week = client.get(f"{maebashi}{WEEK}").content.decode()
    assert f'href="/o/maebashi/book/?slot={FIRST_VALUE}"' in week
    assert "お電話（027-290-2111）" in week and office.phone not in week
    assert "ハローワーク前橋の職業相談" in client.get(f"{maebashi}/").content.decode()
