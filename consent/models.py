"""Terms of use as versioned data, and the append-only record of each consent."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

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


class TermsVersion(models.Model):
    """One version of an office's terms of use (Art. 13): frozen once published."""

    office = models.ForeignKey(
        "reservations.Office", on_delete=models.PROTECT, related_name="terms_versions"
    )
    version = models.CharField(_("版"), max_length=40)
    title = models.CharField(_("表題"), max_length=200)
    body = models.TextField(_("本文"))
    issuer = models.CharField(_("制定者"), max_length=200)
    issued_label = models.CharField(_("制定日の表記"), max_length=60)
    effective_date = models.DateField(_("施行日"))
    content_hash = models.CharField(_("本文のハッシュ（SHA-256）"), max_length=64, editable=False)
    published_at = models.DateTimeField(_("公開日時"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)

    class Meta:
        verbose_name = _("利用規約の版")
        verbose_name_plural = _("利用規約の版")
        ordering = ["-effective_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["office", "version"], name="unique_terms_version")
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.version})"

    def compute_hash(self) -> str:
        text = "\n".join([self.title, self.body, self.issued_label, self.issuer])
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class ConsentMethod(models.TextChoices):
    ONLINE = "online", _("申込画面で同意")
    VERBAL = "verbal", _("相談中に口頭で確認")


class Consent(models.Model):
    """Who agreed to which terms, to which items, when, from where (Art. 6(3), 7(1))."""

    reservation = models.ForeignKey(
        "reservations.Reservation",
        on_delete=models.PROTECT,
        related_name="consents",
        verbose_name=_("予約"),
    )
    seeker_number = models.CharField(_("求職番号"), max_length=20, blank=True)
    email = models.EmailField(_("メールアドレス"))
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
    given_at = models.DateTimeField(_("同意日時"))
    ip_address = models.GenericIPAddressField(_("IPアドレス"), null=True, blank=True)
    user_agent = models.TextField(_("ブラウザ（ユーザーエージェント）"), blank=True)
    language = models.CharField(_("画面の言語"), max_length=8)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("記録した職員"),
    )

    class Meta:
        verbose_name = _("同意の記録")
        verbose_name_plural = _("同意の記録")
        ordering = ["-given_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reservation_id} / {self.terms_version_id}"
