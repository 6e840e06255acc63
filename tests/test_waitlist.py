"""The waiting list of a full slot (キャンセル待ち, rule 16): the rules, the services with every
refusal, the hold as real capacity, the periodic job, the emails and the pages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import time_machine
from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from hypothesis import given
from hypothesis import strategies as st

from consent.models import Consent
from reservations import periodic, rules, selectors, services
from reservations.models import (
    EmailKind,
    Office,
    OutgoingEmail,
    Reservation,
    Restriction,
    Slot,
    WaitlistEntry,
)
from reservations.rules import Status, WaitlistStatus
from reservations.services import LimitReached, OfferNotAvailable, ReservationError, SlotFull
from tests.admin_support import counselor_user, staff_groups  # noqa: F401 - fixtures
from tests.conftest import tokyo
from tests.test_i18n import bcp47, japanese_left, kept_in_japanese, readable_text, script_of

__all__ = ["kept_in_japanese"]  # a fixture in use

NOW = tokyo(2026, 12, 1, 9)  # Tuesday morning
THU = tokyo(2026, 12, 3, 10)  # requests (and the list) close Wed 12/2 17:00
THU_CUTOFF = tokyo(2026, 12, 2, 17)
FRI = tokyo(2026, 12, 4, 14)

# --- rules --------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(rules.TOKYO)
)


@given(now=moments, hold=st.integers(min_value=1, max_value=24 * 60), gap=st.integers(0, 10_000))
def test_an_offer_ends_after_the_hold_and_never_past_the_cut_off(now, hold, gap):
    closes_at = now + timedelta(minutes=gap)
    expires = rules.offer_expires_at(now, hold, closes_at)
    assert expires <= closes_at
    assert expires <= now + timedelta(minutes=hold)
    assert expires in (closes_at, now + timedelta(minutes=hold))
    assert rules.is_offer_live(WaitlistStatus.OFFERED, expires, now) == (expires > now)
    assert not rules.is_offer_live(WaitlistStatus.OFFERED, expires, expires)


@given(
    joined=st.lists(
        st.tuples(moments, st.integers(min_value=1, max_value=10_000)),
        unique_by=lambda pair: pair[1],
        max_size=30,
    ),
    count=st.integers(min_value=0, max_value=40),
)
def test_the_next_in_line_is_first_come_first_served_whatever_the_order(joined, count):
    chosen = rules.next_in_line(joined, count)
    assert chosen == rules.next_in_line(list(reversed(joined)), count)
    assert len(chosen) == min(count, len(joined))
    order = [entry_id for _at, entry_id in sorted(joined)]
    assert chosen == order[: len(chosen)]


@given(
    taken=st.sets(st.integers(min_value=1, max_value=20), max_size=10),
    count=st.integers(0, 10),
)
def test_each_new_offer_holds_a_place_no_live_offer_holds(taken, count):
    places = rules.free_offer_places(taken, count)
    assert len(places) == len(set(places)) == count
    assert not set(places) & taken
    assert all(place >= 1 for place in places)


@given(capacity=st.integers(0, 10), booked=st.integers(0, 12), offers=st.integers(0, 12))
def test_places_to_offer_are_those_neither_booked_nor_offered(capacity, booked, offers):
    free = rules.places_to_offer(capacity, booked, offers)
    assert free >= 0
    assert free + booked + offers >= capacity
    if booked + offers <= capacity:
        assert free + booked + offers == capacity


def test_a_slot_has_a_list_only_while_it_could_be_requested_and_is_full():
    office_rules = rules.OfficeRules()
    assert rules.waitlist_refusal(THU, NOW, office_rules, remaining=0) is None
    assert rules.waitlist_refusal(THU, NOW, office_rules, remaining=1) == (
        rules.WaitlistRefusal.NOT_FULL
    )
    assert rules.waitlist_refusal(THU, THU_CUTOFF, office_rules, remaining=0) == (
        rules.RequestRefusal.PAST_CUTOFF
    )
    assert rules.waitlist_refusal(tokyo(2027, 3, 1, 10), NOW, office_rules, remaining=0) == (
        rules.RequestRefusal.BEYOND_HORIZON
    )
    assert rules.waitlist_refusal(tokyo(2026, 12, 5, 10), NOW, office_rules, remaining=0) == (
        rules.RequestRefusal.CLOSED
    )
    # Entries expire at the cut-off: the list closes with requests.
    assert rules.waitlist_closes_at(THU, office_rules) == THU_CUTOFF
    assert not rules.is_waitlist_closed(THU_CUTOFF, THU_CUTOFF - timedelta(seconds=1))
    assert rules.is_waitlist_closed(THU_CUTOFF, THU_CUTOFF)
    assert rules.can_offer(NOW, THU_CUTOFF) and not rules.can_offer(THU_CUTOFF, THU_CUTOFF)
    assert rules.can_waitlist_join(1, 2) and not rules.can_waitlist_join(2, 2)


# --- services -----------------------------------------------------------------------------


@pytest.fixture
def join(office):
    counter = {"n": 0}

    def make(slot_start: datetime = THU, *, now: datetime = NOW, **fields: object):
        counter["n"] += 1
        values: dict = {
            "name": f"待田 花子{counter['n']}",
            "email": f"waiting{counter['n']}@example.jp",
            "seeker_number": f"10040-{2000000 + counter['n']}",
            "language": "ja",
        }
        values.update(fields)
        return services.waitlist_join(office=office, slot_start=slot_start, now=now, **values)

    return make


@pytest.fixture
def full_thursday(make_reservation) -> Reservation:
    """Thursday 10:00 taken by its one place (the office's windows hold one each)."""
    return make_reservation(THU, now=NOW)


def kinds(entry: WaitlistEntry) -> list[str]:
    return list(entry.emails.order_by("id").values_list("kind", flat=True))


@pytest.mark.django_db
def test_joining_a_full_slot_puts_the_person_in_line_and_tells_them(full_thursday, join):
    entry = join(language="en")
    assert entry.status == WaitlistStatus.WAITING
    assert entry.closes_at == THU_CUTOFF
    assert entry.person_key == rules.person_key(seeker_number=entry.seeker_number, email="")
    assert kinds(entry) == [EmailKind.WAITLIST_JOINED]
    assert entry.emails.get().language == "en"
    # Joining holds nothing: the booking is what holds the place.
    assert selectors.held_places(full_thursday.office, THU.date(), THU.timetz()) == 1


@pytest.mark.django_db
def test_every_refusal_to_join_says_why_and_changes_nothing(
    office, full_thursday, join, make_reservation
):
    with pytest.raises(ReservationError) as not_full:
        join(FRI)
    assert not_full.value.code == "not_full"
    with pytest.raises(ReservationError) as past:
        join(now=THU_CUTOFF)
    assert past.value.code == "past_cutoff"
    with pytest.raises(ReservationError) as closed:
        join(tokyo(2026, 12, 5, 10))
    assert closed.value.code in ("closed", "not_a_slot")
    with pytest.raises(ReservationError) as no_number:
        join(seeker_number="")
    assert no_number.value.code == "seeker_number"
    with pytest.raises(ReservationError) as bad_email:
        join(email="not-an-email")
    assert bad_email.value.code == "email"
    # Rule 8: the person holding the place cannot also wait for it.
    with pytest.raises(LimitReached):
        join(seeker_number=full_thursday.seeker_number, email=full_thursday.email)
    first = join(seeker_number="10040-7777777", email="same@example.jp")
    with pytest.raises(LimitReached) as twice:
        join(seeker_number="10040-7777777", email="other@example.jp")
    assert twice.value.code == "already_waiting"
    # At most M open entries per person (office setting, default 2).
    make_reservation(tokyo(2026, 12, 3, 10, 30), now=NOW)
    make_reservation(tokyo(2026, 12, 3, 11), now=NOW)
    join(tokyo(2026, 12, 3, 10, 30), seeker_number="10040-7777777", email="same@example.jp")
    with pytest.raises(LimitReached) as limit:
        join(tokyo(2026, 12, 3, 11), seeker_number="10040-7777777", email="same@example.jp")
    assert limit.value.code == "waitlist_limit"
    Restriction.objects.create(
        office=office, seeker_number="10040-5555555", reason="第6条(4)", starts_at=NOW
    )
    with pytest.raises(services.Restricted):
        join(seeker_number="10040-5555555")
    assert WaitlistEntry.objects.filter(person_key=first.person_key).count() == 2


@pytest.mark.django_db
def test_the_database_holds_one_open_entry_per_person_and_one_offer_per_place(full_thursday, join):
    entry = join()
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntry.objects.create(
            office=entry.office,
            slot=entry.slot,
            token=rules.new_token(),
            name="x",
            seeker_number=entry.seeker_number,
            email="x@example.jp",
            person_key=entry.person_key,
            created_at=NOW,
            closes_at=THU_CUTOFF,
        )
    other = join()
    WaitlistEntry.objects.filter(pk=entry.pk).update(
        status=WaitlistStatus.OFFERED, offer_place=1, offer_expires_at=THU_CUTOFF
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntry.objects.filter(pk=other.pk).update(
            status=WaitlistStatus.OFFERED, offer_place=1, offer_expires_at=THU_CUTOFF
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        WaitlistEntry.objects.filter(pk=other.pk).update(status=WaitlistStatus.OFFERED)


@pytest.mark.django_db
def test_a_cancellation_offers_the_place_to_the_first_in_line_who_holds_it(
    office, full_thursday, join, make_reservation
):
    first, second = join(), join()
    now = NOW + timedelta(hours=1)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=now)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == WaitlistStatus.OFFERED
    assert first.offer_expires_at == now + timedelta(minutes=30)
    assert first.offer_place == 1
    assert second.status == WaitlistStatus.WAITING
    assert kinds(first) == [EmailKind.WAITLIST_JOINED, EmailKind.WAITLIST_OFFER]
    # The offer holds the place: nobody else can request it, the calendar shows it full.
    assert selectors.held_places(office, THU.date(), THU.timetz()) == 1
    assert selectors.booked_counts(office, THU.date(), THU.date())[THU] == 1
    with pytest.raises(SlotFull):
        make_reservation(THU, now=now)
    # Asking again changes nothing (idempotent).
    assert services.waitlist_offer_next(slot=first.slot, now=now) == services.WaitlistChange()
    assert WaitlistEntry.objects.filter(status=WaitlistStatus.OFFERED).count() == 1


@pytest.mark.django_db
def test_an_offer_never_holds_past_the_cut_off(office, full_thursday, join):
    entry = join()
    late = THU_CUTOFF - timedelta(minutes=10)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=late)
    entry.refresh_from_db()
    assert entry.offer_expires_at == THU_CUTOFF


@pytest.mark.django_db
def test_claiming_the_offer_makes_a_request_with_consent_in_the_persons_language(
    office, full_thursday, join, consent_given
):
    entry = join(language="pt-br", platform="teleoffice")
    now = NOW + timedelta(hours=1)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=now)
    reservation = services.waitlist_claim(
        entry=entry, consent=consent_given(language="pt-br"), now=now + timedelta(minutes=5)
    )
    entry.refresh_from_db()
    assert reservation.status == Status.REQUESTED
    assert (reservation.name, reservation.email, reservation.seeker_number) == (
        entry.name,
        entry.email,
        entry.seeker_number,
    )
    assert reservation.platform == "teleoffice" and reservation.language == "pt-br"
    assert entry.status == WaitlistStatus.CLAIMED and entry.reservation == reservation
    consent = Consent.objects.get(reservation=reservation)
    assert consent.language == "pt-br"
    assert list(reservation.emails.values_list("kind", flat=True)) == [EmailKind.REQUEST_RECEIVED]
    event = reservation.events.get()
    assert event.details == {"waitlist_entry": entry.pk}
    # The place is held once: by the request the offer became.
    assert selectors.held_places(office, THU.date(), THU.timetz()) == 1
    with pytest.raises(OfferNotAvailable):
        services.waitlist_claim(entry=entry, consent=consent_given(), now=now)


