"""利用状況の統計 (supervisors): anonymised counts per month, on screen and as CSV."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import dateformat, timezone
from django.utils.translation import get_language, get_language_info, gettext
from django.utils.translation import gettext_lazy as _

from reservations import rules, selectors
from reservations.admin import scope
from reservations.admin.actions import admin_context
from reservations.admin.forms import StatisticsForm
from reservations.exports import csv_cell
from reservations.models import (
    Platform,
    StaffRole,
)

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

logger = logging.getLogger(__name__)


# --- Statistics (supervisors) -----------------------------------------------------------

STATISTICS_PERMISSION = "reservations.view_statistics"
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
        (gettext("キャンセル待ちの登録"), lambda s: s.waitlist_entries),
        (gettext("キャンセル待ちへの案内"), lambda s: s.waitlist_offers),
        (gettext("キャンセル待ちからの申込み"), lambda s: s.waitlist_claims),
    ]
    return StatisticsTable(
        header=[gettext("相談月"), *(label for label, _value in columns)],
        rows=[
            [format_month(month.month), *(value(month) for _label, value in columns)]
            for month in statistics.months
        ],
        total=[gettext("合計"), *(value(statistics.total) for _label, value in columns)],
    )


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
        writer.writerow([csv_cell(value) for value in row])
    return response


def statistics_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    """利用状況の統計: what happened to the bookings, month by month; counts only (rule 15)."""
    if not request.user.has_perm(STATISTICS_PERMISSION):
        raise PermissionDenied
    today = timezone.now().astimezone(rules.TOKYO).date()
    # Only the offices this user supervises can be chosen; another one is not found.
    offices = list(selectors.offices_of(request.user, role=StaffRole.SUPERVISOR).order_by("id"))
    asked = request.GET.get("office")
    if asked and not any(str(office.pk) == asked for office in offices):
        raise Http404
    working = scope.working_office(request)
    chosen = any(name in request.GET for name in ("office", "date_from", "date_to"))
    form = StatisticsForm(
        request.GET if chosen else None,
        today=today,
        offices=offices,
        default=working if working in offices else None,
    )
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
        admin_context(
            model_admin,
            request,
            title=gettext("利用状況の統計"),
            form=form,
            table=table,
            period=period,
            csv_query=form.query_string(download="csv") if table is not None else "",
        ),
    )
