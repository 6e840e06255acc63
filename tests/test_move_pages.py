"""The seeker's move (振替) through the test client: the private page offers it only when
allowed, the list of free sessions, the confirmation, success, and a kind page for every
refusal, with no server error on garbage, replays or another booking's token."""

from __future__ import annotations

from datetime import date

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client

from consent import services as consent_services
from consent.models import Consent, TermsVersion
from reservations import services
from reservations.models import CapacityOverride, EventKind, Reservation
from reservations.rules import Status
from tests.conftest import tokyo
from tests.seeker_pages import NOW, as_post, hidden_fields

pytestmark = pytest.mark.django_db

OLD = tokyo(2026, 12, 24, 10)
NEW = tokyo(2026, 12, 24, 14)
NEW_VALUE = "2026-12-24T14:00"


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def booking(office, terms, make_reservation) -> Reservation:
    return make_reservation(OLD, now=NOW, platform="teleoffice")


def get(client: Client, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.content.decode()


def confirm_page(client: Client, booking: Reservation, value: str = NEW_VALUE) -> str:
    html = get(client, f"/r/{booking.token}/move/confirm/?slot={value}")
    assert 'name="form_token"' in html, html
    return html


def send(client: Client, html: str, **extra: str):  # noqa: ANN201 - a response
    """Post the confirmation's form as a browser does."""
    action = html.split('<form method="post" action="', 1)[1].split('"', 1)[0]
    return client.post(action, as_post(hidden_fields(html), **extra))


def test_the_private_page_offers_the_move(client, booking) -> None:
    html = get(client, f"/r/{booking.token}/")
    assert f'href="/r/{booking.token}/move/"' in html
    assert "日時を変更する" in html


def test_the_list_is_day_by_day_buttons_without_the_current_slot(client, booking) -> None:
    html = get(client, f"/r/{booking.token}/move/")
    assert f'action="/r/{booking.token}/move/confirm/"' in html
    assert f'name="slot" value="{NEW_VALUE}"' in html
    assert 'value="2026-12-24T10:00"' not in html  # the booked slot
    assert "<select" not in html  # buttons, never a dropdown of the horizon
    assert "あと2回" in html


def test_a_request_moves_in_three_steps(client, booking) -> None:
    html = confirm_page(client, booking)
    assert "変更前" in html and "変更後" in html
    assert 'name="agree_terms"' not in html  # the consent stands
    response = send(client, html)
    assert response.status_code == 302 and response["Location"] == f"/r/{booking.token}/"
    booking.refresh_from_db()
    assert booking.slot.starts_at == NEW and booking.status == Status.REQUESTED
    after = get(client, f"/r/{booking.token}/")
    assert "日時を変更しました" in after
    assert Consent.objects.filter(reservation=booking).count() == 1


def test_a_confirmed_booking_is_told_it_goes_back_to_requested(client, booking, counselor) -> None:
    services.reservation_confirm(
        reservation=booking, actor=counselor, meeting_url="https://teleoffice.example/r/1", now=NOW
    )
    html = confirm_page(client, booking)
    assert "申込受付" in html
    send(client, html)
    booking.refresh_from_db()
    assert booking.status == Status.REQUESTED and booking.meeting_join_url == ""


def test_a_replay_moves_once(client, booking) -> None:
    html = confirm_page(client, booking)
    first = send(client, html)
    second = send(client, html)
    assert first.status_code == second.status_code == 302
    assert booking.events.filter(kind=EventKind.MOVED).count() == 1


def test_a_token_of_another_browser_or_booking_changes_nothing(
    client, booking, make_reservation
) -> None:
    other = make_reservation(tokyo(2026, 12, 25, 10), now=NOW, platform="teleoffice")
    html = confirm_page(client, booking)
    send(client, html)
    # The used token, sent again from another browser: a kind page, nothing changes.
    stranger = Client()
    response = stranger.post(f"/r/{booking.token}/move/confirm/", as_post(hidden_fields(html)))
    assert (
        response.status_code == 200 and 'data-refusal="already_sent"' in response.content.decode()
    )
    # …or posted to another booking's page: that booking stays where it is.
    response = client.post(f"/r/{other.token}/move/confirm/", as_post(hidden_fields(html)))
    assert response.status_code == 200
    other.refresh_from_db()
    assert other.slot.starts_at == tokyo(2026, 12, 25, 10)
    assert other.events.filter(kind=EventKind.MOVED).count() == 0


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "2026-12-24T14:00:00+09:00" + "0" * 80,
        "9999-12-31T10:00",
        "2026-12-24T12:00",  # lunch
        "2026-12-26T10:00",  # Saturday
        "2026-12-30T10:00",  # year-end
        "2026-12-21T14:00",  # past its cut-off
        "2027-02-01T10:00",  # beyond the horizon
        "2026-12-24T10:00",  # the booked slot itself
        "２０２６-12-24T14:00",
    ],
)
def test_bad_slot_values_get_a_kind_page(client, booking, value) -> None:
    html = get(client, f"/r/{booking.token}/move/confirm/?slot={value}")
    assert 'data-refusal="slot"' in html
    response = client.post(f"/r/{booking.token}/move/confirm/", {"slot": value, "form_token": "x"})
    assert response.status_code == 200
    assert 'data-refusal="slot"' in response.content.decode()
    booking.refresh_from_db()
    assert booking.slot.starts_at == OLD


def test_a_nul_byte_is_the_site_s_kind_400(client, booking) -> None:
    response = client.get(f"/r/{booking.token}/move/confirm/?slot=%00")
    assert response.status_code == 400
    booking.refresh_from_db()
    assert booking.slot.starts_at == OLD


