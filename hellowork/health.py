"""Monitoring endpoints: `/healthz` (the process answers), `/readyz` (what it needs works),
`/metrics` (Prometheus, read from the database at scrape time).

Nothing personal is exposed: counts per office, status and job only (DESIGN rule 15).
Every figure is read from the database when scraped, so any app server gives the same
answer and nothing is lost when one restarts.
"""

from __future__ import annotations

import hmac
import ipaddress
import time as clock
from collections.abc import Iterator
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_tasks_db.models import DBTaskResult, get_date_max
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reservations.models import (
    EmailStatus,
    MeetingState,
    Office,
    OutgoingEmail,
    PeriodicJob,
    Reservation,
    ZoomMeeting,
    ZoomMeetingState,
)
from reservations.ratelimit import client_ip
from reservations.rules import TOKYO, Status

UNSENT_EMAIL_STATUSES = (EmailStatus.QUEUED, EmailStatus.SENDING, EmailStatus.RETRYING)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answers; touches neither the database nor the cache."""
    return JsonResponse({"status": "ok"})


def oldest_due_task_since(now: datetime) -> datetime | None:
    """Since when the longest-waiting task has been due (None: no task is due)."""
    due = DBTaskResult.objects.ready()
    # run_after at its maximum means "no delay": such a task is due since it was enqueued.
    undelayed = due.filter(run_after=get_date_max()).aggregate(at=Min("enqueued_at"))["at"]
    delayed = (
        due.exclude(run_after=get_date_max())
        .filter(run_after__lte=now)
        .aggregate(at=Min("run_after"))["at"]
    )
    moments = [moment for moment in (undelayed, delayed) if moment is not None]
    return min(moments) if moments else None


def _check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def _check_cache() -> dict:
    key = f"readyz:{get_random_string(12)}"
    cache.set(key, "1", timeout=10)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return {"ok": ok}


def _check_tasks(now: datetime) -> dict:
    since = oldest_due_task_since(now)
    age = max(0.0, (now - since).total_seconds()) if since else 0.0
    limit = settings.READYZ_MAX_TASK_AGE_SECONDS
    return {"ok": age <= limit, "oldest_due_age_seconds": round(age, 1), "limit_seconds": limit}


def _check_emails(now: datetime) -> dict:
    minutes = settings.READYZ_UNSENT_EMAIL_MINUTES
    unsent = OutgoingEmail.objects.filter(
        status__in=UNSENT_EMAIL_STATUSES, created_at__lt=now - timedelta(minutes=minutes)
    ).count()
    return {"ok": unsent == 0, "unsent_older_than_limit": unsent, "limit_minutes": minutes}


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, the cache and the task queue work; 503 with the reason."""
    now = timezone.now()
    checks: dict[str, dict] = {}
    for name, check in (
        ("database", _check_database),
        ("cache", _check_cache),
        ("tasks", lambda: _check_tasks(now)),
        ("emails", lambda: _check_emails(now)),
    ):
        started = clock.monotonic()
        try:
            checks[name] = check()
        except Exception as exc:  # any failure means "not ready"; its kind says why
            checks[name] = {"ok": False, "error": type(exc).__name__}
        checks[name]["ms"] = round((clock.monotonic() - started) * 1000, 1)
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


class PortalCollector(Collector):
    """The portal's state, read from the database at each scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = timezone.now()
        offices = dict(Office.objects.values_list("pk", "slug"))

        bookings = GaugeMetricFamily(
            "hellowork_reservations", "Bookings by office and status.", labels=["office", "status"]
        )
        counts = {
            (row["office_id"], row["status"]): row["n"]
            for row in Reservation.objects.values("office_id", "status").annotate(n=Count("id"))
        }
        for office_id, slug in offices.items():
            for status in Status:
                bookings.add_metric([slug, status.value], counts.get((office_id, status.value), 0))
        yield bookings

        # Rule 5: a request not confirmed by the end of the day before its session expires.
        tomorrow_end = datetime.combine(
            now.astimezone(TOKYO).date() + timedelta(days=2), time(0), tzinfo=TOKYO
        )
        deadline = GaugeMetricFamily(
            "hellowork_requests_due_for_confirmation",
            "Requested bookings that expire at the coming midnight (Asia/Tokyo) unless "
            "confirmed (their request cut-off has passed).",
            labels=["office"],
        )
        due = dict(
            Reservation.objects.filter(status=Status.REQUESTED, slot__starts_at__lt=tomorrow_end)
            .values_list("office_id")
            .annotate(n=Count("id"))
        )
        for office_id, slug in offices.items():
            deadline.add_metric([slug], due.get(office_id, 0))
        yield deadline

        tasks = GaugeMetricFamily("hellowork_tasks", "Task rows by status.", labels=["status"])
        for status, n in DBTaskResult.objects.values_list("status").annotate(n=Count("id")):
            tasks.add_metric([status], n)
        yield tasks
        yield GaugeMetricFamily(
            "hellowork_task_queue_depth",
            "Tasks due now and not yet taken by a worker.",
            value=DBTaskResult.objects.ready().count(),
        )
        since = oldest_due_task_since(now)
        yield GaugeMetricFamily(
            "hellowork_task_oldest_due_age_seconds",
            "How long the longest-waiting due task has waited (0: none due).",
            value=max(0.0, (now - since).total_seconds()) if since else 0.0,
        )

        emails = GaugeMetricFamily(
            "hellowork_emails",
            "Emails by status (failed: refused for good by the mail server; retrying: "
            "a passing failure).",
            labels=["status"],
        )
        email_counts = dict(OutgoingEmail.objects.values_list("status").annotate(n=Count("id")))
        for status in EmailStatus:
            emails.add_metric([status.value], email_counts.get(status.value, 0))
        yield emails

        zoom = GaugeMetricFamily(
            "hellowork_zoom_meetings", "Zoom meetings asked for, by state.", labels=["state"]
        )
        zoom_counts = dict(ZoomMeeting.objects.values_list("state").annotate(n=Count("id")))
        for state in ZoomMeetingState:
            zoom.add_metric([state.value], zoom_counts.get(state.value, 0))
        yield zoom
        yield GaugeMetricFamily(
            "hellowork_meeting_link_failures",
            "Active bookings whose meeting link could not be made yet (being retried).",
            value=Reservation.objects.filter(
                meeting_state=MeetingState.FAILED,
                status__in=(Status.REQUESTED, Status.CONFIRMED),
            ).count(),
        )

        jobs = GaugeMetricFamily(
            "hellowork_periodic_job_last_started_timestamp_seconds",
            "When each periodic job (sweep, reminders, …) last started, Unix time.",
            labels=["job"],
        )
        for name, last_run_at in PeriodicJob.objects.values_list("name", "last_run_at"):
            if last_run_at is not None:
                jobs.add_metric([name], last_run_at.timestamp())
        yield jobs


def _metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer "):
        return hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())
    address = client_ip(request)
    if not address or not settings.METRICS_ALLOWED_IPS:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(
        ip in ipaddress.ip_network(allowed, strict=False)
        for allowed in settings.METRICS_ALLOWED_IPS
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for an allowed address or the bearer token; 404 for anyone else."""
    if not _metrics_allowed(request):
        raise Http404
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PortalCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
