"""休業日 and 日別の定員 (supervisors): closures and per-date capacity."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from reservations import rules, selectors, services
from reservations.admin.forms import CapacityOverrideForm, ClosureForm
from reservations.admin.scope import OfficeScopedAdmin
from reservations.models import (
    CapacityOverride,
    Closure,
    StaffRole,
)
from reservations.templatetags.seeker_dates import format_date

logger = logging.getLogger(__name__)


class FutureDateFilter(admin.SimpleListFilter):
    title = _("日付")
    parameter_name = "when"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("future", _("今日以降")), ("past", _("過去"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        today = timezone.now().astimezone(rules.TOKYO).date()
        if self.value() == "future":
            return queryset.filter(date__gte=today)
        if self.value() == "past":
            return queryset.filter(date__lt=today)
        return queryset


class _OfficeDayAdmin(OfficeScopedAdmin):
    office_role = StaffRole.SUPERVISOR

    def _warn_bookings(self, request: HttpRequest, held: int, day) -> None:  # noqa: ANN001
        if held:
            messages.warning(
                request,
                gettext(
                    "%(day)s には有効な予約が%(count)s件あります。必要に応じて日時の変更か"
                    "キャンセルを行ってください。"
                )
                % {"day": format_date(day), "count": held},
            )


@admin.register(Closure)
class ClosureAdmin(_OfficeDayAdmin):
    form = ClosureForm
    list_display = ("date_display", "reason", "held", "office")
    list_filter = (FutureDateFilter, "office")
    ordering = ("date",)
    date_hierarchy = "date"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("office")
            .annotate(held_count=selectors.held_on_row("office", "date"))
        )

    @admin.display(description=_("日付"), ordering="date")
    def date_display(self, obj: Closure) -> str:
        return format_date(obj.date)

    @admin.display(description=_("その日の有効な予約"))
    def held(self, obj: Closure) -> int:
        return obj.held_count

    def save_model(self, request: HttpRequest, obj: Closure, form, change: bool) -> None:  # noqa: ANN001
        held = services.closure_save(closure=obj)
        self._warn_bookings(request, held, obj.date)

    def delete_model(self, request: HttpRequest, obj: Closure) -> None:
        services.closure_delete(closures=Closure.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.closure_delete(closures=queryset)


@admin.register(CapacityOverride)
class CapacityOverrideAdmin(_OfficeDayAdmin):
    form = CapacityOverrideForm
    list_display = ("date_display", "start_time", "capacity", "held", "office")
    list_filter = (FutureDateFilter, "office")
    ordering = ("date", "start_time")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("office")
            .annotate(held_count=selectors.held_on_row("office", "date", "start_time"))
        )

    @admin.display(description=_("日付"), ordering="date")
    def date_display(self, obj: CapacityOverride) -> str:
        return format_date(obj.date)

    @admin.display(description=_("この枠の有効な予約"))
    def held(self, obj: CapacityOverride) -> int:
        return obj.held_count

    def save_model(self, request: HttpRequest, obj: CapacityOverride, form, change: bool) -> None:  # noqa: ANN001
        held = services.capacity_override_save(override=obj)
        if held > obj.capacity:
            self._warn_bookings(request, held, obj.date)

    def delete_model(self, request: HttpRequest, obj: CapacityOverride) -> None:
        services.capacity_override_delete(overrides=CapacityOverride.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        services.capacity_override_delete(overrides=queryset)
