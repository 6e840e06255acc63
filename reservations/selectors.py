"""Read queries: an office's rules as data, availability, a person's bookings, statistics."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    DateField,
    DurationField,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    TimeField,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth

from reservations import rules, shared_cache
from reservations.models import (
    PREFECTURE_ORDER,
    PREFECTURES,
    ActorKind,
    CapacityOverride,
    Closure,
    Counselor,
    DutyException,
    DutyExceptionKind,
    DutyWindow,
    EventKind,
    Office,
    Platform,
    Reservation,
    ReservationEvent,
    Restriction,
    SessionWindow,
    StaffMembership,
    StaffRole,
    WaitlistEntry,
)
from reservations.rules import Status, WaitlistStatus

logger = logging.getLogger(__name__)

# A Monday slot's cut-off depends on closures in the days before it (rule 5): look back far
# enough to cross the longest run of closed days (year-end plus a weekend and a holiday).
_CLOSURE_LOOKBACK = timedelta(days=21)


def default_office() -> Office | None:
    """The first office (the demo's and the commands' default)."""
    return Office.objects.order_by("id").first()


def sole_office() -> tuple[Office | None, bool]:
    """The one office taking bookings (else None), and whether several are (one query)."""
    return Office.objects.sole_taking_bookings()


def office_taking_bookings(slug: str) -> Office | None:
    """The office with this slug if it takes online bookings: never any other."""
    return Office.objects.taking_bookings().filter(slug=slug).first()


def offices_to_choose(*, query: str = "", prefecture: str = "") -> list[Office]:
    """The offices taking bookings that match `query` (name, English name, address,
    prefecture) and `prefecture`, in the prefectures' order: one query, whatever the number."""
    offices = Office.objects.taking_bookings()
    if prefecture:
        offices = offices.filter(prefecture=prefecture)
    for word in query.split():
        offices = offices.filter(
            Q(name__icontains=word)
            | Q(name_en__icontains=word)
            | Q(address__icontains=word)
            | Q(address_en__icontains=word)
            | Q(prefecture__icontains=word)
            | Q(prefecture__in=[n for n, latin in PREFECTURES if word.lower() in latin.lower()])
        )
    choices = list(offices.only("slug", "name", "name_en", "address", "address_en", "prefecture"))
    last = len(PREFECTURES)
    return sorted(choices, key=lambda c: (PREFECTURE_ORDER.get(c.prefecture, last), c.name))


def offices_of(user: object, *, role: StaffRole | None = None) -> QuerySet[Office]:
    """The offices this staff member may see and act on (rule 15): every admin page asks here.

    Superusers (the national administrators) have every office; other staff the offices of
    their memberships, or with `role`, only those where they have that role (supervisors'
    pages ask for SUPERVISOR). Lazy: used in a filter it is a subquery, not a query.
    """
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return Office.objects.none()
    if user.is_superuser:
        return Office.objects.all()
    memberships = StaffMembership.objects.filter(user=user)
    if role is not None:
        memberships = memberships.filter(role=role)
    return Office.objects.filter(pk__in=memberships.values("office_id"))


def memberships_managed_by(user: object) -> QuerySet[StaffMembership]:
    """The memberships a supervisor may manage: of their offices, never a superuser's."""
    return StaffMembership.objects.filter(
        office__in=offices_of(user, role=StaffRole.SUPERVISOR), user__is_superuser=False
    )


def supervises(user: object, office_id: int) -> bool:
    """Whether `user` is a supervisor of the office or a national administrator."""
    if getattr(user, "is_superuser", False):
        return True
    return StaffMembership.objects.filter(
        user=user, office_id=office_id, role=StaffRole.SUPERVISOR
    ).exists()


def works_in(user: object, office: Office) -> bool:
    """Whether the staff member has a role in the office (a counselor must, rule 4)."""
    return StaffMembership.objects.filter(user=user, office=office).exists()


def staff_of_offices(offices: QuerySet[Office]) -> QuerySet:
    """The staff accounts with a role in any of `offices`, never a superuser (lazy)."""
    return (
        get_user_model()
        .objects.filter(office_memberships__office__in=offices, is_superuser=False, is_active=True)
        .distinct()
        .order_by("username")
    )


def may_host(user: object, reservation: Reservation) -> bool:
    """Whether `user` may have `reservation`'s start link (rule 13, `rules.may_host`): one
    query for the user's role in the booking's office, one for the counselor's user."""
    roles = set(
        StaffMembership.objects.filter(user=user, office_id=reservation.office_id).values_list(
            "role", flat=True
        )
    )
    counselor_user_id = (
        Counselor.objects.filter(pk=reservation.counselor_id)
        .values_list("user_id", flat=True)
        .first()
        if reservation.counselor_id is not None
        else None
    )
    return rules.may_host(
        user_id=user.pk,
        is_national=user.is_superuser,
        is_supervisor=StaffRole.SUPERVISOR in roles,
        is_office_staff=bool(roles),
        counselor_user_id=counselor_user_id,
    )


