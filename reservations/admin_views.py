"""Staff pages inside the admin: today's sessions, actions on bookings, the next booking.

These views only read requests, call one service per booking and report what each service
said. Every rule lives in `reservations.rules` and `reservations.services`. The supervisors'
statistics page only reads counts (`selectors.reservation_statistics`).
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import dateformat, timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, get_language_info, gettext
from django.utils.translation import gettext_lazy as _

from reservations import rules, selectors, services
from reservations.admin_forms import (
    BookNextForm,
    ConfirmForm,
    MoveForm,
    ReasonForm,
    StatisticsForm,
)
from reservations.errors import ReservationError, WorkError
from reservations.models import MeetingState, Office, Platform, Reservation, ReservationEvent
from reservations.rules import Status
from reservations.templatetags.seeker_dates import format_datetime

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)

# --- Reporting --------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one service call did to one booking: done, or the refusing rule's message."""

    reservation: Reservation
    ok: bool
    message: str


def booking_label(reservation: Reservation) -> str:
    """`K7P-3QX（2027年1月12日(火) 10:00）`: how a booking is named in messages.

    No names: messages may travel in a cookie (Art. 8).
    """
    return gettext("%(reference)s（%(when)s）") % {
        "reference": reservation.reference,
        "when": format_datetime(reservation.slot.starts_at),
    }


def report(request: HttpRequest, outcomes: list[Outcome]) -> None:
    """One message per booking, with a summary first when there are several."""
    if len(outcomes) > 1:
        done = sum(1 for outcome in outcomes if outcome.ok)
        level = messages.SUCCESS if done == len(outcomes) else messages.WARNING
        messages.add_message(
            request,
            level,
            gettext("%(total)s件中 %(done)s件を処理しました。%(refused)s件はできませんでした。")
            % {"total": len(outcomes), "done": done, "refused": len(outcomes) - done},
        )
    for outcome in outcomes:
        text = f"{booking_label(outcome.reservation)}: {outcome.message}"
        if outcome.ok:
            messages.success(request, text)
        else:
            messages.error(request, text)


# --- The actions ------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionSpec:
    """One thing staff can do to bookings, and the service that does it."""

    name: str
    label: str
    done: str
    run: Callable[[Reservation, AbstractBaseUser, forms.Form | None], object]
    form: Callable[..., forms.Form | None]
    permission: str = "change"


def _confirm(reservation: Reservation, actor: AbstractBaseUser, form: ConfirmForm) -> object:
    url, passcode = form.link_for(reservation)
    return services.reservation_confirm(
        reservation=reservation,
        actor=actor,
        reason=form.reason_value(),
        meeting_url=url,
        meeting_passcode=passcode,
    )


def _reject(reservation: Reservation, actor: AbstractBaseUser, form: ReasonForm) -> object:
    return services.reservation_reject(
        reservation=reservation, actor=actor, reason=form.cleaned_data["reason"]
    )


def _cancel(reservation: Reservation, actor: AbstractBaseUser, form: ReasonForm) -> object:
    # Art. 6(4): cancellations arrive by telephone; staff record them with what was said.
    return services.reservation_cancel(
        reservation=reservation, by="staff", actor=actor, reason=form.cleaned_data["reason"]
    )


def _attended(reservation: Reservation, actor: AbstractBaseUser, form: None) -> object:
    return services.reservation_mark_attended(reservation=reservation, actor=actor)


def _no_show(reservation: Reservation, actor: AbstractBaseUser, form: None) -> object:
    return services.reservation_mark_no_show(reservation=reservation, actor=actor)


def _retry_meeting(reservation: Reservation, actor: AbstractBaseUser, form: None) -> object:
    return services.reservation_meeting_retry(reservation=reservation, actor=actor)


def _no_form(*args: object, **kwargs: object) -> None:
    return None


def _confirm_form(data: object, *, reservations: list[Reservation], now: datetime) -> ConfirmForm:
    return ConfirmForm(data, reservations=reservations, now=now)


def _reject_form(data: object, **kwargs: object) -> ReasonForm:
    return ReasonForm(
        data,
        label=gettext("お断りする理由"),
        help_text=gettext("申込者へのお知らせに記載されます（第12条(1)）。"),
    )


