"""Text that would not read as typed, and text that grows when normalised, is refused at the form.

A name of zero-width characters, or one with bidirectional overrides, would show in the
admin and the CSV as something other than what was stored; NFKC turns ⑴ into "(1)" and
U+FDFA into 18 characters, so a value within the field's limit as typed could pass the
review and fail only at submit. Each gets its error next to its field at the review step.
"""

from __future__ import annotations

import pytest
import time_machine
from django.core.cache import cache

from reservations.models import Reservation
from tests.admin_support import PASSWORD, counselor_user, staff_groups
from tests.seeker_pages import NOW, answers, review
from tests.test_forms import field_error

__all__ = ["counselor_user", "staff_groups"]  # fixtures in use

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("\u200b\u200b\u200b", "氏名を入力してください。"),
        ("\u200b\u200c\u200d\u2060\ufeff", "氏名を入力してください。"),
        ("山田\u202e郎太", "文字の向きを変える制御文字が含まれています。"),
        ("\u2066山田 太郎\u2069", "文字の向きを変える制御文字が含まれています。"),
        ("\u202a山田\u202c", "文字の向きを変える制御文字が含まれています。"),
    ],
)
def test_names_that_do_not_read_as_typed_are_refused(client, terms, name, message):
    html = review(client, answers(terms.pk, name=name)).content.decode()
    assert message in field_error(html, "name")
    assert 'name="form_token"' not in html
    assert Reservation.objects.count() == 0


def test_bidi_controls_are_refused_in_the_topic_too(client, terms):
    html = review(client, answers(terms.pk, topic="仕事\u202eを探す")).content.decode()
    assert "文字の向きを変える制御文字が含まれています。" in field_error(html, "topic")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("topic", "\ufdfa" * 2000, "2000文字以内で入力してください"),
        ("phone", "\u2474" * 15, "電話番号が長すぎます。"),
        ("companion_language", "\u3377" * 40, "言語の名前が長すぎます。"),
    ],
)
def test_values_that_grow_under_nfkc_are_refused_at_the_review(
    client, terms, field, value, message
):
    extra = {"companion": "interpreter"} if field == "companion_language" else {}
    html = review(client, answers(terms.pk, **extra, **{field: value})).content.decode()
    assert message in field_error(html, field)
    assert 'name="form_token"' not in html  # never reaches the confirmation


def test_an_ordinary_name_with_a_zero_width_joiner_still_books(client, terms):
    html = review(client, answers(terms.pk, name="山田 太郎\u200d")).content.decode()
    assert 'name="form_token"' in html


def test_a_staff_login_with_a_rejected_next_lands_on_the_admin_index(client, counselor_user):
    response = client.post(
        "/admin/login/?next=https://evil.example/",
        {"username": counselor_user.username, "password": PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
