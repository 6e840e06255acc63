"""利用状況の統計: the supervisors' counts per month, on the page and as CSV.

The bookings are made, confirmed, attended, cancelled, swept and anonymised through the
real services with explicit clocks; the numbers are read back through the admin's URLs.
"""

from __future__ import annotations

import csv
import importlib
import io
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.apps import apps as django_apps
from django.conf import settings
from django.test import Client
from django.urls import reverse

from reservations import selectors, services
from reservations.admin import statistics as admin_statistics
from reservations.admin.forms import StatisticsForm
from reservations.models import Office, Reservation, StaffMembership, StaffRole
from reservations.rules import Status
from tests.admin_support import (
    COUNSELOR,
    SUPERVISOR,
    counselor_user,
    staff_groups,
    supervisor_user,
)
from tests.conftest import tokyo

__all__ = ["counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db

URL = reverse("admin:reservations_reservation_statistics")
statistics_migration = importlib.import_module("reservations.migrations.0007_statistics_permission")

HEADER = [
    "相談月",
    "申込み",
    "確定",
    "相談済み",
    "連絡なし不参加",
    "キャンセル（申込者）",
    "キャンセル（職員）",
    "期限切れ",
    "お断り",
    "不参加率",
    "Zoom",
    "TeleOffice",
    "連絡の言語: 日本語",
    "連絡の言語: 英語",
    # The languages added in issue #13, named by Django (Tagalog and Easy Japanese it does
    # not know: settings.LANG_INFO names them).
    "連絡の言語: ブラジルポルトガル語",
    "連絡の言語: ベトナム語",
    "連絡の言語: Tagalog",
    "連絡の言語: スペイン語",
    "連絡の言語: 簡体字中国語",
    "連絡の言語: Easy Japanese",
    "通訳者・介助者の同席",
    "申込みから相談までの日数（平均）",
    "キャンセル待ちの登録",
    "キャンセル待ちへの案内",
    "キャンセル待ちからの申込み",
]


@pytest.fixture
def supervisor(staff_groups, supervisor_user):  # noqa: F811
    # A transactional test elsewhere may have flushed the groups; the fixture that re-creates
    # them knows the older migrations only.
    statistics_migration.grant(django_apps, None)
    return supervisor_user


def login(user) -> Client:  # noqa: ANN001
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def history(make_reservation, counselor_user):  # noqa: F811
    """January and February 2027 as a counselor lived them, and a booking either side."""
    staff = counselor_user

    def confirmed(start, requested_at, **fields):  # noqa: ANN001, ANN202
        booking = make_reservation(start, now=requested_at, **fields)
        return services.reservation_confirm(
            reservation=booking,
            actor=staff,
            meeting_url="https://teleoffice.example.jp/room/1"
            if fields.get("platform") == "teleoffice"
            else "",
            now=requested_at + timedelta(hours=1),
        )

    # Outside the period: the Monday before the year-end closure, and 1 March.
    before = make_reservation(tokyo(2026, 12, 28, 10), now=tokyo(2026, 12, 21, 10))
    after = make_reservation(tokyo(2027, 3, 1, 10), now=tokyo(2027, 2, 22, 10))

    # January: 6 bookings; leads 7, 7, 7, 4, 10 and 12 days (47 in all).
    attended = confirmed(tokyo(2027, 1, 12, 10), tokyo(2027, 1, 5, 10))
    services.reservation_mark_attended(
        reservation=attended, actor=staff, now=tokyo(2027, 1, 12, 10, 5)
    )
    no_show = confirmed(tokyo(2027, 1, 13, 10), tokyo(2027, 1, 6, 10), platform="teleoffice")
    seeker_cancel = make_reservation(
        tokyo(2027, 1, 14, 14),
        now=tokyo(2027, 1, 7, 14),
        language="en",
        companion="interpreter",
        companion_language="ポルトガル語",
    )
    services.reservation_cancel(reservation=seeker_cancel, by="seeker", now=tokyo(2027, 1, 8, 9))
    staff_cancel = confirmed(tokyo(2027, 1, 15, 10), tokyo(2027, 1, 11, 10))
    services.reservation_cancel(
        reservation=staff_cancel,
        by="staff",
        actor=staff,
        reason="本人から電話で取消し",
        now=tokyo(2027, 1, 14, 16),
    )
    expired = make_reservation(tokyo(2027, 1, 19, 10), now=tokyo(2027, 1, 9, 10))
    rejected = make_reservation(tokyo(2027, 1, 20, 10), now=tokyo(2027, 1, 8, 10))
    services.reservation_reject(
        reservation=rejected, actor=staff, reason="相談内容が対象外のため", now=tokyo(2027, 1, 9)
    )
    # Art. 6(4): nobody came and nobody called; the sweep decides, ten minutes after.
    first_sweep = services.reservations_sweep(now=tokyo(2027, 1, 13, 10, 10))
    # Rule 5: still unconfirmed when 1/19 began.
    second_sweep = services.reservations_sweep(now=tokyo(2027, 1, 19, 0, 5))

    # February: 4 bookings; leads 7, 11, 7 and 7 days (32 in all).
    feb_attended = confirmed(
        tokyo(2027, 2, 1, 10), tokyo(2027, 1, 25, 10), language="en", companion="assistant"
    )
    services.reservation_mark_attended(
        reservation=feb_attended, actor=staff, now=tokyo(2027, 2, 1, 10, 2)
    )
    feb_attended_too = confirmed(tokyo(2027, 2, 12, 10), tokyo(2027, 2, 1, 10))
    services.reservation_mark_attended(
        reservation=feb_attended_too, actor=None, now=tokyo(2027, 2, 12, 10, 1)
    )
    feb_no_show = confirmed(tokyo(2027, 2, 9, 10), tokyo(2027, 2, 2, 10))
    feb_waiting = make_reservation(
        tokyo(2027, 2, 10, 14), now=tokyo(2027, 2, 3, 14), platform="teleoffice"
    )
    third_sweep = services.reservations_sweep(now=tokyo(2027, 2, 9, 10, 10))

    # Rule 15: a month after the January session, its personal data is erased.
    purged = services.reservations_purge_personal_data(
        retention_days=30, now=tokyo(2027, 2, 11, 10, 31)
    )
    return SimpleNamespace(
        before=before,
        after=after,
        attended=attended,
        no_show=no_show,
        expired=expired,
        feb_no_show=feb_no_show,
        feb_waiting=feb_waiting,
        sweeps=(first_sweep, second_sweep, third_sweep),
        purged=purged,
    )


def test_the_history_is_what_the_services_made_of_it(history):
    assert [sweep.no_show for sweep in history.sweeps] == [1, 0, 1]
    assert history.sweeps[1].expired == 1
    for booking, status in (
        (history.no_show, Status.NO_SHOW),
        (history.expired, Status.EXPIRED),
        (history.feb_no_show, Status.NO_SHOW),
        (history.feb_waiting, Status.REQUESTED),
    ):
        booking.refresh_from_db()
        assert booking.status == status
    attended = Reservation.objects.get(pk=history.attended.pk)
    assert history.purged.reservations >= 1
    assert attended.anonymized_at is not None
    assert (attended.name, attended.email, attended.seeker_number) == ("", "", "")


def page_table(response) -> list[list[str]]:  # noqa: ANN001
    table = response.context["table"]
    return [
        ["—" if value is None else str(value) for value in row]
        for row in (table.header, *table.rows, table.total)
    ]


EXPECTED = [
    HEADER,
    # month, req, conf, att, no-show, c-seeker, c-staff, exp, rej, rate, zoom, tele, ja, en,
    # companion, lead, waitlist entries, offers, claims
    ["2027年1月", "6", "3", "1", "1", "1", "1", "1", "1", "50.0%", "5", "1", "5", "1"]
    + ["0"] * 6
    + ["1", "7.8", "0", "0", "0"],
    ["2027年2月", "4", "3", "2", "1", "0", "0", "0", "0", "33.3%", "3", "1", "3", "1"]
    + ["0"] * 6
    + ["1", "8.0", "0", "0", "0"],
    ["合計", "10", "6", "3", "2", "1", "1", "1", "1", "40.0%", "8", "2", "8", "2"]
    + ["0"] * 6
    + ["2", "7.9", "0", "0", "0"],
]


def test_the_numbers_per_month_include_anonymised_bookings(history, supervisor):
    response = login(supervisor).get(
        URL, {"date_from": "2027-01", "date_to": "2027-02", "office": history.attended.office_id}
    )
    assert response.status_code == 200
    assert page_table(response) == EXPECTED
    page = response.content.decode()
    assert "2027年1月〜2027年2月" in page
    assert '<th scope="row">2027年1月</th>' in page
    # Counts only: no name, email or reference of anyone appears.
    for booking in Reservation.objects.all():
        assert booking.reference not in page
        if booking.name:
            assert booking.name not in page
            assert booking.email not in page


def test_a_month_without_bookings_is_shown_with_zeros(history, supervisor):
    response = login(supervisor).get(URL, {"date_from": "2027-04", "date_to": "2027-05"})
    rows = page_table(response)
    assert [row[0] for row in rows[1:]] == ["2027年4月", "2027年5月", "合計"]
    for row in rows[1:]:
        assert row[1:9] == ["0"] * 8
        assert row[9] == "—"  # no session was due: no rate
        assert row[-4] == "—"  # no request: no lead time
        assert row[-3:] == ["0", "0", "0"]  # nobody on a waiting list


def test_the_default_is_the_last_twelve_months(history, supervisor):
    with time_machine.travel(tokyo(2027, 2, 20, 9), tick=False):
        response = login(supervisor).get(URL)
    assert response.status_code == 200
    rows = page_table(response)
    months = [row[0] for row in rows[1:-1]]
    assert months[0] == "2026年3月"
    assert months[-1] == "2027年2月"
    assert len(months) == 12
    assert rows[-1][1] == "11"  # December's booking is in the period too; March's is not
    form = response.context["form"]
    assert form["date_from"].value() == "2026-03"
    assert form["date_to"].value() == "2027-02"


def test_the_selector_reads_three_aggregate_queries_whatever_the_period(
    history, django_assert_num_queries
):
    office = history.attended.office
    with django_assert_num_queries(3):  # bookings, their records, the waiting lists
        one = selectors.reservation_statistics(office, date(2027, 1, 1), date(2027, 1, 1))
    with django_assert_num_queries(3):
        twelve = selectors.reservation_statistics(office, date(2026, 3, 1), date(2027, 2, 1))
    assert len(one.months) == 1
    assert len(twelve.months) == 12
    assert one.months[0] == twelve.months[10]


def test_the_page_costs_the_same_queries_for_one_month_and_twelve(
    history, supervisor, django_assert_num_queries
):
    client = login(supervisor)
    client.get(URL)  # the session and permissions are read the same way each time after this
    one = {"date_from": "2027-01", "date_to": "2027-01"}
    twelve = {"office": history.attended.office_id, "date_from": "2026-03", "date_to": "2027-02"}
    # Session, user, 2 × permissions, the supervised offices, the user's offices (the
    # working office), 3 aggregates, the offices whose counselors they may edit (the app
    # list); the office in the page header is kept in the shared cache.
    with django_assert_num_queries(10) as one_month:
        assert client.get(URL, one).status_code == 200
    with django_assert_num_queries(10) as twelve_months:
        assert client.get(URL, twelve).status_code == 200
    # The file needs no page header.
    with django_assert_num_queries(9):
        assert client.get(URL, {**twelve, "download": "csv"}).status_code == 200
    aggregates = [
        query["sql"]
        for query in twelve_months.captured_queries
        if "reservation" in query["sql"] and "COUNT(" in query["sql"]
    ]
    assert len(aggregates) == 3
    assert len(one_month.captured_queries) == len(twelve_months.captured_queries)


def test_the_csv_is_the_same_table_for_spreadsheets(history, supervisor):
    response = login(supervisor).get(
        URL, {"date_from": "2027-01", "date_to": "2027-02", "download": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="statistics-202701-202702.csv"'
    )
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")  # a BOM: spreadsheet programs then read UTF-8
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    # The page's "—" (nothing to compute) is an empty cell in the file.
    assert rows == [[value.replace("—", "") for value in row] for row in EXPECTED]


def test_the_page_links_to_its_csv(history, supervisor):
    response = login(supervisor).get(URL, {"date_from": "2027-01", "date_to": "2027-02"})
    office = history.attended.office_id
    link = f"?office={office}&amp;date_from=2027-01&amp;date_to=2027-02&amp;download=csv"
    assert f'href="{link}"' in response.content.decode()


def test_a_csv_cell_never_runs_as_a_formula(supervisor):
    table = admin_statistics.StatisticsTable(
        header=["=HYPERLINK(1)", "+1", "@SUM(A1)"], rows=[["-1.5", 3, None]], total=["\tx", 0, ""]
    )
    form = StatisticsForm(
        {"date_from": "2027-01", "date_to": "2027-01"},
        today=date(2027, 1, 5),
        offices=list(Office.objects.all()),
    )
    assert form.is_valid()
    body = admin_statistics.statistics_csv(table, form).content.decode("utf-8").lstrip("\ufeff")
    assert list(csv.reader(io.StringIO(body))) == [
        ["'=HYPERLINK(1)", "'+1", "'@SUM(A1)"],
        ["'-1.5", "3", ""],
        ["'\tx", "0", ""],
    ]


# --- Who may see it ---------------------------------------------------------------------


def test_the_migration_gives_the_statistics_to_supervisors_only(staff_groups):  # noqa: F811
    def codenames(name: str) -> set[str]:
        return set(staff_groups[name].permissions.values_list("codename", flat=True))

    assert "view_statistics" in codenames(SUPERVISOR)
    assert "view_statistics" not in codenames(COUNSELOR)


@pytest.mark.parametrize("download", [False, True])
@pytest.mark.parametrize("who", ["anonymous", "no group", "counselor", "supervisor"])
def test_who_may_see_the_statistics(who, download, counselor, counselor_user, supervisor):  # noqa: F811
    users = {"no group": counselor, "counselor": counselor_user, "supervisor": supervisor}
    client = login(users[who]) if who in users else Client()
    response = client.get(URL, {"download": "csv"} if download else {})
    if who == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    elif who == "supervisor":
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert not response.get("Content-Type", "").startswith("text/csv")


def test_only_supervisors_see_the_link_on_the_admin_index(counselor_user, supervisor):  # noqa: F811
    index = login(supervisor).get("/admin/").content.decode()
    assert "利用状況の統計を開く" in index
    assert f'href="{URL}"' in index
    index = login(counselor_user).get("/admin/").content.decode()
    assert "本日の相談を開く" in index
    assert "利用状況の統計" not in index


# --- Bad input: the error next to the field, never a 500 -----------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"date_from": "2027-13", "date_to": "2027-02"}, "date_from", "「2027-01」の形"),
        ({"date_from": "きのう", "date_to": "2027-02"}, "date_from", "「2027-01」の形"),
        ({"date_from": "2027-01", "date_to": ""}, "date_to", "このフィールドは必須です。"),
        ({"date_from": "0000-01", "date_to": "2027-02"}, "date_from", "「2027-01」の形"),
        ({"date_from": "1999-12", "date_to": "2027-02"}, "date_from", "2000年から2099年まで"),
        ({"date_from": "2027-01", "date_to": "9999-12"}, "date_to", "2000年から2099年まで"),
        ({"date_from": "2027-03", "date_to": "2027-02"}, "date_to", "始めの月と同じか"),
        ({"date_from": "2020-01", "date_to": "2025-01"}, "date_to", "60か月まで"),
        ({"date_from": "2027-01" * 10, "date_to": "2027-02"}, "date_from", "20 文字以下"),
    ],
)
def test_bad_months_are_explained_next_to_the_field(office, supervisor, query, field, message):
    response = login(supervisor).get(URL, query)
    assert response.status_code == 200
    assert response.context["table"] is None
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert message in " ".join(errors[field])
    page = response.content.decode()
    assert "入力内容を確認してください。" in page
    assert message in page
    assert 'class="errorlist' in page