@pytest.mark.django_db
def test_every_refusal_of_a_claim_leaves_the_offer_as_it_was(
    office, full_thursday, join, consent_given, make_reservation
):
    waiting = join()
    with pytest.raises(OfferNotAvailable):
        services.waitlist_claim(entry=waiting, consent=consent_given(), now=NOW)
    now = NOW + timedelta(hours=1)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=now)
    waiting.refresh_from_db()
    # Rule 8 as for any request: a booking elsewhere must go first.
    make_reservation(FRI, now=now, seeker_number=waiting.seeker_number, email=waiting.email)
    with pytest.raises(LimitReached):
        services.waitlist_claim(entry=waiting, consent=consent_given(), now=now)
    waiting.refresh_from_db()
    assert waiting.status == WaitlistStatus.OFFERED
    # Consent as on the request form: every Art. 5 item and the camera.
    Reservation.objects.filter(slot__starts_at=FRI).update(status=Status.CANCELLED)
    with pytest.raises(ReservationError):
        services.waitlist_claim(
            entry=waiting, consent=consent_given(confirmed_items=frozenset()), now=now
        )
    Restriction.objects.create(
        office=office, seeker_number=waiting.seeker_number, reason="第12条(1)", starts_at=now
    )
    with pytest.raises(services.Restricted):
        services.waitlist_claim(entry=waiting, consent=consent_given(), now=now)
    # Too late: the hold is over even before the periodic job notices.
    with pytest.raises(OfferNotAvailable):
        services.waitlist_claim(
            entry=waiting, consent=consent_given(), now=waiting.offer_expires_at
        )
    waiting.refresh_from_db()
    assert waiting.status == WaitlistStatus.OFFERED
    assert not Reservation.objects.filter(email=waiting.email, slot=waiting.slot).exists()


