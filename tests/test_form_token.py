"""The confirmation's one-time token and the done page never lead anyone to another's booking.

The token is bound to the browser session and to the answers it confirmed: a copy sent from
another browser, or with other answers, gets a plain "already sent" page. The done page
shows the private link only for a few minutes after booking (a shared PC).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from reservations import views
from reservations.models import Reservation
from tests.seeker_pages import NOW, answers, as_post, hidden_fields, review

pytestmark = pytest.mark.django_db

OTHER = {
    "name": "佐藤 花子",
    "seeker_number": "10040-7654321",
    "email": "hanako@example.jp",
    "email_confirm": "hanako@example.jp",
}


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def confirmed_post(client: Client, data: dict) -> dict:
    html = review(client, data).content.decode()
    return as_post(hidden_fields(html), action="submit")


def assert_reveals_nothing(html: str, reservation: Reservation) -> None:
    assert reservation.reference not in html
    assert reservation.token not in html
    assert "/r/" not in html
    assert "山田" not in html and "taro@example.jp" not in html


@pytest.mark.parametrize("answers_changed", [True, False])
def test_a_used_token_replayed_from_another_browser_reveals_nothing(terms, answers_changed):
    victim, attacker = Client(), Client()
    post = confirmed_post(victim, answers(terms.pk))
    assert victim.post("/book/", post).status_code == 302
    booking = Reservation.objects.get()

    replay = {**post, **{k: [v] for k, v in OTHER.items()}} if answers_changed else post
    response = attacker.post("/book/", replay)
    html = response.content.decode()
    assert response.status_code == 200
    assert "この申込みは送信済みです" in html
    assert_reveals_nothing(html, booking)
    # Nor does the attacker's session now open the victim's done page.
    assert_reveals_nothing(attacker.get("/book/done/").content.decode(), booking)
    assert Reservation.objects.count() == 1


def test_a_used_token_sent_again_with_other_answers_in_the_same_browser(terms):
    client = Client()
    post = confirmed_post(client, answers(terms.pk))
    assert client.post("/book/", post).status_code == 302
    booking = Reservation.objects.get()
    response = client.post("/book/", {**post, **{k: [v] for k, v in OTHER.items()}})
    assert "この申込みは送信済みです" in response.content.decode()
    assert Reservation.objects.count() == 1
    assert booking.reference not in response.content.decode()


def test_an_unused_token_with_changed_answers_asks_to_confirm_them_again(terms):
    client = Client()
    post = confirmed_post(client, answers(terms.pk))
    response = client.post("/book/", {**post, **{k: [v] for k, v in OTHER.items()}})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="form_token"' in html and "佐藤 花子" in html  # the confirmation, afresh
    assert Reservation.objects.count() == 0


def test_the_done_page_shows_the_private_link_only_for_a_few_minutes(terms, _fixed_clock):
    client = Client()
    assert client.post("/book/", confirmed_post(client, answers(terms.pk))).status_code == 302
    booking = Reservation.objects.get()
    first = client.get("/book/done/").content.decode()
    assert booking.reference in first and f"/r/{booking.token}/" in first
    assert booking.reference in client.get("/book/done/").content.decode()  # a reload

    _fixed_clock.shift(timedelta(seconds=views.DONE_PAGE_SECONDS + 1))
    later = client.get("/book/done/")
    html = later.content.decode()
    assert later.status_code == 200
    assert "予約の確認・キャンセル用のリンクは、受付のメールでお知らせしています" in html
    assert_reveals_nothing(html, booking)
    assert "no-store" in later["Cache-Control"]
    # And it is gone from the session for good.
    assert views.DONE_SESSION_KEY not in client.session
    assert client.get("/book/done/").status_code == 302
