"""What every meeting provider offers, and the errors staff may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from reservations.errors import WorkError
from reservations.rules import MeetingProblem


class MeetingError(WorkError):
    """A meeting provider could not do what was asked; `message` is fit to show supervisors.

    Messages name the provider and the HTTP status or the kind of failure, never a person;
    `problem` is its kind, which counselors see in plain words (`rules.meeting_problem_text`).
    """

    problem: str = MeetingProblem.ZOOM_ERROR

    def __init__(
        self, message: str, *, retry_after: float | None = None, problem: str | None = None
    ) -> None:
        super().__init__(message, retry_after=retry_after)
        if problem is not None:
            self.problem = problem


class MeetingNotConfigured(MeetingError):
    """The provider has no credentials in this installation."""

    problem = MeetingProblem.NOT_CONFIGURED


class MeetingTimeout(MeetingError):
    """No answer in time: the request may or may not have taken effect."""

    problem = MeetingProblem.UNREACHABLE


class MeetingUnknownOutcome(MeetingError):
    """The connection broke after the request left: it may or may not have taken effect."""

    problem = MeetingProblem.UNREACHABLE


class MeetingHostBusy(MeetingError):
    """The host already has a meeting at that time: a Zoom user hosts one at a time."""

    problem = MeetingProblem.HOST_BUSY


class MeetingDeferred(MeetingError):
    """The host's daily budget of creates and updates is spent: the work waits, not fails."""

    problem = MeetingProblem.DAILY_LIMIT
    deferred = True


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
    minutes: int | None = None


class Provider(Protocol):
    """A video meeting service used for sessions (Art. 4: TeleOffice or Zoom)."""

    #: Whether meetings are made through an API (Zoom) or entered by the counselor.
    creates_meetings: bool

    @property
    def configured(self) -> bool: ...

    def start_url(self, *, meeting_id: str, join_url: str) -> str:
        """A link for the counselor to open the session now."""
        ...
