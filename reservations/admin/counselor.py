"""相談員 and the 勤務表 (rule 4): supervisors edit a counselor's profile, weekly duty and dated
exceptions; counselors see them, and everyone of the office sees the two-week rota.

Saving goes through the services (`counselor_save`, `duty_windows_save`,
`duty_exception_save`, `duty_exception_delete`), which reassign or flag the bookings a change
takes a counselor away from; the forms ask the same rules first, so that a problem is shown
next to its field.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import widgets
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from reservations import rules, selectors, services
from reservations.admin import scope
from reservations.admin.office import CLOSED_LABELS
from reservations.admin.scope import OfficeScopedAdmin, working_office
from reservations.models import Counselor, DutyException, DutyWindow, StaffRole

_TIME_WIDGET = {models.TimeField: {"widget": widgets.AdminTimeWidget(format="%H:%M")}}


class CounselorForm(forms.ModelForm):
    """A counselor's profile, checked as `services.counselor_save` will check it."""

    class Meta:
        model = Counselor
        fields = [
            "office",
            "user",
            "display_name",
            "zoom_user",
            "teleoffice_url",
            "languages",
            "is_active",
        ]

    def clean_zoom_user(self) -> str:
        value = self.cleaned_data["zoom_user"].strip()
        if value and not rules.is_zoom_user(value):
            raise forms.ValidationError(
                gettext("Zoomユーザーはメールアドレスか、Zoom のユーザーIDで入力してください。")
            )
        return value

    def clean_languages(self) -> str:
        value = ",".join(
            code.strip().lower()
            for code in self.cleaned_data["languages"].split(",")
            if code.strip()
        )
        if not rules.are_language_codes(value):
            raise forms.ValidationError(
                gettext("言語コードをコンマで区切って入力してください（例: ja,pt-br）。")
            )
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        office, user = cleaned.get("office"), cleaned.get("user")
        if office is not None and user is not None and not selectors.works_in(user, office):
            self.add_error("user", gettext("このハローワークの職員を選んでください。"))
        return cleaned


class DutyWindowForm(forms.ModelForm):
    """One weekly window. The formset replaces all of a counselor's windows at once, so a
    row is not compared with the rows saved now, only with the others posted
    (`DutyWindowFormSet.clean`); the database constraints back the service."""

    class Meta:
        model = DutyWindow
        fields = ["weekday", "start_time", "end_time"]

    def validate_unique(self) -> None:
        pass

    def validate_constraints(self) -> None:
        pass


class DutyWindowFormSet(forms.BaseInlineFormSet):
    """A counselor's weekly duty, checked together (`rules.duty_problem`)."""

    def kept_windows(self) -> list[tuple[int, object, object]]:
        return [
            (f.cleaned_data["weekday"], f.cleaned_data["start_time"], f.cleaned_data["end_time"])
            for f in self.forms
            if f.cleaned_data
            and not f.cleaned_data.get("DELETE")
            and all(
                f.cleaned_data.get(k) is not None for k in ("weekday", "start_time", "end_time")
            )
        ]

    def clean(self) -> None:
        super().clean()
        kept = []
        for form in self.forms:
            if form.errors or not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            row = tuple(form.cleaned_data.get(k) for k in ("weekday", "start_time", "end_time"))
            if None in row:
                continue
            if rules.duty_problem([row]) == "order":
                form.add_error("end_time", gettext("終了時刻は開始時刻より後にしてください。"))
                continue
            if rules.duty_problem([*kept, row]) is not None:
                form.add_error(None, gettext("同じ曜日の勤務時間帯が重なっています。"))
                continue
            kept.append(row)


class DutyExceptionForm(forms.ModelForm):
    class Meta:
        model = DutyException
        fields = ["date", "kind", "start_time", "end_time", "note"]

    def clean(self) -> dict:
        cleaned = super().clean()
        start, end = cleaned.get("start_time"), cleaned.get("end_time")
        if (start is None) != (end is None) and "start_time" not in self.errors:
            self.add_error(
                "end_time",
                gettext("開始時刻と終了時刻は両方入力するか、終日なら両方空けてください。"),
            )
        elif start is not None and end is not None and not start < end:
            self.add_error("end_time", gettext("終了時刻は開始時刻より後にしてください。"))
        return cleaned


class _SupervisorsEdit:
    """Only a supervisor of the counselor's office edits it; counselors see (rule 4)."""

    def _supervises(self, request: HttpRequest, obj: Counselor | None) -> bool:
        if request.user.is_superuser:
            return True
        supervised = scope.supervised_office_ids(request)
        if obj is None or obj.pk is None:
            return bool(supervised)
        return obj.office_id in supervised


