"""The consent app's actions: record a consent, publish terms, tell people of a change.

`consent_record` runs inside the booking's transaction (reservations.services), so a
booking never exists without its consent. Publishing freezes a version's text; the change
notice (Art. 13) is enqueued in the same transaction as the publication.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from consent import document, selectors
from consent.models import (
    ENVIRONMENT_ITEMS,
    PRIVACY_NOTICE_VERSION,
    Consent,
    ConsentMethod,
    ImmutableRecordError,
    TermsChangeNotice,
    TermsTranslation,
    TermsVersion,
)
from reservations import outbox
from reservations.errors import ReservationError
from reservations.models import Office, Reservation
from reservations.rules import TOKYO
from reservations.templatetags.seeker_dates import format_date

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

USER_AGENT_MAX = 1000


class ConsentError(ReservationError):
    code = "consent"


class TermsError(Exception):
    """Publishing a terms version was refused; `message` is fit to show the staff member."""

    code = "terms"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


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


def _valid_ip(raw: str | None) -> str | None:
    # Art. 7(1) asks for the access record; a malformed address is dropped, never a 500.
    if not raw:
        return None
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def consent_record(
    *,
    reservation: Reservation,
    given: ConsentGiven,
    now: datetime,
    terms_now: selectors.TermsNow | None = None,
) -> Consent:
    """Record the consent behind a booking; refuse if any required item is missing.

    `terms_now`, when the caller has read the office's terms as of the same `now` (the page
    that sends the request does), saves reading them again.
    """
    terms = (
        terms_now.in_force
        if terms_now is not None
        else selectors.terms_in_force(reservation.office_id, now)
    )
    if terms is None:
        raise ConsentError(_("現在、利用規約が公開されていないため予約を受け付けられません。"))
    if given.terms_version_id != terms.pk:
        # The terms changed while the form was open: the person must read the new version.
        raise ConsentError(
            _("利用規約が改定されました。新しい利用規約を確認のうえ、もう一度お申し込みください。"),
            code="terms_changed",
        )
    if not given.platform_terms_accepted:
        # Art. 4: TeleOffice's or Zoom's own terms are agreed to as well.
        raise ConsentError(_("利用するアプリの利用規約への同意が必要です（第4条）。"))
    missing = [key for key in ENVIRONMENT_ITEMS if key not in given.confirmed_items]
    if missing:
        raise ConsentError(
            _("利用環境のすべての項目を確認してください（第5条・第2条(2)）。"), missing=missing
        )
    recorder = given.recorded_by if given.verbal else None
    if given.verbal and (recorder is None or not getattr(recorder, "is_staff", False)):
        # Art. 6(2): only a counselor takes a second booking during a session.
        raise ConsentError(
            _("相談中の予約には、同意を確認した職員の記録が必要です。"), code="verbal_needs_staff"
        )
    language = (given.language or "ja")[: Consent._meta.get_field("language").max_length]
    # The reference translation the terms page showed in this language (none in Japanese;
    # none when a counselor read the terms out during a session).
    shown = None if given.verbal else selectors.terms_translation(terms.pk, language)
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
        ip_address=_valid_ip(given.ip_address),
        user_agent=(given.user_agent or "")[:USER_AGENT_MAX],
        language=language,
        translation=shown,
        translation_language=shown.language if shown else "",
        translation_hash=shown.content_hash if shown else "",
        privacy_version=PRIVACY_NOTICE_VERSION,
        recorded_by=recorder,
    )


def consent_anonymize(*, reservation: Reservation, now: datetime | None = None) -> int:
    """Erase the personal data of a booking's consents, keeping what was agreed (rule 15)."""
    now = now or timezone.now()
    return Consent.objects.filter(reservation=reservation).anonymize(now=now)


