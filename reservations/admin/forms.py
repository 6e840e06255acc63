"""Forms of the staff pages in the admin: they check what was typed, the services decide.

Every form here shows its problems next to the field, in Japanese; none of them saves
anything itself. The actions run through `reservations.services`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from django import forms
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from consent.models import ENVIRONMENT_ITEMS
from reservations import rules, selectors
from reservations.forms import parse_slot_value, slot_value
from reservations.models import (
    CapacityOverride,
    Closure,
    Counselor,
    Office,
    Platform,
    Reservation,
    Restriction,
)
from reservations.rules import Status
from reservations.templatetags.seeker_dates import format_day, format_time_range

REASON_MAX = 1000
_REASON_WIDGET = forms.Textarea(attrs={"rows": 3, "cols": 60})


def open_slot_choices(
    office: Office, now: datetime, *, exclude: Iterable[datetime] = ()
) -> list[tuple[str, list[tuple[str, str]]]]:
    """Slots with a free place from tomorrow to the horizon, grouped by day (for <select>)."""
    today = now.astimezone(rules.TOKYO).date()
    skip = {start.astimezone(rules.TOKYO) for start in exclude}
    groups: dict[str, list[tuple[str, str]]] = {}
    for available in selectors.availability(
        office, today, today + timedelta(days=office.horizon_days), now
    ):
        if available.slot.start in skip:
            continue
        # The day stays in each option: a closed <select> shows only the chosen option.
        day = format_day(available.slot.start)
        label = f"{day} {format_time_range(available.slot.start, available.slot.end)}"
        if available.remaining > 1:
            label = gettext("%(time)s（残り%(count)s）") % {
                "time": label,
                "count": available.remaining,
            }
        groups.setdefault(day, []).append((slot_value(available.slot.start), label))
    return list(groups.items())


class SlotChoiceField(forms.ChoiceField):
    """A <select> of open slots whose cleaned value is the aware start time."""

    def clean(self, value: str) -> datetime:
        value = super().clean(value)
        start = parse_slot_value(value)
        if start is None:
            raise forms.ValidationError(gettext("一覧から日時を選んでください。"))
        return start


class ReasonForm(forms.Form):
    """A required reason, recorded with the change (and, for refusals, told to the seeker)."""

    reason = forms.CharField(max_length=REASON_MAX, widget=_REASON_WIDGET)

    def __init__(self, *args: object, label: str, help_text: str = "", **kwargs: object):
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = label
        self.fields["reason"].help_text = help_text


class ConfirmForm(forms.Form):
    """Confirming requests: a link for each TeleOffice booking, a reason if late (rule 5)."""

    reason = forms.CharField(
        label=_("確定期限を過ぎて確定する理由"),
        help_text=_(
            "確定は原則として相談日の前日までです（第6条(1)）。期限後に確定する理由を記録します。"
        ),
        max_length=REASON_MAX,
        required=False,
        widget=_REASON_WIDGET,
    )

    def __init__(
        self, *args: object, reservations: list[Reservation], now: datetime, **kwargs: object
    ):
        super().__init__(*args, **kwargs)
        self.reservations = reservations
        pending = [r for r in reservations if r.status == Status.REQUESTED]
        self.needs_reason = any(rules.is_late_confirmation(r.slot.starts_at, now) for r in pending)
        if self.needs_reason:
            self.fields["reason"].required = True
        else:
            del self.fields["reason"]
        self.link_rows: list[tuple[Reservation, forms.BoundField, forms.BoundField]] = []
        for reservation in pending:
            if reservation.platform != Platform.TELEOFFICE:
                continue
            self.fields[f"url_{reservation.pk}"] = forms.URLField(
                label=gettext("%(reference)s の TeleOffice 会議URL")
                % {"reference": reservation.reference},
                max_length=Reservation._meta.get_field("meeting_join_url").max_length,
                assume_scheme="https",
                help_text=_("TeleOffice で会議を作成し、参加用のURLを貼り付けてください。"),
            )
            self.fields[f"passcode_{reservation.pk}"] = forms.CharField(
                label=gettext("%(reference)s のアクセスコード（あれば）")
                % {"reference": reservation.reference},
                max_length=Reservation._meta.get_field("meeting_passcode").max_length,
                required=False,
            )
            self.link_rows.append(
                (reservation, self[f"url_{reservation.pk}"], self[f"passcode_{reservation.pk}"])
            )

        # Rule 4: one request in an office with a rota: staff may choose who takes it.
        if len(pending) == 1 and reservations[0].office.counselors.exists():
            free = selectors.counselors_free_for(pending[0])
            self.fields["counselor"] = forms.TypedChoiceField(
                label=_("担当の相談員"),
                choices=[
                    ("", gettext("自動（その日の相談が少ない相談員）")),
                    *((c.pk, c.display_name) for c in free),
                ],
                coerce=int,
                empty_value=None,
                required=False,
                help_text=_("この日時に勤務していて、ほかの相談がない相談員だけを表示しています。"),
            )
            self.free_counselors = {c.pk: c for c in free}

    @property
    def has_inputs(self) -> bool:
        return bool(self.fields)

    def counselor_value(self) -> Counselor | None:
        """The counselor staff chose, or None to let the service pick (rule 4)."""
        chosen = self.cleaned_data.get("counselor") if "counselor" in self.fields else None
        return self.free_counselors.get(chosen) if chosen is not None else None

    def reason_value(self) -> str:
        return self.cleaned_data.get("reason", "") if self.needs_reason else ""

    def link_for(self, reservation: Reservation) -> tuple[str, str]:
        """The TeleOffice URL and access code typed for this booking."""
        return (
            self.cleaned_data.get(f"url_{reservation.pk}", "") or "",
            self.cleaned_data.get(f"passcode_{reservation.pk}", "") or "",
        )


class MoveForm(forms.Form):
    """Moving one booking: only open slots are offered (rule 10)."""

    new_start = SlotChoiceField(label=_("変更後の日時"))
    reason = forms.CharField(
        label=_("変更の理由"),
        help_text=_("記録に残ります（申込者には新しい日時をメールでお知らせします）。"),
        max_length=REASON_MAX,
        required=False,
        widget=_REASON_WIDGET,
    )

    def __init__(self, *args: object, reservation: Reservation, now: datetime, **kwargs: object):
        super().__init__(*args, **kwargs)
        choices = open_slot_choices(reservation.office, now, exclude=[reservation.slot.starts_at])
        self.fields["new_start"].choices = [("", gettext("日時を選んでください")), *choices]
        self.has_choices = bool(choices)


class ReassignForm(forms.Form):
    """Giving a confirmed booking to another counselor free in its slot (rule 4)."""

    counselor = forms.TypedChoiceField(label=_("新しい担当の相談員"), coerce=int)
    reason = forms.CharField(
        label=_("担当を変える理由"),
        help_text=_("記録に残ります。申込者へのお知らせはありません。"),
        max_length=REASON_MAX,
        required=False,
        widget=_REASON_WIDGET,
    )

    def __init__(self, *args: object, reservation: Reservation, **kwargs: object):
        super().__init__(*args, **kwargs)
        free = [
            c
            for c in selectors.counselors_free_for(reservation)
            if c.pk != reservation.counselor_id
        ]
        self.free_counselors = {c.pk: c for c in free}
        self.fields["counselor"].choices = [
            ("", gettext("相談員を選んでください")),
            *((c.pk, c.display_name) for c in free),
        ]
        self.has_choices = bool(free)

    def chosen(self) -> Counselor:
        return self.free_counselors[self.cleaned_data["counselor"]]


class BookNextForm(forms.Form):
    """The next session for the same person, taken by a counselor (Art. 6(2))."""

    slot = SlotChoiceField(label=_("次回の日時"))
    platform = forms.ChoiceField(label=_("利用するアプリ"), choices=Platform.choices)
    mark_source_attended = forms.BooleanField(
        label=_("今回の相談を「相談済み」として記録する"),
        help_text=_("相談中の予約は、記録するまで1人あたりの予約の上限に数えられます。"),
        required=False,
    )
    confirm = forms.BooleanField(
        label=_("すぐに確定する"),
        help_text=_("外すと「申込受付」のまま作成し、あとで確定します。"),
        required=False,
        initial=True,
    )
    meeting_url = forms.URLField(
        label=_("TeleOffice 会議URL"),
        help_text=_("TeleOffice ですぐに確定する場合に入力します。"),
        max_length=Reservation._meta.get_field("meeting_join_url").max_length,
        assume_scheme="https",
        required=False,
    )
    meeting_passcode = forms.CharField(
        label=_("アクセスコード（あれば）"),
        max_length=Reservation._meta.get_field("meeting_passcode").max_length,
        required=False,
    )
    terms_version = forms.IntegerField(widget=forms.HiddenInput)
    terms_read = forms.BooleanField(
        label=_("現行の利用規約の内容を伝え、同意を口頭で確認しました（第6条(3)）。")
    )
    platform_terms = forms.BooleanField(
        label=_(
            "利用するアプリ（Zoom または TeleOffice）の利用規約への同意を確認しました（第4条）。"
        )
    )

    def __init__(
        self,
        *args: object,
        source: Reservation,
        now: datetime,
        terms_version_id: int | None,
        **kwargs: object,
    ):
        super().__init__(*args, **kwargs)
        self.source = source
        choices = open_slot_choices(source.office, now)
        self.fields["slot"].choices = [("", gettext("日時を選んでください")), *choices]
        self.has_choices = bool(choices)
        self.fields["platform"].initial = source.platform
        self.fields["terms_version"].initial = terms_version_id
        in_session = source.status == Status.CONFIRMED and rules.can_mark_attended(
            source.slot.starts_at, now
        )
        if source.status == Status.CONFIRMED:
            self.fields["mark_source_attended"].initial = in_session
        else:
            del self.fields["mark_source_attended"]
        for key, text in ENVIRONMENT_ITEMS.items():
            self.fields[f"item_{key}"] = forms.BooleanField(label=text)

    def item_fields(self) -> list[forms.BoundField]:
        return [self[f"item_{key}"] for key in ENVIRONMENT_ITEMS]

    def confirmed_items(self) -> frozenset[str]:
        return frozenset(key for key in ENVIRONMENT_ITEMS if self.cleaned_data.get(f"item_{key}"))

    def clean(self) -> dict:
        cleaned = super().clean()
        if (
            cleaned.get("confirm")
            and cleaned.get("platform") == Platform.TELEOFFICE
            and not cleaned.get("meeting_url")
        ):
            self.add_error(
                "meeting_url",
                gettext("TeleOffice ですぐに確定する場合は、会議のURLを入力してください。"),
            )
        return cleaned


# --- Office settings --------------------------------------------------------------------


# What the supervisor is told for each problem `rules.window_problem` finds, and where.
_WINDOW_PROBLEMS = {
    rules.WindowProblem.WEEKEND: (
        "weekday",
        gettext_noop("土曜日・日曜日は閉庁日のため、時間帯を設定できません。"),
    ),
    rules.WindowProblem.ENDS_BEFORE_START: (
        "end_time",
        gettext_noop("終了時刻は開始時刻より後の、同じ日の時刻にしてください。"),
    ),
    rules.WindowProblem.SHORTER_THAN_SESSION: (
        "end_time",
        gettext_noop("時間帯は少なくとも相談1回分（%(minutes)s分）の長さにしてください。"),
    ),
    rules.WindowProblem.NOT_WHOLE_SESSIONS: (
        "end_time",
        gettext_noop("時間帯の長さは相談時間（%(minutes)s分）の倍数にしてください。"),
    ),
}


class SessionWindowFormSet(forms.BaseInlineFormSet):
    """The weekly windows of one office, checked together (Art. 6(2)③, rules 2–3).

    The formset holds every window of the office, so overlaps are found here, among the
    times as they will be saved (a window split in two in one go is not an overlap).
    """

    def add_fields(self, form: forms.ModelForm, index: int | None) -> None:
        super().add_fields(form, index)
        form.instance.checked_with_siblings = True  # see SessionWindow.clean

    def clean(self) -> None:
        super().clean()
        slot_minutes = self.instance.slot_minutes or rules.SESSION_MINUTES
        kept = []
        for form in self.forms:
            # A row already in error says what is wrong with it; check the others together.
            if form.errors or not form.cleaned_data or form.cleaned_data.get("DELETE"):
                continue
            weekday = form.cleaned_data.get("weekday")
            start = form.cleaned_data.get("start_time")
            end = form.cleaned_data.get("end_time")
            if weekday is None or start is None or end is None:
                continue
            problem = rules.window_problem(weekday, start, end, slot_minutes)
            if problem is not None:
                field, message = _WINDOW_PROBLEMS[problem]
                form.add_error(field, gettext(message) % {"minutes": slot_minutes})
                continue
            if form.cleaned_data.get("capacity") is None:
                continue
            kept.append((form, weekday, start, end))
        for index, (form, weekday, start, end) in enumerate(kept):
            for _other, other_weekday, other_start, other_end in kept[:index]:
                if rules.windows_overlap(
                    (weekday, start, end), (other_weekday, other_start, other_end)
                ):
                    form.add_error(
                        None,
                        gettext("%(other)s の時間帯と重なっています。")
                        % {
                            "other": f"{other_start:%H:%M}–{other_end:%H:%M}",
                        },
                    )
                    break


class CapacityOverrideForm(forms.ModelForm):
    """A per-date capacity must name a real slot of that day and a day still to come."""

    class Meta:
        model = CapacityOverride
        fields = ["office", "date", "start_time", "capacity"]
        help_texts = {
            "capacity": _("0 にするとその枠を閉じます（第6条(2)③の枠ごと）。"),
            "start_time": _("枠の開始時刻（例: 10:30）。"),
        }

    def clean(self) -> dict:
        cleaned = super().clean()
        office = cleaned.get("office")
        day = cleaned.get("date")
        start = cleaned.get("start_time")
        if day is not None and day < timezone.localdate(timezone=rules.TOKYO):
            self.add_error("date", gettext("過去の日付は設定できません。"))
            return cleaned
        if office is None or day is None or start is None:
            return cleaned
        office_rules = selectors.office_rules(office, day, day)
        # The slot as the weekly windows define it, before any per-date capacity.
        plain = rules.OfficeRules(
            windows=office_rules.windows,
            slot_minutes=office_rules.slot_minutes,
            closing_time=office_rules.closing_time,
            horizon_days=office_rules.horizon_days,
            closures=office_rules.closures,
        )
        starts = [slot.start.time() for slot in rules.slots_for_day(day, plain)]
        if not starts:
            self.add_error("date", gettext("この日は相談を行わない日です。"))
        elif start not in starts:
            self.add_error(
                "start_time",
                gettext("この日の枠の開始時刻から選んでください: %(times)s")
                % {"times": "、".join(f"{t:%H:%M}" for t in starts)},
            )
        return cleaned


class ClosureForm(forms.ModelForm):
    """A closure date is entered ahead; the past cannot be closed after the fact."""

    class Meta:
        model = Closure
        fields = ["office", "date", "reason"]

    def clean_date(self) -> date:
        day = self.cleaned_data["date"]
        if day < timezone.localdate(timezone=rules.TOKYO) and (
            self.instance.pk is None or self.instance.date != day
        ):
            raise forms.ValidationError(gettext("過去の日付は休業日にできません。"))
        return day


class RestrictionForm(forms.ModelForm):
    """Who is restricted and why; `services.restriction_create` records it."""

    class Meta:
        model = Restriction
        fields = ["office", "seeker_number", "email", "reason", "ends_at"]
        help_texts = {
            "seeker_number": _("求職番号かメールアドレスの少なくとも一方を入力します。"),
            "reason": _("記録に残ります（第6条(4)、第12条(1)）。"),
            "ends_at": _("空欄にすると、解除するまで続きます。"),
        }

    def clean_ends_at(self) -> datetime | None:
        ends_at = self.cleaned_data.get("ends_at")
        if ends_at is not None and ends_at <= timezone.now():
            raise forms.ValidationError(gettext("終了日時は今より後にしてください。"))
        return ends_at


# --- Statistics (supervisors) -----------------------------------------------------------

# One page stays readable and cheap to read: five years of months at most.
STATISTICS_MAX_MONTHS = 60
# Years outside these are typing mistakes (the terms date from 2023); the bound also keeps
# the month arithmetic well inside what a date can hold.
STATISTICS_YEARS = (2000, 2100)
_MONTH = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?")


def parse_month(raw: str) -> date | None:
    """`2027-01`, `2027/1`, `２０２７年１月` → 2027-01-01; None if it is not a month."""
    match = _MONTH.fullmatch(unicodedata.normalize("NFKC", raw or "").strip())
    if match is None:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or year < 1:
        return None
    return date(year, month, 1)


def month_value(month: date) -> str:
    """The form and URL value of a month: 2027-01 (what <input type="month"> sends)."""
    return f"{month:%Y-%m}"


class MonthField(forms.CharField):
    """A month, typed or picked; its cleaned value is the first day of the month."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("max_length", 20)
        kwargs.setdefault(
            "widget", forms.TextInput(attrs={"type": "month", "placeholder": "2027-01"})
        )
        super().__init__(**kwargs)

    def clean(self, value: str) -> date:
        value = super().clean(value)
        month = parse_month(value)
        if month is None:
            raise forms.ValidationError(
                gettext("年と月を「2027-01」の形で入力してください。"), code="invalid"
            )
        first_year, last_year = STATISTICS_YEARS
        if not first_year <= month.year < last_year:
            raise forms.ValidationError(
                gettext("%(first)s年から%(last)s年までの月を入力してください。")
                % {"first": first_year, "last": last_year - 1},
                code="out_of_range",
            )
        return month


