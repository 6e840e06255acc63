"""Keep a booking's Zoom meeting in line with the booking, from the task queue.

`meeting_sync` is the only code that talks to Zoom about a booking. It is idempotent: run it
after any change (confirm, move, cancel, retry) and as often as the queue likes; it creates,
moves or deletes so that Zoom ends up matching the booking, and it never holds a row lock
while waiting for Zoom.

A create that timed out (or whose worker died) may have made a meeting after all, so each
attempt is recorded (`ZoomMeeting`) and committed before the request; an attempt whose
outcome is unknown is reconciled with Zoom's list of meetings before anything new is
created. Duplicates found that way are deleted.

Each meeting is made under its host (rule 13): the booking's counselor's Zoom user, or
ZOOM_HOST_USER for a booking without one. A Zoom user hosts one meeting at a time and takes
about 100 creates and updates a day, so before each create or update the host is checked
for another meeting at that time (at Zoom and here) and its day's count (`ZoomHostUsage`,
UTC days as Zoom counts them) is raised under a row lock; past ZOOM_HOST_DAILY_LIMIT the work
waits for the next UTC day (`MeetingDeferred`) instead of failing at Zoom. When the
counselor changes, the meeting moves: made under the new host, the link published (the
seeker told only if it changed), then deleted under the old one.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.tasks import task
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reservations import outbox
from reservations.meetings import provider_for
from reservations.meetings.base import (
    Meeting,
    MeetingBusy,
    MeetingDeferred,
    MeetingError,
    MeetingHostBusy,
    MeetingNotConfigured,
    MeetingTimeout,
    MeetingUnknownOutcome,
)
from reservations.meetings.zoom import ZoomProvider, new_passcode
from reservations.models import (
    UNSETTLED_ZOOM_STATES,
    EmailKind,
    MeetingState,
    Platform,
    Reservation,
    ZoomHostUsage,
    ZoomMeeting,
    ZoomMeetingState,
)
from reservations.rules import NO_MEETING_STATUSES, TOKYO, MeetingProblem, Status

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


def _host_key(user: str) -> str:
    # Zoom treats an email address case-insensitively; a user id is kept as it is.
    user = user.strip()
    return user.lower() if "@" in user else user


def shared_host() -> str:
    """The Zoom user hosting bookings that have no counselor of their own (ZOOM_HOST_USER)."""
    return _host_key(settings.ZOOM_HOST_USER or "me")


def meeting_host(reservation: Reservation) -> str:
    """The Zoom user who hosts the booking's meeting (rule 13): its counselor's, else the
    shared ZOOM_HOST_USER (an office without counselor records, a counselor without one)."""
    counselor = reservation.counselor
    own = counselor.zoom_user if counselor is not None else ""
    return _host_key(own) if own.strip() else shared_host()


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
        Reservation.objects.select_related("slot", "office", "counselor")
        .filter(pk=reservation_id)
        .first()
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
        host = meeting_host(reservation)
        # A meeting under another host belongs to the counselor the booking had before.
        current = [record for record in active if record.host == host]
        stale = [record for record in active if record.host != host]
        meeting: Meeting | None = None
        if current:
            keep = current[0]
        else:
            keep, meeting = _create(reservation, provider, now, host=host)
        for extra in current[1:]:
            _delete(extra, provider, now, note=_("重複した会議を削除しました。"))
        if keep.start_time != reservation.slot.starts_at:
            _claim(reservation, provider, now, host=host)
            provider.update(
                meeting_id=keep.meeting_id,
                start=reservation.slot.starts_at,
                minutes=reservation.office.slot_minutes,
            )
            keep.start_time = reservation.slot.starts_at
            keep.save(update_fields=["start_time"])
        # The new link first, then the old meeting goes: the seeker always has one that works.
        _publish(reservation.pk, keep, provider, meeting)
        for old in stale:
            _delete(
                old, provider, now, note=_("担当の変更により、前の主催者の会議を削除しました。")
            )
        return "moved" if stale else "ready"
    except MeetingBusy:
        raise  # another worker is on it; not a failure to show
    except MeetingNotConfigured as exc:
        # Nothing to retry per attempt; the periodic meeting job tries again later.
        if wanted:
            _mark_failed(reservation.pk, exc)
        return "not configured"
    except MeetingDeferred as exc:
        # Not a failure: the queue runs the task again when the host's next day begins.
        if wanted:
            _mark_failed(reservation.pk, exc)
        logger.info("zoom sync of booking %s deferred: %s", reservation.reference, exc.message)
        raise
    except MeetingError as exc:
        if wanted:
            _mark_failed(reservation.pk, exc)
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
    found = [
        m
        for m in provider.find(reference=reservation.reference, host=record.host)
        if m.meeting_id not in known
    ]
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
                host=record.host,
                meeting_id=duplicate.meeting_id,
                start_time=duplicate.start_time,
                requested_at=record.requested_at,
                created_at=now,
                note=_("Zoom の一覧で見つかった重複です。"),
            )
    logger.info(
        "zoom meeting of booking %s reconciled: %d found", reservation.reference, len(found)
    )


def _next_zoom_day(now: datetime) -> datetime:
    """When the host's next day begins: Zoom counts its daily limits in UTC days."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), tzinfo=UTC)