@pytest.mark.django_db
def test_the_periodic_job_passes_an_unclaimed_offer_on_and_closes_the_list(
    office, full_thursday, join
):
    first, second, third = join(), join(), join()
    now = NOW + timedelta(hours=1)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=now)
    later = now + timedelta(minutes=31)
    result = periodic.PERIODIC_JOBS["waitlists"].run(now=later)
    assert result == {"offered": 1, "offers_expired": 1, "closed": 0}
    for entry in (first, second, third):
        entry.refresh_from_db()
    assert first.status == WaitlistStatus.EXPIRED
    assert kinds(first)[-1] == EmailKind.WAITLIST_OFFER_EXPIRED
    assert second.status == WaitlistStatus.OFFERED
    assert second.offer_expires_at == later + timedelta(minutes=30)
    # Idempotent: running again at the same moment changes nothing.
    assert periodic.PERIODIC_JOBS["waitlists"].run(now=later) == {
        "offered": 0,
        "offers_expired": 0,
        "closed": 0,
    }
    # At the cut-off the rest of the list closes and the people are told.
    result = services.waitlists_sweep(now=THU_CUTOFF)
    assert result == services.WaitlistChange(offered=0, offers_expired=1, closed=1)
    third.refresh_from_db()
    assert third.status == WaitlistStatus.EXPIRED
    assert kinds(third)[-1] == EmailKind.WAITLIST_CLOSED
    assert services.waitlists_sweep(now=THU_CUTOFF) == services.WaitlistChange()
    assert selectors.held_places(office, THU.date(), THU.timetz()) == 0


