"""One function per business action on bookings. Views, admin, commands and tasks call these.

Each service runs in one transaction, locks what it is about to change (in one fixed order
everywhere: person, then booking, then slot), re-checks the rules after the lock, writes,
records an
event, and enqueues the follow-up work (mail, Zoom) in the same transaction through
the outbox (`_follow_up`), so the work is neither lost nor sent for a change
that rolled back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from consent.services import ConsentGiven, consent_anonymize, consent_record, terms_adopt
from reservations import mail, outbox, rules, selectors, tasks
from reservations.errors import (
    EmailResendRefused,
    LimitReached,
    OfferNotAvailable,
    ReservationError,
    Restricted,
    SlotFull,
    TransitionNotAllowed,
)
from reservations.meetings.sync import meeting_start_url, meeting_sync_enqueue
from reservations.models import (
    ActorKind,
    CapacityOverride,
    Closure,
    Companion,
    EmailKind,
    EmailStatus,
    EventKind,
    MeetingState,
    Office,
    OutgoingEmail,
    Platform,
    Reservation,
    ReservationEvent,
    Restriction,
    RestrictionSource,
    SeekerLock,
    SessionWindow,
    Slot,
    WaitlistEntry,
)
from reservations.rules import Status, WaitlistStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import QuerySet

    from consent.models import TermsVersion

logger = logging.getLogger(__name__)


def _refusal_message(refusal: rules.RequestRefusal) -> str:
    return {
        rules.RequestRefusal.CLOSED: _("この日は相談を行っていません。別の日を選んでください。"),
        rules.RequestRefusal.NOT_A_SLOT: _("選ばれた日時は相談の枠ではありません。"),
        rules.RequestRefusal.PAST_CUTOFF: _(
            "この日時の申込みは締め切りました（前の開庁日の受付終了まで）。別の日時を選んでください。"
        ),
        rules.RequestRefusal.BEYOND_HORIZON: _("この日時はまだ予約を受け付けていません。"),
    }[refusal]


def _record(
    reservation: Reservation,
    *,
    kind: str,
    from_status: str,
    to_status: str,
    now: datetime,
    actor: AbstractBaseUser | None,
    actor_kind: str,
    reason: str = "",
    details: dict | None = None,
) -> ReservationEvent:
    event = ReservationEvent.objects.create(
        reservation=reservation,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        at=now,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_kind=actor_kind,
        reason=reason,
        details=details or {},
    )
    # Same transaction: mail and Zoom work are enqueued only if this change commits.
    _follow_up(reservation, event)
    _availability_changed(reservation.office_id)
    return event


def _availability_changed(office_id: int) -> None:
    """The office's cached availability is stale: now, for later reads in this transaction
    (and in tests, whose transaction never commits), and again once it commits, so that no
    read in between keeps what it is about to change."""
    selectors.availability_changed(office_id)
    transaction.on_commit(lambda: selectors.availability_changed(office_id))


def _follow_up(reservation: Reservation, event: ReservationEvent) -> None:
    """Enqueue the mail and meeting work that `event` calls for, in the caller's transaction."""
    is_zoom = reservation.platform == Platform.ZOOM
    if event.kind == EventKind.MOVED:
        outbox.email_enqueue(
            reservation=reservation, kind=EmailKind.MOVED, context={"event": event.pk}
        )
        if is_zoom and reservation.status == Status.CONFIRMED:
            meeting_sync_enqueue(reservation)
        return
    if event.kind == EventKind.NOTE:
        if event.details.get("action") == "meeting_retry" and is_zoom:
            meeting_sync_enqueue(reservation)
        return
    target = event.to_status
    if target == Status.REQUESTED:
        outbox.email_enqueue(reservation=reservation, kind=EmailKind.REQUEST_RECEIVED)
    elif target == Status.CONFIRMED:
        if is_zoom:
            # Rule 13: the email waits for the meeting; the sync enqueues it with the link.
            meeting_sync_enqueue(reservation)
        else:
            outbox.email_enqueue(reservation=reservation, kind=EmailKind.CONFIRMED)
    elif target == Status.CANCELLED:
        outbox.email_enqueue(
            reservation=reservation, kind=EmailKind.CANCELLED, context={"event": event.pk}
        )
        if is_zoom and event.from_status == Status.CONFIRMED:
            meeting_sync_enqueue(reservation)
    elif target == Status.EXPIRED:
        outbox.email_enqueue(reservation=reservation, kind=EmailKind.EXPIRED)
    elif target == Status.REJECTED:
        outbox.email_enqueue(
            reservation=reservation, kind=EmailKind.REJECTED, context={"event": event.pk}
        )
    elif target == Status.NO_SHOW:
        outbox.email_enqueue(reservation=reservation, kind=EmailKind.NO_SHOW)


def _lock_slot(office: Office, slot: rules.Slot) -> Slot:
    """The slot's row, made if it is the first booking, and locked: one query.

    An insert that meets the row already there updates it to itself, which locks it until
    the transaction ends, as SELECT … FOR UPDATE would.
    """
    (row,) = Slot.objects.bulk_create(
        [Slot(office=office, starts_at=slot.start, ends_at=slot.end)],
        update_conflicts=True,
        unique_fields=["office", "starts_at"],
        update_fields=["starts_at"],
    )
    return row


def _person_lock_keys(*, seeker_number: str, email: str) -> list[str]:
    # Keyed by an HMAC, so the lock table holds no 求職番号 or address (rule 15).
    return sorted(
        {
            salted_hmac("reservations.SeekerLock", key, algorithm="sha256").hexdigest()
            for key in rules.person_keys(seeker_number=seeker_number, email=email)
        }
    )


def _lock_person(*, seeker_number: str, email: str) -> None:
    """Lock every identity of a person (rule 8), always in the same order, a query each.

    An insert that meets the row already there updates it to itself, which locks it until
    the transaction ends, as SELECT … FOR UPDATE would. One statement per key, so that the
    order of the locks is the order of the keys.
    """
    for key in _person_lock_keys(seeker_number=seeker_number, email=email):
        SeekerLock.objects.bulk_create(
            [SeekerLock(key=key)],
            update_conflicts=True,
            unique_fields=["key"],
            update_fields=["key"],
        )


def _lock_reservation(reservation: Reservation) -> Reservation:
    locked = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("slot", "office")
        .get(pk=reservation.pk)
    )
    return locked


def _held(slot_row: Slot, *, own_offer: WaitlistEntry | None = None) -> int:
    """Places held in the locked slot: requested and confirmed bookings and live
    waiting-list offers (rule 4), but for `own_offer`, the place its claim takes. One query."""
    bookings = Reservation.objects.filter(slot=slot_row, status__in=rules.ACTIVE_STATUSES)
    offers = WaitlistEntry.objects.filter(slot=slot_row, status=WaitlistStatus.OFFERED)
    if own_offer is not None:
        offers = offers.exclude(pk=own_offer.pk)
    return (
        bookings.values("slot").order_by().union(offers.values("slot").order_by(), all=True).count()
    )


def _rules_for(office: Office, start: datetime) -> rules.OfficeRules:
    day = start.astimezone(rules.TOKYO).date()
    return selectors.office_rules(office, day, day)


