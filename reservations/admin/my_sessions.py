"""私の相談: a counselor's own sessions today and in the coming days, and their calendar feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from reservations import rules, selectors, services
from reservations.admin.actions import admin_context
from reservations.models import Counselor, Reservation

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


@dataclass(frozen=True)
class MySession:
    reservation: Reservation
    is_today: bool
    can_attend: bool
    can_no_show: bool
    overdue: bool  # Art. 6(4): ten minutes past the start, attendance not recorded
    joined: bool  # the Zoom webhook saw the seeker join (and recorded the attendance)
    may_start: bool  # rule 13: this user may have the start link (`selectors.may_host`)
    link_ready: bool  # the seeker's join link exists


@dataclass(frozen=True)
class MyDay:
    day: date
    sessions: list[MySession]


@dataclass(frozen=True)
class MyCalendar:
    counselor: Counselor
    feed_url: str  # empty: no feed issued


def feed_url(counselor: Counselor) -> str:
    if not counselor.calendar_token:
        return ""
    path = reverse("reservations:counselor-calendar", args=[counselor.calendar_token])
    return f"{settings.SITE_URL}{path}"


def my_sessions_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """私の相談: the sessions assigned to the signed-in counselor, grouped by day."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    today = now.astimezone(rules.TOKYO).date()
    counselors = list(selectors.counselors_of_user(request.user))
    bookings = list(
        selectors.sessions_of_counselors(
            model_admin.get_queryset(request),
            selectors.counselors_of_user(request.user),
            today,
            selectors.MY_SESSIONS_DAYS,
        )
    )
    hostable = selectors.may_host_each(request.user, bookings)
    days: dict[date, list[MySession]] = {}
    for r in bookings:
        allowed = rules.booking_actions(
            status=r.status,
            platform=r.platform,
            meeting_state=r.meeting_state,
            slot_start=r.slot.starts_at,
            now=now,
        )
        flag = rules.attention(
            status=r.status,
            meeting_state=r.meeting_state,
            slot_start=r.slot.starts_at,
            now=now,
            due_before=now,
        )
        day = r.slot.starts_at.astimezone(rules.TOKYO).date()
        days.setdefault(day, []).append(
            MySession(
                reservation=r,
                is_today=day == today,
                can_attend=rules.BookingAction.ATTENDED in allowed,
                can_no_show=rules.BookingAction.NO_SHOW in allowed,
                overdue=flag == rules.Attention.OVERDUE,
                joined=r.joined_via_zoom,
                may_start=r.pk in hostable,
                link_ready=r.meeting_link_ready,
            )
        )
    return TemplateResponse(
        request,
        "reservations/admin/my_sessions.html",
        admin_context(
            model_admin,
            request,
            title=gettext("私の相談"),
            today=today,
            last_day=today + timedelta(days=selectors.MY_SESSIONS_DAYS - 1),
            days=[MyDay(day, sessions) for day, sessions in days.items()],
            session_count=len(bookings),
            calendars=[MyCalendar(c, feed_url(c)) for c in counselors],
            is_counselor=bool(counselors),
            can_change=model_admin.has_change_permission(request),
            this_url=request.get_full_path(),
        ),
    )


def my_calendar_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Issue or revoke the calendar feed of one of the signed-in counselor's own records."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    try:
        counselor_id = int(request.POST.get("counselor", ""))
    except ValueError:
        raise Http404 from None
    # Only one's own counselor records: anyone else's is "not found" (rule 15).
    counselor = selectors.counselors_of_user(request.user).filter(pk=counselor_id).first()
    if counselor is None:
        raise Http404
    if request.POST.get("do") == "revoke":
        services.counselor_calendar_revoke(counselor=counselor, actor=request.user)
        messages.success(
            request,
            gettext("カレンダーの配信を停止しました。これまでのURLはもう使えません。"),
        )
    else:
        services.counselor_calendar_renew(counselor=counselor, actor=request.user)
        messages.success(
            request,
            gettext(
                "カレンダーのURLを発行しました。前のURLはもう使えません。"
                "新しいURLをカレンダーのアプリに登録してください。"
            ),
        )
    return HttpResponseRedirect(reverse("admin:reservations_reservation_mine"))