def _cancel_form(data: object, **kwargs: object) -> ReasonForm:
    return ReasonForm(
        data,
        label=gettext("キャンセルの理由（電話連絡の内容など）"),
        help_text=gettext(
            "第6条(4)により電話で受けたキャンセルを記録します。申込者にもお知らせします。"
        ),
    )


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec("confirm", _("確定する"), _("確定しました。"), _confirm, _confirm_form),
        ActionSpec("reject", _("お断りする"), _("お断りしました。"), _reject, _reject_form),
        ActionSpec(
            "cancel",
            _("キャンセルする（電話連絡）"),
            _("キャンセルしました。"),
            _cancel,
            _cancel_form,
        ),
        ActionSpec("attended", _("相談済みにする"), _("相談済みにしました。"), _attended, _no_form),
        ActionSpec(
            "no_show",
            _("連絡なし不参加にする"),
            _("連絡なし不参加にしました。"),
            _no_show,
            _no_form,
        ),
        ActionSpec(
            "retry_meeting",
            _("会議の作成をやり直す"),
            _("会議の作成をもう一度依頼しました。"),
            _retry_meeting,
            _no_form,
        ),
    )
}


def perform(
    spec: ActionSpec,
    reservations: list[Reservation],
    actor: AbstractBaseUser,
    form: forms.Form | None,
) -> list[Outcome]:
    """Run the action's service on each booking; a refusal leaves that booking unchanged."""
    outcomes = []
    for reservation in reservations:
        try:
            spec.run(reservation, actor, form)
        except ReservationError as refusal:
            outcomes.append(Outcome(reservation, ok=False, message=refusal.message))
        else:
            outcomes.append(Outcome(reservation, ok=True, message=str(spec.done)))
    return outcomes


def needs_input(form: forms.Form | None) -> bool:
    return form is not None and bool(form.fields)


def _safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _admin_context(model_admin: ModelAdmin, request: HttpRequest, **extra: object) -> dict:
    return {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "app_label": model_admin.opts.app_label,
        **extra,
    }


def render_action_page(
    model_admin: ModelAdmin,
    request: HttpRequest,
    *,
    spec: ActionSpec,
    reservations: list[Reservation],
    form: forms.Form | None,
    bulk: bool,
    next_url: str = "",
) -> TemplateResponse:
    """The page that asks for what an action needs (a reason, a link) before running it."""
    from django.contrib.admin import helpers

    return TemplateResponse(
        request,
        "reservations/admin/reservation_action.html",
        _admin_context(
            model_admin,
            request,
            title=spec.label,
            spec=spec,
            reservations=reservations,
            form=form,
            bulk=bulk,
            next_url=next_url,
            action_name=f"{spec.name}_selected",
            action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
            original=reservations[0] if len(reservations) == 1 else None,
        ),
    )


def bulk_action(
    model_admin: ModelAdmin, request: HttpRequest, queryset, name: str
) -> HttpResponse | None:
    """An admin action on the selected bookings: ask for input if needed, then report each."""
    spec = ACTIONS[name]
    reservations = list(queryset.select_related("slot", "office").order_by("slot__starts_at", "id"))
    now = timezone.now()
    applying = "apply" in request.POST
    form = spec.form(request.POST if applying else None, reservations=reservations, now=now)
    if needs_input(form):
        if not (applying and form.is_valid()):
            return render_action_page(
                model_admin, request, spec=spec, reservations=reservations, form=form, bulk=True
            )
    elif form is not None:
        # Nothing to ask (e.g. confirming Zoom bookings in good time): an empty, valid form.
        form = spec.form({}, reservations=reservations, now=now)
        form.is_valid()
    report(request, perform(spec, reservations, request.user, form))
    return None


def object_action_view(
    model_admin: ModelAdmin, request: HttpRequest, object_id: str, name: str
) -> HttpResponse:
    """One action on one booking: GET shows what it needs, POST runs it and reports."""
    spec = ACTIONS.get(name)
    if spec is None:
        raise Http404
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    reservation = get_object_or_404(
        Reservation.objects.select_related("slot", "office"), pk=object_id
    )
    change_url = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    next_url = _safe_next(request, change_url)
    now = timezone.now()
    if request.method == "POST":
        form = spec.form(request.POST, reservations=[reservation], now=now)
        if form is None or form.is_valid():
            report(request, perform(spec, [reservation], request.user, form))
            return HttpResponseRedirect(next_url)
    else:
        form = spec.form(None, reservations=[reservation], now=now)
    return render_action_page(
        model_admin,
        request,
        spec=spec,
        reservations=[reservation],
        form=form,
        bulk=False,
        next_url=next_url,
    )


