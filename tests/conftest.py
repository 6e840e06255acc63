"""Shared fixtures: the seeded office, published terms, consent and booking factories."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from datetime import date, datetime, time

import pytest
from django.apps import apps as django_apps
from django.utils import timezone

from consent.models import ENVIRONMENT_ITEMS, TermsVersion
from consent.services import ConsentGiven
from reservations import services
from reservations.models import Office, Reservation
from reservations.rules import TOKYO

seed_isesaki = importlib.import_module("reservations.migrations.0002_seed_isesaki").seed

IS_POSTGRES = "postgres" in os.environ.get("DATABASE_URL", "")


def tokyo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware datetime in Asia/Tokyo."""
    return datetime.combine(date(year, month, day), time(hour, minute), tzinfo=TOKYO)


@pytest.fixture
def office(db) -> Office:
    """ハローワーク伊勢崎 as the data migration seeds it.

    Transactional tests (live server, races) flush the tables afterwards, so the seed is
    re-applied when it is missing, with the migration's own function.
    """
    if not Office.objects.filter(slug="isesaki").exists():
        seed_isesaki(django_apps, None)
    return Office.objects.get(slug="isesaki")


@pytest.fixture
def terms(office) -> TermsVersion:
    """The published terms version in force (令和5年4月1日)."""
    version = (
        TermsVersion.objects.filter(office=office, published_at__isnull=False)
        .order_by("-effective_date")
        .first()
    )
    if version is None:
        version = TermsVersion(
            office=office,
            version="2023-04-01",
            title="オンライン職業相談等利用規約",
            body="第1条 テスト",
            issuer="伊勢崎公共職業安定所長",
            issued_label="令和5年4月1日",
            effective_date=date(2023, 4, 1),
            published_at=timezone.now(),
        )
        version.content_hash = version.compute_hash()
        version.save()
    return version


@pytest.fixture
def consent_given(terms) -> Callable[..., ConsentGiven]:
    """A complete online consent to the terms in force; override any part."""

    def make(**overrides: object) -> ConsentGiven:
        values: dict = {
            "terms_version_id": terms.pk,
            "platform_terms_accepted": True,
            "confirmed_items": frozenset(ENVIRONMENT_ITEMS),
            "ip_address": "192.0.2.10",
            "user_agent": "pytest",
            "language": "ja",
        }
        values.update(overrides)
        return ConsentGiven(**values)

    return make


@pytest.fixture
def make_reservation(office, consent_given) -> Callable[..., Reservation]:
    """Request a booking through the service, as a seeker would."""
    counter = {"n": 0}

    def make(slot_start: datetime, *, now: datetime | None = None, **fields: object) -> Reservation:
        counter["n"] += 1
        values: dict = {
            "name": f"山田 太郎{counter['n']}",
            "email": f"seeker{counter['n']}@example.jp",
            "seeker_number": f"10040-{1000000 + counter['n']}",
            "platform": "zoom",
        }
        values.update(fields)
        return services.reservation_request(
            office=office,
            slot_start=slot_start,
            consent=consent_given(),
            now=now or timezone.now(),
            **values,
        )

    return make


@pytest.fixture
def counselor(db, django_user_model):
    return django_user_model.objects.create_user(
        username="counselor", password="counselor-pass-2026", is_staff=True
    )
