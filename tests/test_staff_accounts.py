"""Staff accounts: `manage.py staff_add`, supervisors managing their offices' staff, the
working office and its switcher, and the upgrade that keeps existing staff working."""

from __future__ import annotations

import importlib
import io

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from reservations.models import Office, StaffMembership, StaffRole
from tests.admin_support import (  # noqa: F401 - fixtures
    COUNSELOR,
    PASSWORD,
    SUPERVISOR,
    counselor_user,
    staff_groups,
    supervisor_user,
)
from tests.test_office_isolation import book_at, copy_office

__all__ = ["counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use
pytestmark = pytest.mark.django_db
memberships_migration = importlib.import_module("reservations.migrations.0012_staff_memberships")


class Stdin(io.StringIO):
    def __init__(self, text: str = "", *, tty: bool = False) -> None:
        super().__init__(text)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def ota(office, terms):
    return copy_office(office, name="ハローワーク太田", slug="ota")


def staff_add(monkeypatch, *args: str, stdin: Stdin) -> str:  # noqa: ANN001
    monkeypatch.setattr("sys.stdin", stdin)
    out = io.StringIO()
    call_command("staff_add", *args, stdout=out)
    return out.getvalue()


def groups_of(user) -> set[str]:  # noqa: ANN001
    return set(user.groups.values_list("name", flat=True))


# --- manage.py staff_add ----------------------------------------------------------------


def test_staff_add_takes_a_piped_password(monkeypatch, staff_groups, ota, django_user_model):  # noqa: F811
    out = staff_add(
        monkeypatch,
        "tanaka",
        "--office",
        "isesaki,ota",
        "--role",
        "counselor",
        "--email",
        "tanaka@example.jp",
        stdin=Stdin("a-piped-password-2027\n"),
    )
    user = django_user_model.objects.get(username="tanaka")
    assert user.check_password("a-piped-password-2027")
    assert user.is_staff and not user.is_superuser and user.email == "tanaka@example.jp"
    assert set(user.office_memberships.values_list("office__slug", "role")) == {
        ("isesaki", "counselor"),
        ("ota", "counselor"),
    }
    assert groups_of(user) == {COUNSELOR}
    assert "a-piped-password-2027" not in out and "password" not in out


def test_staff_add_generates_a_strong_password_shown_once(
    monkeypatch, staff_groups, office, django_user_model
):  # noqa: F811
    out = staff_add(
        monkeypatch, "suzuki", "--office", "isesaki", "--role", "supervisor", stdin=Stdin(tty=True)
    )
    password = out.split("password (shown once): ")[1].strip()
    assert len(password) >= 20
    user = django_user_model.objects.get(username="suzuki")
    assert user.check_password(password)
    assert groups_of(user) == {SUPERVISOR}


def test_staff_add_updates_roles_and_offices_and_keeps_the_password(
    monkeypatch, staff_groups, ota, django_user_model
):  # noqa: F811
    staff_add(
        monkeypatch,
        "tanaka",
        "--office",
        "isesaki",
        "--role",
        "counselor",
        stdin=Stdin("a-piped-password-2027"),
    )
    out = staff_add(
        monkeypatch,
        "tanaka",
        "--office",
        "isesaki,ota",
        "--role",
        "supervisor",
        stdin=Stdin(tty=True),
    )
    assert out.startswith("updated tanaka") and "shown once" not in out
    user = django_user_model.objects.get(username="tanaka")
    assert user.check_password("a-piped-password-2027")
    assert set(user.office_memberships.values_list("role", flat=True)) == {"supervisor"}
    assert groups_of(user) == {SUPERVISOR}


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        (("--office", "nowhere", "--role", "counselor"), "a-piped-password-2027"),
        (("--office", "isesaki", "--role", "counselor"), "short"),
        (("--office", "isesaki", "--role", "counselor", "--email", "not-an-email"), ""),
        (("--office", "isesaki", "--role", "counselor", "--password", "on-the-line"), ""),
    ],
)
def test_staff_add_refuses_bad_input_and_saves_nothing(
    monkeypatch, staff_groups, office, django_user_model, args, stdin
):  # noqa: F811
    with pytest.raises(CommandError):
        staff_add(monkeypatch, "tanaka", *args, stdin=Stdin(stdin))
    assert not django_user_model.objects.filter(username="tanaka").exists()


# --- Supervisors manage their offices' staff ---------------------------------------------


