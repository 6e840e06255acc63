"""The page's language as HTML wants it: `<html lang="{{ LANGUAGE_CODE|bcp47 }}">`."""

from __future__ import annotations

from django import template
from django.conf import settings

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
