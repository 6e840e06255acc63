"""The consent ledger: each booking's consent is recorded whole, and never changed after."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError

from consent import services
from consent.models import ENVIRONMENT_ITEMS, Consent, ImmutableRecordError, TermsVersion
from reservations.models import Reservation, ReservationEvent, SeekerLock, Slot
from tests.conftest import IS_POSTGRES, tokyo

NOW = tokyo(2027, 3, 1, 9)  # a Monday
SLOT = tokyo(2027, 3, 3, 10)


@pytest.fixture
def booking(make_reservation) -> Reservation:
    return make_reservation(
        SLOT, now=NOW, seeker_number="１００４０－１２３４５６７", email="taro@example.jp"
    )


def _counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Reservation, Consent, ReservationEvent, Slot, SeekerLock)
    )


def test_a_booking_records_what_was_agreed_when_and_from_where(booking, terms):
    consent = booking.consents.get()
    assert consent.terms_version == terms
    assert consent.terms_hash == terms.content_hash
    assert consent.seeker_number == "10040-1234567" == booking.seeker_number
    assert consent.email == "taro@example.jp"
    assert consent.platform == "zoom"
    assert consent.platform_terms_accepted is True
    assert consent.items == dict.fromkeys(ENVIRONMENT_ITEMS, True)
    assert set(consent.items) >= {"secure_device", "antivirus", "camera"}
    assert consent.method == "online"
    assert consent.recorded_by is None
    assert consent.given_at == NOW
    assert consent.ip_address == "192.0.2.10"
    assert consent.user_agent == "pytest"
    assert consent.language == "ja"


@pytest.mark.parametrize("missing", sorted(ENVIRONMENT_ITEMS))
def test_a_request_missing_any_checklist_item_fails_and_saves_nothing(
    office, consent_given, missing
):
    from reservations import services as reservation_services

    before = _counts()
    with pytest.raises(services.ConsentError) as excinfo:
        reservation_services.reservation_request(
            office=office,
            slot_start=SLOT,
            name="山田 太郎",
            email="taro@example.jp",
            seeker_number="10040-1234567",
            consent=consent_given(confirmed_items=frozenset(ENVIRONMENT_ITEMS) - {missing}),
            now=NOW,
        )
    assert excinfo.value.context["missing"] == [missing]
    assert _counts() == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"platform_terms_accepted": False},
        {"confirmed_items": frozenset()},
        {"terms_version_id": -1},
        {"verbal": True},  # a verbal consent without the counselor who took it
    ],
    ids=["platform-terms", "no-items", "other-terms", "verbal-without-staff"],
)
def test_a_request_without_a_complete_consent_fails_and_saves_nothing(
    office, consent_given, overrides
):
    from reservations import services as reservation_services

    before = _counts()
    with pytest.raises(services.ConsentError):
        reservation_services.reservation_request(
            office=office,
            slot_start=SLOT,
            name="山田 太郎",
            email="taro@example.jp",
            seeker_number="10040-1234567",
            consent=consent_given(**overrides),
            now=NOW,
        )
    assert _counts() == before


def test_a_verbal_consent_names_the_counselor_who_took_it(
    make_reservation, consent_given, office, counselor
):
    from reservations import services as reservation_services

    reservation = reservation_services.reservation_request(
        office=office,
        slot_start=SLOT,
        name="山田 花子",
        email="hanako@example.jp",
        seeker_number="10040-7654321",
        consent=consent_given(
            verbal=True, recorded_by=counselor, ip_address=None, user_agent="", language="en"
        ),
        now=NOW,
    )
    consent = reservation.consents.get()
    assert consent.method == "verbal"
    assert consent.recorded_by == counselor
    assert consent.ip_address is None
    # Read out by the counselor: no translation was shown, whatever the booking's language.
    assert (consent.translation, consent.translation_hash) == (None, "")


def test_a_malformed_address_and_a_huge_user_agent_do_not_break_the_booking(
    make_reservation, consent_given, office
):
    from reservations import services as reservation_services

    reservation = reservation_services.reservation_request(
        office=office,
        slot_start=SLOT,
        name="山田 次郎",
        email="jiro@example.jp",
        seeker_number="10040-2222222",
        consent=consent_given(ip_address="999.1.1.1, <script>", user_agent="A" * 5000),
        now=NOW,
    )
    consent = reservation.consents.get()
    assert consent.ip_address is None
    assert len(consent.user_agent) == 1000


def test_the_orm_refuses_to_change_or_delete_a_consent(booking, counselor):
    consent = booking.consents.get()
    consent.email = "other@example.jp"
    with pytest.raises(ImmutableRecordError):
        consent.save()
    with pytest.raises(ImmutableRecordError):
        consent.save(update_fields=["email"])
    with pytest.raises(ImmutableRecordError):
        consent.delete()
    with pytest.raises(ImmutableRecordError):
        Consent.objects.filter(pk=consent.pk).update(email="other@example.jp")
    with pytest.raises(ImmutableRecordError):
        Consent.objects.all().delete()
    with pytest.raises(ImmutableRecordError):
        Consent.objects.bulk_update([consent], ["email"])
    with pytest.raises(ImmutableRecordError):
        Consent.objects.update_or_create(pk=consent.pk, defaults={"email": "x@example.jp"})
    # The booking cannot take its consent with it either.
    with pytest.raises(ProtectedError):
        Reservation.objects.filter(pk=booking.pk).delete()
    consent.refresh_from_db()
    assert consent.email == "taro@example.jp"


def test_deleting_the_counselor_who_took_a_verbal_consent_is_refused(
    office, consent_given, counselor
):
    from reservations import services as reservation_services

    reservation_services.reservation_request(
        office=office,
        slot_start=SLOT,
        name="山田 花子",
        email="hanako@example.jp",
        seeker_number="10040-7654321",
        consent=consent_given(verbal=True, recorded_by=counselor),
        now=NOW,
    )
    with pytest.raises(ProtectedError):
        counselor.delete()


def test_the_database_refuses_to_update_a_consent(booking):
    consent = booking.consents.get()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consent SET given_at = %s WHERE id = %s",
            [NOW.replace(hour=8), consent.pk],
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        # Blanking only part of the personal data is not the retention purge either.
        cursor.execute(
            "UPDATE consent_consent SET email = '', anonymized_at = %s WHERE id = %s",
            [NOW, consent.pk],
        )
    consent.refresh_from_db()
    assert consent.given_at == NOW and consent.email == "taro@example.jp"


@pytest.mark.skipif(not IS_POSTGRES, reason="delete triggers exist on PostgreSQL only")
def test_the_database_refuses_to_delete_a_consent(booking):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consent")
    assert booking.consents.count() == 1


def test_the_database_refuses_a_consent_missing_an_item(booking, terms):
    for broken in ({"items": {"camera": True}}, {"platform_terms_accepted": False}):
        values = {
            "reservation": booking,
            "email": booking.email,
            "terms_version": terms,
            "terms_hash": terms.content_hash,
            "platform": "zoom",
            "platform_terms_accepted": True,
            "items": dict.fromkeys(ENVIRONMENT_ITEMS, True),
            "given_at": NOW,
            "language": "ja",
            **broken,
        }
        with pytest.raises(IntegrityError), transaction.atomic():
            Consent.objects.create(**values)


def test_the_retention_purge_erases_the_personal_data_and_keeps_the_proof(booking, terms):
    later = tokyo(2028, 4, 1)
    assert services.consent_anonymize(reservation=booking, now=later) == 1
    consent = booking.consents.get()
    assert (consent.seeker_number, consent.email, consent.ip_address, consent.user_agent) == (
        "",
        "",
        None,
        "",
    )
    assert consent.anonymized_at == later
    assert consent.terms_version == terms and consent.terms_hash == terms.content_hash
    assert consent.items == dict.fromkeys(ENVIRONMENT_ITEMS, True)
    assert consent.given_at == NOW
    # Once: a second purge changes nothing, and the record stays frozen.
    assert services.consent_anonymize(reservation=booking, now=tokyo(2029, 1, 1)) == 0
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consent SET anonymized_at = %s WHERE id = %s",
            [tokyo(2029, 1, 1), consent.pk],
        )


def test_a_request_to_terms_no_longer_in_force_is_refused(office, consent_given, terms):
    from reservations import services as reservation_services

    first = TermsVersion.objects.get(pk=terms.pk)
    new = TermsVersion(
        office=office,
        version="2027-03-02",
        title=first.title,
        body=first.body.replace("30分", "45分"),
        issued_label="令和9年2月1日",
        issuer=first.issuer,
        effective_date=date(2027, 3, 2),
        published_at=tokyo(2027, 2, 1),
    )
    new.content_hash = new.compute_hash()
    new.save()
    before = _counts()
    # The form was opened on March 1st (old terms) and sent on March 2nd (new terms).
    with pytest.raises(services.ConsentError) as excinfo:
        reservation_services.reservation_request(
            office=office,
            slot_start=tokyo(2027, 3, 4, 10),
            name="山田 太郎",
            email="taro@example.jp",
            seeker_number="10040-1234567",
            consent=consent_given(),
            now=tokyo(2027, 3, 2, 9),
        )
    assert excinfo.value.code == "terms_changed"
    assert _counts() == before
