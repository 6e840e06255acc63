"""Management commands: the cron sweep and the demo data."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from consent.models import Consent
from reservations import services
from reservations.models import Closure, Reservation, ReservationEvent
from reservations.rules import Status
from tests.conftest import tokyo

pytestmark = pytest.mark.django_db

NOW = tokyo(2026, 12, 1, 9)


def run(*args: str, **options: object) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


# --- sweep_reservations -------------------------------------------------------------------


def test_sweep_command_counts_and_is_idempotent(make_reservation, counselor) -> None:
    slot = tokyo(2026, 12, 3, 10)
    missed = make_reservation(slot, now=NOW)
    services.reservation_confirm(reservation=missed, actor=counselor, now=NOW)
    unconfirmed = make_reservation(tokyo(2026, 12, 3, 11), now=NOW)

    with time_machine.travel(slot + timedelta(minutes=9), tick=False):
        out, _ = run("sweep_reservations")
    assert "期限切れ: 1件" in out and "連絡なし不参加: 0件" in out

    with time_machine.travel(slot + timedelta(minutes=10), tick=False):
        out, _ = run("sweep_reservations")
        assert "期限切れ: 0件" in out and "連絡なし不参加: 1件" in out
        events = ReservationEvent.objects.count()
        out, _ = run("sweep_reservations")
        assert "期限切れ: 0件" in out and "連絡なし不参加: 0件" in out
        assert ReservationEvent.objects.count() == events
    statuses = dict(Reservation.objects.values_list("pk", "status"))
    assert statuses == {missed.pk: Status.NO_SHOW, unconfirmed.pk: Status.EXPIRED}


def test_sweep_command_is_quiet_for_cron(office) -> None:
    out, err = run("sweep_reservations", verbosity=0)
    assert out == "" and err == ""


# --- seed_demo ----------------------------------------------------------------------------

LOGIN = re.compile(r"(相談員|管理者)\s+ユーザー名: (\S+)\s+パスワード: (\S+)")


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


def demo_bookings() -> list[tuple[str, str]]:
    return sorted(
        Reservation.objects.filter(email__endswith="@demo.example.jp").values_list(
            "email", "status"
        )
    )


def test_seed_demo_makes_every_status_and_logins(office, terms, debug) -> None:
    with time_machine.travel(NOW, tick=False):
        out, err = run("seed_demo")
    assert err == ""
    statuses = {status for _email, status in demo_bookings()}
    assert statuses == set(Status.values)
    # Past bookings lie in the past, current ones in the coming days.
    for r in Reservation.objects.select_related("slot"):
        if r.status in (Status.ATTENDED, Status.NO_SHOW, Status.EXPIRED):
            assert r.slot.starts_at < NOW
        else:
            assert NOW < r.slot.starts_at < NOW + timedelta(days=22)
        # Made through the services: a history and a consent record each.
        assert r.events.filter(to_status=Status.REQUESTED).exists()
        assert r.consents.count() == 1
    assert Consent.objects.count() == len(demo_bookings())
    assert Closure.objects.filter(office=office, date__gt=NOW.date()).exists()

    logins = {role: (username, password) for role, username, password in LOGIN.findall(out)}
    assert set(logins) == {"相談員", "管理者"}
    users = get_user_model().objects
    for role, (username, password) in logins.items():
        user = users.get(username=username)
        assert user.is_staff and user.is_active and not user.is_superuser
        assert user.check_password(password)
        assert user.groups.filter(name=role).exists()
    for reservation in Reservation.objects.all():
        assert reservation.reference in out
        assert f"/r/{reservation.token}/" in out


def test_seed_demo_twice_changes_nothing(office, terms, debug) -> None:
    with time_machine.travel(NOW, tick=False):
        first_out, _ = run("seed_demo")
        before = (
            demo_bookings(),
            ReservationEvent.objects.count(),
            Consent.objects.count(),
            Closure.objects.count(),
            get_user_model().objects.count(),
        )
        second_out, _ = run("seed_demo")
    after = (
        demo_bookings(),
        ReservationEvent.objects.count(),
        Consent.objects.count(),
        Closure.objects.count(),
        get_user_model().objects.count(),
    )
    assert after == before
    assert LOGIN.findall(first_out) == LOGIN.findall(second_out)  # same passwords


def test_seed_demo_weeks_later_adds_fresh_future_bookings(office, terms, debug) -> None:
    with time_machine.travel(NOW, tick=False):
        run("seed_demo")
    later = NOW + timedelta(days=35)
    with time_machine.travel(later, tick=False):
        run("seed_demo")
        services.reservations_sweep(now=later)
    upcoming = Reservation.objects.filter(
        email__endswith="@demo.example.jp", slot__starts_at__gt=later
    )
    assert {r.status for r in upcoming} == {
        Status.REQUESTED,
        Status.CONFIRMED,
        Status.CANCELLED,
        Status.REJECTED,
    }
    # The past ones are not made again.
    assert Reservation.objects.filter(status=Status.ATTENDED).count() == 1


def test_seed_demo_without_staff_groups_still_makes_logins(office, terms, debug) -> None:
    Group.objects.filter(name__in=["相談員", "管理者"]).delete()
    with time_machine.travel(NOW, tick=False):
        out, err = run("seed_demo")
    assert "相談員" in err and "管理者" in err
    assert get_user_model().objects.filter(is_staff=True).count() == 2
    assert len(LOGIN.findall(out)) == 2


def test_seed_demo_refuses_without_debug(office, settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        run("seed_demo")
    assert not get_user_model().objects.exists()
    assert not Reservation.objects.exists()
