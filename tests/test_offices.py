"""Many offices in one installation: the chooser, /o/<slug>/ pages, the private link, emails
and .ics naming the booking's office, the 404 for an office not taking bookings, and the
office_add / offices_import commands."""

from __future__ import annotations

import re
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from consent.models import TermsVersion
from reservations import services
from reservations.models import Office, Reservation, SessionWindow
from tests.seeker_pages import NOW, answers, as_post, hidden_fields

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def book(client: Client, prefix: str, terms_version: TermsVersion, **overrides: object):  # noqa: ANN201
    """The whole request journey under `prefix` (e.g. /o/maebashi)."""
    if "email" in overrides:
        overrides.setdefault("email_confirm", overrides["email"])
    data = answers(terms_version.pk, **overrides)
    confirmation = client.post(f"{prefix}/book/", {**data, "action": "review"})
    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert 'name="form_token"' in html
    return client.post(f"{prefix}/book/", as_post(hidden_fields(html), action="submit"))


def text(response) -> str:  # noqa: ANN001
    return response.content.decode()


def test_with_one_office_the_root_is_its_home_and_its_pages_are_also_under_o(office, terms):
    client = Client()
    home = text(client.get("/"))
    assert "ハローワーク伊勢崎" in home and 'href="/slots/"' in home
    assert client.get("/o/isesaki/").status_code == 200
    assert 'href="/o/isesaki/slots/"' in text(client.get("/o/isesaki/"))


def test_with_two_offices_the_root_is_the_chooser_by_prefecture(
    office, maebashi, django_assert_num_queries
):
    client = Client()
    html = text(client.get("/"))
    assert "ハローワークを選ぶ" in html
    assert "<h2>群馬県</h2>" in html
    assert 'href="/o/isesaki/"' in html and 'href="/o/maebashi/"' in html
    # An office page at the root no longer guesses an office.
    assert client.get("/slots/").status_code == 404
    assert "data-office-missing" in text(client.get("/book/"))


def test_the_chooser_filters_by_name_and_prefecture_without_javascript(office, maebashi):
    client = Client()
    only = text(client.get("/", {"q": "前橋"}))
    assert 'href="/o/maebashi/"' in only and 'href="/o/isesaki/"' not in only
    english = text(client.get("/", {"q": "isesaki"}))
    assert 'href="/o/isesaki/"' in english and 'href="/o/maebashi/"' not in english
    Office.objects.filter(slug="isesaki").update(prefecture="埼玉県")
    by_prefecture = text(client.get("/", {"prefecture": "埼玉県"}))
    assert 'href="/o/isesaki/"' in by_prefecture and 'href="/o/maebashi/"' not in by_prefecture
    assert "条件に合うハローワークはありません。" in text(client.get("/", {"q": "札幌"}))
    # A prefecture that is not one of the 47 is ignored, not an error.
    assert client.get("/", {"prefecture": "<x>"}).status_code == 200


def test_the_chooser_in_english_shows_english_names_with_the_japanese_marked(office, maebashi):
    client = Client()
    client.cookies["django_language"] = "en"
    html = text(client.get("/"))
    assert 'Hello Work Maebashi <span lang="ja">ハローワーク前橋</span>' in html
    assert 'Gunma <span lang="ja">群馬県</span>' in html


def test_each_office_shows_its_own_week_name_phone_and_address(office, maebashi):
    # Maebashi runs sessions on Thursday mornings only; Isesaki keeps its ten windows.
    maebashi.windows.exclude(weekday=3, start_time__hour=10).delete()
    client = Client()
    week_m = text(client.get("/o/maebashi/slots/?week=2026-12-21"))
    week_i = text(client.get("/o/isesaki/slots/?week=2026-12-21"))
    assert "ハローワーク前橋" in week_m and "027-290-2111" in week_m and "天川大島町" in week_m
    assert "ハローワーク伊勢崎" not in week_m and "0270-23-8609" not in week_m
    assert "ハローワーク伊勢崎" in week_i and "027-290-2111" not in week_i
    links_m = set(re.findall(r'href="(/o/maebashi/book/\?slot=[^"]+)"', week_m))
    links_i = set(re.findall(r'href="(/o/isesaki/book/\?slot=[^"]+)"', week_i))
    assert links_m and all("slot=2026-12-24T1" in link for link in links_m)
    assert len(links_i) > len(links_m)
    assert "/o/isesaki/" not in week_m


