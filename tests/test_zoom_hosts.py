"""Meetings under the right host (rule 13), against the fake Zoom over real HTTP.

Each booking with a counselor is hosted by the counselor's Zoom user; reassignment moves the
meeting; a host never gets two meetings at one time; a host's daily budget of creates and
updates defers further work to the next UTC day; counselors read what went wrong in plain
words; the start link is the assigned counselor's and supervisors' only.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection, transaction
from django.tasks import TaskResultStatus
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from reservations import rules, services
from reservations.meetings import MeetingDeferred
from reservations.meetings.sync import (
    meeting_host,
    meeting_sync,
    meeting_sync_enqueue,
    sync_meeting,
)
from reservations.models import (
    Counselor,
    DutyWindow,
    EmailKind,
    MeetingProblem,
    MeetingState,
    OutgoingEmail,
    Reservation,
    StaffMembership,
    StaffRole,
    ZoomHostUsage,
    ZoomMeetingState,
)
from tests import fake_zoom as fz
from tests.admin_support import COUNSELOR, SUPERVISOR, staff_groups
from tests.conftest import IS_POSTGRES

__all__ = ["staff_groups"]  # the fixture in use

pytestmark = pytest.mark.django_db

ALICE = "alice@office.example"
BOB = "bob@office.example"


@pytest.fixture
def two_places(office):
    """Two places in every slot: two counselors on duty (the rota's places, here by number)."""
    office.windows.update(capacity=2)
    return office


def _staff(django_user_model, groups, office, username: str, role: str):  # noqa: ANN001, ANN202
    user = django_user_model.objects.create_user(
        username=username, password=f"{username}-pass-2026", is_staff=True
    )
    user.groups.add(groups[SUPERVISOR if role == StaffRole.SUPERVISOR else COUNSELOR])
    StaffMembership.objects.create(user=user, office=office, role=role)
    return user


@pytest.fixture
def counselors(two_places, django_user_model, staff_groups) -> tuple[Counselor, Counselor]:  # noqa: F811
    office = two_places
    made = []
    for name, zoom_user in (("alice", ALICE), ("bob", BOB)):
        user = _staff(django_user_model, staff_groups, office, name, StaffRole.COUNSELOR)
        counselor = Counselor.objects.create(
            office=office, user=user, display_name=name.title(), zoom_user=zoom_user
        )
        # On duty in every session window: the office's rota gives two places a slot.
        DutyWindow.objects.bulk_create(
            DutyWindow(
                counselor=counselor,
                weekday=window.weekday,
                start_time=window.start_time,
                end_time=window.end_time,
            )
            for window in office.windows.all()
        )
        made.append(counselor)
    return made[0], made[1]


@pytest.fixture
def supervisor(office, django_user_model, staff_groups):  # noqa: ANN201, F811
    return _staff(django_user_model, staff_groups, office, "chief", StaffRole.SUPERVISOR)


def confirm_for(make_reservation, start: datetime, counselor: Counselor, actor) -> Reservation:
    """A request confirmed by staff who chose `counselor`."""
    reservation = make_reservation(start)
    services.reservation_confirm(reservation=reservation, actor=actor, counselor=counselor)
    reservation.refresh_from_db()
    return reservation


def reassign(reservation: Reservation, counselor: Counselor | None, *, sync: bool = True) -> None:
    """What `reservation_reassign` does to the meeting: a new counselor, a sync queued."""
    with transaction.atomic():
        Reservation.objects.filter(pk=reservation.pk).update(counselor=counselor)
        reservation.refresh_from_db()
        if sync:
            meeting_sync_enqueue(reservation)


def zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sync_rows() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=sync_meeting.module_path))


# --- Where a meeting is made ---------------------------------------------------------


def test_two_bookings_in_one_slot_are_made_under_two_hosts(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor
):
    alice, bob = counselors
    start = next_slot(0)
    first = confirm_for(make_reservation, start, alice, supervisor)
    second = confirm_for(make_reservation, start, bob, supervisor)
    database_tasks()

    creates = fake_zoom.calls(fz.CREATE)
    assert sorted(c.path for c in creates) == [
        f"/v2/users/{ALICE}/meetings",
        f"/v2/users/{BOB}/meetings",
    ]
    assert {c.body["start_time"] for c in creates} == {zulu(start)}
    for booking, host in ((first, ALICE), (second, BOB)):
        booking.refresh_from_db()
        assert booking.meeting_state == MeetingState.READY
        record = booking.zoom_meetings.get()
        assert record.host == host
        assert fake_zoom.state.meetings[booking.meeting_id]["user"] == host
    # Each host was asked once today; nothing else was counted.
    today = timezone.now().astimezone(UTC).date()
    usage = dict(ZoomHostUsage.objects.filter(day=today).values_list("host", "calls"))
    assert usage == {ALICE: 1, BOB: 1}


