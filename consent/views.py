"""Public pages of the terms (the version in force, any published version, the changes) and
the privacy notice.

A page in another language shows that language's reference translation of the version when
there is one, labelled as such; `?text=ja` shows the binding Japanese text instead."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone, translation
from django.views.decorators.http import require_safe

from consent import document, selectors
from consent.models import PRIVACY_NOTICE_VERSION, TermsVersion
from reservations.models import Office
from reservations.offices import current_office_or_404, current_terms
from reservations.rules import TOKYO


def _page(
    request: HttpRequest,
    office: Office,
    terms: TermsVersion,
    now: datetime,
    in_force: TermsVersion | None = None,
) -> HttpResponse:
    today = now.astimezone(TOKYO).date()
    if in_force is None:
        in_force = current_terms(request, now).in_force
    history = list(selectors.terms_history(office.pk))
    later = [v for v in history if v.effective_date > terms.effective_date]
    if terms.effective_date > today:
        state = "announced"
    elif in_force is not None and in_force.pk == terms.pk:
        state = "in_force"
    else:
        state = "superseded"
    language = translation.get_language() or "ja"
    shown = selectors.terms_translation(terms.pk, language)
    original = request.GET.get("text") == "ja"
    return render(
        request,
        "consent/terms_detail.html",
        {
            "terms": terms,
            "document": terms.parsed(),
            # Art. 13: the Japanese text binds; a translation only helps to read it.
            "translation": shown if shown is not None and not original else None,
            "translated": shown.parsed() if shown is not None and not original else None,
            "translation_available": shown,
            "state": state,
            "in_force": in_force,
            "superseded_on": min((v.effective_date for v in later), default=None),
            "has_previous": any(v.effective_date < terms.effective_date for v in history),
            "history": history,
        },
    )


@require_safe
def terms_current(request: HttpRequest) -> HttpResponse:
    """`/terms/`: the terms in force today, with the issuer and date (Art. 13)."""
    office = current_office_or_404(request)
    now = timezone.now()
    terms = selectors.terms_in_force(office.pk, now)  # with its text
    if terms is None:
        raise Http404
    return _page(request, office, terms, now, in_force=terms)


@require_safe
def terms_version(request: HttpRequest, version: str) -> HttpResponse:
    """`/terms/<version>/`: any published version, past, present or announced."""
    office = current_office_or_404(request)
    terms = selectors.terms_published(office.pk, version)
    if terms is None:
        raise Http404
    return _page(request, office, terms, timezone.now())


@require_safe
def terms_changes(request: HttpRequest, version: str) -> HttpResponse:
    """`/terms/<version>/changes/`: what differs from the version it replaces (Art. 13)."""
    office = current_office_or_404(request)
    terms = selectors.terms_published(office.pk, version)
    if terms is None:
        raise Http404
    previous = selectors.terms_previous(terms)
    sections = []
    if previous is not None:
        sections = document.diff_documents(
            (previous.title, previous.body, previous.issued_label, previous.issuer),
            (terms.title, terms.body, terms.issued_label, terms.issuer),
        )
    return render(
        request,
        "consent/terms_changes.html",
        {
            "terms": terms,
            "previous": previous,
            "changed": [s for s in sections if s.changed],
            "unchanged": [s for s in sections if not s.changed],
        },
    )


@require_safe
def privacy(request: HttpRequest) -> HttpResponse:
    """`/privacy/`: what is recorded, why, for how long, who sees it (Art. 4, 7, 8)."""
    current_office_or_404(request)
    return render(
        request,
        "consent/privacy.html",
        {"retention_days": settings.RETENTION_DAYS, "version": PRIVACY_NOTICE_VERSION},
    )
