"""What follows a change to a booking: emails to the seeker and work on the meeting.

`reservation_changed` is called by every service inside its transaction, right after the
change is recorded. It enqueues tasks (rows in the same database, so the enqueue commits or
rolls back with the change) and never does I/O itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reservations.models import Reservation, ReservationEvent


def reservation_changed(*, reservation: Reservation, event: ReservationEvent) -> None:
    """Enqueue the mail and meeting work that `event` calls for, in the caller's transaction."""
    # Filled in by the meetings and notifications work: request received, confirmed (after
    # the meeting exists), moved, cancelled, expired, rejected, no-show.
    return None
