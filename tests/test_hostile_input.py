"""Unauthenticated requests an attacker can send: every one is a 4xx, one log line, no traceback.

Each case comes from the audit: NUL characters in the path, the query, a form or a cookie;
a username longer than the database column; a signed webhook body that nests too deep or
carries NUL; a url_validation without its token. Run on SQLite and on PostgreSQL (where
NUL in a string literal is an error of the driver, not of the query).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from reservations.models import Reservation

pytestmark = pytest.mark.django_db

SECRET = "webhook-secret-for-hostile-tests"
API_RANGE = "from=2026-12-01&to=2026-12-10"


@pytest.fixture(autouse=True)
def _site(office, terms, settings) -> None:
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = SECRET


def signed(client, body: str):  # noqa: ANN001, ANN201 - test client and response
    timestamp = str(int(timezone.now().timestamp()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return client.post(
        "/zoom/webhook/",
        data=body,
        content_type="application/json",
        headers={"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={digest.hexdigest()}"},
    )


def assert_refused_quietly(response, caplog, *, json_body: bool = False) -> None:  # noqa: ANN001
    assert 400 <= response.status_code < 500, response.status_code
    if json_body:
        assert response["Content-Type"].startswith("application/json")
        assert "error" in json.loads(response.content)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(loud) == 1, [r.getMessage() for r in loud]
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"


@pytest.mark.parametrize(
    ("method", "url", "json_body"),
    [
        ("get", "/r/%00/", False),
        ("get", "/r/x%00/calendar.ics", False),
        ("post", "/r/%00/cancel/", False),
        ("get", f"/api/slots/?{API_RANGE}&office=%00", True),
        ("get", "/slots/?week=%00", False),
        ("get", "/book/?slot=2026-12-24T10:00%00", False),
        ("get", "/?%00=1", False),
    ],
)
def test_a_nul_anywhere_in_the_url_is_a_bad_request(client, caplog, method, url, json_body):
    response = getattr(client, method)(url)
    assert_refused_quietly(response, caplog, json_body=json_body)


def test_a_nul_in_a_posted_form_is_a_bad_request(client, caplog):
    response = client.post("/book/", {"name": "山田\x00", "action": "review"})
    assert_refused_quietly(response, caplog)
    assert Reservation.objects.count() == 0


@pytest.mark.parametrize("url", ["/book/done/", "/admin/", "/"])
def test_a_nul_in_the_session_cookie_is_a_bad_request_that_drops_it(client, caplog, url):
    response = client.get(url, HTTP_COOKIE='sessionid="\\000abcdefghij"')
    assert_refused_quietly(response, caplog)
    # The browser is told to forget the broken cookie, so its next visit works.
    assert response.cookies["sessionid"].value == ""


def test_an_overlong_username_at_the_staff_login_is_refused(client, caplog):
    get_user_model().objects.create_user(
        "counselor1", password="a-long-password-2026", is_staff=True
    )
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "u" * 256, "password": "whatever"}
    )
    assert 200 <= response.status_code < 500
    assert all(r.exc_info is None for r in caplog.records), "a traceback was logged"
    assert "_auth_user_id" not in client.session


def test_a_signed_webhook_nested_too_deep_is_refused(client, caplog):
    assert_refused_quietly(signed(client, "[" * 100_000), caplog, json_body=True)


def test_a_signed_webhook_with_nul_in_a_string_is_refused(client, caplog):
    body = json.dumps(
        {"event": "meeting.participant_joined", "payload": {"object": {"id": "\u0000"}}}
    )
    assert "\\u0000" in body
    assert_refused_quietly(signed(client, body), caplog, json_body=True)


@pytest.mark.parametrize(
    "payload", [{}, {"plainToken": ""}, {"plainToken": 12}, {"plainToken": "x" * 1000}]
)
def test_a_url_validation_without_a_plain_token_is_refused(client, caplog, payload):
    body = json.dumps({"event": "endpoint.url_validation", "payload": payload})
    assert_refused_quietly(signed(client, body), caplog, json_body=True)


def test_a_url_validation_with_its_token_is_still_answered(client):
    body = json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": "abc-123"}})
    response = signed(client, body)
    assert response.status_code == 200
    expected = hmac.new(SECRET.encode(), b"abc-123", hashlib.sha256).hexdigest()
    assert response.json() == {"plainToken": "abc-123", "encryptedToken": expected}


# --- Request bodies (DATA_UPLOAD_*) and headers ---------------------------------------------


def test_a_form_body_beyond_the_limit_is_refused_before_it_is_parsed(client, caplog, settings):
    body = "name=" + "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = client.post("/book/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert_refused_quietly(response, caplog)
    assert Reservation.objects.count() == 0


def test_too_many_form_fields_are_refused(client, caplog, settings):
    fields = {f"f{n}": "x" for n in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1)}
    response = client.post("/book/", {**fields, "action": "review"})
    assert response.status_code == 413
    assert_refused_quietly(response, caplog)


def test_a_webhook_body_beyond_the_limit_is_refused_in_json(client, caplog, settings):
    body = json.dumps({"event": "x", "pad": "a" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    response = signed(client, body)
    assert response.status_code == 413
    assert_refused_quietly(response, caplog, json_body=True)


def test_the_limits_fit_our_forms(settings):
    # The request form has about 30 fields; a terms version is about 10 kB of text.
    assert 100 <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS <= 1000
    assert 64 * 1024 <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= 1024 * 1024


@pytest.mark.parametrize("url", ["/", "/book/", "/api/slots/?from=x&to=y", "/admin/login/"])
def test_every_response_switches_off_powerful_browser_features(client, url):
    policy = client.get(url)["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in policy