@pytest.mark.django_db
def test_more_places_later_are_offered_by_the_periodic_job(office, full_thursday, join):
    entry = join()
    services.capacity_override_save(
        override=office.capacity_overrides.model(
            office=office, date=THU.date(), start_time=THU.timetz().replace(tzinfo=None), capacity=1
        )
    )
    assert services.waitlists_sweep(now=NOW).offered == 0
    office.windows.filter(weekday=THU.weekday()).update(capacity=2)
    office.capacity_overrides.all().delete()
    assert services.waitlists_sweep(now=NOW).offered == 1
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.OFFERED


@pytest.mark.django_db
def test_leaving_gives_an_offer_to_the_next_and_twice_changes_nothing(office, full_thursday, join):
    first, second = join(), join()
    now = NOW + timedelta(hours=1)
    services.reservation_reject(reservation=full_thursday, actor=None, reason="満席", now=now)
    services.waitlist_leave(entry=first, now=now)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == WaitlistStatus.LEFT
    assert kinds(first)[-1] == EmailKind.WAITLIST_LEFT
    assert second.status == WaitlistStatus.OFFERED
    services.waitlist_leave(entry=first, now=now)
    assert kinds(first).count(EmailKind.WAITLIST_LEFT) == 1


@pytest.mark.django_db
def test_a_staff_move_away_frees_the_place_for_the_list(office, full_thursday, join):
    entry = join()
    services.reservation_move(
        reservation=full_thursday, new_start=FRI, actor=None, now=NOW + timedelta(hours=1)
    )
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.OFFERED