class DutyWindowInline(_SupervisorsEdit, admin.TabularInline):
    model = DutyWindow
    form = DutyWindowForm
    formset = DutyWindowFormSet
    formfield_overrides = _TIME_WIDGET
    extra = 0
    fields = ("weekday", "start_time", "end_time")
    verbose_name = _("勤務時間帯（毎週）")
    verbose_name_plural = _("勤務時間帯（毎週）")

    def has_add_permission(self, request: HttpRequest, obj: Counselor | None = None) -> bool:
        return super().has_add_permission(request, obj) and self._supervises(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Counselor | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._supervises(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Counselor | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._supervises(request, obj)


class DutyExceptionInline(DutyWindowInline):
    model = DutyException
    form = DutyExceptionForm
    formset = forms.BaseInlineFormSet
    fields = ("date", "kind", "start_time", "end_time", "note")
    verbose_name = _("勤務の例外（休暇・研修・追加の勤務）")
    verbose_name_plural = _("勤務の例外（休暇・研修・追加の勤務）。時刻が空欄なら終日です。")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The exceptions still to come, and the last weeks' for reference.
        since = timezone.now().astimezone(rules.TOKYO).date() - timedelta(days=28)
        return super().get_queryset(request).filter(date__gte=since)


@admin.register(Counselor)
class CounselorAdmin(_SupervisorsEdit, OfficeScopedAdmin):
    form = CounselorForm
    change_list_template = "reservations/admin/counselor_change_list.html"
    list_display = ("display_name", "office", "zoom_user", "duty", "is_active")
    list_filter = ("office", "is_active")
    search_fields = ("display_name", "user__username", "zoom_user")
    list_select_related = ("office",)
    inlines = [DutyWindowInline, DutyExceptionInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("duty_windows")

    @admin.display(description=_("毎週の勤務"))
    def duty(self, obj: Counselor) -> str:
        return ", ".join(str(window) for window in obj.duty_windows.all()) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._supervises(request, None)

    def has_change_permission(self, request: HttpRequest, obj: Counselor | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._supervises(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Counselor | None = None) -> bool:
        # Bookings keep their counselor: take one off counselling instead (相談を担当する).
        return False

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: object):  # noqa: ANN001, ANN201
        if db_field.name == "office":
            kwargs["queryset"] = selectors.offices_of(request.user, role=StaffRole.SUPERVISOR)
        if db_field.name == "user":
            kwargs["queryset"] = selectors.staff_of_offices(
                selectors.offices_of(request.user, role=StaffRole.SUPERVISOR)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Counselor, form, change: bool) -> None:  # noqa: ANN001
        pass  # saved with its duty, through the services (save_related)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:  # noqa: ANN001
        counselor = form.instance
        results = [services.counselor_save(counselor=counselor, actor=request.user)]
        for formset in formsets:
            if formset.model is DutyWindow:
                # Saved as a whole by the service: nothing for the admin's history to list.
                formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
                if formset.has_changed():
                    results.append(
                        services.duty_windows_save(
                            counselor=counselor, windows=formset.kept_windows(), actor=request.user
                        )
                    )
            elif formset.model is DutyException:
                formset.instance = counselor
                for exception in formset.save(commit=False):
                    exception.counselor = counselor
                    results.append(
                        services.duty_exception_save(exception=exception, actor=request.user)
                    )
                for exception in formset.deleted_objects:
                    results.append(
                        services.duty_exception_delete(exception=exception, actor=request.user)
                    )
        self._report(request, results)

    def _report(self, request: HttpRequest, results: list[services.RotaFollowUp]) -> None:
        moved = sum(r.reassigned for r in results)
        flagged = sum(r.needs_reassignment for r in results)
        if moved:
            messages.info(
                request,
                ngettext(
                    "%(count)s件の予約を、手の空いている別の相談員に割り当てました。",
                    "%(count)s件の予約を、手の空いている別の相談員に割り当てました。",
                    moved,
                )
                % {"count": moved},
            )
        if flagged:
            messages.warning(
                request,
                ngettext(
                    "%(count)s件の予約は、代わりの相談員がいないため「要再割当」です。"
                    "日時を変更するか、キャンセルしてください。",
                    "%(count)s件の予約は、代わりの相談員がいないため「要再割当」です。"
                    "日時を変更するか、キャンセルしてください。",
                    flagged,
                )
                % {"count": flagged},
            )

    # -- the rota page -------------------------------------------------------------------

    def get_urls(self) -> list:
        return [
            path(
                "rota/",
                self.admin_site.admin_view(self.rota_view),
                name="reservations_counselor_rota",
            ),
            *super().get_urls(),
        ]

    def rota_view(self, request: HttpRequest) -> HttpResponse:
        """The office's next two weeks: who is on duty in each slot, the places, closures."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        offices = list(self.allowed_offices(request).order_by("id"))
        chosen = request.GET.get("office", "")
        office = next((o for o in offices if str(o.pk) == chosen), None)
        if office is None:
            current = working_office(request)
            office = next((o for o in offices if current and o.pk == current.pk), None)
        office = office or (offices[0] if offices else None)
        today = timezone.now().astimezone(rules.TOKYO).date()
        days = selectors.rota_preview(office, today) if office is not None else []
        return TemplateResponse(
            request,
            "reservations/admin/rota.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": gettext("勤務表（今後2週間）"),
                "office": office,
                "offices": offices,
                "days": [
                    {
                        "day": row.day,
                        "closed": CLOSED_LABELS.get(row.closed) if row.closed else None,
                        "slots": row.slots,
                    }
                    for row in days
                ],
                "can_edit": self._supervises(request, None),
                "list_url": reverse("admin:reservations_counselor_changelist"),
            },
        )