def office_rules(office: Office, first: date, last: date) -> rules.OfficeRules:
    """The office's rules with the closures and overrides that matter for `first`..`last`.

    One query: the weekly windows, the closures, the overrides and the counselors' rota
    (their weekly duty and its exceptions, rule 4) as one union of rows (kind, date,
    weekday, start, end, capacity or counselor).
    """
    none_date = Value(None, output_field=DateField())
    none_int = Value(None, output_field=IntegerField())
    none_time = Value(None, output_field=TimeField())
    windows = (
        SessionWindow.objects.filter(office=office)
        .annotate(kind=Value("w"), day=none_date)
        .values_list("kind", "day", "weekday", "start_time", "end_time", "capacity")
        .order_by()
    )
    closures = (
        Closure.objects.filter(office=office, date__gte=first - _CLOSURE_LOOKBACK, date__lte=last)
        .annotate(kind=Value("c"), no_weekday=none_int, no_start=none_time, no_end=none_time)
        .values_list("kind", "date", "no_weekday", "no_start", "no_end", "no_weekday")
        .order_by()
    )
    overrides = (
        CapacityOverride.objects.filter(office=office, date__gte=first, date__lte=last)
        .annotate(kind=Value("o"), no_weekday=none_int, no_end=none_time)
        .values_list("kind", "date", "no_weekday", "start_time", "no_end", "capacity")
        .order_by()
    )
    # Rule 4: the active counselors' weekly duty and their exceptions in the range; the
    # last column carries the counselor's id.
    duties = (
        DutyWindow.objects.filter(counselor__office=office, counselor__is_active=True)
        .annotate(kind=Value("d"), day=none_date)
        .values_list("kind", "day", "weekday", "start_time", "end_time", "counselor_id")
        .order_by()
    )
    changes = (
        DutyException.objects.filter(
            counselor__office=office, counselor__is_active=True, date__gte=first, date__lte=last
        )
        .annotate(
            row=Case(
                When(kind=DutyExceptionKind.EXTRA, then=Value("e")),
                default=Value("x"),
            ),
            no_weekday=none_int,
        )
        .values_list("row", "date", "no_weekday", "start_time", "end_time", "counselor_id")
        .order_by()
    )
    found: list[rules.Window] = []
    closed: set[date] = set()
    overridden: dict[tuple[date, time], int] = {}
    found_duties: list[rules.Duty] = []
    found_changes: list[rules.DutyChange] = []
    rows = windows.union(closures, overrides, duties, changes, all=True).order_by()
    for kind, day, weekday, start, end, number in rows:
        if kind == "w":
            found.append(rules.Window(weekday, start, end, number))
        elif kind == "c":
            closed.add(day)
        elif kind == "o":
            overridden[(day, start)] = number
        elif kind == "d":
            found_duties.append(rules.Duty(number, weekday, start, end))
        else:
            found_changes.append(rules.DutyChange(number, day, kind == "e", start, end))
    # An office has a rota once a counselor has weekly duty; until then its places are the
    # windows' capacities, as in a fresh install (rule 4).
    rota = (
        rules.Rota(
            duties=tuple(sorted(found_duties, key=lambda d: (d.counselor, d.weekday, d.start))),
            changes=tuple(
                sorted(
                    found_changes,
                    key=lambda c: (c.day, c.counselor, c.start or time.min, c.on_duty),
                )
            ),
        )
        if found_duties
        else None
    )
    return rules.OfficeRules(
        windows=tuple(sorted(found, key=lambda w: (w.weekday, w.start))),
        slot_minutes=office.slot_minutes,
        closing_time=office.closing_time,
        horizon_days=office.horizon_days,
        closures=frozenset(closed),
        capacity_overrides=overridden,
        rota=rota,
    )


ROTA_PREVIEW_DAYS = 14


@dataclass(frozen=True)
class RotaSlot:
    """One slot of the rota preview: who is on duty, the places, what is held."""

    start: datetime
    end: datetime
    counselors: tuple[str, ...]  # display names, in name order
    places: int
    held: int
    overridden: bool  # a date's capacity lowered or closed it


@dataclass(frozen=True)
class RotaDay:
    day: date
    closed: rules.ClosedReason | None
    slots: tuple[RotaSlot, ...]