def _check_transition(reservation: Reservation, target: str) -> None:
    if not rules.can_transition(reservation.status, target):
        raise TransitionNotAllowed(
            _("「%(current)s」の予約を「%(target)s」にすることはできません。")
            % {
                "current": Status(reservation.status).label,
                "target": Status(target).label,
            }
        )


def _create_with_unique_reference(**fields: object) -> Reservation:
    for _attempt in range(10):
        try:
            with transaction.atomic():
                return Reservation.objects.create(
                    reference=rules.new_reference(), token=rules.new_token(), **fields
                )
        except IntegrityError as exc:
            # Rule 8 backstop: the person lock makes this unreachable, but if it ever fires
            # the person hears the same polite refusal, not a server error.
            if "one_active_booking_per_person_per_slot" in str(exc):
                raise LimitReached(_("この日時はすでに申し込まれています。")) from exc
            if "reference" not in str(exc) and "token" not in str(exc):
                raise
    raise RuntimeError("could not draw a free booking reference")


def _field_lengths_error(values: dict[str, str]) -> ReservationError | None:
    """The first text field longer than its column, as an error naming the field."""
    for field_name, value in values.items():
        limit = Reservation._meta.get_field(field_name).max_length
        if limit is not None and len(value) > limit:
            return ReservationError(
                _("%(field)s は %(limit)s 文字以内で入力してください。")
                % {
                    "field": Reservation._meta.get_field(field_name).verbose_name,
                    "limit": limit,
                },
                code=field_name,
            )
    return None


def _validated_request_details(
    *,
    name: str,
    email: str,
    seeker_number: str,
    about_to_register: bool,
    phone: str,
    topic: str,
    companion: str,
    companion_language: str,
    platform: str,
    language: str,
) -> dict[str, object]:
    """The request's details, cleaned, or a ReservationError whose `code` names the field.

    Forms check the same things for the message next to the field; this is the last word,
    so that no caller can store a booking the rules (Art. 6(2), rule 7) refuse.
    """
    name = name.strip()
    email = email.strip()
    seeker_number = seeker_number.strip()
    if not name:
        raise ReservationError(_("氏名を入力してください。"), code="name")
    # Art. 2(1): a 求職番号, or the declaration of registering soon.
    if seeker_number:
        normalized = rules.normalize_seeker_number(seeker_number)
        if normalized is None:
            raise ReservationError(
                _("求職番号は「12345-1234567」の形で入力してください。"), code="seeker_number"
            )
        seeker_number = normalized
    elif not about_to_register:
        raise ReservationError(
            _("求職番号を入力するか、「これから求職登録をする」を選んでください。"),
            code="seeker_number",
        )
    if not email:
        raise ReservationError(_("メールアドレスを入力してください。"), code="email")
    try:
        validate_email(email)
    except ValidationError:
        raise ReservationError(
            _("メールアドレスを正しく入力してください（例: taro@example.jp）。"), code="email"
        ) from None
    if platform not in Platform.values:
        raise ReservationError(_("利用するアプリを選んでください。"), code="platform")
    if companion not in Companion.values:
        raise ReservationError(_("通訳者・介助者の同席を選び直してください。"), code="companion")
    if language not in {code for code, _label in settings.LANGUAGES}:
        raise ReservationError(_("連絡の言語を選び直してください。"), code="language")
    details: dict[str, str] = {
        "name": name,
        "email": email,
        "seeker_number": seeker_number,
        "phone": phone.strip(),
        "topic": topic.strip(),
        "companion": companion,
        # Art. 12(3): the language only means something when someone comes along.
        "companion_language": companion_language.strip() if companion else "",
    }
    error = _field_lengths_error(details)
    if error is not None:
        raise error
    return {
        **details,
        "about_to_register": about_to_register and not seeker_number,
        "platform": platform,
        "language": language,
    }


def reservation_request(
    *,
    office: Office,
    slot_start: datetime,
    name: str,
    email: str,
    seeker_number: str = "",
    about_to_register: bool = False,
    phone: str = "",
    topic: str = "",
    companion: str = "",
    companion_language: str = "",
    platform: str = Platform.ZOOM,
    language: str = "ja",
    consent: ConsentGiven,
    now: datetime | None = None,
) -> Reservation:
    """A seeker requests a slot (Art. 6(2)); the consent is recorded with it (Art. 6(3))."""
    return _request(
        office=office,
        slot_start=slot_start,
        name=name,
        email=email,
        seeker_number=seeker_number,
        about_to_register=about_to_register,
        phone=phone,
        topic=topic,
        companion=companion,
        companion_language=companion_language,
        platform=platform,
        language=language,
        consent=consent,
        now=now,
        offer=None,
    )


def _request(
    *,
    office: Office,
    slot_start: datetime,
    name: str,
    email: str,
    seeker_number: str = "",
    about_to_register: bool = False,
    phone: str = "",
    topic: str = "",
    companion: str = "",
    companion_language: str = "",
    platform: str = Platform.ZOOM,
    language: str = "ja",
    consent: ConsentGiven,
    now: datetime | None = None,
    offer: WaitlistEntry | None,
) -> Reservation:
    """`reservation_request`, or the claim of a waiting-list `offer`, whose own place the
    request then takes (rule 16): every other check is the same."""
    now = now or timezone.now()
    details = _validated_request_details(
        name=name,
        email=email,
        seeker_number=seeker_number,
        about_to_register=about_to_register,
        phone=phone,
        topic=topic,
        companion=companion,
        companion_language=companion_language,
        platform=platform,
        language=language,
    )
    seeker_number = str(details["seeker_number"])
    email = str(details["email"])

    office_rules = _rules_for(office, slot_start)
    refusal = rules.request_refusal(slot_start, now, office_rules)
    if refusal is not None:
        raise ReservationError(_refusal_message(refusal), code=refusal.value)
    slot = rules.find_slot(slot_start, office_rules)
    assert slot is not None  # request_refusal checked it  # noqa: S101
    key = rules.person_key(seeker_number=seeker_number, email=email)

    with transaction.atomic():
        _lock_person(seeker_number=seeker_number, email=email)
        slot_row = _lock_slot(office, slot)
        if offer is not None:
            # Lock order: person, slot, then the slot's waiting-list entries.
            offer = _lock_entry(offer)
            if offer.slot_id != slot_row.pk or not rules.is_offer_live(
                offer.status, offer.offer_expires_at, now
            ):
                raise OfferNotAvailable(_offer_gone_message())
        # Everything below is re-checked after the locks: no race can slip past it.
        if selectors.active_restriction(office, seeker_number=seeker_number, email=email, now=now):
            raise Restricted(
                _(
                    "申し訳ありませんが、オンラインでの予約をお受けできません。"
                    "お手数ですが %(phone)s までお電話ください。"
                )
                % {"phone": office.phone}
            )
        existing = list(
            selectors.active_bookings_of(office, seeker_number=seeker_number, email=email, now=now)
        )
        in_this_slot = next((r for r in existing if r.slot_id == slot_row.pk), None)
        if in_this_slot is not None:
            raise LimitReached(_("この日時はすでに申し込まれています。"), existing=in_this_slot)
        if len(existing) >= office.max_active_bookings:
            raise LimitReached(
                _(
                    "すでに有効な予約があります。新しく予約するには、"
                    "今の予約が終わるか、キャンセルしてからにしてください。"
                ),
                existing=existing[0],
            )
        if _held(slot_row, own_offer=offer) >= slot.capacity:
            raise SlotFull(_("この日時は、ほかの方の予約で埋まりました。"))

        reservation = _create_with_unique_reference(
            office=office,
            slot=slot_row,
            status=Status.REQUESTED,
            person_key=key,
            **details,
        )
        consent_record(reservation=reservation, given=consent, now=now)
        _record(
            reservation,
            kind=EventKind.STATUS,
            from_status="",
            to_status=Status.REQUESTED,
            now=now,
            # Art. 6(2): a counselor may take the next request during a session.
            actor=consent.recorded_by if consent.verbal else None,
            actor_kind=ActorKind.SEEKER if not consent.verbal else ActorKind.STAFF,
            details={"waitlist_entry": offer.pk} if offer is not None else None,
        )
        if offer is not None:
            offer.status = WaitlistStatus.CLAIMED
            offer.reservation = reservation
            offer.finished_at = now
            offer.save(update_fields=["status", "reservation", "finished_at"])
    return reservation


