"""The job seeker's pages: home, the week of sessions, the request form, the private page.

Views read through `selectors`, judge with `rules` and act only through `services`; what
they add is the conversation with the person: forms, refusals explained, the next step.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.core import signing
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from consent import selectors as consent_selectors
from consent.models import TermsVersion
from consent.services import ConsentError, ConsentGiven
from hellowork import languages
from reservations import offices, ratelimit, rules, selectors, services
from reservations.forms import (
    BookingWindow,
    MoveForm,
    RequestForm,
    WaitlistClaimForm,
    WaitlistJoinForm,
    parse_slot_value,
    slot_value,
)
from reservations.ics import counselor_feed_ics, reservation_ics
from reservations.models import (
    PREFECTURE_ORDER,
    PREFECTURES,
    MeetingState,
    Office,
    Platform,
    Reservation,
    WaitlistEntry,
)
from reservations.offices import current_office_or_404
from reservations.rules import Status, WaitlistStatus

logger = logging.getLogger(__name__)

# How many sessions the home page offers directly, and full ones with a waiting list.
HOME_SLOTS = 6
HOME_FULL_SLOTS = 3
# The confirmation step's one-time token: signed so only this site can issue one, and
# remembered in the (shared) cache once used so that a double click books once.
FORM_TOKEN_SALT = "reservations.request-form"  # noqa: S105 - a signing salt, not a secret
FORM_TOKEN_MAX_AGE = 6 * 3600
FORM_TOKEN_PENDING = "pending"  # noqa: S105 - a marker value
FORM_TOKEN_WAIT_STEPS = 50  # x 0.2 s: how long a duplicate waits for the first to finish
# The token is bound to the browser session and to the answers it confirmed, so a copied
# token (another browser, other answers) can never show the booking it made.
FORM_SESSION_KEY = "reservations:form-key"
DONE_SESSION_KEY = "reservations:done"
# The done page shows the private link only this long after booking: on a shared PC the
# next person finds only "your request was sent; the link is in your email".
DONE_PAGE_SECONDS = 5 * 60
# Refusals from the service that concern the chosen slot.
SLOT_REFUSALS = {refusal.value for refusal in rules.RequestRefusal}


# --- shared pieces --------------------------------------------------------------------


def _today(now: datetime) -> date:
    return now.astimezone(rules.TOKYO).date()


def _booking_window(office: Office, now: datetime) -> BookingWindow:
    """The calendar and availability from today to the end of the booking horizon, read
    from the shared cache (`selectors.booking_horizon`); no query when it is fresh there."""
    horizon = selectors.booking_horizon(office, now)
    return BookingWindow(now=now, rules=horizon.rules, availability=horizon.availability)


def _language() -> str:
    return languages.supported(translation.get_language()) or settings.LANGUAGE_CODE


def _private(response: HttpResponse) -> HttpResponse:
    """Pages behind the private link are never indexed (their views are never_cache too)."""
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- home and the week ----------------------------------------------------------------


def _kept(
    request: HttpRequest, office: Office, now: datetime, name: str, render_part: Callable[[], str]
) -> str:
    """A page's part rendered by `render_part()`, kept in the shared cache with the office's
    availability (`selectors.availability_cached`): per page language and per the way the
    page's links are written (at the root or under /o/<slug>/)."""
    links = offices.office_path(request, "reservations:home")
    language = translation.get_language()
    return selectors.availability_cached(office, now, f"{name}:{language}:{links}", render_part)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """What online counselling is, who may use it, and the next sessions to book; at the
    root of a site serving several offices, the office chooser."""
    if offices.offices_to_choose_from(request) and offices.current_office(request) is None:
        return chooser(request)
    office = current_office_or_404(request)
    now = timezone.now()
    terms = offices.current_terms(request, now).in_force

    def content() -> str:
        window = _booking_window(office, now)
        next_slots = [a for _start, a in sorted(window.availability.items()) if not a.is_full]
        # Rule 16: a full slot that could still be requested has a waiting list.
        full_slots = [a for _start, a in sorted(window.availability.items()) if a.is_full]
        return render_to_string(
            "reservations/_home.html",
            {
                "next_slots": next_slots[:HOME_SLOTS],
                "full_slots": full_slots[:HOME_FULL_SLOTS],
                "terms": terms,
            },
            request,
        )

    # The terms' title is part of it: a version taking effect today is named at once.
    home = _kept(request, office, now, f"home:{terms.pk if terms else ''}", content)
    return render(request, "reservations/home.html", {"home": home})


@dataclass(frozen=True)
class PrefectureGroup:
    prefecture: str
    offices: list[Office]


def chooser(request: HttpRequest) -> HttpResponse:
    """Every office taking bookings, by prefecture; a plain GET form narrows the list."""
    query = " ".join(request.GET.get("q", "").split())[:100]
    prefecture = request.GET.get("prefecture", "")
    if prefecture not in PREFECTURE_ORDER:
        prefecture = ""
    groups: list[PrefectureGroup] = []
    for choice in selectors.offices_to_choose(query=query, prefecture=prefecture):
        if not groups or groups[-1].prefecture != choice.prefecture:
            groups.append(PrefectureGroup(choice.prefecture, []))
        groups[-1].offices.append(choice)
    return render(
        request,
        "reservations/chooser.html",
        {
            "groups": groups,
            "query": query,
            "prefecture": prefecture,
            "prefectures": PREFECTURES,
            "found": sum(len(group.offices) for group in groups),
            "filtered": bool(query or prefecture),
        },
    )


@dataclass(frozen=True)
class SlotCell:
    start: datetime
    end: datetime
    state: str  # open | full | closed | not_yet
    value: str


@dataclass(frozen=True)
class DayColumn:
    day: date
    closed_label: str
    cells: list[SlotCell]

    @property
    def open_count(self) -> int:
        return sum(1 for cell in self.cells if cell.state == "open")


