"""Staff sign-in's second factor (django-otp): enrolment with a QR code on the first login,
login with a code, a wrong code, recovery codes (each once), throttling of wrong codes, the
password throttle still on, and STAFF_MFA_REQUIRED on in production and off in the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from reservations import staff
from tests.admin_support import (  # noqa: F401 - fixtures
    PASSWORD,
    counselor_user,
    staff_groups,
)

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/reservations/reservation/today/"
TODAY = "/admin/reservations/reservation/today/"


@pytest.fixture(autouse=True)
def mfa_on(settings):
    settings.STAFF_MFA_REQUIRED = True


def code_of(device: TOTPDevice) -> str:
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = timezone.now().timestamp()
    return f"{totp.token():0{device.digits}d}"


def sign_in(client: Client, username: str = "sodan") -> None:
    response = client.post(LOGIN, {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]


def enrolled(user) -> tuple[TOTPDevice, list[str]]:  # noqa: ANN001
    device = staff.mfa_enrolment_device(user=user)
    device.confirmed = True
    device.save()
    return device, staff.mfa_recovery_codes_renew(user=user)


def test_first_login_enrols_with_a_qr_code_and_gives_recovery_codes(counselor_user):  # noqa: F811
    client = Client()
    sign_in(client)
    # The password alone opens no admin page: every one leads to the code page.
    for url in ("/admin/", TODAY, "/admin/reservations/reservation/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/mfa/?next=")
    page = client.get("/admin/mfa/?next=" + TODAY)
    html = page.content.decode()
    assert page.status_code == 200
    # The QR code is drawn here as SVG: the CSP allows no outside image and no inline script.
    assert '<div class="hw-qr"><svg' in html and "<img" not in html
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    device = TOTPDevice.objects.get(user=counselor_user, confirmed=False)
    assert page.context["secret"] in html  # for typing when the camera cannot read it
    wrong = client.post("/admin/mfa/", {"code": "000000", "next": TODAY})
    assert "コードが正しくありません。" in wrong.content.decode()
    assert not staff.mfa_enrolled(counselor_user)
    device.refresh_from_db()
    device.throttle_reset()
    done = client.post("/admin/mfa/", {"code": code_of(device), "next": TODAY})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == 10 and all(code in done.content.decode() for code in codes)
    assert staff.mfa_enrolled(counselor_user)
    assert client.get(TODAY).status_code == 200


def test_login_with_a_code_then_a_wrong_code_keeps_the_door_shut(counselor_user):  # noqa: F811
    device, _codes = enrolled(counselor_user)
    client = Client()
    sign_in(client)
    page = client.get("/admin/mfa/?next=" + TODAY)
    assert 'class="hw-qr"' not in page.content.decode()  # enrolled: no new QR code
    response = client.post("/admin/mfa/", {"code": "123456", "next": TODAY})
    assert response.status_code == 200
    assert "コードが正しくありません。" in response.content.decode()
    assert client.get(TODAY).status_code == 302
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        response = client.post("/admin/mfa/", {"code": code_of(device), "next": TODAY})
        assert response.status_code == 302 and response["Location"] == TODAY
        assert client.get(TODAY).status_code == 200


def test_a_recovery_code_works_once(counselor_user):  # noqa: F811
    _device, codes = enrolled(counselor_user)
    client = Client()
    sign_in(client)
    response = client.post("/admin/mfa/", {"code": codes[0], "next": TODAY})
    assert response.status_code == 302 and response["Location"] == TODAY
    assert not StaticToken.objects.filter(token=codes[0]).exists()
    assert StaticToken.objects.filter(device__user=counselor_user).count() == 9

    again = Client()
    sign_in(again)
    response = again.post("/admin/mfa/", {"code": codes[0], "next": TODAY})
    assert "コードが正しくありません。" in response.content.decode()
    assert again.get(TODAY).status_code == 302


def test_wrong_codes_are_throttled(counselor_user):  # noqa: F811
    device, _codes = enrolled(counselor_user)
    client = Client()
    sign_in(client)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        for _ in range(4):
            client.post("/admin/mfa/", {"code": "111111", "next": TODAY})
        # Even the right code is not checked now: each wrong one doubles the wait.
        response = client.post("/admin/mfa/", {"code": code_of(device), "next": TODAY})
        assert "少し待ってから" in response.content.decode()
        assert client.get(TODAY).status_code == 302
    with time_machine.travel(start + timedelta(seconds=2**4 + 1), tick=False):
        response = client.post("/admin/mfa/", {"code": code_of(device), "next": TODAY})
        assert response.status_code == 302 and response["Location"] == TODAY


def test_the_password_throttle_still_locks(counselor_user):  # noqa: F811
    client = Client()
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        client.post(LOGIN, {"username": "sodan", "password": "wrong-password"})
    response = client.post(LOGIN, {"username": "sodan", "password": PASSWORD})
    assert response.status_code == 429


def test_with_the_second_factor_off_the_password_is_enough(settings, counselor_user):  # noqa: F811
    settings.STAFF_MFA_REQUIRED = False
    client = Client()
    sign_in(client)
    assert client.get(TODAY).status_code == 200


@pytest.mark.parametrize(("debug", "expected"), [("0", "True"), ("1", "False")])
def test_production_requires_the_second_factor_and_development_does_not(debug, expected):
    env = {
        **os.environ,
        "DEBUG": debug,
        "SECRET_KEY": "x" * 50,
        "DJANGO_SETTINGS_MODULE": "hellowork.settings",
    }
    env.pop("STAFF_MFA_REQUIRED", None)
    script = "import django; django.setup(); from django.conf import settings as s; "
    script += "print(s.STAFF_MFA_REQUIRED)"
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=django_settings.BASE_DIR,
    )
    assert result.stdout.strip().splitlines()[-1] == expected


def test_the_demo_switches_it_off():
    makefile = (django_settings.BASE_DIR / "Makefile").read_text(encoding="utf-8")
    demo_env = next(line for line in makefile.splitlines() if line.startswith("DEMO_ENV"))
    assert "STAFF_MFA_REQUIRED=0" in demo_env
