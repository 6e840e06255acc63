"""Art. 13: people whose sessions fall under a new terms version are told, once each."""

from __future__ import annotations

import io
import threading
from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection

from consent import services
from consent.models import TermsChangeNotice, TermsVersion
from reservations.models import EmailKind, OutgoingEmail
from reservations.rules import Status
from tests.conftest import IS_POSTGRES, tokyo

NOW = tokyo(2027, 3, 1, 9)  # Monday; the new version takes effect on Monday 15 March
EFFECTIVE = date(2027, 3, 15)


@pytest.fixture
def supervisor(db, django_user_model):
    user = django_user_model.objects.create_user(
        username="kanri", password="kanri-pass-2026", is_staff=True
    )
    user.groups.add(Group.objects.get(name="管理者"))
    return django_user_model.objects.get(pk=user.pk)


def _draft(office, *, version: str = "2027-03-15", effective: date = EFFECTIVE) -> TermsVersion:
    first = TermsVersion.objects.get(office=office, version="2023-04-01")
    return TermsVersion.objects.create(
        office=office,
        version=version,
        title=first.title,
        body=first.body.replace("1回当たり30分", "1回当たり45分"),
        issued_label="令和9年3月1日",
        issuer=first.issuer,
        effective_date=effective,
    )


def _terms_mails(mailoutbox) -> list:
    # The English notice (for a booking made in English) says "terms of use" for 利用規約.
    return [m for m in mailoutbox if "利用規約" in m.subject or "terms of use" in m.subject]


