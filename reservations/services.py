"""One function per business action on bookings. Views, admin, commands and tasks call these.

Each service runs in one transaction, locks what it is about to change (in one fixed order
everywhere: person, then the office's counselors, then booking, then slot; see
docs/architecture.md), re-checks the rules after the lock, writes, records an event, and
enqueues the follow-up work (mail, Zoom) in the same transaction through
the outbox (`_follow_up`), so the work is neither lost nor sent for a change
that rolled back.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext as _

from consent.selectors import latest_consent, terms_in_force
from consent.services import (
    ConsentError,
    ConsentGiven,
    consent_anonymize,
    consent_record,
    terms_adopt,
)
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
    Counselor,
    DutyException,
    DutyWindow,
    EmailKind,
    EmailStatus,
    EventKind,
    MeetingProblem,
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
    StaffMembership,
    WaitlistEntry,
)
from reservations.rules import Status, WaitlistStatus

if TYPE_CHECKING:
    from collections.abc import Iterable

    from django.contrib.auth.models import AbstractBaseUser
    from django.db.models import QuerySet

    from consent.models import TermsVersion
    from consent.selectors import TermsNow

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
    selectors.availability_changed(reservation.office_id)
    return event


def _follow_up(reservation: Reservation, event: ReservationEvent) -> None:
    """Enqueue the mail and meeting work that `event` calls for, in the caller's transaction."""
    is_zoom = reservation.platform == Platform.ZOOM
    if event.kind == EventKind.MOVED:
        outbox.email_enqueue(
            reservation=reservation, kind=EmailKind.MOVED, context={"event": event.pk}
        )
        # Moved while confirmed: the meeting moves with it, or, back to requested after the
        # seeker moved it (rule 10), is deleted until staff confirm again.
        if is_zoom and Status.CONFIRMED in (reservation.status, event.from_status):
            meeting_sync_enqueue(reservation)
        return
    if event.kind == EventKind.NOTE:
        action = event.details.get("action")
        if action == "meeting_retry" and is_zoom:
            meeting_sync_enqueue(reservation)
        # Rule 13: the meeting follows the booking to the new counselor's Zoom user.
        if action == "reassigned" and is_zoom and reservation.status == Status.CONFIRMED:
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