def test_without_a_counselor_the_shared_host_makes_it(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselor
):
    settings.ZOOM_HOST_USER = "Desk@Office.example"
    reservation = make_reservation(next_slot(0))
    services.reservation_confirm(reservation=reservation, actor=counselor)
    database_tasks()
    [create] = fake_zoom.calls(fz.CREATE)
    assert create.path == "/v2/users/desk@office.example/meetings"
    assert reservation.zoom_meetings.get().host == "desk@office.example"
    # No counselor: the pre-check of the host's calendar is not asked for (as before).
    assert fake_zoom.calls(fz.LIST) == []


def test_a_counselor_without_a_zoom_user_is_hosted_by_the_shared_user(counselors, settings):
    alice, _bob = counselors
    settings.ZOOM_HOST_USER = "me"
    alice.zoom_user = "  "
    booking = Reservation(counselor=alice)
    assert meeting_host(booking) == "me"
    alice.zoom_user = " Alice@Office.Example "
    assert meeting_host(booking) == ALICE


# --- Reassignment --------------------------------------------------------------------


def test_reassignment_moves_the_meeting_once_and_tells_the_seeker_the_new_link(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor
):
    alice, bob = counselors
    reservation = confirm_for(make_reservation, next_slot(0), alice, supervisor)
    database_tasks()
    reservation.refresh_from_db()
    old_id, old_link = reservation.meeting_id, reservation.meeting_join_url

    reassign(reservation, bob)
    database_tasks()

    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    assert reservation.meeting_id != old_id
    assert reservation.meeting_join_url != old_link
    assert [c.path for c in fake_zoom.calls(fz.CREATE)] == [
        f"/v2/users/{ALICE}/meetings",
        f"/v2/users/{BOB}/meetings",
    ]
    [delete] = fake_zoom.calls(fz.DELETE)
    assert delete.path == f"/v2/meetings/{old_id}"
    assert list(fake_zoom.state.meetings) == [reservation.meeting_id]
    records = {r.host: r.state for r in reservation.zoom_meetings.all()}
    assert records == {ALICE: ZoomMeetingState.DELETED, BOB: ZoomMeetingState.ACTIVE}
    kinds = list(OutgoingEmail.objects.values_list("kind", flat=True))
    assert kinds.count(EmailKind.CONFIRMED) == 1
    assert kinds.count(EmailKind.MEETING_CHANGED) == 1
    [changed] = [m for m in mail.outbox if "参加用リンクが変わりました" in m.subject]
    assert reservation.meeting_join_url in changed.body
    assert old_link not in changed.body
    assert any(a.filename.endswith(".ics") for a in changed.attachments)

    # Retried (the queue may run a task twice): nothing more at Zoom, no second email.
    reassign(reservation, bob)
    database_tasks()
    assert len(fake_zoom.calls(fz.CREATE)) == 2
    assert len(fake_zoom.calls(fz.DELETE)) == 1
    assert OutgoingEmail.objects.filter(kind=EmailKind.MEETING_CHANGED).count() == 1


def test_a_reassignment_interrupted_after_the_create_finishes_without_a_second_one(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselors, supervisor
):
    settings.TASK_RETRY_BASE_SECONDS = 60
    alice, bob = counselors
    reservation = confirm_for(make_reservation, next_slot(0), alice, supervisor)
    database_tasks()
    reservation.refresh_from_db()
    old_id = reservation.meeting_id
    # The old meeting's delete fails: the new link is already published, the old one stays.
    fake_zoom.fail(fz.DELETE, 500)
    reassign(reservation, bob)
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.zoom_meetings.get(host=BOB).state == ZoomMeetingState.ACTIVE
    assert reservation.zoom_meetings.get(host=ALICE).state == ZoomMeetingState.ACTIVE
    assert reservation.meeting_id != old_id  # the seeker already has the working link

    with time_machine.travel(timezone.now() + timedelta(minutes=5), tick=True):
        database_tasks()
    assert len(fake_zoom.calls(fz.CREATE)) == 2
    assert old_id not in fake_zoom.state.meetings
    assert reservation.zoom_meetings.get(host=ALICE).state == ZoomMeetingState.DELETED
    assert OutgoingEmail.objects.filter(kind=EmailKind.MEETING_CHANGED).count() == 1


