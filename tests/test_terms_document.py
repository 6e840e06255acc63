"""The terms text as a document: articles and anchors, the shipped text, differences."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consent import document

SHIPPED = (
    Path(__file__).resolve().parent.parent
    / "consent"
    / "terms"
    / "isesaki-online-consultation-terms-2023-04-01.txt"
)


@pytest.fixture(scope="module")
def shipped() -> tuple[str, str, str, str]:
    return document.split_source(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_text_splits_into_title_body_date_and_issuer(shipped):
    title, body, issued_label, issuer = shipped
    assert title == "オンライン職業相談等利用規約"
    assert issued_label == "令和5年4月1日"
    assert issuer == "伊勢崎公共職業安定所長"
    assert body.startswith("ハローワーク伊勢崎（以下「当ハローワーク」といいます。）")
    assert body.endswith("前橋地方裁判所を第一審の専属的合意管轄裁判所とします。")


def test_shipped_text_mends_only_the_page_break_in_article_6_4():
    text = SHIPPED.read_text(encoding="utf-8")
    assert "連絡がないままキャンセルした場合は" in text
    assert "連絡がな\n" not in text
    assert "\nいままキャンセル" not in text


def test_every_article_of_the_shipped_text_has_its_anchor_and_caption(shipped):
    doc = document.parse(shipped[1])
    assert [a.number for a in doc.articles] == list(range(1, 15))
    assert [a.anchor for a in doc.articles] == [f"art-{n}" for n in range(1, 15)]
    captions = {a.number: a.caption for a in doc.articles}
    assert captions[1] == "（目的）"
    assert captions[5] == "(利用環境)"
    assert captions[14] == "(準拠法及び合意管轄裁判所)"
    assert len(doc.preamble) == 2


def test_items_and_sub_items_of_the_shipped_text(shipped):
    doc = document.parse(shipped[1])
    art5, art6, art12 = doc.article(5), doc.article(6), doc.article(12)
    assert [i.anchor for i in art5.items] == [f"art-5-{n}" for n in range(1, 7)]
    assert art5.blocks[0].text.startswith("利用者は、以下の環境")
    item_6_2 = art6.items[1]
    assert item_6_2.anchor == "art-6-2"
    # "なお、2回目以降…" continues item (2); ①–④ are its sub-items.
    assert item_6_2.paragraphs[1].startswith("なお、2回目以降")
    assert [s.text for s in item_6_2.sub_items][:2] == ["① 氏名", "② 求職番号"]
    assert [s.anchor for s in item_6_2.sub_items] == [f"art-6-2-{n}" for n in range(1, 5)]
    assert art6.items[3].paragraphs == (
        "キャンセルの場合は、電話にてご連絡をお願いします。なお、連絡がないまま実施日時を"
        "10分経過した場合は、キャンセルとみなします。連絡がないままキャンセルした場合は、"
        "今後のオンライン職業相談等の利用をお断りする場合があります。",
    )
    assert len(art12.items[3].sub_items) == 3
    assert doc.article(14).blocks[0].text.startswith("本利用規約には、日本法が適用")


def test_hash_is_sha256_of_the_full_text(shipped):
    title, body, issued_label, issuer = shipped
    text = SHIPPED.read_text(encoding="utf-8").strip("\n")
    assert (
        document.full_text(title=title, body=body, issued_label=issued_label, issuer=issuer) == text
    )
    assert (
        document.content_hash(title=title, body=body, issued_label=issued_label, issuer=issuer)
        == hashlib.sha256(text.encode("utf-8")).hexdigest()
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("前文だけで条がありません。", "本文に条"),
        ("第1条 はじめ\n\n第3条 とばした", "第2条があるべきところに第3条"),
        ("第2条 二から始まる", "第1条があるべきところに第2条"),
        ("第1条 本文\n\n（見出しだけ）", "の後に条がありません"),
    ],
)
def test_text_that_is_not_terms_is_refused(body, message):
    with pytest.raises(document.DocumentError, match=message):
        document.parse(body)


def test_identical_versions_have_no_changes(shipped):
    sections = document.diff_documents(shipped, shipped)
    assert sections and not any(s.changed for s in sections)
    assert [s.anchor for s in sections][:3] == ["terms-title", "preamble", "art-1"]


def test_changes_are_found_article_by_article(shipped):
    title, body, issued_label, issuer = shipped
    new_body = body.replace("1回当たり30分", "1回当たり45分") + (
        "\n\n（附則）\n\n第15条 この規約は令和9年4月1日から施行します。"
    )
    sections = {
        s.anchor: s
        for s in document.diff_documents(shipped, (title, new_body, "令和9年3月1日", issuer))
    }
    assert sections["art-6"].status == "changed"
    changed_line = next(line for line in sections["art-6"].lines if len(line) > 1)
    assert document.Segment("delete", "30") in changed_line
    assert document.Segment("insert", "45") in changed_line
    assert sections["art-15"].status == "added"
    assert sections["closing"].status == "changed"
    assert sections["art-1"].status == "unchanged"
    assert sections["terms-title"].status == "unchanged"


def test_a_removed_article_is_reported(shipped):
    title, body, issued_label, issuer = shipped
    cut = body[: body.index("(準拠法及び合意管轄裁判所)")].rstrip("\n")
    sections = {
        s.anchor: s for s in document.diff_documents(shipped, (title, cut, issued_label, issuer))
    }
    assert sections["art-14"].status == "removed"
    assert all(seg.op == "delete" for line in sections["art-14"].lines for seg in line)


_lines = st.lists(st.text(alphabet="あいうえお第条12（）", min_size=0, max_size=8), max_size=6)


@settings(max_examples=150, deadline=None)
@given(old=_lines, new=_lines)
def test_a_diff_rebuilds_both_versions(old, new):
    """Read without deletions it is the new text; without insertions, the old one."""
    lines = document.diff_lines(old, new)
    rebuilt_new = ["".join(s.text for s in line if s.op != "delete") for line in lines]
    rebuilt_old = ["".join(s.text for s in line if s.op != "insert") for line in lines]
    only_old = [all(s.op == "delete" for s in line) and line for line in lines]
    only_new = [all(s.op == "insert" for s in line) and line for line in lines]
    assert [t for t, o in zip(rebuilt_new, only_old, strict=True) if not o] == new
    assert [t for t, n in zip(rebuilt_old, only_new, strict=True) if not n] == old