class StatisticsForm(forms.Form):
    """The office and the months to count; by default the last 12 months, this one included."""

    office = forms.TypedChoiceField(
        label=_("ハローワーク"), coerce=int, required=False, empty_value=None
    )
    date_from = MonthField(label=_("集計の始めの月"), help_text=_("例: 2027-01"))
    date_to = MonthField(label=_("集計の終わりの月"), help_text=_("例: 2027-12"))

    def __init__(
        self,
        data: object = None,
        *,
        today: date,
        offices: list[Office],
        default: Office | None = None,
        **kwargs: object,
    ) -> None:
        # `offices`: the user's own (selectors.offices_of); no other can be chosen.
        if data is None:
            last = today.replace(day=1)
            first = last
            for _step in range(11):
                first = (first - timedelta(days=1)).replace(day=1)
            data = {
                "office": (default or offices[0]).pk if offices else "",
                "date_from": month_value(first),
                "date_to": month_value(last),
            }
        super().__init__(data, **kwargs)
        # The offices are read once here; the chosen one is picked from them, not re-read.
        self.offices = {office.pk: office for office in offices}
        self.fields["office"].choices = [(office.pk, office.name) for office in offices]
        if len(offices) <= 1:
            # One office: nothing to choose, and no error can belong to a hidden field.
            self.fields["office"].widget = forms.HiddenInput()

    def clean_office(self) -> Office:
        pk = self.cleaned_data.get("office")
        if pk is None:
            if not self.offices:
                raise forms.ValidationError(gettext("ハローワークが登録されていません。"))
            return next(iter(self.offices.values()))
        return self.offices[pk]

    def clean(self) -> dict:
        cleaned = super().clean()
        first, last = cleaned.get("date_from"), cleaned.get("date_to")
        if first is not None and last is not None:
            if first > last:
                self.add_error(
                    "date_to",
                    gettext("終わりの月は、始めの月と同じか、それより後の月にしてください。"),
                )
            elif (last.year - first.year) * 12 + last.month - first.month >= (
                STATISTICS_MAX_MONTHS
            ):
                self.add_error(
                    "date_to",
                    gettext("一度に集計できるのは%(count)sか月までです。")
                    % {"count": STATISTICS_MAX_MONTHS},
                )
        return cleaned

    def query_string(self, **extra: str) -> str:
        """The chosen office and months as a query string (for the CSV link)."""
        return urlencode(
            {
                "office": self.cleaned_data["office"].pk,
                "date_from": month_value(self.cleaned_data["date_from"]),
                "date_to": month_value(self.cleaned_data["date_to"]),
                **extra,
            }
        )
