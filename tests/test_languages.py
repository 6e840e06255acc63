"""The portal's eight languages: how each is named, tagged and dated, how a first visit picks
one, and how a booking keeps the language it was made in.

The catalogues themselves (complete, compiled, no Japanese left) are checked in test_i18n.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.utils import translation

from hellowork.languages import bcp47
from reservations import mail as seeker_mail
from reservations import services
from reservations.models import EmailKind, OutgoingEmail, Reservation
from reservations.rules import TOKYO
from reservations.templatetags.seeker_dates import format_date, format_datetime, format_day
from tests.conftest import tokyo
from tests.seeker_pages import NOW, answers, submit

# (Django code, BCP 47 tag, own name, a word of the home page in that language)
LANGUAGES = [
    ("ja", "ja", "日本語", "オンライン職業相談の予約"),
    ("en", "en", "English", "Book online job counselling"),
    ("pt-br", "pt-BR", "Português", "Agendar"),
    ("vi", "vi", "Tiếng Việt", "Đặt lịch"),
    ("tl", "tl", "Tagalog", "konsultasyon"),
    ("es", "es", "Español", "Reservar"),
    ("zh-hans", "zh-Hans", "中文", "预约"),
    ("ja-x-easy", "ja-x-easy", "やさしいにほんご", "よやく"),
]
CODES = [code for code, *_rest in LANGUAGES]


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    with translation.override(translation.get_language()):
        yield


@pytest.fixture
def _fixed_clock() -> Iterator[None]:
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def client_in(language: str) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def html_lang(html: str) -> str:
    match = re.search(r'<html lang="([^"]+)">', html)
    assert match, html[:200]
    return match.group(1)


# --- step 1: the languages, their names, tags and dates -------------------------------------


def test_the_portal_offers_eight_languages_each_in_its_own_name():
    assert [(code, str(name)) for code, name in settings.LANGUAGES] == [
        (code, name) for code, _tag, name, _word in LANGUAGES
    ]
    # The names are never translated: the same in every language.
    for code in CODES:
        with translation.override(code):
            assert [str(name) for _code, name in settings.LANGUAGES][2] == "Português"


@pytest.mark.parametrize(
    ("code", "tag"),
    [(code, tag) for code, tag, *_rest in LANGUAGES]
    + [("en-us", "en-US"), ("es-419", "es-419"), ("zh-hant-tw", "zh-Hant-TW"), ("", "")],
)
def test_bcp47_tags(code, tag):
    assert bcp47(code) == tag


@pytest.mark.usefixtures("_fixed_clock")
@pytest.mark.parametrize(("code", "tag", "name", "word"), LANGUAGES)
def test_every_language_page_is_tagged_and_switches_to_the_others(
    office, terms, code, tag, name, word
):
    response = client_in(code).get("/")
    html = response.content.decode()
    assert html_lang(html) == tag
    assert response["Content-Language"] == tag
    assert word in html
    switch = html[html.index('class="language-switch"') : html.index("</form>")]
    for other, other_tag, other_name, _word in LANGUAGES:
        button = f'value="{other}" lang="{other_tag}">{other_name}</button>'
        assert (button in switch) == (other != code), (code, other)


@pytest.mark.parametrize(("code", "tag", "name", "word"), LANGUAGES)
def test_the_switch_turns_each_language_on(office, terms, code, tag, name, word):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": code, "next": "/"})
    assert response.status_code == 302
    assert html_lang(client.get("/").content.decode()) == tag


# Thursday 24 December 2026, 10:00 Tokyo
DATES = {
    "ja": ("12月24日(木)", "2026年12月24日(木)", "2026年12月24日(木) 10:00"),
    "ja-x-easy": ("12月24日(木)", "2026年12月24日(木)", "2026年12月24日(木) 10:00"),
    "en": ("Thu 24 December", "Thu 24 December 2026", "Thu 24 December 2026, 10:00"),
    "pt-br": (
        "qui, 24 de dezembro",
        "qui, 24 de dezembro de 2026",
        "qui, 24 de dezembro de 2026, 10:00",
    ),
    "vi": ("Thứ 5, 24/12", "Thứ 5, 24/12/2026", "Thứ 5, 24/12/2026, 10:00"),
    "tl": ("Huw, Disyembre 24", "Huw, Disyembre 24, 2026", "Huw, Disyembre 24, 2026, 10:00"),
    "es": (
        "jue 24 de diciembre",
        "jue 24 de diciembre de 2026",
        "jue 24 de diciembre de 2026, 10:00",
    ),
    "zh-hans": ("12月24日 星期四", "2026年12月24日 星期四", "2026年12月24日 星期四 10:00"),
}


@pytest.mark.parametrize("code", CODES)
def test_dates_in_every_language(code):
    start = tokyo(2026, 12, 24, 10)
    with translation.override(code):
        assert (format_day(start), format_date(start), format_datetime(start)) == DATES[code]


# Japanese script a non-Japanese date must not contain (Chinese writes 年月日 itself).
JAPANESE_DATE_PARTS = re.compile(r"[月日曜年\u3040-\u30ff]")
KANA = re.compile(r"[\u3040-\u30ff]")


@pytest.mark.parametrize("code", [code for code in CODES if not code.startswith("ja")])
def test_no_japanese_in_dates_outside_japanese(code):
    pattern = KANA if code == "zh-hans" else JAPANESE_DATE_PARTS
    with translation.override(code):
        for day in range(1, 8):  # every weekday
            for month in range(1, 13):  # every month
                text = format_datetime(tokyo(2027, month, day, 14))
                assert not pattern.search(text), (code, text)


def test_django_own_texts_in_tagalog_are_not_japanese():
    # Django ships no Tagalog: hellowork/locale/tl keeps its texts from falling back to Japanese.
    with translation.override("tl"):
        assert translation.gettext("Enter a valid email address.") == (
            "Maglagay ng tamang email address."
        )
        assert translation.gettext("This field is required.") == "Kailangang sagutan ito."
        assert format_date(date(2027, 5, 3)) == "Lun, Mayo 3, 2027"


@pytest.mark.parametrize(
    ("code", "expected"), [("pt-br", "email válido"), ("vi", "địa chỉ email"), ("es", "válida")]
)
def test_django_own_texts_come_from_django_where_it_has_them(code, expected):
    with translation.override(code):
        assert expected in translation.gettext("Enter a valid email address.")


def test_easy_japanese_falls_back_to_japanese_for_django_texts():
    with translation.override("ja-x-easy"):
        assert "メールアドレス" in translation.gettext("Enter a valid email address.")


@pytest.mark.usefixtures("_fixed_clock")
@pytest.mark.parametrize("code", ["pt-br", "vi", "tl", "es", "zh-hans"])
def test_holidays_are_named_in_english_outside_japanese(office, terms, code):
    html = client_in(code).get("/slots/?week=2027-01-11").content.decode()
    assert "Coming of Age Day" in html and "成人の日" not in html


# --- step 2: the first visit follows Accept-Language; a choice sticks -----------------------


@pytest.mark.parametrize(
    ("accept", "tag"),
    [
        ("pt-BR,pt;q=0.9", "pt-BR"),
        ("pt", "pt-BR"),
        ("pt-PT", "pt-BR"),
        ("fil", "tl"),
        ("fil-PH,en;q=0.5", "tl"),
        ("tl", "tl"),
        ("tl-PH", "tl"),
        ("zh-CN,zh;q=0.9", "zh-Hans"),
        ("zh-Hans", "zh-Hans"),
        ("zh-Hans-CN", "zh-Hans"),
        ("zh-SG", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("es-PE", "es"),
        ("es-419", "es"),
        ("es", "es"),
        ("vi-VN", "vi"),
        ("vi", "vi"),
        ("en-US,en;q=0.9", "en"),
        ("en-GB", "en"),
        ("ja-JP", "ja"),
        ("ko-KR", "ja"),  # not ours: the source language
        ("ko,en;q=0.5", "en"),  # the first of ours the browser accepts
        ("de;q=0.9,vi;q=0.8", "vi"),
        ("*", "ja"),
        ("", "ja"),
    ],
)
def test_a_first_visit_speaks_the_browser_language(office, terms, accept, tag):
    response = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/")
    assert html_lang(response.content.decode()) == tag
    assert "Accept-Language" in response["Vary"]


def test_the_choice_made_with_the_switch_wins_over_the_browser(office, terms):
    client = Client(HTTP_ACCEPT_LANGUAGE="pt-BR")
    assert html_lang(client.get("/").content.decode()) == "pt-BR"
    client.post("/i18n/setlang/", {"language": "vi", "next": "/"})
    assert html_lang(client.get("/").content.decode()) == "vi"
    assert html_lang(client.get("/slots/").content.decode()) == "vi"
    client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    assert html_lang(client.get("/").content.decode()) == "ja"


def test_a_cookie_naming_no_language_of_ours_is_not_a_choice(office, terms):
    client = Client(HTTP_ACCEPT_LANGUAGE="es")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    assert html_lang(client.get("/").content.decode()) == "es"


# --- step 3: a booking keeps the language it was made in ------------------------------------

SEEKER = {"name": "Maria Silva", "email": "maria@example.com", "email_confirm": "maria@example.com"}


@pytest.mark.usefixtures("_fixed_clock")
@pytest.mark.parametrize("code", CODES)
def test_a_booking_made_in_a_language_keeps_it(terms, code, django_capture_on_commit_callbacks):
    client = client_in(code)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, answers(terms.pk, **SEEKER))
    assert response.status_code == 302, response.content.decode()[:300]
    reservation = Reservation.objects.get()
    assert reservation.language == code
    assert reservation.consents.get().language == code
    [received] = mail.outbox
    assert f"/r/{reservation.token}/" in received.body
    [(html, _mimetype)] = received.alternatives
    assert html_lang(html) == bcp47(code)


@pytest.mark.parametrize("code", CODES)
def test_the_private_link_opens_in_the_booking_language_in_any_browser(
    make_reservation, next_slot, code
):
    reservation = make_reservation(next_slot(0), language=code, platform="teleoffice")
    browser = Client(HTTP_ACCEPT_LANGUAGE="ja")  # a fresh browser, set to Japanese
    for path in (f"/r/{reservation.token}/", f"/r/{reservation.token}/cancel/"):
        response = browser.get(path)
        assert response.status_code == 200
        assert html_lang(response.content.decode()) == bcp47(code), path
        assert response["Content-Language"] == bcp47(code)
    # The language stays the page's only: the next public page follows the browser again.
    assert html_lang(browser.get("/").content.decode()) == "ja"


def test_the_person_s_own_choice_wins_on_the_private_link(make_reservation, next_slot):
    reservation = make_reservation(next_slot(0), language="vi")
    browser = Client(HTTP_ACCEPT_LANGUAGE="vi")
    browser.post("/i18n/setlang/", {"language": "en", "next": f"/r/{reservation.token}/"})
    assert html_lang(browser.get(f"/r/{reservation.token}/").content.decode()) == "en"


def test_an_unknown_private_link_speaks_the_browser_language(office):
    response = Client(HTTP_ACCEPT_LANGUAGE="es").get("/r/no-such-booking/")
    assert response.status_code == 404
    assert html_lang(response.content.decode()) == "es"


@pytest.mark.parametrize("code", CODES)
def test_emails_render_in_the_booking_language_and_their_links_keep_it(
    make_reservation, next_slot, code
):
    reservation = make_reservation(next_slot(0), language=code, name="Maria Silva")
    services.reservation_cancel(reservation=reservation, by="seeker")
    email = OutgoingEmail.objects.filter(reservation=reservation, kind=EmailKind.CANCELLED).get()
    assert email.language == code
    message = seeker_mail.render_email(email)
    [(html, _mimetype)] = message.alternatives
    assert html_lang(html) == bcp47(code)
    with translation.override(code):
        greeting = translation.gettext("%(name)s 様") % {"name": "Maria Silva"}
    assert message.body.startswith(greeting)
    # The office's home page (it stays right when offices are added).
    path = f"/o/{reservation.office.slug}/?lang={code}"
    home = f"{settings.SITE_URL}{path}"
    assert home in message.body and f'href="{home}"' in html
    # What such a link opens, in a browser set to Japanese.
    page = Client(HTTP_ACCEPT_LANGUAGE="ja").get(path)
    assert html_lang(page.content.decode()) == bcp47(code)


def test_a_link_s_language_gives_way_to_the_person_s_choice(office, terms):
    client = client_in("en")
    assert html_lang(client.get("/?lang=vi").content.decode()) == "en"
    assert html_lang(Client().get("/?lang=xx").content.decode()) == "ja"
    assert html_lang(Client().get("/?lang=zh-Hans").content.decode()) == "zh-Hans"


@pytest.mark.parametrize("code", CODES)
def test_the_calendar_file_is_in_the_booking_language(make_reservation, next_slot, code):
    reservation = make_reservation(next_slot(0), language=code)
    ics = Client(HTTP_ACCEPT_LANGUAGE="ja").get(f"/r/{reservation.token}/calendar.ics")
    with translation.override(code):
        reference = translation.gettext("予約番号: %(reference)s") % {
            "reference": reservation.reference
        }
    assert reference.encode() in ics.content.replace(b"\r\n ", b"")


# --- step 6: times name Japan time -------------------------------------------------------

JAPAN_TIME = {
    "ja": "（日本時間）",
    "en": "(Japan time)",
    "pt-br": "(horário do Japão)",
    "vi": "(giờ Nhật Bản)",
    "tl": "(oras sa Japan)",
    "es": "(hora de Japón)",
    "zh-hans": "（日本时间）",
    "ja-x-easy": "（日本時間（にほんじかん））",
}


@pytest.mark.parametrize("code", CODES)
def test_times_name_japan_time_in_emails_calendar_and_pages(
    make_reservation, next_slot, counselor, code
):
    reservation = make_reservation(next_slot(0), language=code, platform="teleoffice")
    services.reservation_confirm(
        reservation=reservation,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        meeting_passcode="1234",
    )
    with translation.override(code):
        start = reservation.slot.starts_at.astimezone(TOKYO)
        when = f"{format_date(start)} {start:%H:%M}"
    for kind in (EmailKind.REQUEST_RECEIVED, EmailKind.CONFIRMED):
        email = OutgoingEmail.objects.filter(reservation=reservation, kind=kind).latest("id")
        message = seeker_mail.render_email(email)
        [(html, _mimetype)] = message.alternatives
        line = next(line for line in message.body.splitlines() if when in line)
        assert line.endswith(JAPAN_TIME[code]), line
        assert JAPAN_TIME[code] in html
    ics = Client().get(f"/r/{reservation.token}/calendar.ics").content.decode()
    assert JAPAN_TIME[code] in ics.replace("\r\n ", "")
    page = client_in(code).get(f"/r/{reservation.token}/").content.decode()
    assert JAPAN_TIME[code] in page


@pytest.mark.usefixtures("_fixed_clock")
def test_the_done_page_names_japan_time(terms, django_capture_on_commit_callbacks):
    client = client_in("pt-br")
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, answers(terms.pk, **SEEKER))
    html = client.get(response["Location"]).content.decode()
    assert "qui, 24 de dezembro de 2026 10:00–10:30 (horário do Japão)" in html
