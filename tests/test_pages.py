"""The seeker's pages through the test client: content, the calendar, the private page,
security headers and the number of queries."""

from __future__ import annotations

import re
from datetime import date, time, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent.models import TermsVersion
from reservations import services
from reservations.models import CapacityOverride, Reservation
from tests.conftest import tokyo
from tests.seeker_pages import NOW, answers, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def page(client, url: str) -> str:  # noqa: ANN001
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.content.decode()


# --- home --------------------------------------------------------------------------------------


def test_home_explains_the_service_in_friendly_words(client, office, terms):
    html = page(client, "/")
    for words in (
        "ご自宅などからスマートフォンやパソコンで受けられます",  # Art. 1
        "これから求職登録をする方",  # Art. 2(1)
        "カメラ付きのスマートフォンやパソコン",  # Art. 2(2)
        "相談は無料です。ただし、通信料などの費用はご自身の負担です",  # Art. 3
        "Zoom または TeleOffice",  # Art. 4
        "安全かどうか分からない無料Wi-Fiは使わない",  # Art. 5
        "録画や録音は、どんな方法でもできません",  # Art. 12(2)
        "まわりに人がいない場所",  # Art. 12(3)
    ):
        assert words in html, words
    assert f'href="tel:{office.phone}"' in html
    assert 'href="/terms/"' in html
    assert "オンライン職業相談等利用規約（令和5年4月1日）を読む" in html


def test_home_offers_the_next_sessions(client, office, terms, make_reservation):
    make_reservation(tokyo(2026, 12, 22, 10), now=NOW)  # the very first one is taken
    html = page(client, "/")
    links = re.findall(r'href="/book/\?slot=([^"]+)">予約する', html)
    assert links == [
        "2026-12-22T10:30",
        "2026-12-22T11:00",
        "2026-12-22T11:30",
        "2026-12-22T14:00",
        "2026-12-22T14:30",
        "2026-12-22T15:00",
    ]
    assert "12月22日(火) 10:30–11:00" in html


def test_home_without_any_free_session_says_so(client, office, terms):
    office.horizon_days = 1  # only Tuesday 22nd can be requested...
    office.save()
    for hour, minute in (
        (10, 0),
        (10, 30),
        (11, 0),
        (11, 30),
        (14, 0),
        (14, 30),
        (15, 0),
        (15, 30),
    ):
        CapacityOverride.objects.create(  # ...and the office closes all its sessions
            office=office, date=date(2026, 12, 22), start_time=time(hour, minute), capacity=0
        )
    html = page(client, "/")
    assert "いま予約できる日時はありません" in html
    assert "?slot=" not in html


def test_the_upcoming_terms_are_announced_on_every_page(client, office, terms):
    upcoming = TermsVersion(
        office=office,
        version="2027-04-01",
        title="オンライン職業相談等利用規約",
        body=terms.body,
        issuer=terms.issuer,
        issued_label="令和9年3月1日",
        effective_date=date(2027, 4, 1),
        published_at=timezone.now(),
    )
    upcoming.content_hash = upcoming.compute_hash()
    upcoming.save()
    for url in ("/", "/slots/", "/book/"):
        html = page(client, url)
        assert "2027年4月1日(木)" in html and "/terms/2027-04-01/" in html, url


# --- the week --------------------------------------------------------------------------------


def test_week_shows_open_full_and_past_slots(client, office, terms, make_reservation):
    make_reservation(tokyo(2026, 12, 23, 10), now=NOW)
    html = page(client, "/slots/?week=2026-12-21")
    assert "12月21日(月)〜12月27日(日)" in html
    # Monday's sessions closed for requests (cut-off was Friday 17:00), in one line.
    assert "この日の申込みは締め切りました" in html
    # Wednesday 10:00 is full, shown as full and not as a link.
    wednesday = html.split('id="day-20261223"')[1].split("</section>")[0]
    assert '10:00–10:30</span><span class="slot__state">満席' in wednesday
    assert "/book/?slot=2026-12-23T10:00" not in html
    # Rule 16: a full slot leads to its waiting list instead.
    assert 'href="/waitlist/?slot=2026-12-23T10:00"' in wednesday
    assert 'href="/book/?slot=2026-12-23T10:30"' in html
    # Saturday and Sunday have no sessions at this office and are not listed.
    assert "12月26日(土)" not in html
    assert "予約できる枠が31件あります。" in html