# --- Terms versions (Art. 13) -----------------------------------------------------------


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def terms_publish(
    *, terms_version: TermsVersion, actor: AbstractBaseUser | None, now: datetime | None = None
) -> TermsVersion:
    """Publish a draft: its text is hashed and frozen, and holders of bookings are told."""
    now = now or timezone.now()
    if actor is not None and not actor.has_perm("consent.publish_termsversion"):
        raise TermsError(_("利用規約の版を公開する権限がありません。"), code="permission")
    with transaction.atomic():
        # One publication per office at a time, so the order of effective dates holds.
        Office.objects.select_for_update().filter(pk=terms_version.office_id).exists()
        version = TermsVersion.objects.select_for_update().get(pk=terms_version.pk)
        if version.is_published:
            raise TermsError(_("この版はすでに公開されています。"), code="already_published")
        today = now.astimezone(TOKYO).date()
        if version.effective_date < today:
            raise TermsError(
                _("施行日が過ぎています。今日以降の日付にしてください。"), code="effective_past"
            )
        latest = (
            TermsVersion.objects.published()
            .filter(office_id=version.office_id)
            .order_by("-effective_date")
            .first()
        )
        if latest is not None and version.effective_date <= latest.effective_date:
            raise TermsError(
                _("施行日は、公開済みの版「%(version)s」の施行日（%(date)s）より後にしてください。")
                % {"version": latest.version, "date": format_date(latest.effective_date)},
                code="effective_order",
            )
        try:
            version.full_clean()
        except ValidationError as exc:
            raise TermsError(" ".join(exc.messages), code="invalid") from exc
        version.content_hash = version.compute_hash()
        version.published_at = now
        version.published_by = actor if actor is not None and actor.is_authenticated else None
        version.save(update_fields=["content_hash", "published_at", "published_by"])
        # Art. 13: the change, the new text and its effective date are told in advance.
        terms_notify_change(terms_version=version, now=now)
    return version


def _station(office: Office) -> str:
    """ハローワーク伊勢崎 → 伊勢崎 (as the issuer 伊勢崎公共職業安定所長 names it)."""
    return office.name.removeprefix("ハローワーク")


def terms_adopt(
    *, office: Office, source: Office, now: datetime | None = None
) -> TermsVersion | None:
    """A new office starts with the terms in force at `source`, published in its own name.

    The text is the same, with the source office's name (in the body) and station name (in
    the issuer) replaced by the new office's; staff publish the office's own next version
    through the admin as usual. Nothing is done if the office already has published terms
    or the source has none in force. Returns the version made.
    """
    now = now or timezone.now()
    if TermsVersion.objects.published().filter(office=office).exists():
        return None
    current = selectors.terms_in_force(source.pk, now)
    if current is None:
        return None
    version = TermsVersion(
        office=office,
        version=current.version,
        title=current.title,
        body=current.body.replace(source.name, office.name),
        issued_label=current.issued_label,
        issuer=(
            current.issuer.replace(_station(source), _station(office))
            if _station(source)
            else current.issuer
        ),
        effective_date=current.effective_date,
        published_at=now,
    )
    version.content_hash = version.compute_hash()
    version.save()
    return version


def terms_translation_add(
    *, terms_version: TermsVersion, language: str, text: str, now: datetime | None = None
) -> tuple[TermsTranslation, str]:
    """Add a language's reference translation of a version; (it, "added"/"updated"/"same").

    It must follow the Japanese article by article. The same text again changes nothing; a
    different text for a published version is refused: what people were shown stays.
    """
    now = now or timezone.now()
    codes = {code for code, _name in settings.LANGUAGES}
    if language not in codes or language == "ja":
        raise TermsError(
            _("「%(language)s」は翻訳の言語として使えません。") % {"language": language},
            code="language",
        )
    text = document.normalize_translation(text)
    try:
        mismatches = document.translation_mismatches(
            terms_version.parsed(), document.parse_translation(text)
        )
    except document.DocumentError as exc:
        raise TermsError(str(exc), code="invalid") from exc
    if mismatches:
        raise TermsError(" ".join(mismatches), code="mismatch")
    digest = document.translation_hash(text)
    with transaction.atomic():
        TermsVersion.objects.select_for_update().filter(pk=terms_version.pk).exists()
        existing = TermsTranslation.objects.filter(
            terms_version=terms_version, language=language
        ).first()
        if existing is not None and existing.content_hash == digest:
            return existing, "same"
        if existing is not None:
            try:
                existing.text, existing.content_hash, existing.created_at = text, digest, now
                existing.save(update_fields=["text", "content_hash", "created_at"])
            except ImmutableRecordError as exc:
                raise TermsError(
                    _("公開済みの版の翻訳は変更できません（%(language)s）。")
                    % {"language": language},
                    code="frozen",
                ) from exc
            return existing, "updated"
        created = TermsTranslation.objects.create(
            terms_version=terms_version,
            language=language,
            text=text,
            content_hash=digest,
            created_at=now,
        )
    return created, "added"


