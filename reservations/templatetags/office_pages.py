"""An office in templates: the links of its pages, its name and address in the page's
language (the English ones outside Japanese, with the Japanese beside them)."""

from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.html import format_html
from django.utils.safestring import SafeString

from reservations import offices
from reservations.models import Office, speaks_japanese

register = template.Library()


@register.simple_tag(takes_context=True)
def office_url(context: template.Context, name: str, *args: object) -> str:
    """`{% office_url 'reservations:week' %}`: the current office's page (see offices.py)."""
    return offices.office_path(context.get("request"), name, *args)


@register.filter
def office_name(office: Office | None) -> str:
    """The office's name to use in a sentence of the page's language."""
    return office.name_in(translation.get_language()) if office is not None else ""


def _both(shown: str, japanese: str, *, html: bool) -> str | SafeString:
    if not japanese:
        return shown
    if shown == japanese:
        return format_html('<span lang="ja">{}</span>', japanese) if html else japanese
    if html:
        return format_html('{} <span lang="ja">{}</span>', shown, japanese)
    return f"{shown} ({japanese})"


@register.simple_tag
def office_title(office: Office | None, text: bool = False) -> str | SafeString:
    """The name as a heading shows it: in Japanese on Japanese pages; elsewhere the English
    name with the Japanese beside it, marked lang="ja" (`text=True`: in brackets)."""
    if office is None:
        return ""
    language = translation.get_language()
    shown = office.name if speaks_japanese(language) else office.name_in(language)
    return _both(shown, office.name, html=not text)


@register.simple_tag
def office_address(office: Office | None, text: bool = False) -> str | SafeString:
    """The address, as `office_title` shows the name."""
    if office is None or not office.address:
        return ""
    language = translation.get_language()
    shown = office.address if speaks_japanese(language) else office.address_in(language)
    return _both(shown, office.address, html=not text)


@register.filter
def office_names(office: Office | None) -> str:
    """Plain text (an email's subject): the name, and outside Japanese the Japanese beside it."""
    return str(office_title(office, text=True))