def test_week_says_why_days_are_closed(client, office, terms):
    office.closures.create(date=date(2027, 1, 14), reason="庁舎点検")
    year_end = page(client, "/slots/?week=2026-12-28")
    assert "12月28日(月)" in year_end
    for day in ("12月29日(火)", "12月30日(水)", "12月31日(木)", "1月1日(金)"):
        section = year_end.split(day)[1].split("</section>")[0]
        assert "年末年始のため、お休みです" in section, day
    holiday = page(client, "/slots/?week=2027-01-11")
    assert "祝日（成人の日）のため、お休みです" in holiday
    assert "休業日のため、お休みです" in holiday
    assert "庁舎点検" not in holiday  # the staff's note stays internal


def test_week_navigation_stays_within_the_horizon(client, office, terms):
    first = page(client, "/slots/?week=2026-12-21")
    assert 'href="/slots/?week=2026-12-28" rel="next"' in first
    assert 'rel="prev"' not in first
    # Asking for a week long past or far ahead shows the nearest week that exists.
    assert "12月21日(月)〜12月27日(日)" in page(client, "/slots/?week=2020-01-01")
    last = page(client, "/slots/?week=2030-01-01")
    assert "1月18日(月)〜1月24日(日)" in last  # the horizon ends on 18 January 2027
    assert 'rel="next"' not in last
    assert "この日の申込みは、まだ受け付けていません" in last
    assert "受付前" not in last.split("1月18日(月)</h3>")[1].split("</section>")[0]


def test_week_without_a_date_opens_on_the_first_free_session(client, office, terms):
    with time_machine.travel(tokyo(2026, 12, 25, 18), tick=False):  # Friday evening
        html = page(client, "/slots/")
    # Monday 28th closed at 17:00 today; the year-end follows: the first is 4 January.
    assert "1月4日(月)〜1月10日(日)" in html


@pytest.mark.parametrize("week", ["garbage", "2026-13-45", "'; DROP TABLE", "9" * 500])
def test_week_with_a_bad_date_is_not_an_error(client, office, terms, week):
    assert "予約できる枠" in page(client, f"/slots/?week={week}")


# --- query counts -------------------------------------------------------------------------------


def book_many(make_reservation, count: int) -> None:
    starts = [
        tokyo(2026, 12, day, hour, minute)
        for day in (22, 23, 24, 25, 28)
        for hour in (10, 11, 14, 15)
        for minute in (0, 30)
    ]
    for start in starts[:count]:
        make_reservation(start, now=NOW)


@pytest.mark.parametrize("url", ["/", "/slots/?week=2026-12-21", "/book/?slot=2026-12-24T10:00"])
def test_query_count_is_constant_in_slots_and_bookings(
    client, office, terms, make_reservation, url
):
    with CaptureQueriesContext(connection) as empty:
        page(client, url)
    book_many(make_reservation, 30)
    CapacityOverride.objects.create(
        office=office, date=date(2026, 12, 29), start_time=time(10), capacity=2
    )
    cache.clear()  # both read from the database, not the shared cache
    with CaptureQueriesContext(connection) as busy:
        page(client, url)
    assert len(busy) == len(empty), [q["sql"] for q in busy.captured_queries]


