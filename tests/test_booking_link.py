"""A second request while a booking is active: the page tells nothing, the owner gets the link.

求職番号 and email are not secrets, so the refusal page must look the same whether or not the
typed email is the one on file, and the private link only ever goes to the address on file,
at most once an hour per booking.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.db import connection
from django.test import Client

from reservations import mail as seeker_mail
from reservations import outbox, rules, services
from reservations.models import EmailKind, EmailStatus, OutgoingEmail, Reservation
from tests.seeker_pages import NOW, OPEN_SLOT_2, answers, submit

pytestmark = pytest.mark.django_db

OTHER_EMAIL = {"email": "someone@example.jp", "email_confirm": "someone@example.jp"}


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def data(terms) -> dict:
    return answers(terms.pk)


@pytest.fixture
def existing(data, django_capture_on_commit_callbacks) -> Reservation:
    with django_capture_on_commit_callbacks(execute=True):
        submit(Client(), data)
    mail.outbox.clear()
    return Reservation.objects.get()


def link_emails(reservation: Reservation) -> list[OutgoingEmail]:
    return list(OutgoingEmail.objects.filter(reservation=reservation, kind=EmailKind.BOOKING_LINK))


def refused(data: dict, callbacks, **overrides: str) -> str:  # noqa: ANN001
    """A second request from a fresh browser; the refusal page, once its commit has run."""
    with callbacks(execute=True):
        response = submit(Client(), {**data, "slot": OPEN_SLOT_2, **overrides})
    assert response.status_code == 200
    return response.content.decode()


def without_per_request_values(html: str) -> str:
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    return re.sub(r'nonce="[^"]*"', "", html)


def test_the_page_is_the_same_whether_or_not_the_email_matched(
    data, existing, django_capture_on_commit_callbacks
):
    matching = refused(data, django_capture_on_commit_callbacks)
    other = refused(data, django_capture_on_commit_callbacks, **OTHER_EMAIL)
    assert without_per_request_values(matching) == without_per_request_values(other)
    for html in (matching, other):
        assert existing.token not in html
        assert existing.reference not in html
        assert "/r/" not in html
        assert "12月24日" not in html  # nor the date of the existing booking
        assert "すでに有効な予約があります" in html
        assert "登録したメールアドレスにお送りしています" in html
        assert f'href="tel:{existing.office.phone}"' in html
    # Only the matching attempt sent anything, and only to the address on file.
    [email] = link_emails(existing)
    assert email.status == EmailStatus.SENT
    assert [m.to for m in mail.outbox] == [["taro@example.jp"]]
    assert Reservation.objects.count() == 1


def test_the_matching_email_gets_the_link_once_an_hour(
    data, existing, django_capture_on_commit_callbacks, _fixed_clock
):
    # Case and spaces do not make a different address.
    refused(
        data,
        django_capture_on_commit_callbacks,
        email="Taro@Example.JP",
        email_confirm="Taro@Example.JP",
    )
    [message] = mail.outbox
    assert message.to == ["taro@example.jp"]
    assert f"http://testserver/r/{existing.token}/" in message.body
    assert existing.reference in message.subject
    assert len(link_emails(existing)) == 1

    # Within the hour: the same page, no second email.
    _fixed_clock.move_to(NOW + timedelta(minutes=59))
    cache.clear()  # the request rate limit is not what is being tested here
    refused(data, django_capture_on_commit_callbacks)
    assert len(link_emails(existing)) == 1
    assert len(mail.outbox) == 1

    # After an hour the owner may ask again.
    _fixed_clock.move_to(NOW + timedelta(hours=1))
    cache.clear()
    refused(data, django_capture_on_commit_callbacks)
    assert len(link_emails(existing)) == 2
    assert len(mail.outbox) == 2


def test_another_email_sends_nothing(data, existing, django_capture_on_commit_callbacks):
    refused(data, django_capture_on_commit_callbacks, **OTHER_EMAIL)
    assert link_emails(existing) == []
    assert mail.outbox == []


def test_the_service_sends_nothing_for_a_booking_that_is_over_or_started(
    existing, django_capture_on_commit_callbacks
):
    started = existing.slot.starts_at
    assert not services.reservation_link_resend(
        reservation=existing, email=existing.email, now=started
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_cancel(reservation=existing, by="seeker", now=NOW)
    assert not services.reservation_link_resend(reservation=existing, email=existing.email, now=NOW)
    assert link_emails(existing) == []


def test_a_queued_link_is_skipped_once_the_booking_is_cancelled(
    database_tasks, existing, django_capture_on_commit_callbacks
):
    assert services.reservation_link_resend(reservation=existing, email=existing.email, now=NOW)
    services.reservation_cancel(reservation=existing, by="seeker", now=NOW)
    database_tasks()  # the worker was down until now
    [email] = link_emails(existing)
    assert email.status == EmailStatus.SKIPPED


@pytest.mark.parametrize(
    ("typed", "last_sent_minutes_ago", "allowed"),
    [
        ("taro@example.jp", None, True),
        (" TARO@example.jp ", None, True),
        ("other@example.jp", None, False),
        ("taro@example.jp", 59, False),
        ("taro@example.jp", 60, True),
    ],
)
def test_the_resend_rule(typed: str, last_sent_minutes_ago: int | None, allowed: bool):
    last = None if last_sent_minutes_ago is None else NOW - timedelta(minutes=last_sent_minutes_ago)
    assert (
        rules.booking_link_resend_allowed(
            email_on_file="taro@example.jp", email_typed=typed, last_sent_at=last, now=NOW
        )
        is allowed
    )
    assert not rules.booking_link_resend_allowed(
        email_on_file="", email_typed="", last_sent_at=None, now=NOW
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", ["予約の確認・キャンセル用のリンク", "いまの予約をキャンセルしてから"]),
        ("en", ["The link to see or cancel your booking", "cancel your current booking first"]),
    ],
)
def test_the_link_email_in_both_languages(language, expected, make_reservation, next_slot, office):
    reservation = make_reservation(next_slot(0), language=language, name="Maria Silva")
    outbox.email_enqueue(reservation=reservation, kind=EmailKind.BOOKING_LINK)
    email = OutgoingEmail.objects.get(reservation=reservation, kind=EmailKind.BOOKING_LINK)
    message = seeker_mail.render_email(email)
    [(html, _mimetype)] = message.alternatives
    link = f"http://testserver/r/{reservation.token}/"
    assert link in message.body
    assert f'href="{link}"' in html
    assert message.to == [reservation.email]
    assert office.phone in message.body
    assert f'<html lang="{language}"' in html
    assert expected[0] in message.subject
    for words in expected[1:]:
        assert words in message.body


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks are only real there")
def test_refused_requests_at_once_send_the_link_only_once(make_reservation, next_slot):
    from tests.test_concurrency import race

    reservation = make_reservation(next_slot(0), now=NOW)
    results, _elapsed = race(
        lambda _i: services.reservation_link_resend(
            reservation=reservation, email=reservation.email, now=NOW
        ),
        threads=10,
    )
    assert sorted(results) == [False] * 9 + [True]
    assert len(link_emails(reservation)) == 1