@pytest.mark.django_db
def test_the_purge_anonymises_finished_entries_and_the_statistics_still_count_them(
    office, full_thursday, join, consent_given
):
    claimed, left, waiting = join(), join(), join()
    now = NOW + timedelta(hours=1)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=now)
    services.waitlist_claim(entry=claimed, consent=consent_given(), now=now)
    services.waitlist_leave(entry=left, now=now)
    statistics = selectors.reservation_statistics(office, THU.date(), THU.date())
    assert (statistics.total.waitlist_entries, statistics.total.waitlist_offers) == (3, 1)
    assert statistics.total.waitlist_claims == 1
    # An entry still open is never purged; the list closes at the cut-off.
    early = services.reservations_purge_personal_data(
        retention_days=30, now=THU + timedelta(days=31)
    )
    assert early.waitlist_entries == 2
    services.waitlists_sweep(now=THU_CUTOFF)
    result = services.reservations_purge_personal_data(
        retention_days=30, now=THU + timedelta(days=31)
    )
    assert result.waitlist_entries == 1
    for entry in (claimed, left, waiting):
        entry.refresh_from_db()
        assert (entry.name, entry.email, entry.seeker_number) == ("", "", "")
        assert entry.anonymized_at is not None
    after = selectors.reservation_statistics(office, THU.date(), THU.date())
    assert after.total.waitlist_entries == 3 and after.total.waitlist_claims == 1


