"""`manage.py seed_demo`: demo data for `make demo`, relative to today.

Bookings in every status (made through the services, so they carry events and consent
records like real ones), a staff closure and a capacity override, and two staff logins:
a counselor (相談員) and a supervisor (管理者) who both counsel, each with a weekly duty in every
session window and a fake Zoom user, so that a slot has two places. Running it again changes
nothing while the demo bookings are still current; run later, it adds fresh future bookings.

Development only: it prints passwords of staff accounts, so it refuses to run unless
DEBUG is on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from argparse import ArgumentParser
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.urls import NoReverseMatch
from django.utils import timezone
from django.utils.translation import gettext as _

from consent import selectors as consent_selectors
from consent.models import ENVIRONMENT_ITEMS
from consent.services import ConsentGiven
from reservations import rules, selectors, services
from reservations.models import (
    ActorKind,
    CapacityOverride,
    Closure,
    Companion,
    Counselor,
    Office,
    Platform,
    Reservation,
    StaffMembership,
    StaffRole,
)
from reservations.rules import Status

DEMO_DOMAIN = "demo.example.jp"
DEMO_MARK = "デモ"  # starts the reason of demo closures
COUNSELOR_GROUP = "相談員"
SUPERVISOR_GROUP = "管理者"
WEEKDAYS = "月火水木金土日"


@dataclass(frozen=True)
class Scenario:
    """One demo person and the status their booking should end up in."""

    key: str
    status: Status
    name: str
    seeker_number: str = ""
    platform: str = Platform.ZOOM
    companion: str = Companion.NONE
    companion_language: str = ""
    topic: str = ""
    language: str = "ja"

    @property
    def email(self) -> str:
        return f"{self.key}@{DEMO_DOMAIN}"

    @property
    def in_the_past(self) -> bool:
        return self.status in (Status.ATTENDED, Status.NO_SHOW, Status.EXPIRED)


SCENARIOS = (
    Scenario(
        "requested",
        Status.REQUESTED,
        "伊勢崎 花子",
        "10040-9000001",
        topic="事務職の求人について相談したいです。",
    ),
    Scenario(
        "requested-interpreter",
        Status.REQUESTED,
        "Ana Silva",
        platform=Platform.TELEOFFICE,
        companion=Companion.INTERPRETER,
        companion_language="ポルトガル語",
        topic="これから求職登録をします。",
        language="en",
    ),
    Scenario("confirmed", Status.CONFIRMED, "太田 一郎", "10040-9000003"),
    Scenario(
        "confirmed-teleoffice",
        Status.CONFIRMED,
        "Nguyen Van An",
        "10040-9000004",
        platform=Platform.TELEOFFICE,
        companion=Companion.INTERPRETER,
        companion_language="ベトナム語",
    ),
    Scenario("cancelled", Status.CANCELLED, "境 次郎", "10040-9000005"),
    Scenario("rejected", Status.REJECTED, "赤堀 三郎", "10040-9000006"),
    Scenario("attended", Status.ATTENDED, "宮郷 幸子", "10040-9000007"),
    Scenario("no-show", Status.NO_SHOW, "殖蓮 四郎", "10040-9000008"),
    Scenario("expired", Status.EXPIRED, "名和 五月", "10040-9000009"),
)


def _demo_password(username: str) -> str:
    """A password stable per installation (derived from SECRET_KEY), never written in code."""
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"seed_demo:{username}".encode(), hashlib.sha256
    ).digest()
    return "demo-" + base64.b32encode(digest).decode()[:12].lower()


def _japanese(moment: datetime) -> str:
    local = moment.astimezone(rules.TOKYO)
    return f"{local.year}年{local.month}月{local.day}日({WEEKDAYS[local.weekday()]}) {local:%H:%M}"


def _one_a_day(starts: Iterable[datetime]) -> list[datetime]:
    """One slot per day, at a time that moves along from day to day: a varied demo."""
    by_day: dict[date, list[datetime]] = {}
    for start in starts:
        by_day.setdefault(start.astimezone(rules.TOKYO).date(), []).append(start)
    return [slots[(3 * n) % len(slots)] for n, slots in enumerate(by_day.values())]


def _link(reservation: Reservation) -> str:
    try:
        path = reservation.get_absolute_url()
    except NoReverseMatch:
        return ""
    return f"{settings.SITE_URL}{path}"


def demo_summary(office: Office, bookings_heading: str | None = None) -> list[str]:
    """The demo's logins and bookings (with their private links), as lines to print."""
    lines = [
        _("デモデータを用意しました（%(office)s）。") % {"office": office.name},
        _("管理画面: %(url)s") % {"url": f"{settings.SITE_URL}/admin/"},
    ]
    for role, username in ((COUNSELOR_GROUP, "counselor"), (SUPERVISOR_GROUP, "supervisor")):
        lines.append(
            _("  %(role)s  ユーザー名: %(username)s  パスワード: %(password)s")
            % {"role": role, "username": username, "password": _demo_password(username)}
        )
    demo = (
        Reservation.objects.filter(office=office, email__endswith=f"@{DEMO_DOMAIN}")
        .select_related("slot")
        .order_by("slot__starts_at")
    )
    lines.append(bookings_heading or _("デモの予約:"))
    for reservation in demo:
        lines.append(
            f"  {reservation.reference}  {Status(reservation.status).label}  "
            f"{_japanese(reservation.slot.starts_at)}  {_link(reservation)}"
        )
    return lines