def rota_preview(office: Office, first: date, days: int = ROTA_PREVIEW_DAYS) -> list[RotaDay]:
    """Who is on duty in each slot of `first` and the following days (rule 4), with the
    places and the closures: three queries whatever the number of counselors and days."""
    last = first + timedelta(days=days - 1)
    office_rules_ = office_rules(office, first, last)
    names = dict(Counselor.objects.filter(office=office).values_list("pk", "display_name"))
    held = booked_counts(office, first, last)
    preview = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        slots = tuple(
            RotaSlot(
                start=slot.start,
                end=slot.end,
                counselors=tuple(sorted(names[c] for c in slot.counselors if c in names)),
                places=slot.capacity,
                held=held.get(slot.start, 0),
                overridden=(day, slot.start.time()) in office_rules_.capacity_overrides,
            )
            for slot in rules.planned_slots(day, office_rules_)
        )
        preview.append(
            RotaDay(day=day, closed=rules.closed_reason(day, office_rules_), slots=slots)
        )
    return preview


@dataclass(frozen=True)
class SlotCover:
    """Who could take a booking in its slot (rule 4): the counselors on duty, those of them
    with no other active booking in it, and the sessions each has that day."""

    on_duty: frozenset[int]
    free: frozenset[int]
    sessions_that_day: dict[int, int]


def slot_cover(reservation: Reservation, office_rules_: rules.OfficeRules) -> SlotCover:
    """The `SlotCover` of the booking's slot, the booking itself left out: one query,
    whatever the number of counselors and bookings (none without a rota)."""
    if office_rules_.rota is None:
        return SlotCover(on_duty=frozenset(), free=frozenset(), sessions_that_day={})
    slot = reservation.slot
    start, end = slot.starts_at.astimezone(rules.TOKYO), slot.ends_at.astimezone(rules.TOKYO)
    on_duty = rules.on_duty(start.date(), start.time(), end.time(), office_rules_.rota)
    day_start = datetime.combine(start.date(), datetime.min.time(), tzinfo=rules.TOKYO)
    rows = (
        Reservation.objects.filter(
            office_id=reservation.office_id,
            counselor__isnull=False,
            slot__starts_at__gte=day_start,
            slot__starts_at__lt=day_start + timedelta(days=1),
        )
        .exclude(status__in=rules.WITHDRAWN_STATUSES)
        .exclude(pk=reservation.pk)
        .values("counselor_id")
        .annotate(
            sessions=Count("id"),
            here=Count("id", filter=Q(slot_id=slot.pk, status__in=list(rules.ACTIVE_STATUSES))),
        )
        .order_by()
    )
    sessions: dict[int, int] = {}
    busy: set[int] = set()
    for row in rows:
        sessions[row["counselor_id"]] = row["sessions"]
        if row["here"]:
            busy.add(row["counselor_id"])
    return SlotCover(
        on_duty=on_duty, free=rules.free_counselors(on_duty, busy), sessions_that_day=sessions
    )


def counselors_free_for(reservation: Reservation) -> list[Counselor]:
    """The counselors staff may give this booking to (rule 4): on duty in its slot and free
    there, by name; three queries."""
    start = reservation.slot.starts_at.astimezone(rules.TOKYO).date()
    cover = slot_cover(reservation, office_rules(reservation.office, start, start))
    return list(Counselor.objects.filter(pk__in=cover.free).order_by("display_name", "pk"))


