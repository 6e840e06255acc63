"""Offices, their opening rules, slots, bookings and restrictions.

Invariants that the database can hold are named constraints here; rules that need the
calendar or the clock live in `rules.py`, and actions in `services.py`.
"""

from __future__ import annotations

from datetime import time

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from reservations import rules, shared_cache
from reservations.rules import (
    OPEN_WAITLIST_STATUSES,
    MeetingProblem,
    MeetingState,
    Platform,
    Status,
    WaitlistStatus,
)

WEEKDAYS = [
    (0, _("月曜日")),
    (1, _("火曜日")),
    (2, _("水曜日")),
    (3, _("木曜日")),
    (4, _("金曜日")),
    (5, _("土曜日")),
    (6, _("日曜日")),
]


# The 47 prefectures in their official order (JIS X 0401), each with its name in Latin
# letters: the office chooser is grouped by them, and pages in other languages show both.
PREFECTURES: tuple[tuple[str, str], ...] = (
    ("北海道", "Hokkaido"), ("青森県", "Aomori"), ("岩手県", "Iwate"), ("宮城県", "Miyagi"),
    ("秋田県", "Akita"), ("山形県", "Yamagata"), ("福島県", "Fukushima"), ("茨城県", "Ibaraki"),
    ("栃木県", "Tochigi"), ("群馬県", "Gunma"), ("埼玉県", "Saitama"), ("千葉県", "Chiba"),
    ("東京都", "Tokyo"), ("神奈川県", "Kanagawa"), ("新潟県", "Niigata"), ("富山県", "Toyama"),
    ("石川県", "Ishikawa"), ("福井県", "Fukui"), ("山梨県", "Yamanashi"), ("長野県", "Nagano"),
    ("岐阜県", "Gifu"), ("静岡県", "Shizuoka"), ("愛知県", "Aichi"), ("三重県", "Mie"),
    ("滋賀県", "Shiga"), ("京都府", "Kyoto"), ("大阪府", "Osaka"), ("兵庫県", "Hyogo"),
    ("奈良県", "Nara"), ("和歌山県", "Wakayama"), ("鳥取県", "Tottori"), ("島根県", "Shimane"),
    ("岡山県", "Okayama"), ("広島県", "Hiroshima"), ("山口県", "Yamaguchi"),
    ("徳島県", "Tokushima"), ("香川県", "Kagawa"), ("愛媛県", "Ehime"), ("高知県", "Kochi"),
    ("福岡県", "Fukuoka"), ("佐賀県", "Saga"), ("長崎県", "Nagasaki"), ("熊本県", "Kumamoto"),
    ("大分県", "Oita"), ("宮崎県", "Miyazaki"), ("鹿児島県", "Kagoshima"), ("沖縄県", "Okinawa"),
)  # fmt: skip
PREFECTURE_ORDER = {name: index for index, (name, _latin) in enumerate(PREFECTURES)}
PREFECTURE_LATIN = dict(PREFECTURES)


def speaks_japanese(language: str | None) -> bool:
    """Japanese and Easy Japanese pages show an office's Japanese name and address."""
    return (language or "ja").lower().startswith("ja")


class OfficeQuerySet(models.QuerySet):
    def taking_bookings(self) -> OfficeQuerySet:
        return self.filter(accepting_bookings=True)

    def sole_taking_bookings(self) -> tuple[Office | None, bool]:
        """The one office taking bookings (else None), and whether several are."""
        first_two = list(self.taking_bookings().order_by("id")[:2])
        return (first_two[0] if len(first_two) == 1 else None), len(first_two) > 1

    # Pages keep offices in the shared cache (reservations/offices.py): what saves no single
    # row (and so sends no signal) says so here. bulk_update comes through update().
    def update(self, **kwargs: object) -> int:
        updated = super().update(**kwargs)
        shared_cache.offices_changed()
        return updated

    def bulk_create(self, *args: object, **kwargs: object) -> list[Office]:
        created = super().bulk_create(*args, **kwargs)
        shared_cache.offices_changed()
        return created


