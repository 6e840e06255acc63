"""`manage.py staff_add … --role counselor --zoom-user … --duty …` (rule 4)."""

from __future__ import annotations

import io
from datetime import time, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from reservations import selectors
from reservations.models import Counselor, DutyWindow, Reservation
from reservations.rules import Status

pytestmark = pytest.mark.django_db


class NoStdin(io.StringIO):
    def isatty(self) -> bool:
        return True


def staff_add(monkeypatch, *args: str) -> str:  # noqa: ANN001
    monkeypatch.setattr("sys.stdin", NoStdin())
    out = io.StringIO()
    call_command("staff_add", *args, stdout=out)
    return out.getvalue()


def duty_of(username: str) -> set[tuple[int, time, time]]:
    return set(
        DutyWindow.objects.filter(counselor__user__username=username).values_list(
            "weekday", "start_time", "end_time"
        )
    )


def test_a_counselor_with_zoom_user_and_duty(monkeypatch, office) -> None:
    out = staff_add(
        monkeypatch,
        "sato",
        "--office",
        "isesaki",
        "--role",
        "counselor",
        "--display-name",
        "佐藤",
        "--zoom-user",
        "sato@example.jp",
        "--duty",
        "mon-fri 10:00-12:00,14:00-16:00",
    )
    counselor = Counselor.objects.get(user__username="sato")
    assert (counselor.display_name, counselor.zoom_user) == ("佐藤", "sato@example.jp")
    assert duty_of("sato") == {
        (d, s, e) for d in range(5) for s, e in ((time(10), time(12)), (time(14), time(16)))
    }
    assert "duty isesaki: 10 windows" in out


def test_duty_groups_windows_and_none(monkeypatch, office) -> None:
    args = ("sato", "--office", "isesaki", "--role", "counselor")
    staff_add(monkeypatch, *args, "--duty", "mon,wed 10:00-11:00; fri 14:00-16:00")
    assert duty_of("sato") == {
        (0, time(10), time(11)),
        (2, time(10), time(11)),
        (4, time(14), time(16)),
    }
    staff_add(monkeypatch, *args, "--duty", "windows")
    assert duty_of("sato") == set(office.windows.values_list("weekday", "start_time", "end_time"))
    staff_add(monkeypatch, *args, "--duty", "none")
    assert duty_of("sato") == set()
    # Re-running without --duty keeps the profile and its display name.
    assert Counselor.objects.get(user__username="sato").display_name == "sato"


@pytest.mark.parametrize(
    ("duty", "message"),
    [
        ("mon-fry 10:00-12:00", "unknown day"),
        ("fri-mon 10:00-12:00", "backwards"),
        ("mon 10-12", "HH:MM-HH:MM"),
        ("mon 25:00-26:00", "time of day"),
        ("mon", "DAYS HH:MM"),
        ("mon 12:00-10:00", "終了時刻"),
        ("mon 10:00-12:00,11:00-13:00", "重なって"),
    ],
)
def test_bad_duty_is_a_clear_error_and_saves_nothing(monkeypatch, office, duty, message) -> None:
    with pytest.raises(CommandError, match=message):
        staff_add(monkeypatch, "sato", "--office", "isesaki", "--role", "counselor", "--duty", duty)
    assert not Counselor.objects.exists()
    assert not DutyWindow.objects.exists()


def test_bad_zoom_user_and_wrong_role(monkeypatch, office) -> None:
    with pytest.raises(CommandError, match="zoom_user"):
        staff_add(
            monkeypatch,
            "sato",
            "--office",
            "isesaki",
            "--role",
            "counselor",
            "--zoom-user",
            "not an email",
        )
    with pytest.raises(CommandError, match="--role counselor"):
        staff_add(
            monkeypatch,
            "boss",
            "--office",
            "isesaki",
            "--role",
            "supervisor",
            "--duty",
            "windows",
        )


def test_the_demo_office_has_two_counselors_and_two_places(office, terms, settings) -> None:
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)
    counselors = list(Counselor.objects.filter(office=office).order_by("zoom_user"))
    assert [c.zoom_user for c in counselors] == ["counselor1@example.jp", "counselor2@example.jp"]
    now = timezone.now()
    open_slots = selectors.availability(
        office, now.date(), now.date() + timedelta(days=21), now, include_full=True
    )
    assert open_slots and all(a.slot.capacity == 2 for a in open_slots)
    confirmed = Reservation.objects.filter(office=office, status=Status.CONFIRMED)
    assert confirmed.exists() and not confirmed.filter(counselor__isnull=True).exists()
    # Run again: nothing changes, a rota edited since is kept.
    DutyWindow.objects.filter(counselor=counselors[0]).delete()
    call_command("seed_demo", verbosity=0)
    assert not DutyWindow.objects.filter(counselor=counselors[0]).exists()
