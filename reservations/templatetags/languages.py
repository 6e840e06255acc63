"""Languages in templates: the page's BCP 47 tag, the switch's names, links in a language."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django import template
from django.conf import settings
from django.utils import translation

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
