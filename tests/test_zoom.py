"""Zoom through zoomus against a fake Zoom on 127.0.0.1: the exact request and every trap."""

from __future__ import annotations

import threading
import time
from datetime import UTC, timedelta

import pytest
import time_machine
import zoomus.util
from django.core import mail
from django.db import connection
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from reservations import meetings, periodic, services
from reservations.meetings.sync import meeting_start_url, meeting_sync, sync_meeting
from reservations.models import (
    EmailKind,
    MeetingState,
    OutgoingEmail,
    Reservation,
    ZoomMeeting,
    ZoomMeetingState,
)
from reservations.rules import TOKYO, Status
from tests import fake_zoom as fz
from tests.conftest import IS_POSTGRES
from tests.fake_zoom import FakeZoom

pytestmark = pytest.mark.django_db


def confirmed(make_reservation, next_slot, counselor, n: int = 0, **fields) -> Reservation:
    reservation = make_reservation(next_slot(n), **fields)
    services.reservation_confirm(reservation=reservation, actor=counselor)
    return reservation


def sync_task() -> DBTaskResult:
    return DBTaskResult.objects.get(task_path=sync_meeting.module_path)


def confirmed_emails() -> list:
    return [m for m in mail.outbox if any(a.filename.endswith(".ics") for a in m.attachments)]