@pytest.mark.parametrize("office_value", ["abc", "999999", "other"])
def test_an_office_not_ones_own_is_not_found(office, supervisor, office_value):
    # Unknown, malformed or another office's: the same 404, nothing counted.
    if office_value == "other":
        office_value = Office.objects.create(name="ハローワーク太田", slug="ota", phone="0").pk
    response = login(supervisor).get(
        URL, {"office": office_value, "date_from": "2027-01", "date_to": "2027-02"}
    )
    assert response.status_code == 404


def test_a_bad_request_never_downloads(office, supervisor):
    response = login(supervisor).get(
        URL, {"date_from": "2027-03", "date_to": "2027-01", "download": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


def test_months_may_be_typed_the_japanese_way(history, supervisor):
    response = login(supervisor).get(URL, {"date_from": "２０２７年１月", "date_to": "2027/2"})
    assert response.status_code == 200
    assert page_table(response) == EXPECTED


def test_with_several_offices_the_office_is_chosen(history, supervisor):
    from reservations.models import Office

    other = Office.objects.create(name="ハローワーク太田", slug="ota", phone="0276-46-8609")
    elsewhere = Office.objects.create(name="ハローワーク沼田", slug="numata", phone="0")
    StaffMembership.objects.create(user=supervisor, office=other, role=StaffRole.SUPERVISOR)
    client = login(supervisor)
    page = client.get(URL).content.decode()
    assert '<select name="office"' in page
    # Only the supervisor's own offices are offered.
    assert [choice[1] for choice in client.get(URL).context["form"].fields["office"].choices] == [
        history.attended.office.name,
        other.name,
    ]
    assert elsewhere.name not in page
    response = client.get(URL, {"office": other.pk, "date_from": "2027-01", "date_to": "2027-02"})
    assert [row[1] for row in page_table(response)[1:]] == ["0", "0", "0"]


# --- In English -------------------------------------------------------------------------


def test_the_page_in_english(history, supervisor):
    from tests.test_i18n import japanese_left, readable_text

    client = login(supervisor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = client.get(URL, {"date_from": "2027-01", "date_to": "2027-02"})
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="en"' in html
    table = response.context["table"]
    assert table.header[:3] == ["Month of session", "Requests", "Confirmed"]
    assert table.rows[0][0] == "January 2027"
    assert "January 2027 – February 2027" in html
    # Only names stay in Japanese: the office's and the supervisor's own.
    names = (history.attended.office.name, supervisor.first_name)
    assert not japanese_left(readable_text(html), names)

    bad = client.get(URL, {"date_from": "2027-03", "date_to": "2027-02"})
    assert "The last month must be the same as the first month or later." in bad.content.decode()
    assert not japanese_left(readable_text(bad.content.decode()), names)

    csv_body = client.get(URL, {"date_from": "2027-01", "date_to": "2027-02", "download": "csv"})
    header = next(csv.reader(io.StringIO(csv_body.content.decode("utf-8").lstrip("\ufeff"))))
    assert header[-4] == "Days from request to session (average)"
