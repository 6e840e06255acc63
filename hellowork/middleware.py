"""Project middleware."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from hellowork import languages


class SeekerLocaleMiddleware(LocaleMiddleware):
    """Django's LocaleMiddleware, choosing the language by `languages.request_language`.

    Django's own choice knows neither Filipino (`fil`) nor our aliases; the rest
    (the Vary and Content-Language headers, the redirects) stays Django's.
    """

    def process_request(self, request: HttpRequest) -> None:
        translation.activate(languages.request_language(request))
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        # The header speaks BCP 47 like the page's <html lang>: pt-BR, zh-Hans.
        response.headers.setdefault(
            "Content-Language", languages.bcp47(translation.get_language() or "")
        )
        return super().process_response(request, response)
