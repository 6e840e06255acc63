"""The translations: every catalogue is complete, compiled and up to date with the code, and
pages and emails shown in a language other than Japanese really are in that language.

Japanese is the source language of every string; locale/<locale>/LC_MESSAGES/django.po holds
each language (English, Português, Tiếng Việt, Tagalog, Español, 中文, やさしいにほんご) and
django.mo is committed beside it, so no gettext tools are needed at run time.
The catalogue checks that call gettext's own tools fail in CI when the tools are missing
(.ci/run installs them) and are skipped only on a developer's machine without them.
"""

from __future__ import annotations

import ast
import gettext
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation

from hellowork.languages import bcp47
from reservations import mail, outbox, services
from reservations.models import EmailKind, OutgoingEmail, Reservation
from reservations.templatetags.seeker_dates import format_date
from tests.conftest import tokyo
from tests.seeker_pages import NOW, OPEN_SLOT, answers, as_post, hidden_fields, review, submit

BASE_DIR = Path(settings.BASE_DIR)
# Locale directory → Django language code, for every language but the source.
CATALOGUES = {
    "en": "en",
    "pt_BR": "pt-br",
    "vi": "vi",
    "tl": "tl",
    "es": "es",
    "zh_Hans": "zh-hans",
    "ja_X-easy": "ja-x-easy",
}
LOCALES = list(CATALOGUES)
# The languages whose pages and translations must show no Japanese.
NOT_JAPANESE = [locale for locale, code in CATALOGUES.items() if not code.startswith("ja")]


def po_file(locale: str) -> Path:
    return BASE_DIR / "locale" / locale / "LC_MESSAGES" / "django.po"


PO_FILE = po_file("en")
MO_FILE = PO_FILE.with_suffix(".mo")
# The same command as the README's "Translations" section.
MAKEMESSAGES = [
    "makemessages",
    *[part for locale in LOCALES for part in ("-l", locale)],
    "--ignore=.venv",
    "--ignore=staticfiles",
    "--ignore=bench",
    "--ignore=tests",
    "--no-location",
]
# What the copy of the source tree for makemessages leaves out: no strings of the portal.
NOT_SOURCES = (
    ".venv",
    ".git",
    ".hypothesis",
    ".*_cache",
    "__pycache__",
    "node_modules",
    "tests",
    "bench",
    "staticfiles",
    "locale",
    "*.sqlite3*",
)


@pytest.fixture(autouse=True)
def _language_restored() -> Iterator[None]:
    # LocaleMiddleware leaves the language of the last request active in this thread: give
    # the tests that follow (which expect Japanese) the language they would have had.
    with translation.override(translation.get_language()):
        yield


def gettext_tool(name: str) -> str:
    """The path of a gettext program; a failure in CI, a skip elsewhere, when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"GNU gettext's {name} is not installed (apt-get install gettext)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


# --- a small reader of .po files ---------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)

    @property
    def key(self) -> str | tuple[str, str]:
        return self.msgid if self.msgctxt is None else (self.msgctxt, self.msgid)


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")$")


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file (the header first), without obsolete ones."""
    entries: list[Entry] = []
    entry = Entry()
    target: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, started, target
        if started:
            entries.append(entry)
        entry, started, target = Entry(), False, None

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#~"):
            finish()
            continue
        if line.startswith("#,"):
            if started:
                finish()
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
            continue
        if line.startswith("#"):
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, index, text = match.groups()
            if keyword in ("msgctxt", "msgid") and target and target[0] == "msgstr":
                finish()
            started = True
            value = ast.literal_eval(text)
            if keyword == "msgstr":
                target = ("msgstr", int(index or 0))
                entry.msgstr[target[1]] = value
            else:
                target = (keyword, 0)
                setattr(entry, keyword, value)
        elif line.startswith('"') and target:
            value = ast.literal_eval(line)
            if target[0] == "msgstr":
                entry.msgstr[target[1]] += value
            else:
                setattr(entry, target[0], getattr(entry, target[0]) + value)
        else:
            raise AssertionError(f"unreadable line in {path.name}: {raw!r}")
    finish()
    return entries


