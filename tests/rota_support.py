"""Counselors with a weekly duty, made as a supervisor would (through the services)."""

from __future__ import annotations

from datetime import time

from django.contrib.auth import get_user_model

from reservations import services
from reservations.models import Counselor, Office, StaffMembership, StaffRole

MORNINGS = tuple((weekday, time(10), time(12)) for weekday in range(5))
FULL_DAYS = tuple(
    (weekday, start, end)
    for weekday in range(5)
    for start, end in ((time(10), time(12)), (time(14), time(16)))
)


def add_counselor(
    office: Office,
    username: str,
    *,
    duty: tuple[tuple[int, time, time], ...] = FULL_DAYS,
    zoom_user: str = "",
) -> Counselor:
    user = get_user_model().objects.create_user(
        username=username, password="counselor-pass-2026", is_staff=True
    )
    StaffMembership.objects.create(user=user, office=office, role=StaffRole.COUNSELOR)
    counselor = Counselor(
        office=office,
        user=user,
        display_name=username,
        zoom_user=zoom_user or f"{username}@example.jp",
    )
    services.counselor_save(counselor=counselor)
    services.duty_windows_save(counselor=counselor, windows=duty)
    return counselor
