"""休業日 and 日別の定員 (supervisors): closures and per-date capacity."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.db.models import Count, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from reservations import rules, services
from reservations.admin.forms import CapacityOverrideForm, ClosureForm
from reservations.admin.scope import OfficeScopedAdmin
from reservations.models import (
    CapacityOverride,
    Closure,
    Reservation,
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


def _held_on(office_field: str, date_field: str, start_field: str | None = None) -> Subquery:
    """Active bookings on the row's date (and slot start), as a subquery count."""
    bookings = Reservation.objects.filter(
        office=OuterRef(office_field),
        status__in=rules.ACTIVE_STATUSES,
        slot__starts_at__date=OuterRef(date_field),
    )
    if start_field:
        bookings = bookings.filter(slot__starts_at__time=OuterRef(start_field))
    return Coalesce(Subquery(bookings.values("office").annotate(n=Count("id")).values("n")[:1]), 0)


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
            .annotate(held_count=_held_on("office", "date"))
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
            .annotate(held_count=_held_on("office", "date", "start_time"))
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
