"""The queue's evidence: emails sent and Zoom meetings made, read-only, with the resend action."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from reservations import services
from reservations.admin.scope import OfficeScopedAdmin
from reservations.models import (
    OutgoingEmail,
    StaffRole,
    ZoomMeeting,
)
from reservations.templatetags.seeker_dates import format_datetime

logger = logging.getLogger(__name__)


# --- The queue's evidence: emails and Zoom meetings (supervisors, read-only) -------------


class _ReadOnlyAdmin(OfficeScopedAdmin):
    """Written by the task queue only; staff look, nobody edits."""

    office_role = StaffRole.SUPERVISOR

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    @admin.display(description=_("予約"), ordering="reservation__reference")
    def booking(self, obj: OutgoingEmail | ZoomMeeting) -> str:
        if obj.reservation_id is None:
            return gettext("キャンセル待ち")
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:reservations_reservation_change", args=[obj.reservation_id]),
            obj.reservation.reference,
        )


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(_ReadOnlyAdmin):
    list_display = ("created_display", "booking", "kind", "status", "attempts", "last_error")
    list_filter = ("status", "kind")
    list_select_related = ("reservation",)
    search_fields = ("reservation__reference",)
    search_help_text = _("予約番号で検索できます。")
    fields = (
        "booking",
        "kind",
        "status",
        "subject",
        "language",
        "attempts",
        "last_error",
        "created_at",
        "last_attempt_at",
        "sent_at",
        "message_id",
    )
    readonly_fields = fields
    actions = ("resend_selected",)

    @admin.display(description=_("登録日時"), ordering="created_at")
    def created_display(self, obj: OutgoingEmail) -> str:
        return format_datetime(obj.created_at)

    def has_resend_permission(self, request: HttpRequest) -> bool:
        # The email pages are the supervisors' (migration 0006): who may see a failed email
        # may ask for it again; sending stays the queue's job (services.email_resend).
        return self.has_view_permission(request)

    @admin.action(description=_("再送する"), permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        resent = 0
        for email in queryset.select_related("reservation"):
            try:
                services.email_resend(email=email, actor=request.user)
            except services.EmailResendRefused as refusal:
                messages.warning(
                    request,
                    gettext("%(reference)s の%(kind)s: %(message)s")
                    % {
                        "reference": (
                            email.reservation.reference if email.reservation else email.pk
                        ),
                        "kind": email.get_kind_display(),
                        "message": refusal.message,
                    },
                )
            else:
                resent += 1
        if resent:
            messages.success(
                request, gettext("%(count)s件のメールを再送します。") % {"count": resent}
            )


@admin.register(ZoomMeeting)
class ZoomMeetingAdmin(_ReadOnlyAdmin):
    list_display = ("requested_display", "booking", "state", "meeting_id", "note")
    list_filter = ("state",)
    list_select_related = ("reservation",)
    search_fields = ("reservation__reference", "meeting_id")
    search_help_text = _("予約番号・会議IDで検索できます。")
    fields = (
        "booking",
        "state",
        "meeting_id",
        "start_time",
        "requested_at",
        "created_at",
        "deleted_at",
        "note",
    )
    readonly_fields = fields

    @admin.display(description=_("作成を依頼した日時"), ordering="requested_at")
    def requested_display(self, obj: ZoomMeeting) -> str:
        return format_datetime(obj.requested_at)