def test_two_counselors_swapping_bookings_is_no_conflict(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor
):
    alice, bob = counselors
    start = next_slot(0)
    first = confirm_for(make_reservation, start, alice, supervisor)
    second = confirm_for(make_reservation, start, bob, supervisor)
    database_tasks()
    reassign(first, None, sync=False)  # one counselor per slot: the swap goes in three steps
    reassign(second, alice)
    reassign(first, bob)
    database_tasks()
    for booking, host in ((first, BOB), (second, ALICE)):
        booking.refresh_from_db()
        assert booking.meeting_state == MeetingState.READY
        assert booking.meeting_error == ""
        assert fake_zoom.state.meetings[booking.meeting_id]["user"] == host
    assert len(fake_zoom.state.meetings) == 2


# --- One meeting at a time per host -----------------------------------------------------


def test_a_host_already_in_a_meeting_at_that_time_is_refused_with_a_reason(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselors, supervisor
):
    settings.TASK_RETRY_BASE_SECONDS = 60
    alice, _bob = counselors
    start = next_slot(0)
    # Alice scheduled something herself in Zoom's portal, overlapping the session.
    manual = fake_zoom.add_meeting(
        user=ALICE, start_time=zulu(start - timedelta(minutes=15)), duration=30, topic="定例"
    )
    reservation = confirm_for(make_reservation, start, alice, supervisor)
    database_tasks()

    reservation.refresh_from_db()
    assert fake_zoom.calls(fz.CREATE) == []
    assert reservation.meeting_state == MeetingState.FAILED
    assert reservation.meeting_problem == MeetingProblem.HOST_BUSY
    assert manual in reservation.meeting_error
    assert "担当を変えてください" in rules.meeting_problem_text(reservation.meeting_problem)
    assert [r.status for r in sync_rows()] == [TaskResultStatus.READY]  # retried later

    # Once it is deleted in Zoom, the retry makes the session's meeting.
    fake_zoom.state.meetings.pop(manual)
    with time_machine.travel(timezone.now() + timedelta(minutes=2), tick=True):
        database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY
    assert reservation.meeting_problem == ""


def test_a_meeting_before_or_after_the_session_is_no_conflict(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor
):
    alice, _bob = counselors
    start = next_slot(0)
    fake_zoom.add_meeting(
        user=ALICE, start_time=zulu(start - timedelta(minutes=30)), duration=30, topic="前"
    )
    fake_zoom.add_meeting(
        user=ALICE, start_time=zulu(start + timedelta(minutes=30)), duration=60, topic="後"
    )
    fake_zoom.add_meeting(user=BOB, start_time=zulu(start), duration=30, topic="別の人")
    reservation = confirm_for(make_reservation, start, alice, supervisor)
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.READY


def test_two_bookings_of_one_host_at_one_time_make_one_meeting(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor
):
    """A data error (two counselors sharing a Zoom user) never double-books the host."""
    alice, bob = counselors
    bob.zoom_user = ALICE.upper()
    bob.save(update_fields=["zoom_user"])
    start = next_slot(0)
    first = confirm_for(make_reservation, start, alice, supervisor)
    second = confirm_for(make_reservation, start, bob, supervisor)
    database_tasks()

    first.refresh_from_db()
    second.refresh_from_db()
    assert len(fake_zoom.calls(fz.CREATE)) == 1
    assert first.meeting_state == MeetingState.READY
    assert second.meeting_state == MeetingState.FAILED
    assert second.meeting_problem == MeetingProblem.HOST_BUSY
    assert first.reference in second.meeting_error


# --- The host's daily budget ------------------------------------------------------------


