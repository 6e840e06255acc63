"""Monitoring: /healthz, /readyz against the real database and caches, /metrics."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from reservations.models import OutgoingEmail

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_healthz_answers_without_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_ready_with_the_database_and_a_real_redis(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ready"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "cache": True,
        "tasks": True,
        "emails": True,
    }


def test_readyz_is_not_ready_when_the_cache_is_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
        }
    }
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["cache"]["ok"] is False
    assert body["checks"]["cache"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["ok"] is True


def test_readyz_is_not_ready_with_an_old_due_task_or_an_old_unsent_email(
    client, settings, database_tasks, make_reservation, next_slot
):
    settings.READYZ_MAX_TASK_AGE_SECONDS = 600
    settings.READYZ_UNSENT_EMAIL_MINUTES = 30
    make_reservation(next_slot())  # queues the "request received" email as a task
    assert DBTaskResult.objects.ready().exists()
    assert client.get("/readyz").status_code == 200  # just queued: fine

    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(minutes=20))
    response = client.get("/readyz")
    assert response.status_code == 503
    tasks = response.json()["checks"]["tasks"]
    assert tasks["ok"] is False
    assert 1190 < tasks["oldest_due_age_seconds"] < 1300

    DBTaskResult.objects.update(enqueued_at=timezone.now())
    OutgoingEmail.objects.update(created_at=timezone.now() - timedelta(minutes=45))
    response = client.get("/readyz")
    assert response.status_code == 503
    emails = response.json()["checks"]["emails"]
    assert emails == {**emails, "ok": False, "unsent_older_than_limit": 1}

    database_tasks()  # the worker sends it
    assert client.get("/readyz").status_code == 200


def test_metrics_are_hidden_from_everyone_not_allowed(client, settings):
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = "metrics-token-0123456789"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    settings.METRICS_ALLOWED_IPS = ["192.0.2.0/24"]
    # A forged X-Forwarded-For does not help (no trusted proxy in front).
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="192.0.2.7").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 200
    ok = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0123456789")
    assert ok.status_code == 200


def test_metrics_count_bookings_queue_emails_and_jobs_without_personal_data(
    client, settings, database_tasks, make_reservation, next_slot
):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    reservation = make_reservation(next_slot(), name="秘密 花子", email="secret@example.jp")
    DBTaskResult.objects.update(enqueued_at=timezone.now() - timedelta(seconds=90))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert 'hellowork_reservations{office="isesaki",status="requested"} 1.0' in text
    assert 'hellowork_reservations{office="isesaki",status="no_show"} 0.0' in text
    assert "hellowork_task_queue_depth 1.0" in text
    age = float(text.split("\nhellowork_task_oldest_due_age_seconds ")[1].split()[0])
    assert 89 < age < 200
    assert 'hellowork_emails{status="queued"} 1.0' in text
    assert 'hellowork_emails{status="failed"} 0.0' in text
    assert 'hellowork_zoom_meetings{state="abandoned"} 0.0' in text
    assert "hellowork_meeting_link_failures 0.0" in text
    assert 'hellowork_requests_due_for_confirmation{office="isesaki"} 0.0' in text

    # The worker (with its periodic jobs) sends the email and runs the sweep.
    call_command("run_worker", "--batch", "--interval", "0", verbosity=0)
    text = client.get("/metrics").content.decode()
    assert "hellowork_task_queue_depth 0.0" in text
    assert 'hellowork_emails{status="sent"} 1.0' in text
    assert 'hellowork_periodic_job_last_started_timestamp_seconds{job="sweep"}' in text
    for personal in (reservation.name, reservation.email, reservation.token):
        assert personal not in text