def _lock_counselors(office_id: int) -> None:
    """Lock the office's counselor rows, in id order, one query (rule 4).

    Every service that assigns a counselor or changes the rota takes these first (after the
    person): the rota read after it is the one in force, and no two assignments in the
    office interleave, so no counselor gets two bookings in a slot and no booking keeps a
    counselor who has just gone on leave.
    """
    list(
        Counselor.objects.select_for_update(of=("self",))
        .filter(office_id=office_id)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _choose_counselor(
    reservation: Reservation, office_rules: rules.OfficeRules, chosen: Counselor | None
) -> int | None:
    """The counselor to take the booking (rule 4): staff's choice if free in the slot, else
    `rules.pick_counselor`; None in an office without a rota. Refuses if nobody is free."""
    if office_rules.rota is None:
        if chosen is not None:
            raise ReservationError(
                _("このハローワークには勤務表がないため、相談員を選べません。"),
                code="counselor",
            )
        return None
    cover = selectors.slot_cover(reservation, office_rules)
    if chosen is not None:
        if chosen.pk not in cover.on_duty:
            raise ReservationError(
                _("%(name)s さんはこの日時に勤務していません。") % {"name": chosen.display_name},
                code="counselor",
            )
        if chosen.pk not in cover.free:
            raise ReservationError(
                _("%(name)s さんはこの日時にほかの相談があります。")
                % {"name": chosen.display_name},
                code="counselor",
            )
        return chosen.pk
    picked = rules.pick_counselor(cover.free, cover.sessions_that_day)
    if picked is None:
        raise ReservationError(
            _(
                "この日時に手の空いている相談員がいません。日時を変更するか、勤務表を確認してください。"
            ),
            code="no_counselor_free",
        )
    return picked


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
    terms_now: TermsNow | None = None,
    offer: WaitlistEntry | None = None,
) -> Reservation:
    """A seeker requests a slot (Art. 6(2)); the consent is recorded with it (Art. 6(3)).

    `terms_now`: the office's terms as the sending page read them at the same `now`.
    `offer`: the claim of a waiting-list offer, whose own place the request then takes
    (rule 16); every other check is the same.
    """
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
        consent_record(reservation=reservation, given=consent, now=now, terms_now=terms_now)
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
    counselor: Counselor | None = None,
    now: datetime | None = None,
) -> Reservation:
    """Staff confirm a request (Art. 6(3)); Zoom meetings are then made by the queue.

    After the day-before deadline (rule 5) a reason is required, and a request the sweep
    already expired can still be confirmed if its place is free. Once the office has a rota
    the booking is assigned to `counselor`, or to the one `rules.pick_counselor` picks, on
    duty and free in the slot (rule 4); with nobody free it is refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        current = Reservation.objects.values("status", "seeker_number", "email", "office_id").get(
            pk=reservation.pk
        )
        if current["status"] == Status.EXPIRED:
            # Taking the place back checks the person's limit: person before booking.
            _lock_person(seeker_number=current["seeker_number"], email=current["email"])
        _lock_counselors(current["office_id"])
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
        # Read under the counselors' locks: the rota in force now (rule 4).
        reservation.counselor_id = _choose_counselor(
            reservation, _rules_for(reservation.office, reservation.slot.starts_at), counselor
        )
        reservation.needs_reassignment = False
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
                "counselor",
                "needs_reassignment",
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
    if target not in rules.ACTIVE_STATUSES:
        # A booking that has ended or been withdrawn needs no other counselor (要再割当).
        reservation.needs_reassignment = False
    reservation.save(update_fields=["status", "needs_reassignment", "updated_at"])
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
    """Staff move a requested or confirmed booking to another open slot; the seeker is told.

    A confirmed booking keeps its counselor if they are free in the new slot, else goes to
    the one `rules.pick_counselor` picks there (rule 4).
    """
    now = now or timezone.now()
    office = reservation.office
    with transaction.atomic():
        _lock_counselors(office.pk)
        # Read under the counselors' locks: the places of the new slot follow the rota.
        office_rules = _rules_for(office, new_start)
        target = rules.find_slot(new_start, office_rules)
        if target is None:
            raise ReservationError(
                _("移動先は開いている相談枠から選んでください。"), code="not_a_slot"
            )
        if target.start <= now:
            raise ReservationError(
                _("移動先には、これからの日時を選んでください。"), code="too_late"
            )
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
        if reservation.counselor_id is not None or (
            reservation.status == Status.CONFIRMED and office_rules.rota is not None
        ):
            cover = selectors.slot_cover(reservation, office_rules)
            reservation.counselor_id = (
                reservation.counselor_id
                if reservation.counselor_id in cover.free
                else rules.pick_counselor(cover.free, cover.sessions_that_day)
            )
            if reservation.counselor_id is None:
                raise SlotFull(_("移動先の日時に手の空いている相談員がいません。"))
        reservation.needs_reassignment = False
        reservation.reminder_sent_at = None
        reservation.save(
            update_fields=[
                "slot",
                "counselor",
                "needs_reassignment",
                "reminder_sent_at",
                "updated_at",
            ]
        )
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


def reservation_reassign(
    *,
    reservation: Reservation,
    counselor: Counselor,
    actor: AbstractBaseUser | None,
    reason: str = "",
    now: datetime | None = None,
) -> Reservation:
    """Staff give a confirmed booking to another counselor on duty and free in its slot
    (rule 4); a Zoom meeting moves to that counselor's Zoom user (rule 13)."""
    now = now or timezone.now()
    with transaction.atomic():
        _lock_counselors(reservation.office_id)
        reservation = _lock_reservation(reservation)
        if reservation.status != Status.CONFIRMED:
            raise TransitionNotAllowed(
                _("「%(current)s」の予約は担当を変えられません。")
                % {"current": Status(reservation.status).label}
            )
        if not rules.can_reassign(reservation.status, reservation.slot.starts_at, now):
            raise ReservationError(
                _("開始時刻を過ぎた相談の担当は変えられません。"), code="too_late"
            )
        if counselor.pk == reservation.counselor_id:
            raise ReservationError(_("今と同じ相談員です。"), code="counselor")
        previous = reservation.counselor_id
        reservation.counselor_id = _choose_counselor(
            reservation, _rules_for(reservation.office, reservation.slot.starts_at), counselor
        )
        reservation.needs_reassignment = False
        reservation.save(update_fields=["counselor", "needs_reassignment", "updated_at"])
        _record_reassignment(
            reservation, previous=previous, now=now, actor=actor, reason=reason.strip()
        )
    return reservation


