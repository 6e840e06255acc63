"""Reference translations of the terms, the privacy notice, and what a consent records of
both: the Japanese text binds, a translation is labelled and frozen with its version."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.utils.translation import to_language

from consent import document, services
from consent.models import (
    PRIVACY_NOTICE_VERSION,
    Consent,
    ImmutableRecordError,
    TermsTranslation,
    TermsVersion,
)
from tests.conftest import IS_POSTGRES
from tests.seeker_pages import NOW, answers, submit

FOLDER = Path(settings.BASE_DIR) / "consent" / "terms" / "translations" / "2023-04-01"
FILES = sorted(FOLDER.glob("*.md"))
OTHER_LANGUAGES = [code for code, _name in settings.LANGUAGES if code != "ja"]


@pytest.fixture
def _clock():
    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def client_in(code: str) -> Client:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = code
    return client


SMALL = """# Terms

An introduction.

## Art. 1 Purpose

A paragraph.

## Art. 2 Who

- (1) First item
  continued on the next line.
- (2) Second item
  - ① sub one
  - ② sub two

1 April 2023 — Director
"""


# --- the files and the parser --------------------------------------------------------------


def test_every_language_of_the_portal_has_a_translation_file():
    assert sorted(to_language(path.stem) for path in FILES) == sorted(OTHER_LANGUAGES)


@pytest.mark.parametrize("path", FILES, ids=[path.stem for path in FILES])
def test_each_translation_has_exactly_the_japanese_articles_and_items(terms, path):
    translation = document.parse_translation(path.read_text(encoding="utf-8"))
    original = terms.parsed()
    assert [a.number for a in translation.articles] == [a.number for a in original.articles]
    assert document.translation_mismatches(original, translation) == []
    assert translation.title and translation.closing
    assert "2023" in translation.closing  # the date of issue, in the language's own words


def test_the_parser_gives_the_anchors_of_the_japanese_text():
    parsed = document.parse_translation(SMALL)
    assert parsed.title == "Terms"
    assert parsed.preamble == ("An introduction.",)
    assert parsed.closing == "1 April 2023 — Director"
    first, second = parsed.articles
    assert (first.anchor, first.caption, first.blocks[0].text) == (
        "art-1",
        "Purpose",
        "A paragraph.",
    )
    one, two = second.items
    assert one.anchor == "art-2-1"
    assert one.paragraphs == ("First item", "continued on the next line.")
    assert [sub.anchor for sub in two.sub_items] == ["art-2-2-1", "art-2-2-2"]
    assert [sub.text for sub in two.sub_items] == ["① sub one", "② sub two"]


@pytest.mark.parametrize(
    "broken",
    [
        SMALL.replace("# Terms", "Terms"),  # no title
        SMALL.replace("## Art. 2", "## Art. 3"),  # a number skipped
        SMALL.replace("- (2) Second", "- (1) Second"),  # an item twice
        SMALL.replace("\n1 April 2023 — Director\n", "\n"),  # no closing line after the items
    ],
)
def test_a_text_not_in_the_format_is_refused(broken):
    with pytest.raises(document.DocumentError):
        document.parse_translation(broken)


def test_a_translation_missing_an_article_does_not_match(terms):
    text = (FOLDER / "en.md").read_text(encoding="utf-8")
    cut = re.sub(r"## Art\. 14 .*?(?=\n\S*令和)", "", text, flags=re.S)
    problems = document.translation_mismatches(terms.parsed(), document.parse_translation(cut))
    assert problems and "14" in problems[0]


# --- loading: the migration, the command ---------------------------------------------------


def test_the_migration_loaded_every_file_with_its_hash(terms):
    loaded = {t.language: t for t in TermsTranslation.objects.filter(terms_version=terms)}
    assert sorted(loaded) == sorted(OTHER_LANGUAGES)
    for path in FILES:
        stored = loaded[to_language(path.stem)]
        text = document.normalize_translation(path.read_text(encoding="utf-8"))
        assert stored.text == text
        assert stored.content_hash == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_command_is_safe_to_run_again(terms):
    out = StringIO()
    call_command("terms_load_translations", "--terms-version", "2023-04-01", stdout=out)
    assert out.getvalue().count(": same ") == len(FILES)
    assert TermsTranslation.objects.filter(terms_version=terms).count() == len(FILES)


def test_the_command_adds_a_file_finished_later_and_refuses_to_change_a_loaded_one(terms, tmp_path):
    # A language finished later for a new version (a draft here).
    draft = TermsVersion.objects.create(
        office=terms.office,
        version="2027-04-01",
        title=terms.title,
        body=terms.body,
        issued_label="令和9年3月1日",
        issuer=terms.issuer,
        effective_date=date(2027, 4, 1),
    )
    folder = tmp_path / "2027-04-01"
    folder.mkdir()
    (folder / "pt_BR.md").write_text((FOLDER / "pt_BR.md").read_text(encoding="utf-8"))
    out = StringIO()
    call_command("terms_load_translations", "--folder", str(tmp_path), stdout=out)
    assert "isesaki/2027-04-01/pt-br: added" in out.getvalue()
    assert draft.translations.get().language == "pt-br"

    # A published version's translation stays what people were shown.
    changed = tmp_path / "2023-04-01"
    changed.mkdir()
    (changed / "en.md").write_text(
        (FOLDER / "en.md").read_text(encoding="utf-8").replace("Purpose", "Aim")
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("terms_load_translations", "--folder", str(tmp_path), stderr=err, stdout=out)
    assert "2023-04-01/en" in err.getvalue()
    assert "Aim" not in TermsTranslation.objects.get(terms_version=terms, language="en").text


def test_the_service_refuses_a_translation_that_does_not_follow_the_japanese(terms):
    draft = TermsVersion.objects.create(
        office=terms.office,
        version="2027-04-01",
        title=terms.title,
        body=terms.body,
        issued_label="令和9年3月1日",
        issuer=terms.issuer,
        effective_date=date(2027, 4, 1),
    )
    with pytest.raises(services.TermsError) as refused:
        services.terms_translation_add(terms_version=draft, language="en", text=SMALL)
    assert refused.value.code == "mismatch"
    with pytest.raises(services.TermsError):
        services.terms_translation_add(
            terms_version=draft, language="ja", text=(FOLDER / "en.md").read_text()
        )
    assert not draft.translations.exists()


# --- frozen with the version ---------------------------------------------------------------


def test_a_translation_of_a_published_version_cannot_be_changed(terms):
    translation = TermsTranslation.objects.get(terms_version=terms, language="en")
    translation.text = "changed"
    with pytest.raises(ImmutableRecordError):
        translation.save()
    with pytest.raises(ImmutableRecordError):
        TermsTranslation.objects.filter(pk=translation.pk).update(text="changed")
    with pytest.raises(ImmutableRecordError):
        TermsTranslation.objects.filter(pk=translation.pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_termstranslation SET text = %s WHERE id = %s", ["x", translation.pk]
        )
    translation.refresh_from_db()
    assert translation.text.startswith("# ")


@pytest.mark.skipif(not IS_POSTGRES, reason="delete triggers exist on PostgreSQL only")
def test_the_database_refuses_to_delete_a_published_translation(terms):
    translation = TermsTranslation.objects.get(terms_version=terms, language="en")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_termstranslation WHERE id = %s", [translation.pk])
    assert TermsTranslation.objects.filter(pk=translation.pk).exists()


# --- the pages -----------------------------------------------------------------------------


@pytest.mark.usefixtures("_clock")
@pytest.mark.parametrize("code", OTHER_LANGUAGES)
def test_the_terms_page_shows_the_labelled_translation_and_the_original_one_click_away(terms, code):
    translation = TermsTranslation.objects.get(terms_version=terms, language=code)
    for url in ("/terms/", "/terms/2023-04-01/"):
        html = client_in(code).get(url).content.decode()
        assert f'data-translation="{code}"' in html
        assert translation.parsed().title in html
        assert translation.content_hash in html and terms.content_hash in html
        assert 'href="?text=ja"' in html
        # The same anchors as the Japanese text: links to an article keep working.
        assert 'id="art-6-4"' in html
        assert '<article class="terms-document" lang="ja"' not in html
    original = client_in(code).get("/terms/?text=ja").content.decode()
    assert "data-original" in original
    assert '<article class="terms-document" lang="ja"' in original
    assert terms.parsed().articles[5].caption in original
    assert "data-translation=" not in original


@pytest.mark.usefixtures("_clock")
def test_the_japanese_page_shows_only_the_binding_text(terms):
    html = client_in("ja").get("/terms/").content.decode()
    assert "data-translation" not in html and "data-original" not in html
    assert '<article class="terms-document" lang="ja"' in html


@pytest.mark.usefixtures("_clock")
def test_a_version_without_a_translation_shows_the_japanese_with_the_note(terms, office):
    later = TermsVersion.objects.create(
        office=office,
        version="2027-04-01",
        title=terms.title,
        body=terms.body,
        issued_label="令和9年3月1日",
        issuer=terms.issuer,
        effective_date=date(2027, 4, 1),
    )
    services.terms_publish(terms_version=later, actor=None, now=NOW)
    html = client_in("en").get("/terms/2027-04-01/").content.decode()
    assert "The terms of use are available in Japanese only" in html
    assert '<article class="terms-document" lang="ja"' in html


@pytest.mark.usefixtures("_clock")
@pytest.mark.parametrize("code", [code for code, _name in settings.LANGUAGES])
def test_the_privacy_notice_in_every_language(terms, code, settings):
    settings.RETENTION_DAYS = 400
    html = client_in(code).get("/privacy/").content.decode()
    assert "400" in html
    assert PRIVACY_NOTICE_VERSION in html
    for anchor in ("purposes", "recorded", "basis", "who", "retention", "platforms", "contact"):
        assert f'id="privacy-{anchor}"' in html
    assert "Zoom" in html and "TeleOffice" in html
    assert "tel:0270-23-8609" in html


@pytest.mark.usefixtures("_clock")
def test_the_privacy_notice_is_linked_from_the_footer_and_beside_the_email(terms):
    client = client_in("ja")
    assert 'href="/privacy/"' in client.get("/").content.decode()
    form = client.get("/book/").content.decode()
    email = form.index('id="id_email"')
    assert 0 < form.index('href="/privacy/"', email) - email < 600


# --- what the consent records --------------------------------------------------------------


@pytest.mark.usefixtures("_clock")
@pytest.mark.parametrize("code", ["pt-br", "ja-x-easy", "ja"])
def test_the_consent_names_the_binding_version_the_translation_and_the_privacy_notice(terms, code):
    response = submit(client_in(code), answers(terms.pk))
    assert response.status_code == 302
    consent = Consent.objects.get()
    assert (consent.terms_version, consent.terms_hash) == (terms, terms.content_hash)
    assert consent.privacy_version == PRIVACY_NOTICE_VERSION
    if code == "ja":
        assert (consent.translation, consent.translation_language, consent.translation_hash) == (
            None,
            "",
            "",
        )
        return
    shown = TermsTranslation.objects.get(terms_version=terms, language=code)
    assert consent.translation == shown
    assert consent.translation_language == code
    assert consent.translation_hash == shown.content_hash


@pytest.mark.usefixtures("_clock")
def test_a_consent_cannot_name_a_translation_without_its_hash(terms):
    submit(client_in("ja"), answers(terms.pk))
    reservation = Consent.objects.get().reservation
    translation = TermsTranslation.objects.get(terms_version=terms, language="en")
    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(
            reservation=reservation,
            terms_version=terms,
            terms_hash=terms.content_hash,
            platform="zoom",
            platform_terms_accepted=True,
            items=dict.fromkeys(("secure_device", "safe_network", "supported_os", "firewall"), True)
            | dict.fromkeys(("no_file_sharing", "antivirus", "camera"), True),
            given_at=NOW,
            language="en",
            translation=translation,
            translation_language="en",
            translation_hash="",
        )


@pytest.mark.usefixtures("_clock")
def test_the_retention_purge_keeps_what_was_shown(terms):
    submit(client_in("vi"), answers(terms.pk))
    consent = Consent.objects.get()
    services.consent_anonymize(reservation=consent.reservation, now=NOW)
    consent.refresh_from_db()
    assert consent.email == "" and consent.anonymized_at is not None
    assert consent.translation_language == "vi" and consent.privacy_version
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consent SET translation_hash = %s WHERE id = %s", ["0", consent.pk]
        )
