"""A supervisor plans the rota in Chromium (rule 4): the two-week preview shows who is on
duty in each slot; after taking a counselor off the afternoons and giving them a day of
leave, the preview shows the places that are left."""

from __future__ import annotations

import pytest
import time_machine
from playwright.sync_api import Page, expect

from tests.admin_support import PASSWORD, staff_groups, supervisor_user
from tests.conftest import tokyo
from tests.rota_support import add_counselor

__all__ = ["staff_groups", "supervisor_user"]  # fixtures in use

pytestmark = pytest.mark.django_db(transaction=True)

DESKTOP = {"width": 1280, "height": 900}
MORNING = tokyo(2027, 2, 16, 9, 50)  # Tuesday


def log_in(page: Page, username: str) -> None:
    page.goto("/admin/")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    expect(page.get_by_role("link", name="本日の相談を開く")).to_be_visible()


def slot(page: Page, day: str, hour: str):  # noqa: ANN201
    return page.locator("table.hw-rota tr", has_text=day).locator(f"li[data-slot='{hour}']")


@pytest.fixture
def rota(office, terms):  # noqa: ANN201
    with time_machine.travel(MORNING, tick=True):
        yield add_counselor(office, "sato"), add_counselor(office, "suzuki")


def test_a_supervisor_edits_a_counselors_rota_and_sees_the_preview(
    context_factory, rota, supervisor_user
):
    page = context_factory(viewport=DESKTOP).new_page()
    log_in(page, supervisor_user.username)
    page.goto("/admin/reservations/counselor/")
    page.get_by_role("link", name="勤務表（今後2週間）").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("勤務表")
    expect(slot(page, "2月17日", "14:00")).to_contain_text("sato・suzuki")
    expect(slot(page, "2月17日", "14:00")).to_contain_text("（0/2）")
    expect(slot(page, "2月18日", "10:00")).to_contain_text("sato・suzuki")

    page.goto("/admin/reservations/counselor/")
    page.get_by_role("link", name="sato", exact=True).click()
    # No more afternoons for sato…
    afternoons = page.locator(
        "#duty_windows-group tr.form-row:has(input[name$='-start_time'][value='14:00'])"
    )
    expect(afternoons).to_have_count(5)
    for i in range(5):
        afternoons.nth(i).locator("input[name$='-DELETE']").check()
    # …and a day of leave on Thursday.
    page.locator("#duty_exceptions-group .add-row a").click()
    page.locator("input[name='duty_exceptions-0-date']").fill("2027-02-18")
    page.locator("select[name='duty_exceptions-0-kind']").select_option("leave")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("sato")

    page.get_by_role("link", name="勤務表（今後2週間）").click()
    expect(slot(page, "2月17日", "14:00")).not_to_contain_text("sato")
    expect(slot(page, "2月17日", "14:00")).to_contain_text("（0/1）")
    expect(slot(page, "2月17日", "10:00")).to_contain_text("sato・suzuki")
    expect(slot(page, "2月18日", "10:00")).not_to_contain_text("sato")
    expect(slot(page, "2月18日", "10:00")).to_contain_text("suzuki")