def _record_reassignment(
    reservation: Reservation,
    *,
    previous: int | None,
    now: datetime,
    actor: AbstractBaseUser | None,
    reason: str = "",
) -> None:
    _record(
        reservation,
        kind=EventKind.NOTE,
        from_status=reservation.status,
        to_status=reservation.status,
        now=now,
        actor=actor,
        actor_kind=ActorKind.STAFF if actor is not None else ActorKind.SYSTEM,
        reason=reason,
        details={
            "action": "reassigned",
            "from_counselor": previous,
            "to_counselor": reservation.counselor_id,
        },
    )


# --- Counselors and their duty (rule 4) --------------------------------------------------
#
# Each of these locks the office's counselors first (`_lock_counselors`), changes the rota,
# and then looks at the bookings already assigned from now on: a booking whose counselor is
# no longer on duty goes to another counselor free in its slot, or is flagged 要再割当 for a
# supervisor to move or cancel (`rules.reassign_off_duty`).


@dataclass(frozen=True)
class RotaFollowUp:
    """What a change of the rota did to bookings already assigned."""

    reassigned: int = 0
    needs_reassignment: int = 0


def _rota_changed(
    office: Office,
    *,
    actor: AbstractBaseUser | None,
    now: datetime,
    days: Iterable[date] | None = None,
) -> RotaFollowUp:
    """Reassign or flag the office's assigned bookings from `now` (on `days` only, if given)
    whose counselor the rota no longer has on duty; unflag those whose counselor is back."""
    selectors.availability_changed(office.pk)
    bookings = Reservation.objects.filter(
        office=office,
        status=Status.CONFIRMED,
        counselor__isnull=False,
        slot__starts_at__gt=now,
    )
    if days is not None:
        days = sorted(set(days))
        if not days:
            return RotaFollowUp()
        day_filter = Q()
        for day in days:
            start = datetime.combine(day, datetime.min.time(), tzinfo=rules.TOKYO)
            day_filter |= Q(slot__starts_at__gte=start, slot__starts_at__lt=start + timedelta(1))
        bookings = bookings.filter(day_filter)
    rows = list(
        bookings.values_list(
            "pk", "counselor_id", "slot__starts_at", "slot__ends_at", "needs_reassignment"
        )
    )
    if not rows:
        return RotaFollowUp()
    assignments = [
        rules.Assignment(booking=pk, counselor=c, start=start, end=end)
        for pk, c, start, end, _flag in rows
    ]
    first = min(a.start for a in assignments).astimezone(rules.TOKYO).date()
    last = max(a.start for a in assignments).astimezone(rules.TOKYO).date()
    rota = selectors.office_rules(office, first, last).rota or rules.Rota()
    plan = rules.reassign_off_duty(assignments, rota)
    flagged = {pk for pk, _c, _s, _e, flag in rows if flag}
    off = {a.booking for a in rules.off_duty(assignments, rota)}
    # Back on duty (a leave withdrawn): nothing left to reassign.
    Reservation.objects.filter(pk__in=flagged - off).update(
        needs_reassignment=False, updated_at=now
    )
    Reservation.objects.filter(pk__in=plan.stranded - flagged).update(
        needs_reassignment=True, updated_at=now
    )
    moved = (
        Reservation.objects.select_for_update(of=("self",))
        .filter(pk__in=list(plan.moved), status=Status.CONFIRMED)
        .select_related("slot", "office")
        .order_by("pk")
    )
    for reservation in moved:
        previous = reservation.counselor_id
        reservation.counselor_id = plan.moved[reservation.pk]
        reservation.needs_reassignment = False
        reservation.save(update_fields=["counselor", "needs_reassignment", "updated_at"])
        _record_reassignment(
            reservation,
            previous=previous,
            now=now,
            actor=actor,
            reason=_("勤務表の変更による自動の割当て"),
        )
    if plan.stranded:
        logger.info("office %s: %s bookings need reassignment", office.pk, len(plan.stranded))
    return RotaFollowUp(reassigned=len(plan.moved), needs_reassignment=len(plan.stranded))


