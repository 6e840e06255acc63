"""`manage.py run_periodic_jobs`: the sweep, the reminders and meeting retries, once, now.

The worker queues these by itself. Where workers run with `--no-periodic`, cron runs this
instead, e.g. every minute; every job is idempotent, so overlapping runs change nothing.
"""

from __future__ import annotations

from argparse import ArgumentParser

from django.core.management.base import BaseCommand
from django.utils import timezone

from reservations import periodic


class Command(BaseCommand):
    help = "Run the periodic jobs once: expiry/no-show sweep, reminders, meeting retries."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--job",
            action="append",
            choices=sorted(periodic.PERIODIC_JOBS),
            help="Run only this job (repeatable). Default: all.",
        )

    def handle(self, *, job: list[str] | None, **options: object) -> None:
        now = timezone.now()
        for name in job or list(periodic.PERIODIC_JOBS):
            outcome = periodic.PERIODIC_JOBS[name].run(now=now)
            summary = " ".join(f"{key}={value}" for key, value in outcome.items())
            self.stdout.write(f"{name}: {summary}")
