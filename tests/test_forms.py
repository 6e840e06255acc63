"""The request form through the test client: every way a person (or a script) can get it wrong.

Each bad input must give a clear error next to the field, in the page's language, keep what
was typed, never a 500, and save nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.core import mail, signing
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape

from consent.models import ART5_ITEMS, ENVIRONMENT_ITEMS, Consent
from reservations import views
from reservations.models import Reservation, Restriction
from tests.conftest import tokyo
from tests.seeker_pages import (
    BEYOND_HORIZON_SLOT,
    HOLIDAY_SLOT,
    NOW,
    OPEN_SLOT,
    OPEN_SLOT_2,
    SATURDAY_SLOT,
    TODAY_SLOT,
    YEAR_END_SLOT,
    answers,
    as_post,
    chosen_slot,
    hidden_fields,
    review,
    submit,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fixed_clock():
    # Rate-limit counters and one-time tokens live in the cache: start each test clean.
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def data(terms) -> dict:
    return answers(terms.pk)


def field_error(html: str, field: str) -> str:
    """The error text shown under a field (empty when there is none)."""
    match = re.search(rf'<p class="field__error" id="id_{field}_error">(.*?)</p>', html, re.S)
    return match.group(1) if match else ""


def without(data: dict, field: str) -> dict:
    """The answers with one box left unticked (an unticked box is not sent)."""
    return {key: value for key, value in data.items() if key != field}


def assert_nothing_saved() -> None:
    assert Reservation.objects.count() == 0
    assert Consent.objects.count() == 0


# --- step 1 → step 2 ------------------------------------------------------------------------


def test_valid_answers_lead_to_the_confirmation_step(client, data):
    response = review(client, data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "入力内容の確認" in html
    assert "2026年12月24日(木) 10:00–10:30" in html
    assert "山田 太郎" in html and "10040-1234567" in html
    assert 'name="form_token"' in html
    assert_nothing_saved()


def test_every_required_field_missing_is_named_next_to_the_field_and_in_the_summary(client, terms):
    response = client.post("/book/", {"action": "review", "terms_version": terms.pk})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="error-summary"' in html
    expected = {
        "slot": "相談の日時を選んでください。",
        "name": "氏名を入力してください。",
        "seeker_number": "求職番号を入力してください。",
        "email": "メールアドレスを入力してください。",
        "platform": "利用するアプリを選んでください。",
        "environment": "上のすべてを満たしていることを確かめて、チェックを入れてください。",
        "camera": "カメラ付きの端末が必要です（第2条(2)）。",
        "agree_terms": "申し込むには、利用規約と利用するアプリの利用規約への同意が必要です",
    }
    for field, message in expected.items():
        assert message in field_error(html, field), field
        # The summary links to the field.
        assert re.search(rf'href="#id_{field}(_0)?"', html), field
    # Optional fields stay quiet.
    for field in ("phone", "topic", "companion", "companion_language"):
        assert field_error(html, field) == ""
    # The field says it is invalid and points at its error.
    assert re.search(r'<input[^>]+name="name"[^>]+aria-invalid="true"', html)
    assert re.search(r'aria-describedby="[^"]*id_name_error', html)
    assert_nothing_saved()


@pytest.mark.parametrize(
    "field", ["name", "email", "platform", "slot", "environment", "camera", "agree_terms"]
)
def test_each_required_field_alone(client, data, field):
    response = review(client, {**data, field: ""})
    html = response.content.decode()
    assert field_error(html, field), field
    assert "入力内容の確認" not in html
    assert_nothing_saved()


@pytest.mark.parametrize(
    "typed",
    ["1004-1234567", "10040-123456789", "abcde-1234567", "10040--1234567", "10040", "<b>1</b>"],
)
def test_invalid_seeker_numbers_are_explained(client, data, typed):
    html = review(client, {**data, "seeker_number": typed}).content.decode()
    assert "数字5桁、ハイフン、数字（1〜8桁）" in field_error(html, "seeker_number")
    # What was typed is kept (escaped) so it can be corrected.
    assert f'value="{escape(typed)}"' in html


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("１００４０－１２３４５６７", "10040-1234567"),  # full-width digits and hyphen
        ("１００４０ー１２３４５６７", "10040-1234567"),  # katakana long vowel mark from an IME
        ("100401234567", "10040-1234567"),  # no hyphen
        (" 10040 - 1 ", "10040-1"),
    ],
)
def test_full_width_and_loose_seeker_numbers_are_accepted_and_normalised(
    client, data, typed, normalized
):
    html = review(client, {**data, "seeker_number": typed}).content.decode()
    assert "入力内容の確認" in html
    assert f"<dd>{normalized}</dd>" in html
    response = submit(client, {**data, "seeker_number": typed})
    assert response.status_code == 302
    assert Reservation.objects.get().seeker_number == normalized


def test_full_width_email_and_phone_are_accepted(client, data):
    response = submit(
        client,
        {
            **data,
            "email": "ｔａｒｏ＠ＥＸＡＭＰＬＥ.jp",
            "email_confirm": "taro@example.jp",
            "phone": "０９０－１２３４－５６７８",
        },
    )
    assert response.status_code == 302
    reservation = Reservation.objects.get()
    assert reservation.email == "taro@example.jp"
    assert reservation.phone == "090-1234-5678"


def test_about_to_register_books_without_a_number(client, data):
    response = submit(client, {**data, "seeker_number": "", "about_to_register": "on"})
    assert response.status_code == 302
    reservation = Reservation.objects.get()
    assert reservation.about_to_register is True
    assert reservation.seeker_number == ""


def test_the_address_is_typed_once_and_shown_for_checking(client, data):
    # The form asks for the address once: the confirmation step shows it in full and the
    # done page masked, so a mistake is seen before and after sending.
    form = client.get(f"/book/?slot={OPEN_SLOT}").content.decode()
    assert 'name="email_confirm"' not in form
    assert "taro@example.jp" in review(client, data).content.decode()


@pytest.mark.parametrize("typed", ["taro", "taro@", "@example.jp", "taro@@example.jp", "a b@x.jp"])
def test_malformed_email(client, data, typed):
    html = review(client, {**data, "email": typed}).content.decode()
    assert "メールアドレスの形が正しくありません" in field_error(html, "email")


@pytest.mark.parametrize("typed", ["12345", "090-1234-abcd", "電話して"])
def test_malformed_phone(client, data, typed):
    html = review(client, {**data, "phone": typed}).content.decode()
    assert "電話番号は数字とハイフンで" in field_error(html, "phone")


def test_interpreter_needs_a_language(client, data):
    html = review(client, {**data, "companion": "interpreter"}).content.decode()
    assert "通訳の言語を入力してください" in field_error(html, "companion_language")
    response = submit(client, {**data, "companion": "both", "companion_language": "ポルトガル語"})
    assert response.status_code == 302
    reservation = Reservation.objects.get()
    assert (reservation.companion, reservation.companion_language) == ("both", "ポルトガル語")


def test_a_language_without_an_interpreter_is_dropped(client, data):
    submit(client, {**data, "companion": "assistant", "companion_language": "英語"})
    assert Reservation.objects.get().companion_language == ""


def test_a_ten_thousand_character_name(client, data):
    response = review(client, {**data, "name": "山" * 10_000})
    html = response.content.decode()
    assert response.status_code == 200
    assert "氏名は100文字以内で入力してください（いまは10000文字です）。" in field_error(
        html, "name"
    )
    response = client.post("/book/", {**data, "name": "山" * 10_000, "action": "submit"})
    assert response.status_code == 200
    assert_nothing_saved()


def test_a_very_long_topic(client, data):
    html = review(client, {**data, "topic": "あ" * 2001}).content.decode()
    assert "2000文字以内" in field_error(html, "topic")


def test_the_environment_is_one_declaration_over_the_listed_items(client, data):
    html = client.get(f"/book/?slot={OPEN_SLOT}").content.decode()
    listed = re.search(r'<ul class="checklist" id="env-items"[^>]*>(.*?)</ul>', html, re.S)
    assert listed is not None
    for key in ART5_ITEMS:
        assert str(ENVIRONMENT_ITEMS[key]) in listed.group(1)
    assert len(re.findall(r'<input type="checkbox" name="environment"', html)) == 1
    refused = review(client, without(data, "environment")).content.decode()
    assert "準備ができてからお申し込みください" in field_error(refused, "environment")


def test_the_declaration_records_each_item_and_the_camera_is_its_own_tick(client, data):
    refused = review(client, without(data, "camera")).content.decode()
    assert "カメラ付きの端末が必要です" in field_error(refused, "camera")
    assert "入力内容の確認" not in refused
    submit(client, data)
    consent = Consent.objects.get()
    assert consent.items == dict.fromkeys(ENVIRONMENT_ITEMS, True)
    assert consent.platform_terms_accepted is True


def test_consent_boxes_are_never_ticked_in_advance(client):
    html = client.get(f"/book/?slot={OPEN_SLOT}").content.decode()
    for checkbox in re.findall(r'<input type="checkbox"[^>]*>', html):
        assert "checked" not in checkbox
    # 求職番号はまだありません, the Art. 5 declaration, the camera, the agreement:
    assert len(re.findall(r'<input type="checkbox"', html)) == 4
    # The chosen slot is carried and shown (no list of every slot); the platform is left
    # to the person.
    assert chosen_slot(html) == (OPEN_SLOT, "12月24日(木) 10:00–10:30")
    assert "<select" not in html and "<option" not in html
    assert '<a href="/slots/?week=2026-12-24">' in html
    assert not re.search(r'name="platform"[^>]*checked', html)


def test_html_and_script_in_every_field_is_escaped(
    client, data, django_capture_on_commit_callbacks
):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    fields = {
        "name": f"山田{evil}",
        "topic": f"相談{evil}",
        "companion": "interpreter",
        "companion_language": "<script>英語</script>",
        "phone": evil,
        "seeker_number": evil,
        "email": evil,
        "email_confirm": evil,
    }
    html = review(client, {**data, **fields}).content.decode()
    assert "<script>alert" not in html
    assert "<img src=x" not in html
    assert escape(f"山田{evil}") in html
    # Now only the fields that may hold free text, through to the booking and the email.
    free_text = {key: fields[key] for key in ("name", "topic", "companion", "companion_language")}
    confirmation = review(client, {**data, **free_text}).content.decode()
    assert "<script>alert" not in confirmation
    assert escape(f"相談{evil}") in confirmation
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, {**data, **free_text})
    assert response.status_code == 302
    done = client.get("/book/done/").content.decode()
    private = client.get(f"/r/{Reservation.objects.get().token}/").content.decode()
    for body in (done, private):
        assert "<script>alert" not in body and "<img src=x" not in body
    assert escape(f"山田{evil}") in private
    assert mail.outbox, "the request-received email was not sent"
    html_parts = [
        content
        for message in mail.outbox
        for content, mimetype in getattr(message, "alternatives", [])
        if mimetype == "text/html"
    ]
    assert html_parts, "the email has no HTML part to check"
    for content in html_parts:
        assert "<script>alert" not in content
        assert "<img src=x" not in content
        assert escape(f"山田{evil}") in content


# --- the slot ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slot", "message"),
    [
        (HOLIDAY_SLOT, "1月11日(月)は祝日（成人の日）のため、相談をお休みしています。"),
        (YEAR_END_SLOT, "年末年始（12月29日〜1月3日）は相談をお休みしています。"),
        (SATURDAY_SLOT, "土曜日・日曜日は相談をお休みしています。"),
        (
            TODAY_SLOT,
            "この日時の申込みは締め切りました。申込みは相談日の前の開庁日の17:00までです。",
        ),
        ("2026-12-18T10:00", "この日時の申込みは締め切りました。"),  # in the past
        (
            BEYOND_HORIZON_SLOT,
            "この日時はまだ予約を受け付けていません（28日先まで受け付けています）。",
        ),
        ("2026-12-24T10:15", "選ばれた時刻は相談の枠ではありません。"),
        ("2026-12-24T12:00", "選ばれた時刻は相談の枠ではありません。"),
        ("2026-12-24T10:00:00+09:00", None),  # the same slot with an offset is fine
        ("2026-12-24T01:00:00+00:00", None),  # and in UTC
        ("not-a-date", "選ばれた日時は正しくありません。"),
        ("9999-12-31T10:00", "選ばれた日時は正しくありません。"),
        ("2026-12-24T10:00' OR '1'='1", "選ばれた日時は正しくありません。"),
        ("x" * 5000, "選ばれた日時は正しくありません。"),
    ],
)
def test_tampered_closed_and_late_slots(client, data, slot, message):
    html = review(client, {**data, "slot": slot}).content.decode()
    if message is None:
        assert "入力内容の確認" in html
        return
    assert message in field_error(html, "slot")
    # Sending it directly (skipping the confirmation) is refused the same way.
    response = client.post("/book/", {**data, "slot": slot, "action": "submit"})
    assert response.status_code == 200
    assert message in field_error(response.content.decode(), "slot")
    assert_nothing_saved()


def test_a_closure_entered_by_staff(client, data, office):
    office.closures.create(date=tokyo(2026, 12, 24).date(), reason="庁舎点検")
    html = review(client, data).content.decode()
    assert "12月24日(木)は休業日のため、相談をお休みしています。" in field_error(html, "slot")


def test_a_full_slot_is_refused_at_the_form(client, data, make_reservation):
    make_reservation(tokyo(2026, 12, 24, 10), now=NOW)
    html = review(client, data).content.decode()
    assert "この日時は満席です。" in field_error(html, "slot")


def test_the_cut_off_passing_while_the_confirmation_is_open(client, data):
    confirmation = review(client, data).content.decode()
    # The confirmation stays open until after 17:00 on Wednesday 23rd.
    with time_machine.travel(tokyo(2026, 12, 23, 17) + timedelta(seconds=1), tick=False):
        response = client.post("/book/", as_post(hidden_fields(confirmation), action="submit"))
    html = response.content.decode()
    assert "この日時の申込みは締め切りました" in field_error(html, "slot")
    assert 'value="山田 太郎"' in html  # what was typed is kept
    assert_nothing_saved()


def test_bad_slot_in_the_link_is_explained_above_the_form(client):
    response = client.get(f"/book/?slot={HOLIDAY_SLOT}")
    html = response.content.decode()
    assert response.status_code == 200
    assert "祝日（成人の日）" in html
    assert chosen_slot(html) == ("", "日時を選んでください")


# --- step 2 → done ------------------------------------------------------------------------------


def test_submit_books_records_consent_and_shows_the_done_page(client, data, terms):
    response = submit(client, data)
    assert response.status_code == 302
    assert response["Location"] == "/book/done/"
    reservation = Reservation.objects.get()
    assert reservation.status == "requested"
    assert reservation.name == "山田 太郎"
    assert reservation.language == "ja"
    consent = Consent.objects.get()
    assert consent.terms_version_id == terms.pk
    assert consent.ip_address == "127.0.0.1"
    assert consent.platform == "zoom"
    done = client.get("/book/done/").content.decode()
    assert reservation.reference in done
    assert f"/r/{reservation.token}/" in done


def test_user_agent_is_recorded(data):
    client = Client(HTTP_USER_AGENT="Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)")
    submit(client, data)
    assert "iPhone" in Consent.objects.get().user_agent


def test_edit_returns_to_the_form_with_everything_kept(client, data):
    confirmation = review(client, data).content.decode()
    response = client.post("/book/", as_post(hidden_fields(confirmation), action="edit"))
    html = response.content.decode()
    assert "予約の申込み" in html and 'class="error-summary"' not in html
    assert 'value="山田 太郎"' in html
    assert chosen_slot(html) == (OPEN_SLOT, "12月24日(木) 10:00–10:30")
    assert html.count("checked") >= 3 + 1  # declaration, camera, agreement, platform
    assert_nothing_saved()


def test_double_submit_of_the_confirmation_books_once(client, data):
    confirmation = review(client, data).content.decode()
    post = as_post(hidden_fields(confirmation), action="submit")
    first = client.post("/book/", post)
    second = client.post("/book/", post)
    assert first.status_code == second.status_code == 302
    assert second["Location"] == "/book/done/"
    assert Reservation.objects.count() == 1
    assert Reservation.objects.get().reference in client.get("/book/done/").content.decode()


def test_a_forged_form_token_is_not_accepted(client, data):
    confirmation = review(client, data).content.decode()
    post = as_post(hidden_fields(confirmation), action="submit")
    post["form_token"] = ["forged"]
    response = client.post("/book/", post)
    html = response.content.decode()
    assert response.status_code == 200
    assert "まだ送信していません" in html
    assert 'name="form_token"' in html  # a fresh, valid token to try again
    assert_nothing_saved()


def test_terms_changed_while_the_form_was_open(client, data, terms):
    confirmation = review(client, data).content.decode()
    post = as_post(hidden_fields(confirmation), action="submit")
    post["terms_version"] = [str(terms.pk + 1000)]  # the version of an older page
    response = client.post("/book/", post)
    html = response.content.decode()
    assert response.status_code == 200
    assert "利用規約が改定されました" in field_error(html, "agree_terms")
    # The box is unticked again: agreeing to the old text is not agreeing to the new one.
    assert not re.search(r'name="agree_terms"[^>]*checked', html)
    assert f'name="terms_version" value="{terms.pk}"' in html
    assert_nothing_saved()


# --- refusals of the service ------------------------------------------------------------------


def test_slot_just_taken_offers_the_nearest_alternatives_and_keeps_the_answers(
    client, data, make_reservation
):
    confirmation = review(client, data).content.decode()
    # Someone else takes the last place between the confirmation and the click.
    make_reservation(tokyo(2026, 12, 24, 10), now=NOW)
    response = client.post("/book/", as_post(hidden_fields(confirmation), action="submit"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "この日時は、ほかの方の予約で埋まりました" in html
    alternatives = re.findall(r'name="slot" id="alt_\d+" value="([^"]+)"', html)
    assert alternatives == [
        "2026-12-24T10:30",
        "2026-12-24T11:00",
        "2026-12-24T11:30",
        "2026-12-24T14:00",
    ]
    assert Reservation.objects.count() == 1
    # Choosing an alternative leads to the confirmation with every answer kept.
    again = client.post("/book/", as_post(hidden_fields(html), action="review"))
    again_html = again.content.decode()
    assert "入力内容の確認" in again_html
    assert "2026年12月24日(木) 10:30–11:00" in again_html
    assert "山田 太郎" in again_html
    assert (
        client.post("/book/", as_post(hidden_fields(again_html), action="submit")).status_code
        == 302
    )
    assert Reservation.objects.count() == 2


def test_one_active_booking_with_the_same_email_shows_nothing_of_it(client, data):
    submit(client, data)
    existing = Reservation.objects.get()
    other = Client()
    response = submit(other, {**data, "slot": OPEN_SLOT_2})
    html = response.content.decode()
    assert "すでに有効な予約があります" in html
    # 求職番号 and email are not secrets: the link goes by email, never onto the page.
    assert existing.token not in html
    assert existing.reference not in html
    assert "12月24日" not in html
    assert "登録したメールアドレスにお送りしています" in html
    assert Reservation.objects.count() == 1


def test_one_active_booking_with_another_email_does_not_leak_the_link(client, data):
    submit(client, data)
    existing = Reservation.objects.get()
    response = submit(
        Client(),
        {**data, "slot": OPEN_SLOT_2, "email": "x@example.jp", "email_confirm": "x@example.jp"},
    )
    html = response.content.decode()
    assert "すでに有効な予約があります" in html
    assert existing.token not in html
    assert existing.reference not in html


def test_restricted_person_is_asked_to_phone(client, data, office):
    Restriction.objects.create(
        office=office, seeker_number="10040-1234567", reason="テスト", starts_at=NOW
    )
    html = submit(client, data).content.decode()
    assert "オンラインでの予約をお受けできません" in html
    assert f'href="tel:{office.phone}"' in html
    assert "テスト" not in html  # the internal reason stays internal
    assert_nothing_saved()


# --- rate limits --------------------------------------------------------------------------------


def test_rate_limit_per_seeker_number(client, data, settings):
    settings.REQUEST_RATE_LIMIT_PER_SEEKER = 2
    assert submit(client, data).status_code == 302
    assert submit(Client(), {**data, "slot": OPEN_SLOT_2}).status_code == 200  # limit of one
    response = submit(Client(), {**data, "slot": "2026-12-25T10:00"})
    assert response.status_code == 429
    assert "しばらくしてからお試しください" in response.content.decode()
    assert response["Retry-After"] == "3600"
    # An hour later the counter starts again.
    with time_machine.travel(tokyo(2026, 12, 21, 11) + timedelta(seconds=1), tick=False):
        assert submit(Client(), {**data, "slot": "2026-12-25T10:00"}).status_code == 200


def someone(data: dict, n: int, slot: str) -> dict:
    """The answers of the n-th different person, for another slot."""
    email = f"person{n}@example.jp"
    return {
        **data,
        "seeker_number": f"10040-{n}",
        "email": email,
        "email_confirm": email,
        "slot": slot,
    }


def test_rate_limit_per_ip(data, settings):
    settings.REQUEST_RATE_LIMIT_PER_IP = 2
    assert submit(Client(), someone(data, 1, "2026-12-22T10:00")).status_code == 302
    assert submit(Client(), someone(data, 2, "2026-12-22T10:30")).status_code == 302
    response = submit(Client(), someone(data, 3, "2026-12-22T11:00"))
    assert response.status_code == 429
    assert Reservation.objects.count() == 2
    # Another address is not held back by this one's counter.
    other_ip = Client(REMOTE_ADDR="192.0.2.99")
    assert submit(other_ip, someone(data, 3, "2026-12-22T11:00")).status_code == 302


def test_rate_limit_behind_a_trusted_proxy_uses_the_forwarded_address(data, settings):
    settings.REQUEST_RATE_LIMIT_PER_IP = 1
    settings.TRUSTED_PROXY_COUNT = 1
    first = Client(HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert submit(first, someone(data, 1, "2026-12-22T10:00")).status_code == 302
    assert Consent.objects.get().ip_address == "198.51.100.1"
    # Another person behind the same proxy is not blocked by the first one's counter, and
    # the left-most entry, which the client wrote itself, is ignored.
    second = Client(HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.2")
    assert submit(second, someone(data, 2, "2026-12-22T10:30")).status_code == 302
    assert Consent.objects.order_by("id").last().ip_address == "198.51.100.2"
    # The first address is now over its limit of one.
    assert submit(first, someone(data, 3, "2026-12-22T11:00")).status_code == 429


def test_a_second_send_while_the_first_is_still_at_work(client, data, monkeypatch):
    """The duplicate waits for the first; if that takes too long it says so kindly."""
    confirmation = review(client, data).content.decode()
    post = as_post(hidden_fields(confirmation), action="submit")
    nonce = signing.loads(post["form_token"][0], salt=views.FORM_TOKEN_SALT)
    cache.set(f"request-form:{nonce}", views.FORM_TOKEN_PENDING)  # the first is at work
    monkeypatch.setattr(views, "FORM_TOKEN_WAIT_STEPS", 2)  # wait 0.4 s, not 10 s
    response = client.post("/book/", post)
    html = response.content.decode()
    assert response.status_code == 200
    assert "先に届いた申込みを処理しています" in html
    assert_nothing_saved()