def test_query_counts_of_home_and_week(
    client, office, terms, make_reservation, django_assert_num_queries
):
    book_many(make_reservation, 12)
    # office, its published terms, the office's rules (windows, closures, overrides in
    # one), held places
    with django_assert_num_queries(4):
        page(client, "/")
    # The office, its terms and its availability now come from the shared cache.
    with django_assert_num_queries(0):
        page(client, "/slots/?week=2026-12-28")
    with django_assert_num_queries(0):
        page(client, "/")
    # A booking makes the next read work out the availability afresh (rules, held).
    make_reservation(tokyo(2026, 12, 28, 15, 30), now=NOW)
    with django_assert_num_queries(2):
        page(client, "/slots/?week=2026-12-28")


# --- security headers -----------------------------------------------------------------------------


def public_urls(client, terms) -> list[str]:  # noqa: ANN001
    submit(client, answers(terms.pk))
    token = Reservation.objects.get().token
    return ["/", "/slots/", "/book/", "/book/done/", f"/r/{token}/", f"/r/{token}/cancel/"]


def test_security_headers_and_no_inline_script_or_style(client, office, terms):
    for url in public_urls(client, terms):
        response = client.get(url)
        html = response.content.decode()
        policy = response["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "'unsafe-inline'" not in policy, url
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        # Only same-origin scripts with a src, no style attributes or blocks, no outside host.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), url
        assert not re.search(r"\sstyle=|<style", html), url
        assert not re.search(r'(src|href)="(https?:)?//', html), url


def test_private_pages_are_not_cached_or_indexed(client, office, terms):
    for url in public_urls(client, terms)[3:]:
        response = client.get(url)
        assert "no-store" in response["Cache-Control"], url
        assert response["X-Robots-Tag"] == "noindex, nofollow", url


def test_no_personal_data_in_any_url(client, office, terms):
    response = submit(client, answers(terms.pk))
    assert response["Location"] == "/book/done/"
    html = client.get("/book/done/").content.decode()
    for link in re.findall(r'href="([^"]+)"', html):
        assert "taro" not in link and "10040" not in link and "山田" not in link


def test_done_page_without_a_booking_in_the_session_goes_home(client, office, terms):
    response = client.get("/book/done/")
    assert response.status_code == 302 and response["Location"] == "/"


# --- the private page -----------------------------------------------------------------------------


@pytest.fixture
def booking(office, make_reservation) -> Reservation:
    return make_reservation(tokyo(2026, 12, 24, 10), now=NOW, platform="teleoffice")


def test_private_page_of_a_request(client, booking):
    html = page(client, f"/r/{booking.token}/")
    assert 'data-status="requested"' in html
    assert "まだ確定していません" in html
    assert "2026年12月24日(木) 10:00–10:30" in html
    assert booking.reference in html
    assert f'href="/r/{booking.token}/calendar.ics"' in html
    assert f'href="/r/{booking.token}/cancel/"' in html
    assert "録画や録音は、どんな方法でもできません" in html  # Art. 12 reminders
    assert "参加用のリンク" not in html


def test_private_page_of_a_confirmed_booking_shows_the_link_and_passcode(
    client, booking, counselor
):
    services.reservation_confirm(
        reservation=booking,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        meeting_passcode="428571",
        now=NOW,
    )
    html = page(client, f"/r/{booking.token}/")
    assert 'data-status="confirmed"' in html
    assert "予約が確定しました" in html
    assert 'href="https://teleoffice.example.jp/room/abc" rel="noopener noreferrer"' in html
    assert "428571" in html


def test_private_page_of_a_confirmed_zoom_booking_waiting_for_its_link(
    client, office, make_reservation, counselor
):
    booking = make_reservation(tokyo(2026, 12, 24, 10), now=NOW, platform="zoom")
    services.reservation_confirm(reservation=booking, actor=counselor, now=NOW)
    Reservation.objects.filter(pk=booking.pk).update(meeting_state="pending", meeting_join_url="")
    html = page(client, f"/r/{booking.token}/")
    assert "予約が確定しました" in html
    assert "参加用のリンクを準備しています" in html


@pytest.mark.parametrize(
    ("status", "words"),
    [
        ("cancelled", "この予約はキャンセルされました"),
        ("expired", "期限切れになりました"),
        ("rejected", "この申込みはお受けできませんでした"),
        ("no_show", "キャンセルとみなしました"),
        ("attended", "相談は終わりました"),
    ],
)
def test_private_page_in_plain_words_for_every_ending(client, booking, status, words):
    Reservation.objects.filter(pk=booking.pk).update(status=status)
    html = page(client, f"/r/{booking.token}/")
    assert words in html
    assert "/cancel/" not in html and "calendar.ics" not in html
    assert client.get(f"/r/{booking.token}/calendar.ics").status_code == 404


def test_calendar_file(client, booking):
    response = client.get(f"/r/{booking.token}/calendar.ics")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert f'filename="hellowork-{booking.reference}.ics"' in response["Content-Disposition"]
    body = response.content.decode()
    assert "BEGIN:VEVENT" in body and "DTSTART:20261224T010000Z" in body


def test_cancel_needs_a_confirmation_step(client, booking):
    html = page(client, f"/r/{booking.token}/cancel/")
    assert "この予約をキャンセルしますか？" in html
    booking.refresh_from_db()
    assert booking.status == "requested"  # a GET changes nothing
    response = client.post(f"/r/{booking.token}/cancel/")
    assert response.status_code == 302 and response["Location"] == f"/r/{booking.token}/"
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    event = booking.events.get(to_status="cancelled")
    assert event.actor_kind == "seeker"
    assert "予約をキャンセルしました" in page(client, f"/r/{booking.token}/")
    # A second press explains instead of failing.
    client.post(f"/r/{booking.token}/cancel/")
    assert "すでにキャンセルされています" in page(client, f"/r/{booking.token}/")


def test_cancel_is_possible_until_the_start_only(client, booking):
    with time_machine.travel(tokyo(2026, 12, 24, 10) - timedelta(seconds=1), tick=False):
        assert "この予約をキャンセルしますか？" in page(client, f"/r/{booking.token}/cancel/")
    with time_machine.travel(tokyo(2026, 12, 24, 10), tick=False):
        html = page(client, f"/r/{booking.token}/")
        assert f'href="/r/{booking.token}/cancel/"' not in html
        assert "お電話" in html
        client.post(f"/r/{booking.token}/cancel/")
    booking.refresh_from_db()
    assert booking.status == "requested"


@pytest.mark.parametrize(
    "url",
    [
        "/r/unknown-token/",
        "/r/unknown-token/cancel/",
        "/r/unknown-token/calendar.ics",
        "/r/" + "x" * 300 + "/",
        "/no-such-page/",
    ],
)
def test_unknown_links_get_a_friendly_404_that_leaks_nothing(client, office, terms, url):
    response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 404
    assert "ページが見つかりません" in html
    assert f'href="tel:{office.phone}"' in html
    assert "unknown-token" not in html and "xxxx" not in html


def test_an_anonymised_booking_is_gone(client, booking):
    Reservation.objects.filter(pk=booking.pk).update(anonymized_at=NOW)
    assert client.get(f"/r/{booking.token}/").status_code == 404


def test_cancel_post_needs_the_csrf_token(booking):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/r/{booking.token}/cancel/").status_code == 403
    booking.refresh_from_db()
    assert booking.status == "requested"


def test_the_500_page_renders_without_a_request():
    """Django renders 500.html with an empty context: it must not need the database."""
    html = render_to_string("500.html")
    assert "ただいま表示できません" in html
    assert '<html lang="ja">' in html
    assert "/static/css/site.css" in html


def test_a_post_without_the_csrf_cookie_gets_a_kind_page(office, terms):
    response = Client(enforce_csrf_checks=True).post("/book/", answers(terms.pk))
    html = response.content.decode()
    assert response.status_code == 403
    assert "もう一度お試しください" in html
    assert Reservation.objects.count() == 0
