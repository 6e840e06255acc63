"""Video meetings for sessions (Art. 4): one interface, two providers.

- Zoom (`zoom.ZoomProvider`): meetings are made, moved and deleted through the API by the
  task queue (`sync.meeting_sync`), never inside a booking's transaction.
- TeleOffice (`teleoffice.TeleOfficeProvider`): no public API; the counselor enters the link
  when confirming (`services.reservation_confirm` refuses a confirmation without one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from reservations.meetings.base import (
    Meeting,
    MeetingBusy,
    MeetingError,
    MeetingNotConfigured,
    MeetingTimeout,
    MeetingUnknownOutcome,
    Provider,
)
from reservations.meetings.teleoffice import TeleOfficeProvider
from reservations.meetings.zoom import ZoomProvider

if TYPE_CHECKING:
    from reservations.models import Reservation

__all__ = [
    "Meeting",
    "MeetingBusy",
    "MeetingError",
    "MeetingNotConfigured",
    "MeetingTimeout",
    "MeetingUnknownOutcome",
    "Provider",
    "TeleOfficeProvider",
    "ZoomProvider",
    "provider_for",
    "start_url_for",
]


def provider_for(platform: str) -> Provider:
    """The provider behind a booking's platform (Art. 4)."""
    from reservations.models import Platform

    if platform == Platform.ZOOM:
        return ZoomProvider()
    if platform == Platform.TELEOFFICE:
        return TeleOfficeProvider()
    raise ValueError(f"unknown platform {platform!r}")


def start_url_for(reservation: Reservation) -> str:
    """The link a counselor opens to start the session: fresh from Zoom, or TeleOffice's.

    Zoom's start URL expires, so it is fetched now and never stored. The call is bounded by
    ZOOM_TIMEOUT; any failure raises `MeetingError` with a message fit to show staff.
    """
    from reservations.models import MeetingState, Platform

    if reservation.platform == Platform.ZOOM and not reservation.meeting_id:
        raise MeetingError(
            _("Zoom の会議はまだ作成されていません（%(state)s）。")
            % {"state": MeetingState(reservation.meeting_state).label}
        )
    return provider_for(reservation.platform).start_url(
        meeting_id=reservation.meeting_id, join_url=reservation.meeting_join_url
    )
