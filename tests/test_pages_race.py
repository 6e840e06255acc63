"""Two people press 申し込む for the last place at the same moment, through the pages.

Each client runs in its own thread with its own database connection and they start together
at a barrier, so the two requests overlap in the service's locks. Only PostgreSQL has real
row locks and concurrent connections in the test suite; SQLite's in-memory test database is
one shared connection, so these tests are skipped there (the sequential "slot just taken"
page is covered on both databases in test_forms.py).
"""

from __future__ import annotations

import threading

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.test import Client

from reservations.models import Reservation
from tests.seeker_pages import NOW, answers, as_post, hidden_fields, review

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent requests need PostgreSQL"
    ),
]


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=True):
        yield


def confirmation_of(client: Client, data: dict) -> dict:
    """What a person's confirmation page will send when they press 申し込む."""
    html = review(client, data).content.decode()
    return as_post(hidden_fields(html), action="submit")


def race(posts: list[tuple[Client, dict]]) -> list:
    """Send every post at the same moment, each from its own thread and connection."""
    start = threading.Barrier(len(posts))
    results: list = [None] * len(posts)

    def send(index: int) -> None:
        client, data = posts[index]
        try:
            connection.ensure_connection()
            start.wait(timeout=30)
            results[index] = client.post("/book/", data)
        except Exception as exc:  # noqa: BLE001 - examined by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(posts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_two_people_race_for_the_last_place(office, terms):
    first, second = Client(), Client()
    posts = [
        (first, confirmation_of(first, answers(terms.pk))),
        (
            second,
            confirmation_of(
                second,
                answers(
                    terms.pk,
                    name="佐藤 花子",
                    seeker_number="10040-7654321",
                    email="hanako@example.jp",
                    email_confirm="hanako@example.jp",
                ),
            ),
        ),
    ]
    results = race(posts)
    assert not [r for r in results if isinstance(r, Exception)], results
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 302]
    winner = next(i for i, r in enumerate(results) if r.status_code == 302)
    loser = results[1 - winner]
    html = loser.content.decode()
    assert "この日時は、ほかの方の予約で埋まりました" in html
    assert 'name="slot" id="alt_1" value="2026-12-24T10:30"' in html  # the nearest one
    reservation = Reservation.objects.get()
    assert reservation.slot.starts_at.isoformat().startswith("2026-12-24T01:00")
    # The winner's browser shows the done page with the winner's booking.
    done = posts[winner][0].get("/book/done/").content.decode()
    assert reservation.reference in done


def test_the_same_confirmation_sent_twice_at_once_books_once(office, terms):
    client = Client()
    post = confirmation_of(client, answers(terms.pk))
    # Two tabs (or a double tap) with the same session and the same one-time token.
    results = race([(client, post), (client, post)])
    assert not [r for r in results if isinstance(r, Exception)], results
    assert [r.status_code for r in results] == [302, 302]
    assert {r["Location"] for r in results} == {"/book/done/"}
    assert Reservation.objects.count() == 1