def test_a_booking_at_each_office_names_that_office_everywhere(
    office, terms, maebashi, django_capture_on_commit_callbacks
):
    maebashi_terms = TermsVersion.objects.get(office=maebashi)
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        done = book(client, "/o/maebashi", maebashi_terms, email="m@example.jp")
    assert done.status_code == 302 and done["Location"] == "/o/maebashi/book/done/"
    done_page = text(client.get(done["Location"]))
    assert "ハローワーク前橋" in done_page and "ハローワーク伊勢崎" not in done_page
    with django_capture_on_commit_callbacks(execute=True):
        other = book(
            Client(), "/o/isesaki", terms, email="i@example.jp", seeker_number="10040-7654321"
        )
    assert other["Location"] == "/o/isesaki/book/done/"

    at_m = Reservation.objects.get(email="m@example.jp")
    at_i = Reservation.objects.get(email="i@example.jp")
    assert at_m.office == maebashi and at_i.office == office
    assert at_m.consents.get().terms_version == maebashi_terms

    # The private link works whatever the office and names the booking's office.
    page = text(Client().get(at_m.get_absolute_url()))
    assert "ハローワーク前橋" in page and "027-290-2111" in page and "天川大島町" in page
    assert "ハローワーク伊勢崎" not in page and 'href="/o/maebashi/"' in page
    ics = Client().get(f"{at_m.get_absolute_url()}calendar.ics").content.decode()
    assert "ハローワーク前橋" in ics and "027-290-2111" in ics and "伊勢崎" not in ics

    [to_m] = [m for m in mail.outbox if m.to == ["m@example.jp"]]
    [to_i] = [m for m in mail.outbox if m.to == ["i@example.jp"]]
    assert "ハローワーク前橋" in to_m.subject and "027-290-2111" in to_m.body
    assert "天川大島町" in to_m.body and "/o/maebashi/" in to_m.body and "伊勢崎" not in to_m.body
    assert "ハローワーク伊勢崎" in to_i.subject and "前橋" not in to_i.body


def test_an_english_email_and_ics_give_the_english_name_and_address_with_the_japanese(
    maebashi, make_reservation, django_capture_on_commit_callbacks
):
    terms_m = TermsVersion.objects.get(office=maebashi)
    client = Client()
    client.cookies["django_language"] = "en"
    with django_capture_on_commit_callbacks(execute=True):
        book(client, "/o/maebashi", terms_m, email="en@example.jp")
    [message] = mail.outbox
    assert "Hello Work Maebashi (ハローワーク前橋)" in message.subject
    assert (
        "130-1 Amagawaoshima-machi, Maebashi, Gunma (群馬県前橋市天川大島町130-1)" in message.body
    )
    html = message.alternatives[0][0]
    assert 'Hello Work Maebashi <span lang="ja">ハローワーク前橋</span>' in html
    reservation = Reservation.objects.get(email="en@example.jp")
    ics = Client().get(f"{reservation.get_absolute_url()}calendar.ics").content.decode()
    assert "Hello Work Maebashi" in ics.replace("\r\n ", "")


def test_rule_8_counts_bookings_per_office(office, terms, maebashi):
    """One active booking per person per office: the same person may book at each."""
    first = book(Client(), "/o/isesaki", terms)
    assert first.status_code == 302
    again = book(Client(), "/o/isesaki", terms, slot="2026-12-24T14:00")
    assert 'data-refusal="limit"' in text(again)
    elsewhere = book(Client(), "/o/maebashi", TermsVersion.objects.get(office=maebashi))
    assert elsewhere.status_code == 302
    assert Reservation.objects.filter(seeker_number="10040-1234567").count() == 2


