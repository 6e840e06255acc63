"""The task queue: background work, its retries, its leases and the periodic jobs.

Tasks are rows of django-tasks-db in the same database as the bookings, so a task enqueued
inside a service's transaction exists exactly when the change committed (an outbox).
django-tasks-db has no retries and no lease; the worker (`manage.py run_worker`) adds both:

- a failed attempt is run again after TASK_RETRY_BASE_SECONDS·2^(n-1) seconds (at most
  TASK_RETRY_MAX_SECONDS, or what the error asks for), up to TASK_MAX_ATTEMPTS; an email
  is retried past that, every TASK_RETRY_MAX_SECONDS, until it is sent, no longer wanted
  or refused for good (an outage delays it, never loses it), and the `emails` periodic
  job queues again any unsent email whose task is gone;
- a task still RUNNING TASK_LEASE_SECONDS after it started lost its worker (killed, machine
  gone) and is run again.

So every task may run more than once, and each is written to have the effect of once: an
email row is sent only from `queued`/`retrying`, a Zoom creation is recorded before it is
asked for and reconciled after.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.tasks import TaskContext, TaskResultStatus, task
from django.tasks.base import Task
from django.utils import timezone
from django.utils.json import normalize_json
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

# How often the worker looks for abandoned tasks and due periodic jobs.
HOUSEKEEPING_SECONDS = 5.0


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


# --- The tasks -------------------------------------------------------------------------


@task(takes_context=True)
def send_email(context: TaskContext, email_id: int) -> str:
    """Send one queued email to a seeker (at most once, retried until it goes)."""
    from reservations import notifications

    return notifications.email_send(email_id=email_id, attempt=context.attempt)


@task()
def sync_meeting(reservation_id: int) -> str:
    """Create, move or delete a booking's Zoom meeting so that Zoom matches the booking."""
    from reservations.meetings.sync import meeting_sync

    return meeting_sync(reservation_id=reservation_id)


@task()
def run_periodic_job(name: str) -> object:
    """Run one periodic job (the sweep, the reminders, the meeting retries)."""
    return PERIODIC_JOBS[name].run(now=timezone.now())


# --- Periodic jobs -------------------------------------------------------------------


def _sweep(*, now: datetime) -> dict:
    from reservations import services

    result = services.reservations_sweep(now=now)
    return {"expired": result.expired, "no_show": result.no_show}


def _reminders(*, now: datetime) -> dict:
    from reservations import notifications

    return {"reminders": notifications.reminders_send(now=now)}


def _queued_meeting_syncs() -> set[int]:
    """Bookings whose meeting sync is already waiting or running in the queue."""
    rows = DBTaskResult.objects.filter(
        task_path=sync_meeting.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True)
    return {row["kwargs"].get("reservation_id") for row in rows}


def meetings_resync(*, now: datetime) -> dict:
    """Queue the meeting sync of every Zoom booking left behind (failed, pending, orphaned).

    This is what retries a meeting after the queue gave up, or once Zoom is configured.
    """
    from reservations.meetings.sync import WITHDRAWN_STATUSES
    from reservations.models import (
        UNSETTLED_ZOOM_STATES,
        MeetingState,
        Platform,
        Reservation,
        ZoomMeetingState,
    )
    from reservations.rules import Status

    waiting = Reservation.objects.filter(
        platform=Platform.ZOOM,
        status=Status.CONFIRMED,
        meeting_state__in=[MeetingState.PENDING, MeetingState.FAILED],
        slot__ends_at__gt=now,
    ).values_list("pk", flat=True)
    orphaned = (
        Reservation.objects.filter(
            platform=Platform.ZOOM,
            status__in=WITHDRAWN_STATUSES,
            zoom_meetings__state__in=[ZoomMeetingState.ACTIVE, *UNSETTLED_ZOOM_STATES],
        )
        .values_list("pk", flat=True)
        .distinct()
    )
    queued = _queued_meeting_syncs() if is_outbox(sync_meeting) else set()
    due = (set(waiting) | set(orphaned)) - queued
    for reservation_id in sorted(due):
        enqueue(sync_meeting, reservation_id=reservation_id)
    return {"meetings": len(due)}