class Command(BaseCommand):
    help = (
        "デモ用のデータ（各状態の予約、休業日、相談員と管理者のログイン）を作ります。"
        "何度実行しても重複しません。DEBUG=1 のときだけ実行できます。"
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--office", help="ハローワークの識別名（既定: 最初のハローワーク）")

    def handle(self, *args: object, office: str | None = None, **options: object) -> None:
        if not settings.DEBUG:
            raise CommandError(
                _(
                    "seed_demo は職員アカウントのパスワードを表示するため、"
                    "DEBUG=1 の開発環境でのみ実行できます。"
                )
            )
        target = (
            Office.objects.filter(slug=office).first() if office else selectors.default_office()
        )
        if target is None:
            raise CommandError(_("ハローワークが登録されていません。先に migrate してください。"))
        now = timezone.now()
        if consent_selectors.terms_in_force(target.pk, now) is None:
            raise CommandError(_("公開中の利用規約がないため、デモの予約を作れません。"))

        counselor, _password = self._staff_user("counselor", COUNSELOR_GROUP)
        supervisor, _password = self._staff_user(
            "supervisor", SUPERVISOR_GROUP, also=(COUNSELOR_GROUP,)
        )
        # The office they work in (selectors.offices_of): what the admin shows them.
        for user, role in (
            (counselor, StaffRole.COUNSELOR),
            (supervisor, StaffRole.SUPERVISOR),
        ):
            StaffMembership.objects.update_or_create(
                user=user, office=target, defaults={"role": role}
            )
        # The supervisor counsels too, as in a small office: two counselors on duty.
        self._counselors(target, [counselor, supervisor], now)
        self._office_data(target, now)
        made = self._bookings(target, counselor, now)
        # Past demo requests expire here, as the periodic sweep would do.
        services.reservations_sweep(now=now)

        if options.get("verbosity", 1) >= 1:
            heading = _("デモの予約（新規 %(count)s 件）:") % {"count": made}
            for line in demo_summary(target, heading):
                self.stdout.write(line)

    def _staff_user(
        self, username: str, group_name: str, *, also: tuple[str, ...] = ()
    ) -> tuple[object, str]:
        """Create or refresh a staff login and put it in its group when the group exists."""
        user_model = get_user_model()
        user, _created = user_model.objects.get_or_create(username=username)
        password = _demo_password(username)
        user.is_staff = True
        user.is_active = True
        if not user.check_password(password):
            # Only when it differs: a new hash would sign out a demo session in progress.
            user.set_password(password)
        user.save()
        for name in (group_name, *also):
            group = Group.objects.filter(name=name).first()
            if group is None:
                self.stderr.write(
                    _("グループ「%(group)s」がないため、%(user)s は権限なしのまま作成しました。")
                    % {"group": name, "user": username}
                )
            else:
                user.groups.add(group)
        return user, password

    def _counselors(self, office: Office, users: list[object], now: datetime) -> None:
        """Two counselors on duty in every session window, each with their own (fake) Zoom
        user, so that a slot has two places (rule 4); a rota edited since is left alone."""
        for number, user in enumerate(users, start=1):
            counselor = Counselor.objects.filter(office=office, user=user).first()
            if counselor is not None:
                continue
            counselor = Counselor(
                office=office,
                user=user,
                display_name=_("相談員 %(number)s") % {"number": number},
                zoom_user=f"counselor{number}@example.jp",
            )
            services.counselor_save(counselor=counselor, now=now)
            services.duty_windows_save(
                counselor=counselor,
                windows=[(w.weekday, w.start_time, w.end_time) for w in office.windows.all()],
                now=now,
            )

    def _office_data(self, office: Office, now: datetime) -> None:
        """A staff closure and a two-counselor slot in the coming weeks, once."""
        today = now.astimezone(rules.TOKYO).date()
        office_rules = selectors.office_rules(office, today, today + timedelta(days=30))
        upcoming = [
            today + timedelta(days=n)
            for n in range(1, 30)
            if rules.is_open_day(today + timedelta(days=n), office_rules)
        ]
        if len(upcoming) < 8:
            return
        if not Closure.objects.filter(
            office=office, date__gt=today, reason__startswith=DEMO_MARK
        ).exists():
            Closure.objects.get_or_create(
                office=office,
                date=upcoming[7],
                defaults={"reason": _("デモ: 職員研修のため休業")},
            )
        if not CapacityOverride.objects.filter(office=office, date__gt=today).exists():
            CapacityOverride.objects.get_or_create(
                office=office, date=upcoming[2], start_time=time(10), defaults={"capacity": 2}
            )

    def _bookings(self, office: Office, counselor: object, now: datetime) -> int:
        """Make each scenario's booking unless a current one is there; return how many."""
        today = now.astimezone(rules.TOKYO).date()
        future = _one_a_day(
            a.slot.start
            for a in selectors.availability(office, today, today + timedelta(days=21), now)
        )
        past = self._free_past_slots(office, today)
        made = 0
        for scenario in SCENARIOS:
            existing = Reservation.objects.filter(office=office, email=scenario.email)
            if scenario.in_the_past:
                if existing.exists():
                    continue
                pool = past
            else:
                if existing.filter(slot__starts_at__gt=now).exists():
                    continue
                pool = future
            if not pool:
                self.stderr.write(
                    _("空いている枠がないため「%(key)s」の予約は作れませんでした。")
                    % {"key": scenario.key}
                )
                continue
            try:
                with transaction.atomic():
                    self._play(scenario, office, counselor, pool.pop(0), now)
            except services.ReservationError as exc:
                self.stderr.write(f"{scenario.key}: {exc.message}")
                continue
            made += 1
        return made

    def _free_past_slots(self, office: Office, today: date) -> list[datetime]:
        first, last = today - timedelta(days=21), today - timedelta(days=1)
        office_rules = selectors.office_rules(office, first, last)
        held = selectors.booked_counts(office, first, last)
        return _one_a_day(
            slot.start
            for slot in reversed(rules.slots_between(first, last, office_rules))
            if held.get(slot.start, 0) < slot.capacity
        )

    def _play(
        self, scenario: Scenario, office: Office, counselor: object, start: datetime, now: datetime
    ) -> Reservation:
        """Request the slot at a moment it was open, then act as staff and seeker would."""
        if scenario.in_the_past:
            office_rules = selectors.office_rules(office, start.date(), start.date())
            then = rules.request_cutoff(start, office_rules) - timedelta(days=1)
        else:
            then = now
        terms = consent_selectors.terms_in_force(office.pk, then)
        if terms is None:
            raise services.ReservationError(_("その時点で有効な利用規約がありません。"))
        reservation = services.reservation_request(
            office=office,
            slot_start=start,
            name=scenario.name,
            email=scenario.email,
            seeker_number=scenario.seeker_number,
            about_to_register=not scenario.seeker_number,
            platform=scenario.platform,
            companion=scenario.companion,
            companion_language=scenario.companion_language,
            topic=scenario.topic,
            language=scenario.language,
            consent=ConsentGiven(
                terms_version_id=terms.pk,
                platform_terms_accepted=True,
                confirmed_items=frozenset(ENVIRONMENT_ITEMS),
                ip_address="192.0.2.1",  # TEST-NET-1: documentation address, not a person's
                user_agent="seed_demo",
                language=scenario.language,
            ),
            now=then,
        )
        status = scenario.status
        if status in (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW):
            reservation = services.reservation_confirm(
                reservation=reservation,
                actor=counselor,
                meeting_url=(
                    f"https://teleoffice.example.jp/room/{reservation.reference}"
                    if scenario.platform == Platform.TELEOFFICE
                    else ""
                ),
                now=then,
            )
        if status == Status.ATTENDED:
            reservation = services.reservation_mark_attended(
                reservation=reservation, actor=counselor, now=start + timedelta(minutes=1)
            )
        elif status == Status.NO_SHOW:
            reservation = services.reservation_mark_no_show(
                reservation=reservation, actor=None, now=start + rules.NO_SHOW_GRACE
            )
        elif status == Status.CANCELLED:
            reservation = services.reservation_cancel(
                reservation=reservation, by=ActorKind.SEEKER, now=now
            )
        elif status == Status.REJECTED:
            reservation = services.reservation_reject(
                reservation=reservation,
                actor=counselor,
                reason=_("デモ: 求職登録の内容を窓口で確認させてください。"),
                now=now,
            )
        return reservation
