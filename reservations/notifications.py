"""What follows a change to a booking: emails to the seeker and work on the meeting.

`reservation_changed` is called by every service inside its transaction, right after the
change is recorded. It enqueues tasks (rows in the same database, so the enqueue commits or
rolls back with the change) and never does I/O itself. The tasks then send each email once
(`email_send`) and keep the Zoom meeting in line (`meetings.sync.meeting_sync`).
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, time, timedelta
from email.utils import make_msgid
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reservations import rules, tasks
from reservations.models import (
    ActorKind,
    EmailKind,
    EmailStatus,
    EventKind,
    MeetingState,
    OutgoingEmail,
    Platform,
    Reservation,
    ReservationEvent,
)
from reservations.rules import Status

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)

# The day-before reminder goes out from this time (Tokyo) on the calendar day before.
REMINDER_TIME = time(10)
# Emails whose content includes the session's link get the calendar file too.
_WITH_CALENDAR = frozenset({EmailKind.CONFIRMED, EmailKind.REMINDER, EmailKind.MOVED})


class EmailDeliveryError(Exception):
    """The mail server did not take the message; `message` names no person."""

    retry_after: float | None = None

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class EmailBusy(EmailDeliveryError):
    """Another worker may be sending this very email right now."""


class EmailRejected(EmailDeliveryError):
    """The mail server refused the message for good (SMTP 5xx): retrying cannot help."""

    permanent = True


class EmailResendRefused(Exception):
    """Staff asked to resend an email that is sent, on its way or no longer wanted."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def booking_url(reservation: Reservation) -> str:
    """The seeker's private page, absolute (emails are read outside the site)."""
    return f"{settings.SITE_URL}/r/{reservation.token}/"


def _message_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "localhost"


def enqueue_email(*, reservation: Reservation, kind: str, context: dict | None = None) -> None:
    """Queue an email to the seeker in the caller's transaction; it is sent once, retried.

    Rendered at send time from `templates/emails/<kind>.subject.txt`, `<kind>.txt` and
    `<kind>.html` in the booking's language, with `reservation`, `office`, `site_url`,
    `booking_url` and `context` (JSON-serialisable strings).
    """
    email = OutgoingEmail.objects.create(
        reservation=reservation,
        kind=kind,
        context=context or {},
        message_id=make_msgid(idstring=kind.replace("_", "-"), domain=_message_domain()),
        language=reservation.language or settings.LANGUAGE_CODE,
    )
    tasks.enqueue(tasks.send_email, email_id=email.pk)


def _enqueue_meeting_sync(reservation: Reservation) -> None:
    tasks.enqueue(tasks.sync_meeting, reservation_id=reservation.pk)


def reservation_changed(*, reservation: Reservation, event: ReservationEvent) -> None:
    """Enqueue the mail and meeting work that `event` calls for, in the caller's transaction."""
    is_zoom = reservation.platform == Platform.ZOOM
    if event.kind == EventKind.MOVED:
        enqueue_email(reservation=reservation, kind=EmailKind.MOVED, context={"event": event.pk})
        if is_zoom and reservation.status == Status.CONFIRMED:
            _enqueue_meeting_sync(reservation)
        return
    if event.kind == EventKind.NOTE:
        if event.details.get("action") == "meeting_retry" and is_zoom:
            _enqueue_meeting_sync(reservation)
        return
    target = event.to_status
    if target == Status.REQUESTED:
        enqueue_email(reservation=reservation, kind=EmailKind.REQUEST_RECEIVED)
    elif target == Status.CONFIRMED:
        if is_zoom:
            # Rule 13: the email waits for the meeting; the sync enqueues it with the link.
            _enqueue_meeting_sync(reservation)
        else:
            enqueue_email(reservation=reservation, kind=EmailKind.CONFIRMED)
    elif target == Status.CANCELLED:
        enqueue_email(
            reservation=reservation, kind=EmailKind.CANCELLED, context={"event": event.pk}
        )
        if is_zoom and event.from_status == Status.CONFIRMED:
            _enqueue_meeting_sync(reservation)
    elif target == Status.EXPIRED:
        enqueue_email(reservation=reservation, kind=EmailKind.EXPIRED)
    elif target == Status.REJECTED:
        enqueue_email(reservation=reservation, kind=EmailKind.REJECTED, context={"event": event.pk})
    elif target == Status.NO_SHOW:
        enqueue_email(reservation=reservation, kind=EmailKind.NO_SHOW)


