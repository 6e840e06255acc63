"""Shared fixtures: the seeded office, published terms, consent and booking factories."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.apps import apps as django_apps
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone

from consent.models import ENVIRONMENT_ITEMS, TermsVersion
from consent.services import ConsentGiven
from reservations import services
from reservations.models import Office, Reservation
from reservations.rules import TOKYO

seed_isesaki = importlib.import_module("reservations.migrations.0002_seed_isesaki").seed
load_first_terms = importlib.import_module("consent.migrations.0003_first_terms_version").load
load_translations = importlib.import_module(
    "consent.migrations.0008_terms_translations_2023_04_01"
).load

IS_POSTGRES = "postgres" in os.environ.get("DATABASE_URL", "")


def tokyo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware datetime in Asia/Tokyo."""
    return datetime.combine(date(year, month, day), time(hour, minute), tzinfo=TOKYO)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Each test starts with an empty cache: the database is rolled back after every test,
    so cached availability, rate-limit counters and one-time tokens must go with it."""
    cache.clear()
    yield
    cache.clear()


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
    """The published terms version in force (令和5年4月1日), with its reference translations."""
    version = (
        TermsVersion.objects.filter(office=office, published_at__isnull=False)
        .order_by("-effective_date")
        .first()
    )
    if version is None:
        # Flushed by a transactional test: load the shipped text as the migration does.
        load_first_terms(django_apps, None)
        load_translations(django_apps, None)
        version = TermsVersion.objects.get(office=office, version="2023-04-01")
    return version


@pytest.fixture
def maebashi(office, terms) -> Office:
    """A second office taking bookings, made as staff would: with the command."""
    call_command(
        "office_add",
        "maebashi",
        name="ハローワーク前橋",
        name_en="Hello Work Maebashi",
        phone="027-290-2111",
        address="群馬県前橋市天川大島町130-1",
        address_en="130-1 Amagawaoshima-machi, Maebashi, Gunma",
        prefecture="群馬県",
        stdout=StringIO(),
    )
    return Office.objects.get(slug="maebashi")


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


# --- Meetings and the task queue (tests/fake_zoom.py, tests/fake_smtp.py) ---------------


@pytest.fixture
def fake_zoom(settings):
    """A fake Zoom on 127.0.0.1 (real HTTP) with the ZOOM_* settings pointing at it."""
    from tests.fake_zoom import FakeZoom

    zoom = FakeZoom()
    settings.ZOOM_ACCOUNT_ID = zoom.state.account_id
    settings.ZOOM_CLIENT_ID = zoom.state.client_id
    settings.ZOOM_CLIENT_SECRET = zoom.state.client_secret
    settings.ZOOM_API_BASE_URL = zoom.api_base_url
    settings.ZOOM_OAUTH_URL = zoom.oauth_url
    settings.ZOOM_TIMEOUT = 1.0
    yield zoom
    zoom.stop()


@pytest.fixture
def database_tasks(settings) -> Callable[..., None]:
    """Tasks as rows (TASK_BACKEND=database); call the result to run the due ones."""
    from django.core.management import call_command

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.TASK_RETRY_BASE_SECONDS = 0.0

    def run_due_tasks() -> None:
        call_command("run_worker", "--batch", "--no-periodic", "--interval", "0", verbosity=0)

    return run_due_tasks


@pytest.fixture
def next_slot(office) -> Callable[[int], datetime]:
    """The start of the n-th requestable slot a week or more from the real clock."""
    from reservations import selectors

    def pick(n: int = 0) -> datetime:
        now = timezone.now()
        first = now.astimezone(TOKYO).date() + timedelta(days=7)
        slots = selectors.availability(office, first, first + timedelta(days=21), now)
        return slots[n].slot.start

    return pick


@pytest.fixture(autouse=True)
def _japanese_between_tests() -> Iterator[None]:
    """Every test starts in the source language: a request in English must not leak."""
    from django.utils import translation

    translation.activate("ja")
    yield
    translation.activate("ja")
