"""rule 15: personal data of finished bookings is erased after the retention period."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from consent.models import Consent
from reservations import services
from reservations.models import ActorKind, Reservation, ReservationEvent
from reservations.rules import Status
from tests.conftest import tokyo

pytestmark = pytest.mark.django_db

REQUESTED_AT = tokyo(2026, 12, 1, 9)
SESSION = tokyo(2026, 12, 3, 10)


@pytest.fixture
def finished(make_reservation, counselor) -> Reservation:
    r = make_reservation(SESSION, now=REQUESTED_AT, phone="090-1234-5678", topic="転職の相談")
    services.reservation_cancel(
        reservation=r, by=ActorKind.STAFF, actor=counselor, reason="本人より電話", now=REQUESTED_AT
    )
    return r


def test_finished_booking_is_anonymized_after_the_retention_period(finished) -> None:
    now = SESSION + timedelta(days=31)
    result = services.reservations_purge_personal_data(retention_days=30, now=now)
    assert (result.reservations, result.consents) == (1, 1)
    r = Reservation.objects.get(pk=finished.pk)
    assert (r.name, r.seeker_number, r.email, r.phone, r.topic) == ("", "", "", "", "")
    assert r.anonymized_at == now
    # Statistics survive: the slot, the outcome and the platform are kept.
    assert (r.status, r.platform, r.slot.starts_at) == (Status.CANCELLED, "zoom", SESSION)
    consent = Consent.objects.get(reservation=r)
    assert (consent.email, consent.seeker_number, consent.ip_address) == ("", "", None)
    assert consent.terms_hash  # what was agreed stays provable
    assert not ReservationEvent.objects.filter(reservation=r).exclude(reason="").exists()
    # The private link no longer opens anything.
    assert services.selectors.reservation_by_token(r.token) is None


def test_purge_is_idempotent_and_keeps_recent_and_active_bookings(
    finished, make_reservation
) -> None:
    active = make_reservation(tokyo(2027, 1, 14, 10), now=tokyo(2027, 1, 5, 9))
    now = SESSION + timedelta(days=29)
    assert services.reservations_purge_personal_data(retention_days=30, now=now).reservations == 0
    now = SESSION + timedelta(days=31)
    assert services.reservations_purge_personal_data(retention_days=30, now=now).reservations == 1
    assert services.reservations_purge_personal_data(retention_days=30, now=now).reservations == 0
    active.refresh_from_db()
    assert active.name and active.anonymized_at is None


def test_purge_command_prints_counts(finished, capsys, time_machine) -> None:
    time_machine.move_to(SESSION + timedelta(days=400))
    call_command("purge_personal_data", "--days", "365")
    assert "1件" in capsys.readouterr().out
    finished.refresh_from_db()
    assert finished.anonymized_at is not None


def test_purge_refuses_a_zero_retention_period() -> None:
    with pytest.raises(ValueError):
        services.reservations_purge_personal_data(retention_days=0)


def test_purge_forgets_the_persons_lock_rows(finished) -> None:
    from reservations.models import SeekerLock

    assert SeekerLock.objects.count() == 2  # the email and the 求職番号
    services.reservations_purge_personal_data(retention_days=30, now=SESSION + timedelta(days=31))
    assert SeekerLock.objects.count() == 0