# --- Rendering ---------------------------------------------------------------------------


def _event(email: OutgoingEmail) -> ReservationEvent | None:
    event_id = email.context.get("event")
    if not event_id:
        return None
    return ReservationEvent.objects.filter(pk=event_id, reservation_id=email.reservation_id).first()


def email_context(email: OutgoingEmail) -> dict:
    """What the templates of `email` see."""
    reservation = email.reservation
    event = _event(email)
    context: dict = {
        "reservation": reservation,
        "office": reservation.office,
        "site_url": settings.SITE_URL,
        "booking_url": booking_url(reservation),
        "starts_at": reservation.slot.starts_at,
        "ends_at": reservation.slot.ends_at,
        "is_zoom": reservation.platform == Platform.ZOOM,
        "meeting_ready": reservation.meeting_state == MeetingState.READY
        and bool(reservation.meeting_join_url),
        "event": event,
        "by_staff": event is not None and event.actor_kind == ActorKind.STAFF,
        "reason": event.reason if event is not None else "",
        "previous_start": None,
        "no_show_grace_minutes": int(rules.NO_SHOW_GRACE.total_seconds() // 60),
    }
    if event is not None and event.kind == EventKind.MOVED and event.details.get("from"):
        context["previous_start"] = datetime.fromisoformat(event.details["from"])
    context.update({k: v for k, v in email.context.items() if k != "event"})
    return context


def render_email(email: OutgoingEmail) -> EmailMessage:
    """The message for `email`, in the seeker's language, with the .ics where it helps."""
    from reservations.calendar import reservation_ics

    reservation = email.reservation
    language = reservation.language or settings.LANGUAGE_CODE
    with translation.override(language):
        context = email_context(email)
        subject = " ".join(render_to_string(f"emails/{email.kind}.subject.txt", context).split())
        text = render_to_string(f"emails/{email.kind}.txt", context)
        html = render_to_string(f"emails/{email.kind}.html", context)
    office = reservation.office
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[reservation.email],
        reply_to=[office.email] if office.email else None,
        headers={"Message-ID": email.message_id, "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    if (
        email.kind in _WITH_CALENDAR
        and reservation.status == Status.CONFIRMED
        and context["meeting_ready"]
    ):
        message.attach(
            f"hellowork-{reservation.reference}.ics",
            reservation_ics(reservation).decode("utf-8"),
            "text/calendar",
        )
    return message


# --- Sending -----------------------------------------------------------------------------


def _still_wanted(email: OutgoingEmail, reservation: Reservation, now: datetime) -> bool:
    """Whether the email still makes sense: a link for a cancelled booking does not."""
    if reservation.anonymized_at is not None:
        return False
    if email.kind == EmailKind.CONFIRMED:
        return (
            reservation.status == Status.CONFIRMED
            and reservation.meeting_state == MeetingState.READY
            and now < reservation.slot.ends_at
        )
    if email.kind == EmailKind.REMINDER:
        return reservation.status == Status.CONFIRMED and now < reservation.slot.starts_at
    if email.kind == EmailKind.MOVED:
        return reservation.is_active and now < reservation.slot.ends_at
    if email.kind == EmailKind.TERMS_CHANGED:
        # Art. 13 notice concerns the coming session only.
        return reservation.is_active and now < reservation.slot.starts_at
    if email.kind == EmailKind.BOOKING_LINK:
        # The link is for seeing or cancelling a coming session; after that it helps no one.
        return reservation.is_active and now < reservation.slot.starts_at
    return True


def _safe_error(exc: BaseException) -> str:
    """What went wrong, without the addresses SMTP errors carry."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _msg in exc.recipients.values()})
        return f"SMTPRecipientsRefused {','.join(codes)}"
    return type(exc).__name__


def refused_for_good(exc: BaseException) -> bool:
    """Whether the mail server refused this message permanently (a 5xx for it, RFC 5321).

    Anything else (no connection, a timeout, a 4xx, a login or server fault) is an outage
    and only delays the email.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _msg in exc.recipients.values()]
        return bool(codes) and all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPDataError):
        return 500 <= exc.smtp_code < 600
    return False


