"""`POST /zoom/webhook/`: signatures, stale timestamps, url_validation, attendance, duplicates."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from reservations import services
from reservations.models import ActorKind, Reservation
from reservations.rules import Status
from reservations.webhooks import signature_valid

pytestmark = pytest.mark.django_db

SECRET = "webhook-secret-for-tests"
URL = "/zoom/webhook/"


@pytest.fixture
def webhook_secret(settings) -> str:
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = SECRET
    return SECRET


@pytest.fixture
def meeting_booking(fake_zoom, database_tasks, make_reservation, next_slot, counselor):
    reservation = make_reservation(next_slot())
    services.reservation_confirm(reservation=reservation, actor=counselor)
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_id
    return reservation


def post(client, message: dict, *, at: datetime, secret: str = SECRET, signature: str = ""):
    body = json.dumps(message)
    timestamp = str(int(at.timestamp()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={
            "x-zm-request-timestamp": timestamp,
            "x-zm-signature": signature or f"v0={digest.hexdigest()}",
        },
    )


def joined(reservation: Reservation, *, at: datetime, participant_id: str = "") -> dict:
    return {
        "event": "meeting.participant_joined",
        "event_ts": int(at.timestamp() * 1000),
        "payload": {
            "account_id": "fake-account",
            "object": {
                "id": reservation.meeting_id,
                "uuid": "uuid==",
                "host_id": "host-user-id",
                "topic": "…",
                "participant": {
                    "user_id": "16778240",
                    "user_name": "参加者",
                    "id": participant_id,
                    "join_time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                },
            },
        },
    }


def test_url_validation_is_answered_as_zoom_specifies(client, webhook_secret):
    now = timezone.now()
    response = post(
        client,
        {"event": "endpoint.url_validation", "payload": {"plainToken": "qgg8vlvZRS6UYooatFL8Aw"}},
        at=now,
    )
    assert response.status_code == 200
    expected = hmac.new(SECRET.encode(), b"qgg8vlvZRS6UYooatFL8Aw", hashlib.sha256).hexdigest()
    assert response.json() == {
        "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
        "encryptedToken": expected,
    }


def test_the_seeker_joining_marks_the_booking_attended_once(
    client, webhook_secret, meeting_booking
):
    at = meeting_booking.slot.starts_at + timedelta(minutes=2)
    with time_machine.travel(at, tick=True):
        first = post(client, joined(meeting_booking, at=at), at=at)
        again = post(client, joined(meeting_booking, at=at), at=at)  # Zoom retries
    assert first.status_code == 200
    assert first.json() == {"status": "attended"}
    assert again.status_code == 200
    assert again.json() == {"status": "unchanged"}
    meeting_booking.refresh_from_db()
    assert meeting_booking.status == Status.ATTENDED
    attended = meeting_booking.events.filter(to_status=Status.ATTENDED)
    assert attended.count() == 1
    event = attended.get()
    assert event.details == {"source": "zoom"}
    assert event.actor_kind == ActorKind.SYSTEM
    assert event.at == at.replace(microsecond=0)


def test_the_host_joining_is_not_attendance(client, webhook_secret, meeting_booking):
    at = meeting_booking.slot.starts_at - timedelta(minutes=5)
    with time_machine.travel(at, tick=True):
        response = post(
            client, joined(meeting_booking, at=at, participant_id="host-user-id"), at=at
        )
    assert response.json() == {"status": "host"}
    meeting_booking.refresh_from_db()
    assert meeting_booking.status == Status.CONFIRMED


def test_joining_outside_the_session_changes_nothing(client, webhook_secret, meeting_booking):
    at = meeting_booking.slot.starts_at - timedelta(hours=2)
    with time_machine.travel(at, tick=True):
        response = post(client, joined(meeting_booking, at=at), at=at)
    assert response.json() == {"status": "outside the session"}
    meeting_booking.refresh_from_db()
    assert meeting_booking.status == Status.CONFIRMED


def test_a_bad_signature_is_refused(client, webhook_secret, meeting_booking):
    at = meeting_booking.slot.starts_at + timedelta(minutes=2)
    with time_machine.travel(at, tick=True):
        wrong_key = post(client, joined(meeting_booking, at=at), at=at, secret="not-the-secret")
        garbage = post(client, joined(meeting_booking, at=at), at=at, signature="v0=00")
    assert wrong_key.status_code == 401
    assert garbage.status_code == 401
    meeting_booking.refresh_from_db()
    assert meeting_booking.status == Status.CONFIRMED


def test_a_stale_timestamp_is_refused_even_when_signed(client, webhook_secret, meeting_booking):
    at = meeting_booking.slot.starts_at + timedelta(minutes=2)
    with time_machine.travel(at + timedelta(minutes=6), tick=True):
        response = post(client, joined(meeting_booking, at=at), at=at)  # a replay
    assert response.status_code == 401
    meeting_booking.refresh_from_db()
    assert meeting_booking.status == Status.CONFIRMED


def test_unknown_meetings_and_other_events_are_acknowledged(client, webhook_secret):
    now = timezone.now()
    message = {
        "event": "meeting.participant_joined",
        "payload": {"object": {"id": "999", "participant": {}}},
    }
    assert post(client, message, at=now).json() == {"status": "unknown meeting"}
    assert post(client, {"event": "meeting.started"}, at=now).json() == {"status": "ignored"}


def test_malformed_requests(client, webhook_secret, settings):
    now = timezone.now()
    response = client.post(
        URL,
        data="not json",
        content_type="application/json",
        headers={
            "x-zm-request-timestamp": str(int(now.timestamp())),
            "x-zm-signature": "v0="
            + hmac.new(
                SECRET.encode(), f"v0:{int(now.timestamp())}:not json".encode(), hashlib.sha256
            ).hexdigest(),
        },
    )
    assert response.status_code == 400
    assert client.get(URL).status_code == 405
    assert client.post(URL, data="{}", content_type="application/json").status_code == 401
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = ""
    assert post(client, {"event": "x"}, at=now).status_code == 503


@pytest.mark.parametrize(
    "timestamp",
    [
        "²",  # str.isdigit() says yes, int() says no
        "Â²",  # the same bytes as a WSGI server hands them over (latin-1)
        "１７９８７６１６００",  # full-width digits: int() reads them, Zoom never sends them
        "9" * 30,  # beyond what a datetime holds
        "99999999999",  # a datetime, in the year 5138
        "-1",
        " 1798761600",
        "",
    ],
)
def test_a_timestamp_that_is_not_plain_seconds_is_refused_not_an_error(
    client, webhook_secret, timestamp
):
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "t"}})
    # Signed with the secret, so that only the timestamp can be what is refused.
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    response = client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={digest.hexdigest()}"},
    )
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}


def test_signature_valid_accepts_only_ascii_seconds_near_now():
    now = datetime(2027, 1, 12, 1, 0, tzinfo=UTC)
    body = b'{"event": "x"}'

    def valid(timestamp: str) -> bool:
        message = f"v0:{timestamp}:{body.decode()}".encode()
        signature = "v0=" + hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
        return signature_valid(
            secret=SECRET, timestamp=timestamp, body=body, signature=signature, now=now
        )

    seconds = int(now.timestamp())
    assert valid(str(seconds))
    assert valid(str(seconds - 299))
    for timestamp in ("²", "１", "9" * 13, "9" * 30, str(seconds - 301)):
        assert not valid(timestamp)