class Office(models.Model):
    """A Hello Work office and the numbers behind its booking rules."""

    name = models.CharField(_("名称"), max_length=100)
    name_en = models.CharField(
        _("名称（英語）"), max_length=100, blank=True, help_text=_("例: Hello Work Isesaki")
    )
    slug = models.SlugField(_("識別名"), unique=True)
    phone = models.CharField(_("電話番号"), max_length=30)
    email = models.EmailField(_("メールアドレス"), blank=True)
    address = models.CharField(_("所在地"), max_length=200, blank=True)
    address_en = models.CharField(_("所在地（英語）"), max_length=200, blank=True)
    prefecture = models.CharField(
        _("都道府県"),
        max_length=4,
        blank=True,
        choices=[(name, name) for name, _latin in PREFECTURES],
    )
    accepting_bookings = models.BooleanField(
        _("オンライン予約を受け付ける"),
        default=True,
        help_text=_(
            "外すと、この所の予約ページは表示されません（予約済みの専用ページは使えます）。"
        ),
    )
    closing_time = models.TimeField(
        _("申込締切時刻"),
        default=time(17),
        help_text=_("前開庁日のこの時刻で、翌開庁日の相談の申込みを締め切ります。"),
    )
    slot_minutes = models.PositiveSmallIntegerField(
        _("相談時間（分）"),
        default=rules.SESSION_MINUTES,
        validators=[MinValueValidator(10), MaxValueValidator(120)],
    )
    horizon_days = models.PositiveSmallIntegerField(
        _("予約受付期間（日）"),
        default=28,
        validators=[MinValueValidator(1), MaxValueValidator(180)],
    )
    max_active_bookings = models.PositiveSmallIntegerField(
        _("1人あたりの有効な予約の上限"), default=1, validators=[MinValueValidator(1)]
    )
    max_seeker_moves = models.PositiveSmallIntegerField(
        _("申込者が日時を変更できる回数"),
        default=rules.DEFAULT_MAX_SEEKER_MOVES,
        # Also in the database: rows written outside the ORM get it too.
        db_default=rules.DEFAULT_MAX_SEEKER_MOVES,
        validators=[MaxValueValidator(10)],
        help_text=_(
            "1件の予約につき、申込者が専用ページから日時を変更できる回数。"
            "0 にすると変更できません。"
        ),
    )
    no_show_threshold = models.PositiveSmallIntegerField(
        _("利用制限とする無断不参加の回数"),
        default=2,
        help_text=_("0 にすると自動の利用制限を行いません。"),
    )
    no_show_window_days = models.PositiveSmallIntegerField(
        _("無断不参加を数える期間（日）"), default=180, validators=[MinValueValidator(1)]
    )
    waitlist_max_entries = models.PositiveSmallIntegerField(
        _("1人あたりのキャンセル待ちの上限"),
        default=2,
        db_default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text=_("同時に登録できるキャンセル待ちの数です。"),
    )
    waitlist_offer_minutes = models.PositiveSmallIntegerField(
        _("キャンセル待ちの案内を確保する時間（分）"),
        default=rules.WAITLIST_OFFER_MINUTES,
        db_default=rules.WAITLIST_OFFER_MINUTES,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
        help_text=_(
            "空きを案内した方のために席を確保する時間です。申込締切を過ぎることはありません。"
        ),
    )
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)

    objects = OfficeQuerySet.as_manager()

    class Meta:
        verbose_name = _("ハローワーク")
        verbose_name_plural = _("ハローワーク")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(prefecture="")
                | Q(prefecture__in=[name for name, _latin in PREFECTURES]),
                name="office_prefecture_is_one_of_the_47",
            ),
            # Rule 10: a few moves per booking at most, so moving cannot hold places.
            models.CheckConstraint(
                condition=Q(max_seeker_moves__lte=10), name="office_seeker_moves_at_most_ten"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str | None) -> str:
        """The name a page in `language` shows first (the English one outside Japanese)."""
        return self.name if speaks_japanese(language) or not self.name_en else self.name_en

    def address_in(self, language: str | None) -> str:
        if speaks_japanese(language) or not self.address_en:
            return self.address
        return self.address_en

    @property
    def prefecture_latin(self) -> str:
        return PREFECTURE_LATIN.get(self.prefecture, "")

    def page_path(self, name: str, *args: object, prefixed: bool) -> str:
        """The path of one of this office's public pages (`reservations:week`…): under
        /o/<slug>/ when the site serves several offices, else at the root as always."""
        if not prefixed:
            return reverse(name, args=args)
        namespace, _sep, short = name.partition(":")
        return reverse(f"{namespace}:office-{short}", args=[self.slug, *args])

    def link_path(self, name: str, *args: object) -> str:
        """`page_path` for a link sent away (an email): always under /o/<slug>/, which works
        however many offices take bookings now or later (no query)."""
        return self.page_path(name, *args, prefixed=True)