def _counselor_error(exc: ValidationError) -> ReservationError:
    """A model's validation error as a ReservationError whose `code` names the field."""
    field, messages = next(iter(exc.message_dict.items()))
    return ReservationError(" ".join(messages), code=field if field != "__all__" else "invalid")


def counselor_save(
    *,
    counselor: Counselor,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> RotaFollowUp:
    """Save a counselor's profile (rule 4, 13): the staff member must work in the office;
    taking one off counselling reassigns or flags their bookings from now on."""
    now = now or timezone.now()
    counselor.display_name = counselor.display_name.strip()
    counselor.zoom_user = counselor.zoom_user.strip()
    counselor.languages = ",".join(
        code.strip().lower() for code in counselor.languages.split(",") if code.strip()
    )
    try:
        counselor.full_clean()
    except ValidationError as exc:
        raise _counselor_error(exc) from exc
    if counselor.zoom_user and not rules.is_zoom_user(counselor.zoom_user):
        raise ReservationError(
            _("Zoomユーザーはメールアドレスか、Zoom のユーザーIDで入力してください。"),
            code="zoom_user",
        )
    if not rules.are_language_codes(counselor.languages):
        raise ReservationError(
            _("言語コードをコンマで区切って入力してください（例: ja,pt-br）。"), code="languages"
        )
    if not StaffMembership.objects.filter(
        user_id=counselor.user_id, office_id=counselor.office_id
    ).exists():
        raise ReservationError(_("このハローワークの職員を選んでください。"), code="user")
    with transaction.atomic():
        _lock_counselors(counselor.office_id)
        counselor.save()
        return _rota_changed(counselor.office, actor=actor, now=now)


def duty_windows_save(
    *,
    counselor: Counselor,
    windows: Iterable[tuple[int, time, time]],
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> RotaFollowUp:
    """Replace a counselor's weekly duty with `windows` (weekday, start, end) (rule 4)."""
    now = now or timezone.now()
    windows = sorted(set(windows))
    problem = rules.duty_problem(windows)
    if problem is not None:
        raise ReservationError(_duty_problem_message(problem), code="duty_windows")
    with transaction.atomic():
        _lock_counselors(counselor.office_id)
        DutyWindow.objects.filter(counselor=counselor).delete()
        DutyWindow.objects.bulk_create(
            DutyWindow(counselor=counselor, weekday=weekday, start_time=start, end_time=end)
            for weekday, start, end in windows
        )
        return _rota_changed(counselor.office, actor=actor, now=now)


def _duty_problem_message(problem: str) -> str:
    return {
        "weekday": _("曜日を選んでください。"),
        "order": _("終了時刻は開始時刻より後にしてください。"),
        "overlap": _("同じ曜日の勤務時間帯が重なっています。"),
    }[problem]


def duty_exception_save(
    *,
    exception: DutyException,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> RotaFollowUp:
    """Save a dated exception to a counselor's duty: leave, training or an extra shift
    (rule 4). Bookings it takes the counselor away from go to another counselor free in
    their slot, else are flagged 要再割当."""
    now = now or timezone.now()
    if (exception.start_time is None) != (exception.end_time is None):
        raise ReservationError(
            _("開始時刻と終了時刻は両方入力するか、終日なら両方空けてください。"),
            code="end_time",
        )
    if exception.start_time is not None and not exception.start_time < exception.end_time:
        raise ReservationError(_("終了時刻は開始時刻より後にしてください。"), code="end_time")
    try:
        exception.full_clean()
    except ValidationError as exc:
        raise _counselor_error(exc) from exc
    counselor = exception.counselor
    with transaction.atomic():
        _lock_counselors(counselor.office_id)
        before = (
            DutyException.objects.filter(pk=exception.pk).values_list("date", flat=True).first()
            if exception.pk
            else None
        )
        exception.save()
        days = {exception.date} | ({before} if before else set())
        return _rota_changed(counselor.office, actor=actor, now=now, days=days)


def duty_exception_delete(
    *,
    exception: DutyException,
    actor: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> RotaFollowUp:
    """Withdraw a dated exception (rule 4): a leave withdrawn unflags bookings, an extra
    shift withdrawn reassigns or flags its bookings."""
    now = now or timezone.now()
    counselor = exception.counselor
    with transaction.atomic():
        _lock_counselors(counselor.office_id)
        day = exception.date
        exception.delete()
        return _rota_changed(counselor.office, actor=actor, now=now, days=[day])


# --- The seeker moves their own booking (振替, rule 10) ---------------------------------


def _move_refusal_message(refusal: rules.MoveRefusal, office: Office) -> str:
    return {
        rules.MoveRefusal.NOT_ACTIVE: _("この予約は終了しているため、日時を変更できません。"),
        rules.MoveRefusal.NOT_ONLINE: _(
            "いまはオンラインでの日時の変更を受け付けていません。お電話（%(phone)s）でご連絡ください。"
        ),
        rules.MoveRefusal.DISABLED: _(
            "このハローワークでは、このページから日時を変更できません。"
            "お電話（%(phone)s）でご連絡ください。"
        ),
        rules.MoveRefusal.PAST_CUTOFF: _(
            "いまの予約の申込締切を過ぎたため、このページからは日時を変更できません。"
            "お電話（%(phone)s）でご連絡ください。"
        ),
        rules.MoveRefusal.MOVES_USED: _(
            "この予約は、このページから変更できる回数まで変更しました。"
            "お電話（%(phone)s）でご連絡ください。"
        ),
    }[refusal] % {"phone": office.phone}


def _lock_slots_in_order(office: Office, current: Slot, target: rules.Slot) -> Slot:
    """Lock the booking's slot and the target slot, the earlier first, so that two moves
    crossing each other never wait on each other; returns the target's row."""
    rows: dict[datetime, Slot] = {}
    for slot in sorted(
        (rules.Slot(start=current.starts_at, end=current.ends_at), target),
        key=lambda slot: slot.start,
    ):
        rows[slot.start] = _lock_slot(office, slot)
    return rows[target.start]


def _release_place(reservation: Reservation, *, slot_row: Slot, now: datetime) -> None:
    """`reservation` no longer holds its place in `slot_row` (locked by the caller): the place
    goes to the first on the slot's waiting list (rule 16), else it is free for others once
    this commits."""
    selectors.availability_changed(slot_row.office_id)
    logger.info("booking %s gave up its place in slot %s", reservation.reference, slot_row.pk)
    _place_freed(slot_row, now=now)


def reservation_move_by_seeker(
    *,
    reservation: Reservation,
    slot_start: datetime,
    consent: ConsentGiven | None = None,
    now: datetime | None = None,
) -> Reservation:
    """The seeker moves their own booking to a slot they could request now (振替, rule 10).

    One transaction: the new place is taken before the old one is released, so a refusal
    (a full slot, a limit) changes nothing. A confirmed booking goes back to requested, to be
    confirmed again (rule 5); its counselor is cleared and its Zoom meeting deleted. The
    consent stands while the terms in force are the ones agreed to; otherwise `consent` to
    the version in force is recorded with the move (rule 14).
    """
    now = now or timezone.now()
    try:
        with transaction.atomic():
            moved = _move_by_seeker(
                reservation=reservation, slot_start=slot_start, consent=consent, now=now
            )
    except SlotFull as full:
        # Nothing changed; the seeker is offered the nearest free sessions instead.
        full.context["alternatives"] = selectors.nearest_free_slots(
            reservation.office,
            slot_start,
            now,
            exclude={reservation.slot.starts_at, slot_start},
        )
        raise
    return moved


def _move_by_seeker(
    *,
    reservation: Reservation,
    slot_start: datetime,
    consent: ConsentGiven | None,
    now: datetime,
) -> Reservation:
    # Lock order as everywhere: person, then booking, then slots (in start order).
    person = Reservation.objects.values("seeker_number", "email").get(pk=reservation.pk)
    _lock_person(seeker_number=person["seeker_number"], email=person["email"])
    reservation = _lock_reservation(reservation)
    office = reservation.office
    current = reservation.slot
    days = sorted(
        moment.astimezone(rules.TOKYO).date() for moment in (current.starts_at, slot_start)
    )
    office_rules = selectors.office_rules(office, days[0], days[1])
    refusal = rules.seeker_move_refusal(
        status=reservation.status,
        slot_start=current.starts_at,
        now=now,
        rules=office_rules,
        moves_used=selectors.seeker_moves_used(reservation),
        max_moves=office.max_seeker_moves,
        accepting_bookings=office.accepting_bookings,
    )
    if refusal is not None:
        raise ReservationError(_move_refusal_message(refusal, office), code=refusal.value)
    target_refusal = rules.move_target_refusal(
        current_start=current.starts_at, target_start=slot_start, now=now, rules=office_rules
    )
    if target_refusal == rules.MoveTargetRefusal.SAME_SLOT:
        raise ReservationError(
            _("いまの予約と同じ日時です。別の日時を選んでください。"), code="same_slot"
        )
    if target_refusal is not None:
        raise ReservationError(_refusal_message(target_refusal), code=target_refusal.value)
    target = rules.find_slot(slot_start, office_rules)
    assert target is not None  # move_target_refusal checked it  # noqa: S101
    if selectors.active_restriction(
        office, seeker_number=reservation.seeker_number, email=reservation.email, now=now
    ):
        raise Restricted(
            _(
                "申し訳ありませんが、オンラインでの日時の変更をお受けできません。"
                "お手数ですが %(phone)s までお電話ください。"
            )
            % {"phone": office.phone}
        )
    # Rule 8: the moved booking counts as the one it was; the person's others are added.
    others = list(
        selectors.active_bookings_of(
            office, seeker_number=reservation.seeker_number, email=reservation.email, now=now
        ).exclude(pk=reservation.pk)
    )
    slot_row = _lock_slots_in_order(office, current, target)
    if any(other.slot_id == slot_row.pk for other in others):
        raise LimitReached(_("この日時には、すでに別の予約があります。"))
    if not rules.within_limit_after_move(
        other_active=len(others), max_active=office.max_active_bookings
    ):
        raise LimitReached(
            _("ほかにも有効な予約があるため、この予約の日時は変更できません。お電話ください。")
        )
    terms = terms_in_force(office.pk, now)
    if terms is None:
        raise ConsentError(
            _("現在、利用規約が公開されていないため、日時を変更できません。"), code="no_terms"
        )
    agreed = latest_consent(reservation.pk)
    needs_consent = rules.move_needs_consent(
        consented_terms_id=agreed.terms_version_id if agreed is not None else None,
        terms_in_force_id=terms.pk,
    )
    if needs_consent and consent is None:
        raise ConsentError(
            _("利用規約が改定されました。新しい利用規約を読んで、同意のチェックを入れてください。"),
            code="consent_needed",
        )
    if _held(slot_row) >= target.capacity:
        raise SlotFull(_("この日時は、ほかの方の予約で埋まりました。"))

    # The new place is taken first (the row now points at it); only then is the old released.
    previous = reservation.status
    reservation.slot = slot_row
    reservation.status = Status.REQUESTED
    reservation.reminder_sent_at = None
    # Rule 5: a moved booking is confirmed again, by whichever counselor is on duty then.
    reservation.counselor = None
    reservation.needs_reassignment = False
    reservation.meeting_state = MeetingState.NONE
    reservation.meeting_join_url = ""
    reservation.meeting_passcode = ""
    reservation.meeting_error = ""
    reservation.save(
        update_fields=[
            "slot",
            "status",
            "reminder_sent_at",
            "counselor",
            "needs_reassignment",
            "meeting_state",
            "meeting_join_url",
            "meeting_passcode",
            "meeting_error",
            "updated_at",
        ]
    )
    if needs_consent:
        consent_record(reservation=reservation, given=consent, now=now)
    _release_place(reservation, slot_row=current, now=now)
    _record(
        reservation,
        kind=EventKind.MOVED,
        from_status=previous,
        to_status=Status.REQUESTED,
        now=now,
        actor=None,
        actor_kind=ActorKind.SEEKER,
        details={
            "from": current.starts_at.astimezone(rules.TOKYO).isoformat(),
            "to": target.start.astimezone(rules.TOKYO).isoformat(),
            "consent": "renewed" if needs_consent else "stands",
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
        # Lock order as everywhere: person, counselors (confirming assigns one), booking, slot.
        _lock_person(seeker_number=source_reservation.seeker_number, email=source_reservation.email)
        if confirm:
            _lock_counselors(source_reservation.office_id)
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
        reservation.meeting_problem = MeetingProblem.NONE
        reservation.save(
            update_fields=["meeting_state", "meeting_error", "meeting_problem", "updated_at"]
        )
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


def reservation_start_url(*, reservation: Reservation, user: AbstractBaseUser) -> str:
    """A fresh link to start the session, for its host only (rule 13, `rules.may_host`):
    Zoom's expires, TeleOffice's is stored."""
    if not selectors.may_host(user, reservation):
        raise ReservationError(
            _(
                "この相談を開始できるのは、担当の相談員と管理者だけです。"
                "担当を代わる場合は、管理者に担当の変更を依頼してください。"
            ),
            code="not_the_host",
        )
    return meeting_start_url(reservation)


def closure_save(*, closure: Closure) -> int:
    """Save an office closure (休業日, rule 3); returns the places already held that day.

    Bookings already made stay: staff move or cancel them, and the seekers are told then.
    """
    with transaction.atomic():
        closure.save()
        selectors.availability_changed(closure.office_id)
    return selectors.held_places(closure.office, closure.date)


def closure_delete(*, closures: QuerySet[Closure]) -> None:
    """Open the office again on these dates (its sessions become bookable)."""
    with transaction.atomic():
        offices = set(closures.values_list("office_id", flat=True))
        closures.delete()
        for office_id in offices:
            selectors.availability_changed(office_id)


def capacity_override_save(*, override: CapacityOverride) -> int:
    """Save a per-date capacity (rule 4: close or lower a slot); returns the places held."""
    with transaction.atomic():
        override.save()
        selectors.availability_changed(override.office_id)
    return selectors.held_places(override.office, override.date, override.start_time)


# --- Offices ----------------------------------------------------------------------------

# What --copy-settings-from copies besides the weekly windows.
OFFICE_SETTINGS = (
    "closing_time",
    "slot_minutes",
    "horizon_days",
    "max_active_bookings",
    "max_seeker_moves",
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
            selectors.availability_changed(office_id)


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
        selectors.availability_changed(office.pk)
    return office


# --- A counselor's private calendar feed (rule 15: time, platform and reference only) --------


def counselor_calendar_renew(*, counselor: Counselor, actor: AbstractBaseUser | None) -> str:
    """Issue a new secret for the counselor's calendar feed; the old address stops working."""
    with transaction.atomic():
        locked = Counselor.objects.select_for_update().get(pk=counselor.pk)
        locked.calendar_token = secrets.token_urlsafe(32)
        locked.save(update_fields=["calendar_token"])
    counselor.calendar_token = locked.calendar_token
    # Who changed it, never the secret itself (rule 15).
    logger.info(
        "calendar feed of counselor %s renewed by user %s",
        counselor.pk,
        getattr(actor, "pk", None),
    )
    return counselor.calendar_token


def counselor_calendar_revoke(*, counselor: Counselor, actor: AbstractBaseUser | None) -> None:
    """Stop the counselor's calendar feed: its address answers "not found" from now on."""
    with transaction.atomic():
        updated = Counselor.objects.filter(pk=counselor.pk).exclude(calendar_token="")
        if updated.update(calendar_token=""):
            logger.info(
                "calendar feed of counselor %s revoked by user %s",
                counselor.pk,
                getattr(actor, "pk", None),
            )
    counselor.calendar_token = ""


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
        selectors.availability_changed(office.pk)
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
            selectors.availability_changed(entry.office_id)
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
    return reservation_request(
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