def held_by_slot(office: Office, first: date, last: date) -> QuerySet:
    """Places held per slot start in `first`..`last`, as rows: the requested or confirmed
    bookings, and the waiting-list offers while they are held (rule 4); a slot may have a
    row of each (`booked_counts` adds them up). One query."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=rules.TOKYO)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=rules.TOKYO)
    # The slot's office, not the booking's (the same office): the range is then read from
    # the slot index (office, starts_at) instead of scanning every slot of every office.
    in_range = {"slot__office": office, "slot__starts_at__gte": start, "slot__starts_at__lt": end}
    bookings = (
        Reservation.objects.filter(status__in=rules.ACTIVE_STATUSES, **in_range)
        .values("slot__starts_at")
        .annotate(held=Count("id"))
        .order_by()
    )
    offers = (
        WaitlistEntry.objects.filter(status=WaitlistStatus.OFFERED, **in_range)
        .values("slot__starts_at")
        .annotate(held=Count("id"))
        .order_by()
    )
    return bookings.union(offers, all=True).order_by()


def booked_counts(office: Office, first: date, last: date) -> dict[datetime, int]:
    """How many places are held (bookings and live offers, rule 4) per slot start, in one
    query."""
    counts: dict[datetime, int] = {}
    for row in held_by_slot(office, first, last):
        counts[row["slot__starts_at"]] = counts.get(row["slot__starts_at"], 0) + row["held"]
    return counts


def held_places(office: Office, day: date, start: time | None = None) -> int:
    """Places held (bookings and live offers, rule 4) on `day`, or in the slot at `start`."""
    if start is not None:
        moment = datetime.combine(day, start, tzinfo=rules.TOKYO)
        return held_in_slot(office, moment)
    return sum(booked_counts(office, day, day).values())


def held_in_slot(office: Office, starts_at: datetime) -> int:
    """Places held in the slot starting at `starts_at`: its requested and confirmed bookings
    and its live waiting-list offers (rule 4), in one query."""
    bookings = Reservation.objects.filter(
        slot__office=office, status__in=rules.ACTIVE_STATUSES, slot__starts_at=starts_at
    ).values("slot__office")
    offers = WaitlistEntry.objects.filter(
        slot__office=office, status=WaitlistStatus.OFFERED, slot__starts_at=starts_at
    ).values("slot__office")
    return bookings.order_by().union(offers.order_by(), all=True).count()


@dataclass(frozen=True)
class Availability:
    slot: rules.Slot
    remaining: int

    @property
    def is_full(self) -> bool:
        return self.remaining <= 0


def availability(
    office: Office,
    first: date,
    last: date,
    now: datetime,
    *,
    include_full: bool = False,
    loaded_rules: rules.OfficeRules | None = None,
) -> list[Availability]:
    """Slots a seeker could request now in `first`..`last`, with the places left.

    A fixed number of queries whatever the range: windows, closures, overrides, counts.
    The range is first narrowed to what could be requestable at all (tomorrow up to the
    horizon, rule 6), so absurd dates cost nothing and cannot overflow the calendar.
    `loaded_rules`, when the caller has loaded them for a wider range, saves those queries.
    """
    today = now.astimezone(rules.TOKYO).date()
    first = max(first, today + timedelta(days=1))
    last = min(last, rules.last_bookable_day(now, office.horizon_days))
    if first > last:
        return []
    office_rules_ = loaded_rules or office_rules(office, first, last)
    held = booked_counts(office, first, last)
    result = []
    for slot in rules.requestable_slots(first, last, now, office_rules_):
        remaining = max(slot.capacity - held.get(slot.start, 0), 0)
        if remaining > 0 or include_full:
            result.append(Availability(slot=slot, remaining=remaining))
    return result


# --- Availability in the shared cache ---------------------------------------------------
#
# Bots read availability far more often than people book, so an office's availability over
# its whole horizon is worked out once and kept in the shared cache (Redis in production).
# The key names the office's availability version, which every change that can alter it
# replaces after it commits (`availability_changed`, called by the services), and the
# availability period (`rules.availability_period`): the next read after a change, a cut-off
# or midnight is worked out afresh. What the pages make of it (the API's answer, the week
# grid, home's content, the empty form's fields) is kept the same way (`availability_cached`).
# A booking never relies on it: the service counts the places again under its locks.

# The longest a read could be stale if the cache lost a new version (it never should).
AVAILABILITY_CACHE_SECONDS = 600


@dataclass(frozen=True)
class Horizon:
    """An office's calendar from today to the end of its horizon's week, and every slot a
    seeker could request now (full ones too) with its places left."""

    rules: rules.OfficeRules
    availability: dict[datetime, Availability]


def _version_key(office_id: int) -> str:
    return f"availability:version:{office_id}"


def availability_version(office_id: int) -> str:
    """The office's current availability version (a new one if the cache has none)."""
    return shared_cache.version(_version_key(office_id))


def availability_changed(office_id: int) -> None:
    """Every cached availability of the office is stale from now on (and again once the
    transaction commits).

    A cache that cannot be reached stops nothing: the change stands, and what was cached
    expires within AVAILABILITY_CACHE_SECONDS.
    """
    shared_cache.replace_version(_version_key(office_id))


def _horizon_now(office: Office, now: datetime) -> Horizon:
    today = now.astimezone(rules.TOKYO).date()
    last = rules.last_bookable_day(now, office.horizon_days)
    # The calendar runs to the end of the horizon's week so that the week view can say why
    # its last days are closed.
    calendar_last = last + timedelta(days=6 - last.weekday())
    office_rules_ = office_rules(office, today, calendar_last)
    available = availability(
        office, today, last, now, include_full=True, loaded_rules=office_rules_
    )
    return Horizon(rules=office_rules_, availability={a.slot.start: a for a in available})


def office_row_digest(office: Office) -> str:
    """The office row as this request read it: a page part that names the office (its name,
    its phone) is worked out afresh once the row changes, whichever way it was saved."""
    return hashlib.blake2b(
        repr([getattr(office, f.attname) for f in Office._meta.concrete_fields]).encode(),
        digest_size=6,
    ).hexdigest()