class SessionWindow(models.Model):
    """A weekly window of sessions, e.g. Monday 10:00–12:00, with its capacity per slot."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="windows")
    weekday = models.PositiveSmallIntegerField(_("曜日"), choices=WEEKDAYS)
    start_time = models.TimeField(_("開始時刻"))
    end_time = models.TimeField(_("終了時刻"))
    capacity = models.PositiveSmallIntegerField(
        _("定員（相談員数）"), default=1, help_text=_("各枠で同時に受けられる相談の数。")
    )

    class Meta:
        verbose_name = _("相談時間帯")
        verbose_name_plural = _("相談時間帯")
        ordering = ["office", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__lt=models.F("end_time")),
                name="window_starts_before_it_ends",
            ),
            models.UniqueConstraint(
                fields=["office", "weekday", "start_time"], name="unique_window_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"

    def clean(self) -> None:
        if self.start_time and self.end_time and self.start_time >= self.end_time:
            raise ValidationError({"end_time": _("終了時刻は開始時刻より後にしてください。")})
        if not (self.office_id and self.start_time and self.end_time):
            return
        if getattr(self, "checked_with_siblings", False):
            # The admin checks all of an office's windows together: while several rows
            # change at once, the database still holds their old times.
            return
        overlapping = SessionWindow.objects.filter(
            office_id=self.office_id,
            weekday=self.weekday,
            start_time__lt=self.end_time,
            end_time__gt=self.start_time,
        ).exclude(pk=self.pk)
        if overlapping.exists():
            raise ValidationError(_("同じ曜日の他の時間帯と重なっています。"))


class Closure(models.Model):
    """A date the office offers no sessions, entered by staff (rule 3)."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="closures")
    date = models.DateField(_("日付"))
    reason = models.CharField(_("理由"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("休業日")
        verbose_name_plural = _("休業日")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["office", "date"], name="unique_closure_date")
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.reason}"


