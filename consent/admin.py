"""Staff pages for the terms versions and the consent ledger.

Terms versions: supervisors write a draft, preview it and publish it; a published version
is read-only. Consents: read and export only; nobody can add, change or delete one here.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consent import document, selectors, services
from consent.models import (
    ENVIRONMENT_ITEMS,
    Consent,
    TermsChangeNotice,
    TermsTranslation,
    TermsVersion,
)
from reservations.admin.scope import OfficeScopedAdmin, working_office
from reservations.exports import csv_cell
from reservations.models import StaffRole
from reservations.rules import TOKYO

logger = logging.getLogger(__name__)


def _terms_state(version: TermsVersion) -> str:
    if not version.is_published:
        return _("下書き")
    today = timezone.now().astimezone(TOKYO).date()
    if version.effective_date > today:
        return _("施行予定")
    current = selectors.terms_in_force(version.office_id, timezone.now())
    if current is not None and current.pk == version.pk:
        return _("施行中")
    return _("過去の版")


@admin.register(TermsVersion)
class TermsVersionAdmin(OfficeScopedAdmin):
    office_role = StaffRole.SUPERVISOR
    list_display = ("version", "title", "office", "effective_date", "state", "published_at")
    list_filter = ("office",)
    ordering = ("-effective_date", "-id")
    actions = ["publish_selected"]
    fields = (
        "office",
        "version",
        "effective_date",
        "title",
        "body",
        "issued_label",
        "issuer",
        "hash_display",
        "state",
        "published_at",
        "published_by",
        "links",
    )
    readonly_fields = ("hash_display", "state", "published_at", "published_by", "links")

    @admin.display(description=gettext_lazy("状態"))
    def state(self, obj: TermsVersion) -> str:
        return _terms_state(obj) if obj.pk else _("下書き")

    @admin.display(description=gettext_lazy("本文のハッシュ（SHA-256）"))
    def hash_display(self, obj: TermsVersion) -> str:
        if obj.is_published:
            return obj.content_hash
        if not obj.pk:
            return "—"
        return _("%(hash)s（公開の時点で確定します）") % {"hash": obj.compute_hash()}

    @admin.display(description=gettext_lazy("操作"))
    def links(self, obj: TermsVersion) -> str:
        if not obj.pk:
            return "—"
        preview = reverse("admin:consent_termsversion_preview", args=[obj.pk])
        if obj.is_published:
            public = reverse("consent:terms-version", args=[obj.version])
            return format_html(
                '<a href="{}">{}</a> · <a href="{}">{}</a>',
                preview,
                _("プレビュー"),
                public,
                _("公開ページ"),
            )
        publish = reverse("admin:consent_termsversion_publish", args=[obj.pk])
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            preview,
            _("プレビュー"),
            publish,
            _("公開する…"),
        )

    def get_readonly_fields(self, request: HttpRequest, obj: TermsVersion | None = None) -> Any:
        if obj is not None and obj.is_published:
            return self.fields
        return self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new version starts from the text in force, so only the changes need typing.
        initial = super().get_changeform_initial_data(request)
        office = working_office(request)
        if office is None:
            return initial
        current = selectors.terms_in_force(office.pk, timezone.now())
        if current is not None:
            for name in ("title", "body", "issued_label", "issuer"):
                initial.setdefault(name, getattr(current, name))
        return initial

    def has_change_permission(self, request: HttpRequest, obj: TermsVersion | None = None) -> bool:
        # Art. 13: a published text is what people agreed to; it is shown, never edited.
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: TermsVersion | None = None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def has_publish_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consent.publish_termsversion")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        queryset.filter(published_at__isnull=True).delete()

    def get_urls(self) -> list:
        urls = super().get_urls()
        extra = [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="consent_termsversion_preview",
            ),
            path(
                "<int:pk>/publish/",
                self.admin_site.admin_view(self.publish_view),
                name="consent_termsversion_publish",
            ),
        ]
        return extra + urls

    @admin.action(description=gettext_lazy("選択した下書きを公開する"), permissions=["publish"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet) -> Any:
        drafts = list(queryset.filter(published_at__isnull=True)[:2])
        if len(drafts) != 1 or queryset.count() != 1:
            self.message_user(
                request,
                _("公開は1件ずつ行います。下書きを1件だけ選んでください。"),
                messages.WARNING,
            )
            return None
        return HttpResponseRedirect(
            reverse("admin:consent_termsversion_publish", args=[drafts[0].pk])
        )

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The version as the public page will show it, drafts included."""
        version = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_view_permission(request, version):
            raise PermissionDenied
        parsed, error = None, ""
        try:
            parsed = version.parsed()
        except document.DocumentError as exc:
            error = str(exc)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": version,
            "title": _("プレビュー: %(version)s") % {"version": version.version},
            "terms": version,
            "document": parsed,
            "error": error,
        }
        return TemplateResponse(request, "consent/admin/preview.html", context)

    def publish_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Confirm, then publish: the text is frozen and holders of bookings are told."""
        if not self.has_publish_permission(request):
            raise PermissionDenied
        version = get_object_or_404(self.get_queryset(request), pk=pk)
        change_url = reverse("admin:consent_termsversion_change", args=[version.pk])
        if version.is_published:
            self.message_user(request, _("この版はすでに公開されています。"), messages.INFO)
            return HttpResponseRedirect(change_url)
        if request.method == "POST":
            try:
                services.terms_publish(terms_version=version, actor=request.user)
            except services.TermsError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(change_url)
            self.message_user(
                request,
                _("版「%(version)s」を公開しました。本文は今後変更できません。")
                % {"version": version.version},
                messages.SUCCESS,
            )
            return HttpResponseRedirect(change_url)
        to_notify = selectors.bookings_to_notify(version, timezone.now())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": version,
            "title": _("利用規約の版を公開する"),
            "terms": version,
            "hash": version.compute_hash(),
            "people": len({r.person_key for r in to_notify}),
            "announced": version.effective_date > timezone.now().astimezone(TOKYO).date(),
        }
        return TemplateResponse(request, "consent/admin/publish_confirm.html", context)


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(consents: QuerySet[Consent]) -> Iterator[list[str]]:
    yield [
        _("同意ID"),
        _("予約番号"),
        _("同意日時"),
        _("規約の版"),
        _("規約の施行日"),
        _("同意した本文のハッシュ"),
        _("ハッシュが規約の版と一致"),
        _("アプリ"),
        _("アプリの利用規約への同意（第4条）"),
        *(key for key in ENVIRONMENT_ITEMS),
        _("同意の方法"),
        _("記録した職員"),
        _("IPアドレス"),
        _("ブラウザ（ユーザーエージェント）"),
        _("画面の言語"),
        _("参考訳の言語"),
        _("参考訳のハッシュ（SHA-256）"),
        _("個人情報の取扱いの版"),
        _("求職番号"),
        _("メールアドレス"),
        _("個人情報の消去日時"),
    ]
    for consent in consents.iterator(chunk_size=500):
        yield [
            csv_cell(v)
            for v in (
                consent.pk,
                consent.reservation.reference,
                consent.given_at.astimezone(TOKYO).isoformat(),
                consent.terms_version.version,
                consent.terms_version.effective_date.isoformat(),
                consent.terms_hash,
                "1" if consent.terms_hash == consent.terms_version.content_hash else "0",
                consent.platform,
                "1" if consent.platform_terms_accepted else "0",
                *("1" if consent.items.get(key) is True else "0" for key in ENVIRONMENT_ITEMS),
                consent.method,
                consent.recorded_by.get_username() if consent.recorded_by else "",
                consent.ip_address or "",
                consent.user_agent,
                consent.language,
                consent.translation_language,
                consent.translation_hash,
                consent.privacy_version,
                consent.seeker_number,
                consent.email,
                consent.anonymized_at.astimezone(TOKYO).isoformat()
                if consent.anonymized_at
                else "",
            )
        ]


@admin.register(Consent)
class ConsentAdmin(OfficeScopedAdmin):
    list_display = (
        "given_at",
        "reservation",
        "terms_version",
        "method",
        "platform",
        "language",
        "ip_address",
        "recorded_by",
    )
    list_filter = ("terms_version", "method", "platform", "given_at")
    date_hierarchy = "given_at"
    search_fields = ("reservation__reference",)
    list_select_related = ("reservation", "terms_version", "recorded_by")
    actions = ["export_csv"]
    fields = (
        "reservation",
        "terms_version",
        "terms_hash",
        "hash_matches",
        "platform",
        "platform_terms_accepted",
        "items",
        "method",
        "recorded_by",
        "given_at",
        "ip_address",
        "user_agent",
        "language",
        "translation_language",
        "translation_hash",
        "privacy_version",
        "seeker_number",
        "email",
        "anonymized_at",
    )

    @admin.display(description=gettext_lazy("本文のハッシュが規約の版と一致"), boolean=True)
    def hash_matches(self, obj: Consent) -> bool:
        return obj.terms_hash == obj.terms_version.content_hash

    def get_readonly_fields(self, request: HttpRequest, obj: Consent | None = None) -> Any:
        return self.fields

    # Append-only (Art. 7(1)): nobody adds, changes or deletes a consent here.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Consent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Consent | None = None) -> bool:
        return False

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consent.export_consent")

    @admin.action(
        description=gettext_lazy("選択した同意の記録をCSVで書き出す（監査用）"),
        permissions=["export"],
    )
    def export_csv(
        self, request: HttpRequest, queryset: QuerySet[Consent]
    ) -> StreamingHttpResponse:
        # Personal data leaves only for the offices this user supervises.
        consents = selectors.consents_for_export(
            queryset.filter(reservation__office__in=self.supervised_offices(request))
        )
        # Who exported personal data, and how much: ids only, never the data (rule 15).
        logger.info("consent export by user %s: %s records", request.user.pk, consents.count())
        writer = csv.writer(_Echo())
        stamp = timezone.now().astimezone(TOKYO).strftime("%Y%m%d-%H%M")

        def rows() -> Iterator[str]:
            yield "\ufeff"  # a BOM, so spreadsheet programs read the Japanese as UTF-8
            for row in _csv_rows(consents):
                yield writer.writerow(row)

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="consents-{stamp}.csv"'
        return response


@admin.register(TermsChangeNotice)
class TermsChangeNoticeAdmin(OfficeScopedAdmin):
    office_role = StaffRole.SUPERVISOR

    list_display = ("created_at", "terms_version", "reservation", "emailed")
    list_filter = ("terms_version", "emailed")
    list_select_related = ("terms_version", "reservation")
    search_fields = ("reservation__reference",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("terms_version", "reservation", "emailed", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TermsTranslation)
class TermsTranslationAdmin(admin.ModelAdmin):
    """The reference translations, to read: they are loaded from files with
    `manage.py terms_load_translations` and frozen with their published version."""

    list_display = ("terms_version", "language", "content_hash", "created_at")
    list_filter = ("terms_version", "language")
    fields = ("terms_version", "language", "content_hash", "created_at", "text")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
