"""The counselor's day in the admin: bookings, today's sessions, office settings, restrictions.

Nothing here changes a booking by editing a field: the booking pages are read-only and every
button or action calls one service (`reservations.services`) per booking and reports what
it said. Office settings are plain forms with their checks in `admin_forms`.
"""

from __future__ import annotations

import csv
import logging
from datetime import datetime, time, timedelta

from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.contrib.admin.options import ActionLocation
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, register_converter, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from reservations import admin_views, rules, selectors, services
from reservations.admin_forms import (
    CapacityOverrideForm,
    ClosureForm,
    RestrictionForm,
    SessionWindowFormSet,
)
from reservations.models import (
    CapacityOverride,
    Closure,
    EventKind,
    MeetingState,
    Office,
    OutgoingEmail,
    Platform,
    Reservation,
    Restriction,
    RestrictionSource,
    SessionWindow,
    ZoomMeeting,
)
from reservations.rules import Status
from reservations.templatetags.seeker_dates import format_date, format_datetime

logger = logging.getLogger(__name__)

admin.site.site_header = _("オンライン職業相談 予約管理")
admin.site.site_title = _("オンライン職業相談 予約管理")
admin.site.index_title = _("予約管理")
# Counselors use a handful of pages; the width goes to the booking tables instead.
admin.site.enable_nav_sidebar = False

_EMPTY = "—"


def _badge(kind: str, value: str, label: str) -> str:
    return format_html('<span class="hw-badge hw-{}-{}">{}</span>', kind, value, label)


def _day_bounds(day) -> tuple[datetime, datetime]:  # noqa: ANN001 - a date
    start = datetime.combine(day, time(0), tzinfo=rules.TOKYO)
    return start, start + timedelta(days=1)


# --- Bookings (予約) ---------------------------------------------------------------------


class RecordIdConverter:
    """A primary key as the admin's own pages take it: digits that fit a 64-bit integer.

    Anything else falls through to Django's admin, which answers "not found" instead of
    letting a malformed or huge id reach the database.
    """

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


register_converter(RecordIdConverter, "record_id")