def test_a_forged_or_missing_token_asks_to_confirm_again(client, booking) -> None:
    response = client.post(
        f"/r/{booking.token}/move/confirm/", {"slot": NEW_VALUE, "form_token": "forged"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "まだ変更していません" in html
    booking.refresh_from_db()
    assert booking.slot.starts_at == OLD


def test_a_full_slot_offers_the_nearest_free_ones(client, booking, make_reservation) -> None:
    html = confirm_page(client, booking)
    make_reservation(NEW, now=NOW)  # someone else is faster
    response = send(client, html)
    page = response.content.decode()
    assert response.status_code == 200 and 'data-refusal="slot_taken"' in page
    assert 'name="slot" value="2026-12-24T14:30"' in page
    booking.refresh_from_db()
    assert booking.slot.starts_at == OLD


def test_a_full_slot_chosen_from_a_stale_list(client, booking, make_reservation) -> None:
    make_reservation(NEW, now=NOW)
    html = get(client, f"/r/{booking.token}/move/confirm/?slot={NEW_VALUE}")
    assert 'data-refusal="slot_taken"' in html


@pytest.mark.parametrize(
    ("setup", "kind", "words"),
    [
        ("used", "moves_used", "変更できる回数"),
        ("disabled", "moves_disabled", "このページから日時を変更できません"),
        ("cutoff", "move_past_cutoff", "申込締切"),
        ("not_online", "not_online", "オンラインでの日時の変更"),
    ],
)
def test_every_state_that_refuses_a_move(client, booking, office, setup, kind, words) -> None:
    if setup == "used":
        office.max_seeker_moves = 1
        office.save()
        send(client, confirm_page(client, booking))
    elif setup == "disabled":
        office.max_seeker_moves = 0
        office.save()
    elif setup == "not_online":
        office.accepting_bookings = False
        office.save()
    with time_machine.travel(tokyo(2026, 12, 23, 17) if setup == "cutoff" else NOW, tick=False):
        private = get(client, f"/r/{booking.token}/")
        assert f'href="/r/{booking.token}/move/"' not in private
        assert words in private
        for url in (f"/r/{booking.token}/move/", f"/r/{booking.token}/move/confirm/?slot=x"):
            html = get(client, url)
            assert f'data-refusal="{kind}"' in html
        response = client.post(f"/r/{booking.token}/move/confirm/", {"slot": NEW_VALUE})
        assert f'data-refusal="{kind}"' in response.content.decode()


@pytest.mark.parametrize("status", [Status.CANCELLED, Status.ATTENDED, Status.EXPIRED])
def test_a_finished_booking_offers_no_move(client, booking, status) -> None:
    Reservation.objects.filter(pk=booking.pk).update(status=status)
    private = get(client, f"/r/{booking.token}/")
    assert "/move/" not in private and "日時を変えたいとき" not in private
    assert 'data-refusal="not_active"' in get(client, f"/r/{booking.token}/move/")


def test_unknown_tokens_are_the_friendly_404(client, office, terms) -> None:
    for url in ("/r/unknown/move/", "/r/unknown/move/confirm/?slot=x"):
        assert client.get(url).status_code == 404
    assert client.post("/r/unknown/move/confirm/", {"slot": NEW_VALUE}).status_code == 404


def test_a_restricted_person_gets_the_kind_page(client, booking, office, counselor) -> None:
    html = confirm_page(client, booking)
    services.restriction_create(
        office=office, reason="連絡のない不参加", actor=counselor, email=booking.email, now=NOW
    )
    response = send(client, html)
    assert 'data-refusal="restricted"' in response.content.decode()


def test_the_page_is_in_the_bookings_language(client, office, terms, make_reservation) -> None:
    booking = make_reservation(OLD, now=NOW, platform="teleoffice", language="en")
    html = get(client, f"/r/{booking.token}/move/")
    assert '<html lang="en"' in html


def test_the_rate_limit_answers_429(client, booking, settings) -> None:
    settings.REQUEST_RATE_LIMIT_PER_SEEKER = 1
    CapacityOverride.objects.create(
        office=booking.office, date=date(2026, 12, 24), start_time=NEW.time(), capacity=1
    )
    send(client, confirm_page(client, booking))
    back = confirm_page(client, booking, "2026-12-24T10:00")
    response = send(client, back)
    assert response.status_code == 429
    booking.refresh_from_db()
    assert booking.slot.starts_at == NEW


@pytest.fixture
def new_terms(office, terms) -> TermsVersion:
    """A new version published now, in force from tomorrow (Tuesday 12/22)."""
    draft = TermsVersion.objects.create(
        office=office,
        version="2026-12-22",
        title=terms.title,
        body=terms.body.replace("1回当たり30分", "1回当たり45分"),
        issued_label="令和8年12月21日",
        issuer=terms.issuer,
        effective_date=date(2026, 12, 22),
    )
    return consent_services.terms_publish(terms_version=draft, actor=None, now=NOW)


def test_new_terms_are_agreed_to_on_the_confirmation(client, booking, new_terms) -> None:
    with time_machine.travel(tokyo(2026, 12, 22, 9), tick=False):
        cache.clear()
        html = confirm_page(client, booking)
        assert 'name="agree_terms"' in html and "利用規約が改定されました" in html
        refused = send(client, html)  # not ticked
        assert refused.status_code == 200
        page = refused.content.decode()
        assert "同意が必要です" in page
        booking.refresh_from_db()
        assert booking.slot.starts_at == OLD
        response = send(client, page, agree_terms="on")
        assert response.status_code == 302, response.content.decode()[:2000]
    booking.refresh_from_db()
    assert booking.slot.starts_at == NEW
    latest = Consent.objects.filter(reservation=booking).order_by("-given_at", "-id").first()
    assert latest.terms_version == new_terms