def _overlapping_meetings(reservation: Reservation, host: str) -> Q:
    """Live meetings of `host` for other confirmed bookings at the same time, still hosted
    by `host` (a meeting its booking's new counselor has taken over is on its way out)."""
    slot = reservation.slot
    hosted_here = Q(reservation__counselor__zoom_user__iexact=host)
    if host == shared_host():
        hosted_here |= Q(reservation__counselor__isnull=True) | Q(
            reservation__counselor__zoom_user=""
        )
    return (
        Q(
            host=host,
            state__in=[ZoomMeetingState.ACTIVE, *UNSETTLED_ZOOM_STATES],
            reservation__status=Status.CONFIRMED,
            reservation__slot__starts_at__lt=slot.ends_at,
            reservation__slot__ends_at__gt=slot.starts_at,
        )
        & hosted_here
        & ~Q(reservation=reservation)
    )


def _check_host_free_at_zoom(reservation: Reservation, provider: ZoomProvider, host: str) -> None:
    """Refuse a time when the host has a meeting at Zoom that this system did not make
    (scheduled by hand in Zoom's portal, or left from a data error)."""
    slot = reservation.slot
    overlapping = [
        m
        for m in provider.scheduled(host=host)
        if m.start_time is not None
        and reservation.reference not in m.topic
        and m.start_time < slot.ends_at
        and slot.starts_at < m.start_time + timedelta(minutes=m.minutes or 0)
    ]
    if not overlapping:
        return
    ours = set(
        ZoomMeeting.objects.filter(meeting_id__in=[m.meeting_id for m in overlapping]).values_list(
            "meeting_id", flat=True
        )
    )
    foreign = [m for m in overlapping if m.meeting_id not in ours]
    if foreign:
        raise MeetingHostBusy(
            _(
                "主催する Zoom ユーザーには、この時間と重なる会議（会議ID %(meeting_id)s）が"
                "すでにあります。Zoom で削除するか、担当の相談員を変えてください。"
            )
            % {"meeting_id": foreign[0].meeting_id}
        )


def _deferral(host: str, calls: int, now: datetime) -> MeetingDeferred | None:
    """The wait for the host's next day once `calls` have spent its budget, else None."""
    limit = settings.ZOOM_HOST_DAILY_LIMIT
    if calls < limit:
        return None
    resume = _next_zoom_day(now)
    return MeetingDeferred(
        _(
            "主催する Zoom ユーザーの本日（UTC）の会議の作成・変更が上限の %(limit)s 回に"
            "達しました。%(when)s（日本時間）以降に自動で続けます。"
        )
        % {"limit": limit, "when": f"{resume.astimezone(TOKYO):%Y-%m-%d %H:%M}"},
        retry_after=max((resume - now).total_seconds(), 1.0),
    )


def _check_budget(host: str, now: datetime) -> None:
    """Refuse early, without a lock or a call to Zoom, once the host's day is spent."""
    calls = (
        ZoomHostUsage.objects.filter(host=host, day=now.astimezone(UTC).date())
        .values_list("calls", flat=True)
        .first()
    )
    deferral = _deferral(host, calls or 0, now)
    if deferral is not None:
        raise deferral


def _claim_in_transaction(reservation: Reservation, host: str, now: datetime) -> None:
    """Take one of the host's create/update calls for today, or refuse (rule 13).

    The host's usage row is locked, so two workers neither overspend the day nor both
    schedule the host twice at one time: the overlap check and the count happen under it.
    """
    day = now.astimezone(UTC).date()
    usage, _created = ZoomHostUsage.objects.get_or_create(host=host, day=day)
    usage = ZoomHostUsage.objects.select_for_update().get(pk=usage.pk)
    if reservation.counselor_id is not None:
        # A counselor takes one session at a time, and so does their Zoom user. Bookings
        # without a counselor keep sharing ZOOM_HOST_USER as the office's capacity allows.
        other = (
            ZoomMeeting.objects.filter(_overlapping_meetings(reservation, host))
            .select_related("reservation")
            .first()
        )
        if other is not None:
            raise MeetingHostBusy(
                _(
                    "主催する Zoom ユーザーは、同じ時間に別の予約（%(reference)s）の会議を"
                    "主催します。どちらかの担当の相談員を変えてください。"
                )
                % {"reference": other.reservation.reference}
            )
    deferral = _deferral(host, usage.calls, now)
    if deferral is not None:
        raise deferral
    ZoomHostUsage.objects.filter(pk=usage.pk).update(calls=F("calls") + 1)


