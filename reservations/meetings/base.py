"""What every meeting provider offers, and the errors staff may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reservations.errors import WorkError


class MeetingError(WorkError):
    """A meeting provider could not do what was asked; `message` is fit to show staff.

    Messages name the provider and the HTTP status or the kind of failure, never a person.
    """


class MeetingNotConfigured(MeetingError):
    """The provider has no credentials in this installation."""


class MeetingTimeout(MeetingError):
    """No answer in time: the request may or may not have taken effect."""


class MeetingUnknownOutcome(MeetingError):
    """The connection broke after the request left: it may or may not have taken effect."""


class MeetingBusy(MeetingError):
    """Another worker is creating this booking's meeting right now; try again shortly."""


@dataclass(frozen=True)
class Meeting:
    """A meeting as the provider knows it. `start_url` is for staff only and expires."""

    meeting_id: str
    join_url: str
    passcode: str = ""
    topic: str = ""
    start_time: datetime | None = None
    start_url: str = ""


class Provider(Protocol):
    """A video meeting service used for sessions (Art. 4: TeleOffice or Zoom)."""

    #: Whether meetings are made through an API (Zoom) or entered by the counselor.
    creates_meetings: bool

    @property
    def configured(self) -> bool: ...

    def start_url(self, *, meeting_id: str, join_url: str) -> str:
        """A link for the counselor to open the session now."""
        ...