# At-least-once, with the window for a repeat made small: a message the mail server took
# (its 250 arrived) whose "sent" could not be written, because the database went away in
# between, is remembered by this worker (email id → Message-ID) and recorded on recovery
# instead of being sent again. Only a worker killed in that moment, or a 250 lost on the
# way back, can still make a message arrive twice (README, "Mail delivery guarantee").
_accepted_unrecorded: dict[int, str] = {}


def emails_record_accepted(*, now: datetime | None = None) -> int:
    """Record as sent the messages this worker saw accepted during a database outage."""
    for email_id, message_id in list(_accepted_unrecorded.items()):
        OutgoingEmail.objects.filter(pk=email_id, message_id=message_id).exclude(
            status=EmailStatus.SENT
        ).update(status=EmailStatus.SENT, sent_at=now or timezone.now(), last_error="")
        _accepted_unrecorded.pop(email_id, None)
        logger.info("email %s recorded as sent after an outage", email_id)
    return len(_accepted_unrecorded)


def email_send(*, email_id: int, attempt: int = 1, now: datetime | None = None) -> str:
    """Send one queued email, once: a sent or obsolete email is never sent again."""
    now = now or timezone.now()
    with transaction.atomic():
        email = (
            OutgoingEmail.objects.select_for_update(of=("self",))
            .select_related("reservation__slot", "reservation__office")
            .filter(pk=email_id)
            .first()
        )
        if email is None:
            return "gone"
        if email.status in (EmailStatus.SENT, EmailStatus.SKIPPED):
            return email.status
        if _accepted_unrecorded.get(email.pk) == email.message_id:
            # Accepted by the mail server before the outage: record it, never send again.
            _accepted_unrecorded.pop(email.pk)
            email.status = EmailStatus.SENT
            email.sent_at = now
            email.save(update_fields=["status", "sent_at"])
            return email.status
        if not _still_wanted(email, email.reservation, now):
            email.status = EmailStatus.SKIPPED
            email.save(update_fields=["status"])
            return email.status
        # An attempt still within its lease belongs to a live worker: wait for it to end.
        lease_end = (email.last_attempt_at or now) + timedelta(seconds=settings.TASK_LEASE_SECONDS)
        if email.status == EmailStatus.SENDING and now < lease_end:
            raise EmailBusy(
                _("別の処理がこのメールを送信中です。"),
                retry_after=(lease_end - now).total_seconds() + 1,
            )
        email.status = EmailStatus.SENDING
        email.attempts += 1
        email.last_attempt_at = now
        email.save(update_fields=["status", "attempts", "last_attempt_at"])
    # No lock is held while talking to the mail server (EMAIL_TIMEOUT bounds it).
    try:
        message = render_email(email)
        message.send(using="default")
    except Exception as exc:
        error = _safe_error(exc)
        permanent = refused_for_good(exc)
        # DESIGN: an outage delays an email, never loses it; only a refusal for good stops,
        # left failed for staff to see and resend (`email_resend`).
        OutgoingEmail.objects.filter(pk=email.pk).update(
            status=EmailStatus.FAILED if permanent else EmailStatus.RETRYING, last_error=error
        )
        logger.warning(
            "email %s (%s) of booking %s not sent, attempt %d: %s",
            email.pk,
            email.kind,
            email.reservation.reference,
            attempt,
            error,
        )
        if permanent:
            raise EmailRejected(error) from None
        if isinstance(exc, (OSError, smtplib.SMTPException)):
            raise EmailDeliveryError(error) from None
        raise
    try:
        OutgoingEmail.objects.filter(pk=email.pk).update(
            status=EmailStatus.SENT,
            sent_at=timezone.now(),
            subject=str(message.subject)[:255],
            last_error="",
        )
    except (OperationalError, InterfaceError):
        _accepted_unrecorded[email.pk] = email.message_id
        raise
    logger.info(
        "email %s (%s) of booking %s sent", email.pk, email.kind, email.reservation.reference
    )
    return EmailStatus.SENT


