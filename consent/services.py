"""Recording consent: one function, called in the booking's transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

from consent import selectors
from consent.models import ENVIRONMENT_ITEMS, Consent, ConsentMethod
from reservations.services import ReservationError

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from reservations.models import Reservation


class ConsentError(ReservationError):
    code = "consent"


@dataclass(frozen=True)
class ConsentGiven:
    """What the person agreed to, as the form (or a counselor) captured it."""

    terms_version_id: int
    platform_terms_accepted: bool
    confirmed_items: frozenset[str]
    ip_address: str | None = None
    user_agent: str = ""
    language: str = "ja"
    verbal: bool = False
    recorded_by: AbstractBaseUser | None = field(default=None, compare=False)


def consent_record(*, reservation: Reservation, given: ConsentGiven, now: datetime) -> Consent:
    """Record the consent behind a booking; refuse if any required item is missing."""
    terms = selectors.terms_in_force(reservation.office_id, now)
    if terms is None:
        raise ConsentError(_("現在、利用規約が公開されていないため予約を受け付けられません。"))
    if given.terms_version_id != terms.pk:
        # The terms changed while the form was open: the person must read the new version.
        raise ConsentError(
            _("利用規約が改定されました。新しい利用規約を確認のうえ、もう一度お申し込みください。"),
            code="terms_changed",
        )
    if not given.platform_terms_accepted:
        raise ConsentError(_("利用するアプリの利用規約への同意が必要です（第4条）。"))
    missing = [key for key in ENVIRONMENT_ITEMS if key not in given.confirmed_items]
    if missing:
        raise ConsentError(
            _("利用環境のすべての項目を確認してください（第5条・第2条(2)）。"), missing=missing
        )
    return Consent.objects.create(
        reservation=reservation,
        seeker_number=reservation.seeker_number,
        email=reservation.email,
        terms_version=terms,
        terms_hash=terms.content_hash,
        platform=reservation.platform,
        platform_terms_accepted=True,
        items=dict.fromkeys(ENVIRONMENT_ITEMS, True),
        method=ConsentMethod.VERBAL if given.verbal else ConsentMethod.ONLINE,
        given_at=now,
        ip_address=given.ip_address or None,
        user_agent=given.user_agent[:1000],
        language=given.language,
        recorded_by=given.recorded_by if given.verbal else None,
    )
