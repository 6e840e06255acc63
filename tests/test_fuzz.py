"""A seeded fuzz of every public endpoint: no response is a 5xx, no invalid request writes.

A few thousand generated requests (NULs, huge values, odd Unicode, bad cookies, signed and
unsigned webhooks) against `/`, `/slots/`, `/book/` (GET, review, submit), `/book/done/`,
`/r/<token>/` and its `.ics` and cancel, `/terms/…`, `/api/slots/`, `/zoom/webhook/`,
`/admin/login/` and the language switch. Seeded, so a failure can be replayed exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random

import pytest
import time_machine
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from consent.models import Consent
from reservations.models import OutgoingEmail, Reservation
from tests.seeker_pages import NOW, answers

pytestmark = pytest.mark.django_db

SEED = 20261202
REQUESTS = 2500
SECRET = "fuzz-webhook-secret"

NASTY = [
    "",
    "\x00",
    "a\x00b",
    "%00",
    "\u200b",
    "\u202e",
    "\ufdfa" * 50,
    "\u2474" * 20,
    "𠮷" * 30,
    "\ud7ff",
    "<script>alert(1)</script>",
    "' OR '1'='1",
    "../../etc/passwd",
    "x" * 5000,
    "9" * 400,
    "-1",
    "2026-02-30",
    "2026-12-24T10:00",
    "2026-12-24T10:00+09:00",
    "9999-12-31",
    "NaN",
    "null",
    "{}",
    "[" * 200,
    "\r\nSet-Cookie: x=1",
    "ｱｲｳ",
    "🙂" * 10,
]


def _value(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.6:
        return rng.choice(NASTY)
    if pick < 0.8:
        return "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 40)))
    return "".join(rng.choice("abc0123-_%.") for _ in range(rng.randint(0, 20)))


def _signed(client: Client, body: str):  # noqa: ANN202
    timestamp = str(int(timezone.now().timestamp()))
    digest = hmac.new(SECRET.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return client.post(
        "/zoom/webhook/",
        data=body,
        content_type="application/json",
        headers={"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={digest.hexdigest()}"},
    )


def _request(client: Client, rng: random.Random, terms_pk: int, token: str):  # noqa: ANN202
    v = lambda: _value(rng)  # noqa: E731
    kind = rng.randrange(14)
    if kind == 0:
        return client.get(rng.choice(["/", "/slots/", "/terms/", "/privacy/"]), {v(): v()})
    if kind == 1:
        return client.get("/slots/", {"week": v()})
    if kind == 2:
        return client.get("/book/", {"slot": v()})
    if kind in (3, 4):
        data = answers(terms_pk)
        for field in rng.sample(sorted(data), rng.randint(1, 4)):
            data[field] = v()
        data["action"] = rng.choice(["review", "submit", "edit", v()])
        if rng.random() < 0.3:
            data["form_token"] = v()
        return client.post("/book/", data)
    if kind == 5:
        return client.get("/book/done/")
    if kind == 6:
        target = rng.choice([v(), token[:-1] + "x", token + v()])
        suffix = rng.choice(["", "calendar.ics", "cancel/"])
        path = f"/r/{target}/{suffix}".replace("?", "%3F").replace("#", "%23")
        return client.generic(rng.choice(["GET", "POST"]), path)
    if kind == 7:
        return client.get(f"/terms/{v()}/".replace("?", "%3F").replace("#", "%23"))
    if kind == 8:
        return client.get("/api/slots/", {"from": v(), "to": v(), "office": v()})
    if kind == 9:
        body = rng.choice(
            [
                v(),
                json.dumps({"event": "endpoint.url_validation", "payload": {"plainToken": v()}}),
                json.dumps(
                    {
                        "event": "meeting.participant_joined",
                        "payload": {"object": {"id": v(), "participant": {"join_time": v()}}},
                    }
                ),
                json.dumps({"event": v(), "payload": v()}),
            ]
        )
        return _signed(client, body)
    if kind == 10:
        return client.post(
            "/zoom/webhook/",
            data=v(),
            content_type="application/json",
            headers={"x-zm-request-timestamp": v(), "x-zm-signature": v()},
        )
    if kind == 11:
        return client.post(
            "/admin/login/?next=" + rng.choice(["/admin/", "//evil", v()]).replace("#", ""),
            {"username": v(), "password": v()},
        )
    if kind == 12:
        return client.post("/i18n/setlang/", {"language": v(), "next": v()})
    # Bad cookies on any page.
    cookie = rng.choice(["sessionid", "csrftoken", "django_language", v()])
    return client.get(rng.choice(["/", "/book/done/", "/admin/"]), HTTP_COOKIE=f'{cookie}="{v()}"')


def test_fuzz_every_public_endpoint(settings, terms, make_reservation):
    settings.ZOOM_WEBHOOK_SECRET_TOKEN = SECRET
    settings.REQUEST_RATE_LIMIT_PER_IP = 10_000
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        existing = make_reservation(NOW.replace(day=24, hour=10), now=NOW)
        counts = (
            Reservation.objects.count(),
            Consent.objects.count(),
            OutgoingEmail.objects.count(),
        )
        rng = random.Random(SEED)
        clients = [Client(raise_request_exception=False) for _ in range(5)]
        errors = []
        for n in range(REQUESTS):
            try:
                response = _request(rng.choice(clients), rng, terms.pk, existing.token)
            except (ValueError, UnicodeError) as exc:  # the test client refused to build it
                errors.append(f"client: {type(exc).__name__}")
                continue
            if response.status_code >= 500:
                errors.append(f"#{n}: {response.status_code} {response.request['PATH_INFO']!r}")
        server_errors = [e for e in errors if not e.startswith("client:")]
        after = (
            Reservation.objects.count(),
            Consent.objects.count(),
            OutgoingEmail.objects.count(),
        )
    print(
        f"fuzz: {REQUESTS} requests, {len(server_errors)} responses >= 500, "
        f"rows {counts} -> {after}"
    )
    assert server_errors == []
    assert after == counts  # no invalid request created a booking, a consent or an email