def email_resend(
    *, email: OutgoingEmail, actor: AbstractBaseUser | None, now: datetime | None = None
) -> OutgoingEmail:
    """Staff send a failed email again: queued once more, never one already sent."""
    now = now or timezone.now()
    with transaction.atomic():
        email = (
            OutgoingEmail.objects.select_for_update(of=("self",))
            .select_related("reservation__slot")
            .get(pk=email.pk)
        )
        if email.status not in (EmailStatus.FAILED, EmailStatus.RETRYING):
            raise EmailResendRefused(
                _("再送できるのは、送信に失敗したメールと再送待ちのメールだけです。")
            )
        if not _still_wanted(email, email.reservation, now):
            raise EmailResendRefused(
                _("予約の状況が変わったため、このメールはもう送る必要がありません。")
            )
        email.status = EmailStatus.RETRYING
        email.save(update_fields=["status"])
        # Who asked, in the booking's history (append-only, like every other change).
        ReservationEvent.objects.create(
            reservation=email.reservation,
            kind=EventKind.NOTE,
            from_status=email.reservation.status,
            to_status=email.reservation.status,
            at=now,
            actor=actor if actor is not None and actor.is_authenticated else None,
            actor_kind=ActorKind.STAFF,
            reason=_("メールの再送を依頼しました。"),
            details={"action": "email_resend", "email": email.pk, "kind": email.kind},
        )
        tasks.enqueue(tasks.send_email, email_id=email.pk)
    logger.info(
        "email %s (%s) of booking %s queued again by staff",
        email.pk,
        email.kind,
        email.reservation.reference,
    )
    return email


def emails_requeue(*, now: datetime | None = None) -> int:
    """Queue again every unsent email whose task is gone (lost, or given up); idempotent.

    The retries of one task chain are not the only guarantee: whatever happened to the
    queue, an email that is not sent, skipped or refused for good gets a task here.
    """
    now = now or timezone.now()
    # A lease's grace for new and in-flight emails: their own task or worker has them.
    grace = now - timedelta(seconds=settings.TASK_LEASE_SECONDS)
    unsent = OutgoingEmail.objects.filter(
        Q(status=EmailStatus.RETRYING)
        | Q(status=EmailStatus.QUEUED, created_at__lt=grace)
        | Q(status=EmailStatus.SENDING, last_attempt_at__lt=grace)
    ).values_list("pk", flat=True)
    due = set(unsent) - tasks.queued_email_ids()
    for email_id in sorted(due):
        tasks.enqueue(tasks.send_email, email_id=email_id)
    if due:
        logger.warning("%d unsent emails had no task; queued again", len(due))
    return len(due)


# --- The day-before reminder -------------------------------------------------------------


def reminder_due_at(slot_start: datetime) -> datetime:
    """When the reminder of a session may go out: the day before, from REMINDER_TIME."""
    day_before = slot_start.astimezone(rules.TOKYO).date() - timedelta(days=1)
    return datetime.combine(day_before, REMINDER_TIME, tzinfo=rules.TOKYO)


def reminder_due(slot_start: datetime, confirmed_at: datetime | None, now: datetime) -> bool:
    """Whether a confirmed session should get its reminder now.

    Not once it has started, and not when the confirmation itself came after the reminder
    time (that email has just told the seeker everything).
    """
    due_at = reminder_due_at(slot_start)
    if not (due_at <= now < slot_start):
        return False
    return confirmed_at is None or confirmed_at < due_at


def reminders_send(*, now: datetime | None = None) -> int:
    """Queue the day-before reminder of every confirmed booking due one (idempotent)."""
    now = now or timezone.now()
    candidates = Reservation.objects.filter(
        status=Status.CONFIRMED,
        reminder_sent_at__isnull=True,
        meeting_state=MeetingState.READY,
        slot__starts_at__gt=now,
        slot__starts_at__lte=now + timedelta(days=2),
    ).select_related("slot")
    queued = 0
    for candidate in candidates:
        if not reminder_due(candidate.slot.starts_at, candidate.confirmed_at, now):
            continue
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(of=("self",))
                .select_related("slot", "office")
                .get(pk=candidate.pk)
            )
            # Re-checked under the lock: two workers never both send it.
            if (
                reservation.status != Status.CONFIRMED
                or reservation.reminder_sent_at is not None
                or reservation.meeting_state != MeetingState.READY
                or not reminder_due(reservation.slot.starts_at, reservation.confirmed_at, now)
            ):
                continue
            reservation.reminder_sent_at = now
            reservation.save(update_fields=["reminder_sent_at", "updated_at"])
            enqueue_email(reservation=reservation, kind=EmailKind.REMINDER)
            queued += 1
    return queued