class CapacityOverride(models.Model):
    """The capacity of one slot on one date, overriding the weekly window (0 closes it)."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="capacity_overrides")
    date = models.DateField(_("日付"))
    start_time = models.TimeField(_("開始時刻"))
    capacity = models.PositiveSmallIntegerField(_("定員"))

    class Meta:
        verbose_name = _("日別の定員")
        verbose_name_plural = _("日別の定員")
        ordering = ["date", "start_time"]
        constraints = [
            models.UniqueConstraint(
                fields=["office", "date", "start_time"], name="unique_capacity_override"
            )
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.start_time:%H:%M} → {self.capacity}"


class Slot(models.Model):
    """One session time of an office, made when first booked: the row that is locked."""

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="slots")
    starts_at = models.DateTimeField(_("開始日時"))
    ends_at = models.DateTimeField(_("終了日時"))

    class Meta:
        verbose_name = _("相談枠")
        verbose_name_plural = _("相談枠")
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["office", "starts_at"], name="unique_slot_start"),
            models.CheckConstraint(
                condition=Q(starts_at__lt=models.F("ends_at")), name="slot_starts_before_it_ends"
            ),
        ]

    def __str__(self) -> str:
        local = self.starts_at.astimezone(rules.TOKYO)
        return f"{local:%Y-%m-%d %H:%M}"


class SeekerLock(models.Model):
    """One row per person, locked while their booking limit is checked (rule 8)."""

    key = models.CharField(max_length=300, unique=True)

    class Meta:
        verbose_name = _("申込者ロック")
        verbose_name_plural = _("申込者ロック")

    def __str__(self) -> str:
        return self.key


class Companion(models.TextChoices):
    NONE = "", _("なし")
    INTERPRETER = "interpreter", _("通訳者")
    ASSISTANT = "assistant", _("介助者")
    BOTH = "both", _("通訳者と介助者")


class Reservation(models.Model):
    """A seeker's booking of one session (予約)."""

    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="reservations")
    slot = models.ForeignKey(
        Slot, on_delete=models.PROTECT, related_name="reservations", verbose_name=_("相談枠")
    )
    status = models.CharField(
        _("状態"), max_length=20, choices=Status.choices, default=Status.REQUESTED
    )
    reference = models.CharField(_("予約番号"), max_length=12, unique=True)
    token = models.CharField(max_length=64, unique=True, editable=False)

    name = models.CharField(_("氏名"), max_length=100)
    seeker_number = models.CharField(_("求職番号"), max_length=20, blank=True)
    about_to_register = models.BooleanField(_("これから求職登録をする"), default=False)
    email = models.EmailField(_("メールアドレス"), max_length=254)
    phone = models.CharField(_("電話番号"), max_length=30, blank=True)
    topic = models.TextField(_("相談したいこと"), max_length=2000, blank=True)
    companion = models.CharField(
        _("通訳者・介助者の同席"), max_length=20, choices=Companion.choices, blank=True
    )
    companion_language = models.CharField(_("通訳の言語"), max_length=50, blank=True)
    platform = models.CharField(
        _("利用するアプリ"), max_length=20, choices=Platform.choices, default=Platform.ZOOM
    )
    language = models.CharField(
        _("連絡の言語"), max_length=16, choices=settings.LANGUAGES, default="ja"
    )
    person_key = models.CharField(max_length=300, editable=False, db_index=True)

    meeting_state = models.CharField(
        _("会議リンクの状態"),
        max_length=20,
        choices=MeetingState.choices,
        default=MeetingState.NONE,
    )
    meeting_id = models.CharField(_("会議ID"), max_length=64, blank=True)
    meeting_join_url = models.URLField(_("参加用URL"), max_length=500, blank=True)
    meeting_passcode = models.CharField(_("パスコード・アクセスコード"), max_length=64, blank=True)
    meeting_error = models.CharField(_("会議作成のエラー"), max_length=500, blank=True)
    # The kind of `meeting_error`, for the plain words counselors see (rule 13).
    meeting_problem = models.CharField(
        _("会議の問題"),
        max_length=20,
        choices=MeetingProblem.choices,
        blank=True,
        default="",
        db_default="",
    )

    created_at = models.DateTimeField(_("申込日時"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)
    confirmed_at = models.DateTimeField(_("確定日時"), null=True, blank=True)
    reminder_sent_at = models.DateTimeField(_("前日連絡の送信日時"), null=True, blank=True)
    anonymized_at = models.DateTimeField(_("匿名化日時"), null=True, blank=True)

    # The counselor taking the session (rule 4): set on confirmation, None while requested
    # and in an office without counselor records.
    counselor = models.ForeignKey(
        "Counselor",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bookings",
        verbose_name=_("担当相談員"),
    )
    # 要再割当: the counselor is no longer on duty (leave) and nobody else was free.
    needs_reassignment = models.BooleanField(_("要再割当"), default=False, db_default=False)

    class Meta:
        verbose_name = _("予約")
        verbose_name_plural = _("予約")
        ordering = ["slot__starts_at", "id"]
        # Personal data leaves the system only for supervisors (Art. 7(2), 8).
        permissions = [
            ("export_reservation", _("予約を書き出せる")),
            # Counts only, for the office's supervisors (rule 15, Art. 7(1)).
            ("view_statistics", _("利用状況の統計を見られる")),
        ]
        indexes = [models.Index(fields=["status"], name="reservation_status_idx")]
        constraints = [
            # Rule 8: the same slot cannot be held twice by one person.
            models.UniqueConstraint(
                fields=["slot", "person_key"],
                condition=Q(status__in=[Status.REQUESTED, Status.CONFIRMED]),
                name="one_active_booking_per_person_per_slot",
            ),
            # Rule 4: a counselor takes one session at a time.
            models.UniqueConstraint(
                fields=["counselor", "slot"],
                condition=Q(
                    status__in=[Status.REQUESTED, Status.CONFIRMED], counselor__isnull=False
                ),
                name="one_active_booking_per_counselor_per_slot",
            ),
            # Rule 7: a 求職番号, or the declaration of registering soon (Art. 2(1)).
            models.CheckConstraint(
                condition=~Q(seeker_number="")
                | Q(about_to_register=True)
                | Q(anonymized_at__isnull=False),
                name="seeker_number_or_about_to_register",
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="reservation_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(platform__in=Platform.values), name="reservation_platform_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def get_absolute_url(self) -> str:
        """The seeker's private page (a credential: whoever has it can cancel)."""
        return reverse("reservations:booking", args=[self.token])

    @property
    def meeting_link_ready(self) -> bool:
        """Whether the seeker has a link to join with (rule 13): made, and stored."""
        return self.meeting_state == MeetingState.READY and bool(self.meeting_join_url)

    @property
    def starts_at(self):  # noqa: ANN201 - a datetime
        return self.slot.starts_at

    @property
    def ends_at(self):  # noqa: ANN201
        return self.slot.ends_at

    @property
    def is_active(self) -> bool:
        return rules.is_active(self.status)

    @property
    def private_url(self) -> str:
        """The private page as an absolute link, for emails and calendar files."""
        return f"{settings.SITE_URL}{self.get_absolute_url()}"


class EventKind(models.TextChoices):
    STATUS = "status", _("状態の変更")
    MOVED = "moved", _("日時の変更")
    NOTE = "note", _("記録")


class ActorKind(models.TextChoices):
    SEEKER = "seeker", _("申込者")
    STAFF = "staff", _("職員")
    SYSTEM = "system", _("システム")


class ReservationEvent(models.Model):
    """An append-only record of what happened to a booking: who, when, from → to, why."""

    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("種類"), max_length=20, choices=EventKind.choices)
    from_status = models.CharField(_("変更前"), max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(_("変更後"), max_length=20, choices=Status.choices, blank=True)
    at = models.DateTimeField(_("日時"))
    actor_kind = models.CharField(_("実施者の種別"), max_length=20, choices=ActorKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("実施者"),
    )
    reason = models.TextField(_("理由"), blank=True)
    details = models.JSONField(_("詳細"), default=dict, blank=True)

    class Meta:
        verbose_name = _("予約の履歴")
        verbose_name_plural = _("予約の履歴")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.reservation_id} {self.from_status}→{self.to_status}"


class RestrictionSource(models.TextChoices):
    MANUAL = "manual", _("職員による登録")
    NO_SHOW_THRESHOLD = "no_show", _("無断不参加の回数による自動登録")


class Restriction(models.Model):
    """A person the office has decided not to serve online for now (Art. 6(4), 12(1))."""

    office = models.ForeignKey(Office, on_delete=models.CASCADE, related_name="restrictions")
    seeker_number = models.CharField(_("求職番号"), max_length=20, blank=True, db_index=True)
    email = models.EmailField(_("メールアドレス"), blank=True, db_index=True)
    reason = models.TextField(_("理由"))
    source = models.CharField(
        _("登録の種類"),
        max_length=20,
        choices=RestrictionSource.choices,
        default=RestrictionSource.MANUAL,
    )
    starts_at = models.DateTimeField(_("開始日時"))
    ends_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("登録者"),
    )
    created_at = models.DateTimeField(_("登録日時"), auto_now_add=True)
    lifted_at = models.DateTimeField(_("解除日時"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("解除者"),
    )

    class Meta:
        verbose_name = _("利用制限")
        verbose_name_plural = _("利用制限")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(seeker_number="") | ~Q(email=""),
                name="restriction_names_a_person",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="restriction_ends_after_it_starts",
            ),
        ]

    def __str__(self) -> str:
        return self.seeker_number or self.email

    def clean(self) -> None:
        if not self.seeker_number and not self.email:
            raise ValidationError(_("求職番号かメールアドレスのどちらかを入力してください。"))
        if self.seeker_number:
            normalized = rules.normalize_seeker_number(self.seeker_number)
            if normalized is None:
                raise ValidationError(
                    {"seeker_number": _("求職番号は「12345-1234567」の形で入力してください。")}
                )
            self.seeker_number = normalized
        self.email = self.email.strip().lower()


