"""Terms of use as versioned data, and the append-only record of each consent.

Both are evidence: a published version is the text people agreed to (Art. 6(3), 13), and a
consent proves who agreed to which version, to which items, when and from where (Art. 7(1)).
So neither can be changed once written. The model and its queryset refuse it here; the
database refuses it too (triggers in migration 0004), for code that goes around the ORM.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from consent import document
from reservations import shared_cache

# Art. 5 (environment) and Art. 2(2) (a device with a camera): each is confirmed one by one.
ENVIRONMENT_ITEMS: dict[str, str] = {
    "secure_device": _("ウイルス感染などのない安全な端末を使います（第5条(1)）。"),
    "safe_network": _(
        "安全性が分からない無料Wi-Fiなどは使わず、管理されたインターネット回線を使います（第5条(2)）。"
    ),
    "supported_os": _("サポート期間中のOSに最新のセキュリティ更新を適用しています（第5条(3)）。"),
    "firewall": _("ファイアウォールを有効にしています（第5条(4)）。"),
    "no_file_sharing": _(
        "ファイル共有ソフトを入れておらず、相談中は不要なソフトを起動しません（第5条(5)）。"
    ),
    "antivirus": _("ウイルス対策ソフトを入れ、最新の状態にしています（第5条(6)）。"),
    "camera": _("カメラ付きのスマートフォンやパソコンで通信できます（第2条(2)）。"),
}

# Art. 5: the environment, declared with one tick on the form and recorded item by item.
ART5_ITEMS: tuple[str, ...] = tuple(key for key in ENVIRONMENT_ITEMS if key != "camera")
# Art. 2(2): a device with a camera, confirmed on its own.
CAMERA_ITEM = "camera"

# The columns of a published version that make up the text people agree to.
FROZEN_TERMS_FIELDS = (
    "office",
    "version",
    "title",
    "body",
    "issuer",
    "issued_label",
    "effective_date",
    "content_hash",
    "published_at",
    "published_by",
)
# The privacy notice (/privacy/) in force: a consent records the version it was shown.
PRIVACY_NOTICE_VERSION = "2026-12-01"

# What the retention purge may blank in a consent, once (rule 15, Art. 8).
CONSENT_PERSONAL_FIELDS = ("seeker_number", "email", "ip_address", "user_agent")

VERSION_LABEL = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]*$")


class ImmutableRecordError(Exception):
    """An attempt to change or delete a record that must stay as it was written."""


class TermsVersionQuerySet(models.QuerySet):
    def published(self) -> TermsVersionQuerySet:
        return self.filter(published_at__isnull=False)

    def update(self, **kwargs: Any) -> int:
        if self.published().exists():
            raise ImmutableRecordError("published terms versions cannot be changed")
        updated = super().update(**kwargs)
        # A draft published by an update: pages keep the published versions in the shared
        # cache (reservations/offices.py).
        shared_cache.offices_changed()
        return updated

    def bulk_create(self, *args: Any, **kwargs: Any) -> list[TermsVersion]:
        created = super().bulk_create(*args, **kwargs)
        shared_cache.offices_changed()  # as update()
        return created

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        pks = [obj.pk for obj in objs]
        if TermsVersion.objects.filter(pk__in=pks).published().exists():
            raise ImmutableRecordError("published terms versions cannot be changed")
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self.published().exists():
            raise ImmutableRecordError("published terms versions cannot be deleted")
        return super().delete()


class TermsVersion(models.Model):
    """One version of an office's terms of use (Art. 13): frozen once published."""

    office = models.ForeignKey(
        "reservations.Office",
        on_delete=models.PROTECT,
        related_name="terms_versions",
        verbose_name=_("ハローワーク"),
    )
    version = models.CharField(
        _("版"),
        max_length=40,
        validators=[
            RegexValidator(
                VERSION_LABEL,
                _("版は半角英数字とハイフン・ピリオドで入力してください（例: 2027-04-01）。"),
            )
        ],
        help_text=_("URL に使われます（例: 2027-04-01 → /terms/2027-04-01/）。"),
    )
    title = models.CharField(_("表題"), max_length=200)
    body = models.TextField(
        _("本文"),
        help_text=_(
            "条ごとに「（見出し）」の行、「第1条 …」の行、項は「- (1) …」、"
            "号は先頭に空白を入れた「 - ① …」の形で書きます。空行で段落を区切ります。"
        ),
    )
    issuer = models.CharField(
        _("制定者"), max_length=200, help_text=_("例: 伊勢崎公共職業安定所長")
    )
    issued_label = models.CharField(
        _("制定日の表記"), max_length=60, help_text=_("例: 令和5年4月1日")
    )
    effective_date = models.DateField(_("施行日"))
    content_hash = models.CharField(
        _("本文のハッシュ（SHA-256）"), max_length=64, blank=True, editable=False
    )
    published_at = models.DateTimeField(_("公開日時"), null=True, blank=True, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        verbose_name=_("公開した職員"),
    )
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)

    objects = TermsVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("利用規約の版")
        verbose_name_plural = _("利用規約の版")
        ordering = ["-effective_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["office", "version"], name="unique_terms_version"),
            # Two published versions never take effect on the same day: one is in force.
            models.UniqueConstraint(
                fields=["office", "effective_date"],
                condition=Q(published_at__isnull=False),
                name="one_published_terms_per_effective_date",
            ),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | ~Q(content_hash=""),
                name="published_terms_have_a_hash",
            ),
        ]
        permissions = [("publish_termsversion", _("利用規約の版を公開できる"))]

    def __str__(self) -> str:
        return f"{self.title} ({self.version})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Art. 13: the published text is what people agreed to; a new text is a new version.
        if not self._state.adding and self.pk is not None:
            stored = TermsVersion.objects.filter(pk=self.pk).values("published_at").first()
            if stored is not None and stored["published_at"] is not None:
                raise ImmutableRecordError("published terms versions cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.pk is not None and TermsVersion.objects.filter(pk=self.pk).published().exists():
            raise ImmutableRecordError("published terms versions cannot be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def compute_hash(self) -> str:
        """SHA-256 of the full text (title, body, date line, issuer) as stored."""
        return document.content_hash(
            title=self.title, body=self.body, issued_label=self.issued_label, issuer=self.issuer
        )

    def full_text(self) -> str:
        return document.full_text(
            title=self.title, body=self.body, issued_label=self.issued_label, issuer=self.issuer
        )

    def parsed(self) -> document.Document:
        return document.parse(self.body)

    def clean(self) -> None:
        if self.body:
            try:
                document.parse(self.body)
            except document.DocumentError as exc:
                raise ValidationError(
                    {"body": _("本文を条文として読み取れません: %(error)s") % {"error": exc}}
                ) from exc


class TermsTranslationQuerySet(models.QuerySet):
    """Translations of a published version are frozen with it; new ones may still be added."""

    def _frozen(self) -> bool:
        return self.filter(terms_version__published_at__isnull=False).exists()

    def update(self, **kwargs: Any) -> int:
        if self._frozen():
            raise ImmutableRecordError("translations of published terms cannot be changed")
        return super().update(**kwargs)

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        pks = [obj.pk for obj in objs]
        if TermsTranslation.objects.filter(pk__in=pks)._frozen():
            raise ImmutableRecordError("translations of published terms cannot be changed")
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def delete(self) -> tuple[int, dict[str, int]]:
        if self._frozen():
            raise ImmutableRecordError("translations of published terms cannot be deleted")
        return super().delete()


class TermsTranslation(models.Model):
    """A reference translation of one terms version; the Japanese text stays binding.

    Written in the layout of `document.parse_translation` (`## Art. N …` per article). Once
    the version is published, a translation is as frozen as the Japanese text (the model and
    the triggers of migration 0007 refuse changes); a language finished later is added.
    """

    terms_version = models.ForeignKey(
        TermsVersion,
        on_delete=models.CASCADE,
        related_name="translations",
        verbose_name=_("規約の版"),
    )
    language = models.CharField(_("言語"), max_length=16)
    text = models.TextField(_("翻訳の本文"))
    content_hash = models.CharField(_("翻訳のハッシュ（SHA-256）"), max_length=64)
    created_at = models.DateTimeField(_("登録日時"))

    objects = TermsTranslationQuerySet.as_manager()

    class Meta:
        verbose_name = _("利用規約の参考訳")
        verbose_name_plural = _("利用規約の参考訳")
        ordering = ["terms_version", "language"]
        # Loaded from files by a command and read in the admin: nothing to grant but reading.
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["terms_version", "language"], name="one_terms_translation_per_language"
            ),
            # The Japanese text is the version itself, never a translation of it.
            models.CheckConstraint(
                condition=~Q(language__in=["", "ja"]), name="terms_translation_not_japanese"
            ),
            models.CheckConstraint(
                condition=~Q(content_hash=""),
                name="terms_translation_has_a_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.terms_version_id} / {self.language}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding and self.pk is not None and self._published():
            raise ImmutableRecordError("translations of published terms cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if self.pk is not None and self._published():
            raise ImmutableRecordError("translations of published terms cannot be deleted")
        return super().delete(*args, **kwargs)

    def _published(self) -> bool:
        return TermsVersion.objects.filter(pk=self.terms_version_id).published().exists()

    def parsed(self) -> document.Translation:
        return document.parse_translation(self.text)


class ConsentMethod(models.TextChoices):
    ONLINE = "online", _("申込画面で同意")
    VERBAL = "verbal", _("相談中に口頭で確認")


class ConsentQuerySet(models.QuerySet):
    """Consents are appended, read and exported; never changed or deleted."""

    def update(self, **kwargs: Any) -> int:
        raise ImmutableRecordError("consent records are append-only")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise ImmutableRecordError("consent records are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError("consent records are append-only")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRecordError("consent records are append-only")

    def anonymize(self, *, now: Any) -> int:
        """Blank the personal data of these consents, once (rule 15).

        The one change a consent may undergo: what was agreed, when and how stays.
        """
        blank = {"seeker_number": "", "email": "", "ip_address": None, "user_agent": ""}
        pending = self.filter(anonymized_at__isnull=True)
        return models.QuerySet.update(pending, **blank, anonymized_at=now)


class Consent(models.Model):
    """Who agreed to which terms, to which items, when, from where (Art. 6(3), 7(1))."""

    reservation = models.ForeignKey(
        "reservations.Reservation",
        on_delete=models.PROTECT,
        related_name="consents",
        verbose_name=_("予約"),
    )
    seeker_number = models.CharField(_("求職番号"), max_length=20, blank=True)
    email = models.EmailField(_("メールアドレス"), blank=True)
    terms_version = models.ForeignKey(
        TermsVersion, on_delete=models.PROTECT, related_name="consents", verbose_name=_("規約の版")
    )
    terms_hash = models.CharField(_("同意した本文のハッシュ"), max_length=64)
    platform = models.CharField(_("アプリ"), max_length=20)
    platform_terms_accepted = models.BooleanField(_("アプリの利用規約への同意（第4条）"))
    items = models.JSONField(_("確認した項目（第5条・第2条(2)）"))
    method = models.CharField(
        _("同意の方法"), max_length=20, choices=ConsentMethod.choices, default=ConsentMethod.ONLINE
    )
    given_at = models.DateTimeField(_("同意日時"), db_index=True)
    ip_address = models.GenericIPAddressField(_("IPアドレス"), null=True, blank=True)
    user_agent = models.TextField(_("ブラウザ（ユーザーエージェント）"), blank=True)
    language = models.CharField(_("画面の言語"), max_length=16)
    # Which reference translation of the terms the person was shown, if any (the Japanese
    # text of `terms_version` is what binds).
    translation = models.ForeignKey(
        TermsTranslation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consents",
        verbose_name=_("表示した参考訳"),
    )
    translation_language = models.CharField(_("参考訳の言語"), max_length=16, blank=True)
    translation_hash = models.CharField(_("参考訳のハッシュ（SHA-256）"), max_length=64, blank=True)
    privacy_version = models.CharField(_("個人情報の取扱いの版"), max_length=20, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        # PROTECT: who took a verbal consent is part of the evidence.
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("記録した職員"),
    )
    anonymized_at = models.DateTimeField(_("個人情報の消去日時"), null=True, blank=True)

    objects = ConsentQuerySet.as_manager()

    class Meta:
        verbose_name = _("同意の記録")
        verbose_name_plural = _("同意の記録")
        ordering = ["-given_at", "-id"]
        # Read and export only: no add/change/delete permission exists to be granted.
        default_permissions = ("view",)
        permissions = [("export_consent", _("同意の記録をCSVで書き出せる"))]
        constraints = [
            # Art. 4: the chosen application's own terms are part of the agreement.
            models.CheckConstraint(
                condition=Q(platform_terms_accepted=True), name="consent_platform_terms_accepted"
            ),
            # Art. 6(2): a second booking taken during a session names the counselor.
            models.CheckConstraint(
                condition=~Q(method=ConsentMethod.VERBAL) | Q(recorded_by__isnull=False),
                name="verbal_consent_names_the_staff",
            ),
            models.CheckConstraint(
                condition=Q(method__in=ConsentMethod.values), name="consent_method_valid"
            ),
            # A translation shown is named with its language and hash, or none of them is.
            models.CheckConstraint(
                condition=(
                    Q(translation__isnull=True, translation_language="", translation_hash="")
                    | (
                        Q(translation__isnull=False)
                        & ~Q(translation_language="")
                        & ~Q(translation_hash="")
                    )
                ),
                name="consent_translation_named_with_hash",
            ),
            *(
                # Art. 5, Art. 2(2): every item of the checklist was confirmed.
                models.CheckConstraint(
                    condition=Q(items__has_key=key) & Q(**{f"items__{key}": True}),
                    name=f"consent_item_{key}",
                )
                for key in ENVIRONMENT_ITEMS
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reservation_id} / {self.terms_version_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRecordError("consent records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableRecordError("consent records are append-only")


class TermsChangeNotice(models.Model):
    """A booking whose holder was told of a new terms version (Art. 13): once per person."""

    terms_version = models.ForeignKey(
        TermsVersion,
        on_delete=models.PROTECT,
        related_name="change_notices",
        verbose_name=_("規約の版"),
    )
    reservation = models.ForeignKey(
        "reservations.Reservation",
        on_delete=models.PROTECT,
        related_name="terms_notices",
        verbose_name=_("予約"),
    )
    emailed = models.BooleanField(
        _("メールを送った予約"),
        help_text=_("同じ人の他の予約には、この予約あてのメールで知らせています。"),
    )
    created_at = models.DateTimeField(_("通知日時"))

    class Meta:
        verbose_name = _("利用規約変更の通知")
        verbose_name_plural = _("利用規約変更の通知")
        ordering = ["-created_at", "-id"]
        default_permissions = ("view",)
        constraints = [
            models.UniqueConstraint(
                fields=["terms_version", "reservation"], name="one_terms_notice_per_booking"
            )
        ]

    def __str__(self) -> str:
        return f"{self.terms_version_id} → {self.reservation_id}"
