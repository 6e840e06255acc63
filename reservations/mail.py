"""Email to seekers: what a queued email says, and sending it once.

An email is a row (`OutgoingEmail`) written by `outbox.email_enqueue` in the transaction of
the change it tells about; the queue's `tasks.send_email` then calls `email_send`, which
renders the message in the booking's language at send time and hands it to the mail server.
This module neither queues nor changes bookings: it reads them and sends.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import InterfaceError, OperationalError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from reservations import rules
from reservations.errors import WorkError
from reservations.ics import reservation_ics
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
    WaitlistEntry,
)
from reservations.rules import Status

if TYPE_CHECKING:
    from django.core.mail import EmailMessage

logger = logging.getLogger(__name__)

# Emails whose content includes the session's link get the calendar file too.
_WITH_CALENDAR = frozenset(
    {EmailKind.CONFIRMED, EmailKind.REMINDER, EmailKind.MOVED, EmailKind.MEETING_CHANGED}
)


class EmailDeliveryError(WorkError):
    """The mail server did not take the message; `message` names no person."""


class EmailBusy(EmailDeliveryError):
    """Another worker may be sending this very email right now."""


class EmailRejected(EmailDeliveryError):
    """The mail server refused the message for good (SMTP 5xx): retrying cannot help."""

    permanent = True


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
        # The office's own home, /o/<slug>/ (it stays right when more offices join).
        "office_home_url": settings.SITE_URL + reservation.office.link_path("reservations:home"),
        "booking_url": reservation.private_url,
        "starts_at": reservation.slot.starts_at,
        "ends_at": reservation.slot.ends_at,
        "is_zoom": reservation.platform == Platform.ZOOM,
        "meeting_ready": reservation.meeting_link_ready,
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


def about(email: OutgoingEmail) -> str:
    """What an email is about, for the logs: a booking reference or an entry's id."""
    if email.reservation is not None:
        return f"booking {email.reservation.reference}"
    return f"waitlist entry {email.waitlist_entry_id}"


def waitlist_email_context(email: OutgoingEmail) -> dict:
    """What the templates of a waiting-list email see (rule 16)."""
    entry = email.waitlist_entry
    office = entry.office
    return {
        "entry": entry,
        "office": office,
        "site_url": settings.SITE_URL,
        "office_home_url": settings.SITE_URL + office.link_path("reservations:home"),
        "week_url": settings.SITE_URL + office.link_path("reservations:week"),
        "claim_url": entry.private_url,
        "leave_url": entry.leave_url,
        "starts_at": entry.slot.starts_at,
        "ends_at": entry.slot.ends_at,
        "offer_expires_at": entry.offer_expires_at,
        **email.context,
    }


def _render_waitlist_email(email: OutgoingEmail) -> EmailMessage:
    entry = email.waitlist_entry
    with translation.override(entry.language or settings.LANGUAGE_CODE):
        context = waitlist_email_context(email)
        subject = " ".join(render_to_string(f"emails/{email.kind}.subject.txt", context).split())
        text = render_to_string(f"emails/{email.kind}.txt", context)
        html = render_to_string(f"emails/{email.kind}.html", context)
    office = entry.office
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        to=[entry.email],
        reply_to=[office.email] if office.email else None,
        headers={"Message-ID": email.message_id, "Auto-Submitted": "auto-generated"},
    )
    message.attach_alternative(html, "text/html")
    return message


def render_email(email: OutgoingEmail) -> EmailMessage:
    """The message for `email`, in the seeker's language, with the .ics where it helps."""
    if email.reservation is None:
        return _render_waitlist_email(email)
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


def _waitlist_email_still_wanted(email: OutgoingEmail, entry: WaitlistEntry, now: datetime) -> bool:
    if entry.anonymized_at is not None:
        return False
    if email.kind == EmailKind.WAITLIST_OFFER:
        # An offer no longer held helps no one; its expiry has its own email.
        return rules.is_offer_live(entry.status, entry.offer_expires_at, now)
    if email.kind == EmailKind.WAITLIST_JOINED:
        return entry.is_open
    return True


def email_still_wanted(
    email: OutgoingEmail, reservation: Reservation | None, now: datetime
) -> bool:
    """Whether the email still makes sense: a link for a cancelled booking does not."""
    if reservation is None:
        return _waitlist_email_still_wanted(email, email.waitlist_entry, now)
    if reservation.anonymized_at is not None:
        return False
    if email.kind in (EmailKind.CONFIRMED, EmailKind.MEETING_CHANGED):
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
            .select_related(
                "reservation__slot",
                "reservation__office",
                "waitlist_entry__slot",
                "waitlist_entry__office",
            )
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
        if not email_still_wanted(email, email.reservation, now):
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
        # An outage delays an email, never loses it (docs/architecture.md); only a refusal
        # for good stops, left failed for staff to see and resend (`services.email_resend`).
        OutgoingEmail.objects.filter(pk=email.pk).update(
            status=EmailStatus.FAILED if permanent else EmailStatus.RETRYING, last_error=error
        )
        logger.warning(
            "email %s (%s) of %s not sent, attempt %d: %s",
            email.pk,
            email.kind,
            about(email),
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
    logger.info("email %s (%s) of %s sent", email.pk, email.kind, about(email))
    return EmailStatus.SENT
