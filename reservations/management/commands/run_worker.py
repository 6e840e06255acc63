"""`manage.py run_worker`: run queued tasks with retries, leases and the periodic jobs.

django-tasks-db's own `db_worker` runs each task once and marks it failed on any error, and
leaves a task RUNNING for ever if its worker is killed. This worker claims tasks the same
way (row lock, SKIP LOCKED) and adds what the portal needs so that nothing is lost:

- a failed attempt is rescheduled with exponential backoff (`tasks.task_attempt_failed`);
- every few seconds, tasks RUNNING past TASK_LEASE_SECONDS are run again
  (`tasks.tasks_reclaim_abandoned`), and due periodic jobs are queued — the sweep, the
  day-before reminders and the meeting retries (`periodic.periodic_jobs_enqueue_due`).

Run one or more per installation; SIGTERM or Ctrl+C lets the current task finish.
"""

from __future__ import annotations

import logging
import signal
import time
from argparse import ArgumentParser

from django.core.management.base import BaseCommand, CommandError
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
)
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskContext
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from reservations import mail, outbox, periodic, tasks

logger = logging.getLogger("reservations.worker")

# How often the worker looks for abandoned tasks and due periodic jobs.
HOUSEKEEPING_SECONDS = 5.0
# How long to wait before trying again when the database is unreachable: from the poll
# interval, doubling, up to this.
DATABASE_RETRY_SECONDS = 5.0
# What an outage looks like from here: the server gone (OperationalError), or a connection
# it broke that the driver now refuses to use (InterfaceError: "connection already
# closed", which is not a DatabaseError). Network errors reach us as either.
OUTAGE_ERRORS = (DatabaseError, InterfaceError)