def test_past_the_daily_budget_the_work_waits_for_the_next_utc_day(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselors, supervisor
):
    settings.ZOOM_HOST_DAILY_LIMIT = 2
    settings.TASK_MAX_ATTEMPTS = 1  # waiting is not an attempt given up
    alice, _bob = counselors
    # 10:00 in Tokyo is 01:00 UTC: the host's next day begins at 09:00 Tokyo tomorrow.
    now = datetime(2030, 3, 4, 1, 0, tzinfo=UTC)
    with time_machine.travel(now, tick=False):
        bookings = [
            confirm_for(make_reservation, next_slot(n), alice, supervisor) for n in range(3)
        ]
        database_tasks()

        for booking in bookings:
            booking.refresh_from_db()
        # The queue runs the three in whatever order it takes them: two made, one waits.
        states = sorted(booking.meeting_state for booking in bookings)
        assert states == sorted([MeetingState.READY, MeetingState.READY, MeetingState.PENDING])
        [waiting] = [b for b in bookings if b.meeting_state == MeetingState.PENDING]
        assert waiting.meeting_problem == MeetingProblem.DAILY_LIMIT
        assert "2030-03-05 09:00" in waiting.meeting_error
        assert "午前9時" in rules.meeting_problem_text(waiting.meeting_problem)
        assert len(fake_zoom.calls(fz.CREATE)) == 2
        [row] = [r for r in sync_rows() if r.status != TaskResultStatus.SUCCESSFUL]
        assert row.status == TaskResultStatus.READY  # rescheduled, not failed
        assert row.run_after == datetime(2030, 3, 5, tzinfo=UTC)
        assert ZoomHostUsage.objects.get(host=ALICE).calls == 2
        assert (
            rules.attention(
                status=waiting.status,
                meeting_state=waiting.meeting_state,
                slot_start=waiting.slot.starts_at,
                now=now,
                due_before=now,
            )
            is None
        )  # waiting, not failed

    with time_machine.travel(datetime(2030, 3, 5, 0, 0, 1, tzinfo=UTC), tick=False):
        database_tasks()
    waiting.refresh_from_db()
    assert waiting.meeting_state == MeetingState.READY
    assert waiting.meeting_error == ""
    assert len(fake_zoom.calls(fz.CREATE)) == 3
    usage = dict(ZoomHostUsage.objects.values_list("day", "calls"))
    assert usage == {now.date(): 2, (now + timedelta(days=1)).date(): 1}


def test_moving_a_meeting_counts_against_the_budget_too(
    fake_zoom, database_tasks, settings, make_reservation, next_slot, counselors, supervisor
):
    settings.ZOOM_HOST_DAILY_LIMIT = 1
    alice, _bob = counselors
    reservation = confirm_for(make_reservation, next_slot(0), alice, supervisor)
    database_tasks()
    services.reservation_move(reservation=reservation, new_start=next_slot(1), actor=supervisor)
    database_tasks()
    reservation.refresh_from_db()
    assert fake_zoom.calls(fz.UPDATE) == []
    # The link still works (same meeting); staff see why its time is not moved yet.
    assert reservation.meeting_state == MeetingState.READY
    assert reservation.meeting_problem == MeetingProblem.DAILY_LIMIT


# --- Plain words for counselors, the reason for supervisors -------------------------------


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        (MeetingProblem.NOT_CONFIGURED, "Zoom の接続設定がありません。管理者に連絡してください"),
        (
            MeetingProblem.HOST_NOT_FOUND,
            "この相談員のZoomユーザーが見つかりません。管理者に連絡してください",
        ),
        (MeetingProblem.DAILY_LIMIT, "本日のZoomの作成上限に達しました"),
        (MeetingProblem.HOST_BUSY, "同じ時間の別の会議"),
        (MeetingProblem.AUTH_FAILED, "管理者に連絡してください"),
        (MeetingProblem.UNREACHABLE, "自動で再試行します"),
        (MeetingProblem.RATE_LIMITED, "自動で再試行します"),
        (MeetingProblem.MEETING_MISSING, "管理者に連絡してください"),
        (MeetingProblem.ZOOM_ERROR, "自動で再試行します"),
        (MeetingProblem.NONE, ""),
    ],
)
def test_every_problem_has_plain_words_without_setting_names(problem, words):
    text = rules.meeting_problem_text(problem)
    assert words in text
    for technical in ("ZOOM_", "HTTP", "API", "404", "token"):
        assert technical not in text


def test_every_problem_kind_is_worded():
    for problem in MeetingProblem:
        assert bool(rules.meeting_problem_text(problem)) == (problem != MeetingProblem.NONE)


