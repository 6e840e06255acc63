"""The public terms pages: /terms/, /terms/<version>/, the changes, the Art. 13 notice."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

from consent.models import TermsVersion
from tests.conftest import tokyo

SHIPPED = (
    Path(__file__).resolve().parent.parent
    / "consent"
    / "terms"
    / "isesaki-online-consultation-terms-2023-04-01.txt"
)
_BULLET = re.compile(r"^\s*- ", re.MULTILINE)


def _squash(text: str) -> str:
    """Whitespace-normalised: the comparison ignores line breaks, spaces and indentation."""
    return re.sub(r"\s+", "", text)


def _document_text(page: str) -> str:
    match = re.search(r'<article class="terms-document".*?</article>', page, re.DOTALL)
    assert match, "the page has no terms document"
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(0)))


def _publish(office, *, version: str, effective: date, body: str | None = None) -> TermsVersion:
    first = TermsVersion.objects.get(office=office, version="2023-04-01")
    new = TermsVersion(
        office=office,
        version=version,
        title=first.title,
        body=body or first.body.replace("1回当たり30分", "1回当たり45分"),
        issued_label="令和9年3月1日",
        issuer=first.issuer,
        effective_date=effective,
        published_at=tokyo(2027, 3, 1, 9),
    )
    new.content_hash = new.compute_hash()
    new.save()
    return new


def test_terms_page_shows_the_shipped_text_exactly(client, terms):
    response = client.get("/terms/")
    assert response.status_code == 200
    page = response.content.decode()
    # The source's list markers ("- (1)") are layout, shown as list items on the page.
    source = _BULLET.sub("", SHIPPED.read_text(encoding="utf-8"))
    assert _squash(_document_text(page)) == _squash(source)
    for number in range(1, 15):
        assert f'id="art-{number}"' in page
        assert f"第{number}条" in page
    assert 'id="art-6-4"' in page and 'id="art-6-2-3"' in page
    assert "令和5年4月1日" in page and "伊勢崎公共職業安定所長" in page
    assert "連絡がないままキャンセルした場合は" in page
    assert '<article class="terms-document" lang="ja"' in page
    assert terms.content_hash in page


def test_every_published_version_has_its_page_and_drafts_do_not(client, office, terms):
    assert client.get("/terms/2023-04-01/").status_code == 200
    assert client.get("/terms/no-such-version/").status_code == 404
    assert client.get("/terms/2023-04-01/changes/").status_code == 200
    TermsVersion.objects.create(
        office=office,
        version="draft-1",
        title="下書き",
        body="第1条 まだ公開しない",
        issued_label="令和9年",
        issuer=terms.issuer,
        effective_date=date(2030, 1, 1),
    )
    assert client.get("/terms/draft-1/").status_code == 404
    assert client.get("/terms/draft-1/changes/").status_code == 404
    assert client.post("/terms/").status_code == 405


def test_terms_page_reads_the_database_a_fixed_number_of_times(
    client, terms, office, django_assert_num_queries
):
    for n in range(3):
        _publish(office, version=f"2027-0{4 + n}-01", effective=date(2027, 4 + n, 1))
    # The office, its published versions (for the page's notice: kept with the office in
    # the shared cache), the version shown with its text, the list of versions.
    with django_assert_num_queries(4):
        assert client.get("/terms/").status_code == 200
    with django_assert_num_queries(2):
        assert client.get("/terms/2027-05-01/").status_code == 200


def test_the_version_in_force_switches_at_midnight_and_is_announced_before(
    client, office, terms, time_machine
):
    new = _publish(office, version="2027-04-01", effective=date(2027, 4, 1))
    time_machine.move_to(tokyo(2027, 3, 31, 23, 59), tick=False)
    page = client.get("/terms/").content.decode()
    assert terms.content_hash in page and new.content_hash not in page
    assert "利用規約は 2027年4月1日(木) から変わります。" in page
    assert 'href="/terms/2027-04-01/"' in page and 'href="/terms/2027-04-01/changes/"' in page
    announced = client.get("/terms/2027-04-01/").content.decode()
    assert "この利用規約は 2027年4月1日(木) から適用されます。" in announced
    assert "1回当たり45分" in announced

    time_machine.move_to(tokyo(2027, 4, 1, 0, 0), tick=False)
    page = client.get("/terms/").content.decode()
    assert new.content_hash in page and "1回当たり45分" in page
    assert "から変わります" not in page
    old = client.get("/terms/2023-04-01/").content.decode()
    assert "これは過去の版です。" in old and "2027年4月1日(木) からは新しい版" in old


def test_the_notice_is_on_other_public_pages_but_not_in_the_admin(
    client, admin_client, office, terms, time_machine
):
    _publish(office, version="2027-04-01", effective=date(2027, 4, 1))
    time_machine.move_to(tokyo(2027, 3, 10, 12), tick=False)
    assert "から変わります" in client.get("/terms/2023-04-01/changes/").content.decode()
    assert "から変わります" not in admin_client.get("/admin/").content.decode()


def test_the_changes_page_shows_what_differs_article_by_article(client, office, terms):
    _publish(office, version="2027-04-01", effective=date(2027, 4, 1))
    page = client.get("/terms/2027-04-01/changes/").content.decode()
    assert "2027年4月1日(木) から適用される版（2027-04-01）と、それまでの版（2023-04-01）" in page
    assert re.search(r"<del>(<span[^>]*>[^<]*</span>)?30</del>", page)
    assert re.search(r"<ins>(<span[^>]*>[^<]*</span>)?45</ins>", page)
    assert 'href="/terms/2027-04-01/#art-6"' in page
    assert 'id="diff-closing"' in page  # the new date line (令和9年3月1日) is a change too
    unchanged = re.search(r'class="terms-diff-unchanged">.*?</p>', page, re.DOTALL).group(0)
    assert "第1条" in unchanged and "第6条" not in unchanged
    first = client.get("/terms/2023-04-01/changes/").content.decode()
    assert "最初の版" in first