# --- Notifications and meetings: the queue's evidence (what was sent, what Zoom has) ---


class EmailKind(models.TextChoices):
    REQUEST_RECEIVED = "request_received", _("申込受付")
    CONFIRMED = "confirmed", _("予約確定")
    REMINDER = "reminder", _("前日のお知らせ")
    MOVED = "moved", _("日時の変更")
    CANCELLED = "cancelled", _("キャンセル")
    EXPIRED = "expired", _("期限切れ")
    REJECTED = "rejected", _("お断り")
    NO_SHOW = "no_show", _("連絡なし不参加")
    TERMS_CHANGED = "terms_changed", _("利用規約の改定")
    BOOKING_LINK = "booking_link", _("予約の確認用リンク")
    MEETING_CHANGED = "meeting_changed", _("参加用リンクの変更")
    WAITLIST_JOINED = "waitlist_joined", _("キャンセル待ちの登録")
    WAITLIST_OFFER = "waitlist_offer", _("キャンセル待ちの空きのご案内")
    WAITLIST_OFFER_EXPIRED = "waitlist_offer_expired", _("キャンセル待ちの案内の期限切れ")
    WAITLIST_CLOSED = "waitlist_closed", _("キャンセル待ちの受付終了")
    WAITLIST_LEFT = "waitlist_left", _("キャンセル待ちの取消し")


class EmailStatus(models.TextChoices):
    QUEUED = "queued", _("送信待ち")
    SENDING = "sending", _("送信中")
    RETRYING = "retrying", _("再送待ち")
    SENT = "sent", _("送信済み")
    FAILED = "failed", _("送信失敗")
    SKIPPED = "skipped", _("送信不要")


