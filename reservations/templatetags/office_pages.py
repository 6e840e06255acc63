"""An office in templates: the links of its pages, its name and address in the page's
language (the English ones outside Japanese, with the Japanese beside them)."""

from __future__ import annotations

from django import template
from django.utils import translation
from django.utils.html import format_html
from django.utils.safestring import SafeString

from reservations import offices, selectors, shared_cache
from reservations.models import Office, speaks_japanese

register = template.Library()


@register.simple_tag(takes_context=True)
def office_url(context: template.Context, name: str, *args: object) -> str:
    """`{% office_url 'reservations:week' %}`: the current office's page (see offices.py)."""
    return offices.office_path(context.get("request"), name, *args)


# A part kept holds no longer than this (its key changes with everything it shows).
OFFICE_PART_SECONDS = 600


class OfficePartNode(template.Node):
    def __init__(self, name: str, nodelist: template.NodeList) -> None:
        self.name = name
        self.nodelist = nodelist

    def render(self, context: template.Context) -> str:
        office = context.get("office")
        row = selectors.office_row_digest(office) if office is not None else "-"
        links = offices.office_path(context.get("request"), "reservations:home")
        key = f"office-part:{self.name}:{row}:{translation.get_language()}:{links}"
        return shared_cache.kept(
            None,
            key,
            lambda: self.nodelist.render(context),
            timeout=OFFICE_PART_SECONDS,
            what=f"the page's {self.name}",
        )


@register.tag
def office_part(parser: template.base.Parser, token: template.base.Token) -> OfficePartNode:
    """`{% office_part "footer" %}…{% endoffice_part %}`: a part of every page that shows only
    the office (its name, address, phone), the page's language and the office's links, kept
    in the shared cache under exactly those: the office's row as this request read it, the
    language and how the links are written (at the root or under /o/<slug>/). A change of any
    of them is a new key: nothing stale is shown. Nothing else (no form, no token, nothing
    of the person) may be inside."""
    bits = token.split_contents()
    if len(bits) != 2 or bits[1][0] not in "\"'" or bits[1][0] != bits[1][-1]:
        raise template.TemplateSyntaxError('{% office_part "name" %} takes one quoted name')
    nodelist = parser.parse(("endoffice_part",))
    parser.delete_first_token()
    return OfficePartNode(bits[1][1:-1], nodelist)


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