class SessionDateFilter(admin.SimpleListFilter):
    """By session date; without a choice the list shows today and later (a search: all)."""

    title = _("相談日")
    parameter_name = "day"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("today", _("今日")),
            ("tomorrow", _("明日")),
            ("week", _("今週")),
            ("upcoming", _("今日以降")),
            ("past", _("過去")),
            ("all", _("すべて")),
        ]

    def __init__(self, request: HttpRequest, *args: object, **kwargs: object) -> None:
        super().__init__(request, *args, **kwargs)
        self.request = request

    def _effective(self, request: HttpRequest) -> str:
        if self.value():
            return self.value()
        # Someone searching for a reference wants the booking whenever it was.
        return "all" if request.GET.get("q") else "upcoming"

    def choices(self, changelist):  # noqa: ANN001, ANN201 - Django's signature
        current = self._effective(self.request)
        for lookup, title in self.lookup_choices:
            yield {
                "selected": current == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self._effective(request)
        today = timezone.now().astimezone(rules.TOKYO).date()
        if value == "today":
            first, last = today, today
        elif value == "tomorrow":
            first = last = today + timedelta(days=1)
        elif value == "week":
            first = today - timedelta(days=today.weekday())
            last = first + timedelta(days=6)
        elif value == "upcoming":
            return queryset.filter(slot__starts_at__gte=_day_bounds(today)[0])
        elif value == "past":
            return queryset.filter(slot__starts_at__lt=_day_bounds(today)[0])
        elif value == "all":
            return queryset
        else:
            try:
                first = last = datetime.strptime(value, "%Y-%m-%d").date()
            except ValueError:
                return queryset.none()
        return queryset.filter(
            slot__starts_at__gte=_day_bounds(first)[0], slot__starts_at__lt=_day_bounds(last)[1]
        )


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin):
    list_display = (
        "when",
        "reference",
        "name",
        "seeker_number_display",
        "platform",
        "status_badge",
        "meeting_badge",
        "attention",
    )
    list_display_links = ("when", "reference")
    list_filter = (SessionDateFilter, "status", "platform", "meeting_state")
    search_fields = ("reference", "name", "seeker_number", "email")
    search_help_text = _(
        "予約番号・氏名・求職番号・メールアドレスで検索できます（全角や小文字でも構いません）。"
    )
    list_select_related = ("slot",)
    list_per_page = 50
    ordering = ("slot__starts_at", "id")
    show_full_result_count = False
    actions = (
        "confirm_selected",
        "reject_selected",
        "cancel_selected",
        "attended_selected",
        "no_show_selected",
        "retry_meeting_selected",
        "move_selected",
        "export_selected",
    )
    change_form_template = "reservations/admin/reservation_change_form.html"
    change_list_template = "reservations/admin/reservation_change_list.html"
    fieldsets = (
        (
            _("予約"),
            {
                "fields": (
                    "reference",
                    "status_badge",
                    "when_display",
                    "platform",
                    "deadline_display",
                    "created_display",
                    "confirmed_display",
                )
            },
        ),
        (
            _("申込者（第6条(2)）"),
            {
                "fields": (
                    "name",
                    "seeker_number_display",
                    "email",
                    "phone",
                    "language",
                    "topic",
                    "companion_display",
                )
            },
        ),
        (
            _("会議（第4条）"),
            {
                "fields": (
                    "meeting_badge",
                    "meeting_link_display",
                    "meeting_passcode",
                    "meeting_error",
                )
            },
        ),
        (_("同意の記録（第6条(3)・第7条(1)）"), {"fields": ("consent_display",)}),
        (_("履歴"), {"fields": ("history_display",)}),
        (_("送信したメール"), {"fields": ("emails_display",)}),
    )
    readonly_fields = (
        "reference",
        "status_badge",
        "when_display",
        "platform",
        "deadline_display",
        "created_display",
        "confirmed_display",
        "name",
        "seeker_number_display",
        "email",
        "phone",
        "language",
        "topic",
        "companion_display",
        "meeting_badge",
        "meeting_link_display",
        "meeting_passcode",
        "meeting_error",
        "consent_display",
        "history_display",
        "emails_display",
    )

    # Status and details change only through the actions, which call the services.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Reservation | None = None) -> bool:
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Reservation | None = None) -> bool:
        return False

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.export_reservation")

    def can_book_next(self, request: HttpRequest) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.add_reservation")

    # -- list columns --------------------------------------------------------------------

    @admin.display(description=_("相談日時"), ordering="slot__starts_at")
    def when(self, obj: Reservation) -> str:
        return format_datetime(obj.slot.starts_at)

    @admin.display(description=_("求職番号"), ordering="seeker_number")
    def seeker_number_display(self, obj: Reservation) -> str:
        if obj.seeker_number:
            return obj.seeker_number
        if obj.about_to_register:
            return gettext("（これから登録）")
        return _EMPTY

    @admin.display(description=_("状態"), ordering="status")
    def status_badge(self, obj: Reservation) -> str:
        return _badge("status", obj.status, obj.get_status_display())

    @admin.display(description=_("会議リンク"), ordering="meeting_state")
    def meeting_badge(self, obj: Reservation) -> str:
        if obj.platform == Platform.TELEOFFICE and obj.meeting_state == MeetingState.NONE:
            return _badge("meeting", "none", gettext("確定時に入力"))
        return _badge("meeting", obj.meeting_state, obj.get_meeting_state_display())

    @admin.display(description=_("要対応"))
    def attention(self, obj: Reservation) -> str:
        return self._attention(obj, timezone.now(), admin_views.confirmation_due_before())

    @staticmethod
    def _attention(obj: Reservation, now: datetime, due_before: datetime) -> str:
        start = obj.slot.starts_at
        if obj.status == Status.REQUESTED and start > now:
            if rules.is_late_confirmation(start, now):
                return _badge("flag", "late", gettext("確定期限切れ（理由が必要）"))
            if rules.confirmation_deadline(start) <= due_before:
                return _badge("flag", "due", gettext("本日が確定期限"))
        if obj.status == Status.CONFIRMED and rules.is_no_show_due(start, now):
            return _badge("flag", "overdue", gettext("開始10分経過・参加未記録"))
        if obj.status == Status.CONFIRMED and obj.meeting_state == MeetingState.FAILED:
            return _badge("flag", "failed", gettext("会議作成に失敗"))
        return ""

    def get_list_display(self, request: HttpRequest) -> list:
        # "Due today" needs the office calendar: work it out once per page, not per row.
        now = timezone.now()
        if not hasattr(request, "_hw_due_before"):  # Django asks more than once per page
            request._hw_due_before = admin_views.confirmation_due_before(now)
        due_before = request._hw_due_before

        @admin.display(description=_("要対応"))
        def attention(obj: Reservation) -> str:
            return self._attention(obj, now, due_before)

        return [attention if item == "attention" else item for item in self.list_display]

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        # A reference or 求職番号 read out on the phone arrives in any width or case.
        term = search_term.strip()
        extra = Q()
        reference = rules.normalize_reference(term)
        if reference and reference != term:
            extra |= Q(reference=reference)
        number = rules.normalize_seeker_number(term)
        if number and number != term:
            extra |= Q(seeker_number=number)
        if extra:
            results = results | queryset.filter(extra)
        return results, may_have_duplicates

    def get_action_choices(
        self,
        request: HttpRequest,
        default_choices: list | None = None,
        action_location: ActionLocation = ActionLocation.CHANGE_LIST,
    ) -> list:
        return super().get_action_choices(
            request, [("", gettext("操作を選んでください"))], action_location=action_location
        )

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # noqa: ANN201
        return super().changelist_view(
            request,
            {
                "title": gettext("予約一覧"),
                **(extra_context or {}),
                "today_url": reverse("admin:reservations_reservation_today"),
            },
        )

    # -- detail page ---------------------------------------------------------------------

    @admin.display(description=_("相談日時"))
    def when_display(self, obj: Reservation) -> str:
        end = obj.slot.ends_at.astimezone(rules.TOKYO)
        return f"{format_datetime(obj.slot.starts_at)}–{end:%H:%M}"

    @admin.display(description=_("申込日時"))
    def created_display(self, obj: Reservation) -> str:
        return format_datetime(obj.created_at)

    @admin.display(description=_("確定日時"))
    def confirmed_display(self, obj: Reservation) -> str:
        return format_datetime(obj.confirmed_at) if obj.confirmed_at else _EMPTY

    @admin.display(description=_("確定期限（第6条(1)）"))
    def deadline_display(self, obj: Reservation) -> str:
        if obj.status != Status.REQUESTED:
            return _EMPTY
        deadline = rules.confirmation_deadline(obj.slot.starts_at)
        day_before = format_date(deadline - timedelta(days=1))
        if rules.is_late_confirmation(obj.slot.starts_at, timezone.now()):
            return format_html(
                '<span class="hw-flag-late">{}</span>',
                gettext("%(day)s まで（過ぎています。確定には理由が必要です）")
                % {"day": day_before},
            )
        return gettext("%(day)s まで") % {"day": day_before}

    @admin.display(description=_("通訳者・介助者（第12条(3)）"))
    def companion_display(self, obj: Reservation) -> str:
        if not obj.companion:
            return gettext("なし")
        if obj.companion_language:
            return f"{obj.get_companion_display()}（{obj.companion_language}）"
        return obj.get_companion_display()

    @admin.display(description=_("参加用URL"))
    def meeting_link_display(self, obj: Reservation) -> str:
        if not obj.meeting_join_url:
            return _EMPTY
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            obj.meeting_join_url,
            obj.meeting_join_url,
        )

    @admin.display(description=_("同意"))
    def consent_display(self, obj: Reservation) -> str:
        from consent.models import ENVIRONMENT_ITEMS

        consents = list(obj.consents.select_related("terms_version", "recorded_by"))
        if not consents:
            return gettext("同意の記録がありません。")
        rows = []
        for consent in consents:
            confirmed = [
                str(ENVIRONMENT_ITEMS.get(key, key))
                for key, value in (consent.items or {}).items()
                if value
            ]
            who = (
                gettext("%(method)s（記録: %(staff)s）")
                % {
                    "method": consent.get_method_display(),
                    "staff": _staff_name(consent.recorded_by),
                }
                if consent.recorded_by_id
                else consent.get_method_display()
            )
            rows.append(
                format_html(
                    '<table class="hw-table hw-consent"><tbody>'
                    "<tr><th>{}</th><td>{}</td></tr>"
                    "<tr><th>{}</th><td>{}</td></tr>"
                    "<tr><th>{}</th><td>{}</td></tr>"
                    "<tr><th>{}</th><td>{}</td></tr>"
                    "<tr><th>{}</th><td><ul>{}</ul></td></tr>"
                    "<tr><th>{}</th><td>{}</td></tr>"
                    "</tbody></table>",
                    gettext("同意日時"),
                    format_datetime(consent.given_at),
                    gettext("利用規約の版"),
                    str(consent.terms_version),
                    gettext("同意の方法"),
                    who,
                    gettext("アプリの利用規約（第4条）"),
                    gettext("同意") if consent.platform_terms_accepted else gettext("なし"),
                    gettext("確認した項目"),
                    format_html_join("", "<li>{}</li>", ((item,) for item in confirmed)),
                    gettext("接続元（第7条(1)）"),
                    " / ".join(
                        part
                        for part in (consent.ip_address or "", consent.user_agent[:120])
                        if part
                    )
                    or _EMPTY,
                )
            )
        return format_html_join("", "{}", ((row,) for row in rows))

    @admin.display(description=_("状態の変更"))
    def history_display(self, obj: Reservation) -> str:
        events = list(obj.events.select_related("actor").order_by("at", "id"))
        if not events:
            return _EMPTY
        return format_html(
            '<table class="hw-table hw-history"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "<th>{}</th></tr></thead><tbody>{}</tbody></table>",
            gettext("日時"),
            gettext("内容"),
            gettext("実施者"),
            gettext("理由・メモ"),
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        format_datetime(event.at),
                        _event_text(event),
                        _staff_name(event.actor)
                        if event.actor_id
                        else event.get_actor_kind_display(),
                        event.reason or "",
                    )
                    for event in events
                ),
            ),
        )

    @admin.display(description=_("メール"))
    def emails_display(self, obj: Reservation) -> str:
        emails = admin_views.emails_of(obj)
        if not emails:
            return gettext("まだ送信していません。")
        return format_html(
            '<table class="hw-table hw-emails"><thead><tr><th>{}</th><th>{}</th><th>{}</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            gettext("日時"),
            gettext("件名"),
            gettext("状態"),
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>", emails),
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ):  # noqa: ANN201
        obj = self.get_object(request, object_id)
        buttons = self.action_buttons(request, obj) if obj is not None else []
        return super().change_view(
            request,
            object_id,
            form_url,
            {**(extra_context or {}), "hw_buttons": buttons},
        )

    def action_buttons(self, request: HttpRequest, obj: Reservation) -> list[dict]:
        """The actions this booking allows now, as buttons (POST) or links to a form."""
        if not super().has_change_permission(request):
            return []
        now = timezone.now()
        start = obj.slot.starts_at
        here = reverse("admin:reservations_reservation_change", args=[obj.pk])

        def act(name: str) -> str:
            return reverse("admin:reservations_reservation_act", args=[obj.pk, name])

        buttons: list[dict] = []
        if obj.status == Status.REQUESTED and now < start:
            spec = admin_views.ACTIONS["confirm"]
            quick = obj.platform == Platform.ZOOM and not rules.is_late_confirmation(start, now)
            buttons.append(
                {"label": spec.label, "url": act("confirm"), "post": quick, "primary": True}
            )
            buttons.append({"label": admin_views.ACTIONS["reject"].label, "url": act("reject")})
        if obj.status == Status.CONFIRMED:
            if rules.can_mark_attended(start, now):
                buttons.append(
                    {
                        "label": admin_views.ACTIONS["attended"].label,
                        "url": act("attended"),
                        "post": True,
                        "primary": True,
                    }
                )
            if rules.can_mark_no_show(start, now):
                buttons.append(
                    {
                        "label": admin_views.ACTIONS["no_show"].label,
                        "url": act("no_show"),
                        "post": True,
                    }
                )
            if obj.platform == Platform.ZOOM and obj.meeting_state == MeetingState.READY:
                buttons.append(
                    {
                        "label": gettext("Zoom で相談を開始（ホスト）"),
                        "url": reverse("admin:reservations_reservation_start", args=[obj.pk]),
                        "new_tab": True,
                    }
                )
            if obj.platform == Platform.ZOOM and obj.meeting_state != MeetingState.READY:
                buttons.append(
                    {
                        "label": admin_views.ACTIONS["retry_meeting"].label,
                        "url": act("retry_meeting"),
                        "post": True,
                    }
                )
        if rules.can_move(obj.status) and now < start:
            buttons.append(
                {
                    "label": gettext("日時を変更する"),
                    "url": reverse("admin:reservations_reservation_move", args=[obj.pk]),
                }
            )
        if rules.is_active(obj.status) and rules.can_staff_cancel(start, now):
            buttons.append({"label": admin_views.ACTIONS["cancel"].label, "url": act("cancel")})
        if (
            obj.status in (Status.CONFIRMED, Status.ATTENDED)
            and obj.anonymized_at is None
            and self.can_book_next(request)
        ):
            buttons.append(
                {
                    "label": gettext("次回の予約を作成する"),
                    "url": reverse("admin:reservations_reservation_book_next", args=[obj.pk]),
                }
            )
        for button in buttons:
            button.setdefault("post", False)
            button["next"] = here
        return buttons

    # -- actions -------------------------------------------------------------------------

    @admin.action(description=_("選択した予約を確定する"), permissions=["change"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return admin_views.bulk_action(self, request, queryset, "confirm")

    @admin.action(description=_("選択した申込みをお断りする（理由を入力）"), permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return admin_views.bulk_action(self, request, queryset, "reject")

    @admin.action(
        description=_("選択した予約をキャンセルする（電話連絡・理由を入力）"),
        permissions=["change"],
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return admin_views.bulk_action(self, request, queryset, "cancel")

    @admin.action(description=_("選択した予約を相談済みにする"), permissions=["change"])
    def attended_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return admin_views.bulk_action(self, request, queryset, "attended")

    @admin.action(description=_("選択した予約を連絡なし不参加にする"), permissions=["change"])
    def no_show_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return admin_views.bulk_action(self, request, queryset, "no_show")

    @admin.action(description=_("選択した予約の会議の作成をやり直す"), permissions=["change"])
    def retry_meeting_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return admin_views.bulk_action(self, request, queryset, "retry_meeting")

    @admin.action(description=_("選択した予約の日時を変更する（1件ずつ）"), permissions=["change"])
    def move_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        reservations = list(queryset[:2])
        if len(reservations) != 1:
            messages.warning(request, gettext("日時の変更は1件ずつ選んで行ってください。"))
            return None
        return HttpResponseRedirect(
            reverse("admin:reservations_reservation_move", args=[reservations[0].pk])
        )

    @admin.action(description=_("選択した予約をCSVで書き出す"), permissions=["export"])
    def export_selected(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        # Art. 7(1): who took personal data out, and how much (ids only, never the data).
        logger.info("reservations exported by user %s: %s rows", request.user.pk, queryset.count())
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.now().astimezone(rules.TOKYO).strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="reservations-{stamp}.csv"'
        response.write("\ufeff")  # a BOM, so that spreadsheet software reads UTF-8
        writer = csv.writer(response)
        writer.writerow(
            [
                gettext("予約番号"),
                gettext("相談日時"),
                gettext("状態"),
                gettext("利用するアプリ"),
                gettext("氏名"),
                gettext("求職番号"),
                gettext("メールアドレス"),
                gettext("電話番号"),
                gettext("申込日時"),
            ]
        )
        for r in queryset.select_related("slot").order_by("slot__starts_at", "id"):
            writer.writerow(
                [
                    r.reference,
                    format_datetime(r.slot.starts_at),
                    r.get_status_display(),
                    r.get_platform_display(),
                    _csv_safe(r.name),
                    r.seeker_number,
                    _csv_safe(r.email),
                    _csv_safe(r.phone),
                    format_datetime(r.created_at),
                ]
            )
        return response

    # -- pages ---------------------------------------------------------------------------

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "today/",
                wrap(lambda request: admin_views.today_view(self, request)),
                name="reservations_reservation_today",
            ),
            path(
                "statistics/",
                wrap(lambda request: admin_views.statistics_view(self, request)),
                name="reservations_reservation_statistics",
            ),
            path(
                "<record_id:object_id>/act/<str:name>/",
                wrap(
                    lambda request, object_id, name: admin_views.object_action_view(
                        self, request, object_id, name
                    )
                ),
                name="reservations_reservation_act",
            ),
            path(
                "<record_id:object_id>/move/",
                wrap(lambda request, object_id: admin_views.move_view(self, request, object_id)),
                name="reservations_reservation_move",
            ),
            path(
                "<record_id:object_id>/book-next/",
                wrap(
                    lambda request, object_id: admin_views.book_next_view(self, request, object_id)
                ),
                name="reservations_reservation_book_next",
            ),
            path(
                "<record_id:object_id>/start/",
                wrap(
                    lambda request, object_id: admin_views.start_link_view(self, request, object_id)
                ),
                name="reservations_reservation_start",
            ),
            *super().get_urls(),
        ]


def _csv_safe(value: str) -> str:
    # A cell starting with = + - @ would run as a formula in spreadsheet software.
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def _staff_name(user) -> str:  # noqa: ANN001 - a user or None
    if user is None:
        return _EMPTY
    return user.get_full_name() or user.get_username()


def _event_text(event) -> str:  # noqa: ANN001 - a ReservationEvent
    if event.kind == EventKind.MOVED:
        moved_from = event.details.get("from")
        moved_to = event.details.get("to")
        if moved_from and moved_to:
            return gettext("日時の変更: %(from)s → %(to)s") % {
                "from": format_datetime(datetime.fromisoformat(moved_from)),
                "to": format_datetime(datetime.fromisoformat(moved_to)),
            }
        return gettext("日時の変更")
    if event.kind == EventKind.NOTE:
        related = event.details.get("next_reservation") or event.details.get("booked_from")
        if event.details.get("next_reservation"):
            return gettext("記録: 次回の予約 %(reference)s") % {"reference": related}
        if event.details.get("booked_from"):
            return gettext("記録: %(reference)s の相談中に予約") % {"reference": related}
        return gettext("記録")
    if not event.from_status:
        return Status(event.to_status).label
    text = f"{Status(event.from_status).label} → {Status(event.to_status).label}"
    source = event.details.get("source")
    if event.to_status == Status.ATTENDED and source and source != "staff":
        text += gettext("（%(source)s）") % {"source": source}
    if event.details.get("late"):
        text += gettext("（確定期限後）")
    return text


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
class OfficeAdmin(admin.ModelAdmin):
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
        (None, {"fields": ("name", "slug", "phone", "email", "address")}),
        (
            _("予約の規則"),
            {
                "fields": (
                    "slot_minutes",
                    "closing_time",
                    "horizon_days",
                    "max_active_bookings",
                ),
                "description": _(
                    "相談は1回30分です（第6条(1)）。申込みは相談日の前の開庁日の締切時刻まで、"
                    "予約受付期間の日数先まで受け付けます。"
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Office | None = None) -> bool:
        return False

    @admin.display(description=_("相談枠（定員・予約済み）"))
    def slot_preview(self, obj: Office) -> str:
        if obj.pk is None:
            return _EMPTY
        return admin_views.render_slot_preview(obj)


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


class _OfficeDefaultMixin:
    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        office = selectors.default_office()
        if office is not None:
            initial.setdefault("office", office.pk)
        return initial

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
class ClosureAdmin(_OfficeDefaultMixin, admin.ModelAdmin):
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
        super().save_model(request, obj, form, change)
        held = Reservation.objects.filter(
            office=obj.office,
            status__in=rules.ACTIVE_STATUSES,
            slot__starts_at__gte=_day_bounds(obj.date)[0],
            slot__starts_at__lt=_day_bounds(obj.date)[1],
        ).count()
        self._warn_bookings(request, held, obj.date)


@admin.register(CapacityOverride)
class CapacityOverrideAdmin(_OfficeDefaultMixin, admin.ModelAdmin):
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
        super().save_model(request, obj, form, change)
        start = datetime.combine(obj.date, obj.start_time, tzinfo=rules.TOKYO)
        held = Reservation.objects.filter(
            office=obj.office, status__in=rules.ACTIVE_STATUSES, slot__starts_at=start
        ).count()
        if held > obj.capacity:
            self._warn_bookings(request, held, obj.date)


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


def _no_shows_of_person() -> QuerySet:
    """A person's no-shows at the restriction's office: by 求職番号, or by email (rule 8)."""
    return Reservation.objects.filter(office=OuterRef("office"), status=Status.NO_SHOW).filter(
        (Q(seeker_number=OuterRef("seeker_number")) & ~Q(seeker_number=""))
        | (Q(email__iexact=OuterRef("email")) & ~Q(email=""))
    )


@admin.register(Restriction)
class RestrictionAdmin(admin.ModelAdmin):
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
        counts = _no_shows_of_person().values("office").annotate(n=Count("id")).values("n")[:1]
        return (
            super()
            .get_queryset(request)
            .select_related("created_by", "lifted_by")
            .annotate(no_shows=Coalesce(Subquery(counts), 0))
        )

    def get_fields(self, request: HttpRequest, obj: Restriction | None = None):  # noqa: ANN201
        if obj is None:
            return ["office", "seeker_number", "email", "reason", "ends_at"]
        return list(self.view_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: Restriction | None = None) -> tuple:
        return () if obj is None else self.view_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        office = selectors.default_office()
        if office is not None:
            initial.setdefault("office", office.pk)
        return initial

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
            return _badge("restriction", "lifted", gettext("解除済み"))
        if obj.ends_at is not None and obj.ends_at <= now:
            return _badge("restriction", "ended", gettext("期間終了"))
        return _badge("restriction", "active", gettext("有効"))

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
            return _EMPTY
        return gettext("%(when)s（%(staff)s）") % {
            "when": format_datetime(obj.lifted_at),
            "staff": _staff_name(obj.lifted_by),
        }

    @admin.display(description=_("連絡なし不参加"), ordering="no_shows")
    def no_show_count(self, obj: Restriction) -> int:
        return obj.no_shows

    @admin.display(description=_("連絡なし不参加の記録（第6条(4)）"))
    def no_show_history(self, obj: Restriction) -> str:
        query = Q(seeker_number=obj.seeker_number) if obj.seeker_number else Q(pk__in=[])
        if obj.email:
            query |= Q(email__iexact=obj.email)
        rows = (
            Reservation.objects.filter(query, office_id=obj.office_id, status=Status.NO_SHOW)
            .select_related("slot")
            .order_by("-slot__starts_at")
        )
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
        for restriction in queryset.filter(lifted_at__isnull=True):
            services.restriction_lift(restriction=restriction, actor=request.user)
            lifted += 1
        messages.success(
            request, gettext("%(count)s件の利用制限を解除しました。") % {"count": lifted}
        )

    def lift_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not super().has_change_permission(request):
            raise PermissionDenied
        restriction = get_object_or_404(Restriction, pk=object_id)
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


# --- The queue's evidence: emails and Zoom meetings (supervisors, read-only) -------------


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Written by the task queue only; staff look, nobody edits."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    @admin.display(description=_("予約"), ordering="reservation__reference")
    def booking(self, obj: OutgoingEmail | ZoomMeeting) -> str:
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
                        "reference": email.reservation.reference,
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