@pytest.mark.parametrize(
    "url", ["/o/nowhere/", "/o/nowhere/slots/", "/o/closed/book/", "/o/closed/terms/"]
)
def test_an_unknown_office_or_one_not_taking_bookings_is_a_clear_404(office, maebashi, url):
    call_command(
        "office_add", "closed", name="ハローワーク休止", phone="0000", accepting_bookings="no",
        stdout=StringIO(),
    )  # fmt: skip
    response = Client().get(url)
    assert response.status_code == 404
    html = text(response)
    assert "data-office-missing" in html and "ハローワークを選ぶ" in html
    assert "ハローワーク伊勢崎" not in html and "ハローワーク前橋" not in html


def test_a_booking_keeps_its_private_link_when_its_office_stops_taking_bookings(
    office, terms, maebashi
):
    book(Client(), "/o/maebashi", TermsVersion.objects.get(office=maebashi))
    Office.objects.filter(pk=maebashi.pk).update(accepting_bookings=False)
    reservation = Reservation.objects.get(office=maebashi)
    page = Client().get(reservation.get_absolute_url())
    assert page.status_code == 200 and "ハローワーク前橋" in text(page)
    assert Client().get("/o/maebashi/slots/").status_code == 404


def test_the_api_answers_for_the_named_office_only(office, maebashi):
    client = Client()
    ok = client.get("/api/slots/", {"from": "2026-12-24", "to": "2026-12-24", "office": "maebashi"})
    assert ok.json()["office"] == "maebashi"
    assert client.get("/api/slots/", {"from": "2026-12-24", "to": "2026-12-24"}).status_code == 400
    Office.objects.filter(pk=maebashi.pk).update(accepting_bookings=False)
    gone = client.get(
        "/api/slots/", {"from": "2026-12-24", "to": "2026-12-24", "office": "maebashi"}
    )
    assert gone.status_code == 400


def test_each_office_has_its_terms_pages(office, terms, maebashi):
    page = text(Client().get("/o/maebashi/terms/"))
    assert "前橋公共職業安定所長" in page and "ハローワーク前橋（以下" in page
    assert text(Client().get("/o/isesaki/terms/")).count("伊勢崎公共職業安定所長") >= 1


def chooser_queries(count: int) -> int:
    existing = Office.objects.count()
    Office.objects.bulk_create(
        Office(slug=f"bench-{n}", name=f"ハローワーク{n}", phone="0000", prefecture="東京都")
        for n in range(existing, count)
    )
    with CaptureQueriesContext(connection) as queries:
        response = Client().get("/")
    assert response.status_code == 200 and text(response).count('href="/o/') == count
    return len(queries)


def test_the_chooser_queries_stay_the_same_from_3_to_540_offices(office):
    assert chooser_queries(3) == chooser_queries(540)


# --- the commands --------------------------------------------------------------------------


def test_office_add_creates_once_and_updates_on_rerun(office, terms):
    out = StringIO()
    call_command("office_add", "kiryu", name="ハローワーク桐生", phone="0277-22-8609", stdout=out)
    assert "作成しました" in out.getvalue()
    kiryu = Office.objects.get(slug="kiryu")
    assert kiryu.windows.count() == 10 and kiryu.accepting_bookings
    assert TermsVersion.objects.published().filter(office=kiryu).count() == 1
    out = StringIO()
    call_command(
        "office_add", "kiryu", name_en="Hello Work Kiryu", prefecture="群馬県",
        copy_settings_from="isesaki", stdout=out,
    )  # fmt: skip
    assert "更新しました" in out.getvalue()
    kiryu.refresh_from_db()
    assert (kiryu.name, kiryu.name_en, kiryu.phone) == (
        "ハローワーク桐生",
        "Hello Work Kiryu",
        "0277-22-8609",
    )
    assert Office.objects.filter(slug="kiryu").count() == 1
    assert kiryu.windows.count() == office.windows.count()
    assert TermsVersion.objects.filter(office=kiryu).count() == 1


