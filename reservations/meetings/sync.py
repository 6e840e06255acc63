"""Keep a booking's Zoom meeting in line with the booking, from the task queue.

`meeting_sync` is the only code that talks to Zoom about a booking. It is idempotent: run it
after any change (confirm, move, cancel, retry) and as often as the queue likes; it creates,
moves or deletes so that Zoom ends up matching the booking, and it never holds a row lock
while waiting for Zoom.

A create that timed out (or whose worker died) may have made a meeting after all, so each
attempt is recorded (`ZoomMeeting`) and committed before the request; an attempt whose
outcome is unknown is reconciled with Zoom's list of meetings before anything new is
created. Duplicates found that way are deleted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.tasks import task
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reservations import outbox
from reservations.meetings import provider_for
from reservations.meetings.base import (
    Meeting,
    MeetingBusy,
    MeetingError,
    MeetingNotConfigured,
    MeetingTimeout,
    MeetingUnknownOutcome,
)
from reservations.meetings.zoom import ZoomProvider, new_passcode
from reservations.models import (
    UNSETTLED_ZOOM_STATES,
    MeetingState,
    Platform,
    Reservation,
    ZoomMeeting,
    ZoomMeetingState,
)
from reservations.rules import NO_MEETING_STATUSES, Status

logger = logging.getLogger(__name__)


@task()
def sync_meeting(reservation_id: int) -> str:
    """Create, move or delete a booking's Zoom meeting so that Zoom matches the booking."""
    return meeting_sync(reservation_id=reservation_id)


def meeting_sync_enqueue(reservation: Reservation) -> None:
    """Queue the meeting work of `reservation` in the caller's transaction."""
    outbox.enqueue(sync_meeting, reservation_id=reservation.pk)


def meeting_start_url(reservation: Reservation) -> str:
    """The link a counselor opens to start the session: fresh from Zoom, or TeleOffice's.

    Zoom's start URL expires, so it is fetched now and never stored. The call is bounded by
    ZOOM_TIMEOUT; any failure raises `MeetingError` with a message fit to show staff.
    """
    if reservation.platform == Platform.ZOOM and not reservation.meeting_id:
        raise MeetingError(
            _("Zoom の会議はまだ作成されていません（%(state)s）。")
            % {"state": MeetingState(reservation.meeting_state).label}
        )
    return provider_for(reservation.platform).start_url(
        meeting_id=reservation.meeting_id, join_url=reservation.meeting_join_url
    )


def meeting_wanted(reservation: Reservation, now: datetime) -> bool:
    """A confirmed Zoom booking needs its meeting until the session has ended."""
    return (
        reservation.platform == Platform.ZOOM
        and reservation.status == Status.CONFIRMED
        and now < reservation.slot.ends_at
    )


def meeting_topic(reservation: Reservation) -> str:
    """The meeting's title in Zoom: office and reference, nothing personal (rule 15)."""
    with translation.override(reservation.language or "ja"):
        return _("%(office)s オンライン職業相談 %(reference)s") % {
            "office": reservation.office.name,
            "reference": reservation.reference,
        }


def meeting_sync(*, reservation_id: int, now: datetime | None = None) -> str:
    """Make Zoom match the booking: create, move or delete its meeting (idempotent)."""
    reservation = (
        Reservation.objects.select_related("slot", "office").filter(pk=reservation_id).first()
    )
    if reservation is None or reservation.platform != Platform.ZOOM:
        return "not a zoom booking"
    now = now or timezone.now()
    provider = ZoomProvider()
    wanted = meeting_wanted(reservation, now)
    # Withdrawn, or back to requested after the seeker moved it (rule 10): no meeting.
    withdrawn = reservation.status in NO_MEETING_STATUSES
    if not wanted and not withdrawn:
        return "nothing to do"  # attended, no-show or over: the meeting is history
    if not wanted and not reservation.zoom_meetings.exists():
        _withdraw(reservation.pk)
        return "no meeting"
    try:
        _settle_unknown_creations(reservation, provider, now)
        active = list(reservation.zoom_meetings.filter(state=ZoomMeetingState.ACTIVE))
        if withdrawn:
            for record in active:
                _delete(record, provider, now)
            _withdraw(reservation.pk)
            return "deleted"
        meeting: Meeting | None = None
        if active:
            keep = active[0]
        else:
            keep, meeting = _create(reservation, provider, now)
        for extra in active[1:]:
            _delete(extra, provider, now, note=_("重複した会議を削除しました。"))
        if keep.start_time != reservation.slot.starts_at:
            provider.update(
                meeting_id=keep.meeting_id,
                start=reservation.slot.starts_at,
                minutes=reservation.office.slot_minutes,
            )
            keep.start_time = reservation.slot.starts_at
            keep.save(update_fields=["start_time"])
        _publish(reservation.pk, keep, provider, meeting)
        return "ready"
    except MeetingBusy:
        raise  # another worker is on it; not a failure to show
    except MeetingNotConfigured as exc:
        # Nothing to retry per attempt; the periodic meeting job tries again later.
        if wanted:
            _mark_failed(reservation.pk, exc.message)
        return "not configured"
    except MeetingError as exc:
        if wanted:
            _mark_failed(reservation.pk, exc.message)
        logger.warning("zoom sync failed for booking %s: %s", reservation.reference, exc.message)
        raise