def availability_cached[T](
    office: Office, now: datetime, name: str, work_out: Callable[[], T]
) -> T:
    """What `work_out()` makes of the office's availability as of `now` (its `Horizon`, the
    API's answer, a page's rendered part), from the shared cache while it still holds.

    An entry holds while the office's availability version, the availability period and the
    office's row are the same; `name` tells the entries apart and names whatever else the
    result depends on (the dates asked, the page's language and links). Without a cache, it
    is worked out.
    """
    day, after_closing = rules.availability_period(now, office.closing_time)
    period = f"{day.isoformat()}:{int(after_closing)}"
    key = f"availability:{office.pk}:{period}:{office_row_digest(office)}:{name}"
    return shared_cache.kept(
        _version_key(office.pk),
        key,
        work_out,
        timeout=AVAILABILITY_CACHE_SECONDS,
        what=f"availability of office {office.pk}",
    )


def booking_horizon(office: Office, now: datetime) -> Horizon:
    """The office's `Horizon` as of `now`, from the shared cache when it is fresh there.

    On a miss, two queries whatever the number of slots and bookings (the office's rules,
    the held places); on a hit, none.
    """
    return availability_cached(office, now, "horizon", lambda: _horizon_now(office, now))


def open_availability(office: Office, first: date, last: date, now: datetime) -> list[Availability]:
    """The slots with a free place in `first`..`last` (inclusive), read from `booking_horizon`."""
    return [
        available
        for start, available in sorted(booking_horizon(office, now).availability.items())
        if first <= start.astimezone(rules.TOKYO).date() <= last and not available.is_full
    ]


def nearest_free_slots(
    office: Office,
    around: datetime,
    now: datetime,
    *,
    count: int = 4,
    exclude: set[datetime] | frozenset[datetime] = frozenset(),
) -> list[Availability]:
    """The free slots a seeker could request now closest in time to `around`, in time order.

    Counted afresh, not from the shared cache: it answers a race just lost, which the cache
    may not know of yet.
    """
    today = now.astimezone(rules.TOKYO).date()
    last = rules.last_bookable_day(now, office.horizon_days)
    free = [a for a in availability(office, today, last, now) if a.slot.start not in exclude]
    free.sort(key=lambda a: (abs(a.slot.start - around), a.slot.start))
    return sorted(free[:count], key=lambda a: a.slot.start)


def restrictions_covering(*, seeker_number: str, email: str) -> Q:
    """Restrictions that cover this person: `rules.restriction_covers` as a query."""
    person = Q(email__iexact=email.strip()) if email.strip() else Q(pk__in=[])
    if seeker_number:
        person |= Q(seeker_number=seeker_number)
    return person


def covered_by_restriction(*, seeker_number: object, email: object) -> Q:
    """Bookings a restriction on this 求職番号 and/or email covers (`rules.restriction_covers`).

    The values may be `OuterRef`s, so that a list can count them per restriction.
    """
    return (Q(seeker_number=seeker_number) & ~Q(seeker_number="")) | (
        Q(email__iexact=email) & ~Q(email="")
    )


