"""The portal's languages: their BCP 47 tags and how a visitor's language is chosen.

Django names languages in lower case (`pt-br`, `zh-hans`, `ja-x-easy`); HTML's `lang`
attribute and the Content-Language header want BCP 47's conventional casing (`pt-BR`,
`zh-Hans`). Easy Japanese (やさしい日本語) has no registered subtag, so it is Japanese with
the private-use extension `x-easy`: `ja-x-easy` is a valid tag that every browser, screen
reader and spell checker treats as Japanese, which it is.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

# Languages a browser may ask for under another code than ours (Accept-Language).
# Filipino (fil) is written as Tagalog; Django knows neither, and only `tl` is in LANGUAGES.
ALIASES: dict[str, str] = {"fil": "tl"}
# The query parameter by which the links of an email open in the email's language.
LINK_PARAMETER = "lang"


def bcp47(code: str) -> str:
    """The BCP 47 tag of a Django language code: pt-br → pt-BR, zh-hans → zh-Hans."""
    subtags = (code or "").replace("_", "-").split("-")
    tag = [subtags[0].lower()]
    private = False
    for subtag in subtags[1:]:
        # After the singleton "x" everything is private use, lower case by convention.
        if private or len(subtag) == 1:
            private = private or subtag.lower() == "x"
            tag.append(subtag.lower())
        elif len(subtag) == 2 or (len(subtag) == 3 and subtag.isdigit()):
            tag.append(subtag.upper())  # a region: BR, 419
        elif len(subtag) == 4:
            tag.append(subtag.title())  # a script: Hans
        else:
            tag.append(subtag.lower())
    return "-".join(tag)


def supported(code: str | None) -> str | None:
    """Our language code for `code` (any casing, an alias, a regional variant), or None."""
    if not code:
        return None
    code = code.lower().replace("_", "-")
    primary, _dash, rest = code.partition("-")
    code = ALIASES.get(primary, primary) + (f"-{rest}" if rest else "")
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def chosen_language(request: HttpRequest) -> str | None:
    """The language the person picked with the switch (the cookie), if it is one of ours."""
    value = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
    code = supported(value)
    # Only an exact choice counts: a cookie of another site's making is not a choice here.
    return code if code is not None and code == (value or "").lower() else None


def first_visit_language(request: HttpRequest) -> str:
    """The best of our languages for the browser's Accept-Language, else Japanese."""
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    for code, _quality in parse_accept_lang_header(header):
        if code == "*":
            break
        language = supported(code)
        if language is not None:
            return language
    return settings.LANGUAGE_CODE


def linked_language(request: HttpRequest) -> str | None:
    """The language a link asks for (`?lang=vi` in the links of an email), if it is ours."""
    value = request.GET.get(LINK_PARAMETER, "")
    code = supported(value)
    return code if code is not None and code == value.lower() else None


def request_language(request: HttpRequest) -> str:
    """The page's language: the person's choice with the switch, else the language the link
    asks for (an email's), else what their browser asks for."""
    return chosen_language(request) or linked_language(request) or first_visit_language(request)
