"""職員の所属 (supervisors): the staff of one's own offices, their roles, new accounts.

A supervisor sees and changes the memberships of the offices they supervise, never a
superuser's and never another office's; a new account is made through
`reservations.staff.staff_save`, which never makes a superuser.
"""

from __future__ import annotations

from axes.admin import AccessAttemptAdmin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from reservations import selectors, staff
from reservations.admin.scope import NotFoundOutsideScope, OfficeScopedAdmin
from reservations.models import Office, StaffMembership, StaffRole


class StaffAddForm(forms.ModelForm):
    """A staff member for one of the supervisor's offices: a new account or a colleague's."""

    username = forms.CharField(label=_("ユーザー名"), max_length=150)
    last_name = forms.CharField(label=_("姓"), max_length=150, required=False)
    first_name = forms.CharField(label=_("名"), max_length=150, required=False)
    email = forms.EmailField(label=_("メールアドレス"), required=False)
    password = forms.CharField(
        label=_("パスワード"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("新しい職員には必要です（12文字以上）。既にいる職員では空欄のままにします。"),
    )

    class Meta:
        model = StaffMembership
        fields = ["office", "role"]

    managed_by = None  # set by the admin: the supervisor adding

    def clean(self) -> dict:
        cleaned = super().clean()
        office: Office | None = cleaned.get("office")
        if office is None or self.errors:
            return cleaned
        try:
            existing = staff.staff_check(
                username=cleaned.get("username", ""),
                offices=[office],
                email=cleaned.get("email") or None,
                password=cleaned.get("password") or None,
                managed_by=self.managed_by,
            )
        except staff.StaffRefused as refusal:
            self.add_error(refusal.field, refusal.message)
            return cleaned
        if existing is None and not cleaned.get("password"):
            self.add_error("password", _("新しい職員のパスワードを入力してください。"))
        return cleaned


@admin.register(StaffMembership)
class StaffMembershipAdmin(OfficeScopedAdmin):
    office_role = StaffRole.SUPERVISOR
    list_display = ("username", "full_name", "email", "office", "role")
    list_filter = ("office", "role")
    search_fields = ("user__username", "user__last_name", "user__first_name", "user__email")
    list_select_related = ("user", "office")
    ordering = ("office", "user__username")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # National administrators are managed by each other, never by a supervisor.
        queryset = super().get_queryset(request).select_related("user", "office")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(user__is_superuser=False)

    def get_form(self, request: HttpRequest, obj: StaffMembership | None = None, **kwargs: object):  # noqa: ANN201
        if obj is None:
            kwargs["form"] = StaffAddForm
        form = super().get_form(request, obj, **kwargs)
        form.managed_by = None if request.user.is_superuser else request.user
        return form

    def get_fields(self, request: HttpRequest, obj: StaffMembership | None = None) -> list:
        if obj is None:
            return ["username", "last_name", "first_name", "email", "password", "office", "role"]
        return ["user", "office", "role"]

    def get_readonly_fields(self, request: HttpRequest, obj: StaffMembership | None = None):  # noqa: ANN201
        return () if obj is None else ("user", "office")

    @admin.display(description=_("ユーザー名"), ordering="user__username")
    def username(self, obj: StaffMembership) -> str:
        return obj.user.get_username()

    @admin.display(description=_("氏名"))
    def full_name(self, obj: StaffMembership) -> str:
        return obj.user.get_full_name()

    @admin.display(description=_("メールアドレス"))
    def email(self, obj: StaffMembership) -> str:
        return obj.user.email

    def save_model(self, request: HttpRequest, obj: StaffMembership, form, change: bool) -> None:  # noqa: ANN001
        data = form.cleaned_data
        if change:
            saved = staff.staff_save(
                username=obj.user.get_username(),
                offices=[obj.office],
                role=StaffRole(obj.role),
                managed_by=None if request.user.is_superuser else request.user,
            )
        else:
            saved = staff.staff_save(
                username=data["username"],
                offices=[data["office"]],
                role=StaffRole(data["role"]),
                email=data.get("email") or None,
                password=data.get("password") or None,
                first_name=data.get("first_name") or None,
                last_name=data.get("last_name") or None,
                managed_by=None if request.user.is_superuser else request.user,
            )
        office = obj.office if change else data["office"]
        saved_row = StaffMembership.objects.get(user=saved.user, office=office)
        obj.pk = saved_row.pk
        obj.user = saved.user
        obj._state.adding = False
        obj._state.db = saved_row._state.db

    def delete_model(self, request: HttpRequest, obj: StaffMembership) -> None:
        staff.staff_membership_remove(membership=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for membership in queryset:
            staff.staff_membership_remove(membership=membership)


class ScopedAccessAttemptAdmin(NotFoundOutsideScope, AccessAttemptAdmin):
    """Locked-out logins (axes): a supervisor sees only their own offices' staff."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            username__in=selectors.memberships_managed_by(request.user).values("user__username")
        )


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, ScopedAccessAttemptAdmin)
