"""The pages behind the booking buttons and list actions.

Confirm, reject, cancel, move, attendance, book the next session, the Zoom start link: each
asks its form, calls one service per booking and reports what the service said.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.selectors import terms_in_force
from reservations import services
from reservations.admin.common import Outcome, booking_label, report
from reservations.admin.forms import (
    BookNextForm,
    ConfirmForm,
    MoveForm,
    ReasonForm,
    ReassignForm,
)
from reservations.errors import ReservationError, WorkError
from reservations.models import (
    MeetingState,
    Platform,
    Reservation,
)
from reservations.rules import Status

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)


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
        counselor=form.counselor_value(),
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


def admin_context(model_admin: ModelAdmin, request: HttpRequest, **extra: object) -> dict:
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
        admin_context(
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
        model_admin.get_queryset(request).select_related("slot", "office"), pk=object_id
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
    """Move one booking to another open slot (rule 10); the seeker is told."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    reservation = get_object_or_404(
        model_admin.get_queryset(request).select_related("slot", "office"), pk=object_id
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
        admin_context(
            model_admin,
            request,
            title=gettext("日時を変更する"),
            original=reservation,
            reservations=[reservation],
            form=form,
            next_url=next_url,
        ),
    )


def reassign_view(model_admin: ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """Give one confirmed booking to another counselor free in its slot (rule 4)."""
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    reservation = get_object_or_404(
        model_admin.get_queryset(request).select_related("slot", "office", "counselor"),
        pk=object_id,
    )
    change_url = reverse("admin:reservations_reservation_change", args=[reservation.pk])
    next_url = _safe_next(request, change_url)
    form = ReassignForm(request.POST if request.method == "POST" else None, reservation=reservation)
    if request.method == "POST" and form.is_valid():
        try:
            services.reservation_reassign(
                reservation=reservation,
                counselor=form.chosen(),
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except ReservationError as refusal:
            form.add_error("counselor", refusal.message)
        else:
            messages.success(
                request,
                f"{booking_label(reservation)}: "
                + gettext("担当を%(name)sさんに変えました。")
                % {"name": form.chosen().display_name},
            )
            return HttpResponseRedirect(next_url)
    return TemplateResponse(
        request,
        "reservations/admin/reservation_reassign.html",
        admin_context(
            model_admin,
            request,
            title=gettext("担当の相談員を変える"),
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
    if not model_admin.can_book_next(request):
        raise PermissionDenied
    source = get_object_or_404(
        model_admin.get_queryset(request).select_related("slot", "office"), pk=object_id
    )
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
        admin_context(
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
    reservation = get_object_or_404(
        model_admin.get_queryset(request).select_related("slot"), pk=object_id
    )
    problem = ""
    zoom_failed = False
    refused = False
    if reservation.platform != Platform.ZOOM:
        problem = gettext("この予約は Zoom の予約ではありません。")
    elif reservation.meeting_state != MeetingState.READY or not reservation.meeting_id:
        problem = gettext("Zoom の会議がまだ作成されていません。会議の状態を確認してください。")
    else:
        try:
            url = services.reservation_start_url(reservation=reservation, user=request.user)
        except ReservationError as exc:
            # Rule 13: the start link makes its holder the host; only the session's own.
            refused = True
            problem = exc.message
        except Exception as exc:  # noqa: BLE001 - whatever Zoom does, the page explains
            # Zoom being slow or down must not break the page (rule 13).
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
        admin_context(
            model_admin,
            request,
            title=gettext("Zoom の会議を開始できません"),
            original=reservation,
            problem=problem,
        ),
        status=502 if zoom_failed else 403 if refused else 409,
    )
