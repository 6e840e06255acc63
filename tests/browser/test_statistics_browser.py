"""A supervisor reads the office's statistics in Chromium: the page, a mistake, the CSV file."""

from __future__ import annotations

import csv
import importlib
import io
import os
from pathlib import Path

import pytest
import time_machine
from django.apps import apps as django_apps
from playwright.sync_api import Page, expect

from reservations import services
from tests.admin_support import PASSWORD, counselor_user, staff_groups, supervisor_user
from tests.conftest import tokyo

__all__ = ["counselor_user", "staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 900}
statistics_migration = importlib.import_module("reservations.migrations.0007_statistics_permission")
SCREENSHOTS = os.environ.get("ADMIN_SCREENSHOTS", "")


def shoot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def january(office, terms, make_reservation, counselor_user):  # noqa: F811
    """Two January sessions (one attended, one cancelled by phone); the clock at 20 February."""
    attended = make_reservation(tokyo(2027, 1, 12, 10), now=tokyo(2027, 1, 5, 10))
    services.reservation_confirm(
        reservation=attended, actor=counselor_user, now=tokyo(2027, 1, 5, 11)
    )
    services.reservation_mark_attended(
        reservation=attended, actor=counselor_user, now=tokyo(2027, 1, 12, 10, 3)
    )
    cancelled = make_reservation(tokyo(2027, 1, 13, 14), now=tokyo(2027, 1, 6, 14))
    services.reservation_cancel(
        reservation=cancelled,
        by="staff",
        actor=counselor_user,
        reason="本人から電話",
        now=tokyo(2027, 1, 7, 9),
    )
    with time_machine.travel(tokyo(2027, 2, 20, 9), tick=True):
        yield


@pytest.fixture
def supervisor(staff_groups, supervisor_user):  # noqa: F811
    # The flush of a transactional test removes the grant; put it back as the migration does.
    statistics_migration.grant(django_apps, None)
    return supervisor_user


def test_a_supervisor_reads_and_downloads_the_statistics(context_factory, january, supervisor):
    from axe_playwright_python.sync_playwright import Axe

    page = context_factory(viewport=DESKTOP).new_page()
    page.goto("/admin/")
    page.get_by_label("ユーザー名").fill(supervisor.username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.get_by_role("link", name="利用状況の統計を開く").click()

    expect(page.get_by_role("heading", name="利用状況の統計")).to_be_visible()
    expect(page.get_by_role("heading", name="2026年3月〜2027年2月")).to_be_visible()
    january_row = page.get_by_role("row", name="2027年1月")
    # 申込み 2, 確定 1, 相談済み 1, 不参加 0, キャンセル（申込者）0, キャンセル（職員）1; both
    # in Japanese, so the six other contact languages count 0; nobody on a waiting list
    # (entries, offers, claims).
    languages = ["2", "0", "0", "0", "0", "0", "0", "0"]
    waitlist = ["0", "0", "0"]
    expect(january_row.get_by_role("cell")).to_have_text(
        [
            "2",
            "1",
            "1",
            "0",
            "0",
            "1",
            "0",
            "0",
            "0.0%",
            "2",
            "0",
            *languages,
            "0",
            "7.0",
            *waitlist,
        ]
    )
    axe = Axe()
    assert axe.run(page).response["violations"] == []
    shoot(page, "20-statistics")

    # The end before the start: the error sits next to the field, nothing else changes.
    page.get_by_label("集計の始めの月").fill("2027-03")
    page.get_by_label("集計の終わりの月").fill("2027-01")
    page.get_by_role("button", name="集計する").click()
    expect(page.locator(".errornote").first).to_contain_text("入力内容を確認してください。")
    expect(page.locator(".hw-field.errors")).to_contain_text("始めの月と同じか")
    expect(page.get_by_role("table")).to_have_count(0)
    assert axe.run(page).response["violations"] == []
    shoot(page, "21-statistics-error")

    page.get_by_label("集計の始めの月").fill("2027-01")
    page.get_by_role("button", name="集計する").click()
    expect(page.get_by_role("heading", name="2027年1月〜2027年1月")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="この表をCSVでダウンロード").click()
    download = download_info.value
    assert download.suggested_filename == "statistics-202701-202701.csv"
    body = open(download.path(), encoding="utf-8").read()  # noqa: PTH123, SIM115
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert [row[0] for row in rows] == ["相談月", "2027年1月", "合計"]
    assert rows[1][1:3] == ["2", "1"]


def test_a_counselor_has_no_statistics(context_factory, january, counselor_user):  # noqa: F811
    page = context_factory(viewport=DESKTOP).new_page()
    page.goto("/admin/")
    page.get_by_label("ユーザー名").fill(counselor_user.username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("link", name="本日の相談を開く")).to_be_visible()
    expect(page.get_by_role("link", name="利用状況の統計を開く")).to_have_count(0)
    response = page.goto("/admin/reservations/reservation/statistics/")
    assert response is not None and response.status == 403
