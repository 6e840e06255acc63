"""Staff login throttle: one client address everywhere; no stranger can lock a counselor out,
and guesses spread over many addresses (or names) are slowed down all the same."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.admin_support import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PROXY = "10.0.0.1"  # our own reverse proxy: every request arrives from it
COUNSELOR_IP = "198.51.100.7"
ATTACKER_IP = "203.0.113.66"


@pytest.fixture
def counselor1(django_user_model):
    return django_user_model.objects.create_user("counselor1", password=PASSWORD, is_staff=True)


def attempt(client: Client, password: str, *, name: str = "counselor1", **meta: str):  # noqa: ANN201
    return client.post(LOGIN, {"username": name, "password": password}, **meta)


def test_a_forged_forwarded_for_locks_only_the_forger(settings, counselor1):
    settings.TRUSTED_PROXY_COUNT = 1
    stranger = Client()
    for _ in range(5):
        # The stranger writes the counselor's address; our proxy appends the real one.
        attempt(
            stranger,
            "wrong-password",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"{COUNSELOR_IP}, {ATTACKER_IP}",
        )
    assert (
        attempt(stranger, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=ATTACKER_IP).status_code
        == 429
    )

    counselor = Client()
    response = attempt(counselor, PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=COUNSELOR_IP)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_guesses_spread_over_many_addresses_are_slowed_down(settings, counselor1):
    # The counselor signed in from their desk before the attack.
    assert attempt(Client(), PASSWORD, REMOTE_ADDR=COUNSELOR_IP).status_code == 302
    refused = 0
    for n in range(10):
        for _ in range(4):
            response = attempt(Client(), "guess", REMOTE_ADDR=f"192.0.2.{n + 1}")
            refused += response.status_code == 429
    assert refused >= 40 - settings.LOGIN_USERNAME_FREE_FAILURES - 1
    # Even the right password from yet another address must wait, and is told so.
    response = attempt(Client(), PASSWORD, REMOTE_ADDR="192.0.2.99")
    html = response.content.decode()
    assert response.status_code == 429
    assert "ログインの失敗が続いているため" in html and "分ほど待って" in html
    # The counselor at their usual address is not kept waiting by the stranger.
    assert attempt(Client(), PASSWORD, REMOTE_ADDR=COUNSELOR_IP).status_code == 302


def test_one_address_trying_many_names_is_slowed_down(settings, counselor1):
    client = Client()
    for n in range(settings.LOGIN_ADDRESS_FREE_FAILURES):
        assert attempt(client, "guess", name=f"user{n}", REMOTE_ADDR=ATTACKER_IP).status_code == 200
    assert attempt(client, "guess", name="another", REMOTE_ADDR=ATTACKER_IP).status_code == 429
    # Other addresses are not affected.
    assert attempt(Client(), PASSWORD, REMOTE_ADDR=COUNSELOR_IP).status_code == 302


def test_waiting_is_not_counted_against_the_real_user(settings, counselor1):
    for n in range(settings.LOGIN_USERNAME_FREE_FAILURES):
        attempt(Client(), "guess", REMOTE_ADDR=f"192.0.2.{n + 1}")
    # A new address (the counselor at home) is asked to wait; trying again while waiting
    # does not lock their own address for the hour.
    home = Client()
    for _ in range(8):
        assert attempt(home, PASSWORD, REMOTE_ADDR="192.0.2.200").status_code == 429
    from axes.models import AccessAttempt

    assert not AccessAttempt.objects.filter(ip_address="192.0.2.200").exists()