def test_an_unknown_zoom_user_is_named_in_plain_words_and_in_detail(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor, client
):
    alice, _bob = counselors
    fake_zoom.state.users = {BOB}  # Alice's address is not a user of the account
    reservation = confirm_for(make_reservation, next_slot(0), alice, supervisor)
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_state == MeetingState.FAILED
    assert reservation.meeting_problem == MeetingProblem.HOST_NOT_FOUND
    assert "404 1001" in reservation.meeting_error
    assert ALICE not in reservation.meeting_error  # no address in logs or on screen

    page = f"/admin/reservations/reservation/{reservation.pk}/change/"
    client.force_login(alice.user)
    body = client.get(page).content.decode()
    assert "この相談員のZoomユーザーが見つかりません。管理者に連絡してください" in body
    assert "404 1001" not in body  # the technical reason is the supervisors'
    client.force_login(supervisor)
    body = client.get(page).content.decode()
    assert "この相談員のZoomユーザーが見つかりません。管理者に連絡してください" in body
    assert "404 1001" in body


def test_without_zoom_settings_counselors_are_told_whom_to_call(
    settings, database_tasks, make_reservation, next_slot, counselors, supervisor
):
    settings.ZOOM_ACCOUNT_ID = ""
    alice, _bob = counselors
    reservation = confirm_for(make_reservation, next_slot(0), alice, supervisor)
    database_tasks()
    reservation.refresh_from_db()
    assert reservation.meeting_problem == MeetingProblem.NOT_CONFIGURED
    assert "ZOOM_ACCOUNT_ID" in reservation.meeting_error  # for the supervisor
    assert "ZOOM_" not in rules.meeting_problem_text(reservation.meeting_problem)


# --- The start link is the host's ------------------------------------------------------


def test_the_start_link_only_for_the_assigned_counselor_and_supervisors(
    fake_zoom, database_tasks, make_reservation, next_slot, counselors, supervisor, client
):
    alice, bob = counselors
    reservation = confirm_for(make_reservation, next_slot(0), alice, supervisor)
    database_tasks()
    reservation.refresh_from_db()

    assert services.reservation_start_url(reservation=reservation, user=alice.user).endswith(
        "zak=fresh"
    )
    assert services.reservation_start_url(reservation=reservation, user=supervisor)
    gets = len(fake_zoom.calls(fz.GET))
    with pytest.raises(services.ReservationError) as refused:
        services.reservation_start_url(reservation=reservation, user=bob.user)
    assert refused.value.code == "not_the_host"
    assert "担当の相談員と管理者だけ" in refused.value.message
    assert len(fake_zoom.calls(fz.GET)) == gets  # Zoom never asked for Bob

    page = f"/admin/reservations/reservation/{reservation.pk}/change/"
    start = f"/admin/reservations/reservation/{reservation.pk}/start/"
    client.force_login(bob.user)
    assert start not in client.get(page).content.decode()  # no button for Bob
    response = client.get(start)
    assert response.status_code == 403
    assert "担当の相談員と管理者だけ" in response.content.decode()

    client.force_login(alice.user)
    assert start in client.get(page).content.decode()
    response = client.get(start)
    assert response.status_code == 302
    assert response["Location"].startswith("https://zoom.example/s/")


@pytest.mark.postgres
@pytest.mark.skipif(not IS_POSTGRES, reason="row locks under real concurrency need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_never_overspend_a_hosts_day(
    fake_zoom, settings, make_reservation, next_slot, counselors, supervisor
):
    settings.ZOOM_HOST_DAILY_LIMIT = 2
    alice, _bob = counselors
    bookings = [confirm_for(make_reservation, next_slot(n), alice, supervisor) for n in range(4)]
    barrier = threading.Barrier(len(bookings))
    outcomes: list[str] = []

    def sync(booking: Reservation) -> None:
        try:
            barrier.wait()
            outcomes.append(meeting_sync(reservation_id=booking.pk))
        except MeetingDeferred:
            outcomes.append("deferred")
        finally:
            connection.close()

    threads = [threading.Thread(target=sync, args=(b,)) for b in bookings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["deferred", "deferred", "ready", "ready"]
    assert len(fake_zoom.calls(fz.CREATE)) == 2
    assert ZoomHostUsage.objects.get(host=ALICE).calls == 2
