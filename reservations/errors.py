"""The errors the portal's layers raise to each other, with messages fit to show.

They live apart from the services so that every layer (services, consent, mail, meetings,
the queue) can raise and catch them without importing the layer above it.
"""

from __future__ import annotations


class ReservationError(Exception):
    """A business rule refused the action; `message` is fit to show the person."""

    code = "refused"

    def __init__(self, message: str, *, code: str | None = None, **context: object) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.context = context


class SlotFull(ReservationError):
    code = "slot_full"


class LimitReached(ReservationError):
    code = "limit_reached"


class Restricted(ReservationError):
    code = "restricted"


class TransitionNotAllowed(ReservationError):
    code = "transition_not_allowed"


class OfferNotAvailable(ReservationError):
    """A waiting-list offer that is no longer there to claim (claimed, expired, left)."""

    code = "offer_gone"


class EmailResendRefused(ReservationError):
    """Staff asked to resend an email that is sent, on its way or no longer wanted."""

    code = "email_resend_refused"


class WorkError(Exception):
    """Background work (an email, a meeting) failed; `message` names no person.

    The queue logs and shows the message as it is; `retry_after` asks for the next attempt
    to wait that long, `permanent` says that no attempt can succeed, and `deferred` that
    nothing failed: the work must wait (a quota) and is never given up for it.
    """

    retry_after: float | None = None
    permanent = False
    deferred = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        if retry_after is not None:
            self.retry_after = retry_after