def active_restriction(
    office: Office, *, seeker_number: str, email: str, now: datetime
) -> Restriction | None:
    """The restriction in force for this person, if any (rule 12)."""
    person = restrictions_covering(seeker_number=seeker_number, email=email)
    return (
        Restriction.objects.filter(person, office=office, lifted_at__isnull=True)
        .filter(starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .first()
    )


def same_person(*, seeker_number: str, email: str) -> Q:
    """Bookings of the same person: `rules.same_person` (rule 8) as a query."""
    same_email = Q(email__iexact=email.strip())
    if not seeker_number:
        return same_email
    return Q(seeker_number=seeker_number) | (Q(seeker_number="") & same_email)


def active_bookings_of(
    office: Office, *, seeker_number: str, email: str, now: datetime
) -> QuerySet[Reservation]:
    """A person's requested or confirmed bookings that have not ended yet (rule 8)."""
    return (
        Reservation.objects.filter(
            same_person(seeker_number=seeker_number, email=email),
            office=office,
            status__in=rules.ACTIVE_STATUSES,
            slot__ends_at__gt=now,
        )
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    )


def seeker_moves_used(reservation: Reservation) -> int:
    """How often the seeker has moved this booking (rule 10), from its history: one query."""
    return ReservationEvent.objects.filter(
        reservation=reservation, kind=EventKind.MOVED, actor_kind=ActorKind.SEEKER
    ).count()


def reservation_by_token(token: str) -> Reservation | None:
    """The booking behind a private link, or None (never raises on a bad token)."""
    if not token or len(token) > 64:
        return None
    return (
        Reservation.objects.select_related("slot", "office")
        .filter(token=token, anonymized_at__isnull=True)
        .first()
    )


def waitlist_entry_by_token(token: str) -> WaitlistEntry | None:
    """The waiting-list entry behind a private link, or None (never raises on a bad token)."""
    if not token or len(token) > 64:
        return None
    return (
        WaitlistEntry.objects.select_related("slot", "office", "reservation")
        .filter(token=token, anonymized_at__isnull=True)
        .first()
    )


def waitlist_position(entry: WaitlistEntry) -> int:
    """Where a waiting entry stands in its slot's line (1 is next), rule 16."""
    return (
        WaitlistEntry.objects.filter(slot_id=entry.slot_id, status=WaitlistStatus.WAITING)
        .filter(
            Q(created_at__lt=entry.created_at) | Q(created_at=entry.created_at, pk__lt=entry.pk)
        )
        .count()
        + 1
    )


# --- Statistics for supervisors: counts only, never who (rule 15) ----------------


@dataclass(frozen=True)
class MonthStatistics:
    """What happened to the bookings whose session falls in one month (or in a period)."""

    month: date | None  # the first day of the month; None for the period's total
    requested: int = 0
    confirmed: int = 0  # ever confirmed, whatever happened next
    attended: int = 0
    no_show: int = 0
    cancelled_by_seeker: int = 0
    cancelled_by_staff: int = 0
    expired: int = 0
    rejected: int = 0
    zoom: int = 0
    teleoffice: int = 0
    languages: tuple[tuple[str, int], ...] = ()  # (language code, bookings), as LANGUAGES
    with_companion: int = 0  # an interpreter or an assistant attends (Art. 12(3))
    lead_time: timedelta = timedelta(0)  # summed over the bookings with a request record
    lead_time_count: int = 0
    waitlist_entries: int = 0  # people who joined a full slot's waiting list (rule 16)
    waitlist_offers: int = 0  # of them, offered a freed place
    waitlist_claims: int = 0  # of them, who made the offer a request

    @property
    def no_show_rate(self) -> float | None:
        """No-shows among the sessions that were due to take place (Art. 6(4)); None if none."""
        due = self.attended + self.no_show
        return self.no_show / due if due else None

    @property
    def average_lead_days(self) -> float | None:
        """Average days from the request to the session; None without bookings."""
        if not self.lead_time_count:
            return None
        return self.lead_time.total_seconds() / self.lead_time_count / 86400

    def __add__(self, other: MonthStatistics) -> MonthStatistics:
        """The two added up, as for a period's total (rates are recomputed, not added)."""
        languages = dict(self.languages)
        for code, count in other.languages:
            languages[code] = languages.get(code, 0) + count
        sums = {
            item.name: getattr(self, item.name) + getattr(other, item.name)
            for item in fields(self)
            if item.name not in ("month", "languages")
        }
        return MonthStatistics(month=None, languages=tuple(languages.items()), **sums)


@dataclass(frozen=True)
class Statistics:
    """Month by month from `first` to `last` (months without bookings included), and a total."""

    months: list[MonthStatistics]
    total: MonthStatistics


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from `first`'s month to `last`'s month."""
    months = []
    current = first.replace(day=1)
    while current <= last:
        months.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return months


def reservation_statistics(office: Office, first: date, last: date) -> Statistics:
    """Counts per month of the session (Asia/Tokyo) from `first`'s month to `last`'s month.

    Three aggregate queries whatever the period: one over the bookings, one over their
    request and cancellation records, one over the waiting lists. Anonymised bookings and
    entries count too: the purge keeps status, slot, platform, language and companion
    (rule 15). Nothing personal is read.
    """
    months = month_starts(first, last)
    start = datetime.combine(months[0], datetime.min.time(), tzinfo=rules.TOKYO)
    after = (months[-1] + timedelta(days=32)).replace(day=1)
    end = datetime.combine(after, datetime.min.time(), tzinfo=rules.TOKYO)
    codes = [code for code, _label in settings.LANGUAGES]

    def month_of(field: str) -> TruncMonth:
        return TruncMonth(field, tzinfo=rules.TOKYO, output_field=DateField())

    def count(**condition: object) -> Count:
        return Count("id", filter=Q(**condition))

    bookings = (
        Reservation.objects.filter(
            office=office, slot__starts_at__gte=start, slot__starts_at__lt=end
        )
        .annotate(month=month_of("slot__starts_at"))
        .values("month")
        .annotate(
            requested=Count("id"),
            confirmed=count(confirmed_at__isnull=False),
            attended=count(status=Status.ATTENDED),
            no_show=count(status=Status.NO_SHOW),
            expired=count(status=Status.EXPIRED),
            rejected=count(status=Status.REJECTED),
            zoom=count(platform=Platform.ZOOM),
            teleoffice=count(platform=Platform.TELEOFFICE),
            with_companion=Count("id", filter=~Q(companion="")),
            **{f"language_{code}": count(language=code) for code in codes},
        )
        .order_by("month")
    )
    # The request record says when the person asked (a booking's own created_at is the
    # moment the row was written); a cancellation's record says who cancelled.
    requested_record = Q(from_status="", to_status=Status.REQUESTED)
    records = (
        ReservationEvent.objects.filter(
            kind=EventKind.STATUS,
            reservation__office=office,
            reservation__slot__starts_at__gte=start,
            reservation__slot__starts_at__lt=end,
        )
        .filter(requested_record | Q(to_status=Status.CANCELLED))
        .annotate(month=month_of("reservation__slot__starts_at"))
        .values("month")
        .annotate(
            lead_time=Sum(
                F("reservation__slot__starts_at") - F("at"),
                filter=requested_record,
                output_field=DurationField(),
            ),
            lead_time_count=Count("id", filter=requested_record),
            cancelled_by_seeker=count(to_status=Status.CANCELLED, actor_kind=ActorKind.SEEKER),
            cancelled_by_staff=count(to_status=Status.CANCELLED, actor_kind=ActorKind.STAFF),
        )
        .order_by("month")
    )
    # Rule 16: the waiting lists of the month's slots; anonymised entries count too.
    waitlists = (
        WaitlistEntry.objects.filter(
            office=office, slot__starts_at__gte=start, slot__starts_at__lt=end
        )
        .annotate(month=month_of("slot__starts_at"))
        .values("month")
        .annotate(
            waitlist_entries=Count("id"),
            waitlist_offers=count(offered_at__isnull=False),
            waitlist_claims=count(status=WaitlistStatus.CLAIMED),
        )
        .order_by("month")
    )
    by_month: dict[date, dict] = {month: {} for month in months}
    for row in (*bookings, *records, *waitlists):
        by_month.setdefault(row.pop("month"), {}).update(row)
    result = []
    for month in months:
        row = by_month[month]
        languages = tuple((code, row.pop(f"language_{code}", 0)) for code in codes)
        row["lead_time"] = row.get("lead_time") or timedelta(0)
        result.append(MonthStatistics(month=month, languages=languages, **row))
    total = MonthStatistics(month=None, languages=tuple((code, 0) for code in codes))
    for month_statistics in result:
        total = total + month_statistics
    return Statistics(months=result, total=total)


# Sessions of the day that the counselor works through (requests are listed apart).
DAY_SESSION_STATUSES = (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW)


def sessions_of_day(bookings: QuerySet[Reservation], day: date) -> QuerySet[Reservation]:
    """The day's sessions among `bookings` (already scoped to the staff member's office), in
    time order, each knowing whether the seeker joined through Zoom (本日の相談)."""
    start = datetime.combine(day, time(0), tzinfo=rules.TOKYO)
    return (
        bookings.filter(
            status__in=DAY_SESSION_STATUSES,
            slot__starts_at__gte=start,
            slot__starts_at__lt=start + timedelta(days=1),
        )
        .annotate(
            joined_via_zoom=Exists(
                ReservationEvent.objects.filter(
                    reservation=OuterRef("pk"), to_status=Status.ATTENDED, details__source="zoom"
                )
            )
        )
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    )


def requests_waiting(bookings: QuerySet[Reservation], now: datetime) -> QuerySet[Reservation]:
    """Requests among `bookings` still to be confirmed for sessions to come (rule 5)."""
    return (
        bookings.filter(status=Status.REQUESTED, slot__starts_at__gt=now)
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    )


def closure_reasons(office: Office, first: date, last: date) -> dict[date, str]:
    """The office's closures (休業日) in `first`..`last`, with the reason staff gave."""
    return dict(
        Closure.objects.filter(office=office, date__gte=first, date__lte=last).values_list(
            "date", "reason"
        )
    )