def _check_meeting_link(url: str, passcode: str) -> None:
    # The seeker opens this link from our email: only a web address, and one that fits.
    url_field = Reservation._meta.get_field("meeting_join_url")
    try:
        URLValidator(schemes=["https", "http"])(url)
    except ValidationError:
        raise ReservationError(
            _("会議のURLは https:// で始まる形で入力してください。"), code="meeting_url"
        ) from None
    if len(url) > url_field.max_length:
        raise ReservationError(
            _("会議のURLが長すぎます（%(limit)s 文字まで）。") % {"limit": url_field.max_length},
            code="meeting_url",
        )
    passcode_limit = Reservation._meta.get_field("meeting_passcode").max_length
    if len(passcode) > passcode_limit:
        raise ReservationError(
            _("パスコードが長すぎます（%(limit)s 文字まで）。") % {"limit": passcode_limit},
            code="meeting_passcode",
        )


def _reclaim_place(reservation: Reservation, *, now: datetime) -> None:
    """An expired request gave its place back: take it again only if it is still free."""
    office = reservation.office
    slot = rules.find_slot(
        reservation.slot.starts_at, _rules_for(office, reservation.slot.starts_at)
    )
    if slot is None:
        raise ReservationError(_("この日時は相談の枠ではなくなりました。"), code="not_a_slot")
    slot_row = _lock_slot(office, slot)
    # The person may have booked again since the request expired (rule 8).
    others = selectors.active_bookings_of(
        office, seeker_number=reservation.seeker_number, email=reservation.email, now=now
    ).exclude(pk=reservation.pk)
    if others.filter(slot=slot_row).exists():
        raise LimitReached(_("この方は同じ日時にすでに予約があります。"))
    if others.count() >= office.max_active_bookings:
        raise LimitReached(_("この方にはほかに有効な予約があるため、この申込みは確定できません。"))
    if _held(slot_row) >= slot.capacity:
        raise SlotFull(_("この日時は、ほかの方の予約で埋まっています。"))


def reservation_confirm(
    *,
    reservation: Reservation,
    actor: AbstractBaseUser | None,
    reason: str = "",
    meeting_url: str = "",
    meeting_passcode: str = "",
    now: datetime | None = None,
) -> Reservation:
    """Staff confirm a request (Art. 6(3)); Zoom meetings are then made by the queue.

    After the day-before deadline (rule 5) a reason is required, and a request the sweep
    already expired can still be confirmed if its place is free.
    """
    now = now or timezone.now()
    with transaction.atomic():
        current = Reservation.objects.values("status", "seeker_number", "email").get(
            pk=reservation.pk
        )
        if current["status"] == Status.EXPIRED:
            # Taking the place back checks the person's limit: person before booking.
            _lock_person(seeker_number=current["seeker_number"], email=current["email"])
        reservation = _lock_reservation(reservation)
        _check_transition(reservation, Status.CONFIRMED)
        if now >= reservation.slot.starts_at:
            raise ReservationError(_("開始時刻を過ぎた予約は確定できません。"), code="too_late")
        reason = reason.strip()
        if rules.is_late_confirmation(reservation.slot.starts_at, now) and not reason:
            raise ReservationError(
                _("前日までの確定期限を過ぎています。確定する理由を入力してください。"),
                code="late_needs_reason",
            )
        if reservation.status == Status.EXPIRED:
            _reclaim_place(reservation, now=now)
        if reservation.platform == Platform.TELEOFFICE:
            meeting_url = meeting_url.strip()
            meeting_passcode = meeting_passcode.strip()
            if not meeting_url:
                raise ReservationError(
                    _("TeleOffice の予約は、確定の際に会議のURLを入力してください。"),
                    code="meeting_url_required",
                )
            _check_meeting_link(meeting_url, meeting_passcode)
            reservation.meeting_join_url = meeting_url
            reservation.meeting_passcode = meeting_passcode
            reservation.meeting_state = MeetingState.READY
        else:
            reservation.meeting_state = MeetingState.PENDING
        reservation.meeting_error = ""
        previous = reservation.status
        reservation.status = Status.CONFIRMED
        reservation.confirmed_at = now
        reservation.save(
            update_fields=[
                "status",
                "confirmed_at",
                "meeting_state",
                "meeting_join_url",
                "meeting_passcode",
                "meeting_error",
                "updated_at",
            ]
        )
        _record(
            reservation,
            kind=EventKind.STATUS,
            from_status=previous,
            to_status=Status.CONFIRMED,
            now=now,
            actor=actor,
            actor_kind=ActorKind.STAFF,
            reason=reason,
            details={"late": rules.is_late_confirmation(reservation.slot.starts_at, now)},
        )
    return reservation


def _finish(
    reservation: Reservation,
    *,
    target: str,
    now: datetime,
    actor: AbstractBaseUser | None,
    actor_kind: str,
    reason: str = "",
    details: dict | None = None,
) -> Reservation:
    previous = reservation.status
    reservation.status = target
    reservation.save(update_fields=["status", "updated_at"])
    _record(
        reservation,
        kind=EventKind.STATUS,
        from_status=previous,
        to_status=target,
        now=now,
        actor=actor,
        actor_kind=actor_kind,
        reason=reason,
        details=details,
    )
    if rules.is_active(previous) and not rules.is_active(target):
        _place_freed(reservation.slot, now=now)
    return reservation


def reservation_reject(
    *,
    reservation: Reservation,
    actor: AbstractBaseUser | None,
    reason: str,
    now: datetime | None = None,
) -> Reservation:
    """Staff decline a request, with a reason the seeker is told (Art. 12(1))."""
    now = now or timezone.now()
    if not reason.strip():
        raise ReservationError(_("お断りする理由を入力してください。"), code="reason_required")
    with transaction.atomic():
        reservation = _lock_reservation(reservation)
        _check_transition(reservation, Status.REJECTED)
        return _finish(
            reservation,
            target=Status.REJECTED,
            now=now,
            actor=actor,
            actor_kind=ActorKind.STAFF,
            reason=reason.strip(),
        )