def without_creation_date(header: str) -> str:
    # msgfmt leaves the POT-Creation-Date line out of the compiled header.
    return "".join(
        line for line in header.splitlines(keepends=True) if not line.startswith("POT-Creation")
    )


def catalogue_of(entries: list[Entry]) -> dict:
    """The entries as GNUTranslations keys them: msgid, ctx\\x04msgid, (msgid, n) for plurals."""
    catalogue: dict = {}
    for entry in entries:
        msgid = entry.msgid if entry.msgctxt is None else f"{entry.msgctxt}\x04{entry.msgid}"
        if entry.msgid_plural is None:
            catalogue[msgid] = entry.msgstr[0]
        else:
            for index, text in entry.msgstr.items():
                catalogue[(msgid, index)] = text
    return catalogue


PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr%]")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


# --- (a) complete, (b) compiled, (c) up to date --------------------------------------------------


def plural_count(header: Entry) -> int:
    match = re.search(r"^Plural-Forms: nplurals=(\d+);", header.msgstr.get(0, ""), re.MULTILINE)
    return int(match.group(1)) if match else 2


def unfinished(entries: list[Entry]) -> list[str]:
    """The fuzzy and untranslated entries (the header excluded)."""
    problems = []
    plurals = plural_count(entries[0])
    for entry in entries[1:]:
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy: {entry.msgid!r}")
        expected = plurals if entry.msgid_plural is not None else 1
        if len(entry.msgstr) != expected or not all(entry.msgstr.values()):
            problems.append(f"untranslated: {entry.msgid!r}")
    return problems


@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_is_translated_and_none_is_fuzzy(locale):
    header, *entries = read_po(po_file(locale))
    assert header.msgid == ""
    assert "fuzzy" not in header.flags, "the header is fuzzy: msgfmt would drop it"
    assert f"Language: {locale}\n" in header.msgstr[0]
    assert "Plural-Forms: nplurals=" in header.msgstr[0]
    if locale == "en":
        assert "Plural-Forms: nplurals=2; plural=(n != 1);" in header.msgstr[0]
    assert len(entries) > 500  # the whole portal, not a sample
    problems = unfinished([header, *entries])
    assert not problems, "\n".join(problems)


def test_every_catalogue_has_the_same_messages():
    keys = {locale: {entry.key for entry in read_po(po_file(locale))[1:]} for locale in LOCALES}
    for locale in LOCALES:
        assert keys[locale] == keys["en"], (
            locale,
            sorted(keys[locale] ^ keys["en"], key=str)[:10],
        )


def test_every_language_of_the_portal_has_a_catalogue():
    codes = {code for code, _name in settings.LANGUAGES} - {settings.LANGUAGE_CODE}
    assert codes == set(CATALOGUES.values())


def test_the_reader_sees_fuzzy_untranslated_and_plural_entries(tmp_path):
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: en\\n"\n\n'
        '#, fuzzy, python-format\nmsgid "%(n)s件"\nmsgstr "%(n)s items"\n\n'
        'msgid "予約"\nmsgstr ""\n\n'
        'msgid "枠が%(counter)s件"\nmsgid_plural "枠が%(counter)s件"\n'
        'msgstr[0] "%(counter)s slot"\nmsgstr[1] ""\n\n'
        'msgctxt "記号"\nmsgid "・"\nmsgstr ""\n"- "\n\n'
        '#~ msgid "古い"\n#~ msgstr "old"\n',
        encoding="utf-8",
    )
    entries = read_po(po)
    assert [entry.msgid for entry in entries] == ["", "%(n)s件", "予約", "枠が%(counter)s件", "・"]
    assert entries[4].key == ("記号", "・") and entries[4].msgstr == {0: "- "}
    assert unfinished(entries) == [
        "fuzzy: '%(n)s件'",
        "untranslated: '予約'",
        "untranslated: '枠が%(counter)s件'",
    ]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_translation_keeps_the_placeholders_of_its_message(locale):
    problems = []
    for entry in read_po(po_file(locale))[1:]:
        wanted = placeholders(entry.msgid_plural or entry.msgid)
        for text in entry.msgstr.values():
            # An English singular may spell out "1" instead of using the counter.
            found = placeholders(text)
            if found != wanted and not (entry.msgid_plural and set(found) <= set(wanted)):
                problems.append(f"{entry.msgid!r}: {wanted} → {found} in {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", NOT_JAPANESE)