def _notice_context(
    version: TermsVersion, reservation: Reservation, links: dict[str, str]
) -> dict[str, str]:
    with translation.override(reservation.language or "ja"):
        effective = format_date(version.effective_date)
    return {
        "terms_title": version.title,
        "terms_version": version.version,
        "effective_date": effective,
        "effective_date_iso": version.effective_date.isoformat(),
        **links,
    }


def terms_notify_change(*, terms_version: TermsVersion, now: datetime | None = None) -> int:
    """Email each person whose future session falls under this new version, once (Art. 13).

    Bookings already consented to this version (or a later one) are left out; so are
    sessions before the effective date, which the change does not touch. Returns the
    number of emails enqueued. Safe to run again: each booking is noted once.
    """
    now = now or timezone.now()
    if not terms_version.is_published:
        raise TermsError(_("公開されていない版は通知できません。"), code="not_published")
    if selectors.terms_previous(terms_version) is None:
        return 0  # the first version changes nothing anyone agreed to
    with transaction.atomic():
        # Two runs at once (the publisher and the periodic job) queue one email, not two.
        TermsVersion.objects.select_for_update().filter(pk=terms_version.pk).exists()
        told = set(
            TermsChangeNotice.objects.filter(terms_version=terms_version).values_list(
                "reservation__person_key", flat=True
            )
        )
        candidates = selectors.bookings_to_notify(terms_version, now)
        # The office's own terms pages: at the root while it is the one office taking
        # bookings, else under /o/<slug>/ (one query per run, not per booking).
        office = terms_version.office
        sole, _several = Office.objects.sole_taking_bookings()
        prefixed = sole is None or sole.pk != office.pk
        version = terms_version.version
        links = {
            name: _absolute(office.page_path(page, version, prefixed=prefixed))
            for name, page in (
                ("terms_url", "consent:terms-version"),
                ("changes_url", "consent:terms-changes"),
            )
        }
        notices = []
        for reservation in candidates:
            first = reservation.person_key not in told
            if first:
                told.add(reservation.person_key)
                outbox.email_enqueue(
                    reservation=reservation,
                    kind="terms_changed",
                    context=_notice_context(terms_version, reservation, links),
                )
            notices.append(
                TermsChangeNotice(
                    terms_version=terms_version,
                    reservation=reservation,
                    emailed=first,
                    created_at=now,
                )
            )
        TermsChangeNotice.objects.bulk_create(notices)
    return sum(1 for notice in notices if notice.emailed)


def terms_notify_due(*, now: datetime | None = None) -> dict[str, int]:
    """Run the change notice for every office's version in force and announced versions.

    Catches bookings made after a publication (the periodic job); returns emails per version.
    """
    now = now or timezone.now()
    sent: dict[str, int] = {}
    for office in Office.objects.order_by("id"):
        versions = list(selectors.terms_announced_all(office.pk, now))
        current = selectors.terms_in_force(office.pk, now)
        if current is not None:
            versions.insert(0, current)
        for version in versions:
            sent[f"{office.slug}/{version.version}"] = terms_notify_change(
                terms_version=version, now=now
            )
    return sent