def queued_email_ids() -> set[int]:
    """Emails whose send task is waiting or running in the queue (none with `immediate`)."""
    if not is_outbox(send_email):
        return set()
    rows = DBTaskResult.objects.filter(
        task_path=send_email.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
    ).values_list("args_kwargs", flat=True)
    return {row["kwargs"].get("email_id") for row in rows}


def _emails(*, now: datetime) -> dict:
    from reservations import notifications

    return {"emails": notifications.emails_requeue(now=now)}


@dataclass(frozen=True)
class PeriodicJobSpec:
    interval: timedelta
    run: Callable[..., dict]


def _terms_notices(*, now: datetime) -> dict:
    from consent.services import terms_notify_due

    return {"emails": sum(terms_notify_due(now=now).values())}


PERIODIC_JOBS: dict[str, PeriodicJobSpec] = {
    # Art. 6(4) no-shows and rule 5 expiry; idempotent, so a minute is fine.
    "sweep": PeriodicJobSpec(timedelta(minutes=1), _sweep),
    "reminders": PeriodicJobSpec(timedelta(minutes=5), _reminders),
    "meetings": PeriodicJobSpec(timedelta(minutes=10), meetings_resync),
    # DESIGN: an outage delays emails but never loses them, whatever became of their task.
    "emails": PeriodicJobSpec(timedelta(minutes=10), _emails),
    # Art. 13: people who booked after a new version was announced are told too.
    "terms_notices": PeriodicJobSpec(timedelta(hours=1), _terms_notices),
}


def periodic_jobs_enqueue_due(*, now: datetime) -> list[str]:
    """Queue each periodic job whose interval has passed; many workers queue it once."""
    from reservations.models import PeriodicJob

    last_runs = dict(PeriodicJob.objects.values_list("name", "last_run_at"))
    queued = []
    for name, spec in PERIODIC_JOBS.items():
        last = last_runs.get(name)
        if last is not None and now - last < spec.interval:
            continue  # cheap check first: no write transaction unless a job is due
        if name not in last_runs:
            try:
                with transaction.atomic():
                    PeriodicJob.objects.create(name=name)
            except IntegrityError:
                pass  # another worker made it
        with transaction.atomic():
            job = PeriodicJob.objects.select_for_update().get(name=name)
            if job.last_run_at is not None and now - job.last_run_at < spec.interval:
                continue
            job.last_run_at = now
            job.save(update_fields=["last_run_at"])
            enqueue(run_periodic_job, name=name)
        queued.append(name)
    return queued


def periodic_jobs_run_all(*, now: datetime) -> dict[str, dict]:
    """Run every periodic job now, in this process (the cron alternative to the worker)."""
    return {name: spec.run(now=now) for name, spec in PERIODIC_JOBS.items()}


# --- Retries and leases (used by the worker) -----------------------------------------


def retry_delay(attempt: int) -> float:
    """Seconds before attempt `attempt + 1`: exponential, capped."""
    base = settings.TASK_RETRY_BASE_SECONDS
    return min(settings.TASK_RETRY_MAX_SECONDS, base * 2 ** max(attempt - 1, 0))


def safe_error(exc: BaseException) -> str:
    """A description of a failure fit for logs and the admin: never a person's data.

    Our own errors carry vetted messages; anything else is named by its class only (an
    SMTP error, for one, quotes the recipient's address).
    """
    message = getattr(exc, "message", None)
    from reservations.meetings.base import MeetingError
    from reservations.notifications import EmailDeliveryError

    if isinstance(exc, (MeetingError, EmailDeliveryError)) and isinstance(message, str):
        return f"{type(exc).__name__}: {message}"
    return type(exc).__name__


def _retried_until_done(row: DBTaskResult) -> bool:
    """Tasks not given up after TASK_MAX_ATTEMPTS: an email stops only when sent or moot."""
    return row.task_path == send_email.module_path


