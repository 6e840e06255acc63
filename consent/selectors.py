"""Which terms are in force, which are announced, and the published versions to read."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import QuerySet

from consent.models import Consent, TermsTranslation, TermsVersion
from reservations.models import Reservation
from reservations.rules import ACTIVE_STATUSES, TOKYO


def terms_in_force(office_id: int, now: datetime) -> TermsVersion | None:
    """The newest published version whose effective date has come (Art. 13)."""
    today = now.astimezone(TOKYO).date()
    return (
        TermsVersion.objects.filter(
            office_id=office_id, published_at__isnull=False, effective_date__lte=today
        )
        .order_by("-effective_date", "-id")
        .first()
    )


def latest_consent(reservation_id: int) -> Consent | None:
    """The latest consent given for a booking: the terms version it stands on now."""
    return (
        Consent.objects.filter(reservation_id=reservation_id).order_by("-given_at", "-id").first()
    )


def terms_announced(office_id: int, now: datetime) -> TermsVersion | None:
    """A published version that takes effect later: announced on every page (Art. 13)."""
    return terms_announced_all(office_id, now).first()


def terms_announced_all(office_id: int, now: datetime) -> QuerySet[TermsVersion]:
    """Every published version that takes effect later, the soonest first."""
    today = now.astimezone(TOKYO).date()
    return TermsVersion.objects.filter(
        office_id=office_id, published_at__isnull=False, effective_date__gt=today
    ).order_by("effective_date", "id")


@dataclass(frozen=True)
class TermsNow:
    """An office's terms as of one moment: the version in force, and the next one announced."""

    in_force: TermsVersion | None
    announced: TermsVersion | None


def terms_published_all(office_id: int) -> list[TermsVersion]:
    """Every published version of an office, the earliest in effect first, without their
    text, which only the terms pages read (a handful: one per change of the terms)."""
    return list(
        TermsVersion.objects.filter(office_id=office_id, published_at__isnull=False)
        .defer("body")
        .order_by("effective_date", "id")
    )


def terms_as_of(versions: list[TermsVersion], now: datetime) -> TermsNow:
    """Of an office's published versions (`terms_published_all`), the one in force as of `now`
    and the next one announced (a page needs both: the terms it names, and the Art. 13
    notice of the next version)."""
    today = now.astimezone(TOKYO).date()
    in_force = [v for v in versions if v.effective_date <= today]
    announced = [v for v in versions if v.effective_date > today]
    return TermsNow(
        in_force=in_force[-1] if in_force else None,
        announced=announced[0] if announced else None,
    )


def terms_published(office_id: int, version: str) -> TermsVersion | None:
    """A published version by its label (drafts are not public)."""
    return TermsVersion.objects.filter(
        office_id=office_id, version=version, published_at__isnull=False
    ).first()


def terms_translation(terms_version_id: int, language: str) -> TermsTranslation | None:
    """The reference translation of a version in a page language, if one was loaded."""
    if not language or language == "ja":
        return None
    return TermsTranslation.objects.filter(
        terms_version_id=terms_version_id, language=language
    ).first()


def terms_previous(terms_version: TermsVersion) -> TermsVersion | None:
    """The published version this one replaces: the latest one effective before it."""
    return (
        TermsVersion.objects.filter(
            office_id=terms_version.office_id,
            published_at__isnull=False,
            effective_date__lt=terms_version.effective_date,
        )
        .order_by("-effective_date", "-id")
        .first()
    )


def terms_history(office_id: int) -> QuerySet[TermsVersion]:
    """Every published version of an office, the newest first."""
    return (
        TermsVersion.objects.filter(office_id=office_id, published_at__isnull=False)
        .order_by("-effective_date", "-id")
        .only("id", "office_id", "version", "title", "effective_date", "published_at")
    )


def bookings_to_notify(terms_version: TermsVersion, now: datetime) -> QuerySet[Reservation]:
    """Active bookings whose session falls under this version but were agreed under an older
    one, and that were not told of it yet (Art. 13), the soonest first."""
    effective_start = datetime.combine(terms_version.effective_date, time(0), tzinfo=TOKYO)
    return (
        Reservation.objects.filter(
            office_id=terms_version.office_id,
            status__in=ACTIVE_STATUSES,
            slot__starts_at__gte=effective_start,
            slot__starts_at__gt=now,
            anonymized_at__isnull=True,
        )
        .exclude(consents__terms_version__effective_date__gte=terms_version.effective_date)
        .exclude(terms_notices__terms_version_id=terms_version.pk)
        .select_related("slot", "office")
        .order_by("slot__starts_at", "id")
    )


def consents_for_export(queryset: QuerySet[Consent]) -> QuerySet[Consent]:
    """Consents with what the audit export prints, in one query."""
    return queryset.select_related("reservation", "terms_version", "recorded_by").order_by(
        "given_at", "id"
    )