def reservation_cancel(
    *,
    reservation: Reservation,
    by: str,
    actor: AbstractBaseUser | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> Reservation:
    """Cancel a booking: online by the seeker before the start, or by staff after a call."""
    now = now or timezone.now()
    if by not in (ActorKind.SEEKER, ActorKind.STAFF):
        raise ValueError("by must be 'seeker' or 'staff'")
    if by == ActorKind.STAFF and not reason.strip():
        raise ReservationError(
            _("キャンセルの理由（電話連絡の内容など）を入力してください。"), code="reason_required"
        )
    with transaction.atomic():
        reservation = _lock_reservation(reservation)
        _check_transition(reservation, Status.CANCELLED)
        start = reservation.slot.starts_at
        allowed = (
            rules.can_seeker_cancel(start, now)
            if by == ActorKind.SEEKER
            else rules.can_staff_cancel(start, now)
        )
        if not allowed:
            raise ReservationError(
                _("開始時刻を過ぎたため、この予約はキャンセルできません。"), code="too_late"
            )
        return _finish(
            reservation,
            target=Status.CANCELLED,
            now=now,
            actor=actor,
            actor_kind=by,
            reason=reason.strip(),
        )


def reservation_mark_attended(
    *,
    reservation: Reservation,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
    source: str = "staff",
) -> Reservation:
    """Record that the session took place (by a counselor, or the Zoom webhook)."""
    now = now or timezone.now()
    with transaction.atomic():
        reservation = _lock_reservation(reservation)
        _check_transition(reservation, Status.ATTENDED)
        if not rules.can_mark_attended(reservation.slot.starts_at, now):
            raise ReservationError(
                _("相談の開始前に参加を記録することはできません。"), code="too_early"
            )
        return _finish(
            reservation,
            target=Status.ATTENDED,
            now=now,
            actor=actor,
            actor_kind=ActorKind.STAFF if actor is not None else ActorKind.SYSTEM,
            details={"source": source},
        )


def reservation_mark_no_show(
    *,
    reservation: Reservation,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Reservation:
    """A confirmed booking nobody attended counts as cancelled (Art. 6(4))."""
    now = now or timezone.now()
    with transaction.atomic():
        reservation = _lock_reservation(reservation)
        _check_transition(reservation, Status.NO_SHOW)
        start = reservation.slot.starts_at
        # Art. 6(4): only once ten minutes have passed without contact, for staff too.
        if not rules.can_mark_no_show(start, now):
            raise ReservationError(
                _("開始時刻から10分が過ぎるまでは、不参加として記録できません（第6条(4)）。"),
                code="too_early",
            )
        _finish(
            reservation,
            target=Status.NO_SHOW,
            now=now,
            actor=actor,
            actor_kind=ActorKind.STAFF if actor is not None else ActorKind.SYSTEM,
        )
        _apply_no_show_threshold(reservation, now=now)
    return reservation


def _apply_no_show_threshold(reservation: Reservation, *, now: datetime) -> Restriction | None:
    office = reservation.office
    if office.no_show_threshold <= 0:
        return None
    if selectors.active_restriction(
        office, seeker_number=reservation.seeker_number, email=reservation.email, now=now
    ):
        return None
    since = now - timedelta(days=office.no_show_window_days)
    # Rule 8: no-shows made with and without the 求職番号 are the same person's.
    person = selectors.same_person(seeker_number=reservation.seeker_number, email=reservation.email)
    times = list(
        Reservation.objects.filter(
            person,
            office=office,
            status=Status.NO_SHOW,
            slot__starts_at__gte=since,
        ).values_list("slot__starts_at", flat=True)
    )
    if not rules.no_show_threshold_reached(
        times, now, office.no_show_threshold, office.no_show_window_days
    ):
        return None
    return Restriction.objects.create(
        office=office,
        seeker_number=reservation.seeker_number,
        email=reservation.email.lower(),
        reason=_("%(days)s日以内に連絡のない不参加が%(count)s回ありました（第6条(4)）。")
        % {"days": office.no_show_window_days, "count": len(times)},
        source=RestrictionSource.NO_SHOW_THRESHOLD,
        starts_at=now,
    )


def reservation_move(
    *,
    reservation: Reservation,
    new_start: datetime,
    actor: AbstractBaseUser | None,
    reason: str = "",
    now: datetime | None = None,
) -> Reservation:
    """Staff move a requested or confirmed booking to another open slot; the seeker is told."""
    now = now or timezone.now()
    office = reservation.office
    office_rules = _rules_for(office, new_start)
    target = rules.find_slot(new_start, office_rules)
    if target is None:
        raise ReservationError(_("移動先は開いている相談枠から選んでください。"), code="not_a_slot")
    if target.start <= now:
        raise ReservationError(_("移動先には、これからの日時を選んでください。"), code="too_late")
    with transaction.atomic():
        reservation = _lock_reservation(reservation)
        if not rules.can_move(reservation.status):
            raise TransitionNotAllowed(
                _("「%(current)s」の予約は日時を変更できません。")
                % {"current": Status(reservation.status).label}
            )
        if reservation.slot.starts_at == target.start:
            raise ReservationError(_("今と同じ日時です。"), code="same_slot")
        old_slot = reservation.slot
        # Two slots: locked in time order, so that two moves crossing each other's slots
        # cannot wait on each other (the old one's place is offered on below, rule 16).
        if old_slot.starts_at < target.start:
            _lock_slot_row(old_slot)
        slot_row = _lock_slot(office, target)
        if (
            slot_row.reservations.filter(
                selectors.same_person(
                    seeker_number=reservation.seeker_number, email=reservation.email
                ),
                status__in=rules.ACTIVE_STATUSES,
            )
            .exclude(pk=reservation.pk)
            .exists()
        ):
            raise LimitReached(_("この方は移動先の日時にすでに予約があります。"))
        if _held(slot_row) >= target.capacity:
            raise SlotFull(_("移動先の日時は満席です。"))
        old_start = old_slot.starts_at
        reservation.slot = slot_row
        reservation.reminder_sent_at = None
        reservation.save(update_fields=["slot", "reminder_sent_at", "updated_at"])
        _place_freed(old_slot, now=now)
        _record(
            reservation,
            kind=EventKind.MOVED,
            from_status=reservation.status,
            to_status=reservation.status,
            now=now,
            actor=actor,
            actor_kind=ActorKind.STAFF,
            reason=reason.strip(),
            details={
                "from": old_start.astimezone(rules.TOKYO).isoformat(),
                "to": target.start.astimezone(rules.TOKYO).isoformat(),
            },
        )
    return reservation


@dataclass(frozen=True)
class SweepResult:
    expired: int
    no_show: int


def reservations_sweep(*, now: datetime | None = None) -> SweepResult:
    """Expire unconfirmed requests past their deadline; mark no-shows at start + 10 min.

    Idempotent: each booking is re-checked under its lock, so running it twice (or from two
    cron hosts at once) changes nothing the second time.
    """
    now = now or timezone.now()
    expired = no_show = 0
    # Rule 5: a request still unconfirmed at the end of D-1 (00:00 on D) expires.
    due_requests = Reservation.objects.filter(
        status=Status.REQUESTED, slot__starts_at__lt=now + timedelta(days=1)
    ).select_related("slot")
    for reservation in due_requests:
        if not rules.is_expiry_due(reservation.slot.starts_at, now):
            continue
        with transaction.atomic():
            locked = _lock_reservation(reservation)
            # Re-read under the lock: staff may have confirmed it a moment ago.
            if locked.status != Status.REQUESTED:
                continue
            _finish(locked, target=Status.EXPIRED, now=now, actor=None, actor_kind=ActorKind.SYSTEM)
            expired += 1
    # Art. 6(4): confirmed, not attended, not cancelled ten minutes after the start.
    due_confirmed = Reservation.objects.filter(
        status=Status.CONFIRMED, slot__starts_at__lte=now - rules.NO_SHOW_GRACE
    ).select_related("slot")
    for reservation in due_confirmed:
        try:
            reservation_mark_no_show(reservation=reservation, actor=None, now=now)
        except TransitionNotAllowed:
            continue  # attended or cancelled meanwhile
        no_show += 1
    return SweepResult(expired=expired, no_show=no_show)


def restriction_create(
    *,
    office: Office,
    reason: str,
    actor: AbstractBaseUser | None,
    seeker_number: str = "",
    email: str = "",
    ends_at: datetime | None = None,
    now: datetime | None = None,
) -> Restriction:
    """Staff restrict a person from booking online, with a reason (Art. 6(4), 12(1))."""
    now = now or timezone.now()
    restriction = Restriction(
        office=office,
        seeker_number=seeker_number,
        email=email,
        reason=reason,
        starts_at=now,
        ends_at=ends_at,
        created_by=actor if actor is not None and actor.is_authenticated else None,
        source=RestrictionSource.MANUAL,
    )
    restriction.full_clean()
    restriction.save()
    return restriction


def restriction_lift(
    *, restriction: Restriction, actor: AbstractBaseUser | None, now: datetime | None = None
) -> Restriction:
    """Lift a restriction; the person may book online again."""
    now = now or timezone.now()
    with transaction.atomic():
        restriction = Restriction.objects.select_for_update().get(pk=restriction.pk)
        if restriction.lifted_at is None:
            restriction.lifted_at = now
            restriction.lifted_by = actor if actor is not None and actor.is_authenticated else None
            restriction.save(update_fields=["lifted_at", "lifted_by"])
    return restriction


def reservation_book_next(
    *,
    source_reservation: Reservation,
    slot_start: datetime,
    actor: AbstractBaseUser,
    terms_version_id: int,
    platform_terms_accepted: bool,
    confirmed_items: Iterable[str],
    platform: str = "",
    mark_source_attended: bool = False,
    confirm: bool = False,
    meeting_url: str = "",
    meeting_passcode: str = "",
    now: datetime | None = None,
) -> Reservation:
    """Book the same person's next session from their booking (Art. 6(2)), consent verbal.

    The counselor reads out the terms in force and the Art. 5 checklist during the session;
    the consent is recorded as verbal, naming the counselor (Art. 6(3)). The person's
    details are reused. Everything happens in one transaction: a refusal changes nothing.
    """
    now = now or timezone.now()
    consent = ConsentGiven(
        terms_version_id=terms_version_id,
        platform_terms_accepted=platform_terms_accepted,
        confirmed_items=frozenset(confirmed_items),
        language=source_reservation.language,
        verbal=True,
        recorded_by=actor,
    )
    with transaction.atomic():
        # Lock order as everywhere: person, then booking, then slot.
        _lock_person(seeker_number=source_reservation.seeker_number, email=source_reservation.email)
        source = _lock_reservation(source_reservation)
        if not rules.can_book_next(source.status, anonymized=source.anonymized_at is not None):
            raise ReservationError(
                _("次回の予約は、確定済みまたは相談済みの予約から作成できます。"),
                code="source_status",
            )
        if mark_source_attended and source.status == Status.CONFIRMED:
            # The person is in the session now; until it is recorded, this booking still
            # counts against the per-person limit (rule 8).
            source = reservation_mark_attended(
                reservation=source, actor=actor, now=now, source="book_next"
            )
        new = reservation_request(
            office=source.office,
            slot_start=slot_start,
            name=source.name,
            email=source.email,
            seeker_number=source.seeker_number,
            about_to_register=source.about_to_register,
            phone=source.phone,
            companion=source.companion,
            companion_language=source.companion_language,
            platform=platform or source.platform,
            language=source.language,
            consent=consent,
            now=now,
        )
        # Notes only: they tell the seeker nothing, so they bypass the notifications.
        for reservation, details in (
            (source, {"next_reservation": new.reference}),
            (new, {"booked_from": source.reference}),
        ):
            ReservationEvent.objects.create(
                reservation=reservation,
                kind=EventKind.NOTE,
                from_status=reservation.status,
                to_status=reservation.status,
                at=now,
                actor=actor if actor is not None and actor.is_authenticated else None,
                actor_kind=ActorKind.STAFF,
                reason=_("相談中に次回の予約を受け付けました（第6条(2)）。"),
                details=details,
            )
        if confirm:
            new = reservation_confirm(
                reservation=new,
                actor=actor,
                meeting_url=meeting_url,
                meeting_passcode=meeting_passcode,
                now=now,
            )
    return new


def reservation_meeting_retry(
    *,
    reservation: Reservation,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Reservation:
    """Staff ask for a confirmed booking's Zoom meeting to be made again now (rule 13)."""
    now = now or timezone.now()
    with transaction.atomic():
        reservation = _lock_reservation(reservation)
        if not rules.can_retry_meeting(
            reservation.status, reservation.platform, reservation.meeting_state
        ):
            raise ReservationError(
                _("会議リンクの再作成は、リンクがまだない確定済みの Zoom の予約だけにできます。"),
                code="meeting_retry_not_needed",
            )
        reservation.meeting_state = MeetingState.PENDING
        reservation.meeting_error = ""
        reservation.save(update_fields=["meeting_state", "meeting_error", "updated_at"])
        # The event's follow-up enqueues the meeting work (`_follow_up`).
        _record(
            reservation,
            kind=EventKind.NOTE,
            from_status=reservation.status,
            to_status=reservation.status,
            now=now,
            actor=actor,
            actor_kind=ActorKind.STAFF,
            reason=_("会議リンクの再作成を依頼しました。"),
            details={"action": "meeting_retry"},
        )
    return reservation


@dataclass(frozen=True)
class PurgeResult:
    reservations: int
    consents: int
    waitlist_entries: int = 0


# rule 15: bookings in these states are over; their personal data is kept only for
# the retention period (個人情報保護法 §61: no longer than the purpose needs).
FINISHED_STATUSES = frozenset(
    {Status.ATTENDED, Status.NO_SHOW, Status.CANCELLED, Status.EXPIRED, Status.REJECTED}
)


def reservations_purge_personal_data(
    *, retention_days: int, now: datetime | None = None
) -> PurgeResult:
    """Erase the personal data of bookings finished more than `retention_days` ago.

    What remains (office, slot, status, platform, language, history without reasons,
    consent without identity) still counts in the statistics. Idempotent.
    """
    now = now or timezone.now()
    if retention_days < 1:
        raise ValueError("retention_days must be at least 1")
    cutoff = now - timedelta(days=retention_days)
    due = Reservation.objects.filter(
        status__in=FINISHED_STATUSES, slot__ends_at__lt=cutoff, anonymized_at__isnull=True
    ).values_list("pk", flat=True)
    reservations = consents = 0
    for pk in list(due):
        with transaction.atomic():
            reservation = (
                Reservation.objects.select_for_update(of=("self",))
                .filter(pk=pk, anonymized_at__isnull=True, status__in=FINISHED_STATUSES)
                .first()
            )
            if reservation is None:
                continue
            consents += consent_anonymize(reservation=reservation, now=now)
            identity = {"seeker_number": reservation.seeker_number, "email": reservation.email}
            Reservation.objects.filter(pk=pk).update(
                name="",
                seeker_number="",
                email="",
                phone="",
                topic="",
                companion_language="",
                meeting_join_url="",
                meeting_passcode="",
                meeting_error="",
                # Keeps the person's bookings apart from everyone else's without naming them.
                person_key=f"anonymized:{pk}",
                anonymized_at=now,
            )
            # Staff reasons may quote what the person said on the phone.
            ReservationEvent.objects.filter(reservation_id=pk).update(reason="")
            still_known = Reservation.objects.filter(
                selectors.same_person(**identity), anonymized_at__isnull=True
            )
            if not still_known.exists():
                SeekerLock.objects.filter(key__in=_person_lock_keys(**identity)).delete()
            reservations += 1
    # Waiting-list entries are over once claimed, left or expired: anonymised alike, so that
    # the statistics still count them (rule 15).
    entries = WaitlistEntry.objects.filter(
        slot__ends_at__lt=cutoff, anonymized_at__isnull=True
    ).exclude(status__in=rules.OPEN_WAITLIST_STATUSES)
    waitlist_entries = 0
    for pk in list(entries.values_list("pk", flat=True)):
        waitlist_entries += (
            WaitlistEntry.objects.filter(pk=pk, anonymized_at__isnull=True)
            .exclude(status__in=rules.OPEN_WAITLIST_STATUSES)
            .update(
                name="",
                seeker_number="",
                email="",
                person_key=f"anonymized:{pk}",
                anonymized_at=now,
            )
        )
    return PurgeResult(
        reservations=reservations, consents=consents, waitlist_entries=waitlist_entries
    )


def reservation_link_resend(
    *, reservation: Reservation, email: str, now: datetime | None = None
) -> bool:
    """Email an active booking's private link to its own address when `email` matches it."""
    now = now or timezone.now()
    with transaction.atomic():
        # Locked so that two refused requests at once cannot both send the link.
        locked = (
            Reservation.objects.select_for_update(of=("self",))
            .select_related("slot")
            .filter(pk=reservation.pk, anonymized_at__isnull=True)
            .first()
        )
        if locked is None or not locked.is_active or now >= locked.slot.starts_at:
            return False
        last = (
            OutgoingEmail.objects.filter(reservation=locked, kind=EmailKind.BOOKING_LINK)
            .order_by("-created_at")
            .values_list("created_at", flat=True)
            .first()
        )
        if not rules.booking_link_resend_allowed(
            email_on_file=locked.email, email_typed=email, last_sent_at=last, now=now
        ):
            return False
        outbox.email_enqueue(reservation=locked, kind=EmailKind.BOOKING_LINK)
    return True


def email_resend(
    *, email: OutgoingEmail, actor: AbstractBaseUser | None, now: datetime | None = None
) -> OutgoingEmail:
    """Staff send a failed email again: queued once more, never one already sent."""
    now = now or timezone.now()
    with transaction.atomic():
        email = (
            OutgoingEmail.objects.select_for_update(of=("self",))
            .select_related("reservation__slot", "waitlist_entry__slot")
            .get(pk=email.pk)
        )
        if email.status not in (EmailStatus.FAILED, EmailStatus.RETRYING):
            raise EmailResendRefused(
                _("再送できるのは、送信に失敗したメールと再送待ちのメールだけです。")
            )
        if not mail.email_still_wanted(email, email.reservation, now):
            raise EmailResendRefused(
                _("予約の状況が変わったため、このメールはもう送る必要がありません。")
            )
        email.status = EmailStatus.RETRYING
        email.save(update_fields=["status"])
        if email.reservation is not None:
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
        outbox.enqueue(tasks.send_email, email_id=email.pk)
    logger.info(
        "email %s (%s) of %s queued again by staff", email.pk, email.kind, mail.about(email)
    )
    return email


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
        if not rules.reminder_due(candidate.slot.starts_at, candidate.confirmed_at, now):
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
                or not rules.reminder_due(reservation.slot.starts_at, reservation.confirmed_at, now)
            ):
                continue
            reservation.reminder_sent_at = now
            reservation.save(update_fields=["reminder_sent_at", "updated_at"])
            outbox.email_enqueue(reservation=reservation, kind=EmailKind.REMINDER)
            queued += 1
    return queued


def reservation_start_url(*, reservation: Reservation) -> str:
    """A fresh link for staff to start the session (Zoom's expires; TeleOffice's is stored)."""
    return meeting_start_url(reservation)


def closure_save(*, closure: Closure) -> int:
    """Save an office closure (休業日, rule 3); returns the places already held that day.

    Bookings already made stay: staff move or cancel them, and the seekers are told then.
    """
    with transaction.atomic():
        closure.save()
        _availability_changed(closure.office_id)
    return selectors.held_places(closure.office, closure.date)


def closure_delete(*, closures: QuerySet[Closure]) -> None:
    """Open the office again on these dates (its sessions become bookable)."""
    with transaction.atomic():
        offices = set(closures.values_list("office_id", flat=True))
        closures.delete()
        for office_id in offices:
            _availability_changed(office_id)


def capacity_override_save(*, override: CapacityOverride) -> int:
    """Save a per-date capacity (rule 4: close or lower a slot); returns the places held."""
    with transaction.atomic():
        override.save()
        _availability_changed(override.office_id)
    return selectors.held_places(override.office, override.date, override.start_time)


# --- Offices ----------------------------------------------------------------------------

# What --copy-settings-from copies besides the weekly windows.
OFFICE_SETTINGS = (
    "closing_time",
    "slot_minutes",
    "horizon_days",
    "max_active_bookings",
    "no_show_threshold",
    "no_show_window_days",
    "waitlist_max_entries",
    "waitlist_offer_minutes",
)
# The office's own details; None leaves an existing office's value as it is.
OFFICE_DETAILS = (
    "name",
    "name_en",
    "phone",
    "email",
    "address",
    "address_en",
    "prefecture",
    "accepting_bookings",
)


@dataclass(frozen=True)
class OfficeSaved:
    office: Office
    created: bool
    terms: TermsVersion | None  # the terms version adopted


def office_save(
    *,
    slug: str,
    details: dict[str, object],
    copy_settings_from: str | None = None,
    now: datetime | None = None,
) -> OfficeSaved:
    """Create or update the office `slug` (running it again updates it).

    A new office gets the default weekly windows (Art. 6(2)③) and settings, or those of
    `copy_settings_from`, and the published terms in force there (or at the first office)
    in its own name. Bad input raises ReservationError naming the field; nothing is saved.
    """
    now = now or timezone.now()
    unknown = set(details) - set(OFFICE_DETAILS)
    if unknown:
        raise ReservationError(
            _("不明な項目です: %(fields)s") % {"fields": ", ".join(sorted(unknown))},
            code="unknown_field",
        )
    source = None
    if copy_settings_from:
        source = Office.objects.filter(slug=copy_settings_from).first()
        if source is None:
            raise ReservationError(
                _("コピー元のハローワーク「%(slug)s」が見つかりません。")
                % {"slug": copy_settings_from},
                code="copy_settings_from",
            )
    with transaction.atomic():
        office = Office.objects.select_for_update().filter(slug=slug).first()
        created = office is None
        if office is None:
            office = Office(slug=slug)
        for field, value in details.items():
            if value is not None:
                setattr(office, field, value)
        if source is not None:
            for field in OFFICE_SETTINGS:
                setattr(office, field, getattr(source, field))
        try:
            office.full_clean()
        except ValidationError as exc:
            raise ReservationError(
                " ".join(
                    f"{field}: {message}" if field != "__all__" else message
                    for field, messages in exc.message_dict.items()
                    for message in messages
                ),
                code="invalid",
            ) from exc
        office.save()
        if source is not None:
            office.windows.all().delete()
            windows = [
                (w.weekday, w.start_time, w.end_time, w.capacity) for w in source.windows.all()
            ]
        elif created:
            windows = [(w.weekday, w.start, w.end, w.capacity) for w in rules.DEFAULT_WINDOWS]
        else:
            windows = []
        SessionWindow.objects.bulk_create(
            SessionWindow(office=office, weekday=d, start_time=s, end_time=e, capacity=c)
            for d, s, e, c in windows
        )
        terms_source = source or selectors.default_office()
        terms = None
        if terms_source is not None and terms_source.pk != office.pk:
            terms = terms_adopt(office=office, source=terms_source, now=now)
    logger.info("office %s %s", slug, "created" if created else "updated")
    return OfficeSaved(office=office, created=created, terms=terms)


def capacity_override_delete(*, overrides: QuerySet[CapacityOverride]) -> None:
    """Give these slots their weekly capacity again."""
    with transaction.atomic():
        offices = set(overrides.values_list("office_id", flat=True))
        overrides.delete()
        for office_id in offices:
            _availability_changed(office_id)


def office_settings_save(
    *,
    office: Office,
    windows: Iterable[SessionWindow] = (),
    removed: Iterable[SessionWindow] = (),
) -> Office:
    """Save an office's settings with its weekly windows, added, changed or `removed`
    (rules 2–6), in one transaction; the seekers' availability follows from the next read."""
    with transaction.atomic():
        office.save()
        for window in removed:
            window.delete()
        for window in windows:
            window.office = office
            window.save()
        _availability_changed(office.pk)
    return office


# --- The waiting list of a full slot (キャンセル待ち, rule 16) ------------------------------
#
# Lock order, as for bookings: the person, then a booking, then the slot (two slots in time
# order), then the slot's waiting-list entries. A live offer holds a place like a booking
# (`_held`), so every count made under the slot lock sees it.


def _offer_gone_message() -> str:
    return _(
        "このご案内は、期限が過ぎたか、すでに使われたため、ご利用いただけません。"
        "ほかの日時をお選びください。"
    )


def _lock_slot_row(slot: Slot) -> Slot:
    return Slot.objects.select_for_update(of=("self",)).select_related("office").get(pk=slot.pk)


def _lock_entry(entry: WaitlistEntry) -> WaitlistEntry:
    return (
        WaitlistEntry.objects.select_for_update(of=("self",))
        .select_related("slot", "office")
        .get(pk=entry.pk)
    )


def _place_freed(slot: Slot, *, now: datetime) -> None:
    """A place of `slot` was given back (a booking cancelled, rejected, expired or moved
    away, an offer left): the next person in line is offered it, in the same transaction
    (rule 16). The one hook of every such moment."""
    if now >= slot.starts_at:
        return
    _offer_next_locked(_lock_slot_row(slot), now=now)


@dataclass(frozen=True)
class WaitlistChange:
    offered: int = 0
    offers_expired: int = 0
    closed: int = 0

    def __add__(self, other: WaitlistChange) -> WaitlistChange:
        return WaitlistChange(
            offered=self.offered + other.offered,
            offers_expired=self.offers_expired + other.offers_expired,
            closed=self.closed + other.closed,
        )


def _entry_finish(entry: WaitlistEntry, *, status: str, now: datetime, kind: str) -> None:
    entry.status = status
    entry.finished_at = now
    entry.save(update_fields=["status", "finished_at"])
    outbox.waitlist_email_enqueue(entry=entry, kind=kind)


def _offer_next_locked(slot_row: Slot, *, now: datetime) -> WaitlistChange:
    """Bring the locked slot's waiting list up to date: offers past their hold expire, the
    list closes at the cut-off, and every place neither booked nor offered goes to the next
    in line. Idempotent."""
    entries = list(
        WaitlistEntry.objects.select_for_update(of=("self",))
        .filter(slot=slot_row, status__in=rules.OPEN_WAITLIST_STATUSES)
        .order_by("created_at", "id")
    )
    if not entries:
        return WaitlistChange()
    office = slot_row.office
    office_rules = _rules_for(office, slot_row.starts_at)
    closes_at = rules.waitlist_closes_at(slot_row.starts_at, office_rules)
    expired = closed = 0
    live: list[WaitlistEntry] = []
    waiting: list[WaitlistEntry] = []
    for entry in entries:
        if entry.status == WaitlistStatus.OFFERED and not rules.is_offer_live(
            entry.status, entry.offer_expires_at, now
        ):
            _entry_finish(
                entry, status=WaitlistStatus.EXPIRED, now=now, kind=EmailKind.WAITLIST_OFFER_EXPIRED
            )
            expired += 1
        elif rules.is_waitlist_closed(closes_at, now):
            _entry_finish(
                entry, status=WaitlistStatus.EXPIRED, now=now, kind=EmailKind.WAITLIST_CLOSED
            )
            closed += 1
        elif entry.status == WaitlistStatus.OFFERED:
            live.append(entry)
        else:
            waiting.append(entry)
    offered = 0
    if waiting and rules.can_offer(now, closes_at):
        slot = rules.find_slot(slot_row.starts_at, office_rules)
        booked = Reservation.objects.filter(slot=slot_row, status__in=rules.ACTIVE_STATUSES).count()
        free = rules.places_to_offer(slot.capacity if slot else 0, booked, len(live))
        chosen = rules.next_in_line([(e.created_at, e.pk) for e in waiting], free)
        places = rules.free_offer_places([e.offer_place for e in live], len(chosen))
        by_id = {e.pk: e for e in waiting}
        expires_at = rules.offer_expires_at(now, office.waitlist_offer_minutes, closes_at)
        for entry_id, place in zip(chosen, places, strict=True):
            entry = by_id[entry_id]
            entry.status = WaitlistStatus.OFFERED
            entry.offer_place = place
            entry.offered_at = now
            entry.offer_expires_at = expires_at
            entry.save(update_fields=["status", "offer_place", "offered_at", "offer_expires_at"])
            outbox.waitlist_email_enqueue(entry=entry, kind=EmailKind.WAITLIST_OFFER)
            offered += 1
    if expired or closed or offered:
        # An offer made holds a place; one ended gives it back (rule 4).
        _availability_changed(office.pk)
    return WaitlistChange(offered=offered, offers_expired=expired, closed=closed)


def waitlist_join(
    *,
    office: Office,
    slot_start: datetime,
    name: str,
    email: str,
    seeker_number: str = "",
    about_to_register: bool = False,
    platform: str = Platform.ZOOM,
    language: str = "ja",
    now: datetime | None = None,
) -> WaitlistEntry:
    """A person joins a full slot's waiting list (rule 16); the terms are agreed to when the
    offer is claimed and becomes a request (Art. 6(3))."""
    now = now or timezone.now()
    details = _validated_request_details(
        name=name,
        email=email,
        seeker_number=seeker_number,
        about_to_register=about_to_register,
        phone="",
        topic="",
        companion="",
        companion_language="",
        platform=platform,
        language=language,
    )
    seeker_number = str(details["seeker_number"])
    email = str(details["email"])
    office_rules = _rules_for(office, slot_start)
    refusal = rules.request_refusal(slot_start, now, office_rules)
    if refusal is not None:
        raise ReservationError(_refusal_message(refusal), code=refusal.value)
    slot = rules.find_slot(slot_start, office_rules)
    assert slot is not None  # request_refusal checked it  # noqa: S101
    with transaction.atomic():
        _lock_person(seeker_number=seeker_number, email=email)
        slot_row = _lock_slot(office, slot)
        if rules.waitlist_refusal(
            slot_start, now, office_rules, remaining=slot.capacity - _held(slot_row)
        ):
            raise ReservationError(
                _(
                    "この日時にはまだ空きがあります。キャンセル待ちではなく、そのままお申し込みください。"
                ),
                code=rules.WaitlistRefusal.NOT_FULL.value,
            )
        if selectors.active_restriction(office, seeker_number=seeker_number, email=email, now=now):
            raise Restricted(
                _(
                    "申し訳ありませんが、オンラインでの予約をお受けできません。"
                    "お手数ですが %(phone)s までお電話ください。"
                )
                % {"phone": office.phone}
            )
        person = selectors.same_person(seeker_number=seeker_number, email=email)
        if slot_row.reservations.filter(person, status__in=rules.ACTIVE_STATUSES).exists():
            raise LimitReached(_("この日時はすでに申し込まれています。"))
        open_entries = list(
            WaitlistEntry.objects.filter(
                person, office=office, status__in=rules.OPEN_WAITLIST_STATUSES
            ).values_list("slot_id", flat=True)
        )
        if slot_row.pk in open_entries:
            raise LimitReached(
                _("この日時のキャンセル待ちには、すでに登録されています。"), code="already_waiting"
            )
        if not rules.can_waitlist_join(len(open_entries), office.waitlist_max_entries):
            raise LimitReached(
                _(
                    "キャンセル待ちは1人 %(count)s 件までです。"
                    "ほかのキャンセル待ちを取り消してから登録してください。"
                )
                % {"count": office.waitlist_max_entries},
                code="waitlist_limit",
            )
        try:
            with transaction.atomic():
                entry = WaitlistEntry.objects.create(
                    office=office,
                    slot=slot_row,
                    token=rules.new_token(),
                    name=str(details["name"]),
                    seeker_number=seeker_number,
                    about_to_register=bool(details["about_to_register"]),
                    email=email,
                    platform=platform,
                    language=language,
                    person_key=rules.person_key(seeker_number=seeker_number, email=email),
                    created_at=now,
                    closes_at=rules.waitlist_closes_at(slot.start, office_rules),
                )
        except IntegrityError as exc:
            # The person lock makes this unreachable; the backstop answers politely.
            if "one_open_waitlist_entry_per_person_per_slot" in str(exc):
                raise LimitReached(
                    _("この日時のキャンセル待ちには、すでに登録されています。"),
                    code="already_waiting",
                ) from exc
            raise
        outbox.waitlist_email_enqueue(entry=entry, kind=EmailKind.WAITLIST_JOINED)
    return entry


def waitlist_leave(*, entry: WaitlistEntry, now: datetime | None = None) -> WaitlistEntry:
    """A person leaves a waiting list from the link in its emails; an offer they held goes
    to the next in line (rule 16). Leaving twice changes nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        slot_row = _lock_slot_row(entry.slot)
        entry = _lock_entry(entry)
        if not entry.is_open:
            return entry
        held_an_offer = entry.status == WaitlistStatus.OFFERED
        _entry_finish(entry, status=WaitlistStatus.LEFT, now=now, kind=EmailKind.WAITLIST_LEFT)
        if held_an_offer:
            _availability_changed(entry.office_id)
            _offer_next_locked(slot_row, now=now)
    return entry


def waitlist_offer_next(*, slot: Slot, now: datetime | None = None) -> WaitlistChange:
    """Offer a slot's free places to the people waiting for it, expire offers past their
    hold and close the list at the cut-off (rule 16); idempotent."""
    now = now or timezone.now()
    with transaction.atomic():
        return _offer_next_locked(_lock_slot_row(slot), now=now)


def waitlist_claim(
    *, entry: WaitlistEntry, consent: ConsentGiven, now: datetime | None = None
) -> Reservation:
    """The person offered a place claims it: it becomes their request exactly as if booked
    now (rules 5–9, 12), with their consent recorded then (Art. 6(3)), in their language."""
    now = now or timezone.now()
    current = WaitlistEntry.objects.select_related("office", "slot").filter(pk=entry.pk).first()
    if current is None or not rules.is_offer_live(current.status, current.offer_expires_at, now):
        raise OfferNotAvailable(_offer_gone_message())
    return _request(
        office=current.office,
        slot_start=current.slot.starts_at,
        name=current.name,
        email=current.email,
        seeker_number=current.seeker_number,
        about_to_register=current.about_to_register,
        platform=current.platform,
        language=current.language,
        consent=consent,
        now=now,
        offer=current,
    )


def waitlists_sweep(*, now: datetime | None = None) -> WaitlistChange:
    """The periodic job of the waiting lists: every slot with people in line is brought up
    to date (`waitlist_offer_next`). Idempotent: a second run changes nothing."""
    now = now or timezone.now()
    slot_ids = (
        WaitlistEntry.objects.filter(status__in=rules.OPEN_WAITLIST_STATUSES)
        .values_list("slot_id", flat=True)
        .distinct()
    )
    change = WaitlistChange()
    for slot in Slot.objects.filter(pk__in=list(slot_ids)).order_by("starts_at"):
        change = change + waitlist_offer_next(slot=slot, now=now)
    return change