def _claim(reservation: Reservation, provider: ZoomProvider, now: datetime, *, host: str) -> None:
    """Make sure the host is free at the booking's time and may still be asked today."""
    _check_budget(host, now)
    if reservation.counselor_id is not None:
        _check_host_free_at_zoom(reservation, provider, host)  # I/O: before any lock
    with transaction.atomic():
        _claim_in_transaction(reservation, host, now)


def _create(
    reservation: Reservation, provider: ZoomProvider, now: datetime, *, host: str
) -> tuple[ZoomMeeting, Meeting]:
    start = reservation.slot.starts_at
    _check_budget(host, now)
    if reservation.counselor_id is not None:
        _check_host_free_at_zoom(reservation, provider, host)  # I/O: before any lock
    try:
        with transaction.atomic():
            _claim_in_transaction(reservation, host, now)
            record = ZoomMeeting.objects.create(
                reservation=reservation,
                state=ZoomMeetingState.CREATING,
                host=host,
                start_time=start,
                requested_at=now,
            )
            # Asked after the insert: a creation that finished since this sync looked (its
            # record no longer unsettled, so the insert passed) is seen now, never repeated.
            if (
                reservation.zoom_meetings.filter(host=host, state=ZoomMeetingState.ACTIVE)
                .exclude(pk=record.pk)
                .exists()
            ):
                raise MeetingBusy(_("別の処理が Zoom の会議を作成中です。"), retry_after=1)
    except IntegrityError:
        raise MeetingBusy(_("別の処理が Zoom の会議を作成中です。"), retry_after=5) from None
    # The record is committed before the request: if this process dies while waiting for
    # Zoom, the next attempt knows to look for the meeting before making another.
    try:
        meeting = provider.create(
            topic=meeting_topic(reservation),
            start=start,
            minutes=reservation.office.slot_minutes,
            passcode=new_passcode(),
            host=host,
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
        link_changed = (
            meeting is not None
            and bool(reservation.meeting_join_url)
            and meeting.join_url != reservation.meeting_join_url
        )
        if meeting is not None:
            reservation.meeting_id = meeting.meeting_id
            reservation.meeting_join_url = meeting.join_url
            reservation.meeting_passcode = meeting.passcode
        reservation.meeting_state = MeetingState.READY
        reservation.meeting_error = ""
        reservation.meeting_problem = MeetingProblem.NONE
        reservation.save(
            update_fields=[
                "meeting_id",
                "meeting_join_url",
                "meeting_passcode",
                "meeting_state",
                "meeting_error",
                "meeting_problem",
                "updated_at",
            ]
        )
        if not was_ready:
            # Rule 13: the "confirmed" email goes out only now, with a working link.
            outbox.email_enqueue(reservation=reservation, kind=EmailKind.CONFIRMED)
        elif link_changed:
            # A new host made a new meeting: the link the seeker has would lead nowhere. The
            # change and its email commit together, so a retried sync never sends it twice.
            outbox.email_enqueue(reservation=reservation, kind=EmailKind.MEETING_CHANGED)


def _mark_failed(reservation_id: int, exc: MeetingError) -> None:
    with transaction.atomic():
        reservation = _lock(reservation_id)
        if reservation.status != Status.CONFIRMED:
            return
        if reservation.meeting_state != MeetingState.READY:
            # Work waiting for the host's next day has not failed: it is still to come.
            reservation.meeting_state = (
                MeetingState.PENDING if exc.deferred else MeetingState.FAILED
            )
        # With a working link (a move that failed), the link stays and staff see why.
        reservation.meeting_error = exc.message[:500]
        reservation.meeting_problem = exc.problem
        reservation.save(
            update_fields=["meeting_state", "meeting_error", "meeting_problem", "updated_at"]
        )


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
        reservation.meeting_problem = MeetingProblem.NONE
        reservation.save(
            update_fields=[
                "meeting_state",
                "meeting_id",
                "meeting_join_url",
                "meeting_passcode",
                "meeting_error",
                "meeting_problem",
                "updated_at",
            ]
        )
