"""The terms of use as a document: split into articles with anchors, and compared by article.

Pure functions over plain text; nothing here touches the database. The text keeps the
layout of the office's published terms (令和5年4月1日), one block per line:

    （目的）                      a caption, heading the article that follows
    第1条 当ハローワークの…       an article; its first paragraph may follow on the line
    - (1) 利用者は…              a numbered item of the article
     - ① 氏名                    a sub-item of the item above (leading space)
    なお、…                      a paragraph (inside the item above if no blank line)

The stored text is the legal record; the structure is derived from it and never stored,
so what is shown is always exactly what was hashed.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from typing import Literal

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

_CAPTION = re.compile(r"^[（(][^（()）]+[）)]$")
_ARTICLE = re.compile(r"^第(\d+)条(?:[ 　]+(.*))?$")
_ITEM = re.compile(r"^- (\((\d+)\))[ 　]*(.*)$")
_SUB_ITEM = re.compile(r"^[ 　]+- (.*)$")


class DocumentError(ValueError):
    """The text does not have the shape of terms of use (articles 第1条, 第2条, …)."""


@dataclass(frozen=True)
class SubItem:
    anchor: str
    text: str


@dataclass(frozen=True)
class Item:
    """A numbered item such as 第6条(4), with its paragraphs and sub-items (①, ・)."""

    anchor: str
    label: str
    paragraphs: tuple[str, ...]
    sub_items: tuple[SubItem, ...] = ()


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: Literal["paragraph"] = "paragraph"


@dataclass(frozen=True)
class ItemList:
    items: tuple[Item, ...]
    kind: Literal["items"] = "items"


@dataclass(frozen=True)
class Article:
    """第N条 with its caption (見出し) and its blocks, in the order of the text."""

    number: int
    anchor: str
    caption: str
    blocks: tuple[Paragraph | ItemList, ...]

    @property
    def heading(self) -> str:
        return f"第{self.number}条"

    @property
    def items(self) -> tuple[Item, ...]:
        return tuple(
            item for block in self.blocks if isinstance(block, ItemList) for item in block.items
        )


@dataclass(frozen=True)
class Document:
    preamble: tuple[str, ...]
    articles: tuple[Article, ...]

    def article(self, number: int) -> Article | None:
        return next((a for a in self.articles if a.number == number), None)


def full_text(*, title: str, body: str, issued_label: str, issuer: str) -> str:
    """The whole document as one text: what the content hash is computed over."""
    return "\n\n".join(part.strip("\n") for part in (title, body, issued_label, issuer))


def content_hash(*, title: str, body: str, issued_label: str, issuer: str) -> str:
    """SHA-256 (hex) of the document's full text in UTF-8."""
    text = full_text(title=title, body=body, issued_label=issued_label, issuer=issuer)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_source(text: str) -> tuple[str, str, str, str]:
    """(title, body, issued label, issuer) from a terms file laid out as the office's own.

    The title is the first block, the date line and the issuer are the last two blocks.
    """
    blocks = [b for b in re.split(r"\n[ \t　]*\n", text.strip("\n")) if b.strip()]
    if len(blocks) < 4:
        raise DocumentError(gettext("表題・本文・制定日・制定者がそろっていません。"))
    title, issued_label, issuer = blocks[0].strip(), blocks[-2].strip(), blocks[-1].strip()
    body = "\n\n".join(blocks[1:-2])
    return title, body, issued_label, issuer


@dataclass
class _OpenArticle:
    number: int
    caption: str
    blocks: list[Paragraph | ItemList] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    def close_items(self) -> None:
        if self.items:
            self.blocks.append(ItemList(tuple(self.items)))
            self.items = []


