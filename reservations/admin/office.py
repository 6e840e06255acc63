"""Office settings (supervisors): windows, capacity, horizon, cut-off, limits, and a preview."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.contrib import admin
from django.contrib.admin import widgets
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from reservations import rules, selectors, services
from reservations.admin.common import EMPTY
from reservations.admin.forms import SessionWindowFormSet
from reservations.admin.scope import OfficeScopedAdmin
from reservations.models import (
    Office,
    SessionWindow,
    StaffRole,
)
from reservations.templatetags.seeker_dates import format_day

logger = logging.getLogger(__name__)


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

    today = timezone.now().astimezone(rules.TOKYO).date()
    last = today + timedelta(days=PREVIEW_DAYS - 1)
    office_rules = selectors.office_rules(office, today, last)
    held = selectors.booked_counts(office, today, last)
    closure_reasons = selectors.closure_reasons(office, today, last)
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


# --- Office settings (supervisors) -----------------------------------------------------


class SessionWindowInline(admin.TabularInline):
    model = SessionWindow
    formfield_overrides = {
        models.TimeField: {"widget": widgets.AdminTimeWidget(format="%H:%M")},
    }
    formset = SessionWindowFormSet
    extra = 0
    fields = ("weekday", "start_time", "end_time", "capacity")
    verbose_name = _("相談時間帯（毎週）")
    verbose_name_plural = _("相談時間帯（毎週）・枠ごとの定員")


CLOSED_LABELS = {
    rules.ClosedReason.WEEKEND: _("土日"),
    rules.ClosedReason.HOLIDAY: _("祝日"),
    rules.ClosedReason.YEAR_END: _("年末年始"),
    rules.ClosedReason.CLOSURE: _("休業日"),
    rules.ClosedReason.NO_SESSIONS: _("相談なし"),
}


@admin.register(Office)
class OfficeAdmin(OfficeScopedAdmin):
    office_role = StaffRole.SUPERVISOR
    list_display = (
        "name",
        "phone",
        "closing_time",
        "horizon_days",
        "max_active_bookings",
        "no_show_threshold",
    )
    inlines = [SessionWindowInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "name_en",
                    "slug",
                    "prefecture",
                    "phone",
                    "email",
                    "address",
                    "address_en",
                    "accepting_bookings",
                )
            },
        ),
        (
            _("予約の規則"),
            {
                "fields": (
                    "slot_minutes",
                    "closing_time",
                    "horizon_days",
                    "max_active_bookings",
                    "max_seeker_moves",
                ),
                "description": _(
                    "相談は1回30分です（第6条(1)）。申込みは相談日の前の開庁日の締切時刻まで、"
                    "予約受付期間の日数先まで受け付けます。"
                ),
            },
        ),
        (
            _("キャンセル待ち"),
            {
                "fields": ("waitlist_max_entries", "waitlist_offer_minutes"),
                "description": _(
                    "満席の枠に空きが出ると、登録順に1人ずつメールで案内し、"
                    "この時間だけ席を確保します（申込締切まで）。"
                ),
            },
        ),
        (
            _("連絡のない不参加による利用制限（第6条(4)）"),
            {"fields": ("no_show_threshold", "no_show_window_days")},
        ),
        (_("今後2週間の相談枠"), {"fields": ("slot_preview",)}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Office | None = None) -> tuple:
        # Art. 6(1) fixes the session length; the slug is in the seeker's URLs.
        if obj is None:
            return ("slot_preview",)
        return ("slug", "slot_minutes", "slot_preview")

    def save_model(self, request: HttpRequest, obj: Office, form, change: bool) -> None:  # noqa: ANN001
        pass  # saved with its weekly windows, in one service call (save_related)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:  # noqa: ANN001
        windows = next(fs for fs in formsets if fs.model is SessionWindow)
        changed = windows.save(commit=False)
        services.office_settings_save(
            office=form.instance, windows=changed, removed=windows.deleted_objects
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Office | None = None) -> bool:
        return False

    @admin.display(description=_("相談枠（定員・予約済み）"))
    def slot_preview(self, obj: Office) -> str:
        if obj.pk is None:
            return EMPTY
        return render_slot_preview(obj)
