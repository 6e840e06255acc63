"""Read queries: an office's rules as data, availability, a person's bookings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet

from reservations import rules
from reservations.models import (
    CapacityOverride,
    Closure,
    Office,
    Reservation,
    Restriction,
)

# A Monday slot's cut-off depends on closures in the days before it (rule 5): look back far
# enough to cross the longest run of closed days (year-end plus a weekend and a holiday).
_CLOSURE_LOOKBACK = timedelta(days=21)


def default_office() -> Office | None:
    """The office a request is for when none is named: the first one."""
    return Office.objects.order_by("id").first()


def office_rules(office: Office, first: date, last: date) -> rules.OfficeRules:
    """The office's rules with the closures and overrides that matter for `first`..`last`."""
    windows = tuple(
        rules.Window(w.weekday, w.start_time, w.end_time, w.capacity) for w in office.windows.all()
    )
    closures = frozenset(
        Closure.objects.filter(
            office=office, date__gte=first - _CLOSURE_LOOKBACK, date__lte=last
        ).values_list("date", flat=True)
    )
    overrides = {
        (o.date, o.start_time): o.capacity
        for o in CapacityOverride.objects.filter(office=office, date__gte=first, date__lte=last)
    }
    return rules.OfficeRules(
        windows=windows,
        slot_minutes=office.slot_minutes,
        closing_time=office.closing_time,
        horizon_days=office.horizon_days,
        closures=closures,
        capacity_overrides=overrides,
    )


def booked_counts(office: Office, first: date, last: date) -> dict[datetime, int]:
    """How many places are held (requested or confirmed) per slot start, in one query."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=rules.TOKYO)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=rules.TOKYO)
    rows = (
        Reservation.objects.filter(
            office=office,
            status__in=rules.ACTIVE_STATUSES,
            slot__starts_at__gte=start,
            slot__starts_at__lt=end,
        )
        .values("slot__starts_at")
        .annotate(held=Count("id"))
    )
    return {row["slot__starts_at"]: row["held"] for row in rows}


@dataclass(frozen=True)
class Availability:
    slot: rules.Slot
    remaining: int

    @property
    def is_full(self) -> bool:
        return self.remaining <= 0


def availability(
    office: Office, first: date, last: date, now: datetime, *, include_full: bool = False
) -> list[Availability]:
    """Slots a seeker could request now in `first`..`last`, with the places left.

    A fixed number of queries whatever the range: windows, closures, overrides, counts.
    The range is first narrowed to what could be requestable at all (tomorrow up to the
    horizon, rule 6), so absurd dates cost nothing and cannot overflow the calendar.
    """
    today = now.astimezone(rules.TOKYO).date()
    first = max(first, today + timedelta(days=1))
    last = min(last, today + timedelta(days=office.horizon_days))
    if first > last:
        return []
    office_rules_ = office_rules(office, first, last)
    held = booked_counts(office, first, last)
    result = []
    for slot in rules.requestable_slots(first, last, now, office_rules_):
        remaining = max(slot.capacity - held.get(slot.start, 0), 0)
        if remaining > 0 or include_full:
            result.append(Availability(slot=slot, remaining=remaining))
    return result


def active_restriction(
    office: Office, *, seeker_number: str, email: str, now: datetime
) -> Restriction | None:
    """The restriction in force for this person, if any (rule 12)."""
    person = Q(email__iexact=email.strip()) if email else Q(pk__in=[])
    if seeker_number:
        person |= Q(seeker_number=seeker_number)
    return (
        Restriction.objects.filter(person, office=office, lifted_at__isnull=True)
        .filter(starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .first()
    )


def active_bookings_of(office: Office, person_key: str, now: datetime) -> QuerySet[Reservation]:
    """A person's requested or confirmed bookings that have not ended yet (rule 8)."""
    return Reservation.objects.filter(
        office=office,
        person_key=person_key,
        status__in=rules.ACTIVE_STATUSES,
        slot__ends_at__gt=now,
    ).select_related("slot")


def reservation_by_token(token: str) -> Reservation | None:
    """The booking behind a private link, or None (never raises on a bad token)."""
    if not token or len(token) > 64:
        return None
    return (
        Reservation.objects.select_related("slot", "office")
        .filter(token=token, anonymized_at__isnull=True)
        .first()
    )