class Worker(db_worker.Worker):
    """django-tasks-db's worker with retries, lease recovery and periodic jobs."""

    def __init__(self, *, periodic: bool, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.periodic = periodic
        self.next_housekeeping = 0.0
        self.outage_since: float | None = None

    def housekeeping(self) -> None:
        now = timezone.now()
        tasks.tasks_reclaim_abandoned(now=now)
        if self.periodic:
            periodic.periodic_jobs_enqueue_due(now=now)

    def claim(self) -> tuple[DBTaskResult | None, bool]:
        """Take the next due task, or None; the flag says whether the queue could be read."""
        rows = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            rows = rows.filter(queue_name__in=self.queue_names)
        try:
            with exclusive_transaction(rows.db):
                row = rows.get_locked()
                if row is not None:
                    row.claim(self.worker_id)
            return row, True
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None, False  # SQLite busy: try again on the next round
            raise

    @staticmethod
    def refresh_connections() -> None:
        # Drop broken or expired connections between tasks, as Django does between requests;
        # not inside a caller's transaction (a test running the worker in-process).
        if not connection.in_atomic_block:
            close_old_connections()

    def run(self) -> None:
        logger.info("worker %s started", self.worker_id)
        backoff = self.interval
        while self.running:
            try:
                row, readable = self.round()
            except OUTAGE_ERRORS as exc:
                if self.batch:
                    raise
                # The database went away (restart, failover, network): keep the worker, drop
                # the broken connection, try again with backoff. A task caught mid-way stays
                # RUNNING and comes back after its lease. One line per outage, not per poll.
                if self.outage_since is None:
                    self.outage_since = time.monotonic()
                    logger.warning(
                        "worker %s: database unavailable (%s); retrying",
                        self.worker_id,
                        type(exc).__name__,
                    )
                self.drop_connections()
                backoff = min(max(backoff * 2, 0.5), DATABASE_RETRY_SECONDS)
                time.sleep(backoff)
                continue
            backoff = self.interval
            if row is None and self.batch and readable:
                logger.info("worker %s: no task due, stopping (batch)", self.worker_id)
                return
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                return
            if self.running and row is None:
                time.sleep(self.interval)

    @staticmethod
    def drop_connections() -> None:
        for conn in connections.all(initialized_only=True):
            try:
                conn.close()
            except OUTAGE_ERRORS:
                conn.connection = None  # already gone: Django opens a new one next time

    def round(self) -> tuple[DBTaskResult | None, bool]:
        """Housekeeping when due, then one task if one is due."""
        self.refresh_connections()
        if time.monotonic() >= self.next_housekeeping:
            self.housekeeping()
            self.next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        row, readable = self.claim()
        if self.outage_since is not None:
            logger.warning(
                "worker %s: database available again after %.1fs",
                self.worker_id,
                time.monotonic() - self.outage_since,
            )
            self.outage_since = None
        mail.emails_record_accepted()
        if row is not None:
            self.run_task(row)
        self.refresh_connections()
        return row, readable

    def run_task(self, db_task_result: DBTaskResult) -> None:
        row = db_task_result
        claimed_at = row.started_at
        started = time.monotonic()
        self.running_task = True
        try:
            task = row.task
            result = row.task_result
            backend = type(task.get_backend())
            task_started.send(sender=backend, task_result=result)
            try:
                if task.takes_context:
                    value = task.call(
                        TaskContext(task_result=result), *result.args, **result.kwargs
                    )
                else:
                    value = task.call(*result.args, **result.kwargs)
            except Exception as exc:
                # SystemExit/KeyboardInterrupt pass: the task stays RUNNING and its lease
                # expiry brings it back, exactly as if the process had been killed.
                tasks.task_attempt_failed(row, exc, claimed_at=claimed_at)
            else:
                tasks.task_attempt_succeeded(row, value, claimed_at=claimed_at)
            row.refresh_from_db()
            task_finished.send(sender=backend, task_result=row.task_result)
            # One line per task: its name, the ids it worked on (never personal data).
            ids = " ".join(
                f"{key}={value}"
                for key, value in sorted(row.args_kwargs.get("kwargs", {}).items())
                if key.endswith("_id")
            )
            logger.info(
                "task %s%s: %s in %.0f ms",
                row.task_path.rsplit(".", 1)[-1],
                f" ({ids})" if ids else "",
                row.status,
                (time.monotonic() - started) * 1000,
            )
        finally:
            self.running_task = False
            self._run_tasks += 1


class Command(BaseCommand):
    help = "Run queued tasks (emails, Zoom) with retries, and the periodic jobs."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--queue-name",
            default="default",
            help="Queues to process, comma-separated, or '*' (default: default).",
        )
        parser.add_argument(
            "--interval",
            type=db_worker.valid_interval,
            default=1.0,
            help="Seconds to wait when no task is due (default: 1).",
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Run the tasks due now, then exit (for cron or a one-off drain).",
        )
        parser.add_argument(
            "--max-tasks",
            type=db_worker.valid_max_tasks,
            default=None,
            help="Exit after this many tasks.",
        )
        parser.add_argument(
            "--no-periodic",
            action="store_false",
            dest="periodic",
            help="Do not queue the periodic jobs (when cron runs run_periodic_jobs instead).",
        )
        parser.add_argument(
            "--worker-id",
            type=db_worker.validate_worker_id,
            default=None,
            help="Unique id of this worker (default: random).",
        )

    def handle(
        self,
        *,
        queue_name: str,
        interval: float,
        batch: bool,
        max_tasks: int | None,
        periodic: bool,
        worker_id: str | None,
        **options: object,
    ) -> None:
        if not outbox.is_outbox(tasks.send_email):
            raise CommandError(
                "run_worker needs TASK_BACKEND=database (with 'immediate' tasks run inline)."
            )
        worker = Worker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=batch,
            backend_name=DEFAULT_TASK_BACKEND_ALIAS,
            startup_delay=False,
            max_tasks=max_tasks,
            worker_id=worker_id or get_random_string(32),
            excluded_queue_names=[],
            periodic=periodic,
        )
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {signum: signal.getsignal(signum) for signum in handled}
        if not batch:
            worker.configure_signals()
        try:
            worker.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
