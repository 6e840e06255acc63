"""Each slot's waiting list (キャンセル待ち, rule 16) and its offers, read-only, per office.

Entries change only through the services (join, offer, claim, leave, the periodic job); staff
look at who is in line, what was offered until when, and which request a claim became.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from reservations.admin.scope import OfficeScopedAdmin
from reservations.models import OutgoingEmail, WaitlistEntry
from reservations.templatetags.seeker_dates import format_datetime

EMPTY = "—"


class WaitlistEmailInline(admin.TabularInline):
    model = OutgoingEmail
    fk_name = "waitlist_entry"
    fields = ("kind", "status", "created_at", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    verbose_name = _("送信メール")
    verbose_name_plural = _("送信メール")

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(OfficeScopedAdmin):
    list_display = (
        "slot_display",
        "joined_display",
        "name",
        "status",
        "offer_until_display",
        "booking",
    )
    list_filter = ("status", "office", "platform", "language")
    list_select_related = ("slot", "reservation")
    search_fields = ("name", "seeker_number", "email", "reservation__reference")
    search_help_text = _("氏名・求職番号・メールアドレス・予約番号で検索できます。")
    date_hierarchy = "created_at"
    ordering = ("slot__starts_at", "created_at", "id")
    fields = (
        "office",
        "slot",
        "status",
        "name",
        "seeker_number",
        "about_to_register",
        "email",
        "platform",
        "language",
        "created_at",
        "closes_at",
        "offered_at",
        "offer_expires_at",
        "offer_place",
        "finished_at",
        "booking",
        "anonymized_at",
    )
    readonly_fields = fields
    inlines = [WaitlistEmailInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False

    @admin.display(description=_("相談枠"), ordering="slot__starts_at")
    def slot_display(self, obj: WaitlistEntry) -> str:
        return format_datetime(obj.slot.starts_at)

    @admin.display(description=_("登録日時"), ordering="created_at")
    def joined_display(self, obj: WaitlistEntry) -> str:
        return format_datetime(obj.created_at)

    @admin.display(description=_("案内の期限"), ordering="offer_expires_at")
    def offer_until_display(self, obj: WaitlistEntry) -> str:
        return format_datetime(obj.offer_expires_at) if obj.offer_expires_at else EMPTY

    @admin.display(description=_("予約"))
    def booking(self, obj: WaitlistEntry) -> str:
        if obj.reservation_id is None:
            return EMPTY
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:reservations_reservation_change", args=[obj.reservation_id]),
            obj.reservation.reference,
        )