# --- emails -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("language", [code for code, _name in settings.LANGUAGES])
def test_every_waitlist_email_renders_with_its_links_in_the_persons_language(
    office, full_thursday, join, language, kept_in_japanese
):
    entry = join(language=language, name="待田 & 花子 <テスト>")
    join(language=language)
    join(language=language)
    services.waitlist_leave(entry=join(language=language), now=NOW)
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=NOW)
    services.waitlists_sweep(now=NOW + timedelta(minutes=31))
    services.waitlists_sweep(now=THU_CUTOFF)
    assert set(OutgoingEmail.objects.values_list("kind", flat=True)) >= {
        EmailKind.WAITLIST_JOINED,
        EmailKind.WAITLIST_OFFER,
        EmailKind.WAITLIST_OFFER_EXPIRED,
        EmailKind.WAITLIST_CLOSED,
        EmailKind.WAITLIST_LEFT,
    }
    mail.outbox.clear()
    for email in OutgoingEmail.objects.filter(waitlist_entry__isnull=False):
        email.status = "queued"
        email.save()
        message = services.mail.render_email(email)
        html = message.alternatives[0][0]
        assert message.to == [email.waitlist_entry.email]
        assert office.name in message.subject
        assert office.phone in message.body and office.phone in html
        assert f'<html lang="{bcp47(language)}"' in html
        assert "None" not in message.body
        if not language.startswith("ja"):
            # Every language's catalogue has the waiting list's words (test_i18n, part e).
            names = WaitlistEntry.objects.values_list("name", flat=True)
            kept = (*kept_in_japanese, *names)  # the people's own names stay as they wrote them
            for part, text in (
                ("subject", message.subject),
                ("text", message.body),
                ("html", readable_text(html)),
            ):
                leaks = japanese_left(text, kept, script_of(language))
                assert not leaks, f"Japanese in the {language} {email.kind} ({part}): {leaks}"
        if email.kind == EmailKind.WAITLIST_OFFER:
            assert email.waitlist_entry.private_url in message.body
        if email.kind in (EmailKind.WAITLIST_JOINED, EmailKind.WAITLIST_OFFER):
            assert email.waitlist_entry.leave_url in message.body
    assert "待田 & 花子 <テスト>" in services.mail.render_email(entry.emails.first()).body


@pytest.mark.django_db
def test_an_offer_email_no_longer_held_is_not_sent(office, full_thursday, join):
    entry = join()
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=NOW)
    offer = entry.emails.get(kind=EmailKind.WAITLIST_OFFER)
    entry.refresh_from_db()
    assert services.mail.email_still_wanted(offer, None, NOW)
    assert not services.mail.email_still_wanted(offer, None, entry.offer_expires_at)


# --- pages --------------------------------------------------------------------------------


@pytest.fixture
def page_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.mark.django_db
def test_a_full_slot_leads_to_its_waiting_list_from_the_week_and_home(
    client, office, terms, full_thursday, page_clock
):
    week = client.get("/slots/?week=2026-11-30").content.decode()
    assert 'href="/waitlist/?slot=2026-12-03T10:00"' in week
    home = client.get("/").content.decode()
    assert "/waitlist/?slot=2026-12-03T10:00" in home


