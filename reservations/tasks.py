"""The task queue: the email task, and the retries and leases the worker gives every task.

Tasks are rows of django-tasks-db in the same database as the bookings, so a task enqueued
inside a service's transaction exists exactly when the change committed (`outbox`).
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
asked for and reconciled after. The meeting task lives with its code (`meetings.sync`),
the periodic jobs in `periodic`.
"""

from __future__ import annotations

import logging
import traceback
from datetime import datetime, timedelta

from django.conf import settings
from django.tasks import TaskContext, TaskResultStatus, task
from django.utils import timezone
from django.utils.json import normalize_json
from django_tasks_db.models import DBTaskResult

from reservations import mail
from reservations.errors import WorkError

logger = logging.getLogger(__name__)


@task(takes_context=True)
def send_email(context: TaskContext, email_id: int) -> str:
    """Send one queued email to a seeker (at most once, retried until it goes)."""
    return mail.email_send(email_id=email_id, attempt=context.attempt)


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
    if isinstance(exc, WorkError) and isinstance(exc.message, str):
        return f"{type(exc).__name__}: {exc.message}"
    return type(exc).__name__


def _retried_until_done(row: DBTaskResult) -> bool:
    """Tasks not given up after TASK_MAX_ATTEMPTS: an email stops only when sent or moot."""
    return row.task_path == send_email.module_path


def _gives_up(row: DBTaskResult, attempt: int, exc: BaseException | None = None) -> bool:
    if getattr(exc, "deferred", False):
        return False  # waiting for a quota is not a failed attempt
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
        outcome = "deferred" if getattr(exc, "deferred", False) else "retry"
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