class OutgoingEmail(models.Model):
    """One email to a seeker about a booking or a waiting-list entry: queued with the
    change, sent once."""

    reservation = models.ForeignKey(
        Reservation,
        on_delete=models.CASCADE,
        related_name="emails",
        verbose_name=_("予約"),
        null=True,
        blank=True,
    )
    waitlist_entry = models.ForeignKey(
        "WaitlistEntry",
        on_delete=models.CASCADE,
        related_name="emails",
        verbose_name=_("キャンセル待ち"),
        null=True,
        blank=True,
    )
    kind = models.CharField(_("種類"), max_length=40, choices=EmailKind.choices)
    # Only references (event ids, versions), never copies of personal data.
    context = models.JSONField(_("差し込み内容"), default=dict, blank=True)
    status = models.CharField(
        _("状態"), max_length=20, choices=EmailStatus.choices, default=EmailStatus.QUEUED
    )
    # The same Message-ID on every attempt, so a resend after a lost reply is recognisable.
    message_id = models.CharField(_("Message-ID"), max_length=255, unique=True)
    language = models.CharField(_("言語"), max_length=16, blank=True)
    subject = models.CharField(_("件名"), max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(_("送信の試行回数"), default=0)
    last_error = models.CharField(_("最後のエラー"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("登録日時"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("最後の試行日時"), null=True, blank=True)
    sent_at = models.DateTimeField(_("送信日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("送信メール")
        verbose_name_plural = _("送信メール")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["status"], name="outgoing_email_status_idx")]
        constraints = [
            # An email tells about one booking or one waiting-list entry, never both.
            models.CheckConstraint(
                condition=Q(reservation__isnull=False, waitlist_entry__isnull=True)
                | Q(reservation__isnull=True, waitlist_entry__isnull=False),
                name="outgoing_email_about_one_thing",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"


class ZoomMeetingState(models.TextChoices):
    CREATING = "creating", _("作成中")
    UNCERTAIN = "uncertain", _("作成の結果が不明（照合待ち）")
    ACTIVE = "active", _("有効")
    DELETED = "deleted", _("削除済み")
    ABANDONED = "abandoned", _("作成されなかった")


UNSETTLED_ZOOM_STATES = (ZoomMeetingState.CREATING, ZoomMeetingState.UNCERTAIN)


class ZoomMeeting(models.Model):
    """A Zoom meeting this system asked for: what reconciliation with Zoom works from."""

    reservation = models.ForeignKey(
        Reservation,
        on_delete=models.CASCADE,
        related_name="zoom_meetings",
        verbose_name=_("予約"),
    )
    state = models.CharField(_("状態"), max_length=20, choices=ZoomMeetingState.choices)
    # The Zoom user the meeting was made under: the counselor's, or ZOOM_HOST_USER (rule 13).
    host = models.CharField(_("主催するZoomユーザー"), max_length=254)
    meeting_id = models.CharField(_("会議ID"), max_length=64, blank=True, db_index=True)
    start_time = models.DateTimeField(_("Zoom上の開始日時"), null=True, blank=True)
    requested_at = models.DateTimeField(_("作成を依頼した日時"))
    created_at = models.DateTimeField(_("作成を確認した日時"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("削除日時"), null=True, blank=True)
    note = models.CharField(_("メモ"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("Zoom会議の作成記録")
        verbose_name_plural = _("Zoom会議の作成記録")
        ordering = ["requested_at", "id"]
        constraints = [
            # One creation in flight per booking: a second worker must wait, not duplicate.
            models.UniqueConstraint(
                fields=["reservation"],
                condition=Q(state__in=["creating", "uncertain"]),
                name="one_unsettled_zoom_creation_per_booking",
            )
        ]

    def __str__(self) -> str:
        return f"{self.meeting_id or '-'} ({self.get_state_display()})"


class ZoomHostUsage(models.Model):
    """How many meetings one Zoom user was asked to create or change in one UTC day.

    Zoom allows a host about 100 such requests a day, counted in UTC; past
    ZOOM_HOST_DAILY_LIMIT the host's work waits for the next day (rule 13).
    """

    host = models.CharField(_("Zoomユーザー"), max_length=254)
    day = models.DateField(_("日付（UTC）"))
    calls = models.PositiveIntegerField(_("作成・変更の回数"), default=0)

    class Meta:
        verbose_name = _("Zoomユーザーの利用回数")
        verbose_name_plural = _("Zoomユーザーの利用回数")
        ordering = ["-day", "host"]
        constraints = [
            models.UniqueConstraint(fields=["host", "day"], name="one_zoom_usage_per_host_and_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.calls}"


class StaffRole(models.TextChoices):
    """A staff member's role in one office (the groups of migration 0004 give the pages)."""

    COUNSELOR = "counselor", _("相談員")
    SUPERVISOR = "supervisor", _("管理者")


class StaffMembership(models.Model):
    """A staff member works in this office with this role: what they may see and act on.

    The groups give model permissions; the memberships give the offices (rule 15).
    Superusers are the national administrators and need none.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="office_memberships",
        verbose_name=_("職員"),
    )
    office = models.ForeignKey(
        Office,
        on_delete=models.CASCADE,
        related_name="staff_memberships",
        verbose_name=_("ハローワーク"),
    )
    role = models.CharField(_("役割"), max_length=20, choices=StaffRole.choices)

    class Meta:
        verbose_name = _("職員の所属")
        verbose_name_plural = _("職員の所属")
        ordering = ["office", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "office"], name="one_membership_per_office"),
            models.CheckConstraint(
                condition=Q(role__in=StaffRole.values), name="staff_membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.office} / {self.get_role_display()}"


class Counselor(models.Model):
    """A named counselor of one office (rule 4): who takes sessions, and whose Zoom user hosts
    them (rule 13). The staff member's office and role are their `StaffMembership`."""

    office = models.ForeignKey(
        Office, on_delete=models.CASCADE, related_name="counselors", verbose_name=_("ハローワーク")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="counselor_profiles",
        verbose_name=_("職員"),
    )
    display_name = models.CharField(
        _("表示名"), max_length=100, help_text=_("職員にだけ表示されます。")
    )
    zoom_user = models.CharField(
        _("Zoomユーザー"),
        max_length=254,
        blank=True,
        help_text=_("この相談員の会議を主催するZoomユーザーのメールアドレスまたはID。"),
    )
    teleoffice_url = models.URLField(_("TeleOfficeの部屋のURL"), max_length=500, blank=True)
    languages = models.CharField(
        _("相談できる言語"),
        max_length=200,
        blank=True,
        help_text=_("言語コードをコンマで区切って入力します（例: ja,pt-br）。"),
    )
    is_active = models.BooleanField(_("相談を担当する"), default=True)
    # The private calendar feed's secret (an unguessable URL, revocable); empty: no feed.
    calendar_token = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("相談員")
        verbose_name_plural = _("相談員")
        ordering = ["office", "display_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["office", "user"], name="one_counselor_profile_per_office"
            ),
            models.UniqueConstraint(
                fields=["calendar_token"],
                condition=~Q(calendar_token=""),
                name="unique_counselor_calendar_token",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class DutyWindow(models.Model):
    """A counselor's weekly duty, e.g. Monday 10:00–12:00 (rule 4)."""

    counselor = models.ForeignKey(
        Counselor, on_delete=models.CASCADE, related_name="duty_windows", verbose_name=_("相談員")
    )
    weekday = models.PositiveSmallIntegerField(_("曜日"), choices=WEEKDAYS)
    start_time = models.TimeField(_("開始時刻"))
    end_time = models.TimeField(_("終了時刻"))

    class Meta:
        verbose_name = _("勤務時間帯")
        verbose_name_plural = _("勤務時間帯")
        ordering = ["counselor", "weekday", "start_time"]
        constraints = [
            models.CheckConstraint(
                condition=Q(start_time__lt=models.F("end_time")),
                name="duty_window_starts_before_it_ends",
            ),
            models.UniqueConstraint(
                fields=["counselor", "weekday", "start_time"], name="unique_duty_window_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start_time:%H:%M}–{self.end_time:%H:%M}"


class DutyExceptionKind(models.TextChoices):
    LEAVE = "leave", _("休暇")
    TRAINING = "training", _("研修・出張")
    EXTRA = "extra", _("追加の勤務")


class DutyException(models.Model):
    """A dated exception to a counselor's weekly duty: leave, training or an extra shift;
    the whole day when it has no times (rule 4)."""

    counselor = models.ForeignKey(
        Counselor,
        on_delete=models.CASCADE,
        related_name="duty_exceptions",
        verbose_name=_("相談員"),
    )
    date = models.DateField(_("日付"))
    kind = models.CharField(_("種類"), max_length=20, choices=DutyExceptionKind.choices)
    start_time = models.TimeField(_("開始時刻"), null=True, blank=True)
    end_time = models.TimeField(_("終了時刻"), null=True, blank=True)
    note = models.CharField(_("メモ"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("勤務の例外")
        verbose_name_plural = _("勤務の例外")
        ordering = ["date", "start_time", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=DutyExceptionKind.values), name="duty_exception_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(start_time__isnull=True, end_time__isnull=True)
                | Q(start_time__lt=models.F("end_time")),
                name="duty_exception_whole_day_or_starts_before_it_ends",
            ),
        ]

    def __str__(self) -> str:
        if self.start_time is None:
            return f"{self.date} {self.get_kind_display()}"
        hours = f"{self.start_time:%H:%M}–{self.end_time:%H:%M}"
        return f"{self.date} {hours} {self.get_kind_display()}"

    @property
    def on_duty(self) -> bool:
        return self.kind == DutyExceptionKind.EXTRA


class WaitlistEntry(models.Model):
    """A person waiting for a place in a full slot (キャンセル待ち, rule 16).

    While `offered`, the entry holds a place of the slot as a booking does (rule 4), until
    `offer_expires_at`; claiming it makes a request of it (`reservation`).
    """

    office = models.ForeignKey(
        Office,
        on_delete=models.PROTECT,
        related_name="waitlist_entries",
        verbose_name=_("ハローワーク"),
    )
    slot = models.ForeignKey(
        Slot, on_delete=models.PROTECT, related_name="waitlist_entries", verbose_name=_("相談枠")
    )
    status = models.CharField(
        _("状態"), max_length=20, choices=WaitlistStatus.choices, default=WaitlistStatus.WAITING
    )
    token = models.CharField(max_length=64, unique=True, editable=False)
    name = models.CharField(_("氏名"), max_length=100)
    seeker_number = models.CharField(_("求職番号"), max_length=20, blank=True)
    about_to_register = models.BooleanField(_("これから求職登録をする"), default=False)
    email = models.EmailField(_("メールアドレス"), max_length=254)
    platform = models.CharField(
        _("利用するアプリ"), max_length=20, choices=Platform.choices, default=Platform.ZOOM
    )
    language = models.CharField(
        _("連絡の言語"), max_length=16, choices=settings.LANGUAGES, default="ja"
    )
    person_key = models.CharField(max_length=300, editable=False, db_index=True)
    created_at = models.DateTimeField(_("登録日時"))
    # The slot's request cut-off when the entry was made: the list closes then (rule 16).
    closes_at = models.DateTimeField(_("受付終了日時"))
    # Which of the slot's places the live offer holds (1, 2, …): one offer per place.
    offer_place = models.PositiveSmallIntegerField(_("案内中の席"), null=True, blank=True)
    offered_at = models.DateTimeField(_("案内日時"), null=True, blank=True)
    offer_expires_at = models.DateTimeField(_("案内の期限"), null=True, blank=True)
    finished_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    reservation = models.OneToOneField(
        Reservation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="waitlist_entry",
        verbose_name=_("予約"),
    )
    anonymized_at = models.DateTimeField(_("匿名化日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("キャンセル待ち")
        verbose_name_plural = _("キャンセル待ち")
        ordering = ["slot__starts_at", "created_at", "id"]
        indexes = [models.Index(fields=["status"], name="waitlist_status_idx")]
        constraints = [
            # Rule 16: one place in line per person and slot.
            models.UniqueConstraint(
                fields=["slot", "person_key"],
                condition=Q(status__in=[WaitlistStatus.WAITING, WaitlistStatus.OFFERED]),
                name="one_open_waitlist_entry_per_person_per_slot",
            ),
            # Rule 16: a freed place is offered to one person at a time.
            models.UniqueConstraint(
                fields=["slot", "offer_place"],
                condition=Q(status=WaitlistStatus.OFFERED),
                name="one_live_offer_per_slot_place",
            ),
            models.CheckConstraint(
                condition=~Q(status=WaitlistStatus.OFFERED)
                | Q(offer_place__isnull=False, offer_expires_at__isnull=False),
                name="waitlist_offer_has_a_place_and_an_end",
            ),
            models.CheckConstraint(
                condition=~Q(seeker_number="")
                | Q(about_to_register=True)
                | Q(anonymized_at__isnull=False),
                name="waitlist_seeker_number_or_about_to_register",
            ),
            models.CheckConstraint(
                condition=Q(status__in=WaitlistStatus.values),
                name="waitlist_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.slot} #{self.pk}"

    def get_absolute_url(self) -> str:
        """The entry's private page (the offer, leaving the list): a credential."""
        return reverse("reservations:waitlist-entry", args=[self.token])

    @property
    def private_url(self) -> str:
        return f"{settings.SITE_URL}{self.get_absolute_url()}"

    @property
    def leave_url(self) -> str:
        return f"{settings.SITE_URL}{reverse('reservations:waitlist-leave', args=[self.token])}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_WAITLIST_STATUSES


class PeriodicJob(models.Model):
    """When a periodic job (sweep, reminders, meeting retries) last started."""

    name = models.CharField(_("名前"), max_length=40, unique=True)
    last_run_at = models.DateTimeField(_("最後の実行日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("定期処理")
        verbose_name_plural = _("定期処理")

    def __str__(self) -> str:
        return self.name