def _gives_up(row: DBTaskResult, attempt: int, exc: BaseException | None = None) -> bool:
    if getattr(exc, "permanent", False):
        return True  # e.g. SMTP 5xx: the same message would be refused again
    return attempt >= settings.TASK_MAX_ATTEMPTS and not _retried_until_done(row)


def _error_fields(exc: BaseException) -> dict:
    frames = "".join(traceback.format_tb(exc.__traceback__))
    return {
        "exception_class_path": f"{type(exc).__module__}.{type(exc).__qualname__}",
        # The stack without the exception's message, which may quote personal data.
        "traceback": f"{frames}{safe_error(exc)}\n",
    }


def task_attempt_failed(
    row: DBTaskResult, exc: BaseException, *, claimed_at: datetime, now: datetime | None = None
) -> str:
    """Reschedule a failed attempt with backoff, or give up (after TASK_MAX_ATTEMPTS)."""
    now = now or timezone.now()
    attempt = len(row.worker_ids)
    fields = _error_fields(exc)
    if _gives_up(row, attempt, exc):
        outcome = "failed"
        fields.update(status=TaskResultStatus.FAILED, finished_at=now, return_value=None)
        delay = None
    else:
        outcome = "retry"
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            delay = float(asked)
        elif attempt >= settings.TASK_MAX_ATTEMPTS:
            delay = settings.TASK_RETRY_MAX_SECONDS  # past the attempts: at the capped interval
        else:
            delay = retry_delay(attempt)
        fields.update(status=TaskResultStatus.READY, run_after=now + timedelta(seconds=delay))
    # Only the worker that holds the lease may record the outcome.
    updated = DBTaskResult.objects.filter(
        pk=row.pk, status=TaskResultStatus.RUNNING, started_at=claimed_at
    ).update(**fields)
    if not updated:
        logger.warning("task %s lost its lease; outcome of attempt %d dropped", row.pk, attempt)
        return "lost"
    logger.warning(
        "task %s %s attempt %d/%d failed: %s; %s",
        row.pk,
        row.task_path.rsplit(".", 1)[-1],
        attempt,
        settings.TASK_MAX_ATTEMPTS,
        safe_error(exc),
        f"retry in {delay:.1f}s" if delay is not None else "giving up",
    )
    return outcome


def task_attempt_succeeded(
    row: DBTaskResult, value: object, *, claimed_at: datetime, now: datetime | None = None
) -> bool:
    """Record a successful attempt (unless another worker has taken the task over)."""
    updated = DBTaskResult.objects.filter(
        pk=row.pk, status=TaskResultStatus.RUNNING, started_at=claimed_at
    ).update(
        status=TaskResultStatus.SUCCESSFUL,
        finished_at=now or timezone.now(),
        return_value=normalize_json(value),
        exception_class_path="",
        traceback="",
    )
    if not updated:
        logger.warning("task %s lost its lease; its success was recorded by another", row.pk)
    return bool(updated)


def tasks_reclaim_abandoned(*, now: datetime) -> int:
    """Run again the tasks whose worker died mid-task (RUNNING past TASK_LEASE_SECONDS)."""
    cutoff = now - timedelta(seconds=settings.TASK_LEASE_SECONDS)
    reclaimed = 0
    for row in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff):
        attempt = len(row.worker_ids)
        fields: dict = {
            "exception_class_path": "reservations.tasks.WorkerLost",
            "traceback": "WorkerLost: the worker stopped during the task\n",
        }
        gives_up = _gives_up(row, attempt)
        if gives_up:
            fields.update(status=TaskResultStatus.FAILED, finished_at=now)
        else:
            fields.update(status=TaskResultStatus.READY, run_after=now)
        if DBTaskResult.objects.filter(
            pk=row.pk, status=TaskResultStatus.RUNNING, started_at=row.started_at
        ).update(**fields):
            reclaimed += 1
            logger.warning(
                "task %s %s abandoned by worker %s after attempt %d; %s",
                row.pk,
                row.task_path.rsplit(".", 1)[-1],
                row.worker_ids[-1] if row.worker_ids else "?",
                attempt,
                "giving up" if gives_up else "queued again",
            )
    return reclaimed
