"""The outbox: follow-up work queued as task rows in the caller's transaction.

Services, the meeting sync and the consent app call this to say "send this email" or "bring
this booking's meeting in line"; the row commits or rolls back with their change, so work is
never lost for a change that committed nor done for one that did not (docs/architecture.md).
It only queues: rendering and sending live in `mail`, Zoom in `meetings.sync`.
"""

from __future__ import annotations

from email.utils import make_msgid
from functools import partial

from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus
from django.tasks.base import Task
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from reservations import tasks
from reservations.models import OutgoingEmail, Reservation, WaitlistEntry


def is_outbox(task_: Task) -> bool:
    """Whether `task_` is stored in the bookings' database (and so commits with them)."""
    return isinstance(task_.get_backend(), DatabaseBackend)


def enqueue(task_: Task, **kwargs: object) -> None:
    """Queue `task_` in the caller's transaction, or run it once that commits.

    With the database backend the task is a row written in the caller's transaction. The
    immediate backend (demo and tests) runs tasks on the spot, so the run waits for the
    commit: no email for a change that rolls back, no Zoom call under a row lock.
    """
    if is_outbox(task_):
        task_.enqueue(**kwargs)
    else:
        transaction.on_commit(partial(task_.enqueue, **kwargs), robust=True)


def queued(task_: Task, argument: str) -> set[object]:
    """The values of `argument` of `task_` rows waiting or running (none with `immediate`)."""
    if not is_outbox(task_):
        return set()
    rows = DBTaskResult.objects.filter(
        task_path=task_.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True)
    return {row["kwargs"].get(argument) for row in rows}


def _message_domain() -> str:
    return settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "localhost"


def email_enqueue(
    *, reservation: Reservation, kind: str, context: dict | None = None
) -> OutgoingEmail:
    """Queue an email to the seeker in the caller's transaction; it is sent once, retried.

    Rendered at send time from `templates/emails/<kind>.subject.txt`, `<kind>.txt` and
    `<kind>.html` in the booking's language, with `reservation`, `office`, `site_url`,
    `booking_url` and `context` (JSON-serialisable strings).
    """
    email = OutgoingEmail.objects.create(
        reservation=reservation,
        kind=kind,
        context=context or {},
        message_id=make_msgid(idstring=kind.replace("_", "-"), domain=_message_domain()),
        language=reservation.language or settings.LANGUAGE_CODE,
    )
    enqueue(tasks.send_email, email_id=email.pk)
    return email


def waitlist_email_enqueue(
    *, entry: WaitlistEntry, kind: str, context: dict | None = None
) -> OutgoingEmail:
    """Queue an email to a person on a waiting list, like `email_enqueue`, in the entry's
    language (`templates/emails/<kind>.*` with `entry`, `office`, `claim_url`, `leave_url`)."""
    email = OutgoingEmail.objects.create(
        waitlist_entry=entry,
        kind=kind,
        context=context or {},
        message_id=make_msgid(idstring=kind.replace("_", "-"), domain=_message_domain()),
        language=entry.language or settings.LANGUAGE_CODE,
    )
    enqueue(tasks.send_email, email_id=email.pk)
    return email