def parse(body: str) -> Document:
    """The articles of a terms body, each with its anchor (art-6, art-6-4, art-6-2-1)."""
    preamble: list[str] = []
    articles: list[Article] = []
    current: _OpenArticle | None = None
    caption = ""
    after_blank = True

    def finish() -> None:
        if current is not None:
            current.close_items()
            articles.append(
                Article(
                    number=current.number,
                    anchor=f"art-{current.number}",
                    caption=current.caption,
                    blocks=tuple(current.blocks),
                )
            )

    for raw in body.splitlines():
        line = raw.rstrip()
        if not line.strip():
            after_blank = True
            continue
        article = _ARTICLE.match(line)
        item = _ITEM.match(line)
        sub_item = _SUB_ITEM.match(line)
        if article:
            finish()
            number = int(article.group(1))
            expected = articles[-1].number + 1 if articles else 1
            if number != expected:
                raise DocumentError(
                    gettext("第%(expected)s条があるべきところに第%(found)s条があります。")
                    % {"expected": expected, "found": number}
                )
            current = _OpenArticle(number=number, caption=caption)
            caption = ""
            if article.group(2):
                current.blocks.append(Paragraph(article.group(2).strip()))
        elif _CAPTION.match(line.strip()) and after_blank:
            caption = line.strip()
        elif item and current is not None:
            label, n = item.group(1), item.group(2)
            if current.items and current.items[-1].label == label:
                raise DocumentError(
                    gettext("第%(article)s条の%(label)sが重複しています。")
                    % {"article": current.number, "label": label}
                )
            current.items.append(
                Item(anchor=f"art-{current.number}-{n}", label=label, paragraphs=(item.group(3),))
            )
        elif sub_item and current is not None and current.items:
            last = current.items[-1]
            sub = SubItem(
                anchor=f"{last.anchor}-{len(last.sub_items) + 1}", text=sub_item.group(1).strip()
            )
            current.items[-1] = Item(
                anchor=last.anchor,
                label=last.label,
                paragraphs=last.paragraphs,
                sub_items=(*last.sub_items, sub),
            )
        elif current is None:
            if caption:
                raise DocumentError(
                    gettext("見出し「%(caption)s」の後に条がありません。") % {"caption": caption}
                )
            preamble.append(line.strip())
        elif current.items and not after_blank and not current.items[-1].sub_items:
            # A paragraph running on inside an item, as in 第6条(2) "なお、2回目以降…".
            last = current.items[-1]
            current.items[-1] = Item(
                anchor=last.anchor,
                label=last.label,
                paragraphs=(*last.paragraphs, line.strip()),
                sub_items=last.sub_items,
            )
        else:
            current.close_items()
            current.blocks.append(Paragraph(line.strip()))
        after_blank = False
    if caption:
        raise DocumentError(
            gettext("見出し「%(caption)s」の後に条がありません。") % {"caption": caption}
        )
    finish()
    if not articles:
        raise DocumentError(gettext("本文に条（第1条 …）がありません。"))
    return Document(preamble=tuple(preamble), articles=tuple(articles))


# --- Differences between two versions (Art. 13: the changed content is announced) -------


@dataclass(frozen=True)
class Segment:
    """A run of text that is unchanged, inserted into the new version or deleted from the old."""

    op: Literal["equal", "insert", "delete"]
    text: str


@dataclass(frozen=True)
class SectionDiff:
    """One part of the document (the title, the preamble, an article, the closing lines)."""

    anchor: str
    heading: str
    status: Literal["unchanged", "changed", "added", "removed"]
    lines: tuple[tuple[Segment, ...], ...]

    @property
    def changed(self) -> bool:
        return self.status != "unchanged"


def _item_lines(item: Item) -> list[str]:
    lines = [f"{item.label} {item.paragraphs[0]}".strip(), *item.paragraphs[1:]]
    return lines + [sub.text for sub in item.sub_items]


def article_lines(article: Article) -> list[str]:
    """The article as lines of text, in reading order."""
    lines = [line for line in (article.caption, article.heading) if line]
    for block in article.blocks:
        if isinstance(block, Paragraph):
            lines.append(block.text)
        else:
            for item in block.items:
                lines.extend(_item_lines(item))
    return lines


