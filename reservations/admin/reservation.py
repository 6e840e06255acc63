"""予約: the bookings list, the read-only booking page and its buttons (each a service call)."""

from __future__ import annotations

import csv
import logging
from datetime import datetime, timedelta

from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consent.models import ENVIRONMENT_ITEMS
from reservations import rules, selectors
from reservations.admin import actions, my_sessions, scope, statistics, today
from reservations.admin.common import EMPTY, badge, day_bounds, event_text, staff_name
from reservations.exports import csv_cell
from reservations.models import (
    MeetingState,
    Platform,
    Reservation,
)
from reservations.rules import Status
from reservations.templatetags.seeker_dates import format_date, format_datetime

logger = logging.getLogger(__name__)


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
            return queryset.filter(slot__starts_at__gte=day_bounds(today)[0])
        elif value == "past":
            return queryset.filter(slot__starts_at__lt=day_bounds(today)[0])
        elif value == "all":
            return queryset
        else:
            try:
                first = last = datetime.strptime(value, "%Y-%m-%d").date()
            except ValueError:
                return queryset.none()
        return queryset.filter(
            slot__starts_at__gte=day_bounds(first)[0], slot__starts_at__lt=day_bounds(last)[1]
        )


class ReassignmentFilter(admin.SimpleListFilter):
    """要再割当: bookings whose counselor is no longer on duty (rule 4)."""

    title = _("要再割当")
    parameter_name = "reassign"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("yes", _("要再割当のみ"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(needs_reassignment=True)
        return queryset


# The order of the buttons on a booking page: the next step first.
_BUTTON_ORDER = (
    rules.BookingAction.CONFIRM,
    rules.BookingAction.REJECT,
    rules.BookingAction.ATTENDED,
    rules.BookingAction.NO_SHOW,
    rules.BookingAction.START_MEETING,
    rules.BookingAction.RETRY_MEETING,
    rules.BookingAction.MOVE,
    rules.BookingAction.CANCEL,
    rules.BookingAction.BOOK_NEXT,
    rules.BookingAction.REASSIGN,
)
# Actions that need nothing typed: the button posts at once.
_ONE_CLICK = frozenset(
    {
        rules.BookingAction.ATTENDED,
        rules.BookingAction.NO_SHOW,
        rules.BookingAction.RETRY_MEETING,
    }
)


@admin.register(Reservation)
class ReservationAdmin(scope.OfficeScopedAdmin):
    list_display = (
        "when",
        "reference",
        "name",
        "seeker_number_display",
        "platform",
        "status_badge",
        "meeting_badge",
        "attention",
        "counselor_display",
    )
    list_display_links = ("when", "reference")
    list_filter = (
        SessionDateFilter,
        "status",
        ReassignmentFilter,
        "platform",
        "meeting_state",
    )
    search_fields = ("reference", "name", "seeker_number", "email")
    search_help_text = _(
        "予約番号・氏名・求職番号・メールアドレスで検索できます（全角や小文字でも構いません）。"
    )
    list_select_related = ("slot", "counselor")
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
                    "meeting_problem_display",
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
        "meeting_problem_display",
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
        return EMPTY

    @admin.display(description=_("状態"), ordering="status")
    def status_badge(self, obj: Reservation) -> str:
        return badge("status", obj.status, obj.get_status_display())

    @admin.display(description=_("会議リンク"), ordering="meeting_state")
    def meeting_badge(self, obj: Reservation) -> str:
        if obj.platform == Platform.TELEOFFICE and obj.meeting_state == MeetingState.NONE:
            return badge("meeting", "none", gettext("確定時に入力"))
        return badge("meeting", obj.meeting_state, obj.get_meeting_state_display())

    @admin.display(description=_("要対応"))
    def attention(self, obj: Reservation) -> str:
        return self._attention(obj, timezone.now(), today.confirmation_due_before(obj.office))

    @admin.display(description=_("担当"), ordering="counselor__display_name")
    def counselor_display(self, obj: Reservation) -> str:
        return obj.counselor.display_name if obj.counselor_id else EMPTY

    @staticmethod
    def _attention(obj: Reservation, now: datetime, due_before: datetime) -> str:
        # 要再割当 (rule 4): the counselor went off duty and nobody else was free.
        reassign = badge("flag", "reassign", gettext("要再割当")) if obj.needs_reassignment else ""
        return format_html("{}{}", reassign, ReservationAdmin._flag(obj, now, due_before))

    @staticmethod
    def _flag(obj: Reservation, now: datetime, due_before: datetime) -> str:
        flag = rules.attention(
            status=obj.status,
            meeting_state=obj.meeting_state,
            slot_start=obj.slot.starts_at,
            now=now,
            due_before=due_before,
        )
        if flag is None:
            return ""
        labels = {
            rules.Attention.LATE: gettext("確定期限切れ（理由が必要）"),
            rules.Attention.DUE_TODAY: gettext("本日が確定期限"),
            rules.Attention.OVERDUE: gettext("開始%(minutes)s分経過・参加未記録")
            % {"minutes": rules.NO_SHOW_GRACE_MINUTES},
            rules.Attention.MEETING_FAILED: gettext("会議作成に失敗"),
        }
        return badge("flag", flag.value, labels[flag])

    def get_list_display(self, request: HttpRequest) -> list:
        # "Due today" needs the office calendar: work it out once per page, not per row.
        now = timezone.now()
        if not hasattr(request, "_hw_due_before"):  # Django asks more than once per page
            request._hw_due_before = today.confirmation_due_before(
                scope.working_office(request), now
            )
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
        return format_datetime(obj.confirmed_at) if obj.confirmed_at else EMPTY

    @admin.display(description=_("確定期限（第6条(1)）"))
    def deadline_display(self, obj: Reservation) -> str:
        if obj.status != Status.REQUESTED:
            return EMPTY
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
            return EMPTY
        return format_html(
            '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>',
            obj.meeting_join_url,
            obj.meeting_join_url,
        )

    @admin.display(description=_("同意"))
    def consent_display(self, obj: Reservation) -> str:
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
                    "staff": staff_name(consent.recorded_by),
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
                    or EMPTY,
                )
            )
        return format_html_join("", "{}", ((row,) for row in rows))

    @admin.display(description=_("状態の変更"))
    def history_display(self, obj: Reservation) -> str:
        events = list(obj.events.select_related("actor").order_by("at", "id"))
        if not events:
            return EMPTY
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
                        event_text(event),
                        staff_name(event.actor)
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
        emails = emails_of(obj)
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

    @admin.display(description=_("会議の状況"))
    def meeting_problem_display(self, obj: Reservation) -> str:
        # Rule 13: what to do, in plain words; the technical reason is the supervisors'.
        if not obj.meeting_error:
            return EMPTY
        return rules.meeting_problem_text(obj.meeting_problem) or rules.meeting_problem_text(
            rules.MeetingProblem.ZOOM_ERROR
        )

    def get_fieldsets(self, request: HttpRequest, obj: Reservation | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or selectors.supervises(request.user, obj.office_id):
            return fieldsets
        return [
            (
                name,
                {**options, "fields": tuple(f for f in options["fields"] if f != "meeting_error")},
            )
            for name, options in fieldsets
        ]

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

        allowed = rules.booking_actions(
            status=obj.status,
            platform=obj.platform,
            meeting_state=obj.meeting_state,
            slot_start=start,
            now=now,
            anonymized=obj.anonymized_at is not None,
        )
        Action = rules.BookingAction
        # Actions with a page of their own (the others post to the action view, or open its form).
        pages = {
            Action.START_MEETING: ("start", gettext("Zoom で相談を開始（ホスト）")),
            Action.MOVE: ("move", gettext("日時を変更する")),
            Action.BOOK_NEXT: ("book_next", gettext("次回の予約を作成する")),
            Action.REASSIGN: ("reassign", gettext("担当の相談員を変える")),
        }
        # Zoom confirmations need nothing typed unless late (rule 5): one click.
        quick_confirm = obj.platform == Platform.ZOOM and not rules.is_late_confirmation(start, now)
        buttons: list[dict] = []
        for action in _BUTTON_ORDER:
            if action not in allowed or (
                action == Action.BOOK_NEXT and not self.can_book_next(request)
            ):
                continue
            if action == Action.START_MEETING and not selectors.may_host(request.user, obj):
                continue  # rule 13: the start link is the assigned counselor's and supervisors'

            # Rule 4: only a booking assigned to a counselor (an office with a rota).
            if action == Action.REASSIGN and obj.counselor_id is None:
                continue
            if action in pages:
                page, label = pages[action]
                url = reverse(f"admin:reservations_reservation_{page}", args=[obj.pk])
                button = {"label": label, "url": url, "new_tab": action == Action.START_MEETING}
            else:
                button = {
                    "label": actions.ACTIONS[action].label,
                    "url": reverse("admin:reservations_reservation_act", args=[obj.pk, action]),
                    "post": action in _ONE_CLICK or (action == Action.CONFIRM and quick_confirm),
                    "primary": action in (Action.CONFIRM, Action.ATTENDED),
                }
            buttons.append(button)
            if action == Action.CONFIRM and button["post"] and obj.office.counselors.exists():
                # The one click lets the service pick; this page lets staff choose (rule 4).
                buttons.append(
                    {
                        "label": gettext("担当を選んで確定する"),
                        "url": reverse("admin:reservations_reservation_act", args=[obj.pk, action]),
                    }
                )
        for button in buttons:
            button.setdefault("post", False)
            button["next"] = here
        return buttons

    # -- actions -------------------------------------------------------------------------

    @admin.action(description=_("選択した予約を確定する"), permissions=["change"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return actions.bulk_action(self, request, queryset, "confirm")

    @admin.action(description=_("選択した申込みをお断りする（理由を入力）"), permissions=["change"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return actions.bulk_action(self, request, queryset, "reject")

    @admin.action(
        description=_("選択した予約をキャンセルする（電話連絡・理由を入力）"),
        permissions=["change"],
    )
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return actions.bulk_action(self, request, queryset, "cancel")

    @admin.action(description=_("選択した予約を相談済みにする"), permissions=["change"])
    def attended_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return actions.bulk_action(self, request, queryset, "attended")

    @admin.action(description=_("選択した予約を連絡なし不参加にする"), permissions=["change"])
    def no_show_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return actions.bulk_action(self, request, queryset, "no_show")

    @admin.action(description=_("選択した予約の会議の作成をやり直す"), permissions=["change"])
    def retry_meeting_selected(self, request: HttpRequest, queryset: QuerySet):  # noqa: ANN201
        return actions.bulk_action(self, request, queryset, "retry_meeting")

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
        # Personal data leaves only for the offices this user supervises.
        queryset = queryset.filter(office__in=self.supervised_offices(request))
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
                    csv_cell(value)
                    for value in (
                        r.reference,
                        format_datetime(r.slot.starts_at),
                        r.get_status_display(),
                        r.get_platform_display(),
                        r.name,
                        r.seeker_number,
                        r.email,
                        r.phone,
                        format_datetime(r.created_at),
                    )
                ]
            )
        return response

    # -- pages ---------------------------------------------------------------------------

    def get_urls(self) -> list:
        wrap = self.admin_site.admin_view
        return [
            path(
                "today/",
                wrap(lambda request: today.today_view(self, request)),
                name="reservations_reservation_today",
            ),
            path(
                "mine/",
                wrap(lambda request: my_sessions.my_sessions_view(self, request)),
                name="reservations_reservation_mine",
            ),
            path(
                "mine/calendar/",
                wrap(lambda request: my_sessions.my_calendar_view(self, request)),
                name="reservations_reservation_mine_calendar",
            ),
            path(
                "statistics/",
                wrap(lambda request: statistics.statistics_view(self, request)),
                name="reservations_reservation_statistics",
            ),
            path(
                "<record_id:object_id>/act/<str:name>/",
                wrap(
                    lambda request, object_id, name: actions.object_action_view(
                        self, request, object_id, name
                    )
                ),
                name="reservations_reservation_act",
            ),
            path(
                "<record_id:object_id>/move/",
                wrap(lambda request, object_id: actions.move_view(self, request, object_id)),
                name="reservations_reservation_move",
            ),
            path(
                "<record_id:object_id>/reassign/",
                wrap(lambda request, object_id: actions.reassign_view(self, request, object_id)),
                name="reservations_reservation_reassign",
            ),
            path(
                "<record_id:object_id>/book-next/",
                wrap(lambda request, object_id: actions.book_next_view(self, request, object_id)),
                name="reservations_reservation_book_next",
            ),
            path(
                "<record_id:object_id>/start/",
                wrap(lambda request, object_id: actions.start_link_view(self, request, object_id)),
                name="reservations_reservation_start",
            ),
            *super().get_urls(),
        ]


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
