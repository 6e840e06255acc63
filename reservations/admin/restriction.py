"""利用制限: restricting a person from booking online, and lifting it (Art. 6(4), 12(1))."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from reservations import selectors, services
from reservations.admin.common import EMPTY, badge, staff_name
from reservations.admin.forms import RestrictionForm
from reservations.admin.scope import OfficeScopedAdmin
from reservations.models import (
    Office,
    Restriction,
    RestrictionSource,
)
from reservations.templatetags.seeker_dates import format_datetime

logger = logging.getLogger(__name__)


# --- Restrictions (利用制限) -------------------------------------------------------------


class RestrictionStateFilter(admin.SimpleListFilter):
    title = _("状態")
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("active", _("有効")), ("lifted", _("解除済み")), ("ended", _("期間終了"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(lifted_at__isnull=True).filter(
                Q(ends_at__isnull=True) | Q(ends_at__gt=now)
            )
        if self.value() == "lifted":
            return queryset.filter(lifted_at__isnull=False)
        if self.value() == "ended":
            return queryset.filter(lifted_at__isnull=True, ends_at__lte=now)
        return queryset


@admin.register(Restriction)
class RestrictionAdmin(OfficeScopedAdmin):
    form = RestrictionForm
    list_display = (
        "person",
        "state",
        "source",
        "short_reason",
        "starts_at_display",
        "ends_at_display",
        "no_show_count",
    )
    list_filter = (RestrictionStateFilter, "source")
    search_fields = ("seeker_number", "email")
    search_help_text = _("求職番号・メールアドレスで検索できます。")
    ordering = ("-starts_at",)
    actions = ("lift_selected",)
    change_form_template = "reservations/admin/restriction_change_form.html"
    view_fields = (
        "person",
        "state",
        "source",
        "reason",
        "starts_at_display",
        "ends_at_display",
        "created_by",
        "lifted_display",
        "no_show_history",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("created_by", "lifted_by")
            .annotate(no_shows=Coalesce(selectors.no_shows_per_restriction_row(), 0))
        )

    def get_fields(self, request: HttpRequest, obj: Restriction | None = None):  # noqa: ANN201
        if obj is None:
            return ["office", "seeker_number", "email", "reason", "ends_at"]
        return list(self.view_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Restriction | None = None) -> tuple:
        return () if obj is None else self.view_fields

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: object):  # noqa: ANN001, ANN201
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.related_model is Office:
            # Counselors look restrictions up; only an office's supervisors add them.
            field.queryset = self.supervised_offices(request)
        return field

    # A restriction is never edited: it is added with its reason and later lifted.
    def has_change_permission(self, request: HttpRequest, obj: Restriction | None = None) -> bool:
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Restriction | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Restriction, form, change: bool) -> None:  # noqa: ANN001
        if change:
            raise PermissionDenied
        created = services.restriction_create(
            office=obj.office,
            reason=obj.reason,
            actor=request.user,
            seeker_number=obj.seeker_number,
            email=obj.email,
            ends_at=obj.ends_at,
        )
        # The admin goes on to log and redirect with `obj`: let it be the saved row.
        obj.pk = created.pk
        obj.starts_at = created.starts_at
        obj.created_by = created.created_by
        obj._state.adding = False
        obj._state.db = created._state.db

    @admin.display(description=_("対象者"))
    def person(self, obj: Restriction) -> str:
        return " / ".join(part for part in (obj.seeker_number, obj.email) if part)

    @admin.display(description=_("状態"))
    def state(self, obj: Restriction) -> str:
        now = timezone.now()
        if obj.lifted_at is not None:
            return badge("restriction", "lifted", gettext("解除済み"))
        if obj.ends_at is not None and obj.ends_at <= now:
            return badge("restriction", "ended", gettext("期間終了"))
        return badge("restriction", "active", gettext("有効"))

    @admin.display(description=_("理由"))
    def short_reason(self, obj: Restriction) -> str:
        return obj.reason if len(obj.reason) <= 40 else obj.reason[:40] + "…"

    @admin.display(description=_("開始日時"), ordering="starts_at")
    def starts_at_display(self, obj: Restriction) -> str:
        return format_datetime(obj.starts_at)

    @admin.display(description=_("終了日時"), ordering="ends_at")
    def ends_at_display(self, obj: Restriction) -> str:
        return format_datetime(obj.ends_at) if obj.ends_at else gettext("解除まで")

    @admin.display(description=_("解除"))
    def lifted_display(self, obj: Restriction) -> str:
        if obj.lifted_at is None:
            return EMPTY
        return gettext("%(when)s（%(staff)s）") % {
            "when": format_datetime(obj.lifted_at),
            "staff": staff_name(obj.lifted_by),
        }

    @admin.display(description=_("連絡なし不参加"), ordering="no_shows")
    def no_show_count(self, obj: Restriction) -> int:
        return obj.no_shows

    @admin.display(description=_("連絡なし不参加の記録（第6条(4)）"))
    def no_show_history(self, obj: Restriction) -> str:
        rows = selectors.no_shows_covered_by(obj)
        items = [
            (
                reverse("admin:reservations_reservation_change", args=[r.pk]),
                r.reference,
                format_datetime(r.slot.starts_at),
            )
            for r in rows
        ]
        if not items:
            return gettext("記録はありません。")
        note = ""
        if obj.source == RestrictionSource.NO_SHOW_THRESHOLD:
            note = gettext("この利用制限は、次の不参加により自動で登録されました。")
        return format_html(
            "{}<ul>{}</ul>",
            note,
            format_html_join("", '<li><a href="{}">{}</a> {}</li>', items),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ):  # noqa: ANN201
        obj = self.get_object(request, object_id)
        can_lift = (
            obj is not None and obj.lifted_at is None and super().has_change_permission(request)
        )
        return super().change_view(
            request,
            object_id,
            form_url,
            {
                **(extra_context or {}),
                "lift_url": reverse("admin:reservations_restriction_lift", args=[obj.pk])
                if can_lift
                else "",
            },
        )

    @admin.action(description=_("選択した利用制限を解除する"), permissions=["change"])
    def lift_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        lifted = 0
        for restriction in queryset.filter(
            lifted_at__isnull=True, office__in=self.supervised_offices(request)
        ):
            services.restriction_lift(restriction=restriction, actor=request.user)
            lifted += 1
        messages.success(
            request, gettext("%(count)s件の利用制限を解除しました。") % {"count": lifted}
        )

    def lift_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not super().has_change_permission(request):
            raise PermissionDenied
        restriction = get_object_or_404(
            self.get_queryset(request).filter(office__in=self.supervised_offices(request)),
            pk=object_id,
        )
        services.restriction_lift(restriction=restriction, actor=request.user)
        messages.success(
            request, gettext("利用制限を解除しました。オンラインで予約できるようになります。")
        )
        return HttpResponseRedirect(
            reverse("admin:reservations_restriction_change", args=[restriction.pk])
        )

    def get_urls(self) -> list:
        return [
            path(
                "<record_id:object_id>/lift/",
                self.admin_site.admin_view(
                    require_POST(lambda request, object_id: self.lift_view(request, object_id))
                ),
                name="reservations_restriction_lift",
            ),
            *super().get_urls(),
        ]