def _closed_label(day: date, office_rules: rules.OfficeRules) -> str:
    reason = rules.closed_reason(day, office_rules)
    if reason is None:
        return ""
    if reason == rules.ClosedReason.HOLIDAY:
        name = rules.holiday_name(day, translation.get_language() or "ja")
        return _("祝日（%(name)s）のため、お休みです") % {"name": name}
    return {
        rules.ClosedReason.YEAR_END: _("年末年始のため、お休みです"),
        rules.ClosedReason.CLOSURE: _("休業日のため、お休みです"),
        rules.ClosedReason.WEEKEND: _("土曜日・日曜日は、お休みです"),
        rules.ClosedReason.NO_SESSIONS: _("この曜日は相談を行っていません"),
    }[reason]


def _week_days(monday: date, window: BookingWindow) -> list[DayColumn]:
    horizon = rules.horizon_end(window.now, window.rules)
    weekdays_with_sessions = {w.weekday for w in window.rules.windows}
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        # Saturdays and Sundays appear only where the office runs sessions on them.
        if day.weekday() >= 5 and day.weekday() not in weekdays_with_sessions:
            continue
        cells = []
        for slot in rules.slots_for_day(day, window.rules):
            available = window.availability.get(slot.start)
            if available is not None:
                state = "full" if available.is_full else "open"
            elif day > horizon:
                state = "not_yet"
            else:
                state = "closed"
            cells.append(SlotCell(slot.start, slot.end, state, slot_value(slot.start)))
        label = _closed_label(day, window.rules)
        states = {cell.state for cell in cells}
        # A day with nothing left to choose says so in one line instead of eight grey boxes.
        if not label and states == {"closed"}:
            label = _("この日の申込みは締め切りました")
        elif not label and states == {"not_yet"}:
            label = _("この日の申込みは、まだ受け付けていません")
        days.append(DayColumn(day, label, cells))
    return days


@require_GET
def week(request: HttpRequest) -> HttpResponse:
    """One week of sessions, open ones to book, full and closed ones explained."""
    office = current_office_or_404(request)
    now = timezone.now()
    today = _today(now)
    first_monday = today - timedelta(days=today.weekday())
    horizon = rules.last_bookable_day(now, office.horizon_days)
    last_monday = horizon - timedelta(days=horizon.weekday())
    try:
        asked = date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        asked = None
    monday = None
    if asked is not None:
        monday = min(max(asked - timedelta(days=asked.weekday()), first_monday), last_monday)

    def content() -> str:
        window = _booking_window(office, now)
        shown = monday
        if shown is None:
            # Open on the first week that has a free place: no empty week first.
            free = [start for start, a in window.availability.items() if not a.is_full]
            first_free = min(free).astimezone(rules.TOKYO).date() if free else today
            shown = min(
                max(first_free - timedelta(days=first_free.weekday()), first_monday), last_monday
            )
        days = _week_days(shown, window)
        return render_to_string(
            "reservations/_week.html",
            {
                "days": days,
                "monday": shown,
                "sunday": shown + timedelta(days=6),
                "previous_week": shown - timedelta(days=7) if shown > first_monday else None,
                "next_week": shown + timedelta(days=7) if shown < last_monday else None,
                "open_count": sum(day.open_count for day in days),
            },
            request,
        )

    # The week shown is one of the few from today to the horizon, whatever was asked.
    week = _kept(request, office, now, f"week:{monday or 'first'}", content)
    return render(request, "reservations/week.html", {"week": week})


# --- the request form -----------------------------------------------------------------


def _form_page(
    request: HttpRequest,
    form: RequestForm,
    terms: TermsVersion | None,
    *,
    notice: str | None = None,
) -> HttpResponse:
    return render(
        request,
        "reservations/request_form.html",
        {"form": form, "terms": terms, "notice": notice},
    )


