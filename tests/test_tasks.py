"""The task queue: an outbox, retries with backoff, leases, periodic jobs, real workers.

The fault tests use real parts: an SMTP server on 127.0.0.1 that refuses and then accepts
connections, and worker processes that are really killed (SIGKILL) mid-task.
"""

from __future__ import annotations

import json
import os
import signal
import smtplib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import icalendar
import pytest
import time_machine
from django.conf import settings as django_settings
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from reservations import mail as seeker_mail
from reservations import outbox, periodic, rules, services, tasks
from reservations.models import (
    EmailKind,
    EmailStatus,
    EventKind,
    OutgoingEmail,
    PeriodicJob,
    Reservation,
    ReservationEvent,
)
from reservations.rules import TOKYO
from tests import fake_zoom as fz
from tests.admin_support import counselor_user, staff_groups, supervisor_user
from tests.conftest import IS_POSTGRES, tokyo
from tests.fake_smtp import SMTPServer
from tests.fake_zoom import FakeZoom
from tests.processes import (
    app_env,
    free_port,
    migrate,
    pg_execute,
    run_in_process,
    start_worker,
    wait_for,
)

__all__ = ["counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

BASE_DIR = Path(django_settings.BASE_DIR)
SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def use_smtp(settings, server: SMTPServer, timeout: int = 2) -> None:
    settings.MAILERS = {
        "default": {
            "BACKEND": SMTP_BACKEND,
            "OPTIONS": {"host": "127.0.0.1", "port": server.port, "timeout": timeout},
        }
    }


def teleoffice_confirmed(make_reservation, next_slot, counselor, n: int = 0) -> Reservation:
    reservation = make_reservation(next_slot(n), platform="teleoffice")
    return services.reservation_confirm(
        reservation=reservation, actor=counselor, meeting_url="https://teleoffice.example/r/7"
    )


# --- In-process: the outbox, retries, leases, periodic jobs ------------------------------


@pytest.mark.django_db
def test_tasks_are_rows_written_with_the_change_or_not_at_all(
    database_tasks, make_reservation, next_slot
):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_reservation(next_slot())
        assert DBTaskResult.objects.count() == 1  # enqueued inside the transaction…
        raise RuntimeError("the request fails after the booking was written")
    assert DBTaskResult.objects.count() == 0  # …and gone with it
    assert OutgoingEmail.objects.count() == 0

    reservation = make_reservation(next_slot())
    [row] = DBTaskResult.objects.all()
    assert row.task_path == "reservations.tasks.send_email"
    assert row.status == TaskResultStatus.READY
    email = OutgoingEmail.objects.get(reservation=reservation)
    assert row.args_kwargs["kwargs"] == {"email_id": email.pk}
    assert mail.outbox == []  # nothing is sent until a worker runs


@pytest.mark.django_db
def test_the_immediate_backend_runs_tasks_only_after_commit(
    make_reservation, next_slot, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        make_reservation(next_slot())
    assert mail.outbox == []  # inside the transaction: nothing sent yet
    for callback in callbacks:
        callback()
    assert len(mail.outbox) == 1
    assert DBTaskResult.objects.count() == 0


def test_retry_delays_grow_exponentially_up_to_the_cap(settings):
    settings.TASK_RETRY_BASE_SECONDS = 30
    settings.TASK_RETRY_MAX_SECONDS = 3600
    delays = [tasks.retry_delay(attempt) for attempt in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


@pytest.mark.django_db
def test_smtp_refusing_then_recovering_delivers_everything_exactly_once(
    settings, database_tasks, make_reservation, next_slot, counselor
):
    settings.TASK_RETRY_BASE_SECONDS = 60
    smtp = SMTPServer.reserve()  # down: connections are refused
    use_smtp(settings, smtp)
    bookings = [make_reservation(next_slot(n)) for n in range(3)]
    teleoffice_confirmed(make_reservation, next_slot, counselor, n=3)
    expected = {e.message_id: e.kind for e in OutgoingEmail.objects.all()}
    assert len(expected) == 5  # 4 × request received, 1 × confirmed

    database_tasks()
    assert smtp.received == []
    assert set(OutgoingEmail.objects.values_list("status", flat=True)) == {EmailStatus.RETRYING}
    assert set(OutgoingEmail.objects.values_list("last_error", flat=True)) == {
        "ConnectionRefusedError"
    }
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 5

    smtp.start()  # the mail server is back
    try:
        began = time.monotonic()
        with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
            database_tasks()
        delivered_in = time.monotonic() - began
        # A later run (and much later) sends nothing again.
        with time_machine.travel(timezone.now() + timedelta(days=1), tick=True):
            database_tasks()
    finally:
        smtp.stop()

    received = [m["Message-ID"] for m in smtp.messages]
    assert sorted(received) == sorted(expected)  # every one, each exactly once
    for email in OutgoingEmail.objects.all():
        assert email.status == EmailStatus.SENT
        assert email.attempts == 2
        assert email.last_error == ""
    rows = DBTaskResult.objects.all()
    assert {row.status for row in rows} == {TaskResultStatus.SUCCESSFUL}
    assert {len(row.worker_ids) for row in rows} == {2}
    assert delivered_in < 10
    confirmed = next(m for m in smtp.messages if expected[m["Message-ID"]] == EmailKind.CONFIRMED)
    [ics] = [p for p in confirmed.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert icalendar.Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert {r.rcpt_to[0] for r in smtp.received} >= {b.email for b in bookings}


@pytest.mark.parametrize("outage", ["connection refused", "451 for the recipient"])
@pytest.mark.django_db
def test_an_smtp_outage_longer_than_all_attempts_only_delays_the_email(
    outage, settings, database_tasks, make_reservation, next_slot
):
    settings.TASK_MAX_ATTEMPTS = 2
    settings.TASK_RETRY_MAX_SECONDS = 60
    reservation = make_reservation(next_slot(), email="private.person@example.jp")
    smtp = SMTPServer.reserve()
    if outage == "connection refused":
        expected_error, recover = "ConnectionRefusedError", smtp.start
    else:
        smtp.start().refuse(reservation.email, "451 4.3.0 Try again later")
        expected_error = "SMTPRecipientsRefused 451"

        def recover() -> None:
            smtp.accept(reservation.email)

    use_smtp(settings, smtp)
    try:
        began = timezone.now()
        database_tasks()  # attempts 1 and 2 (no backoff in tests), then the capped interval
        email = OutgoingEmail.objects.get()
        row = DBTaskResult.objects.get()
        assert (email.status, email.attempts, email.last_error) == (
            EmailStatus.RETRYING,
            2,
            expected_error,
        )
        assert row.status == TaskResultStatus.READY
        assert timedelta(seconds=59) < row.run_after - began < timedelta(seconds=70)
        for text in (email.last_error, row.traceback):
            assert reservation.email not in text
            assert reservation.name not in text

        # Hours of outage: one attempt per interval, past TASK_MAX_ATTEMPTS, none given up.
        for hop in (1, 2, 3):
            with time_machine.travel(began + timedelta(seconds=61 * hop), tick=True):
                database_tasks()
        email.refresh_from_db()
        row.refresh_from_db()
        assert (email.status, email.attempts) == (EmailStatus.RETRYING, 5)
        assert row.status == TaskResultStatus.READY
        assert smtp.messages == []

        recover()
        with time_machine.travel(began + timedelta(seconds=61 * 4), tick=True):
            database_tasks()
        with time_machine.travel(began + timedelta(days=1), tick=True):
            database_tasks()
            assert periodic.emails_requeue() == 0
            database_tasks()
    finally:
        smtp.stop()

    assert [m["Message-ID"] for m in smtp.messages] == [email.message_id]  # exactly once
    email.refresh_from_db()
    row.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (EmailStatus.SENT, 6, "")
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert len(row.worker_ids) == 6


@pytest.mark.django_db
def test_a_refusal_for_good_is_not_retried_and_a_supervisor_can_resend_it(
    settings, client, database_tasks, make_reservation, next_slot, supervisor_user, counselor_user
):
    smtp = SMTPServer.reserve().start()
    use_smtp(settings, smtp)
    reservation = make_reservation(next_slot(), email="full.mailbox@example.jp")
    smtp.refuse(reservation.email, "550 5.2.2 Mailbox full")
    changelist = "/admin/reservations/outgoingemail/"
    try:
        database_tasks()
        email = OutgoingEmail.objects.get()
        row = DBTaskResult.objects.get()
        assert (email.status, email.attempts, email.last_error) == (
            EmailStatus.FAILED,
            1,
            "SMTPRecipientsRefused 550",
        )
        assert row.status == TaskResultStatus.FAILED  # no second attempt
        assert row.exception_class_path == "reservations.mail.EmailRejected"
        for text in (email.last_error, row.traceback):
            assert reservation.email not in text

        # Neither the queue nor the periodic job tries it again, however long.
        with time_machine.travel(timezone.now() + timedelta(days=1), tick=True):
            assert periodic.emails_requeue() == 0
            database_tasks()
        email.refresh_from_db()
        assert (email.status, email.attempts) == (EmailStatus.FAILED, 1)

        # Counselors do not see the email pages, so they cannot resend either.
        form = {"action": "resend_selected", "_selected_action": [email.pk]}
        client.force_login(counselor_user)
        assert client.post(changelist, form).status_code == 403
        assert DBTaskResult.objects.count() == 1

        # The seeker emptied the mailbox; the supervisor resends it.
        smtp.accept(reservation.email)
        client.force_login(supervisor_user)
        listed = client.get(changelist)
        assert "再送する" in listed.content.decode()
        response = client.post(changelist, form, follow=True)
        assert [str(m) for m in response.context["messages"]] == ["1件のメールを再送します。"]
        database_tasks()
        # Once sent, a second resend is refused and sends nothing.
        response = client.post(changelist, form, follow=True)
        [refusal] = [str(m) for m in response.context["messages"]]
        assert reservation.reference in refusal
        assert "再送できるのは" in refusal
        database_tasks()
    finally:
        smtp.stop()

    assert [m["Message-ID"] for m in smtp.messages] == [email.message_id]
    email.refresh_from_db()
    assert (email.status, email.attempts, email.last_error) == (EmailStatus.SENT, 2, "")
    [note] = ReservationEvent.objects.filter(reservation=reservation, kind=EventKind.NOTE)
    assert note.actor == supervisor_user
    assert note.details == {"action": "email_resend", "email": email.pk, "kind": email.kind}


@pytest.mark.parametrize(
    "exc, for_good",
    [
        (smtplib.SMTPRecipientsRefused({"a@example.jp": (550, b"no")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.jp": (452, b"full")}), False),
        (smtplib.SMTPRecipientsRefused({"a@ex.jp": (550, b""), "b@ex.jp": (451, b"")}), False),
        (smtplib.SMTPDataError(554, b"rejected"), True),
        (smtplib.SMTPDataError(451, b"later"), False),
        (smtplib.SMTPAuthenticationError(535, b"bad login"), False),  # our setup, fixable
        (smtplib.SMTPSenderRefused(550, b"sender", "office@example.jp"), False),
        (smtplib.SMTPServerDisconnected("gone"), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
    ],
)
def test_only_a_5xx_for_the_message_is_a_refusal_for_good(exc, for_good):
    assert seeker_mail.refused_for_good(exc) is for_good


@pytest.mark.django_db
def test_the_emails_job_queues_again_only_unsent_emails_without_a_task(
    settings, database_tasks, make_reservation, next_slot, django_assert_num_queries
):
    settings.TASK_LEASE_SECONDS = 300
    reservation = make_reservation(next_slot())  # its "request received" waits in the queue
    for _ in range(6):
        outbox.email_enqueue(reservation=reservation, kind=EmailKind.EXPIRED)
    waiting, lost, given_up, stuck, in_flight, refused, sent = OutgoingEmail.objects.order_by("id")
    task_of = {row.args_kwargs["kwargs"]["email_id"]: row for row in DBTaskResult.objects.all()}
    now = timezone.now()

    def leave(email: OutgoingEmail, status: str, task: str | None, **fields: object) -> None:
        OutgoingEmail.objects.filter(pk=email.pk).update(status=status, **fields)
        row = task_of[email.pk]
        if task is None:
            row.delete()  # a task row lost (restored backup, manual clean-up)
        else:
            DBTaskResult.objects.filter(pk=row.pk).update(status=task)

    leave(lost, EmailStatus.RETRYING, None)
    leave(given_up, EmailStatus.RETRYING, TaskResultStatus.FAILED)  # before this job existed
    leave(stuck, EmailStatus.SENDING, None, last_attempt_at=now - timedelta(hours=1))
    leave(in_flight, EmailStatus.SENDING, None, last_attempt_at=now)  # a worker is on it
    leave(
        refused, EmailStatus.FAILED, TaskResultStatus.FAILED, last_error="SMTPRecipientsRefused 550"
    )
    leave(sent, EmailStatus.SENT, TaskResultStatus.SUCCESSFUL)

    # Two reads whatever the number of emails, then one insert per task queued.
    with django_assert_num_queries(2 + 3):
        assert periodic.emails_requeue(now=now) == 3
    with django_assert_num_queries(2):
        assert periodic.emails_requeue(now=now) == 0  # idempotent: they are queued now
    database_tasks()
    delivered = {m.extra_headers["Message-ID"] for m in mail.outbox}
    assert delivered == {e.message_id for e in (waiting, lost, given_up, stuck)}
    assert periodic.emails_requeue(now=now) == 0

    # The attempt in flight never finished: past its lease it is queued, and sent, once.
    later = now + timedelta(seconds=301)
    assert periodic.emails_requeue(now=later) == 1
    with time_machine.travel(later, tick=True):
        database_tasks()
    assert periodic.emails_requeue(now=later) == 0
    statuses = dict(OutgoingEmail.objects.values_list("pk", "status"))
    assert statuses == {
        **{e.pk: EmailStatus.SENT for e in (waiting, lost, given_up, stuck, in_flight, sent)},
        refused.pk: EmailStatus.FAILED,
    }
    assert len(mail.outbox) == 5


@pytest.mark.django_db
def test_a_task_left_running_by_a_dead_worker_runs_again_after_the_lease(
    settings, database_tasks, make_reservation, next_slot
):
    settings.TASK_LEASE_SECONDS = 300
    make_reservation(next_slot())
    row = DBTaskResult.objects.get()
    # What a worker killed while talking to the mail server leaves behind.
    row.claim("worker-that-died")
    OutgoingEmail.objects.update(
        status=EmailStatus.SENDING, attempts=1, last_attempt_at=row.started_at
    )

    database_tasks()  # within the lease: left alone
    row.refresh_from_db()
    assert row.status == TaskResultStatus.RUNNING
    assert mail.outbox == []
    # Even run by hand, the email waits for the lease of the attempt in flight.
    with pytest.raises(seeker_mail.EmailBusy) as busy:
        seeker_mail.email_send(email_id=OutgoingEmail.objects.get().pk)
    assert 290 < busy.value.retry_after <= 301

    with time_machine.travel(timezone.now() + timedelta(seconds=301), tick=True):
        database_tasks()
    row.refresh_from_db()
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert row.worker_ids[0] == "worker-that-died"
    assert len(row.worker_ids) == 2
    assert len(mail.outbox) == 1
    assert OutgoingEmail.objects.get().attempts == 2


@pytest.mark.django_db
def test_enqueueing_costs_two_inserts_and_sending_a_handful_of_queries(
    database_tasks, make_reservation, next_slot, django_assert_num_queries
):
    reservation = make_reservation(next_slot())
    with django_assert_num_queries(2):  # the email row and the task row
        outbox.email_enqueue(reservation=reservation, kind=EmailKind.EXPIRED)
    email = OutgoingEmail.objects.filter(kind=EmailKind.EXPIRED).get()
    # Lock and read (with booking, slot, office), mark "sending", mark "sent"; plus the
    # savepoint pair of the transaction.
    with django_assert_num_queries(5):
        seeker_mail.email_send(email_id=email.pk)
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_periodic_jobs_are_queued_once_per_interval(database_tasks):
    now = timezone.now()
    assert periodic.periodic_jobs_enqueue_due(now=now) == [
        "sweep",
        "reminders",
        "waitlists",
        "meetings",
        "emails",
        "terms_notices",
    ]
    assert periodic.periodic_jobs_enqueue_due(now=now + timedelta(seconds=30)) == []
    assert periodic.periodic_jobs_enqueue_due(now=now + timedelta(seconds=61)) == [
        "sweep",
        "waitlists",
    ]
    assert DBTaskResult.objects.count() == 8
    database_tasks()
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {
        TaskResultStatus.SUCCESSFUL
    }
    assert PeriodicJob.objects.get(name="sweep").last_run_at == now + timedelta(seconds=61)


@pytest.mark.django_db
def test_the_worker_runs_the_sweep_by_itself(database_tasks, make_reservation, next_slot):
    start = next_slot()
    reservation = make_reservation(start)
    with time_machine.travel(start - timedelta(hours=1), tick=True):
        call_command("run_worker", "--batch", "--interval", "0", verbosity=0)
        call_command("run_worker", "--batch", "--interval", "0", verbosity=0)
    reservation.refresh_from_db()
    assert reservation.status == "expired"  # rule 5: not confirmed by the day before
    kinds = list(OutgoingEmail.objects.values_list("kind", flat=True))
    assert kinds == [EmailKind.REQUEST_RECEIVED, EmailKind.EXPIRED]


@pytest.mark.django_db
def test_the_day_before_reminder_is_sent_once(
    database_tasks, make_reservation, next_slot, counselor
):
    reservation = teleoffice_confirmed(make_reservation, next_slot, counselor)
    start = reservation.slot.starts_at
    due = rules.reminder_due_at(start)
    assert due.date() == (start.astimezone(due.tzinfo) - timedelta(days=1)).date()
    assert (due.hour, due.minute) == (10, 0)

    assert services.reminders_send(now=due - timedelta(minutes=1)) == 0
    assert services.reminders_send(now=due) == 1
    assert services.reminders_send(now=due + timedelta(hours=1)) == 0
    database_tasks()
    reminders = OutgoingEmail.objects.filter(kind=EmailKind.REMINDER)
    assert [e.status for e in reminders] == [EmailStatus.SENT]

    # Moved to another day: the new date gets its own reminder.
    new_start = next_slot(5)
    services.reservation_move(reservation=reservation, new_start=new_start, actor=counselor)
    assert services.reminders_send(now=rules.reminder_due_at(new_start)) == 1


def test_the_reminder_is_not_sent_for_a_confirmation_made_after_its_time():
    start = tokyo(2027, 1, 12, 10)
    due = tokyo(2027, 1, 11, 10)
    assert rules.reminder_due(start, tokyo(2027, 1, 8, 9), due)
    assert not rules.reminder_due(start, tokyo(2027, 1, 11, 15), tokyo(2027, 1, 11, 16))
    assert not rules.reminder_due(start, tokyo(2027, 1, 8, 9), start)


@pytest.mark.django_db
def test_run_periodic_jobs_is_the_cron_alternative(
    capsys, make_reservation, next_slot, django_capture_on_commit_callbacks
):
    start = next_slot()
    with django_capture_on_commit_callbacks(execute=True):
        make_reservation(start)  # its email is sent: the emails job has nothing to do
    with time_machine.travel(start - timedelta(hours=1), tick=True):
        call_command("run_periodic_jobs")
    out = capsys.readouterr().out
    assert "sweep: expired=1 no_show=0" in out
    assert "reminders: reminders=0" in out
    assert "meetings: meetings=0" in out
    assert "emails: emails=0" in out
    assert "terms_notices: emails=0" in out


# --- Real worker processes ---------------------------------------------------------------


@pytest.fixture(scope="session")
def worker_database(tmp_path_factory) -> Iterator[str]:
    """A migrated database of its own for tests that run real worker processes.

    The test's own database lives in this process's transaction (or in memory for SQLite),
    where no other process can see it.
    """
    if IS_POSTGRES:
        url = os.environ["DATABASE_URL"]
        name = f"{urlsplit(url).path.lstrip('/')}_workers"
        worker_url = url.rsplit("/", 1)[0] + f"/{name}"
        pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_execute(url, f'CREATE DATABASE "{name}"')
    else:
        worker_url = f"sqlite:///{tmp_path_factory.mktemp('workers') / 'workers.sqlite3'}"
    migrate(_env(worker_url))
    yield worker_url
    if IS_POSTGRES:
        pg_execute(os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _env(database_url: str, **extra: str) -> dict[str, str]:
    # Short leases and retries, so that recovery happens within a test.
    return app_env(
        database_url, **{"TASK_LEASE_SECONDS": "2", "TASK_RETRY_BASE_SECONDS": "0.5", **extra}
    )


def _django(env: dict[str, str], function: str, *args: str) -> dict:
    """Run one of the scenario functions below in a fresh process; its JSON result."""
    return run_in_process(env, "tests.test_tasks", function, *args)


def scenario_book(index: str, platform: str) -> None:
    """(In a subprocess.) A request through the service, confirmed by a counselor."""
    from django.contrib.auth import get_user_model

    from consent.models import ENVIRONMENT_ITEMS
    from consent.selectors import terms_in_force
    from consent.services import ConsentGiven
    from reservations import selectors
    from reservations.models import Office

    now = timezone.now()
    office = Office.objects.get(slug="isesaki")
    first = now.astimezone(TOKYO).date() + timedelta(days=7)
    start = selectors.availability(office, first, first + timedelta(days=21), now)[
        int(index)
    ].slot.start
    terms = terms_in_force(office.pk, now)
    reservation = services.reservation_request(
        office=office,
        slot_start=start,
        name=f"山田 花子{index}",
        email=f"worker{index}@example.jp",
        seeker_number=f"10040-{2000000 + int(index)}",
        platform=platform,
        consent=ConsentGiven(
            terms_version_id=terms.pk,
            platform_terms_accepted=True,
            confirmed_items=frozenset(ENVIRONMENT_ITEMS),
        ),
        now=now,
    )
    counselor, _created = get_user_model().objects.get_or_create(username="counselor-w")
    services.reservation_confirm(
        reservation=reservation,
        actor=counselor,
        meeting_url="https://teleoffice.example/r/9" if platform == "teleoffice" else "",
    )
    print(json.dumps({"id": reservation.pk, "reference": reservation.reference}))


def scenario_report(reservation_id: str) -> None:
    """(In a subprocess.) The booking, its emails, its tasks and its Zoom records."""
    reservation = Reservation.objects.get(pk=int(reservation_id))
    emails = list(reservation.emails.values("id", "kind", "status", "attempts", "message_id"))
    email_ids = {e["id"] for e in emails}
    rows = [
        {"task": row.task_path.rsplit(".", 1)[-1], "status": row.status, "workers": row.worker_ids}
        for row in DBTaskResult.objects.order_by("enqueued_at")
        if row.args_kwargs["kwargs"].get("reservation_id") == reservation.pk
        or row.args_kwargs["kwargs"].get("email_id") in email_ids
    ]
    print(
        json.dumps(
            {
                "status": reservation.status,
                "meeting_state": reservation.meeting_state,
                "meeting_id": reservation.meeting_id,
                "emails": emails,
                "tasks": rows,
                "zoom": list(reservation.zoom_meetings.values("state", "meeting_id", "note")),
            }
        )
    )


def test_a_worker_killed_while_creating_a_meeting_is_recovered_once(worker_database, tmp_path):
    zoom = FakeZoom()
    smtp = SMTPServer.reserve().start()
    # Zoom makes the meeting and then keeps the worker waiting for the answer.
    zoom.hang(fz.CREATE, 60, after=True)
    env = _env(
        worker_database,
        ZOOM_ACCOUNT_ID=zoom.state.account_id,
        ZOOM_CLIENT_ID=zoom.state.client_id,
        ZOOM_CLIENT_SECRET=zoom.state.client_secret,
        ZOOM_API_BASE_URL=zoom.api_base_url,
        ZOOM_OAUTH_URL=zoom.oauth_url,
        ZOOM_TIMEOUT="3",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}",
    )
    workers: list[subprocess.Popen] = []
    try:
        booking = _django(env, "scenario_book", "0", "zoom")
        first = start_worker(env, "worker-a", tmp_path / "a.log")
        workers.append(first)
        wait_for(lambda: zoom.calls(fz.CREATE), 30, "the create request")
        first.kill()  # SIGKILL in the middle of the task
        first.wait(10)
        killed_at = time.monotonic()
        assert first.returncode == -9
        mid = _django(env, "scenario_report", str(booking["id"]))
        assert {"task": "sync_meeting", "status": "RUNNING", "workers": ["worker-a"]} in mid[
            "tasks"
        ]
        assert mid["zoom"] == [{"state": "creating", "meeting_id": "", "note": ""}]

        second = start_worker(env, "worker-b", tmp_path / "b.log")
        workers.append(second)

        def confirmed_mail_arrived() -> bool:
            return any("確定" in str(m["Subject"]) for m in smtp.messages)

        wait_for(confirmed_mail_arrived, 60, "the confirmed email")
        recovered_in = time.monotonic() - killed_at
        second.terminate()  # SIGTERM: a graceful stop
        second.wait(15)
        assert second.returncode == 0
        after = _django(env, "scenario_report", str(booking["id"]))
    except BaseException:
        for name in ("a.log", "b.log"):
            log = tmp_path / name
            if log.exists():
                print(f"--- {name}\n{log.read_text()}")
        raise
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        zoom.stop()
        smtp.stop()

    assert after["status"] == "confirmed"
    assert after["meeting_state"] == "ready"
    assert len(zoom.calls(fz.CREATE)) == 1  # never asked twice…
    assert list(zoom.state.meetings) == [after["meeting_id"]]  # …one meeting
    [record] = after["zoom"]
    assert record["state"] == "active"
    assert record["meeting_id"] == after["meeting_id"]
    [sync] = [t for t in after["tasks"] if t["task"] == "sync_meeting"]
    assert sync["status"] == "SUCCESSFUL"
    assert sync["workers"][:2] == ["worker-a", "worker-b"]
    confirmed = [e for e in after["emails"] if e["kind"] == "confirmed"]
    assert [(e["status"], e["attempts"]) for e in confirmed] == [("sent", 1)]
    subjects = [str(m["Subject"]) for m in smtp.messages]
    assert sum("確定" in s for s in subjects) == 1
    assert recovered_in < 40
    print(f"recovered {recovered_in:.1f}s after the kill; workers {sync['workers']}")


def test_a_worker_killed_while_talking_to_the_mail_server_is_recovered_once(
    worker_database, tmp_path
):
    smtp = SMTPServer.reserve().start()
    smtp.stall_next(60)  # the first connection gets no greeting
    env = _env(worker_database, EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}", EMAIL_TIMEOUT="30")
    workers: list[subprocess.Popen] = []
    try:
        booking = _django(env, "scenario_book", "1", "teleoffice")
        first = start_worker(env, "worker-c", tmp_path / "c.log")
        workers.append(first)
        wait_for(lambda: smtp.connections >= 1, 30, "the SMTP connection")
        first.kill()
        first.wait(10)
        killed_at = time.monotonic()
        second = start_worker(env, "worker-d", tmp_path / "d.log")
        workers.append(second)
        wait_for(lambda: len(smtp.received) >= 2, 60, "both emails")
        recovered_in = time.monotonic() - killed_at
        time.sleep(1)  # nothing more arrives
        second.terminate()
        second.wait(15)
        report = _django(env, "scenario_report", str(booking["id"]))
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        smtp.stop()

    ids = sorted(m["Message-ID"] for m in smtp.messages)
    assert ids == sorted(e["message_id"] for e in report["emails"])  # each exactly once
    by_kind = {e["kind"]: (e["status"], e["attempts"]) for e in report["emails"]}
    assert by_kind == {"request_received": ("sent", 2), "confirmed": ("sent", 1)}
    assert recovered_in < 30
    print(f"delivered {recovered_in:.1f}s after the kill")


def test_run_demo_runs_the_worker_and_the_server_and_stops_both(worker_database, tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", "run_demo", "--port", str(port)],
        cwd=BASE_DIR,
        env=_env(worker_database),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/slots/?from=x&to=y"

        def answers() -> bool:
            try:
                urllib.request.urlopen(url, timeout=1)  # noqa: S310 - our own local server
            except urllib.error.HTTPError as exc:
                return exc.code == 400  # the API's own error: the server is up
            except OSError:
                return False
            return True

        wait_for(answers, 60, "the development server")
        pids = {
            line.split(":")[0]: int(line.rsplit(" ", 1)[1])
            for line in log.read_text().splitlines()
            if line.startswith(("worker: pid", "server: pid"))
        }
        assert set(pids) == {"worker", "server"}
        os.kill(pids["worker"], 0)  # running

        demo.send_signal(signal.SIGINT)  # Ctrl+C
        assert demo.wait(30) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not answers()
    assert "Stopping the worker and the server" in log.read_text()
