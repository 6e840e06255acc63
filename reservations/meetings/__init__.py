"""Video meetings for sessions (Art. 4): one interface, two providers.

- Zoom (`zoom.ZoomProvider`): meetings are made, moved and deleted through the API by the
  task queue (`sync.meeting_sync`), never inside a booking's transaction.
- TeleOffice (`teleoffice.TeleOfficeProvider`): no public API; the counselor enters the link
  when confirming (`services.reservation_confirm` refuses a confirmation without one).
"""

from __future__ import annotations

from reservations.meetings.base import (
    Meeting,
    MeetingBusy,
    MeetingDeferred,
    MeetingError,
    MeetingHostBusy,
    MeetingNotConfigured,
    MeetingTimeout,
    MeetingUnknownOutcome,
    Provider,
)
from reservations.meetings.teleoffice import TeleOfficeProvider
from reservations.meetings.zoom import ZoomProvider
from reservations.rules import Platform

__all__ = [
    "Meeting",
    "MeetingBusy",
    "MeetingDeferred",
    "MeetingError",
    "MeetingHostBusy",
    "MeetingNotConfigured",
    "MeetingTimeout",
    "MeetingUnknownOutcome",
    "Provider",
    "TeleOfficeProvider",
    "ZoomProvider",
    "provider_for",
]


def provider_for(platform: str) -> Provider:
    """The provider behind a booking's platform (Art. 4)."""
    if platform == Platform.ZOOM:
        return ZoomProvider()
    if platform == Platform.TELEOFFICE:
        return TeleOfficeProvider()
    raise ValueError(f"unknown platform {platform!r}")
