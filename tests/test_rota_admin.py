"""相談員 and the 勤務表 in the admin (rule 4): supervisors edit through the services,
counselors only look, another office's counselor is not found, and the booking pages let
staff choose and change the counselor."""

from __future__ import annotations

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse

from reservations.models import Counselor, DutyException, DutyWindow, Reservation
from reservations.rules import Status
from tests.admin_support import (
    BOOKED_AT,
    TODAY,
    book,
    counselor_user,
    staff_groups,
    supervisor_user,
)
from tests.conftest import tokyo
from tests.rota_support import add_counselor
from tests.test_office_isolation import copy_office

__all__ = ["book", "counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use
pytestmark = pytest.mark.django_db

WEDNESDAY = tokyo(2027, 2, 17, 10)
ROTA = reverse("admin:reservations_counselor_rota")


@pytest.fixture
def clock():  # noqa: ANN201
    with time_machine.travel(TODAY, tick=False) as traveller:
        yield traveller


@pytest.fixture
def two(office, clock):  # noqa: ANN001, ANN201
    return add_counselor(office, "sato"), add_counselor(office, "suzuki")


def change_url(counselor: Counselor) -> str:
    return reverse("admin:reservations_counselor_change", args=[counselor.pk])


def form_data(counselor: Counselor, windows, exceptions=()) -> dict:  # noqa: ANN001
    """The change form as the browser posts it: the windows there now removed, these
    windows and these new exceptions added."""
    existing = list(counselor.duty_windows.all())
    data = {
        "office": counselor.office_id,
        "user": counselor.user_id,
        "display_name": counselor.display_name,
        "zoom_user": counselor.zoom_user,
        "teleoffice_url": "",
        "languages": "",
        "is_active": "on",
        "duty_windows-TOTAL_FORMS": len(existing) + len(windows),
        "duty_windows-INITIAL_FORMS": len(existing),
        "duty_exceptions-TOTAL_FORMS": len(exceptions),
        "duty_exceptions-INITIAL_FORMS": 0,
    }
    for i, window in enumerate(existing):
        data |= {
            f"duty_windows-{i}-id": window.pk,
            f"duty_windows-{i}-counselor": counselor.pk,
            f"duty_windows-{i}-weekday": window.weekday,
            f"duty_windows-{i}-start_time": f"{window.start_time:%H:%M}",
            f"duty_windows-{i}-end_time": f"{window.end_time:%H:%M}",
            f"duty_windows-{i}-DELETE": "on",
        }
    for i, (weekday, start, end) in enumerate(windows, start=len(existing)):
        data |= {
            f"duty_windows-{i}-weekday": weekday,
            f"duty_windows-{i}-start_time": start,
            f"duty_windows-{i}-end_time": end,
        }
    for i, (day, kind, start, end) in enumerate(exceptions):
        data |= {
            f"duty_exceptions-{i}-date": day,
            f"duty_exceptions-{i}-kind": kind,
            f"duty_exceptions-{i}-start_time": start,
            f"duty_exceptions-{i}-end_time": end,
        }
    return data


def places_on_the_rota(client, hour: str) -> list[str]:  # noqa: ANN001
    page = client.get(ROTA)
    assert page.status_code == 200
    wednesday = next(row for row in page.context["days"] if row["day"] == WEDNESDAY.date())
    return [
        f"{s.start:%H:%M} {'・'.join(s.counselors)} {s.places}"
        for s in wednesday["slots"]
        if f"{s.start:%H:%M}" == hour
    ]


def test_a_supervisor_edits_the_weekly_duty_and_the_rota_follows(client, two, supervisor_user):
    sato, _suzuki = two
    client.force_login(supervisor_user)
    assert places_on_the_rota(client, "14:00") == ["14:00 sato・suzuki 2"]
    mornings = [(d, "10:00", "12:00") for d in range(5)]
    response = client.post(change_url(sato), form_data(sato, mornings))
    assert response.status_code == 302, response.context["errors"]
    assert places_on_the_rota(client, "14:00") == ["14:00 suzuki 1"]
    assert places_on_the_rota(client, "10:00") == ["10:00 sato・suzuki 2"]


def test_leave_entered_in_the_admin_flags_and_says_so(client, two, supervisor_user, book):
    sato, suzuki = two
    mine = book(WEDNESDAY, confirm=True)
    other = book(WEDNESDAY, confirm=True)
    assert {mine.counselor_id, other.counselor_id} == {sato.pk, suzuki.pk}
    on_leave = Counselor.objects.get(pk=mine.counselor_id)
    client.force_login(supervisor_user)
    windows = list(on_leave.duty_windows.values_list("weekday", "start_time", "end_time"))
    response = client.post(
        change_url(on_leave),
        form_data(on_leave, windows, [("2027-02-17", "leave", "", "")]),
        follow=True,
    )
    messages = [str(m) for m in get_messages(response.wsgi_request)] or [
        str(m) for m in response.context["messages"]
    ]
    assert any("要再割当" in m for m in messages), messages
    mine.refresh_from_db()
    assert mine.needs_reassignment
    assert DutyException.objects.filter(counselor=on_leave).count() == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"zoom_user": "not a user"}, "Zoomユーザー"),
        ({"languages": "Japanese"}, "言語コード"),
        ({"NEW-end_time": "09:00"}, "終了時刻は開始時刻より後"),
        ({"duty_exceptions-0-end_time": ""}, "両方入力"),
    ],
)
def test_bad_input_is_shown_next_to_the_field_and_saves_nothing(
    client, two, supervisor_user, change, message
):
    sato, _suzuki = two
    client.force_login(supervisor_user)
    before = sorted(DutyWindow.objects.values_list("counselor_id", "weekday", "start_time"))
    data = form_data(sato, [(0, "10:00", "12:00")], [("2027-02-17", "leave", "10:00", "11:00")])
    new_row = sato.duty_windows.count()
    data |= {k.replace("NEW", f"duty_windows-{new_row}"): v for k, v in change.items()}
    response = client.post(change_url(sato), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not DutyException.objects.exists()
    assert sorted(DutyWindow.objects.values_list("counselor_id", "weekday", "start_time")) == before
    assert Counselor.objects.get(pk=sato.pk).zoom_user == "sato@example.jp"


def test_overlapping_windows_are_refused(client, two, supervisor_user):
    sato, _suzuki = two
    client.force_login(supervisor_user)
    response = client.post(
        change_url(sato), form_data(sato, [(0, "10:00", "12:00"), (0, "11:00", "13:00")])
    )
    assert response.status_code == 200
    assert "同じ曜日の勤務時間帯が重なっています。" in response.content.decode()


def test_counselors_see_the_rota_but_do_not_edit(client, two, counselor_user):
    sato, _suzuki = two
    client.force_login(counselor_user)
    assert places_on_the_rota(client, "10:00") == ["10:00 sato・suzuki 2"]
    assert client.get(change_url(sato)).status_code == 200  # read-only view
    windows = list(sato.duty_windows.values_list("weekday", "start_time", "end_time"))
    response = client.post(change_url(sato), form_data(sato, windows[:1]))
    assert response.status_code == 403
    assert client.get(reverse("admin:reservations_counselor_add")).status_code == 403


def test_another_offices_counselor_is_not_found(client, office, terms, two, supervisor_user):
    ota = copy_office(office, name="ハローワーク太田", slug="ota")
    stranger = add_counselor(ota, "tanaka")
    client.force_login(supervisor_user)
    assert client.get(change_url(stranger)).status_code == 404
    listing = client.get(reverse("admin:reservations_counselor_changelist"))
    assert "tanaka" not in listing.content.decode()
    rota = client.get(ROTA, {"office": ota.pk})
    assert rota.context["office"] == office


def test_the_rota_page_is_linked_from_the_counselor_list(client, two, supervisor_user):
    client.force_login(supervisor_user)
    listing = client.get(reverse("admin:reservations_counselor_changelist"))
    assert ROTA in listing.content.decode()


def test_confirming_one_request_lets_staff_choose_the_counselor(
    client, two, counselor_user, make_reservation
):
    sato, suzuki = two
    request = make_reservation(WEDNESDAY, now=BOOKED_AT)
    client.force_login(counselor_user)
    confirm = reverse("admin:reservations_reservation_act", args=[request.pk, "confirm"])
    page = client.get(confirm)
    choices = dict(page.context["form"].fields["counselor"].choices)
    assert set(choices.values()) == {"自動（その日の相談が少ない相談員）", "sato", "suzuki"}
    response = client.post(confirm, {"counselor": suzuki.pk})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED and request.counselor_id == suzuki.pk


def test_the_reassign_page(client, two, counselor_user, book):
    sato, suzuki = two
    booking = book(WEDNESDAY, confirm=True)
    other = suzuki if booking.counselor_id == sato.pk else sato
    client.force_login(counselor_user)
    change = reverse("admin:reservations_reservation_change", args=[booking.pk])
    labels = [b["label"] for b in client.get(change).context["hw_buttons"]]
    assert "担当の相談員を変える" in labels
    reassign = reverse("admin:reservations_reservation_reassign", args=[booking.pk])
    page = client.get(reassign)
    assert set(dict(page.context["form"].fields["counselor"].choices).values()) == {
        "相談員を選んでください",
        other.display_name,
    }
    response = client.post(reassign, {"counselor": other.pk, "reason": "研修"})
    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.counselor_id == other.pk
    # Nobody else free: the page says so, and a forged choice is refused next to the field.
    bad = client.post(reassign, {"counselor": 999999})
    assert bad.status_code == 200 and bad.context["form"].errors["counselor"]
    assert Reservation.objects.get(pk=booking.pk).counselor_id == other.pk
