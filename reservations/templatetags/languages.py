"""Languages in templates: the page's BCP 47 tag, the switch's names, links in a language."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django import template
from django.conf import settings
from django.utils import translation
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from hellowork.languages import LINK_PARAMETER
from hellowork.languages import bcp47 as _bcp47

register = template.Library()


@register.filter
def bcp47(code: str | None) -> str:
    """pt-br → pt-BR, zh-hans → zh-Hans, ja-x-easy stays ja-x-easy."""
    return _bcp47(code or "")


@register.simple_tag
def own_language_names() -> list[tuple[str, str]]:
    """settings.LANGUAGES as written: each language in its own name.

    Django's `get_available_languages` runs the names through gettext, and its Japanese
    catalogue would turn "English" into 英語(米国) on a Japanese page.
    """
    return [(code, str(name)) for code, name in settings.LANGUAGES]


@register.filter
def in_page_language(url: str) -> str:
    """The URL with `?lang=` of the language being rendered: an email's links open in the
    email's language whatever the browser's (the person's own choice still wins)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != LINK_PARAMETER]
    query.append((LINK_PARAMETER, translation.get_language() or settings.LANGUAGE_CODE))
    return urlunsplit(parts._replace(query=urlencode(query)))


_JAPANESE_RUN = re.compile(
    r"[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3400-\u9fff\uff00-\uffef]*"
    r"[\u3040-\u309f\u30a0-\u30ff\u3400-\u9fff]"
    r"[\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3400-\u9fff\uff00-\uffef]*"
)
_KANA = re.compile(r"[\u3040-\u309f\u30a0-\u30ff]")


@register.filter(needs_autoescape=True)
def mark_japanese(text: str, autoescape: bool = True) -> str:
    """The text with each run of Japanese (a name kept in the original, the date of issue)
    in `<span lang="ja">`, so that screen readers say it in Japanese.

    Nothing is marked on Japanese pages; on Chinese ones only runs with kana, since Chinese
    is written in kanji itself.
    """
    escape = conditional_escape if autoescape else (lambda value: value)
    language = translation.get_language() or settings.LANGUAGE_CODE
    if language.startswith("ja"):
        return mark_safe(escape(text))  # noqa: S308 - escaped just above
    chinese = language.startswith("zh")
    parts, last = [], 0
    for match in _JAPANESE_RUN.finditer(text):
        if chinese and not _KANA.search(match.group()):
            continue
        parts.append(escape(text[last : match.start()]))
        parts.append(format_html('<span lang="ja">{}</span>', match.group()))
        last = match.end()
    parts.append(escape(text[last:]))
    return mark_safe("".join(str(part) for part in parts))  # noqa: S308 - each part escaped
