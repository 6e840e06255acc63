"""Fixtures for the admin tests: the staff groups, a counselor, a supervisor, a day of bookings.

Import the fixtures into a test module (`from tests.admin_support import *`-style names) to
use them; transactional tests flush the groups, so they are re-created from the migration.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime

import pytest
from django.apps import apps as django_apps
from django.contrib.auth.models import Group

from reservations import services
from reservations.models import Office, Reservation, StaffMembership, StaffRole
from tests.conftest import tokyo

staff_memberships_migration = importlib.import_module(
    "reservations.migrations.0012_staff_memberships"
)
staff_groups_migration = importlib.import_module("reservations.migrations.0004_staff_groups")
supervisors_see_queue = importlib.import_module(
    "reservations.migrations.0006_supervisors_see_mail_and_meetings"
)
supervisors_see_statistics = importlib.import_module(
    "reservations.migrations.0007_statistics_permission"
)
rota_permissions = importlib.import_module("reservations.migrations.0015_rota_permissions")
waitlist_migration = importlib.import_module("reservations.migrations.0017_waitlist")
COUNSELOR = staff_groups_migration.COUNSELOR
SUPERVISOR = staff_groups_migration.SUPERVISOR
PASSWORD = "kaunsera-no-himitsu-2027"  # passes the password validators

# A Tuesday with no holiday around it. Requests for it close Monday 2/15 17:00; they must
# be confirmed by the end of Monday.
TODAY = tokyo(2027, 2, 16, 9)
BOOKED_AT = tokyo(2027, 2, 12, 9)  # the previous Friday (2/11 is a holiday)


@pytest.fixture
def staff_groups(db) -> dict[str, Group]:
    """相談員 and 管理者, as the migration creates them (re-created after a flush)."""
    if Group.objects.filter(name__in=[COUNSELOR, SUPERVISOR]).count() < 2:
        staff_groups_migration.create_groups(django_apps, None)
        supervisors_see_queue.grant(django_apps, None)
        supervisors_see_statistics.grant(django_apps, None)
        staff_memberships_migration.grant(django_apps, None)
        rota_permissions.grant(django_apps, None)
        waitlist_migration.grant(django_apps, None)
    return {group.name: group for group in Group.objects.filter(name__in=[COUNSELOR, SUPERVISOR])}


def _staff(django_user_model, username: str, group: Group, office: Office, **extra: object):  # noqa: ANN202
    """A staff member of `office` in `group`, as `manage.py staff_add` sets one up."""
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, is_staff=True, **extra
    )
    user.groups.add(group)
    role = StaffRole.SUPERVISOR if group.name == SUPERVISOR else StaffRole.COUNSELOR
    StaffMembership.objects.create(user=user, office=office, role=role)
    return user


@pytest.fixture
def counselor_user(staff_groups, django_user_model, office):  # noqa: ANN201
    """A counselor (相談員) of ハローワーク伊勢崎 as the office would set one up."""
    return _staff(
        django_user_model,
        "sodan",
        staff_groups[COUNSELOR],
        office,
        first_name="花子",
        last_name="相談",
    )


@pytest.fixture
def supervisor_user(staff_groups, django_user_model, office):  # noqa: ANN201
    """A supervisor (管理者) of ハローワーク伊勢崎."""
    return _staff(
        django_user_model,
        "kanri",
        staff_groups[SUPERVISOR],
        office,
        first_name="一郎",
        last_name="管理",
    )


@pytest.fixture
def book(make_reservation, counselor_user) -> Callable[..., Reservation]:
    """A booking for `start`, requested in good time, optionally confirmed."""

    def make(
        start: datetime,
        *,
        confirm: bool = False,
        requested_at: datetime = BOOKED_AT,
        meeting_url: str = "",
        **fields: object,
    ) -> Reservation:
        reservation = make_reservation(start, now=requested_at, **fields)
        if confirm:
            services.reservation_confirm(
                reservation=reservation,
                actor=counselor_user,
                meeting_url=meeting_url,
                now=requested_at,
            )
            reservation.refresh_from_db()
        return reservation

    return make
