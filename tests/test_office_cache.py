"""The offices and their published terms in the shared cache: a page read again runs no
query, any change of an office or of a terms version shows on the next page, and whatever
changes something (a booking, a cancellation) reads them from the database."""

from __future__ import annotations

import socket
from datetime import date
from io import StringIO

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client

from consent import services as consent_services
from consent.models import TermsVersion
from reservations import shared_cache
from reservations.models import Office
from tests.conftest import tokyo
from tests.seeker_pages import answers, review

pytestmark = pytest.mark.django_db

NOW = tokyo(2026, 12, 21, 10)  # Monday
DAY = {"from": "2026-12-24", "to": "2026-12-24"}
WEEK = "/slots/?week=2026-12-21"
FORM = "/book/?slot=2026-12-24T10:00"
OWN_REDIS = "redis://127.0.0.1:6379/10"  # no other test uses it


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def footer(client: Client, url: str = "/") -> str:
    page = client.get(url).content.decode()
    return page[page.index('<footer class="site-footer">') :]


def test_a_page_read_again_runs_no_query(client, office, terms, django_assert_num_queries):
    pages = ["/", WEEK, FORM, "/slots/"]
    for url in pages:
        assert client.get(url).status_code == 200
    assert client.get("/api/slots/", DAY).status_code == 200
    for url in pages:
        with django_assert_num_queries(0):
            assert Client().get(url).status_code == 200
    with django_assert_num_queries(0):
        assert Client().get("/api/slots/", DAY).json()["slots"]


def test_a_post_reads_the_office_and_its_terms_afresh(client, office, terms):
    client.get(FORM)
    # A change made in SQL, behind the application's back: the pages' entries do not know
    # of it, and a page shows the office as it was until they expire.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE reservations_office SET accepting_bookings = %s WHERE id = %s",
            [False, office.pk],
        )
    assert client.get(FORM).status_code == 200
    # Sending the form is a POST: the office is read from the database, and it takes no
    # bookings any more.
    assert review(client, answers(terms.pk)).status_code == 404
    cache.clear()
    assert client.get(FORM).status_code == 404


@pytest.mark.parametrize("how", ["save", "update", "bulk_update"])
def test_a_change_of_an_office_shows_on_the_next_page(client, office, terms, how):
    assert "0270-99-9999" not in footer(client)
    client.get(WEEK)
    office.phone, office.name = "0270-99-9999", "ハローワーク新伊勢崎"
    if how == "save":
        office.save()
    elif how == "update":
        Office.objects.filter(pk=office.pk).update(phone=office.phone, name=office.name)
    else:
        Office.objects.bulk_update([office], ["phone", "name"])
    assert 'href="tel:0270-99-9999"' in footer(client)
    assert "ハローワーク新伊勢崎" in footer(client, WEEK)
    assert "ハローワーク新伊勢崎の職業相談" in client.get("/").content.decode()


def test_an_office_that_stops_taking_bookings_is_gone_from_the_next_page(
    client, office, terms, maebashi
):
    assert client.get("/o/maebashi/").status_code == 200
    assert client.get("/api/slots/", {**DAY, "office": "maebashi"}).status_code == 200
    maebashi.accepting_bookings = False
    maebashi.save()
    assert client.get("/o/maebashi/").status_code == 404
    api = client.get("/api/slots/", {**DAY, "office": "maebashi"})
    assert api.status_code == 400 and "error" in api.json()
    # With one office left taking bookings, the root is its page again, not the chooser.
    assert "ハローワーク伊勢崎の職業相談" in client.get("/").content.decode()


def test_an_unknown_office_is_never_kept(client, office, terms):
    assert client.get("/o/nowhere/").status_code == 404
    assert not [key for key in cache._cache if "nowhere" in key]
    # Opened later under that name, it is found at once.
    call_command(
        "office_add", "nowhere", name="ハローワーク某所", phone="0270-11-1111", stdout=StringIO()
    )
    assert client.get("/o/nowhere/").status_code == 200


def test_new_terms_are_announced_on_the_next_page_and_named_from_their_day(client, office, terms):
    assert "利用規約は" not in client.get("/").content.decode()
    draft = TermsVersion.objects.create(
        office=office,
        version="2027-01-04",
        title="オンライン職業相談等利用規約（改定）",
        body=terms.body,
        issued_label="令和9年1月4日",
        issuer=terms.issuer,
        effective_date=date(2027, 1, 4),
    )
    assert "利用規約は" not in client.get("/").content.decode()  # a draft is not announced
    consent_services.terms_publish(terms_version=draft, actor=None, now=NOW)
    home = client.get("/").content.decode()
    assert "利用規約は" in home and "/terms/2027-01-04/" in home
    assert client.get(FORM).context["terms"].pk == terms.pk
    # On its effective day the same kept list names the new version in force.
    with time_machine.travel(tokyo(2027, 1, 4, 9), tick=False):
        assert client.get(FORM).context["terms"].pk == draft.pk
        assert "利用規約は" not in client.get("/").content.decode()


def test_the_version_moves_again_once_the_change_commits(
    office, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        office.save()
    version = shared_cache.version(shared_cache.OFFICES_VERSION_KEY)
    assert callbacks
    for callback in callbacks:
        callback()
    assert shared_cache.version(shared_cache.OFFICES_VERSION_KEY) != version


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_without_a_cache_the_pages_read_the_database(client, settings, office, terms, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "hellowork.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    for url in ("/", WEEK, FORM):
        assert client.get(url).status_code == 200
    assert client.get("/api/slots/", DAY).json()["slots"]
    assert "offices: the cache could not be read" in caplog.text
    office.save()  # a change stands though the cache cannot be told
    assert "offices:version: the cache could not be told of a change" in caplog.text


def test_the_shipped_redis_backend_keeps_one_client_and_serves_the_pages(
    client, settings, office, terms, django_assert_num_queries
):
    redis.Redis.from_url(OWN_REDIS).flushdb()
    settings.CACHES = {"default": {"BACKEND": "hellowork.cache.RedisCache", "LOCATION": OWN_REDIS}}
    try:
        from django.core.cache import cache as redis_cache

        backend = redis_cache._cache
        assert backend.get_client() is backend.get_client()
        assert backend.get_client(write=True) is backend.get_client()
        first = client.get("/").content.decode()
        with django_assert_num_queries(0):
            assert Client().get("/").content.decode().count("ハローワーク伊勢崎") == first.count(
                "ハローワーク伊勢崎"
            )
        office.name = "ハローワーク新伊勢崎"
        office.save()
        assert "ハローワーク新伊勢崎の職業相談" in client.get("/").content.decode()
        stored = redis_cache.make_key(shared_cache.OFFICES_VERSION_KEY)
        assert redis.Redis.from_url(OWN_REDIS).exists(stored)
    finally:
        redis.Redis.from_url(OWN_REDIS).flushdb()