def test_publishing_tells_each_holder_of_a_later_booking_once(
    office,
    terms,
    supervisor,
    make_reservation,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    office.max_active_bookings = 2
    office.save(update_fields=["max_active_bookings"])
    before = make_reservation(tokyo(2027, 3, 3, 10), now=NOW)  # under the old terms
    on_the_day = make_reservation(tokyo(2027, 3, 15, 10), now=NOW, email="hana@example.jp")
    later = make_reservation(tokyo(2027, 3, 16, 10), now=NOW, language="en")
    twice_first = make_reservation(tokyo(2027, 3, 17, 10), now=NOW, seeker_number="10040-5555")
    twice_second = make_reservation(tokyo(2027, 3, 18, 10), now=NOW, seeker_number="10040-5555")
    cancelled = make_reservation(tokyo(2027, 3, 19, 10), now=NOW)
    from reservations import services as reservation_services

    reservation_services.reservation_cancel(reservation=cancelled, by="seeker", now=NOW)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        services.terms_publish(terms_version=_draft(office), actor=supervisor, now=NOW)

    told = OutgoingEmail.objects.filter(kind=EmailKind.TERMS_CHANGED)
    assert sorted(told.values_list("reservation_id", flat=True)) == sorted(
        [on_the_day.pk, later.pk, twice_first.pk]
    )
    notices = TermsChangeNotice.objects.all()
    assert {(n.reservation_id, n.emailed) for n in notices} == {
        (on_the_day.pk, True),
        (later.pk, True),
        (twice_first.pk, True),
        (twice_second.pk, False),  # the same person, told once
    }
    assert before.pk not in {n.reservation_id for n in notices}
    mails = _terms_mails(mailoutbox)
    assert len(mails) == 3
    hana = next(m for m in mails if m.to == ["hana@example.jp"])
    assert "2027年3月15日(月)" in hana.subject
    text = hana.body
    assert "手続きは必要ありません" in text
    assert "2027年3月15日(月) 以降の相談には、新しい利用規約が適用されます。" in text
    assert f"/r/{on_the_day.token}/" in text  # cancel here if you disagree
    assert "http://testserver/terms/2027-03-15/" in text
    assert "http://testserver/terms/2027-03-15/changes/" in text
    assert on_the_day.reference in text and "0270-23-8609" in text
    assert "2027年3月15日(月) 10:00" in text
    html = hana.alternatives[0][0]
    assert 'href="http://testserver/terms/2027-03-15/changes/"' in html
    english = OutgoingEmail.objects.get(kind=EmailKind.TERMS_CHANGED, reservation=later)
    assert english.context["effective_date"] == "Mon 15 March 2027"
    assert english.context["effective_date_iso"] == "2027-03-15"

    # Again, as the periodic job would: nobody is told twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert sum(services.terms_notify_due(now=NOW).values()) == 0
    assert len(_terms_mails(mailoutbox)) == 3


def test_bookings_made_after_the_announcement_are_told_by_the_periodic_job(
    office,
    terms,
    supervisor,
    make_reservation,
    consent_given,
    mailoutbox,
    django_capture_on_commit_callbacks,
    time_machine,
):
    from reservations import services as reservation_services

    new = services.terms_publish(terms_version=_draft(office), actor=supervisor, now=NOW)
    # Booked while the new version is only announced: agreed to the version in force.
    booked_then = make_reservation(tokyo(2027, 3, 16, 10), now=tokyo(2027, 3, 2, 9))
    assert booked_then.consents.get().terms_version == terms
    # Booked once the new version is in force: agreed to it, nothing to tell.
    reservation_services.reservation_request(
        office=office,
        slot_start=tokyo(2027, 3, 17, 10),
        name="山田 花子",
        email="hana@example.jp",
        seeker_number="10040-7777",
        consent=consent_given(terms_version_id=new.pk),
        now=tokyo(2027, 3, 15, 9),
    )
    mailoutbox.clear()

    time_machine.move_to(tokyo(2027, 3, 2, 10), tick=False)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("terms_notify_changes", stdout=io.StringIO())
    assert [m.to for m in _terms_mails(mailoutbox)] == [[booked_then.email]]
    with django_capture_on_commit_callbacks(execute=True):
        call_command("terms_notify_changes", stdout=io.StringIO())
    assert len(_terms_mails(mailoutbox)) == 1


def test_the_first_version_and_past_sessions_are_never_announced(
    office, terms, make_reservation, django_capture_on_commit_callbacks
):
    make_reservation(tokyo(2027, 3, 3, 10), now=NOW)
    assert services.terms_notify_change(terms_version=terms, now=NOW) == 0
    with pytest.raises(services.TermsError):
        services.terms_notify_change(terms_version=_draft(office), now=NOW)
    assert not TermsChangeNotice.objects.exists()


def test_a_refused_publication_queues_no_notice(office, terms, supervisor, make_reservation):
    """The notice rows and the email rows commit with the publication, or not at all."""
    booking = make_reservation(tokyo(2027, 3, 16, 10), now=NOW)
    draft = _draft(office)
    TermsVersion.objects.filter(pk=draft.pk).update(body="第1条 だけ\n\n第3条 二がない")
    with pytest.raises(services.TermsError):
        services.terms_publish(terms_version=draft, actor=supervisor, now=NOW)
    assert not TermsChangeNotice.objects.exists()
    assert not OutgoingEmail.objects.filter(kind=EmailKind.TERMS_CHANGED).exists()
    assert booking.status == Status.REQUESTED


@pytest.mark.postgres
@pytest.mark.skipif(not IS_POSTGRES, reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_notifiers_at_once_send_one_email_per_person(office, terms, make_reservation):
    people = [make_reservation(tokyo(2027, 3, 16 + n, 10), now=NOW) for n in range(3)]
    version = _draft(office)
    version.content_hash = version.compute_hash()
    version.published_at = NOW
    version.save()
    barrier = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(services.terms_notify_change(terms_version=version, now=NOW))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert sorted(results) == [0, 3]
    assert OutgoingEmail.objects.filter(kind=EmailKind.TERMS_CHANGED).count() == len(people)
    assert TermsChangeNotice.objects.count() == len(people)


def test_a_notice_for_a_booking_cancelled_before_it_is_sent_is_not_sent(
    office, terms, supervisor, make_reservation, mailoutbox, database_tasks
):
    from reservations import services as reservation_services
    from reservations.models import EmailStatus

    booking = make_reservation(tokyo(2027, 3, 16, 10), now=NOW)
    services.terms_publish(terms_version=_draft(office), actor=supervisor, now=NOW)
    # The seeker cancels while the notice still waits in the queue.
    reservation_services.reservation_cancel(reservation=booking, by="seeker", now=NOW)
    mailoutbox.clear()
    database_tasks()
    notice = OutgoingEmail.objects.get(kind=EmailKind.TERMS_CHANGED, reservation=booking)
    assert notice.status == EmailStatus.SKIPPED
    assert _terms_mails(mailoutbox) == []