def no_shows_covered_by(restriction: Restriction) -> QuerySet[Reservation]:
    """The no-shows at the restriction's office of the person it covers, latest first."""
    return (
        Reservation.objects.filter(
            covered_by_restriction(
                seeker_number=restriction.seeker_number, email=restriction.email
            ),
            office_id=restriction.office_id,
            status=Status.NO_SHOW,
        )
        .select_related("slot")
        .order_by("-slot__starts_at")
    )


def held_on_row(office_field: str, date_field: str, start_field: str | None = None) -> Coalesce:
    """For a list of closures or per-date capacities: the active bookings on each row's date
    (and slot start), as a subquery count."""
    bookings = Reservation.objects.filter(
        office=OuterRef(office_field),
        status__in=rules.ACTIVE_STATUSES,
        slot__starts_at__date=OuterRef(date_field),
    )
    if start_field:
        bookings = bookings.filter(slot__starts_at__time=OuterRef(start_field))
    return Coalesce(Subquery(bookings.values("office").annotate(n=Count("id")).values("n")[:1]), 0)


def no_shows_per_restriction_row() -> Subquery:
    """For a list of restrictions: the no-shows at each row's office of the person it covers."""
    return Subquery(
        Reservation.objects.filter(
            covered_by_restriction(
                seeker_number=OuterRef("seeker_number"), email=OuterRef("email")
            ),
            office=OuterRef("office"),
            status=Status.NO_SHOW,
        )
        .values("office")
        .annotate(n=Count("id"))
        .values("n")[:1]
    )


