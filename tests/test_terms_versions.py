"""Terms versions: the shipped first version, publishing, freezing, the version in force."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, connection, transaction

from consent import selectors, services
from consent.models import ImmutableRecordError, TermsVersion
from tests.conftest import IS_POSTGRES, tokyo

SHIPPED = (
    Path(__file__).resolve().parent.parent
    / "consent"
    / "terms"
    / "isesaki-online-consultation-terms-2023-04-01.txt"
)


@pytest.fixture
def supervisor(db, django_user_model):
    user = django_user_model.objects.create_user(
        username="supervisor", password="supervisor-pass-2026", is_staff=True
    )
    user.groups.add(Group.objects.get(name="管理者"))
    return django_user_model.objects.get(pk=user.pk)  # fresh permission cache


def make_draft(office, *, version: str = "2027-04-01", effective: date = date(2027, 4, 1)):
    first = TermsVersion.objects.get(office=office, version="2023-04-01")
    return TermsVersion.objects.create(
        office=office,
        version=version,
        title=first.title,
        body=first.body.replace("1回当たり30分", "1回当たり45分"),
        issued_label="令和9年3月1日",
        issuer=first.issuer,
        effective_date=effective,
    )


def test_first_version_is_the_shipped_text_published_from_2023_04_01(terms, office):
    assert terms.office == office
    assert terms.version == "2023-04-01"
    assert terms.effective_date == date(2023, 4, 1)
    assert terms.is_published
    assert terms.title == "オンライン職業相談等利用規約"
    assert terms.issued_label == "令和5年4月1日"
    assert terms.issuer == "伊勢崎公共職業安定所長"
    assert [a.number for a in terms.parsed().articles] == list(range(1, 15))


def test_the_hash_matches_the_stored_text_and_the_shipped_file(terms):
    stored = "\n\n".join([terms.title, terms.body, terms.issued_label, terms.issuer])
    assert terms.content_hash == hashlib.sha256(stored.encode("utf-8")).hexdigest()
    assert terms.content_hash == terms.compute_hash()
    shipped = SHIPPED.read_text(encoding="utf-8").strip("\n")
    assert terms.content_hash == hashlib.sha256(shipped.encode("utf-8")).hexdigest()


def test_the_model_refuses_to_change_a_published_version(terms):
    terms.body = terms.body.replace("30分", "60分")
    with pytest.raises(ImmutableRecordError):
        terms.save()
    with pytest.raises(ImmutableRecordError):
        terms.save(update_fields=["body"])
    terms.refresh_from_db()
    assert "1回当たり30分" in terms.body


def test_querysets_refuse_to_change_or_delete_a_published_version(terms):
    published = TermsVersion.objects.filter(pk=terms.pk)
    with pytest.raises(ImmutableRecordError):
        published.update(title="別の表題")
    with pytest.raises(ImmutableRecordError):
        TermsVersion.objects.all().update(effective_date=date(2024, 1, 1))
    terms.title = "別の表題"
    with pytest.raises(ImmutableRecordError):
        TermsVersion.objects.bulk_update([terms], ["title"])
    with pytest.raises(ImmutableRecordError):
        published.delete()
    with pytest.raises(ImmutableRecordError):
        TermsVersion.objects.get(pk=terms.pk).delete()
    terms.refresh_from_db()
    assert terms.title == "オンライン職業相談等利用規約"


def test_the_database_refuses_to_update_a_published_version(terms):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_termsversion SET body = %s WHERE id = %s", ["改ざん", terms.pk]
        )
    terms.refresh_from_db()
    assert terms.body != "改ざん"


@pytest.mark.skipif(not IS_POSTGRES, reason="delete triggers exist on PostgreSQL only")
def test_the_database_refuses_to_delete_a_published_version(terms):
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_termsversion WHERE id = %s", [terms.pk])
    assert TermsVersion.objects.filter(pk=terms.pk).exists()


def test_drafts_can_be_edited_and_deleted(office):
    draft = make_draft(office)
    draft.title = "オンライン職業相談等利用規約（改定案）"
    draft.save()
    TermsVersion.objects.filter(pk=draft.pk).update(issued_label="令和9年3月2日")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE consent_termsversion SET issuer = issuer WHERE id = %s", [draft.pk])
    draft.delete()
    assert not TermsVersion.objects.filter(pk=draft.pk).exists()


def test_publishing_hashes_and_freezes_the_text(office, supervisor):
    draft = make_draft(office)
    now = tokyo(2027, 3, 1, 9)
    published = services.terms_publish(terms_version=draft, actor=supervisor, now=now)
    published.refresh_from_db()
    assert published.published_at == now
    assert published.published_by == supervisor
    assert published.content_hash == published.compute_hash()
    published.effective_date = date(2027, 5, 1)
    with pytest.raises(ImmutableRecordError):
        published.save()
    with pytest.raises(services.TermsError) as excinfo:
        services.terms_publish(terms_version=published, actor=supervisor, now=now)
    assert excinfo.value.code == "already_published"
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_termsversion SET effective_date = %s WHERE id = %s",
            [date(2027, 5, 1), published.pk],
        )


@pytest.mark.parametrize(
    ("effective", "body", "code"),
    [
        (date(2027, 2, 28), None, "effective_past"),
        (date(2023, 4, 1), None, "effective_past"),
        (date(2027, 4, 1), "第1条 はじめ\n\n第3条 二を飛ばした", "invalid"),
    ],
)
def test_publishing_refuses_a_bad_draft_and_leaves_it_a_draft(
    office, supervisor, effective, body, code
):
    draft = make_draft(office, effective=effective)
    if body is not None:
        TermsVersion.objects.filter(pk=draft.pk).update(body=body)
    with pytest.raises(services.TermsError) as excinfo:
        services.terms_publish(terms_version=draft, actor=supervisor, now=tokyo(2027, 3, 1, 9))
    assert excinfo.value.code == code
    draft.refresh_from_db()
    assert not draft.is_published and draft.content_hash == ""


def test_a_new_version_must_take_effect_after_the_latest_published_one(office, supervisor):
    now = tokyo(2027, 3, 1, 9)
    services.terms_publish(terms_version=make_draft(office), actor=supervisor, now=now)
    earlier = make_draft(office, version="2027-03-15", effective=date(2027, 3, 15))
    with pytest.raises(services.TermsError) as excinfo:
        services.terms_publish(terms_version=earlier, actor=supervisor, now=now)
    assert excinfo.value.code == "effective_order"


def test_two_published_versions_cannot_share_an_effective_date(office, terms):
    clash = make_draft(office, version="again", effective=terms.effective_date)
    clash.content_hash = clash.compute_hash()
    clash.published_at = tokyo(2027, 3, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        clash.save()


def test_only_staff_with_the_publish_permission_may_publish(office, counselor):
    with pytest.raises(services.TermsError) as excinfo:
        services.terms_publish(
            terms_version=make_draft(office), actor=counselor, now=tokyo(2027, 3, 1, 9)
        )
    assert excinfo.value.code == "permission"


def test_supervisors_hold_the_publish_and_export_permissions(supervisor, counselor):
    counselor.groups.add(Group.objects.get(name="相談員"))
    assert supervisor.has_perm("consent.publish_termsversion")
    assert supervisor.has_perm("consent.export_consent")
    assert supervisor.has_perm("consent.change_termsversion")
    assert not counselor.has_perm("consent.publish_termsversion")
    assert not counselor.has_perm("consent.export_consent")


def test_the_version_in_force_switches_at_midnight_in_tokyo(office, terms, supervisor):
    new = services.terms_publish(
        terms_version=make_draft(office), actor=supervisor, now=tokyo(2027, 3, 1, 9)
    )
    last_moment = tokyo(2027, 4, 1) - timedelta(microseconds=1)
    assert selectors.terms_in_force(office.pk, last_moment) == terms
    assert selectors.terms_announced(office.pk, last_moment) == new
    assert selectors.terms_in_force(office.pk, tokyo(2027, 4, 1)) == new
    assert selectors.terms_announced(office.pk, tokyo(2027, 4, 1)) is None
    # 2027-03-31 15:00 UTC is already April 1st in Tokyo.
    assert selectors.terms_in_force(office.pk, datetime(2027, 3, 31, 15, tzinfo=UTC)) == new
    assert selectors.terms_in_force(office.pk, datetime(2027, 3, 31, 14, 59, tzinfo=UTC)) == terms
    assert selectors.terms_previous(new) == terms
    assert selectors.terms_previous(terms) is None