def _settle_unknown_creations(
    reservation: Reservation, provider: ZoomProvider, now: datetime
) -> None:
    record = reservation.zoom_meetings.filter(state__in=UNSETTLED_ZOOM_STATES).first()
    if record is None:
        return
    settle = timedelta(seconds=provider.zoom.settle_seconds)
    if record.requested_at > now - settle:
        # The request may still be in flight (here or in another worker): asking Zoom now
        # could miss a meeting it is about to create, and creating again would duplicate it.
        wait = (record.requested_at + settle - now).total_seconds()
        raise MeetingBusy(
            _("Zoom の会議を作成中です。結果を確認してから続けます。"), retry_after=wait + 1
        )
    known = set(
        reservation.zoom_meetings.exclude(meeting_id="").values_list("meeting_id", flat=True)
    )
    found = [m for m in provider.find(reference=reservation.reference) if m.meeting_id not in known]
    with transaction.atomic():
        if not found:
            record.state = ZoomMeetingState.ABANDONED
            record.note = _("Zoom に作成されていないことを確認しました。")
            record.save(update_fields=["state", "note"])
            return
        first, *duplicates = found
        record.state = ZoomMeetingState.ACTIVE
        record.meeting_id = first.meeting_id
        record.start_time = first.start_time
        record.created_at = now
        record.note = _("応答のなかった作成を Zoom の一覧で確認しました。")
        record.save(update_fields=["state", "meeting_id", "start_time", "created_at", "note"])
        for duplicate in duplicates:
            ZoomMeeting.objects.create(
                reservation=reservation,
                state=ZoomMeetingState.ACTIVE,
                meeting_id=duplicate.meeting_id,
                start_time=duplicate.start_time,
                requested_at=record.requested_at,
                created_at=now,
                note=_("Zoom の一覧で見つかった重複です。"),
            )
    logger.info(
        "zoom meeting of booking %s reconciled: %d found", reservation.reference, len(found)
    )


def _create(
    reservation: Reservation, provider: ZoomProvider, now: datetime
) -> tuple[ZoomMeeting, Meeting]:
    try:
        with transaction.atomic():
            record = ZoomMeeting.objects.create(
                reservation=reservation, state=ZoomMeetingState.CREATING, requested_at=now
            )
    except IntegrityError:
        raise MeetingBusy(_("別の処理が Zoom の会議を作成中です。"), retry_after=5) from None
    # The record is committed before the request: if this process dies while waiting for
    # Zoom, the next attempt knows to look for the meeting before making another.
    start = reservation.slot.starts_at
    try:
        meeting = provider.create(
            topic=meeting_topic(reservation),
            start=start,
            minutes=reservation.office.slot_minutes,
            passcode=new_passcode(),
        )
    except (MeetingTimeout, MeetingUnknownOutcome) as exc:
        record.state = ZoomMeetingState.UNCERTAIN
        record.note = exc.message[:300]
        record.save(update_fields=["state", "note"])
        raise
    except MeetingError as exc:
        record.state = ZoomMeetingState.ABANDONED
        record.note = exc.message[:300]
        record.save(update_fields=["state", "note"])
        raise
    record.state = ZoomMeetingState.ACTIVE
    record.meeting_id = meeting.meeting_id
    record.start_time = start
    record.created_at = timezone.now()
    record.save(update_fields=["state", "meeting_id", "start_time", "created_at"])
    logger.info("zoom meeting created for booking %s", reservation.reference)
    return record, meeting


def _delete(record: ZoomMeeting, provider: ZoomProvider, now: datetime, note: str = "") -> None:
    existed = provider.delete(meeting_id=record.meeting_id)
    record.state = ZoomMeetingState.DELETED
    record.deleted_at = now
    record.note = (note or ("" if existed else _("Zoom では既に削除されていました。")))[:300]
    record.save(update_fields=["state", "deleted_at", "note"])


def _lock(reservation_id: int) -> Reservation:
    return (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("slot", "office")
        .get(pk=reservation_id)
    )


def _publish(
    reservation_id: int, record: ZoomMeeting, provider: ZoomProvider, meeting: Meeting | None
) -> None:
    """Store the link on the booking; the first time it works, the seeker is told."""
    current = Reservation.objects.only("meeting_id", "meeting_join_url").get(pk=reservation_id)
    if meeting is None and (
        current.meeting_id != record.meeting_id or not current.meeting_join_url
    ):
        meeting = provider.get(meeting_id=record.meeting_id)  # before the lock: no I/O under it
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation.status != Status.CONFIRMED:
            return  # cancelled meanwhile: that change's own sync deletes the meeting
        was_ready = reservation.meeting_state == MeetingState.READY
        if meeting is not None:
            reservation.meeting_id = meeting.meeting_id
            reservation.meeting_join_url = meeting.join_url
            reservation.meeting_passcode = meeting.passcode
        reservation.meeting_state = MeetingState.READY
        reservation.meeting_error = ""
        reservation.save(
            update_fields=[
                "meeting_id",
                "meeting_join_url",
                "meeting_passcode",
                "meeting_state",
                "meeting_error",
                "updated_at",
            ]
        )
        if not was_ready:
            # Rule 13: the "confirmed" email goes out only now, with a working link.
            outbox.email_enqueue(reservation=reservation, kind="confirmed")


def _mark_failed(reservation_id: int, message: str) -> None:
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation.status != Status.CONFIRMED:
            return
        if reservation.meeting_state != MeetingState.READY:
            reservation.meeting_state = MeetingState.FAILED
        # With a working link (a move that failed), the link stays and staff see why.
        reservation.meeting_error = message[:500]
        reservation.save(update_fields=["meeting_state", "meeting_error", "updated_at"])


def _withdraw(reservation_id: int) -> None:
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation.status == Status.CONFIRMED:
            return
        reservation.meeting_state = MeetingState.NONE
        reservation.meeting_id = ""
        reservation.meeting_join_url = ""
        reservation.meeting_passcode = ""
        reservation.meeting_error = ""
        reservation.save(
            update_fields=[
                "meeting_state",
                "meeting_id",
                "meeting_join_url",
                "meeting_passcode",
                "meeting_error",
                "updated_at",
            ]
        )
