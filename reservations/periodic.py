"""The periodic jobs: the sweep, the waiting lists, the reminders, and the retries of meetings
and emails.

The worker queues each one when its interval has passed (`periodic_jobs_enqueue_due`, once
across many workers); `manage.py run_periodic_jobs` runs them all in-process, for cron.
Every job is idempotent, so a job run twice or late changes nothing more than once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from consent.services import terms_notify_due
from reservations import outbox, rules, services, tasks
from reservations.meetings.sync import sync_meeting
from reservations.models import (
    UNSETTLED_ZOOM_STATES,
    EmailStatus,
    OutgoingEmail,
    PeriodicJob,
    Platform,
    Reservation,
    ZoomMeetingState,
)
from reservations.rules import WITHDRAWN_STATUSES, Status

logger = logging.getLogger(__name__)


@task()
def run_periodic_job(name: str) -> object:
    """Run one periodic job (the sweep, the reminders, the meeting retries)."""
    return PERIODIC_JOBS[name].run(now=timezone.now())


def emails_requeue(*, now: datetime | None = None) -> int:
    """Queue again every unsent email whose task is gone (lost, or given up); idempotent.

    The retries of one task chain are not the only guarantee: whatever happened to the
    queue, an email that is not sent, skipped or refused for good gets a task here.
    """
    now = now or timezone.now()
    # A lease's grace for new and in-flight emails: their own task or worker has them.
    grace = now - timedelta(seconds=settings.TASK_LEASE_SECONDS)
    unsent = OutgoingEmail.objects.filter(
        Q(status=EmailStatus.RETRYING)
        | Q(status=EmailStatus.QUEUED, created_at__lt=grace)
        | Q(status=EmailStatus.SENDING, last_attempt_at__lt=grace)
    ).values_list("pk", flat=True)
    due = set(unsent) - outbox.queued(tasks.send_email, "email_id")
    for email_id in sorted(due):
        outbox.enqueue(tasks.send_email, email_id=email_id)
    if due:
        logger.warning("%d unsent emails had no task; queued again", len(due))
    return len(due)


def _sweep(*, now: datetime) -> dict:
    result = services.reservations_sweep(now=now)
    return {"expired": result.expired, "no_show": result.no_show}


def _reminders(*, now: datetime) -> dict:
    return {"reminders": services.reminders_send(now=now)}


def meetings_resync(*, now: datetime) -> dict:
    """Queue the meeting sync of every Zoom booking left behind (failed, pending, orphaned).

    This is what retries a meeting after the queue gave up, or once Zoom is configured.
    """
    waiting = Reservation.objects.filter(
        platform=Platform.ZOOM,
        status=Status.CONFIRMED,
        meeting_state__in=rules.MEETING_RETRY_STATES,
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
    due = (set(waiting) | set(orphaned)) - outbox.queued(sync_meeting, "reservation_id")
    for reservation_id in sorted(due):
        outbox.enqueue(sync_meeting, reservation_id=reservation_id)
    return {"meetings": len(due)}


def _waitlists(*, now: datetime) -> dict:
    change = services.waitlists_sweep(now=now)
    return {
        "offered": change.offered,
        "offers_expired": change.offers_expired,
        "closed": change.closed,
    }


def _emails(*, now: datetime) -> dict:
    return {"emails": emails_requeue(now=now)}


@dataclass(frozen=True)
class PeriodicJobSpec:
    interval: timedelta
    run: Callable[..., dict]


def _terms_notices(*, now: datetime) -> dict:
    return {"emails": sum(terms_notify_due(now=now).values())}


PERIODIC_JOBS: dict[str, PeriodicJobSpec] = {
    # Art. 6(4) no-shows and rule 5 expiry; idempotent, so a minute is fine.
    "sweep": PeriodicJobSpec(timedelta(minutes=1), _sweep),
    "reminders": PeriodicJobSpec(timedelta(minutes=5), _reminders),
    # Rule 16: offers hold a place 30 minutes; a minute late passes it on soon enough.
    "waitlists": PeriodicJobSpec(timedelta(minutes=1), _waitlists),
    "meetings": PeriodicJobSpec(timedelta(minutes=10), meetings_resync),
    # An outage delays emails but never loses them, whatever became of their task.
    "emails": PeriodicJobSpec(timedelta(minutes=10), _emails),
    # Art. 13: people who booked after a new version was announced are told too.
    "terms_notices": PeriodicJobSpec(timedelta(hours=1), _terms_notices),
}


def periodic_jobs_enqueue_due(*, now: datetime) -> list[str]:
    """Queue each periodic job whose interval has passed; many workers queue it once."""
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
            outbox.enqueue(run_periodic_job, name=name)
        queued.append(name)
    return queued


def periodic_jobs_run_all(*, now: datetime) -> dict[str, dict]:
    """Run every periodic job now, in this process (the cron alternative to the worker)."""
    return {name: spec.run(now=now) for name, spec in PERIODIC_JOBS.items()}