# --- The counselor's day (私の相談, 本日の相談's columns, the calendar feed) ----------------


def may_host_each(user: object, reservations: list[Reservation]) -> set[int]:
    """The ids of `reservations` whose start link `user` may have (`may_host` for a list):
    two queries whatever the number of bookings and counselors."""
    if not reservations or not getattr(user, "is_authenticated", False):
        return set()
    roles: dict[int, set[str]] = {}
    for office_id, role in StaffMembership.objects.filter(
        user=user, office_id__in={r.office_id for r in reservations}
    ).values_list("office_id", "role"):
        roles.setdefault(office_id, set()).add(role)
    counselor_ids = {r.counselor_id for r in reservations if r.counselor_id is not None}
    counselor_users = (
        dict(Counselor.objects.filter(pk__in=counselor_ids).values_list("pk", "user_id"))
        if counselor_ids
        else {}
    )
    return {
        r.pk
        for r in reservations
        if rules.may_host(
            user_id=user.pk,
            is_national=user.is_superuser,
            is_supervisor=StaffRole.SUPERVISOR in roles.get(r.office_id, ()),
            is_office_staff=bool(roles.get(r.office_id)),
            counselor_user_id=counselor_users.get(r.counselor_id),
        )
    }


def counselors_of_user(user: object) -> QuerySet[Counselor]:
    """The counselor records of a staff member, in the offices they still belong to."""
    return (
        Counselor.objects.filter(user=user, office__in=offices_of(user))
        .select_related("office")
        .order_by("office__name", "id")
    )


# 私の相談 looks this far ahead (today included).
MY_SESSIONS_DAYS = 14


def _joined_via_zoom() -> Exists:
    return Exists(
        ReservationEvent.objects.filter(
            reservation=OuterRef("pk"), to_status=Status.ATTENDED, details__source="zoom"
        )
    )


def sessions_of_counselors(
    bookings: QuerySet[Reservation], counselors: QuerySet[Counselor], first: date, days: int
) -> QuerySet[Reservation]:
    """The sessions assigned to `counselors` among `bookings` (already scoped to the staff
    member's offices) from `first` for `days` days, in time order (私の相談)."""
    start = datetime.combine(first, time(0), tzinfo=rules.TOKYO)
    return (
        bookings.filter(
            counselor__in=counselors,
            status__in=DAY_SESSION_STATUSES,
            slot__starts_at__gte=start,
            slot__starts_at__lt=start + timedelta(days=days),
        )
        .annotate(joined_via_zoom=_joined_via_zoom())
        .select_related("slot", "office")
        .order_by("slot__starts_at", "id")
    )


def bookings_of_day(bookings: QuerySet[Reservation], day: date) -> QuerySet[Reservation]:
    """The day's requests and sessions among `bookings`, in time order (本日の相談's columns)."""
    start = datetime.combine(day, time(0), tzinfo=rules.TOKYO)
    return (
        bookings.filter(
            status__in=(Status.REQUESTED, *DAY_SESSION_STATUSES),
            slot__starts_at__gte=start,
            slot__starts_at__lt=start + timedelta(days=1),
        )
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    )


def office_counselors(office: Office) -> list[Counselor]:
    """The office's active counselors, in the order staff pages list them (one query)."""
    return list(Counselor.objects.filter(office=office, is_active=True))


def counselor_by_calendar_token(token: str) -> Counselor | None:
    """The counselor behind a calendar feed's secret, or None (never raises on a bad token)."""
    if not token or len(token) > 64:
        return None
    return Counselor.objects.select_related("office").filter(calendar_token=token).first()


# The calendar feed carries the sessions from this long ago onwards.
CALENDAR_FEED_PAST = timedelta(days=31)


def calendar_sessions(counselor: Counselor, now: datetime) -> QuerySet[Reservation]:
    """A counselor's sessions for their calendar feed: the last month's and every one to come."""
    return (
        Reservation.objects.filter(
            counselor=counselor,
            status__in=DAY_SESSION_STATUSES,
            slot__starts_at__gte=now - CALENDAR_FEED_PAST,
        )
        .select_related("slot")
        .order_by("slot__starts_at", "id")
    )
