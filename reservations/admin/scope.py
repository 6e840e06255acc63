"""Which offices a staff member sees: one mixin for every model admin, and the working office.

Every admin page reads through `OfficeScopedAdmin.get_queryset`, which keeps the rows of
`selectors.offices_of(user)` (rule 15): lists, searches, filters, change pages, actions,
exports and the custom pages built on them. Another office's object is "not found" (404),
never "forbidden", so a direct URL does not confirm that it exists. The working office (in
the session) is the one 本日の相談, the statistics and new records start from.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from consent.models import Consent, TermsChangeNotice, TermsVersion
from reservations import selectors
from reservations.models import (
    CapacityOverride,
    Closure,
    Counselor,
    DutyException,
    DutyWindow,
    Office,
    OutgoingEmail,
    Reservation,
    ReservationEvent,
    Restriction,
    SessionWindow,
    Slot,
    StaffMembership,
    StaffRole,
    WaitlistEntry,
    ZoomMeeting,
)

# How each model reaches its office: the one table the scoping reads.
OFFICE_PATHS: dict[type[Model], str] = {
    Office: "pk",
    SessionWindow: "office",
    Closure: "office",
    CapacityOverride: "office",
    Slot: "office",
    Reservation: "office",
    ReservationEvent: "reservation__office",
    Restriction: "office",
    OutgoingEmail: "reservation__office",
    ZoomMeeting: "reservation__office",
    StaffMembership: "office",
    Counselor: "office",
    DutyWindow: "counselor__office",
    DutyException: "counselor__office",
    TermsVersion: "office",
    Consent: "reservation__office",
    TermsChangeNotice: "terms_version__office",
    WaitlistEntry: "office",
}

SESSION_KEY = "hw_working_office"


def scoped(queryset: QuerySet, offices: QuerySet[Office]) -> QuerySet:
    """`queryset` cut to the rows of `offices` (a subquery: no extra query)."""
    return queryset.filter(**{f"{OFFICE_PATHS[queryset.model]}__in": offices})


def my_offices(request: HttpRequest) -> list[Office]:
    """The offices of the signed-in staff member, read once per request."""
    if not hasattr(request, "_hw_offices"):
        request._hw_offices = list(selectors.offices_of(request.user).order_by("id"))
    return request._hw_offices


def supervised_office_ids(request: HttpRequest) -> set[int]:
    """The ids of the offices the signed-in staff member supervises, read once per request
    (every admin page's app list asks whether they may edit counselors)."""
    if not hasattr(request, "_hw_supervised"):
        request._hw_supervised = set(
            selectors.offices_of(request.user, role=StaffRole.SUPERVISOR).values_list(
                "pk", flat=True
            )
        )
    return request._hw_supervised


def working_office(request: HttpRequest) -> Office | None:
    """The office the staff member is working in: the one chosen in the session, else the
    first of theirs (None when they have none)."""
    offices = my_offices(request)
    chosen = request.session.get(SESSION_KEY)
    for office in offices:
        if office.pk == chosen:
            return office
    return offices[0] if offices else None


@require_POST
def switch_office(request: HttpRequest) -> HttpResponse:
    """The header's switcher: work in another of one's own offices (any other is 404)."""
    try:
        wanted = int(request.POST.get("office", ""))
    except ValueError:
        raise Http404 from None
    if not any(office.pk == wanted for office in my_offices(request)):
        raise Http404
    request.session[SESSION_KEY] = wanted
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    return HttpResponseRedirect(target)


def staff_offices(request: HttpRequest) -> dict:
    """Context processor: the working office and the switcher's choices, for admin pages."""
    user = getattr(request, "user", None)
    if user is None or not request.path.startswith(reverse("admin:index")):
        return {}
    if not (user.is_authenticated and user.is_staff):
        return {}
    return {
        "working_office": SimpleLazyObject(lambda: working_office(request)),
        "working_offices": SimpleLazyObject(lambda: my_offices(request)),
    }


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A filter on an office (or a terms version…) offering only the user's offices' rows."""

    def field_choices(self, field, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:  # noqa: ANN001
        related = field.related_model
        rows = scoped(related._default_manager.all(), model_admin.allowed_offices(request))
        return [(row.pk, str(row)) for row in rows]


class NotFoundOutsideScope(admin.ModelAdmin):
    """Records outside `get_queryset` are not found: a direct URL or a POST naming one is a
    404 (never "forbidden", never "deleted?") and changes nothing."""

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts, object_id: str):  # noqa: ANN001, ANN202
        raise Http404

    def _require_in_scope(self, request: HttpRequest, object_id: str, *, allowed: bool) -> None:
        # A page of a kind the user may never open stays "forbidden", for every record
        # alike; within what they may open, another office's record is not found.
        if not allowed:
            raise PermissionDenied
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404

    def change_view(self, request: HttpRequest, object_id: str, *args: object, **kwargs: object):  # noqa: ANN201
        self._require_in_scope(
            request, object_id, allowed=self.has_view_or_change_permission(request)
        )
        return super().change_view(request, object_id, *args, **kwargs)

    def delete_view(self, request: HttpRequest, object_id: str, *args: object, **kwargs: object):  # noqa: ANN201
        self._require_in_scope(request, object_id, allowed=self.has_delete_permission(request))
        return super().delete_view(request, object_id, *args, **kwargs)

    def history_view(self, request: HttpRequest, object_id: str, *args: object, **kwargs: object):  # noqa: ANN201
        self._require_in_scope(
            request, object_id, allowed=self.has_view_or_change_permission(request)
        )
        return super().history_view(request, object_id, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, *args: object, **kwargs: object):  # noqa: ANN201
        """An action on rows of another office is not found, and runs on nothing."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if request.method == "POST" and selected:
            if not all(value.isdigit() and len(value) <= 18 for value in selected):
                raise Http404
            wanted = {int(value) for value in selected}
            if self.get_queryset(request).filter(pk__in=wanted).count() != len(wanted):
                raise Http404
        return super().changelist_view(request, *args, **kwargs)


class OfficeScopedAdmin(NotFoundOutsideScope):
    """Every model admin: only the user's offices' rows, choices and filters; others 404."""

    # SUPERVISOR for the supervisors' pages: a counselor in one office and supervisor in
    # another sees these for the second only.
    office_role: StaffRole | None = None

    def allowed_offices(self, request: HttpRequest) -> QuerySet[Office]:
        return selectors.offices_of(request.user, role=self.office_role)

    def supervised_offices(self, request: HttpRequest) -> QuerySet[Office]:
        return selectors.offices_of(request.user, role=StaffRole.SUPERVISOR)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return scoped(super().get_queryset(request), self.allowed_offices(request))

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs: object):  # noqa: ANN001, ANN201
        if db_field.related_model in OFFICE_PATHS:
            kwargs["queryset"] = scoped(
                db_field.related_model._default_manager.all(), self.allowed_offices(request)
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> list:
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.opts.get_field(item)
                if field.is_relation and field.related_model in OFFICE_PATHS:
                    item = (item, ScopedRelatedFilter)
            filters.append(item)
        return filters

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        initial = super().get_changeform_initial_data(request)
        office = working_office(request)
        if office is not None and any(f.name == "office" for f in self.opts.fields):
            initial.setdefault("office", office.pk)
        return initial
