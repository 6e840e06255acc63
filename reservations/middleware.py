"""Request hygiene and outage answers, in one place for every view.

- `RequestHygieneMiddleware` refuses, before any view or session lookup, what no honest
  browser sends and what would otherwise reach the database as an error: a NUL character
  in the path, the query, a posted form or a cookie (PostgreSQL cannot store or compare
  it), and bodies beyond DATA_UPLOAD_MAX_MEMORY_SIZE / DATA_UPLOAD_MAX_NUMBER_FIELDS. The
  answer is a 400 (JSON for the API and the webhook) and one log line, never a traceback.
- `PermissionsPolicyMiddleware` switches off the browser features the site never uses.
- `DatabaseOutageMiddleware` answers a database outage with 503 and Retry-After instead of
  the 500 page; the request form gets back what the person typed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from http.cookies import CookieError

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

logger = logging.getLogger("reservations.requests")

# Paths whose callers are programs: they get JSON, never an HTML page.
JSON_PREFIXES = ("/api/", "/zoom/")
# Seconds a client is asked to wait during a database outage.
OUTAGE_RETRY_AFTER = 30
# Form fields of the request form carried back on the outage page (what the person typed).
_NOT_CARRIED = frozenset({"csrfmiddlewaretoken", "form_token", "action"})


def _wants_json(request: HttpRequest) -> bool:
    return request.path_info.startswith(JSON_PREFIXES)


def _area(request: HttpRequest) -> str:
    # The first path segment only: a path may hold a private-link token or anything typed.
    first = request.path_info.strip("/").split("/", 1)[0]
    return f"/{first}/" if first.isascii() and first.isalnum() else "/?"


def _quiet(response: HttpResponse) -> HttpResponse:
    # We wrote the one line this request deserves; Django's request logger stays silent.
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def bad_request(request: HttpRequest, reason: str, *, status: int = 400) -> HttpResponse:
    """A plain refusal that says nothing about the site: JSON for programs, else a page."""
    logger.warning("request refused (%s): %s %s", reason, request.method, _area(request))
    if _wants_json(request):
        return _quiet(JsonResponse({"error": _("リクエストが正しくありません。")}, status=status))
    html = render_to_string("400.html", {"status": status})
    return _quiet(HttpResponse(html, status=status))


def _has_nul(values: Iterable[str]) -> bool:
    return any("\x00" in value for value in values)


def _query_has_nul(query: QueryDict) -> bool:
    return any("\x00" in key or _has_nul(values) for key, values in query.lists())


class RequestHygieneMiddleware:
    """Refuse NUL characters and oversized bodies before anything reads them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self.refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        if "\x00" in request.path_info:
            return bad_request(request, "NUL in the path")
        if _query_has_nul(request.GET):
            return bad_request(request, "NUL in the query")
        broken = [name for name, value in request.COOKIES.items() if "\x00" in name + value]
        if broken:
            response = bad_request(request, "NUL in a cookie")
            for name in broken:
                # Told to forget it, the browser's next visit works again (when its name
                # is one a Set-Cookie header can carry at all).
                with contextlib.suppress(CookieError):
                    response.delete_cookie(name)
            return response
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                form = request.POST  # parses form bodies only, within the DATA_UPLOAD_* limits
                if request.content_type not in (
                    "application/x-www-form-urlencoded",
                    "multipart/form-data",
                ):
                    length = int(request.META.get("CONTENT_LENGTH") or 0)
                    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
                        return bad_request(request, "body too large", status=413)
            except ValueError:
                return bad_request(request, "bad Content-Length")
            except SuspiciousOperation as exc:
                return bad_request(request, type(exc).__name__, status=413)
            if _query_has_nul(form):
                return bad_request(request, "NUL in the form")
        return None


# Every feature a counselling booking site has no use for: the video call itself runs in
# Zoom or TeleOffice, never in our pages.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "autoplay",
        "bluetooth",
        "camera",
        "display-capture",
        "encrypted-media",
        "fullscreen",
        "geolocation",
        "gyroscope",
        "hid",
        "magnetometer",
        "microphone",
        "midi",
        "payment",
        "picture-in-picture",
        "publickey-credentials-get",
        "screen-wake-lock",
        "serial",
        "usb",
        "xr-spatial-tracking",
    )
)


class PermissionsPolicyMiddleware:
    """Add `Permissions-Policy` with every powerful browser feature off."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database cannot be reached (not a bug in a query)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def outage_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After; JSON for programs; the request form keeps its answers.

    Nothing is booked by a request that met the outage: every booking is one transaction,
    so it was written whole or not at all; the page offers to check the answers again.
    """
    logger.warning("database unavailable: %s %s answered 503", request.method, _area(request))
    if _wants_json(request):
        response: HttpResponse = JsonResponse(
            {"error": _("ただいま混み合っているか、保守中です。しばらくしてからお試しください。")},
            status=503,
        )
    else:
        answers: list[tuple[str, str]] = []
        if request.method == "POST" and request.path_info == "/book/":
            answers = [
                (name, value)
                for name, values in request.POST.lists()
                if name not in _NOT_CARRIED
                for value in values
            ]
        html = render_to_string(
            "503.html",
            {
                "answers": answers,
                "csrf_token": get_token(request) if answers else "",
                "retry_after": OUTAGE_RETRY_AFTER,
            },
        )
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(OUTAGE_RETRY_AFTER)
    response["Cache-Control"] = "no-store"
    return _quiet(response)


class DatabaseOutageMiddleware:
    """Turn a view's database outage into `outage_response` (one log line, no traceback)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return outage_response(request) if is_outage(exception) else None


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: an outage met outside a view (a session saved, a user loaded) is a 503."""
    import sys

    from django.views.defaults import server_error as default_server_error

    exc = sys.exc_info()[1]
    if exc is not None and is_outage(exc):
        return outage_response(request)
    return default_server_error(request)