def test_confirming_creates_the_meeting_with_the_exact_request(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    reservation = confirmed(
        make_reservation,
        next_slot,
        counselor,
        name="伊勢崎 花子",
        email="hanako@example.jp",
        phone="0270-00-0000",
        topic="転職の相談",
    )
    database_tasks()

    [token] = fake_zoom.calls(fz.TOKEN)
    assert token.body == {"grant_type": "account_credentials", "account_id": "fake-account"}
    assert token.headers["Authorization"].startswith("Basic ")
    [create] = fake_zoom.calls(fz.CREATE)
    assert create.path == "/v2/users/me/meetings"
    assert create.headers["Authorization"] == "Bearer token-1"
    body = create.body
    start_utc = reservation.slot.starts_at.astimezone(UTC)
    assert body["start_time"] == start_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    local_hour = reservation.slot.starts_at.astimezone(TOKYO).hour  # 10, 11, 14 or 15
    assert int(body["start_time"][11:13]) == local_hour - 9
    assert body["type"] == 2
    assert body["duration"] == 30
    assert body["timezone"] == "Asia/Tokyo"
    assert body["settings"]["waiting_room"] is True
    assert body["settings"]["join_before_host"] is False
    assert body["settings"]["auto_recording"] == "none"
    assert len(body["password"]) == 8
    assert body["topic"] == f"ハローワーク伊勢崎 オンライン職業相談 {reservation.reference}"
    sent = str(body)
    for personal in ("伊勢崎 花子", "hanako", "0270-00-0000", "転職", reservation.seeker_number):
        assert personal not in sent

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    meeting = fake_zoom.state.meetings[reservation.meeting_id]
    assert reservation.meeting_join_url == meeting["join_url"]
    assert reservation.meeting_passcode == body["password"]
    [record] = reservation.zoom_meetings.all()
    assert record.state == ZoomMeetingState.ACTIVE
    assert record.meeting_id == reservation.meeting_id
    [email] = confirmed_emails()
    assert reservation.meeting_join_url in email.body
    assert reservation.meeting_passcode in email.body


def test_zoomus_alone_would_send_tokyo_time_as_utc():
    """The trap the request above avoids: zoomus appends "Z" without converting."""
    from tests.conftest import tokyo

    ten_in_tokyo = tokyo(2027, 1, 12, 10)
    assert zoomus.util.date_to_str(ten_in_tokyo) == "2027-01-12T10:00:00Z"  # 9 hours off
    assert zoomus.util.date_to_str(ten_in_tokyo.astimezone(UTC)) == "2027-01-12T01:00:00Z"


def test_the_client_is_lazy_and_reuses_its_token(fake_zoom, make_reservation, next_slot):
    provider = meetings.ZoomProvider()
    assert fake_zoom.state.requests == []  # no token at construction (zoomus asks in __init__)
    meeting = provider.create(
        topic="T", start=next_slot(), minutes=30, passcode=meetings.zoom.new_passcode()
    )
    provider.get(meeting_id=meeting.meeting_id)
    assert [r.endpoint for r in fake_zoom.state.requests] == [fz.TOKEN, fz.CREATE, fz.GET]


def test_an_expired_token_is_refreshed_and_the_call_retried_once(fake_zoom, next_slot):
    provider = meetings.ZoomProvider()
    meeting = provider.create(topic="T", start=next_slot(), minutes=30, passcode="abcd2345")
    fake_zoom.expire_tokens()  # an hour later

    assert provider.start_url(meeting_id=meeting.meeting_id, join_url="").endswith("zak=fresh")
    endpoints = [r.endpoint for r in fake_zoom.state.requests]
    assert endpoints == [fz.TOKEN, fz.CREATE, fz.GET, fz.TOKEN, fz.GET]
    assert fake_zoom.calls(fz.GET)[-1].headers["Authorization"] == "Bearer token-2"


def test_a_401_after_a_fresh_token_is_an_error_not_a_loop(fake_zoom, next_slot):
    provider = meetings.ZoomProvider()
    meeting = provider.create(topic="T", start=next_slot(), minutes=30, passcode="abcd2345")
    fake_zoom.fail(fz.GET, 401, times=5)

    with pytest.raises(meetings.MeetingError, match="認証"):
        provider.get(meeting_id=meeting.meeting_id)
    assert len(fake_zoom.calls(fz.GET)) == 2  # the call, and one retry with a new token


def test_zoom_500_fails_visibly_then_succeeds_on_retry(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselor
):
    settings.TASK_RETRY_BASE_SECONDS = 60
    fake_zoom.fail(fz.CREATE, 500)
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.FAILED
    assert "HTTP 500" in reservation.meeting_error
    assert reservation.zoom_meetings.get().state == ZoomMeetingState.ABANDONED
    assert confirmed_emails() == []
    row = sync_task()
    assert row.status == TaskResultStatus.READY
    assert 55 <= (row.run_after - timezone.now()).total_seconds() <= 61

    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
        database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    assert reservation.meeting_error == ""
    assert len(fake_zoom.state.meetings) == 1
    assert len(fake_zoom.calls(fz.CREATE)) == 2
    row.refresh_from_db()
    assert row.status == TaskResultStatus.SUCCESSFUL
    assert len(row.worker_ids) == 2
    assert len(confirmed_emails()) == 1


def test_the_daily_limit_answers_300_and_the_retry_waits_an_hour(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    fake_zoom.fail(fz.CREATE, 300)
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.FAILED
    assert "上限" in reservation.meeting_error
    assert fake_zoom.state.meetings == {}
    wait = (sync_task().run_after - timezone.now()).total_seconds()
    assert 3500 < wait <= 3600


def test_a_create_that_hangs_is_bounded_and_reconciled_without_a_duplicate(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    # Zoom makes the meeting but its answer never arrives within ZOOM_TIMEOUT (1 s).
    fake_zoom.hang(fz.CREATE, 30, after=True)
    reservation = confirmed(make_reservation, next_slot, counselor)
    began = time.monotonic()
    database_tasks()
    assert time.monotonic() - began < 5  # bounded: no waiting for the 30 s answer

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.FAILED
    assert "応答" in reservation.meeting_error
    assert reservation.zoom_meetings.get().state == ZoomMeetingState.UNCERTAIN
    assert len(fake_zoom.state.meetings) == 1  # it exists at Zoom all the same

    # Too early to tell: the abandoned request might still land; the sync waits.
    assert sync_task().status == TaskResultStatus.READY
    with time_machine.travel(timezone.now() + timedelta(seconds=10), tick=True):
        database_tasks()

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    assert len(fake_zoom.calls(fz.CREATE)) == 1
    assert len(fake_zoom.calls(fz.LIST)) == 1
    assert list(fake_zoom.state.meetings) == [reservation.meeting_id]
    record = reservation.zoom_meetings.get()
    assert record.state == ZoomMeetingState.ACTIVE
    assert record.meeting_id == reservation.meeting_id
    assert len(confirmed_emails()) == 1


def test_duplicates_found_when_reconciling_are_deleted(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    # Two creates hung (say, two workers) and both landed at Zoom.
    reservation = confirmed(make_reservation, next_slot, counselor)
    provider = meetings.ZoomProvider()
    for _ in range(2):
        provider.create(
            topic=f"x {reservation.reference}", start=next_slot(), minutes=30, passcode="abcd2345"
        )
    ZoomMeeting.objects.create(
        reservation=reservation,
        state=ZoomMeetingState.UNCERTAIN,
        host="me",
        requested_at=timezone.now() - timedelta(minutes=5),
    )
    database_tasks()

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    assert list(fake_zoom.state.meetings) == [reservation.meeting_id]
    states = sorted(reservation.zoom_meetings.values_list("state", flat=True))
    assert states == [ZoomMeetingState.ACTIVE, ZoomMeetingState.DELETED]
    assert len(fake_zoom.calls(fz.CREATE)) == 2  # none made by the sync itself


def test_the_token_request_hanging_is_bounded_too(fake_zoom, settings):
    fake_zoom.hang(fz.TOKEN, 30)
    began = time.monotonic()
    with pytest.raises(meetings.MeetingTimeout):
        meetings.ZoomProvider().get(meeting_id="85000000001")
    assert time.monotonic() - began < 2.5


def test_start_url_for_is_bounded_and_fresh(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()
    reservation.refresh_from_db()
    assert meeting_start_url(reservation).startswith("https://zoom.example/s/")

    fake_zoom.hang(fz.GET, 30)
    began = time.monotonic()
    with pytest.raises(meetings.MeetingError, match="応答"):
        meeting_start_url(reservation)
    assert time.monotonic() - began < 2.5


def test_start_url_for_teleoffice_and_for_a_missing_meeting(make_reservation, next_slot, counselor):
    tele = make_reservation(next_slot(0), platform="teleoffice")
    tele = services.reservation_confirm(
        reservation=tele, actor=counselor, meeting_url="https://teleoffice.example/r/1"
    )
    assert meeting_start_url(tele) == "https://teleoffice.example/r/1"
    zoom = confirmed(make_reservation, next_slot, counselor, n=1)
    with pytest.raises(meetings.MeetingError, match="まだ作成されていません"):
        meeting_start_url(zoom)


def test_refused_connections_fail_cleanly_and_recover(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselor
):
    settings.TASK_RETRY_BASE_SECONDS = 60
    port = fake_zoom.port
    fake_zoom.stop()  # Zoom unreachable: connection refused
    reservation = confirmed(make_reservation, next_slot, counselor)
    began = time.monotonic()
    database_tasks()
    assert time.monotonic() - began < 5

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.FAILED
    assert "接続できません" in reservation.meeting_error
    # Never sent, so nothing to reconcile: the attempt is closed as not made.
    assert reservation.zoom_meetings.get().state == ZoomMeetingState.ABANDONED

    back = FakeZoom(port=port)
    try:
        with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=True):
            database_tasks()
        reservation.refresh_from_db()
        assert reservation.meeting_state == MeetingState.READY
        assert list(back.state.meetings) == [reservation.meeting_id]
        assert len(confirmed_emails()) == 1
    finally:
        back.stop()


def test_moving_updates_and_cancelling_deletes_the_meeting(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()
    reservation.refresh_from_db()
    meeting_id = reservation.meeting_id

    new_start = next_slot(1)
    services.reservation_move(reservation=reservation, new_start=new_start, actor=counselor)
    database_tasks()
    [update] = fake_zoom.calls(fz.UPDATE)
    assert update.method == "PATCH"
    assert update.path == f"/v2/meetings/{meeting_id}"
    assert update.body["start_time"] == new_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert update.body["timezone"] == "Asia/Tokyo"
    assert update.body["duration"] == 30
    reservation.refresh_from_db()
    assert reservation.meeting_id == meeting_id  # same link, new time
    assert reservation.zoom_meetings.get().start_time == new_start

    services.reservation_cancel(reservation=reservation, by="seeker")
    database_tasks()
    [delete] = fake_zoom.calls(fz.DELETE)
    assert delete.path == f"/v2/meetings/{meeting_id}"
    assert fake_zoom.state.meetings == {}
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.NONE
    assert reservation.meeting_join_url == ""
    assert reservation.zoom_meetings.get().state == ZoomMeetingState.DELETED
    kinds = list(OutgoingEmail.objects.values_list("kind", flat=True))
    assert kinds.count(EmailKind.CONFIRMED) == 1  # not again for the move


def test_a_meeting_already_deleted_at_zoom_counts_as_deleted(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()
    fake_zoom.state.meetings.clear()  # someone deleted it in Zoom's web portal
    services.reservation_cancel(
        reservation=reservation, by="staff", actor=counselor, reason="電話で連絡あり"
    )
    database_tasks()
    assert len(fake_zoom.calls(fz.DELETE)) == 1
    record = reservation.zoom_meetings.get()
    assert record.state == ZoomMeetingState.DELETED
    assert "既に削除" in record.note
    assert DBTaskResult.objects.exclude(status=TaskResultStatus.SUCCESSFUL).count() == 0


def test_without_zoom_settings_staff_see_why_and_it_is_retried_later(
    settings, database_tasks, make_reservation, next_slot, counselor
):
    settings.ZOOM_ACCOUNT_ID = ""
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.FAILED
    assert "ZOOM_ACCOUNT_ID" in reservation.meeting_error
    assert sync_task().status == TaskResultStatus.SUCCESSFUL  # no hot retry loop
    assert confirmed_emails() == []

    zoom = FakeZoom()
    try:
        settings.ZOOM_ACCOUNT_ID = zoom.state.account_id
        settings.ZOOM_CLIENT_ID = zoom.state.client_id
        settings.ZOOM_CLIENT_SECRET = zoom.state.client_secret
        settings.ZOOM_API_BASE_URL = zoom.api_base_url
        settings.ZOOM_OAUTH_URL = zoom.oauth_url
        # The periodic meeting job picks it up again.
        assert periodic.meetings_resync(now=timezone.now()) == {"meetings": 1}
        assert periodic.meetings_resync(now=timezone.now()) == {"meetings": 0}  # queued once
        database_tasks()
        reservation.refresh_from_db()
        assert reservation.meeting_state == MeetingState.READY
        assert len(confirmed_emails()) == 1
    finally:
        zoom.stop()


def test_staff_can_ask_for_the_meeting_again(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselor
):
    settings.TASK_MAX_ATTEMPTS = 1
    fake_zoom.fail(fz.CREATE, 500)
    reservation = confirmed(make_reservation, next_slot, counselor)
    database_tasks()
    assert sync_task().status == TaskResultStatus.FAILED  # the queue gave up

    services.reservation_meeting_retry(reservation=reservation, actor=counselor)
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.PENDING
    note = reservation.events.last()
    assert note.details == {"action": "meeting_retry"}
    assert note.actor == counselor
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    with pytest.raises(services.ReservationError):
        services.reservation_meeting_retry(reservation=reservation, actor=counselor)


def test_a_second_sync_while_one_is_creating_waits(
    fake_zoom, make_reservation, next_slot, counselor
):
    reservation = confirmed(make_reservation, next_slot, counselor)
    ZoomMeeting.objects.create(
        reservation=reservation, state=ZoomMeetingState.CREATING, requested_at=timezone.now()
    )
    with pytest.raises(meetings.MeetingBusy):
        meeting_sync(reservation_id=reservation.pk)
    assert fake_zoom.calls(fz.CREATE) == []


@pytest.mark.postgres
@pytest.mark.skipif(not IS_POSTGRES, reason="row locks under real concurrency need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_confirms_make_one_meeting_and_one_email(
    fake_zoom, database_tasks, make_reservation, next_slot, counselor
):
    reservation = make_reservation(next_slot())
    barrier = threading.Barrier(10)
    outcomes: list[str] = []

    def confirm() -> None:
        try:
            barrier.wait()
            services.reservation_confirm(reservation=reservation, actor=counselor)
            outcomes.append("confirmed")
        except services.ReservationError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["confirmed"] + ["refused"] * 9
    assert DBTaskResult.objects.filter(task_path=sync_meeting.module_path).count() == 1

    # And ten syncs racing for the same booking still make one meeting.
    barrier = threading.Barrier(10)

    def sync() -> None:
        try:
            barrier.wait()
            meeting_sync(reservation_id=reservation.pk)
        except meetings.MeetingBusy:
            pass
        finally:
            connection.close()

    threads = [threading.Thread(target=sync) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database_tasks()

    assert len(fake_zoom.calls(fz.CREATE)) == 1
    assert len(fake_zoom.state.meetings) == 1
    assert OutgoingEmail.objects.filter(kind=EmailKind.CONFIRMED).count() == 1
    assert len(confirmed_emails()) == 1
    reservation.refresh_from_db()
    assert reservation.status == Status.CONFIRMED
    assert reservation.meeting_state == MeetingState.READY