def test_translations_contain_no_japanese_except_names_kept_on_purpose(locale):
    # 求職番号 and ハローワーク受付票 stay beside their English: they are what the seeker's
    # Hello Work card says. The example values of the terms' issuer and date are Japanese data.
    kept = ("求職番号", "ハローワーク受付票", "伊勢崎公共職業安定所長", "令和5年4月1日", "第1条")
    kept += ("（見出し）",)
    problems = []
    script = script_of(CATALOGUES[locale])
    for entry in read_po(po_file(locale))[1:]:
        for text in entry.msgstr.values():
            rest = text
            for word in kept:
                rest = rest.replace(word, "")
            if script.search(rest):
                problems.append(f"{entry.msgid!r} → {text!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_committed_mo_file_is_the_compiled_po_file(locale):
    with po_file(locale).with_suffix(".mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    expected = catalogue_of(read_po(po_file(locale)))
    expected[""] = without_creation_date(expected[""])
    compiled[""] = without_creation_date(compiled[""])
    assert compiled == expected, (
        f"locale/{locale}/LC_MESSAGES/django.mo is out of date: run "
        "`DEBUG=1 python manage.py compilemessages --ignore=.venv`"
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_msgfmt_accepts_the_catalogue(tmp_path, locale):
    msgfmt = gettext_tool("msgfmt")
    po = po_file(locale)
    result = subprocess.run(  # noqa: S603 - gettext's own tool on our catalogue
        [msgfmt, "--check", "--statistics", "-o", str(tmp_path / "django.mo"), str(po)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr
    with (tmp_path / "django.mo").open("rb") as handle:
        fresh = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    with po.with_suffix(".mo").open("rb") as handle:
        committed = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    assert fresh == committed


def test_every_translatable_string_in_the_code_is_in_the_catalogue(tmp_path):
    """makemessages on a copy of the sources finds nothing the committed catalogue lacks."""
    gettext_tool("xgettext")
    gettext_tool("msguniq")
    copy = tmp_path / "portal"
    shutil.copytree(BASE_DIR, copy, ignore=shutil.ignore_patterns(*NOT_SOURCES), symlinks=True)
    (copy / "locale").mkdir()
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "hellowork.settings"}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", *MAKEMESSAGES],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    wanted = {entry.key: entry for entry in read_po(copy / PO_FILE.relative_to(BASE_DIR))[1:]}
    for locale in LOCALES:
        by_key = {entry.key: entry for entry in read_po(po_file(locale))[1:]}
        missing = sorted(set(wanted) - set(by_key), key=str)
        assert not missing, (
            f"strings marked for translation but missing from locale/{locale}/LC_MESSAGES/"
            "django.po (run makemessages, translate, compilemessages — see README):\n"
            + "\n".join(repr(key) for key in missing)
        )
        assert all(
            by_key[key].msgid_plural == wanted[key].msgid_plural
            for key in set(wanted) & set(by_key)
        ), f"a message became plural (or singular) in {locale}: run makemessages again"


# --- (d) English pages and emails ------------------------------------------------------------

# Kana, kanji, CJK punctuation (、。「」〜) and full-width forms: Japanese text.
JAPANESE = re.compile(r"[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3400-\u9fff\uff00-\uffef]")
# Chinese shares kanji, punctuation and full-width forms: on a Chinese page, only kana is Japanese.
KANA = re.compile(r"[\u3040-\u309f\u30a0-\u30ff]")


def script_of(code: str) -> re.Pattern[str]:
    """What counts as Japanese script on a page in the language `code`."""
    return KANA if code.startswith("zh") else JAPANESE


# Attributes a person reads or hears as text.
READ_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt", "aria-description")


class _ReadableText(HTMLParser):
    """Text and read-out attributes of a page, except inside elements marked lang="ja".

    Nor inside an element marked as another language than the page's own: the language
    switch names each language in itself (中文 on an English page is Chinese, marked so).
    """

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden from the check)
        self.parts: list[str] = []
        self.page_language: str | None = None

    @property
    def hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        lang = (attributes.get("lang") or "").lower()
        if tag == "html":
            self.page_language = lang
        hidden = (
            self.hidden
            or tag in ("script", "style")
            or lang.startswith("ja")
            or (tag != "html" and bool(lang) and lang != self.page_language)
        )
        if not hidden:
            self.parts += [attributes[name] or "" for name in READ_ATTRIBUTES if name in attributes]
        if tag not in self.VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if not self.hidden:
            self.parts += [attributes[name] or "" for name in READ_ATTRIBUTES if name in attributes]

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def readable_text(html: str) -> str:
    parser = _ReadableText()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def japanese_left(
    text: str, kept: Iterator[str] | tuple[str, ...], script: re.Pattern[str] = JAPANESE
) -> list[str]:
    """Snippets of Japanese in `text` once the names kept in Japanese are taken out."""
    for word in sorted(kept, key=len, reverse=True):
        if word:
            text = text.replace(word, "")
    runs = re.finditer(rf"{script.pattern}+", text)
    return [text[max(0, m.start() - 30) : m.end() + 30] for m in runs]


@pytest.fixture
def kept_in_japanese(office, terms) -> tuple[str, ...]:
    """Proper nouns an English page shows as they are: the office, the legal document's names."""
    return (
        office.name,
        office.address,
        terms.title,
        terms.issued_label,
        terms.issuer,
        "求職番号",  # beside "Job seeker number", as on the seeker's Hello Work card
        "ハローワーク受付票",
    )


@pytest.fixture
def english(db) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def _fixed_clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def english_page(client: Client, url: str, kept: tuple[str, ...], status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    html = response.content.decode()
    assert '<html lang="en">' in html, url
    leaks = japanese_left(readable_text(html), kept)
    assert not leaks, f"Japanese on the English page {url}:\n" + "\n".join(leaks)
    return html


def test_the_check_sees_japanese_except_where_marked_as_japanese():
    html = (
        '<html lang="en"><head><title>予約</title><script>var a = "予約";</script></head>'
        '<body><p>Book <span lang="ja">ハローワーク伊勢崎</span></p>'
        '<nav aria-label="週の切り替え"><br><img alt="地図"></nav><p>。</p></body></html>'
    )
    text = readable_text(html)
    assert "ハローワーク伊勢崎" not in text and "var a" not in text
    assert [m.group() for m in re.finditer(rf"{JAPANESE.pattern}+", text)] == [
        "予約",
        "週の切り替え",
        "地図",
        "。",
    ]
    assert japanese_left("Phone ハローワーク伊勢崎 0270", ("ハローワーク伊勢崎",)) == []


SEEKER = {
    "name": "Maria Silva",
    "email": "maria@example.com",
    "email_confirm": "maria@example.com",
    "topic": "Help with my CV",
}


def test_the_language_switch_turns_the_portal_english_and_back(client, office, terms):
    japanese = client.get("/").content.decode()
    assert '<html lang="ja">' in japanese and "オンライン職業相談の予約" in japanese
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/slots/"})
    assert response.status_code == 302 and response["Location"] == "/slots/"
    html = client.get("/slots/").content.decode()
    assert '<html lang="en">' in html and "Choose a date and time" in html
    client.post("/i18n/setlang/", {"language": "ja", "next": "/"})
    assert "日時を選ぶ" in client.get("/slots/").content.decode()


@pytest.mark.usefixtures("_fixed_clock")
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("/", "Book online job counselling"),
        ("/slots/", "Choose a date and time"),
        ("/slots/?week=2026-12-28", "Closed: New Year holidays"),
        ("/slots/?week=2027-01-11", "Closed: public holiday (Coming of Age Day)"),
        (f"/book/?slot={OPEN_SLOT}", "Request a session"),
        ("/terms/", "This is a reference translation. The Japanese text is the binding version."),
        ("/terms/?text=ja", "This is the Japanese original, the binding version."),
        ("/privacy/", "How we handle your personal information"),
        ("/terms/2023-04-01/changes/", "This is the first version"),
        ("/r/no-such-booking/", "Page not found"),
    ],
)
def test_public_pages_in_english(english, kept_in_japanese, url, words):
    status = 404 if url.startswith("/r/") else 200
    html = english_page(english, url, kept_in_japanese, status)
    assert words in html


@pytest.mark.usefixtures("_fixed_clock")
def test_the_request_form_errors_are_in_english(english, terms, kept_in_japanese):
    empty = {"slot": "", "terms_version": str(terms.pk), "action": "review"}
    response = english.post("/book/", empty)
    assert response.status_code == 200
    html = response.content.decode()
    assert "problems with your answers" in html
    for message in (
        "Please choose the date and time of the session.",
        "Please enter your name.",
        "Please enter your email address.",
        "Please choose the app you will use.",
        "To send a request, you need to agree to the terms of use and to the terms of use",
        "You need a device with a camera (Art. 2(2)).",
    ):
        assert message in html, message
    assert not japanese_left(readable_text(html), kept_in_japanese)

    # Wrong rather than missing: the job seeker number, the email, a closed day.
    wrong = answers(
        terms.pk,
        **{**SEEKER, "email": "maria@"},
        slot="2026-12-30T10:00",
        seeker_number="1234",
    )
    html = review(english, wrong).content.decode()
    for message in (
        "There are no sessions over the New Year holidays",
        "Enter your job seeker number like 12345-1234567",
        "This email address does not look right.",
    ):
        assert message in html, message
    assert not japanese_left(readable_text(html), kept_in_japanese)


@pytest.mark.usefixtures("_fixed_clock")
def test_a_whole_request_in_english(
    english, terms, kept_in_japanese, django_capture_on_commit_callbacks
):
    data = answers(terms.pk, **SEEKER, companion="interpreter")
    data["companion_language"] = "Portuguese"
    english_page_from = readable_text(review(english, data).content.decode())
    assert "Check your details" in english_page_from
    assert not japanese_left(english_page_from, kept_in_japanese)

    with django_capture_on_commit_callbacks(execute=True):
        response = submit(english, data)
    assert response.status_code == 302
    done = english_page(english, response["Location"], kept_in_japanese)
    assert "We have received your request" in done
    reservation = Reservation.objects.get()
    assert reservation.language == "en"

    page = english_page(english, f"/r/{reservation.token}/", kept_in_japanese)
    assert "Request received" in page
    english_page(english, f"/r/{reservation.token}/cancel/", kept_in_japanese)

    # A second request while this one is active is refused, kindly and in English.
    again = answers(terms.pk, **SEEKER, slot="2026-12-24T14:00")
    refused = readable_text(submit(english, again).content.decode())
    assert "We could not make this booking" in refused
    assert not japanese_left(refused, kept_in_japanese)


@pytest.mark.usefixtures("_fixed_clock")
def test_a_confirmed_booking_page_in_english(
    english, make_reservation, counselor, kept_in_japanese
):
    booking = make_reservation(
        tokyo(2026, 12, 24, 10), now=NOW, platform="teleoffice", name="Maria Silva"
    )
    services.reservation_confirm(
        reservation=booking,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        meeting_passcode="428571",
        now=NOW,
    )
    html = english_page(english, f"/r/{booking.token}/", kept_in_japanese)
    assert "Your booking is confirmed" in html and "Thu 24 December 2026" in html


@pytest.mark.usefixtures("_fixed_clock")
def test_the_kind_refusals_in_english(english, terms, make_reservation, kept_in_japanese, settings):
    # The last place is taken between the confirmation step and the submit.
    confirmation = review(english, answers(terms.pk, **SEEKER)).content.decode()
    make_reservation(tokyo(2026, 12, 24, 10), now=NOW)
    response = english.post("/book/", as_post(hidden_fields(confirmation), action="submit"))
    taken = readable_text(response.content.decode())
    assert "Someone else has just booked this time" in taken
    assert not japanese_left(taken, kept_in_japanese)

    # Too many requests from one address: the 429 page.
    settings.REQUEST_RATE_LIMIT_PER_IP = 1
    cache.clear()
    assert submit(english, answers(terms.pk, **SEEKER, slot="2026-12-24T14:00")).status_code == 302
    response = submit(english, answers(terms.pk, **SEEKER, slot="2026-12-24T15:00"))
    assert response.status_code == 429
    limited = readable_text(response.content.decode())
    assert "Please try again later" in limited
    assert not japanese_left(limited, kept_in_japanese)

    # No CSRF cookie (the page was open too long, or cookies are off): the 403 page.
    strict = Client(enforce_csrf_checks=True)
    strict.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = strict.post("/book/", answers(terms.pk, **SEEKER))
    assert response.status_code == 403
    refused = readable_text(response.content.decode())
    assert "Please try again" in refused
    assert not japanese_left(refused, kept_in_japanese)


def test_the_500_page_in_english():
    with translation.override("en"):
        html = render_to_string("500.html")
    assert '<html lang="en">' in html
    assert "This page cannot be shown right now" in html
    assert not japanese_left(readable_text(html), ())


def english_email(reservation: Reservation, kind: str, context: dict | None = None):  # noqa: ANN201
    outbox.email_enqueue(reservation=reservation, kind=kind, context=context)
    email = OutgoingEmail.objects.filter(reservation=reservation, kind=kind).latest("id")
    return mail.render_email(email)


# The waiting list's emails are about an entry, not a booking (rendered in tests/test_waitlist.py).
BOOKING_EMAILS = [kind.value for kind in EmailKind if not kind.startswith("waitlist_")]


@pytest.mark.parametrize("kind", BOOKING_EMAILS)
def test_every_email_in_english(
    kind, make_reservation, next_slot, counselor, terms, kept_in_japanese
):
    reservation = make_reservation(
        next_slot(0),
        platform="teleoffice",
        language="en",
        name="Maria Silva",
        companion="interpreter",
        companion_language="Portuguese",
    )
    reservation = services.reservation_confirm(
        reservation=reservation,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        meeting_passcode="428571",
    )
    context = None
    if kind == EmailKind.TERMS_CHANGED:
        with translation.override("en"):
            context = {
                "terms_title": terms.title,
                "effective_date": format_date(tokyo(2027, 4, 1)),
                "terms_url": "http://testserver/terms/",
                "changes_url": "http://testserver/terms/changes/",
            }
    message = english_email(reservation, kind, context)
    [(html, _mimetype)] = message.alternatives
    assert '<html lang="en">' in html
    assert message.body.startswith("Dear Maria Silva,")
    for part, text in (
        ("subject", message.subject),
        ("text", message.body),
        ("html", readable_text(html)),
    ):
        leaks = japanese_left(text, kept_in_japanese)
        assert not leaks, f"Japanese in the English {kind} email ({part}):\n" + "\n".join(leaks)


def test_the_request_received_and_confirmed_emails_in_english_say_what_matters(
    make_reservation, next_slot, counselor, django_capture_on_commit_callbacks
):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        reservation = make_reservation(
            next_slot(1), platform="teleoffice", language="en", name="Nguyen Van An"
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.reservation_confirm(
            reservation=reservation,
            actor=counselor,
            meeting_url="https://teleoffice.example.jp/room/xyz",
            meeting_passcode="1234",
        )
    received, confirmed = mail.outbox
    assert "We have received your online job counselling request" in received.subject
    assert reservation.reference in received.subject
    assert "This link is only for you." in received.body
    assert "Your online job counselling booking is confirmed" in confirmed.subject
    assert "Passcode: 1234" in confirmed.body
    assert "Recording the session, by any means (video or sound), is not allowed" in confirmed.body
    assert "Art. 6(4) of the terms of use" in confirmed.body


# --- (e) every language but Japanese: pages and emails ------------------------------------------

OTHER_LANGUAGES = [CATALOGUES[locale] for locale in NOT_JAPANESE]
PUBLIC_PAGES = [
    "/",
    "/slots/",
    "/slots/?week=2026-12-28",
    "/slots/?week=2027-01-11",
    f"/book/?slot={OPEN_SLOT}",
    "/terms/",
    "/terms/?text=ja",
    "/terms/2023-04-01/changes/",
    "/privacy/",
]


def page_in(client: Client, url: str, code: str, kept: tuple[str, ...], status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    html = response.content.decode()
    assert f'<html lang="{bcp47(code)}">' in html, url
    leaks = japanese_left(readable_text(html), kept, script_of(code))
    assert not leaks, f"Japanese on the {code} page {url}:\n" + "\n".join(leaks)
    return html


def client_in(code: str) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = code
    return client


@pytest.mark.usefixtures("_fixed_clock")
@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_public_pages_show_no_japanese(code, kept_in_japanese):
    client = client_in(code)
    for url in PUBLIC_PAGES:
        page_in(client, url, code, kept_in_japanese)
    page_in(client, "/r/no-such-booking/", code, kept_in_japanese, status=404)


@pytest.mark.usefixtures("_fixed_clock")
@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_a_whole_request_shows_no_japanese(
    code, terms, kept_in_japanese, django_capture_on_commit_callbacks
):
    client = client_in(code)
    script = script_of(code)
    pages = [
        # Every field wrong or missing.
        client.post("/book/", {"slot": "", "terms_version": str(terms.pk), "action": "review"}),
        review(
            client,
            answers(
                terms.pk,
                **{**SEEKER, "email": "maria@"},
                slot="2026-12-30T10:00",
                seeker_number="1234",
            ),
        ),
        review(client, answers(terms.pk, **SEEKER, companion="interpreter")),
    ]
    for response in pages:
        leaks = japanese_left(readable_text(response.content.decode()), kept_in_japanese, script)
        assert not leaks, f"Japanese on a {code} form page:\n" + "\n".join(leaks)

    data = answers(terms.pk, **SEEKER)
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(client, data)
    assert response.status_code == 302
    page_in(client, response["Location"], code, kept_in_japanese)
    reservation = Reservation.objects.get()
    assert reservation.language == code
    page_in(client, f"/r/{reservation.token}/", code, kept_in_japanese)
    page_in(client, f"/r/{reservation.token}/cancel/", code, kept_in_japanese)
    # Changing the date and time (振替): the free sessions to move to.
    page_in(client, f"/r/{reservation.token}/move/", code, kept_in_japanese)
    # The session is now full (one place): its waiting list's form, and the week showing it.
    page_in(client, f"/waitlist/?slot={OPEN_SLOT}", code, kept_in_japanese)
    page_in(client, "/slots/", code, kept_in_japanese)
    # A second request while the first is active: the kind refusal.
    refused = submit(client, answers(terms.pk, **SEEKER, slot="2026-12-24T14:00"))
    leaks = japanese_left(readable_text(refused.content.decode()), kept_in_japanese, script)
    assert not leaks, "\n".join(leaks)


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_the_500_page_shows_no_japanese(code):
    with translation.override(code):
        html = render_to_string("500.html")
    assert f'<html lang="{bcp47(code)}">' in html
    assert not japanese_left(readable_text(html), (), script_of(code))


@pytest.mark.parametrize("code", OTHER_LANGUAGES)
@pytest.mark.parametrize("kind", BOOKING_EMAILS)
def test_every_email_shows_no_japanese(
    code, kind, make_reservation, next_slot, counselor, terms, kept_in_japanese
):
    reservation = make_reservation(
        next_slot(0),
        platform="teleoffice",
        language=code,
        name="Maria Silva",
        companion="interpreter",
        companion_language="Portuguese",
    )
    reservation = services.reservation_confirm(
        reservation=reservation,
        actor=counselor,
        meeting_url="https://teleoffice.example.jp/room/abc",
        meeting_passcode="428571",
    )
    context = None
    if kind == EmailKind.TERMS_CHANGED:
        with translation.override(code):
            context = {
                "terms_title": terms.title,
                "effective_date": format_date(tokyo(2027, 4, 1)),
                "terms_url": "http://testserver/terms/",
                "changes_url": "http://testserver/terms/changes/",
            }
    message = english_email(reservation, kind, context)
    [(html, _mimetype)] = message.alternatives
    assert f'<html lang="{bcp47(code)}">' in html
    assert "Maria Silva" in message.body.splitlines()[0]
    for part, text in (
        ("subject", message.subject),
        ("text", message.body),
        ("html", readable_text(html)),
    ):
        leaks = japanese_left(text, kept_in_japanese, script_of(code))
        assert not leaks, f"Japanese in the {code} {kind} email ({part}):\n" + "\n".join(leaks)