@pytest.mark.django_db
def test_joining_through_the_page_then_claiming_from_the_link(
    client, office, terms, full_thursday, page_clock
):
    form = client.get("/waitlist/?slot=2026-12-03T10:00").content.decode()
    assert "キャンセル待ちに登録" in form
    assert "利用規約への同意" in form  # asked when claiming: said now
    token = re.search(r'name="form_token" value="([^"]+)"', form).group(1)
    answers = {
        "slot": "2026-12-03T10:00",
        "form_token": token,
        "name": "待田 花子",
        "seeker_number": "１００４０－１２３４５６７",
        "email": "hanako@example.jp",
        "language": "vi",
        "platform": "zoom",
    }
    response = client.post("/waitlist/", answers)
    assert response.status_code == 302 and response["Location"] == "/waitlist/done/"
    done = client.get("/waitlist/done/").content.decode()
    assert "ha****@example.jp" in done
    entry = WaitlistEntry.objects.get()
    assert entry.seeker_number == "10040-1234567" and entry.language == "vi"
    # A double click joins once and shows the same page.
    again = client.post("/waitlist/", answers)
    assert again.status_code == 302 and WaitlistEntry.objects.count() == 1

    waiting = client.get(entry.get_absolute_url()).content.decode()
    assert 'data-waitlist-status="waiting"' in waiting
    services.reservation_cancel(reservation=full_thursday, by="seeker", now=NOW)
    offer = client.get(entry.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "data-offer" in offer
    missing = client.post(entry.get_absolute_url(), {"terms_version": terms.pk})
    assert missing.status_code == 200
    assert "field--error" in missing.content.decode()
    claimed = client.post(
        entry.get_absolute_url(),
        {"terms_version": terms.pk, "environment": "on", "camera": "on", "agree_terms": "on"},
    )
    assert claimed.status_code == 302 and claimed["Location"].endswith("/book/done/")
    reservation = Reservation.objects.get(email="hanako@example.jp")
    assert reservation.status == Status.REQUESTED and reservation.language == "vi"
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.CLAIMED


@pytest.mark.django_db
def test_kind_refusals_on_the_waitlist_pages(client, office, terms, full_thursday, page_clock):
    not_full = client.get("/waitlist/?slot=2026-12-04T14:00").content.decode()
    assert 'data-refusal="not_full"' in not_full
    no_list = client.get("/waitlist/?slot=2026-11-30T10:00").content.decode()
    assert 'data-refusal="no_list"' in no_list
    nonsense = client.get("/waitlist/?slot=tomorrow").content.decode()
    assert 'data-refusal="no_list"' in nonsense
    assert client.get("/w/not-a-token/").status_code == 404
    stale = client.post(
        "/waitlist/",
        {
            "slot": "2026-12-03T10:00",
            "form_token": "forged",
            "name": "待田 花子",
            "seeker_number": "10040-1234567",
            "email": "hanako@example.jp",
            "language": "ja",
            "platform": "zoom",
        },
    )
    assert stale.status_code == 200 and not WaitlistEntry.objects.exists()
    bad = client.get("/waitlist/?slot=2026-12-03T10:00").content.decode()
    token = re.search(r'name="form_token" value="([^"]+)"', bad).group(1)
    response = client.post(
        "/waitlist/",
        {"slot": "2026-12-03T10:00", "form_token": token, "name": "", "email": "x"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "氏名を入力してください。" in html


@pytest.mark.django_db
def test_leaving_from_the_link(client, office, terms, full_thursday, join, page_clock):
    entry = join()
    confirm = client.get(f"/w/{entry.token}/leave/").content.decode()
    assert "取り消す" in confirm
    response = client.post(f"/w/{entry.token}/leave/")
    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.status == WaitlistStatus.LEFT
    assert 'data-waitlist-status="left"' in client.get(entry.get_absolute_url()).content.decode()


@pytest.mark.django_db
def test_the_slot_taken_page_offers_the_waiting_list(office, terms, rf):
    html = render_to_string(
        "reservations/slot_taken.html",
        {"taken_start": THU, "alternatives": [], "answers": []},
        request=rf.get("/book/"),
    )
    assert "/waitlist/?slot=2026-12-03T10:00" in html


# --- admin --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_see_their_offices_lists_read_only_and_another_office_is_not_found(
    client,
    office,
    full_thursday,
    join,
    counselor_user,  # noqa: F811 - the fixture
    django_user_model,
):
    mine = join(name="伊勢崎 待子")
    other_office = Office.objects.create(name="ハローワーク太田", slug="ota", phone="0276-46-8609")
    slot = Slot.objects.create(
        office=other_office, starts_at=THU, ends_at=THU + timedelta(minutes=30)
    )
    theirs = WaitlistEntry.objects.create(
        office=other_office,
        slot=slot,
        token=rules.new_token(),
        name="太田 秘密子",
        seeker_number="99999-8888888",
        email="himitsu@example.jp",
        person_key="n:99999-8888888",
        created_at=NOW,
        closes_at=THU_CUTOFF,
    )
    client.force_login(counselor_user)
    listing = client.get("/admin/reservations/waitlistentry/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "伊勢崎 待子" in html and "太田 秘密子" not in html
    assert client.get(f"/admin/reservations/waitlistentry/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/reservations/waitlistentry/{theirs.pk}/change/").status_code == 404
    assert client.get("/admin/reservations/waitlistentry/?status=waiting").status_code == 200
    # Nobody edits an entry by hand: only the services change it.
    assert client.get("/admin/reservations/waitlistentry/add/").status_code == 403
    superuser = django_user_model.objects.create_superuser("root", password="x-2027-kanri-pass")
    client.force_login(superuser)
    assert "太田 秘密子" in client.get("/admin/reservations/waitlistentry/").content.decode()