def _char_diff(old: str, new: str) -> tuple[Segment, ...]:
    # Japanese has no spaces between words, so lines are compared character by character.
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    segments: list[Segment] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            segments.append(Segment("equal", old[i1:i2]))
            continue
        if op in ("delete", "replace"):
            segments.append(Segment("delete", old[i1:i2]))
        if op in ("insert", "replace"):
            segments.append(Segment("insert", new[j1:j2]))
    return tuple(segments)


def diff_lines(old: list[str], new: list[str]) -> tuple[tuple[Segment, ...], ...]:
    """Line by line; a replaced line is compared character by character."""
    result: list[tuple[Segment, ...]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            result.extend((Segment("equal", line),) for line in old[i1:i2])
        elif op == "delete":
            result.extend((Segment("delete", line),) for line in old[i1:i2])
        elif op == "insert":
            result.extend((Segment("insert", line),) for line in new[j1:j2])
        else:
            for k in range(max(i2 - i1, j2 - j1)):
                before = old[i1 + k] if i1 + k < i2 else None
                after = new[j1 + k] if j1 + k < j2 else None
                if before and after:
                    result.append(_char_diff(before, after))
                    continue
                if before is not None:
                    result.append((Segment("delete", before),))
                if after is not None:
                    result.append((Segment("insert", after),))
    return tuple(result)


def _section(
    anchor: str, heading: str, old: list[str] | None, new: list[str] | None
) -> SectionDiff:
    if old is None:
        return SectionDiff(anchor, heading, "added", diff_lines([], new or []))
    if new is None:
        return SectionDiff(anchor, heading, "removed", diff_lines(old, []))
    status = "unchanged" if old == new else "changed"
    return SectionDiff(anchor, heading, status, diff_lines(old, new))


def diff_documents(
    old: tuple[str, str, str, str], new: tuple[str, str, str, str]
) -> list[SectionDiff]:
    """Article by article differences between two (title, body, issued label, issuer) texts."""
    old_title, old_body, old_issued, old_issuer = old
    new_title, new_body, new_issued, new_issuer = new
    old_doc, new_doc = parse(old_body), parse(new_body)
    sections = [_section("terms-title", _("表題"), [old_title], [new_title])]
    if old_doc.preamble or new_doc.preamble:
        sections.append(
            _section("preamble", _("前文"), list(old_doc.preamble), list(new_doc.preamble))
        )
    numbers = sorted({a.number for a in old_doc.articles} | {a.number for a in new_doc.articles})
    for number in numbers:
        before, after = old_doc.article(number), new_doc.article(number)
        sections.append(
            _section(
                f"art-{number}",
                f"第{number}条",
                article_lines(before) if before else None,
                article_lines(after) if after else None,
            )
        )
    sections.append(
        _section("closing", _("制定日・制定者"), [old_issued, old_issuer], [new_issued, new_issuer])
    )
    return sections


# --- Reference translations (the Japanese text stays binding) -----------------------------
#
# A translation of a version is written as
#
#     # Title in the language
#
#     An introduction, one paragraph per line.
#
#     ## Art. 1 Heading in the language
#
#     A paragraph.
#     - (1) a numbered item
#       - ① a sub-item (two spaces)
#
#     (the last line) the date and issuer as the original has them
#
# and is parsed into the same articles, items and anchors as the Japanese, so that each
# article can be matched with (and linked to) its binding text.

_TR_TITLE = re.compile(r"^# (.+)$")
_TR_ARTICLE = re.compile(r"^## Art\. (\d+)(?:\s+(.*))?$")
_TR_ITEM = re.compile(r"^- (\((\d+)\))\s*(.*)$")
_TR_SUB_ITEM = re.compile(r"^\s+- (.*)$")


@dataclass(frozen=True)
class Translation:
    """A reference translation, split like the Japanese (same article numbers, anchors)."""

    title: str
    preamble: tuple[str, ...]
    articles: tuple[Article, ...]
    closing: str

    def article(self, number: int) -> Article | None:
        return next((a for a in self.articles if a.number == number), None)


def normalize_translation(text: str) -> str:
    """The text as stored and hashed: LF line ends, no trailing spaces, one final newline."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip("\n") + "\n"


def translation_hash(text: str) -> str:
    """SHA-256 (hex) of a translation as stored, in UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def parse_translation(text: str) -> Translation:
    """The title, introduction, articles and closing line of a reference translation."""
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines or not (title := _TR_TITLE.match(lines[0])):
        raise DocumentError(gettext("翻訳の最初の行に「# 表題」がありません。"))
    last = lines[-1].lstrip()
    if len(lines) < 2 or last.startswith(("#", "- ")) or not lines[-2].strip() == "":
        raise DocumentError(gettext("翻訳の最後の行に制定日と制定者がありません。"))
    closing = lines[-1].strip()
    preamble: list[str] = []
    articles: list[Article] = []
    current: _OpenArticle | None = None
    after_blank = True

    def finish() -> None:
        if current is not None:
            current.close_items()
            articles.append(
                Article(
                    number=current.number,
                    anchor=f"art-{current.number}",
                    caption=current.caption,
                    blocks=tuple(current.blocks),
                )
            )

    for line in lines[1:-1]:
        if not line.strip():
            after_blank = True
            continue
        article = _TR_ARTICLE.match(line)
        item = _TR_ITEM.match(line)
        sub_item = _TR_SUB_ITEM.match(line)
        if article:
            finish()
            number = int(article.group(1))
            expected = articles[-1].number + 1 if articles else 1
            if number != expected:
                raise DocumentError(
                    gettext("第%(expected)s条があるべきところに第%(found)s条があります。")
                    % {"expected": expected, "found": number}
                )
            current = _OpenArticle(number=number, caption=(article.group(2) or "").strip())
        elif current is None:
            preamble.append(line.strip())
        elif item:
            label, n = item.group(1), item.group(2)
            if any(existing.label == label for existing in current.items):
                raise DocumentError(
                    gettext("第%(article)s条の%(label)sが重複しています。")
                    % {"article": current.number, "label": label}
                )
            current.items.append(
                Item(anchor=f"art-{current.number}-{n}", label=label, paragraphs=(item.group(3),))
            )
        elif sub_item and current.items:
            last = current.items[-1]
            sub = SubItem(
                anchor=f"{last.anchor}-{len(last.sub_items) + 1}", text=sub_item.group(1).strip()
            )
            current.items[-1] = Item(
                anchor=last.anchor,
                label=last.label,
                paragraphs=last.paragraphs,
                sub_items=(*last.sub_items, sub),
            )
        elif current.items and not after_blank and not current.items[-1].sub_items:
            last = current.items[-1]
            current.items[-1] = Item(
                anchor=last.anchor,
                label=last.label,
                paragraphs=(*last.paragraphs, line.strip()),
                sub_items=last.sub_items,
            )
        else:
            current.close_items()
            current.blocks.append(Paragraph(line.strip()))
        after_blank = False
    finish()
    if not articles:
        raise DocumentError(gettext("本文に条（第1条 …）がありません。"))
    return Translation(
        title=title.group(1).strip(),
        preamble=tuple(preamble),
        articles=tuple(articles),
        closing=closing,
    )


def translation_mismatches(original: Document, translation: Translation) -> list[str]:
    """Where a translation does not follow the Japanese one to one (articles, items)."""
    problems = []
    numbers = [a.number for a in original.articles]
    translated = [a.number for a in translation.articles]
    if numbers != translated:
        problems.append(
            gettext("条の番号が原文と違います（原文: %(original)s、翻訳: %(translated)s）。")
            % {
                "original": ", ".join(map(str, numbers)),
                "translated": ", ".join(map(str, translated)),
            }
        )
        return problems
    for article in original.articles:
        other = translation.article(article.number)
        labels = [(i.label, len(i.sub_items)) for i in article.items]
        other_labels = [(i.label, len(i.sub_items)) for i in other.items] if other else []
        if labels != other_labels:
            problems.append(
                gettext("第%(article)s条の項・号が原文と違います。") % {"article": article.number}
            )
    return problems