def move_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Move one booking to another open slot (DESIGN rule 10); the seeker is told."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    reservation = get_object_or_404(
        Reservation.objects.select_related("slot", "office"), pk=object_id
    )
    change_url = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    next_url = _safe_next(request, change_url)
    now = timezone.now()
    form = MoveForm(
        request.POST if request.method == "POST" else None, reservation=reservation, now=now
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.reservation_move(
                reservation=reservation,
                new_start=form.cleaned_data["new_start"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
                now=now,
            )
        except ReservationError as refusal:
            form.add_error("new_start", refusal.message)
        else:
            reservation.refresh_from_db()
            messages.success(
                request,
                f"{booking_label(reservation)}: "
                + gettext("日時を変更しました。申込者にお知らせします。"),
            )
            return HttpResponseRedirect(next_url)
    return TemplateResponse(
        request,
        "reservations/admin/reservation_move.html",
        _admin_context(
            model_admin,
            request,
            title=gettext("日時を変更する"),
            original=reservation,
            reservations=[reservation],
            form=form,
            next_url=next_url,
        ),
    )


# Which form field a refusal of the next booking belongs next to.
_BOOK_NEXT_FIELDS = {
    "slot_full": "slot",
    "limit_reached": "slot",
    "not_a_slot": "slot",
    "closed": "slot",
    "past_cutoff": "slot",
    "beyond_horizon": "slot",
    "meeting_url": "meeting_url",
    "meeting_url_required": "meeting_url",
    "meeting_passcode": "meeting_passcode",
}


def book_next_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """The next session for the same person, consent confirmed verbally (Art. 6(2), 6(3))."""
    from consent.selectors import terms_in_force

    if not model_admin.can_book_next(request):
        raise PermissionDenied
    source = get_object_or_404(Reservation.objects.select_related("slot", "office"), pk=object_id)
    now = timezone.now()
    terms = terms_in_force(source.office_id, now)
    form = BookNextForm(
        request.POST if request.method == "POST" else None,
        source=source,
        now=now,
        terms_version_id=terms.pk if terms else None,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            new = services.reservation_book_next(
                source_reservation=source,
                slot_start=data["slot"],
                actor=request.user,
                terms_version_id=data["terms_version"],
                platform_terms_accepted=data["platform_terms"],
                confirmed_items=form.confirmed_items(),
                platform=data["platform"],
                mark_source_attended=data.get("mark_source_attended", False),
                confirm=data["confirm"],
                meeting_url=data["meeting_url"],
                meeting_passcode=data["meeting_passcode"],
                now=now,
            )
        except ReservationError as refusal:
            form.add_error(_BOOK_NEXT_FIELDS.get(refusal.code), refusal.message)
        else:
            messages.success(
                request,
                f"{booking_label(new)}: "
                + (
                    gettext("次回の予約を作成し、確定しました。")
                    if new.status == Status.CONFIRMED
                    else gettext("次回の予約を作成しました（申込受付）。")
                ),
            )
            return HttpResponseRedirect(
                reverse("admin:reservations_reservation_change", args=[new.pk])
            )
    return TemplateResponse(
        request,
        "reservations/admin/book_next.html",
        _admin_context(
            model_admin,
            request,
            title=gettext("次回の予約を作成する"),
            original=source,
            source=source,
            terms=terms,
            form=form,
        ),
    )


def start_link_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Send the counselor to a freshly made Zoom start link (it expires within hours)."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    reservation = get_object_or_404(Reservation.objects.select_related("slot"), pk=object_id)
    problem = ""
    zoom_failed = False
    if reservation.platform != Platform.ZOOM:
        problem = gettext("この予約は Zoom の予約ではありません。")
    elif reservation.meeting_state != MeetingState.READY or not reservation.meeting_id:
        problem = gettext("Zoom の会議がまだ作成されていません。会議の状態を確認してください。")
    else:
        try:
            url = services.reservation_start_url(reservation=reservation)
        except Exception as exc:  # noqa: BLE001 - whatever Zoom does, the page explains
            # Zoom being slow or down must not break the page (DESIGN rule 13).
            logger.warning(
                "zoom start link failed for booking %s: %s", reservation.reference, type(exc)
            )
            zoom_failed = True
            detail = exc.message if isinstance(exc, WorkError) else ""
            problem = " ".join(
                part
                for part in (
                    gettext("Zoom から開始用のリンクを取得できませんでした。"),
                    detail,
                    gettext(
                        "少し待ってからもう一度お試しください。続く場合は Zoom にサインインし、"
                        "会議ID %(meeting_id)s を開始してください。"
                    )
                    % {"meeting_id": reservation.meeting_id},
                )
                if part
            )
        else:
            return HttpResponseRedirect(url)
    return TemplateResponse(
        request,
        "reservations/admin/start_link_failed.html",
        _admin_context(
            model_admin,
            request,
            title=gettext("Zoom の会議を開始できません"),
            original=reservation,
            problem=problem,
        ),
        status=502 if zoom_failed else 409,
    )


# --- Today's sessions -------------------------------------------------------------------

# Sessions of the day that the counselor works through (requests are listed apart).
SESSION_STATUSES = (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW)


@dataclass(frozen=True)
class SessionRow:
    reservation: Reservation
    can_attend: bool
    can_no_show: bool
    overdue: bool  # Art. 6(4): ten minutes past the start, attendance not recorded
    joined: bool  # the Zoom webhook saw the seeker join (and recorded the attendance)


@dataclass(frozen=True)
class PendingRow:
    reservation: Reservation
    deadline: datetime
    due_today: bool  # must be confirmed before the office next opens (rule 5)
    late: bool  # the deadline has passed: confirming needs a reason


# The today page looks at most this far from today; further dates are typing mistakes.
_DAY_RANGE = timedelta(days=366)


def _parse_day(raw: str | None, today: date) -> date:
    try:
        day = date.fromisoformat(raw) if raw else today
    except ValueError:
        return today
    return day if abs(day - today) <= _DAY_RANGE else today


def _next_office_day(day: date, office_rules: rules.OfficeRules) -> date:
    candidate = day + timedelta(days=1)
    for _step in range(60):
        if rules.is_office_day(candidate, office_rules):
            return candidate
        candidate += timedelta(days=1)
    return candidate


def confirmation_due_before(now: datetime | None = None) -> datetime:
    """Requests whose deadline falls before this moment must be confirmed today (rule 5).

    The deadline is the end of the day before the session; when the office is closed in
    between (a weekend, a holiday), the last chance is the current working day.
    """
    now = now or timezone.now()
    today = now.astimezone(rules.TOKYO).date()
    office = selectors.default_office()
    office_rules = (
        selectors.office_rules(office, today, today + timedelta(days=14))
        if office is not None
        else rules.OfficeRules()
    )
    return datetime.combine(_next_office_day(today, office_rules), time(0), tzinfo=rules.TOKYO)


def today_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """本日の相談: the day's sessions in time order, and the requests waiting to be confirmed."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    now = timezone.now()
    today = now.astimezone(rules.TOKYO).date()
    day = _parse_day(request.GET.get("date"), today)
    day_start = datetime.combine(day, time(0), tzinfo=rules.TOKYO)
    sessions = [
        SessionRow(
            reservation=r,
            can_attend=r.status == Status.CONFIRMED
            and rules.can_mark_attended(r.slot.starts_at, now),
            can_no_show=r.status == Status.CONFIRMED
            and rules.can_mark_no_show(r.slot.starts_at, now),
            overdue=r.status == Status.CONFIRMED and rules.is_no_show_due(r.slot.starts_at, now),
            joined=r.joined_via_zoom,
        )
        for r in Reservation.objects.filter(
            status__in=SESSION_STATUSES,
            slot__starts_at__gte=day_start,
            slot__starts_at__lt=day_start + timedelta(days=1),
        )
        .annotate(
            joined_via_zoom=Exists(
                ReservationEvent.objects.filter(
                    reservation=OuterRef("pk"), to_status=Status.ATTENDED, details__source="zoom"
                )
            )
        )
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    ]
    # Rule 5: a request must be confirmed by the end of the day before its session; those
    # whose deadline falls before the office next opens have to be dealt with today.
    next_open = confirmation_due_before(now)
    pending = []
    for r in (
        Reservation.objects.filter(status=Status.REQUESTED, slot__starts_at__gt=now)
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    ):
        deadline = rules.confirmation_deadline(r.slot.starts_at)
        pending.append(
            PendingRow(
                reservation=r,
                deadline=deadline,
                due_today=deadline <= next_open,
                late=rules.is_late_confirmation(r.slot.starts_at, now),
            )
        )
    counts = dict.fromkeys(SESSION_STATUSES, 0)
    for row in sessions:
        counts[row.reservation.status] += 1
    return TemplateResponse(
        request,
        "reservations/admin/today.html",
        _admin_context(
            model_admin,
            request,
            title=gettext("本日の相談") if day == today else gettext("相談の予定"),
            day=day,
            today=today,
            is_today=day == today,
            previous_day=day - timedelta(days=1),
            next_day=day + timedelta(days=1),
            sessions=sessions,
            pending=pending,
            due_today_count=sum(1 for row in pending if row.due_today),
            confirmed_count=counts[Status.CONFIRMED],
            attended_count=counts[Status.ATTENDED],
            no_show_count=counts[Status.NO_SHOW],
            overdue_count=sum(1 for row in sessions if row.overdue),
            now=now,
            can_change=model_admin.has_change_permission(request),
            this_url=request.get_full_path(),
        ),
    )


# --- Office settings preview ------------------------------------------------------------

PREVIEW_DAYS = 14


def _closed_label(day: date, reason: rules.ClosedReason, closure_reasons: dict) -> str:
    if reason == rules.ClosedReason.HOLIDAY:
        name = rules.holiday_name(day, get_language() or "ja")
        return gettext("祝日（%(name)s）") % {"name": name}
    if reason == rules.ClosedReason.CLOSURE:
        text = closure_reasons.get(day) or ""
        return gettext("休業日（%(reason)s）") % {"reason": text} if text else gettext("休業日")
    return {
        rules.ClosedReason.WEEKEND: gettext("土日（閉庁日）"),
        rules.ClosedReason.YEAR_END: gettext("年末年始（12月29日〜1月3日）"),
        rules.ClosedReason.NO_SESSIONS: gettext("相談の時間帯がありません"),
    }.get(reason, str(reason))


def render_slot_preview(office: Office) -> str:
    """The next two weeks as the seeker's calendar will show them: slots, places, bookings."""
    from django.utils.html import format_html, format_html_join

    from reservations.models import Closure
    from reservations.templatetags.seeker_dates import format_day

    today = timezone.now().astimezone(rules.TOKYO).date()
    last = today + timedelta(days=PREVIEW_DAYS - 1)
    office_rules = selectors.office_rules(office, today, last)
    held = selectors.booked_counts(office, today, last)
    closure_reasons = dict(
        Closure.objects.filter(office=office, date__gte=today, date__lte=last).values_list(
            "date", "reason"
        )
    )
    rows = []
    day = today
    while day <= last:
        reason = rules.closed_reason(day, office_rules)
        if reason is not None:
            cells = format_html(
                '<td class="hw-closed">{}</td>', _closed_label(day, reason, closure_reasons)
            )
        else:
            slots = rules.slots_for_day(day, office_rules)
            cells = format_html(
                "<td>{}</td>",
                format_html_join(
                    " ",
                    '<span class="hw-slot{}">{} {}/{}</span>',
                    (
                        (
                            " hw-slot-full" if held.get(slot.start, 0) >= slot.capacity else "",
                            f"{slot.start:%H:%M}",
                            held.get(slot.start, 0),
                            slot.capacity,
                        )
                        for slot in slots
                    ),
                )
                or gettext("この日の枠はすべて閉じています"),
            )
        rows.append(format_html("<tr><th>{}</th>{}</tr>", format_day(day), cells))
        day += timedelta(days=1)
    return format_html(
        '<p class="help">{}</p><table class="hw-table hw-preview"><tbody>{}</tbody></table>',
        gettext(
            "保存済みの設定で計算しています。「10:00 1/2」は 10:00 の枠に定員2のうち1件の"
            "予約があることを表します。"
        ),
        format_html_join("", "{}", ((row,) for row in rows)),
    )


# --- Emails -----------------------------------------------------------------------------


def emails_of(reservation: Reservation) -> list[tuple[str, str, str]]:
    """The emails about a booking as (when, what, state) rows, oldest first."""
    rows = []
    for email in reservation.emails.order_by("created_at", "id"):
        what = email.get_kind_display()
        if email.subject:
            what = f"{what}: {email.subject}"
        state = email.get_status_display()
        if email.last_error and email.status != "sent":
            state = f"{state}（{email.last_error}）"
        rows.append((format_datetime(email.sent_at or email.created_at), what, state))
    return rows


# --- Statistics (supervisors) -----------------------------------------------------------

STATISTICS_PERMISSION = "reservations.view_statistics"
# Spreadsheet programs run a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MONTH_FORMATS = {"ja": "Y年n月", "en": "F Y"}
# Django's own catalogue calls English "英語(米国)"; the office just says 英語.
_LANGUAGE_NAMES = {"ja": _("日本語"), "en": _("英語")}


def _language_name(code: str) -> str:
    name = _LANGUAGE_NAMES.get(code)
    return str(name) if name is not None else get_language_info(code)["name_translated"]


def format_month(month: date) -> str:
    """2027年1月 (January 2027 in English)."""
    language = (get_language() or "ja").split("-")[0]
    return dateformat.format(month, _MONTH_FORMATS.get(language, _MONTH_FORMATS["ja"]))


def _percent(rate: float | None) -> str | None:
    return None if rate is None else f"{rate * 100:.1f}%"


def _one_decimal(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


@dataclass(frozen=True)
class StatisticsTable:
    """The statistics as the page and the CSV show them: a header, a row per month, a total."""

    header: list[str]
    rows: list[list[object]]
    total: list[object]


def statistics_table(statistics: selectors.Statistics) -> StatisticsTable:
    """One column per figure; a figure that cannot be computed (no sessions) is None."""
    columns: list[tuple[str, Callable[[selectors.MonthStatistics], object]]] = [
        (gettext("申込み"), lambda s: s.requested),
        (gettext("確定"), lambda s: s.confirmed),
        (gettext("相談済み"), lambda s: s.attended),
        (gettext("連絡なし不参加"), lambda s: s.no_show),
        (gettext("キャンセル（申込者）"), lambda s: s.cancelled_by_seeker),
        (gettext("キャンセル（職員）"), lambda s: s.cancelled_by_staff),
        (gettext("期限切れ"), lambda s: s.expired),
        (gettext("お断り"), lambda s: s.rejected),
        (gettext("不参加率"), lambda s: _percent(s.no_show_rate)),
        (str(Platform.ZOOM.label), lambda s: s.zoom),
        (str(Platform.TELEOFFICE.label), lambda s: s.teleoffice),
        *(
            (
                gettext("連絡の言語: %(language)s") % {"language": _language_name(code)},
                lambda s, code=code: dict(s.languages).get(code, 0),
            )
            for code, _count in statistics.total.languages
        ),
        (gettext("通訳者・介助者の同席"), lambda s: s.with_companion),
        (gettext("申込みから相談までの日数（平均）"), lambda s: _one_decimal(s.average_lead_days)),
    ]
    return StatisticsTable(
        header=[gettext("相談月"), *(label for label, _value in columns)],
        rows=[
            [format_month(month.month), *(value(month) for _label, value in columns)]
            for month in statistics.months
        ],
        total=[gettext("合計"), *(value(statistics.total) for _label, value in columns)],
    )


def _csv_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def statistics_csv(table: StatisticsTable, form: StatisticsForm) -> HttpResponse:
    """The same table as a CSV file that spreadsheet programs open as UTF-8."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    first = form.cleaned_data["date_from"]
    last = form.cleaned_data["date_to"]
    response["Content-Disposition"] = (
        f'attachment; filename="statistics-{first:%Y%m}-{last:%Y%m}.csv"'
    )
    response.write("\ufeff")  # a BOM, so that spreadsheet software reads UTF-8
    writer = csv.writer(response)
    for row in (table.header, *table.rows, table.total):
        writer.writerow([_csv_cell(value) for value in row])
    return response


def statistics_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """利用状況の統計: what happened to the bookings, month by month; counts only (rule 15)."""
    if not request.user.has_perm(STATISTICS_PERMISSION):
        raise PermissionDenied
    today = timezone.now().astimezone(rules.TOKYO).date()
    chosen = any(name in request.GET for name in ("office", "date_from", "date_to"))
    form = StatisticsForm(request.GET if chosen else None, today=today)
    table = None
    period = ""
    if form.is_valid():
        data = form.cleaned_data
        statistics = selectors.reservation_statistics(
            data["office"], data["date_from"], data["date_to"]
        )
        table = statistics_table(statistics)
        if request.GET.get("download") == "csv":
            return statistics_csv(table, form)
        period = gettext("%(first)s〜%(last)s") % {
            "first": format_month(data["date_from"]),
            "last": format_month(data["date_to"]),
        }
    return TemplateResponse(
        request,
        "reservations/admin/statistics.html",
        _admin_context(
            model_admin,
            request,
            title=gettext("利用状況の統計"),
            form=form,
            table=table,
            period=period,
            csv_query=form.query_string(download="csv") if table is not None else "",
        ),
    )
