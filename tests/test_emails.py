"""Email content in Japanese and English, the .ics, the flow through the services, MAILERS."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from datetime import UTC, timedelta
from email import message_from_bytes, policy

import icalendar
import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail

from reservations import mail as seeker_mail
from reservations import outbox, services
from reservations.ics import reservation_ics
from reservations.models import EmailKind, EmailStatus, OutgoingEmail, Reservation
from reservations.rules import TOKYO, Status
from tests.fake_smtp import SMTPServer

pytestmark = pytest.mark.django_db

JA_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日\([月火水木金土日]\)")
EN_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d{1,2} [A-Z][a-z]+ \d{4}")
# The name has characters HTML would escape: plain text must show them as typed.
NAME = "山田 & 花子 <テスト>"


def run(callbacks_fixture, action):  # noqa: ANN001, ANN201
    """Run a service and then what its commit starts (the immediate task backend)."""
    with callbacks_fixture(execute=True):
        return action()


def rendered(reservation: Reservation, kind: str, context: dict | None = None):  # noqa: ANN201
    outbox.email_enqueue(reservation=reservation, kind=kind, context=context)
    email = OutgoingEmail.objects.filter(reservation=reservation, kind=kind).latest("id")
    return seeker_mail.render_email(email)


def html_of(message) -> str:  # noqa: ANN001
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return html


def ics_of(message) -> icalendar.Calendar | None:  # noqa: ANN001
    files = [a for a in message.attachments if a.filename.endswith(".ics")]
    if not files:
        return None
    [attachment] = files
    assert attachment.mimetype.startswith("text/calendar")
    return icalendar.Calendar.from_ical(attachment.content)


@pytest.fixture
def confirmed_teleoffice(make_reservation, next_slot, counselor):
    def make(n: int = 0, language: str = "ja", **fields) -> Reservation:
        reservation = make_reservation(
            next_slot(n), platform="teleoffice", language=language, name=NAME, **fields
        )
        return services.reservation_confirm(
            reservation=reservation,
            actor=counselor,
            meeting_url="https://teleoffice.example/room/42?a=1&b=2",
            meeting_passcode="7F3K",
        )

    return make


@pytest.mark.parametrize("language", ["ja", "en"])
# The waiting list's emails are about an entry, not a booking: tests/test_waitlist.py.
@pytest.mark.parametrize("kind", [k.value for k in EmailKind if not k.startswith("waitlist_")])
def test_every_email_renders_in_both_languages(kind, language, confirmed_teleoffice, office):
    reservation = confirmed_teleoffice(language=language, companion="interpreter")
    extra = {}
    if kind == EmailKind.TERMS_CHANGED:
        extra = {
            "terms_title": "オンライン職業相談等利用規約",
            "effective_date": "2027年4月1日",
            "terms_url": "http://testserver/terms/",
            "changes_url": "http://testserver/terms/changes/",
        }
    message = rendered(reservation, kind, extra)

    subject = message.subject
    assert subject and "\n" not in subject
    assert office.name in subject
    text = message.body
    html = html_of(message)
    for body in (text, html):
        assert office.phone in body  # every email: the number to call
        assert "None" not in body
        assert (JA_DATE if language == "ja" else EN_DATE).search(body), body
    assert re.search(rf'<html lang="{language}"', html)
    assert NAME in text  # as typed: text is not HTML-escaped
    assert "&amp;" not in text
    assert "山田 &amp; 花子 &lt;テスト&gt;" in html  # escaped where it must be
    assert "http://testserver/" in text
    assert message.extra_headers["Message-ID"].startswith("<")
    assert message.to == [reservation.email]


def test_the_confirmed_email_has_the_link_the_art_12_reminders_and_an_ics(
    confirmed_teleoffice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        reservation = confirmed_teleoffice(
            companion="interpreter", companion_language="ポルトガル語"
        )
    [received, confirmed] = mail.outbox
    assert "受け付けました" in received.subject
    assert "確定しました" in confirmed.subject
    text = confirmed.body
    assert "https://teleoffice.example/room/42?a=1&b=2" in text
    assert "パスコード: 7F3K" in text
    assert "録画・録音は、方法を問わず禁止" in text  # Art. 12(2)
    assert "個室" in text  # Art. 12(3)
    assert "アプリを使える状態" in text  # Art. 12(4)
    assert "通訳者の同席のご連絡を受けています" in text  # Art. 12(3), companion set
    assert "通訳の言語: ポルトガル語" in text
    assert "10分過ぎた場合はキャンセルとみなし" in text  # Art. 6(4)
    assert f"http://testserver/r/{reservation.token}/" in text
    local = reservation.slot.starts_at.astimezone(TOKYO)
    assert f"{local:%H:%M}–" in text

    calendar = ics_of(confirmed)
    [event] = calendar.walk("VEVENT")
    assert event.decoded("dtstart") == reservation.slot.starts_at.astimezone(UTC)
    assert event.decoded("dtend") == reservation.slot.ends_at.astimezone(UTC)
    assert event.decoded("dtstart").utcoffset() == timedelta(0)
    start_utc = reservation.slot.starts_at.astimezone(UTC)
    assert f"DTSTART:{start_utc:%Y%m%dT%H%M%S}Z" in calendar.to_ical().decode()
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["location"]) == reservation.meeting_join_url
    assert str(event["uid"]) == f"reservation-{reservation.reference}@testserver"
    assert ics_of(received) is None


def test_without_a_companion_the_email_asks_to_be_told_in_advance(confirmed_teleoffice):
    message = rendered(confirmed_teleoffice(), EmailKind.CONFIRMED)
    assert "通訳者や介助者が同席する場合は、事前にお電話でお知らせください" in message.body


def test_the_ics_times_are_utc_and_its_sequence_counts_moves(
    make_reservation, next_slot, counselor
):
    reservation = make_reservation(next_slot(0))
    calendar = icalendar.Calendar.from_ical(reservation_ics(reservation))
    [event] = calendar.walk("VEVENT")
    assert str(event["status"]) == "TENTATIVE"
    assert "location" not in event
    raw = reservation_ics(reservation).decode()
    start_utc = reservation.slot.starts_at.astimezone(UTC)
    assert f"DTSTART:{start_utc:%Y%m%dT%H%M%S}Z" in raw

    new_start = next_slot(1)
    moved = services.reservation_move(reservation=reservation, new_start=new_start, actor=counselor)
    [event] = icalendar.Calendar.from_ical(reservation_ics(moved)).walk("VEVENT")
    assert event.decoded("dtstart") == new_start.astimezone(UTC)
    assert event.decoded("sequence") == 1
    cancelled = services.reservation_cancel(reservation=moved, by="seeker")
    [event] = icalendar.Calendar.from_ical(reservation_ics(cancelled)).walk("VEVENT")
    assert str(event["status"]) == "CANCELLED"


def test_each_change_sends_its_email(
    make_reservation, next_slot, counselor, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = run(capture, lambda: make_reservation(next_slot(0), platform="teleoffice"))
    first = run(
        capture,
        lambda: services.reservation_confirm(
            reservation=first, actor=counselor, meeting_url="https://teleoffice.example/r/1"
        ),
    )
    old_start = first.slot.starts_at
    run(
        capture,
        lambda: services.reservation_move(
            reservation=first, new_start=next_slot(1), actor=counselor
        ),
    )
    run(
        capture,
        lambda: services.reservation_cancel(
            reservation=first, by="staff", actor=counselor, reason="電話: 体調不良"
        ),
    )
    second = run(capture, lambda: make_reservation(next_slot(2)))
    run(
        capture,
        lambda: services.reservation_reject(
            reservation=second,
            actor=counselor,
            reason="求職登録の確認が必要です。窓口へお越しください。",
        ),
    )
    subjects = [m.subject for m in mail.outbox]
    assert len(subjects) == 6
    moved, cancelled, rejected = mail.outbox[2], mail.outbox[3], mail.outbox[5]
    assert "変更しました" in moved.subject
    assert "変更前" in moved.body
    from reservations.templatetags.seeker_dates import format_datetime

    assert format_datetime(old_start) in moved.body
    assert ics_of(moved) is not None
    assert "お電話でいただいたご連絡により" in cancelled.body
    assert "体調不良" not in cancelled.body  # the staff's note is not for the email
    assert "求職登録の確認が必要です" in rejected.body
    assert ics_of(cancelled) is None


def test_expiry_and_no_show_emails(
    make_reservation, next_slot, counselor, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    unconfirmed = run(capture, lambda: make_reservation(next_slot(0)))
    attended_not = run(capture, lambda: make_reservation(next_slot(1), platform="teleoffice"))
    run(
        capture,
        lambda: services.reservation_confirm(
            reservation=attended_not, actor=counselor, meeting_url="https://teleoffice.example/r/2"
        ),
    )
    mail.outbox.clear()
    later = max(unconfirmed.slot.starts_at, attended_not.slot.starts_at) + timedelta(minutes=11)
    with time_machine.travel(later, tick=False):
        result = run(capture, lambda: services.reservations_sweep(now=later))
    assert (result.expired, result.no_show) == (1, 1)
    by_subject = {m.subject: m for m in mail.outbox}
    expired = next(m for s, m in by_subject.items() if "取り消し" in s)
    no_show = next(m for s, m in by_subject.items() if "キャンセル扱い" in s)
    assert "第6条(1)" in expired.body
    assert "第6条(4)" in no_show.body
    assert "ご利用をお断りすることがあります" in no_show.body
    assert "10分が過ぎた" in no_show.body


def test_an_email_that_no_longer_makes_sense_is_skipped(
    database_tasks, make_reservation, next_slot, counselor
):
    reservation = make_reservation(next_slot(), platform="teleoffice")
    reservation = services.reservation_confirm(
        reservation=reservation, actor=counselor, meeting_url="https://teleoffice.example/r/3"
    )
    services.reservation_cancel(reservation=reservation, by="seeker")
    database_tasks()  # the worker was down until now
    statuses = dict(OutgoingEmail.objects.values_list("kind", "status"))
    assert statuses == {
        EmailKind.REQUEST_RECEIVED: EmailStatus.SENT,
        EmailKind.CONFIRMED: EmailStatus.SKIPPED,  # a link for a cancelled booking: no
        EmailKind.CANCELLED: EmailStatus.SENT,
    }
    assert len(mail.outbox) == 2


def test_nothing_personal_reaches_the_logs(
    caplog, settings, fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    caplog.set_level(logging.DEBUG)
    settings.TASK_MAX_ATTEMPTS = 1
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": SMTPServer.reserve().port, "timeout": 2},
        }
    }
    reservation = make_reservation(
        next_slot(),
        name="秘密 太郎",
        email="secret.taro@example.jp",
        phone="090-1234-5678",
        topic="借金の相談",
    )
    services.reservation_confirm(reservation=reservation, actor=counselor)
    database_tasks()
    assert "secret.taro" not in caplog.text
    for personal in ("秘密 太郎", "090-1234-5678", "借金", reservation.seeker_number):
        assert personal not in caplog.text
    assert reservation.reference in caplog.text  # references are what logs carry


def test_mail_settings_use_mailers_and_keep_the_env_interface(tmp_path):
    """MAILERS replaces the deprecated EMAIL_* settings; EMAIL_URL/EMAIL_TIMEOUT still work."""
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.MAILERS)); "
        "print(hasattr(settings, 'EMAIL_HOST'))"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EMAIL_", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "hellowork.settings",
        "DEBUG": "0",
        "SECRET_KEY": "x" * 50,
        "EMAIL_URL": "smtp+tls://mailer:pa55@smtp.example.jp:587",
        "EMAIL_TIMEOUT": "7",
    }
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    mailers_line, has_email_host = done.stdout.strip().splitlines()[-2:]
    import json

    assert json.loads(mailers_line) == {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": "smtp.example.jp",
                "port": 587,
                "username": "mailer",
                "password": "pa55",
                "use_tls": True,
                "use_ssl": False,
                "timeout": 7,
            },
        }
    }
    assert has_email_host == "False"


def test_the_test_outbox_still_collects_mail(
    django_capture_on_commit_callbacks, confirmed_teleoffice
):
    assert django_settings.MAILERS == {
        "default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    }
    with django_capture_on_commit_callbacks(execute=True):
        confirmed_teleoffice()
    assert len(mail.outbox) == 2
    raw = mail.outbox[1].message().as_bytes()
    parsed = message_from_bytes(raw, policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert {part.get_content_type() for part in parsed.walk()} >= {
        "text/plain",
        "text/html",
        "text/calendar",
    }
    assert Reservation.objects.get().status == Status.CONFIRMED
