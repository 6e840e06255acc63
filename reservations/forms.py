"""The seeker's request form: what Art. 6(2) asks for and the consent of Art. 4, 5 and 6(3).

The form only checks what a person typed and explains the office's rules next to the field;
the booking itself is made by `services.reservation_request`, which checks everything again
under its locks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django import forms
from django.conf import settings
from django.forms.utils import flatatt
from django.utils.html import format_html
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

from consent.models import ART5_ITEMS, CAMERA_ITEM, ENVIRONMENT_ITEMS
from hellowork import languages
from reservations import rules
from reservations.models import Companion, Platform, Reservation
from reservations.selectors import Availability
from reservations.templatetags.seeker_dates import format_day, format_time_range, slot_value

# A slot value further away than this is nonsense (or tampering); refuse it before the
# calendar is consulted.
_SLOT_SANITY = timedelta(days=400)
_PHONE = re.compile(r"^\+?[0-9()\-]+$")
_INTERPRETER = {Companion.INTERPRETER, Companion.BOTH}

NAME_MAX = Reservation._meta.get_field("name").max_length
TOPIC_MAX = Reservation._meta.get_field("topic").max_length
LANGUAGE_MAX = Reservation._meta.get_field("companion_language").max_length
PHONE_MAX = Reservation._meta.get_field("phone").max_length


def parse_slot_value(raw: str | None) -> datetime | None:
    """The aware start time from a slot value (with or without an offset), or None."""
    text = (raw or "").strip()
    if not text or len(text) > 40:
        return None
    # An unencoded "+09:00" in a query string arrives as " 09:00".
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2})?) (\d{2}:?\d{2})$", r"\1+\2", text)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=rules.TOKYO)
    return value.astimezone(rules.TOKYO)


def _nfkc(value: str) -> str:
    # Full-width letters, digits and symbols become their ordinary forms (rule 7).
    return unicodedata.normalize("NFKC", value or "")


def _single_line(value: str) -> str:
    return " ".join(_nfkc(value).split())


# Characters that reorder or hide text: a name "‮ABC" reads backwards in the admin and the
# CSV, so staff would see something other than what was stored (U+202A–U+202E embeddings
# and overrides, U+2066–U+2069 isolates).
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))


def _visible(value: str) -> str:
    """The value without format characters (zero-width spaces, joiners, BOM…)."""
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cf")


def refuse_hidden_text(value: str) -> None:
    """Refuse text that would not read as it was typed (bidi controls)."""
    if any(ch in _BIDI_CONTROLS for ch in value):
        raise forms.ValidationError(
            _("文字の向きを変える制御文字が含まれています。ふつうの文字だけで入力してください。"),
            code="bidi",
        )


def refuse_too_long(value: str, limit: int, message: str) -> None:
    """Check the length of the normalised value: NFKC can make text longer (⑴ → (1))."""
    if len(value) > limit:
        raise forms.ValidationError(
            message % {"limit_value": limit, "show_value": len(value)}, code="max_length"
        )


@dataclass(frozen=True)
class BookingWindow:
    """What the form needs to judge a slot: the calendar and availability as of `now`."""

    now: datetime
    rules: rules.OfficeRules
    availability: dict[datetime, Availability]

    def problem(self, start: datetime | None) -> str | None:
        """Why this slot cannot be requested now, in words for the seeker; None if it can."""
        if start is None or abs(start - self.now) > _SLOT_SANITY:
            return gettext("選ばれた日時は正しくありません。一覧から日時を選び直してください。")
        refusal = rules.request_refusal(start, self.now, self.rules)
        if refusal == rules.RequestRefusal.CLOSED:
            return closed_day_message(start.date(), self.rules)
        if refusal == rules.RequestRefusal.NOT_A_SLOT:
            return gettext(
                "選ばれた時刻は相談の枠ではありません。一覧から日時を選び直してください。"
            )
        if refusal == rules.RequestRefusal.PAST_CUTOFF:
            return gettext(
                "この日時の申込みは締め切りました。申込みは相談日の前の開庁日の%(time)sまでです。"
                "別の日時を選んでください。"
            ) % {"time": self.rules.closing_time.strftime("%H:%M")}
        if refusal == rules.RequestRefusal.BEYOND_HORIZON:
            return gettext(
                "この日時はまだ予約を受け付けていません（%(days)s日先まで受け付けています）。"
            ) % {"days": self.rules.horizon_days}
        available = self.availability.get(start)
        if available is not None and available.is_full:
            return gettext("この日時は満席です。別の日時を選んでください。")
        return None

    def is_full(self, start: datetime | None) -> bool:
        """Whether the slot is requestable but every place in it is held."""
        available = self.availability.get(start) if start else None
        return available is not None and available.is_full

    def nearest(self, start: datetime, count: int = 4) -> list[Availability]:
        """The open slots closest in time to `start`, in time order."""
        candidates = [a for a in self.availability.values() if not a.is_full]
        candidates.sort(key=lambda a: (abs(a.slot.start - start), a.slot.start))
        return sorted(candidates[:count], key=lambda a: a.slot.start)


def closed_day_message(day: date, office_rules: rules.OfficeRules) -> str:
    """Why there are no sessions on that day (rule 3), as a sentence."""
    reason = rules.closed_reason(day, office_rules)
    name = rules.holiday_name(day, get_language() or "ja")
    if reason == rules.ClosedReason.YEAR_END:
        return gettext(
            "年末年始（12月29日〜1月3日）は相談をお休みしています。別の日を選んでください。"
        )
    if reason == rules.ClosedReason.HOLIDAY and name:
        return gettext("%(day)sは祝日（%(name)s）のため、相談をお休みしています。") % {
            "day": format_day(day),
            "name": name,
        }
    if reason == rules.ClosedReason.WEEKEND:
        return gettext("土曜日・日曜日は相談をお休みしています。平日を選んでください。")
    return gettext("%(day)sは休業日のため、相談をお休みしています。別の日を選んでください。") % {
        "day": format_day(day)
    }


class ChosenSlotInput(forms.HiddenInput):
    """The chosen session in words, carried in a hidden input.

    The form never lists every free slot: a session is chosen on the week page, and the
    page's link goes back there to choose another. The label and the error stay with it.
    """

    is_hidden = False

    def __init__(self, window: BookingWindow | None = None) -> None:
        super().__init__()
        self.window = window

    def chosen(self, value: object) -> rules.Slot | None:
        """The session the value names, if the calendar offers one."""
        start = parse_slot_value(str(value or ""))
        if start is None or self.window is None or abs(start - self.window.now) > _SLOT_SANITY:
            return None
        return rules.find_slot(start, self.window.rules)

    def render(
        self, name: str, value: object, attrs: dict | None = None, renderer: object = None
    ) -> str:
        shown = dict(attrs or {})
        hidden = super().render(name, value, {}, renderer)
        slot = self.chosen(value)
        text = (
            f"{format_day(slot.start)} {format_time_range(slot.start, slot.end)}"
            if slot is not None
            else gettext("日時を選んでください")
        )
        # An <output> can be labelled, and focused from the error summary.
        return format_html(
            '{}<output class="chosen-slot"{} tabindex="-1">{}</output>',
            hidden,
            flatatt({key: val for key, val in shown.items() if key == "id" or key[:5] == "aria-"}),
            text,
        )


def check_seeker_number_or_registering(form: forms.Form, data: dict) -> None:
    """Rule 7: a 求職番号, or the declaration of registering soon (Art. 2(1)); a number
    given wins over the declaration."""
    if "seeker_number" in data and not data["seeker_number"] and not data.get("about_to_register"):
        form.add_error(
            "seeker_number",
            forms.ValidationError(
                _(
                    "求職番号を入力してください。まだ求職登録をしていない方は、"
                    "「これから求職登録をします」にチェックを入れてください。"
                ),
                code="seeker_number_required",
            ),
        )
    if data.get("seeker_number"):
        data["about_to_register"] = False


def check_terms_version(form: forms.Form, data: dict) -> None:
    """Art. 13: consent is given to the version in force (`form.terms_version_id`); if it
    changed while the form was open, the person must see the new one before agreeing."""
    if form.terms_version_id is None:
        form.add_error(
            None,
            forms.ValidationError(
                _("現在、利用規約が公開されていないため、予約を受け付けられません。"),
                code="no_terms",
            ),
        )
    elif data.get("terms_version") != form.terms_version_id:
        # Untick the box: the person agreed to the old text, not to the new one.
        form.data = form.data.copy()
        form.data.pop("agree_terms", None)
        form.add_error(
            "agree_terms",
            forms.ValidationError(
                _(
                    "利用規約が改定されました。新しい利用規約を読んで、もう一度チェックを入れてください。"
                ),
                code="terms_changed",
            ),
        )


class RequestForm(forms.Form):
    """Request a session: the slot, who you are, how to reach you, and your consent."""

    slot = forms.CharField(
        label=_("相談の日時"),
        widget=ChosenSlotInput,
        error_messages={"required": _("相談の日時を選んでください。")},
    )
    name = forms.CharField(
        label=_("氏名"),
        max_length=NAME_MAX,
        help_text=_("求職登録と同じお名前を入力してください。"),
        error_messages={
            "required": _("氏名を入力してください。"),
            "max_length": _(
                "氏名は%(limit_value)d文字以内で入力してください（いまは%(show_value)d文字です）。"
            ),
        },
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    seeker_number = forms.CharField(
        label=_("求職番号"),
        required=False,
        max_length=40,
        help_text=_(
            "ハローワーク受付票に書かれている番号です。例：10040-1234567（ハイフンはなくても大丈夫です）"
        ),
        error_messages={
            "max_length": _("求職番号は「12345-1234567」のように入力してください。"),
        },
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    about_to_register = forms.BooleanField(
        label=_("求職番号はまだありません。これから求職登録をします（第2条(1)）"),
        required=False,
    )
    email = forms.CharField(
        label=_("メールアドレス"),
        max_length=254,
        help_text=_("予約の確認や参加用のリンクをこのアドレスにお送りします。"),
        error_messages={
            "required": _("メールアドレスを入力してください。"),
            "max_length": _("メールアドレスが長すぎます。"),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("電話番号"),
        required=False,
        max_length=PHONE_MAX,
        help_text=_("急な変更のときに、ハローワークからお電話することがあります。"),
        error_messages={"max_length": _("電話番号が長すぎます。")},
        widget=forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
    )
    topic = forms.CharField(
        label=_("相談したいこと"),
        required=False,
        max_length=TOPIC_MAX,
        help_text=_("例：事務の仕事を探したい、応募書類の書き方を知りたい"),
        error_messages={
            "max_length": _(
                "%(limit_value)d文字以内で入力してください（いまは%(show_value)d文字です）。"
            )
        },
        widget=forms.Textarea(attrs={"rows": 4}),
    )
    companion = forms.ChoiceField(
        label=_("通訳者・介助者の同席"),
        required=False,
        choices=Companion.choices,
        initial=Companion.NONE,
        help_text=_("同席する方がいる場合は、あらかじめお知らせください（第12条(3)）。"),
        widget=forms.RadioSelect,
        error_messages={"invalid_choice": _("一覧から選んでください。")},
    )
    companion_language = forms.CharField(
        label=_("通訳の言語"),
        required=False,
        max_length=LANGUAGE_MAX,
        help_text=_("例：ポルトガル語、ベトナム語、英語"),
        error_messages={"max_length": _("言語の名前が長すぎます。")},
    )
    platform = forms.ChoiceField(
        label=_("利用するアプリ"),
        choices=Platform.choices,
        help_text=_("相談はZoomかTeleOfficeで行います（第4条）。"),
        widget=forms.RadioSelect,
        error_messages={
            "required": _("利用するアプリを選んでください。"),
            "invalid_choice": _("利用するアプリを一覧から選んでください。"),
        },
    )
    # Art. 5: the six items are listed above one declaration; each is recorded as confirmed.
    environment = forms.BooleanField(
        label=_("相談に使う端末と通信は、上のすべてを満たしています（第5条）"),
        error_messages={
            "required": _(
                "相談に使う端末と通信が上のすべてを満たしていることを確かめて、"
                "チェックを入れてください。準備ができていない項目がある場合は、"
                "準備ができてからお申し込みください。"
            )
        },
    )
    camera = forms.BooleanField(
        label=ENVIRONMENT_ITEMS[CAMERA_ITEM],
        error_messages={
            "required": _("カメラ付きの端末が必要です（第2条(2)）。チェックを入れてください。")
        },
    )
    # Art. 4, 6(3): the office's terms and the chosen application's terms, agreed in one tick.
    agree_terms = forms.BooleanField(
        label=_(
            "利用規約と、利用するアプリ（Zoom または TeleOffice）の利用規約を読み、"
            "同意します（第4条・第6条(3)）"
        ),
        error_messages={
            "required": _(
                "申し込むには、利用規約と利用するアプリの利用規約への同意が必要です（第4条）。"
            )
        },
    )
    terms_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self, *args: object, window: BookingWindow, terms_version_id: int | None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        self.window = window
        self.terms_version_id = terms_version_id
        self.fields["slot"].widget.window = window
        self.fields["terms_version"].initial = terms_version_id

    # --- fields -------------------------------------------------------------------------

    def clean_slot(self) -> datetime:
        start = parse_slot_value(self.cleaned_data["slot"])
        problem = self.window.problem(start)
        if problem:
            raise forms.ValidationError(
                problem, code="slot_full" if self.window.is_full(start) else "slot"
            )
        return start

    def clean_name(self) -> str:
        name = _single_line(self.cleaned_data["name"])
        refuse_hidden_text(name)
        if not _visible(name).strip():
            # Only zero-width characters: nothing a counselor could read or call out.
            raise forms.ValidationError(self.fields["name"].error_messages["required"])
        if len(name) > NAME_MAX:
            raise forms.ValidationError(
                self.fields["name"].error_messages["max_length"]
                % {"limit_value": NAME_MAX, "show_value": len(name)}
            )
        return name

    def clean_seeker_number(self) -> str:
        raw = self.cleaned_data["seeker_number"]
        if not raw.strip():
            return ""
        normalized = rules.normalize_seeker_number(raw)
        if normalized is None:
            raise forms.ValidationError(
                _(
                    "求職番号は「12345-1234567」のように、数字5桁、ハイフン、数字（1〜8桁）で"
                    "入力してください。"
                ),
                code="seeker_number",
            )
        return normalized

    def _clean_email(self, field: str) -> str:
        email = _nfkc(self.cleaned_data[field]).strip()
        # A person may type the confirmation differently only in the case of the letters.
        try:
            forms.EmailField().clean(email)
        except forms.ValidationError:
            raise forms.ValidationError(
                _("メールアドレスの形が正しくありません。例：yamada@example.jp"), code="email"
            ) from None
        refuse_too_long(email, 254, self.fields[field].error_messages["max_length"])
        local, _at, domain = email.rpartition("@")
        return f"{local}@{domain.lower()}"

    def clean_email(self) -> str:
        return self._clean_email("email")

    def clean_email_confirm(self) -> str:
        return self._clean_email("email_confirm")

    def clean_phone(self) -> str:
        phone = "".join(_nfkc(self.cleaned_data["phone"]).split())
        for dash in "‐‑‒–—―−ー":
            phone = phone.replace(dash, "-")
        if not phone:
            return ""
        refuse_too_long(phone, PHONE_MAX, self.fields["phone"].error_messages["max_length"])
        digits = sum(ch.isdigit() for ch in phone)
        if not _PHONE.match(phone) or not 10 <= digits <= 15:
            raise forms.ValidationError(
                _("電話番号は数字とハイフンで入力してください。例：090-1234-5678"), code="phone"
            )
        return phone

    def clean_topic(self) -> str:
        topic = _nfkc(self.cleaned_data["topic"]).strip()
        refuse_hidden_text(topic)
        refuse_too_long(topic, TOPIC_MAX, self.fields["topic"].error_messages["max_length"])
        return topic

    def clean_companion_language(self) -> str:
        language = _single_line(self.cleaned_data["companion_language"])
        refuse_hidden_text(language)
        refuse_too_long(
            language, LANGUAGE_MAX, self.fields["companion_language"].error_messages["max_length"]
        )
        return language

    def clean(self) -> dict:
        data = super().clean()
        check_seeker_number_or_registering(self, data)
        companion = data.get("companion") or ""
        if companion in _INTERPRETER and not data.get("companion_language"):
            self.add_error(
                "companion_language",
                forms.ValidationError(
                    _("通訳が同席する場合は、通訳の言語を入力してください。"), code="language"
                ),
            )
        if companion not in _INTERPRETER:
            data["companion_language"] = ""
        check_terms_version(self, data)
        return data

    # --- for the views ------------------------------------------------------------------

    def slot_day(self) -> date | None:
        """The day of the session named in the form (sent or offered), for the week link."""
        value = self["slot"].value()
        slot = self.fields["slot"].widget.chosen(value)
        return slot.day if slot is not None else None

    @property
    def chosen(self) -> Availability | None:
        """The chosen slot once the form is valid."""
        start = self.cleaned_data.get("slot") if hasattr(self, "cleaned_data") else None
        return self.window.availability.get(start) if start else None

    @staticmethod
    def environment_items() -> list[str]:
        """The Art. 5 items the one declaration covers, as the page lists them."""
        return [str(ENVIRONMENT_ITEMS[key]) for key in ART5_ITEMS]

    def confirmed_items(self) -> list[str]:
        """Every checklist item the person confirmed: the declaration covers all of Art. 5."""
        data = self.cleaned_data
        items = list(ART5_ITEMS) if data.get("environment") else []
        if data.get("camera"):
            items.append(CAMERA_ITEM)
        return items

    def carried(self) -> Iterator[tuple[str, str]]:
        """The cleaned answers as (name, value) pairs for hidden fields of the next step."""
        data = self.cleaned_data
        if data.get("slot"):
            yield "slot", slot_value(data["slot"])
        for name in ("name", "seeker_number", "email", "phone", "topic", "companion"):
            yield name, data.get(name) or ""
        yield "companion_language", data.get("companion_language") or ""
        yield "platform", data["platform"]
        if data.get("about_to_register"):
            yield "about_to_register", "on"
        yield "environment", "on"
        yield "camera", "on"
        yield "agree_terms", "on"
        yield "terms_version", str(self.terms_version_id)

    def only_slot_is_full(self) -> bool:
        """True when the answers are fine and only the chosen slot has filled up."""
        return set(self.errors) == {"slot"} and self.has_error("slot", code="slot_full")

    def taken_slot(self) -> datetime | None:
        """The slot that filled up (from what was sent, as it did not validate)."""
        return parse_slot_value(self.data.get("slot"))

    def error_fields(self) -> list[tuple[str, str, list[str]]]:
        """(id, label, messages) of each field in error, in page order, for the summary."""
        rows = []
        for name, field in self.fields.items():
            if name in self.errors and not field.widget.is_hidden:
                bound = self[name]
                target = bound.id_for_label
                if isinstance(field.widget, forms.RadioSelect):
                    target = f"{bound.auto_id}_0"
                rows.append((target, str(field.label), list(self.errors[name])))
        return rows

    def service_fields(self) -> dict:
        """The keyword arguments of `services.reservation_request` this form provides."""
        data = self.cleaned_data
        return {
            "slot_start": data["slot"],
            "name": data["name"],
            "email": data["email"],
            "seeker_number": data["seeker_number"],
            "about_to_register": bool(data.get("about_to_register")),
            "phone": data["phone"],
            "topic": data["topic"],
            "companion": data.get("companion") or "",
            "companion_language": data.get("companion_language") or "",
            "platform": data["platform"],
        }


class MoveForm(forms.Form):
    """The seeker moves their booking (振替, rule 10): the new session and, only when the terms
    changed since they agreed, their agreement to the version in force (rule 14)."""

    slot = forms.CharField(
        widget=forms.HiddenInput,
        error_messages={"required": _("変更先の日時を選んでください。")},
    )
    agree_terms = forms.BooleanField(
        label=_(
            "新しい利用規約と、利用するアプリ（Zoom または TeleOffice）の利用規約を読み、"
            "同意します（第4条・第6条(3)）"
        ),
        required=False,
    )
    terms_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(
        self,
        *args: object,
        window: BookingWindow,
        current_start: datetime,
        terms_version_id: int | None,
        needs_consent: bool,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.window = window
        self.current_start = current_start
        self.terms_version_id = terms_version_id
        self.needs_consent = needs_consent
        self.fields["terms_version"].initial = terms_version_id
        if not needs_consent:
            del self.fields["agree_terms"]

    def clean_slot(self) -> datetime:
        start = parse_slot_value(self.cleaned_data["slot"])
        if start is not None and start == self.current_start:
            raise forms.ValidationError(
                _("いまの予約と同じ日時です。別の日時を選んでください。"), code="same_slot"
            )
        problem = self.window.problem(start)
        if problem:
            raise forms.ValidationError(
                problem, code="slot_full" if self.window.is_full(start) else "slot"
            )
        return start

    def clean(self) -> dict:
        data = super().clean()
        if not self.needs_consent:
            return data
        if data.get("terms_version") != self.terms_version_id:
            # Rule 14: the version changed while the page was open; the tick was for the old.
            self.data = self.data.copy()
            self.data.pop("agree_terms", None)
            self.add_error(
                "agree_terms",
                forms.ValidationError(
                    _(
                        "利用規約が改定されました。新しい利用規約を読んで、"
                        "もう一度チェックを入れてください。"
                    ),
                    code="terms_changed",
                ),
            )
        elif not data.get("agree_terms"):
            self.add_error(
                "agree_terms",
                forms.ValidationError(
                    _(
                        "日時を変更するには、新しい利用規約と利用するアプリの利用規約への"
                        "同意が必要です（第4条）。"
                    ),
                    code="required",
                ),
            )
        return data

    @property
    def chosen(self) -> Availability | None:
        """The chosen slot, once the form is valid."""
        start = self.cleaned_data.get("slot") if hasattr(self, "cleaned_data") else None
        return self.window.availability.get(start) if start else None

    def chosen_start(self) -> datetime | None:
        """The session the form names (sent, valid or not), for the pages around it."""
        return parse_slot_value(self.data.get("slot") or self.initial.get("slot"))


# --- The waiting list (キャンセル待ち, rule 16) -------------------------------------------


def _language_choices() -> list[tuple[str, str]]:
    return [(code, label) for code, label in settings.LANGUAGES]


class LanguageSelect(forms.Select):
    """Each language named in itself, marked with its own `lang` (as the language switch)."""

    def create_option(self, name: str, value: object, *args: object, **kwargs: object) -> dict:
        option = super().create_option(name, value, *args, **kwargs)
        if value:
            option["attrs"]["lang"] = languages.bcp47(str(value))
        return option


class WaitlistJoinForm(forms.Form):
    """Join a full slot's waiting list: who you are, how to reach you, in which language.

    The terms and the device checklist are agreed to when an offer is claimed
    (`WaitlistClaimForm`): consent is given to the version in force at the request."""

    name = RequestForm.base_fields["name"]
    seeker_number = RequestForm.base_fields["seeker_number"]
    about_to_register = RequestForm.base_fields["about_to_register"]
    email = forms.CharField(
        label=_("メールアドレス"),
        max_length=254,
        help_text=_("空きが出たときのご案内を、このアドレスにお送りします。"),
        error_messages={
            "required": _("メールアドレスを入力してください。"),
            "max_length": _("メールアドレスが長すぎます。"),
        },
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    language = forms.ChoiceField(
        label=_("連絡の言語"),
        choices=_language_choices,
        widget=LanguageSelect,
        help_text=_("ご案内のメールをこの言語でお送りします。"),
        error_messages={
            "required": _("連絡の言語を選んでください。"),
            "invalid_choice": _("連絡の言語を一覧から選んでください。"),
        },
    )
    platform = RequestForm.base_fields["platform"]

    clean_name = RequestForm.clean_name
    clean_seeker_number = RequestForm.clean_seeker_number
    _clean_email = RequestForm._clean_email
    clean_email = RequestForm.clean_email
    error_fields = RequestForm.error_fields

    def clean(self) -> dict:
        data = super().clean()
        check_seeker_number_or_registering(self, data)
        return data

    def service_fields(self) -> dict:
        """The keyword arguments of `services.waitlist_join` this form provides."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "email": data["email"],
            "seeker_number": data["seeker_number"],
            "about_to_register": bool(data.get("about_to_register")),
            "platform": data["platform"],
            "language": data["language"],
        }


class WaitlistClaimForm(forms.Form):
    """Claim an offered place: the consent a request needs (Art. 4, 5, 6(3)), one button."""

    environment = RequestForm.base_fields["environment"]
    camera = RequestForm.base_fields["camera"]
    agree_terms = RequestForm.base_fields["agree_terms"]
    terms_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    environment_items = RequestForm.environment_items
    confirmed_items = RequestForm.confirmed_items
    error_fields = RequestForm.error_fields

    def __init__(self, *args: object, terms_version_id: int | None, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.terms_version_id = terms_version_id
        self.fields["terms_version"].initial = terms_version_id

    def clean(self) -> dict:
        data = super().clean()
        check_terms_version(self, data)  # Art. 13, as on the request form
        return data
