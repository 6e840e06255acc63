"""540 offices (every Hello Work in Japan): the 予約 list and 本日の相談 cost the same number of
queries as with two, for a counselor of one office and for a national administrator.
Timings are in `bench/bench_admin_scale.py`, not here."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reservations import services
from reservations.models import Office
from tests.admin_support import counselor_user, staff_groups  # noqa: F401 - fixtures
from tests.test_office_isolation import book_at, copy_office

__all__ = ["counselor_user", "staff_groups"]  # fixtures in use
pytestmark = pytest.mark.django_db

ALL_OFFICES = 540


def queries(client: Client, url: str) -> int:
    client.get(url)  # the session and permission caches settle on the first visit
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured.captured_queries)


def pages(start) -> list[str]:  # noqa: ANN001
    return [
        "/admin/reservations/reservation/?day=all",
        f"/admin/reservations/reservation/today/?date={start.date()}",
    ]


def test_540_offices_cost_no_more_queries_than_two(
    counselor_user, office, terms, next_slot, django_user_model
):  # noqa: F811
    start = next_slot(0)
    second = copy_office(office, name="ハローワーク太田", slug="ota")
    for n, target in enumerate((office, office, second)):
        booking = book_at(
            target,
            next_slot(n),
            name=f"予約者{n}",
            email=f"p{n}@example.jp",
            number=f"10040-{4000000 + n}",
        )
        services.reservation_confirm(reservation=booking, actor=counselor_user)
    root = django_user_model.objects.create_superuser("root", password="x" * 20)
    clients = {}
    for name, user in (("counselor", counselor_user), ("superuser", root)):
        clients[name] = Client()
        clients[name].force_login(user)
    two = {(who, url): queries(c, url) for who, c in clients.items() for url in pages(start)}

    Office.objects.bulk_create(
        Office(name=f"ハローワーク{n:03d}", slug=f"office-{n:03d}", phone="0")
        for n in range(ALL_OFFICES - 2)
    )
    for n in range(3):  # bookings in some of them too
        other = copy_office(office, name=f"ハローワーク予約{n}", slug=f"booked-{n}")
        book_at(
            other, start, name="他所の人", email=f"o{n}@example.jp", number=f"10040-{5000000 + n}"
        )
    assert Office.objects.count() == ALL_OFFICES + 3
    many = {(who, url): queries(c, url) for who, c in clients.items() for url in pages(start)}
    assert many == two