def _first_step(
    request: HttpRequest, office: Office, now: datetime, terms: TermsVersion | None
) -> HttpResponse:
    """The empty form, as the week page's link opens it: for a free slot (or none chosen) its
    fields are kept with the availability, like the week page (`_kept`), and neither the
    horizon nor the fields are worked out again; any other slot is explained afresh."""
    raw = request.GET.get("slot", "")
    start = parse_slot_value(raw)
    value = slot_value(start) if start else ""
    terms_version_id = terms.pk if terms else None

    def fields() -> str | None:
        window = _booking_window(office, now)
        chosen = window.availability.get(start) if value else None
        if value and (chosen is None or chosen.is_full):
            return None
        form = RequestForm(
            initial={"slot": value} if value else {},
            window=window,
            terms_version_id=terms_version_id,
        )
        return render_to_string(
            "reservations/_request_fields.html", {"form": form, "terms": terms}, request
        )

    # For a free slot (or none chosen) the fields are kept; None is kept for any other
    # slot, which is explained afresh below. A slot that is no slot at all is not kept.
    kept = None
    if value or not raw:
        kept = _kept(request, office, now, f"form:{value}:{terms_version_id or ''}", fields)
    if kept is None:
        window = _booking_window(office, now)
        problem = window.problem(start)
        initial = {"slot": value} if start and not problem else {}
        form = RequestForm(initial=initial, window=window, terms_version_id=terms_version_id)
        return _form_page(request, form, terms, notice=problem)
    return render(
        request,
        "reservations/request_form.html",
        {"form": None, "fields": kept, "terms": terms, "notice": None},
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _session_tag(request: HttpRequest) -> str:
    """A tag of this browser's session (a random key kept in it; never the session id)."""
    key = request.session.get(FORM_SESSION_KEY)
    if not key:
        key = request.session[FORM_SESSION_KEY] = secrets.token_urlsafe(16)
    return _digest(key)


def _answers_digest(pairs: list[tuple[str, str]]) -> str:
    """A hash of the confirmed answers (order-free: a browser may post them in any order)."""
    return _digest(json.dumps(sorted(pairs), ensure_ascii=False))


def _sent_answers(request: HttpRequest) -> list[tuple[str, str]]:
    """The answers the confirmation step carried, as the browser sent them back."""
    return [
        (name, value)
        for name, values in request.POST.lists()
        if name not in _NOT_ANSWERS
        for value in values
    ]


_NOT_ANSWERS = frozenset({"csrfmiddlewaretoken", "form_token", "action"})


def _confirm_page(
    request: HttpRequest, form: RequestForm, terms: TermsVersion | None, *, notice: str = ""
) -> HttpResponse:
    nonce = ".".join(
        (secrets.token_urlsafe(16), _session_tag(request), _answers_digest(list(form.carried())))
    )
    token = signing.dumps(nonce, salt=FORM_TOKEN_SALT)
    return render(
        request,
        "reservations/request_confirm.html",
        {"form": form, "terms": terms, "form_token": token, "notice": notice},
    )


def _token_key(nonce: str) -> str:
    return f"request-form:{nonce}"


def _claim_once(key: str) -> str | None:
    """None if this request is the first to send a one-time token (its cache `key`); else
    what the first one left there (the request form: the booking's private token), or
    FORM_TOKEN_PENDING if it is still at work after the wait."""
    for _step in range(FORM_TOKEN_WAIT_STEPS):
        if cache.add(key, FORM_TOKEN_PENDING, timeout=FORM_TOKEN_MAX_AGE):
            return None
        outcome = cache.get(key)
        if outcome not in (None, FORM_TOKEN_PENDING):
            return outcome
        time.sleep(0.2)
    return FORM_TOKEN_PENDING


def _signed_nonce(request: HttpRequest, salt: str, digest: str) -> tuple[str | None, bool]:
    """The nonce of a one-time token this site signed with `salt` in the last hours, else
    None; and whether it was issued to this browser session for exactly what `digest`
    names (the answers, or the booking and its new slot)."""
    try:
        nonce = signing.loads(
            request.POST.get("form_token", ""), salt=salt, max_age=FORM_TOKEN_MAX_AGE
        )
    except signing.BadSignature:
        return None, False
    parts = str(nonce).split(".")
    bound = (
        len(parts) == 3
        and bool(request.session.get(FORM_SESSION_KEY))
        and hmac.compare_digest(parts[1], _session_tag(request))
        and hmac.compare_digest(parts[2], digest)
    )
    return str(nonce), bound


def _form_nonce(request: HttpRequest) -> tuple[str | None, bool]:
    """The request form's one-time token (`_signed_nonce`), bound to the answers sent."""
    return _signed_nonce(request, FORM_TOKEN_SALT, _answers_digest(_sent_answers(request)))


def _release(nonce: str | None) -> None:
    """Nothing was booked with this token: it may be sent again."""
    if nonce is not None:
        cache.delete(_token_key(nonce))


def _show_done(request: HttpRequest, token: str) -> HttpResponse:
    # The done page finds the booking through the session: nothing personal in the URL.
    request.session[DONE_SESSION_KEY] = {
        "token": token,
        "until": int(timezone.now().timestamp()) + DONE_PAGE_SECONDS,
    }
    return redirect(offices.office_path(request, "reservations:done"))


def too_many_requests(request: HttpRequest) -> HttpResponse:
    """The kind 429 page of the rate limit."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = str(ratelimit.WINDOW_SECONDS)
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def request_booking(request: HttpRequest) -> HttpResponse:
    """The request form (step 1), its confirmation (step 2) and the sending of it."""
    office = current_office_or_404(request)
    now = timezone.now()
    terms_now = offices.current_terms(request, now)
    terms = terms_now.in_force
    if request.method == "GET":
        return _first_step(request, office, now, terms)

    window = _booking_window(office, now)
    options = {"window": window, "terms_version_id": terms.pk if terms else None}
    form = RequestForm(request.POST, **options)
    action = request.POST.get("action", "review")
    if action != "submit":
        if action == "edit" or not form.is_valid():
            return _form_page(request, form, terms)
        return _confirm_page(request, form, terms)

    # Sending the confirmed answers. A repeated click (or a reload) of the same
    # confirmation is answered with the booking the first one made.
    nonce, bound = _form_nonce(request)
    if nonce is not None and not bound:
        if cache.get(_token_key(nonce)) is not None:
            # A copied token (another browser, other answers): it was used, and that is
            # all this page says; the booking it made stays its owner's.
            logger.warning("request form: a used token came back from elsewhere")
            return render(request, "reservations/refused.html", {"kind": "already_sent"})
        nonce = None  # never used: confirm these answers afresh
    if nonce is not None:
        earlier = _claim_once(_token_key(nonce))
        if earlier == FORM_TOKEN_PENDING:
            return render(request, "reservations/refused.html", {"kind": "busy"})
        if earlier is not None:
            return _show_done(request, earlier)
    if not form.is_valid():
        _release(nonce)
        if form.only_slot_is_full():
            return _slot_taken(request, office, form, form.taken_slot(), now)
        return _form_page(request, form, terms)
    if nonce is None:
        return _confirm_page(
            request,
            form,
            terms,
            notice=_(
                "時間がたったため、まだ送信していません。内容を確かめて、もう一度送信してください。"
            ),
        )

    fields = form.service_fields()
    ip = ratelimit.client_ip(request)
    person = rules.person_key(seeker_number=fields["seeker_number"], email=fields["email"])
    per_ip, per_person = ratelimit.request_limits()
    # Both counters move on every attempt, so neither can be probed for free.
    within_ip = ratelimit.hit(per_ip, ip or "", now)
    within_person = ratelimit.hit(per_person, person, now)
    if not (within_ip and within_person):
        _release(nonce)
        return too_many_requests(request)

    language = _language()
    consent = ConsentGiven(
        terms_version_id=terms.pk,
        # One tick agrees to both: the office's terms and the application's (Art. 4).
        platform_terms_accepted=form.cleaned_data["agree_terms"],
        confirmed_items=frozenset(form.confirmed_items()),
        ip_address=ip,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000],
        language=language,
    )
    try:
        reservation = services.reservation_request(
            office=office,
            consent=consent,
            language=language,
            now=now,
            terms_now=terms_now,
            **fields,
        )
    except services.ReservationError as error:
        # Nothing was saved; the same answers may be sent again once the problem is fixed.
        _release(nonce)
        return _refusal(request, office, form, terms, error, now)
    cache.set(_token_key(nonce), reservation.token, timeout=FORM_TOKEN_MAX_AGE)
    return _show_done(request, reservation.token)


def _slot_taken(
    request: HttpRequest, office: Office, form: RequestForm, taken: datetime, now: datetime
) -> HttpResponse:
    """Another person was faster: offer the nearest free sessions, keeping every answer so
    that choosing one leads straight back to the confirmation."""
    fresh = _booking_window(office, now)
    return render(
        request,
        "reservations/slot_taken.html",
        {
            "taken_start": taken,
            "alternatives": [a for a in fresh.nearest(taken, count=5) if a.slot.start != taken][:4],
            "answers": [(name, value) for name, value in form.carried() if name != "slot"],
        },
    )


def _refusal(
    request: HttpRequest,
    office: Office,
    form: RequestForm,
    terms: TermsVersion | None,
    error: services.ReservationError,
    now: datetime,
) -> HttpResponse:
    """Explain a refusal of the service kindly, with what the person can do next."""
    if isinstance(error, services.SlotFull):
        # Art. 6(2): another person was faster.
        return _slot_taken(request, office, form, form.cleaned_data["slot"], now)
    if isinstance(error, services.LimitReached):
        existing: Reservation | None = error.context.get("existing")  # type: ignore[assignment]
        if existing is not None:
            services.reservation_link_resend(
                reservation=existing, email=form.cleaned_data["email"], now=now
            )
        # 求職番号 and email are not secrets: the page is the same whether or not the email
        # matched, and shows nothing of the existing booking; only its own address gets the link.
        return render(
            request,
            "reservations/refused.html",
            {"kind": "limit", "message": error.message},
        )
    if isinstance(error, services.Restricted):
        return render(request, "reservations/refused.html", {"kind": "restricted"})
    if isinstance(error, ConsentError):
        missing = set(error.context.get("missing") or ())  # type: ignore[call-overload]
        field = "agree_terms"
        if missing and error.code != "terms_changed":
            field = "camera" if missing == {"camera"} else "environment"
        form.add_error(field, error.message)
        return _form_page(request, form, terms)
    field = {"seeker_number": "seeker_number", "platform": "platform"}.get(error.code)
    if error.code in SLOT_REFUSALS:
        field = "slot"
    form.add_error(field, error.message)
    return _form_page(request, form, terms)


@never_cache
@require_GET
def done(request: HttpRequest) -> HttpResponse:
    """Step 3: the reference, what happens next, and the private link."""
    office = current_office_or_404(request)
    shown = request.session.get(DONE_SESSION_KEY)
    if shown is None:
        return redirect(offices.office_path(request, "reservations:home"))
    fresh = isinstance(shown, dict) and timezone.now().timestamp() < shown.get("until", 0)
    reservation = selectors.reservation_by_token(str(shown.get("token", ""))) if fresh else None
    if reservation is None:
        # Later (or another person at the same PC): the link is only in the email now.
        request.session.pop(DONE_SESSION_KEY, None)
        return _private(render(request, "reservations/done.html", {"reservation": None}))
    if reservation.office_id != office.pk:
        # Booked at another office: its own done page names it.
        return redirect(reservation.office.page_path("reservations:done", prefixed=True))
    private_path = reservation.get_absolute_url()
    return _private(
        render(
            request,
            "reservations/done.html",
            {
                "reservation": reservation,
                "private_path": private_path,
                "private_url": request.build_absolute_uri(private_path),
                "done_minutes": DONE_PAGE_SECONDS // 60,
                "masked_email": rules.mask_email(reservation.email),
            },
        )
    )


# --- the private booking page ---------------------------------------------------------


def _booking_or_404(request: HttpRequest, token: str) -> Reservation:
    # The private link works whatever the office: the booking names its office.
    reservation = offices.private_booking(request, token)
    if reservation is None:
        # The same friendly page for an unknown, mistyped or erased link: nothing leaks.
        raise Http404
    # The private link arrives by email, in the booking's language; it opens in that
    # language in any browser unless the person chose one with the switch.
    if languages.chosen_language(request) is None and reservation.language:
        translation.activate(reservation.language)
        request.LANGUAGE_CODE = translation.get_language()
    return reservation


def _can_cancel(reservation: Reservation, now: datetime) -> bool:
    # Art. 6(4): online until the start; afterwards only by phone.
    return reservation.is_active and rules.can_seeker_cancel(reservation.slot.starts_at, now)


@never_cache
@require_GET
def booking(request: HttpRequest, token: str) -> HttpResponse:
    """The seeker's private page: status, time, how to join, .ics, reminders, cancel."""
    reservation = _booking_or_404(request, token)
    now = timezone.now()
    confirmed = reservation.status == Status.CONFIRMED
    return _private(
        render(
            request,
            "reservations/booking.html",
            {
                "reservation": reservation,
                "can_cancel": _can_cancel(reservation, now),
                "show_meeting": confirmed and reservation.meeting_link_ready,
                "meeting_pending": confirmed and reservation.meeting_state != MeetingState.READY,
                "started": now >= reservation.slot.starts_at,
                **_move_offer(reservation, now),
            },
        )
    )


def _move_offer(reservation: Reservation, now: datetime) -> dict[str, object]:
    """For the private page: whether to offer "日時を変更する", else a short reason why not
    (none for a booking that is over: its page says so already)."""
    if not reservation.is_active or now >= reservation.slot.starts_at:
        return {"can_move": False, "move_refusal": ""}
    refusal = _move_refusal(reservation, now)
    return {
        "can_move": refusal is None,
        "move_refusal": _move_refusal_text(refusal) if refusal is not None else "",
    }


@never_cache
@require_GET
def booking_ics(request: HttpRequest, token: str) -> HttpResponse:
    """The booking as a calendar file, for the phone's calendar."""
    reservation = _booking_or_404(request, token)
    if not reservation.is_active:
        raise Http404
    response = HttpResponse(
        reservation_ics(reservation), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="hellowork-{reservation.reference}.ics"'
    )
    return _private(response)


@never_cache
@require_GET
def counselor_calendar(request: HttpRequest, token: str) -> HttpResponse:
    """A counselor's private calendar feed (私の相談 issues and revokes its address): time,
    platform and booking reference of each session, nothing about the seeker (rule 15).
    Calendar programs fetch it without a session, so the secret in the address is the key."""
    counselor = selectors.counselor_by_calendar_token(token)
    if counselor is None or not counselor.is_active:
        raise Http404
    sessions = list(selectors.calendar_sessions(counselor, timezone.now()))
    response = HttpResponse(
        counselor_feed_ics(counselor, sessions), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="hellowork-sessions.ics"'
    return _private(response)


@never_cache
@require_http_methods(["GET", "POST"])
def cancel(request: HttpRequest, token: str) -> HttpResponse:
    """Cancel with a confirmation step; allowed online until the start (Art. 6(4))."""
    reservation = _booking_or_404(request, token)
    now = timezone.now()
    booking_url = reservation.get_absolute_url()
    if request.method == "POST":
        # The service decides (Art. 6(4)); the page only words its refusal for the seeker.
        try:
            services.reservation_cancel(reservation=reservation, by="seeker", now=now)
        except services.ReservationError as error:
            refused_by_rule = isinstance(error, services.TransitionNotAllowed) or (
                error.code == "too_late"
            )
            messages.error(
                request, _not_cancellable_message(reservation) if refused_by_rule else error.message
            )
        else:
            messages.success(
                request,
                _(
                    "予約をキャンセルしました。ハローワークにも伝わっています。ご連絡ありがとうございました。"
                ),
            )
        return redirect(booking_url)
    return _private(
        render(
            request,
            "reservations/cancel.html",
            {
                "reservation": reservation,
                "can_cancel": _can_cancel(reservation, now),
                "not_cancellable": _not_cancellable_message(reservation),
            },
        )
    )


def _not_cancellable_message(reservation: Reservation) -> str:
    if reservation.status == Status.CANCELLED:
        return _("この予約は、すでにキャンセルされています。")
    if not reservation.is_active:
        return _("この予約は終了しているため、キャンセルできません。")
    return _(
        "開始時刻を過ぎたため、このページからはキャンセルできません。ハローワークにお電話ください。"
    )


# --- moving the booking (振替, rule 10) ------------------------------------------------

MOVE_TOKEN_SALT = "reservations.move-form"  # noqa: S105 - a signing salt, not a secret
# What a used move token remembers: the move was made (a repeat shows the private page).
MOVE_DONE = "moved"


@dataclass(frozen=True)
class MoveDay:
    day: date
    slots: list[rules.Slot]


def _move_refusal(reservation: Reservation, now: datetime) -> rules.MoveRefusal | None:
    """Why the seeker may not move this booking now (`rules.seeker_move_refusal`)."""
    if not reservation.is_active:
        return rules.MoveRefusal.NOT_ACTIVE  # no query for a booking that is over
    office = reservation.office
    day = reservation.slot.starts_at.astimezone(rules.TOKYO).date()
    return rules.seeker_move_refusal(
        status=reservation.status,
        slot_start=reservation.slot.starts_at,
        now=now,
        rules=selectors.office_rules(office, day, day),
        moves_used=selectors.seeker_moves_used(reservation),
        max_moves=office.max_seeker_moves,
        accepting_bookings=office.accepting_bookings,
    )


def _move_refusal_text(refusal: rules.MoveRefusal) -> str:
    """The short reason the private page gives for not offering a move."""
    return {
        rules.MoveRefusal.NOT_ACTIVE: _("この予約は終了しているため、日時を変更できません。"),
        rules.MoveRefusal.NOT_ONLINE: _("いまはオンラインでの日時の変更を受け付けていません。"),
        rules.MoveRefusal.DISABLED: _("このハローワークでは、このページから日時を変更できません。"),
        rules.MoveRefusal.PAST_CUTOFF: _(
            "この予約の申込締切（相談日の前の開庁日の受付終了）を過ぎたため、"
            "このページからは日時を変更できません。"
        ),
        rules.MoveRefusal.MOVES_USED: _(
            "この予約は、このページから変更できる回数まで変更しました。"
        ),
    }[refusal]


def _move_refused(
    request: HttpRequest, reservation: Reservation, kind: str, message: str = ""
) -> HttpResponse:
    """A kind page for every refusal of a move, in the page's language."""
    return _private(
        render(
            request,
            "reservations/move_refused.html",
            {"reservation": reservation, "kind": kind, "message": message},
        )
    )


def _consent_needed(reservation: Reservation, now: datetime) -> tuple[TermsVersion | None, bool]:
    """The terms in force, and whether moving needs the seeker to agree to them (rule 14)."""
    terms = consent_selectors.terms_in_force(reservation.office_id, now)
    if terms is None:
        return None, False
    agreed = consent_selectors.latest_consent(reservation.pk)
    return terms, rules.move_needs_consent(
        consented_terms_id=agreed.terms_version_id if agreed is not None else None,
        terms_in_force_id=terms.pk,
    )


@never_cache
@require_GET
def move(request: HttpRequest, token: str) -> HttpResponse:
    """The free sessions the booking can move to, day by day, each one a button."""
    reservation = _booking_or_404(request, token)
    now = timezone.now()
    refusal = _move_refusal(reservation, now)
    if refusal is not None:
        return _move_refused(request, reservation, refusal.value, _move_refusal_text(refusal))
    window = _booking_window(reservation.office, now)
    current = reservation.slot.starts_at
    days: list[MoveDay] = []
    for start, available in sorted(window.availability.items()):
        if available.is_full or start == current:
            continue
        day = start.astimezone(rules.TOKYO).date()
        if not days or days[-1].day != day:
            days.append(MoveDay(day, []))
        days[-1].slots.append(available.slot)
    office = reservation.office
    return _private(
        render(
            request,
            "reservations/move.html",
            {
                "reservation": reservation,
                "days": days,
                "moves_left": office.max_seeker_moves - selectors.seeker_moves_used(reservation),
            },
        )
    )


def _move_digest(reservation: Reservation, slot: str) -> str:
    return _digest(f"{reservation.token}:{slot}")


def _move_confirm_page(
    request: HttpRequest,
    reservation: Reservation,
    form: MoveForm,
    terms: TermsVersion | None,
    *,
    notice: str = "",
) -> HttpResponse:
    start = form.chosen_start()
    nonce = ".".join(
        (
            secrets.token_urlsafe(16),
            _session_tag(request),
            _move_digest(reservation, slot_value(start) if start else ""),
        )
    )
    chosen = form.window.availability.get(start) if start else None
    return _private(
        render(
            request,
            "reservations/move_confirm.html",
            {
                "reservation": reservation,
                "form": form,
                "terms": terms,
                "new_slot": chosen.slot if chosen else None,
                "slot_value": slot_value(start) if start else "",
                "form_token": signing.dumps(nonce, salt=MOVE_TOKEN_SALT),
                "notice": notice,
            },
        )
    )


def _move_nonce(request: HttpRequest, reservation: Reservation) -> tuple[str | None, bool]:
    """The move form's one-time token (`_signed_nonce`), bound to this booking and slot."""
    slot = str(request.POST.get("slot", ""))[:60]
    return _signed_nonce(request, MOVE_TOKEN_SALT, _move_digest(reservation, slot))


def _move_token_key(nonce: str) -> str:
    return f"move-form:{nonce}"


@never_cache
@require_http_methods(["GET", "POST"])
def move_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Old → new, the new terms only when they changed, and the move itself."""
    reservation = _booking_or_404(request, token)
    now = timezone.now()
    refusal = _move_refusal(reservation, now)
    if refusal is not None:
        return _move_refused(request, reservation, refusal.value, _move_refusal_text(refusal))
    terms, needs_consent = _consent_needed(reservation, now)
    if terms is None:
        return _move_refused(request, reservation, "no_terms")
    window = _booking_window(reservation.office, now)
    options = {
        "window": window,
        "current_start": reservation.slot.starts_at,
        "terms_version_id": terms.pk,
        "needs_consent": needs_consent,
    }
    if request.method == "GET":
        form = MoveForm({"slot": request.GET.get("slot", "")[:60]}, **options)
        form.is_valid()
        if "slot" in form.errors:
            return _slot_refused(request, reservation, form, now)
        form = MoveForm(initial={"slot": slot_value(form.cleaned_data["slot"])}, **options)
        return _move_confirm_page(request, reservation, form, terms)

    form = MoveForm(request.POST, **options)
    nonce, bound = _move_nonce(request, reservation)
    if nonce is not None and not bound:
        if cache.get(_move_token_key(nonce)) is not None:
            # A used token from another browser or booking: it changes nothing here.
            logger.warning("move form: a used token came back from elsewhere")
            return _move_refused(request, reservation, "already_sent")
        nonce = None
    if nonce is not None:
        earlier = _claim_once(_move_token_key(nonce))
        if earlier == FORM_TOKEN_PENDING:
            return _move_refused(request, reservation, "busy")
        if earlier is not None:
            return redirect(reservation.get_absolute_url())  # moved by the first click
    if not form.is_valid():
        _release_move(nonce)
        if "slot" in form.errors:
            return _slot_refused(request, reservation, form, now)
        return _move_confirm_page(request, reservation, form, terms)
    if nonce is None:
        return _move_confirm_page(
            request,
            reservation,
            form,
            terms,
            notice=_(
                "時間がたったため、まだ変更していません。内容を確かめて、もう一度押してください。"
            ),
        )

    ip = ratelimit.client_ip(request)
    per_ip, per_person = ratelimit.move_limits()
    within_ip = ratelimit.hit(per_ip, ip or "", now)
    within_person = ratelimit.hit(per_person, reservation.person_key, now)
    if not (within_ip and within_person):
        _release_move(nonce)
        return too_many_requests(request)

    consent = None
    if needs_consent:
        agreed = consent_selectors.latest_consent(reservation.pk)
        consent = ConsentGiven(
            terms_version_id=form.cleaned_data["terms_version"],
            # One tick agrees to both, as on the request form (Art. 4).
            platform_terms_accepted=form.cleaned_data["agree_terms"],
            # The Art. 5 checklist confirmed with the request stands for the same session
            # arrangements; only the terms are new.
            confirmed_items=frozenset(
                key for key, value in (agreed.items if agreed else {}).items() if value
            ),
            ip_address=ip,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000],
            language=_language(),
        )
    try:
        services.reservation_move_by_seeker(
            reservation=reservation,
            slot_start=form.cleaned_data["slot"],
            consent=consent,
            now=now,
        )
    except services.ReservationError as error:
        _release_move(nonce)
        return _move_service_refused(request, reservation, form, terms, error)
    cache.set(_move_token_key(nonce), MOVE_DONE, timeout=FORM_TOKEN_MAX_AGE)
    messages.success(
        request,
        _(
            "日時を変更しました。ハローワークで新しい日時を確認し、あらためて「予約確定」の"
            "メールをお送りします。"
        ),
    )
    return redirect(reservation.get_absolute_url())


def _release_move(nonce: str | None) -> None:
    """Nothing was moved with this token: it may be sent again."""
    if nonce is not None:
        cache.delete(_move_token_key(nonce))


def _slot_refused(
    request: HttpRequest, reservation: Reservation, form: MoveForm, now: datetime
) -> HttpResponse:
    """The chosen session cannot take the booking: say why, and offer the nearest free ones."""
    if form.has_error("slot", code="slot_full"):
        return _move_slot_taken(request, reservation, form.chosen_start(), now)
    messages_ = form.errors.get("slot") or []
    return _move_refused(request, reservation, "slot", " ".join(str(m) for m in messages_))


def _move_slot_taken(
    request: HttpRequest,
    reservation: Reservation,
    taken: datetime | None,
    now: datetime,
    alternatives: list[selectors.Availability] | None = None,
) -> HttpResponse:
    if alternatives is None:
        exclude = {reservation.slot.starts_at, *([taken] if taken else [])}
        alternatives = selectors.nearest_free_slots(
            reservation.office, taken or reservation.slot.starts_at, now, exclude=exclude
        )
    return _private(
        render(
            request,
            "reservations/move_refused.html",
            {
                "reservation": reservation,
                "kind": "slot_taken",
                "taken_start": taken,
                "alternatives": alternatives,
            },
        )
    )


def _move_service_refused(
    request: HttpRequest,
    reservation: Reservation,
    form: MoveForm,
    terms: TermsVersion | None,
    error: services.ReservationError,
) -> HttpResponse:
    """Explain the service's refusal kindly; nothing was changed."""
    if isinstance(error, services.SlotFull):
        return _move_slot_taken(
            request,
            reservation,
            form.cleaned_data["slot"],
            timezone.now(),
            alternatives=list(error.context.get("alternatives") or []),  # type: ignore[call-overload]
        )
    if isinstance(error, ConsentError) and error.code in ("consent_needed", "terms_changed"):
        # The terms changed between the pages: the confirmation asks for the new ones.
        now = timezone.now()
        terms, needs_consent = _consent_needed(reservation, now)
        fresh = MoveForm(
            initial={"slot": slot_value(form.cleaned_data["slot"])},
            window=form.window,
            current_start=reservation.slot.starts_at,
            terms_version_id=terms.pk if terms else None,
            needs_consent=needs_consent,
        )
        return _move_confirm_page(request, reservation, fresh, terms, notice=error.message)
    if isinstance(error, services.Restricted):
        return _move_refused(request, reservation, "restricted")
    return _move_refused(request, reservation, error.code, error.message)


# --- the waiting list of a full slot (キャンセル待ち, rule 16) -----------------------------

WAITLIST_TOKEN_SALT = "reservations.waitlist-form"  # noqa: S105 - a signing salt
WAITLIST_DONE_SESSION_KEY = "reservations:waitlist-done"


def _waitlist_form_token() -> str:
    return signing.dumps(secrets.token_urlsafe(16), salt=WAITLIST_TOKEN_SALT)


def _waitlist_nonce(request: HttpRequest) -> str | None:
    try:
        return str(
            signing.loads(
                request.POST.get("form_token", ""),
                salt=WAITLIST_TOKEN_SALT,
                max_age=FORM_TOKEN_MAX_AGE,
            )
        )
    except signing.BadSignature:
        return None


def _waitlist_form_page(
    request: HttpRequest,
    form: WaitlistJoinForm,
    available: selectors.Availability | None,
    *,
    notice: str = "",
) -> HttpResponse:
    return render(
        request,
        "reservations/waitlist_join.html",
        {
            "form": form,
            "available": available,
            "slot": slot_value(available.slot.start) if available else "",
            "form_token": _waitlist_form_token(),
            "notice": notice,
        },
    )


def _waitlist_refused(request: HttpRequest, kind: str, message: str = "") -> HttpResponse:
    return render(request, "reservations/waitlist_refused.html", {"kind": kind, "message": message})


@never_cache
@require_http_methods(["GET", "POST"])
def waitlist_join(request: HttpRequest) -> HttpResponse:
    """The waiting-list form of a full slot (name, 求職番号, email, language), and joining."""
    office = current_office_or_404(request)
    now = timezone.now()
    window = _booking_window(office, now)
    raw = request.GET.get("slot", "") if request.method == "GET" else request.POST.get("slot", "")
    start = parse_slot_value(raw)
    available = window.availability.get(start) if start else None
    if available is None:
        # Not a slot one could request now (past its cut-off, closed, nonsense).
        return _waitlist_refused(request, "no_list")
    if not available.is_full:
        return _waitlist_refused(request, "not_full")
    if request.method == "GET":
        initial = {"language": _language(), "platform": Platform.ZOOM}
        return _waitlist_form_page(request, WaitlistJoinForm(initial=initial), available)

    form = WaitlistJoinForm(request.POST)
    if not form.is_valid():
        return _waitlist_form_page(request, form, available)
    nonce = _waitlist_nonce(request)
    if nonce is None:
        return _waitlist_form_page(
            request,
            form,
            available,
            notice=_(
                "時間がたったため、まだ登録していません。内容を確かめて、もう一度送信してください。"
            ),
        )
    key = f"waitlist-form:{nonce}"
    if not cache.add(key, FORM_TOKEN_PENDING, timeout=FORM_TOKEN_MAX_AGE):
        # A double click: the first one joined (or is joining).
        earlier = cache.get(key)
        if earlier not in (None, FORM_TOKEN_PENDING):
            return _show_waitlist_done(request, str(earlier))
        return render(request, "reservations/refused.html", {"kind": "busy"})
    fields = form.service_fields()
    ip = ratelimit.client_ip(request)
    person = rules.person_key(seeker_number=fields["seeker_number"], email=fields["email"])
    per_ip, per_person = ratelimit.request_limits()
    within_ip = ratelimit.hit(per_ip, ip or "", now)
    within_person = ratelimit.hit(per_person, person, now)
    if not (within_ip and within_person):
        cache.delete(key)
        return too_many_requests(request)
    try:
        entry = services.waitlist_join(
            office=office, slot_start=available.slot.start, now=now, **fields
        )
    except services.ReservationError as error:
        cache.delete(key)
        if isinstance(error, services.Restricted):
            return render(request, "reservations/refused.html", {"kind": "restricted"})
        if error.code == rules.WaitlistRefusal.NOT_FULL:
            return _waitlist_refused(request, "not_full")
        if error.code in SLOT_REFUSALS:
            return _waitlist_refused(request, "no_list")
        if isinstance(error, services.LimitReached):
            return _waitlist_refused(request, "limit", error.message)
        field = error.code if error.code in form.fields else None
        form.add_error(field, error.message)
        return _waitlist_form_page(request, form, available)
    cache.set(key, entry.token, timeout=FORM_TOKEN_MAX_AGE)
    return _show_waitlist_done(request, entry.token)


def _show_waitlist_done(request: HttpRequest, token: str) -> HttpResponse:
    # Found through the session, as the request's done page: nothing personal in the URL.
    request.session[WAITLIST_DONE_SESSION_KEY] = {
        "token": token,
        "until": int(timezone.now().timestamp()) + DONE_PAGE_SECONDS,
    }
    return redirect(offices.office_path(request, "reservations:waitlist-done"))


@never_cache
@require_GET
def waitlist_done(request: HttpRequest) -> HttpResponse:
    """Joined: what happens next, and where the email went (masked)."""
    current_office_or_404(request)
    shown = request.session.get(WAITLIST_DONE_SESSION_KEY)
    if shown is None:
        return redirect(offices.office_path(request, "reservations:home"))
    fresh = isinstance(shown, dict) and timezone.now().timestamp() < shown.get("until", 0)
    entry = selectors.waitlist_entry_by_token(str(shown.get("token", ""))) if fresh else None
    return _private(
        render(
            request,
            "reservations/waitlist_done.html",
            {
                "entry": entry,
                "masked_email": rules.mask_email(entry.email) if entry else "",
            },
        )
    )


def _entry_or_404(request: HttpRequest, token: str) -> WaitlistEntry:
    entry = offices.private_waitlist_entry(request, token)
    if entry is None:
        raise Http404
    # The link arrives by email, in the entry's language (as a booking's does).
    if languages.chosen_language(request) is None and entry.language:
        translation.activate(entry.language)
        request.LANGUAGE_CODE = translation.get_language()
    return entry


def _entry_page(
    request: HttpRequest, entry: WaitlistEntry, form: WaitlistClaimForm | None, now: datetime
) -> HttpResponse:
    live = rules.is_offer_live(entry.status, entry.offer_expires_at, now)
    return _private(
        render(
            request,
            "reservations/waitlist_entry.html",
            {
                "entry": entry,
                "offer_live": live,
                "form": form if live else None,
                "terms": consent_selectors.terms_in_force(entry.office_id, now) if live else None,
                "position": (
                    selectors.waitlist_position(entry)
                    if entry.status == WaitlistStatus.WAITING
                    else None
                ),
            },
        )
    )


@never_cache
@require_http_methods(["GET", "POST"])
def waitlist_entry(request: HttpRequest, entry_token: str) -> HttpResponse:
    """An entry's private page: where it stands, and while a place is offered, the claim
    (the consent a request needs, one button)."""
    entry = _entry_or_404(request, entry_token)
    now = timezone.now()
    terms = consent_selectors.terms_in_force(entry.office_id, now)
    terms_id = terms.pk if terms else None
    if request.method == "GET":
        return _entry_page(request, entry, WaitlistClaimForm(terms_version_id=terms_id), now)
    form = WaitlistClaimForm(request.POST, terms_version_id=terms_id)
    if not rules.is_offer_live(entry.status, entry.offer_expires_at, now):
        return _entry_page(request, entry, None, now)
    if not form.is_valid():
        return _entry_page(request, entry, form, now)
    consent = ConsentGiven(
        terms_version_id=terms.pk,
        platform_terms_accepted=form.cleaned_data["agree_terms"],
        confirmed_items=frozenset(form.confirmed_items()),
        ip_address=ratelimit.client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000],
        # Recorded in the person's language: the one their emails and this page speak.
        language=entry.language,
    )
    try:
        reservation = services.waitlist_claim(entry=entry, consent=consent, now=now)
    except services.ReservationError as error:
        if isinstance(error, services.OfferNotAvailable):
            entry.refresh_from_db()
            return _entry_page(request, entry, None, now)
        if isinstance(error, services.Restricted):
            return render(request, "reservations/refused.html", {"kind": "restricted"})
        if isinstance(error, ConsentError):
            form.add_error("agree_terms", error.message)
            return _entry_page(request, entry, form, now)
        return _waitlist_refused(request, "claim", error.message)
    return _show_done(request, reservation.token)


@never_cache
@require_http_methods(["GET", "POST"])
def waitlist_leave(request: HttpRequest, entry_token: str) -> HttpResponse:
    """Leave the waiting list, with a confirmation step (the link in every email)."""
    entry = _entry_or_404(request, entry_token)
    if request.method == "POST":
        if entry.is_open:
            services.waitlist_leave(entry=entry)
            messages.success(request, _("キャンセル待ちを取り消しました。"))
        return redirect(entry.get_absolute_url())
    return _private(render(request, "reservations/waitlist_leave.html", {"entry": entry}))
