import pytest

from reservations import services
from reservations.rules import Status
from tests.conftest import tokyo


@pytest.mark.django_db
def test_request_confirm_attend(make_reservation, counselor):
    now = tokyo(2026, 12, 1, 9)
    r = make_reservation(tokyo(2026, 12, 3, 10), now=now)
    assert r.status == Status.REQUESTED
    assert r.consents.count() == 1
    services.reservation_confirm(reservation=r, actor=counselor, now=now)
    r.refresh_from_db()
    assert r.status == Status.CONFIRMED
    services.reservation_mark_attended(
        reservation=r, actor=counselor, now=tokyo(2026, 12, 3, 10, 1)
    )
    r.refresh_from_db()
    assert r.status == Status.ATTENDED
    assert [e.to_status for e in r.events.all()] == ["requested", "confirmed", "attended"]