def supervisor_client(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


ADD = "/admin/reservations/staffmembership/add/"


def test_a_supervisor_adds_a_counselor_to_their_office(supervisor_user, office, django_user_model):  # noqa: F811
    response = supervisor_client(supervisor_user).post(
        ADD,
        {
            "username": "newbie",
            "last_name": "新人",
            "email": "newbie@example.jp",
            "password": "a-long-password-2027",
            "office": office.pk,
            "role": "counselor",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user = django_user_model.objects.get(username="newbie")
    assert user.is_staff and not user.is_superuser and user.check_password("a-long-password-2027")
    assert groups_of(user) == {COUNSELOR}
    assert user.office_memberships.get().office == office


def test_a_supervisor_cannot_take_over_another_offices_staff_or_a_superuser(
    supervisor_user, office, ota, django_user_model
):  # noqa: F811
    elsewhere = django_user_model.objects.create_user("ota-only", password=PASSWORD, is_staff=True)
    StaffMembership.objects.create(user=elsewhere, office=ota, role=StaffRole.COUNSELOR)
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    client = supervisor_client(supervisor_user)
    for username in ("ota-only", "root"):
        response = client.post(
            ADD, {"username": username, "office": office.pk, "role": "supervisor"}
        )
        assert response.status_code == 200
        assert "このユーザー名は使用されています。" in str(
            response.context["adminform"].form.errors["username"]
        )
    assert not StaffMembership.objects.filter(user__username="ota-only", office=office).exists()
    assert not StaffMembership.objects.filter(user__username="root").exists()


def test_a_supervisor_changes_a_role_and_removes_a_membership(
    supervisor_user, counselor_user, office
):  # noqa: F811
    client = supervisor_client(supervisor_user)
    membership = StaffMembership.objects.get(user=counselor_user)
    url = f"/admin/reservations/staffmembership/{membership.pk}/change/"
    assert client.post(url, {"role": "supervisor"}).status_code == 302
    assert groups_of(counselor_user) == {SUPERVISOR}
    delete = f"/admin/reservations/staffmembership/{membership.pk}/delete/"
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not StaffMembership.objects.filter(user=counselor_user).exists()
    assert groups_of(counselor_user) == set()


def test_counselors_do_not_manage_staff(counselor_user):  # noqa: F811
    client = supervisor_client(counselor_user)
    assert client.get("/admin/reservations/staffmembership/").status_code == 403
    assert client.get(ADD).status_code == 403


# --- The working office -------------------------------------------------------------------


def test_the_header_and_today_name_the_working_office_and_switch_between_ones_own(
    counselor_user, office, ota, next_slot
):  # noqa: F811
    third = copy_office(office, name="ハローワーク館林", slug="tatebayashi")
    StaffMembership.objects.create(user=counselor_user, office=ota, role=StaffRole.COUNSELOR)
    start = next_slot(0)
    book_at(ota, start, name="太田 予約者", email="o@example.jp", number="10040-2222222")
    book_at(office, start, name="伊勢崎 予約者", email="i@example.jp", number="10040-3333333")
    client = supervisor_client(counselor_user)
    today = f"/admin/reservations/reservation/today/?date={start.date()}"
    index = client.get("/admin/").content.decode()
    assert 'id="hw-working-office"' in index and "ハローワーク太田" in index
    assert third.name not in index  # not one of theirs
    page = client.get(today).content.decode()
    assert '<span class="hw-office">ハローワーク伊勢崎</span>' in page
    assert "伊勢崎 予約者" not in page  # a requested booking: in the pending list only if due
    response = client.post("/admin/office/", {"office": ota.pk, "next": today})
    assert response.status_code == 302 and response["Location"] == today
    page = client.get(today)
    assert page.context["working_office"] == ota
    assert '<span class="hw-office">ハローワーク太田</span>' in page.content.decode()
    pending = [row.reservation.office_id for row in page.context["pending"]]
    assert set(pending) == {ota.pk}
    assert client.post("/admin/office/", {"office": third.pk}).status_code == 404
    assert client.get(today).context["working_office"] == ota


def test_one_office_no_switcher(counselor_user, office):  # noqa: F811
    page = supervisor_client(counselor_user).get("/admin/").content.decode()
    assert 'id="hw-working-office"' not in page
    assert "勤務先" in page and "ハローワーク伊勢崎" in page


# --- The upgrade ------------------------------------------------------------------------------


def test_the_upgrade_keeps_existing_staff_in_every_office(staff_groups, office, django_user_model):  # noqa: F811
    other = Office.objects.create(name="ハローワーク太田", slug="ota", phone="0")
    old = django_user_model.objects.create_user("old", password=PASSWORD, is_staff=True)
    old.groups.add(Group.objects.get(name=SUPERVISOR))
    stranger = django_user_model.objects.create_user("plain", password=PASSWORD, is_staff=True)
    memberships_migration.keep_existing_staff(django_apps, None)
    assert set(old.office_memberships.values_list("office", "role")) == {
        (office.pk, "supervisor"),
        (other.pk, "supervisor"),
    }
    assert not stranger.office_memberships.exists()
