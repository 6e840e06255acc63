"""Staff pages: the consent ledger (read and export only) and the terms versions."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import PRIVACY_NOTICE_VERSION, Consent, TermsVersion
from reservations.models import Office, StaffMembership, StaffRole
from tests.conftest import tokyo

NOW = tokyo(2027, 3, 1, 9)
SLOTS = [tokyo(2027, 3, 3, 10), tokyo(2027, 3, 3, 10, 30), tokyo(2027, 3, 3, 11)]
CHANGELIST = "/admin/consent/consent/"
TERMS_ADMIN = "/admin/consent/termsversion/"


def _staff(django_user_model, username: str, group: str, office: Office):
    """A staff member of ハローワーク伊勢崎 in `group`."""
    user = django_user_model.objects.create_user(
        username=username, password=f"{username}-pass-2026", is_staff=True
    )
    user.groups.add(Group.objects.get(name=group))
    role = StaffRole.SUPERVISOR if group == "管理者" else StaffRole.COUNSELOR
    StaffMembership.objects.create(user=user, office=office, role=role)
    return user


@pytest.fixture
def supervisor(db, django_user_model, office):
    return _staff(django_user_model, "kanri", "管理者", office)


@pytest.fixture
def counselor_in_group(db, django_user_model, office):
    return _staff(django_user_model, "soudan", "相談員", office)


@pytest.fixture
def bookings(make_reservation):
    return [make_reservation(slot, now=NOW) for slot in SLOTS]


def _export(client, ids) -> tuple[int, str]:
    response = client.post(
        CHANGELIST, {"action": "export_csv", "_selected_action": [str(i) for i in ids]}
    )
    if response.get("Content-Type", "").startswith("text/csv"):
        return response.status_code, b"".join(response.streaming_content).decode("utf-8")
    return response.status_code, ""


def test_counselors_read_the_ledger_with_filters(client, counselor_in_group, bookings, terms):
    client.force_login(counselor_in_group)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    content = page.content.decode()
    for booking in bookings:
        assert booking.reference in content
    assert client.get(f"{CHANGELIST}?terms_version__id__exact={terms.pk}").status_code == 200
    filtered = client.get(f"{CHANGELIST}?method__exact=verbal").content.decode()
    assert bookings[0].reference not in filtered
    assert client.get(f"{CHANGELIST}?given_at__year=2027&given_at__month=3").status_code == 200
    detail = client.get(f"{CHANGELIST}{bookings[0].consents.get().pk}/change/")
    assert detail.status_code == 200
    assert "192.0.2.10" in detail.content.decode()
    assert 'name="_save"' not in detail.content.decode()


def test_nobody_adds_changes_or_deletes_a_consent_in_the_admin(admin_client, bookings):
    consent = bookings[0].consents.get()
    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    change = admin_client.post(f"{CHANGELIST}{consent.pk}/change/", {"email": "x@example.jp"})
    assert change.status_code == 403
    assert admin_client.get(f"{CHANGELIST}{consent.pk}/delete/").status_code == 403
    assert (
        admin_client.post(f"{CHANGELIST}{consent.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    admin_client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [consent.pk], "post": "yes"}
    )
    consent.refresh_from_db()
    assert consent.email == bookings[0].email
    assert Consent.objects.count() == 3


def test_the_audit_export_is_a_csv_of_the_selected_consents(client, supervisor, bookings, terms):
    client.force_login(supervisor)
    assert 'value="export_csv"' in client.get(CHANGELIST).content.decode()
    ids = [b.consents.get().pk for b in bookings[:2]]
    status, body = _export(client, ids)
    assert status == 200
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    header, data = rows[0], rows[1:]
    assert header[:3] == ["同意ID", "予約番号", "同意日時"]
    assert "camera" in header and "IPアドレス" in header
    assert sorted(int(row[0]) for row in data) == sorted(ids)
    row = dict(zip(header, data[0], strict=True))
    assert row["予約番号"] in {b.reference for b in bookings[:2]}
    assert row["同意日時"] == "2027-03-01T09:00:00+09:00"
    assert row["規約の版"] == "2023-04-01"
    assert row["同意した本文のハッシュ"] == terms.content_hash
    assert row["ハッシュが規約の版と一致"] == "1"
    assert row["camera"] == row["antivirus"] == row["アプリの利用規約への同意（第4条）"] == "1"
    assert row["IPアドレス"] == "192.0.2.10"
    # Made in Japanese: no translation was shown; the privacy notice's version is named.
    assert row["参考訳の言語"] == row["参考訳のハッシュ（SHA-256）"] == ""
    assert row["個人情報の取扱いの版"] == PRIVACY_NOTICE_VERSION


def test_staff_read_the_reference_translations_and_nobody_edits_them(
    client, counselor_in_group, supervisor, terms
):
    translation = terms.translations.get(language="vi")
    url = f"/admin/consent/termstranslation/{translation.pk}/change/"
    for user in (counselor_in_group, supervisor):
        client.force_login(user)
        listing = client.get("/admin/consent/termstranslation/")
        assert listing.status_code == 200
        assert translation.content_hash in listing.content.decode()
        page = client.get(url).content.decode()
        assert "## Art. 1" in page and 'name="_save"' not in page
        assert client.get("/admin/consent/termstranslation/add/").status_code == 403
        assert client.post(url.replace("change", "delete"), {"post": "yes"}).status_code == 403
    assert terms.translations.filter(pk=translation.pk).exists()


def test_the_export_neutralises_formulas_typed_by_the_public(
    client, supervisor, office, consent_given
):
    from reservations import services as reservation_services

    reservation = reservation_services.reservation_request(
        office=office,
        slot_start=SLOTS[0],
        name="山田 太郎",
        email="taro@example.jp",
        seeker_number="10040-1234567",
        consent=consent_given(user_agent='=HYPERLINK("http://evil.example/")'),
        now=NOW,
    )
    client.force_login(supervisor)
    _status, body = _export(client, [reservation.consents.get().pk])
    assert "'=HYPERLINK(" in body


def test_the_export_reads_the_same_number_of_queries_for_any_number_of_rows(
    client, supervisor, bookings
):
    client.force_login(supervisor)
    counts = []
    for ids in ([bookings[0].consents.get().pk], [b.consents.get().pk for b in bookings]):
        with CaptureQueriesContext(connection) as queries:
            _export(client, ids)
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_only_holders_of_the_export_permission_can_export(client, counselor_in_group, bookings):
    client.force_login(counselor_in_group)
    status, body = _export(client, [bookings[0].consents.get().pk])
    assert body == "" and status == 200  # the list again: the action is not on offer
    assert 'value="export_csv"' not in client.get(CHANGELIST).content.decode()


# --- Terms versions ---------------------------------------------------------------------


def _draft(office, terms, **overrides) -> TermsVersion:
    values = {
        "office": office,
        "version": "2027-04-01",
        "title": terms.title,
        "body": terms.body.replace("1回当たり30分", "1回当たり45分"),
        "issued_label": "令和9年3月1日",
        "issuer": terms.issuer,
        "effective_date": date(2027, 4, 1),
        **overrides,
    }
    return TermsVersion.objects.create(**values)


def test_a_published_version_is_read_only_in_the_admin(client, supervisor, terms):
    client.force_login(supervisor)
    page = client.get(f"{TERMS_ADMIN}{terms.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert "<textarea" not in page
    response = client.post(
        f"{TERMS_ADMIN}{terms.pk}/change/", {"title": "改ざん", "body": "第1条 改ざん"}
    )
    assert response.status_code == 403
    assert client.post(f"{TERMS_ADMIN}{terms.pk}/delete/", {"post": "yes"}).status_code == 403
    terms.refresh_from_db()
    assert terms.title == "オンライン職業相談等利用規約"


def test_a_new_draft_starts_from_the_text_in_force_and_bad_text_is_refused(
    client, supervisor, office, terms
):
    client.force_login(supervisor)
    add = client.get(f"{TERMS_ADMIN}add/").content.decode()
    assert "第14条" in add and "伊勢崎公共職業安定所長" in add
    response = client.post(
        f"{TERMS_ADMIN}add/",
        {
            "office": office.pk,
            "version": "2027 04",
            "effective_date": "2027-04-01",
            "title": terms.title,
            "body": "第1条 はじめ\n\n第3条 飛ばした",
            "issued_label": "令和9年3月1日",
            "issuer": terms.issuer,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "body" in errors and "第2条" in errors["body"][0]
    assert "version" in errors
    assert not TermsVersion.objects.filter(published_at__isnull=True).exists()


def test_supervisors_preview_confirm_and_publish_a_draft(
    client, supervisor, office, terms, time_machine, make_reservation, mailoutbox
):
    time_machine.move_to(NOW, tick=False)
    make_reservation(tokyo(2027, 3, 3, 10), now=NOW)
    draft = _draft(office, terms, effective_date=date(2027, 3, 2))
    client.force_login(supervisor)
    preview = client.get(f"{TERMS_ADMIN}{draft.pk}/preview/").content.decode()
    assert "1回当たり45分" in preview and "下書きのプレビュー" in preview
    confirm = client.get(f"{TERMS_ADMIN}{draft.pk}/publish/").content.decode()
    assert draft.compute_hash() in confirm
    assert "1 人に、変更のお知らせ" in confirm
    response = client.post(f"{TERMS_ADMIN}{draft.pk}/publish/")
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.is_published and draft.published_by == supervisor
    assert draft.content_hash == draft.compute_hash()
    assert client.get(f"{TERMS_ADMIN}").status_code == 200


def test_the_publish_action_goes_through_the_confirmation(client, supervisor, office, terms):
    draft = _draft(office, terms)
    client.force_login(supervisor)
    response = client.post(
        TERMS_ADMIN, {"action": "publish_selected", "_selected_action": [draft.pk]}
    )
    assert response.status_code == 302
    assert response["Location"] == f"{TERMS_ADMIN}{draft.pk}/publish/"
    other = _draft(office, terms, version="2027-05-01", effective_date=date(2027, 5, 1))
    response = client.post(
        TERMS_ADMIN, {"action": "publish_selected", "_selected_action": [draft.pk, other.pk]}
    )
    assert response.status_code == 302 and response["Location"].endswith(TERMS_ADMIN)
    assert not TermsVersion.objects.filter(
        pk__in=[draft.pk, other.pk], published_at__isnull=False
    ).exists()


def test_counselors_cannot_publish(client, counselor_in_group, office, terms):
    draft = _draft(office, terms)
    client.force_login(counselor_in_group)
    assert client.get(f"{TERMS_ADMIN}{draft.pk}/publish/").status_code == 403
    assert client.post(f"{TERMS_ADMIN}{draft.pk}/publish/").status_code == 403
    draft.refresh_from_db()
    assert not draft.is_published


def test_a_refused_publication_is_explained_and_changes_nothing(client, supervisor, office, terms):
    draft = _draft(office, terms, effective_date=date(2020, 1, 1))
    client.force_login(supervisor)
    response = client.post(f"{TERMS_ADMIN}{draft.pk}/publish/", follow=True)
    assert "施行日が過ぎています" in response.content.decode()
    draft.refresh_from_db()
    assert not draft.is_published