def test_office_add_copies_the_settings_and_windows_of_another_office(office, terms):
    Office.objects.filter(pk=office.pk).update(horizon_days=14, max_active_bookings=2)
    SessionWindow.objects.filter(office=office, weekday=4).delete()
    call_command(
        "office_add", "ota", name="ハローワーク太田", phone="0276-46-8609",
        copy_settings_from="isesaki", stdout=StringIO(),
    )  # fmt: skip
    ota = Office.objects.get(slug="ota")
    assert (ota.horizon_days, ota.max_active_bookings) == (14, 2)
    assert ota.windows.count() == 8 and not ota.windows.filter(weekday=4).exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"phone": "1"}, "name"),  # a new office needs its name
        ({"name": "ハローワークX", "phone": "1", "prefecture": "群馬"}, "prefecture"),
        ({"name": "ハローワークX", "phone": "1", "copy_settings_from": "none"}, "none"),
        ({"name": "ハローワークX", "phone": "1", "accepting_bookings": "maybe"}, "yes"),
    ],
)
def test_office_add_refuses_bad_input_and_saves_nothing(office, options, message):
    with pytest.raises(CommandError, match=message):
        call_command("office_add", "x-office", stdout=StringIO(), **options)
    assert not Office.objects.filter(slug="x-office").exists()


def test_offices_import_creates_and_updates_and_is_idempotent(office, terms, tmp_path):
    csv = tmp_path / "offices.csv"
    csv.write_text(
        "slug,name,name-en,phone,prefecture,address,accepting_bookings\n"
        "maebashi,ハローワーク前橋,Hello Work Maebashi,027-290-2111,群馬県,前橋市,yes\n"
        "takasaki,ハローワーク高崎,Hello Work Takasaki,027-327-8609,群馬県,,no\n",
        encoding="utf-8",
    )
    call_command("offices_import", str(csv), stdout=StringIO())
    call_command("offices_import", str(csv), stdout=StringIO())
    assert Office.objects.count() == 3
    takasaki = Office.objects.get(slug="takasaki")
    assert not takasaki.accepting_bookings and takasaki.windows.count() == 10
    assert TermsVersion.objects.filter(office=takasaki).count() == 1


def test_offices_import_with_a_bad_row_names_its_line_and_imports_nothing(office, terms, tmp_path):
    csv = tmp_path / "offices.csv"
    csv.write_text(
        "slug,name,phone,prefecture\n"
        "maebashi,ハローワーク前橋,027-290-2111,群馬県\n"
        "takasaki,ハローワーク高崎,027-327-8609,群馬県\n"
        "kiryu,ハローワーク桐生,0277-22-8609,グンマ\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match=r"^4行目: prefecture"):
        call_command("offices_import", str(csv), stdout=StringIO())
    assert list(Office.objects.values_list("slug", flat=True)) == ["isesaki"]
    assert not TermsVersion.objects.exclude(office=office).exists()


def test_offices_import_refuses_an_unknown_column(office, tmp_path):
    csv = tmp_path / "offices.csv"
    csv.write_text("slug,name,fax\nx,ハローワークX,1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="^1行目"):
        call_command("offices_import", str(csv), stdout=StringIO())
    assert Office.objects.count() == 1


def test_office_save_is_the_one_service_behind_both_commands(office, terms):
    saved = services.office_save(slug="numata", details={"name": "ハローワーク沼田", "phone": "1"})
    assert saved.created and saved.terms is not None
    assert saved.terms.issuer == "沼田公共職業安定所長"
    assert not services.office_save(slug="numata", details={"phone": "2"}).created
