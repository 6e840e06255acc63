"""TeleOffice: no public API, so the counselor enters the meeting link when confirming."""

from __future__ import annotations

from django.utils.translation import gettext as _

from reservations.meetings.base import MeetingError


class TeleOfficeProvider:
    """Meetings made by the counselor in TeleOffice; we only keep the link they entered."""

    creates_meetings = False

    @property
    def configured(self) -> bool:
        return True

    def start_url(self, *, meeting_id: str, join_url: str) -> str:
        """The link the counselor entered: the same room for host and seeker."""
        if not join_url:
            raise MeetingError(_("この予約には TeleOffice の会議URLが登録されていません。"))
        return join_url
