"""Which office a request is for: decided here once per request and shared by views and pages.

- `/o/<slug>/…` is that office's page, if it takes online bookings; an unknown office or one
  not taking bookings is no office (a 404), never another office.
- `/r/<token>/…` (the private link) is the booking's office, whatever the office; `/w/<token>/…`
  (a waiting-list entry's link) is the entry's office.
- Any other address is the one office taking bookings, when there is exactly one; with
  several, `/` is the office chooser and the office pages live under `/o/<slug>/`.

The office's terms (the version in force, the one announced) are read here once per request
too: the page, its notice of upcoming terms and the booking it sends all need them.

For a GET (a page, the API), the office and its published terms come from the shared cache
(`shared_cache.OFFICES_VERSION_KEY`: fresh after any change of an office or a terms version);
a POST (a booking, a cancellation, a consent) reads them from the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from consent.selectors import TermsNow, terms_as_of, terms_published_all
from reservations import rules, selectors, shared_cache
from reservations.models import Office, Reservation, WaitlistEntry

OFFICE_KWARG = "office_slug"


def _url_kwargs(request: HttpRequest) -> dict:
    match = getattr(request, "resolver_match", None)
    return match.kwargs if match is not None else {}


# What the offices' pages read on every GET holds no longer than this without a change.
OFFICES_CACHE_SECONDS = 600


def _kept[T](
    request: HttpRequest, name: str, read: Callable[[], T], *, keep_none: bool = True
) -> T:
    """`read()` from the shared cache for a GET or HEAD; from the database for anything
    that changes something."""
    if not _cacheable(request):
        return read()
    return shared_cache.kept(
        shared_cache.OFFICES_VERSION_KEY,
        f"offices:{name}",
        read,
        timeout=OFFICES_CACHE_SECONDS,
        what="offices",
        keep_none=keep_none,
    )


def _cacheable(request: HttpRequest) -> bool:
    return request.method in ("GET", "HEAD")


def shows_terms(request: HttpRequest) -> bool:
    """Whether the page is a seeker's, which names the terms and announces the next ones
    (the staff's pages in the admin and the API's answers do neither)."""
    return not request.path.startswith(("/admin/", "/api/"))


def _with_terms(request: HttpRequest, found: tuple[Office | None, list | None]) -> Office | None:
    office, versions = found
    if office is not None and versions is not None:
        # Kept with the office: `current_terms` needs no second read.
        request._published_terms = (office.pk, versions)
    return office


def _office_and_terms(
    request: HttpRequest, office: Office | None
) -> tuple[Office | None, list | None]:
    if office is None or not shows_terms(request):
        return office, None
    return office, terms_published_all(office.pk)


def _office_found(request: HttpRequest, slug: str) -> tuple[Office, list | None] | None:
    office = selectors.office_taking_bookings(slug)
    return _office_and_terms(request, office) if office is not None else None


def office_taking_bookings(request: HttpRequest, slug: str) -> Office | None:
    """The office with this slug if it takes online bookings (never any other)."""
    if not _cacheable(request):
        return selectors.office_taking_bookings(slug)
    # An address names any slug: only offices found are kept.
    found = _kept(
        request,
        f"slug:{slug}:{int(shows_terms(request))}",
        lambda: _office_found(request, slug),
        keep_none=False,
    )
    return _with_terms(request, found) if found is not None else None


def sole_office(request: HttpRequest) -> tuple[Office | None, bool]:
    """The one office taking bookings (else None), and whether several are."""

    if not _cacheable(request):
        return selectors.sole_office()

    def read() -> tuple[tuple[Office | None, list | None], bool]:
        sole, several = selectors.sole_office()
        return _office_and_terms(request, sole), several

    found, several = _kept(request, f"sole:{int(shows_terms(request))}", read)
    return _with_terms(request, found), several


def _decide(request: HttpRequest) -> Office | None:
    kwargs = _url_kwargs(request)
    slug = kwargs.get(OFFICE_KWARG)
    if slug is not None:
        request._office_prefixed = True
        office = office_taking_bookings(request, str(slug))
        request._office_missing = office is None
        return office
    sole, several = sole_office(request)
    request._office_prefixed = several
    request._office_choice = several
    entry_token = kwargs.get("entry_token")
    if entry_token is not None:
        entry = private_waitlist_entry(request, str(entry_token))
        if entry is not None:
            request._office_prefixed = several or sole is None or sole.pk != entry.office_id
            return entry.office
    token = kwargs.get("token")
    if token is not None:
        reservation = private_booking(request, str(token))
        if reservation is not None:
            # Links from the private page lead to the booking's own office.
            request._office_prefixed = several or sole is None or sole.pk != reservation.office_id
            return reservation.office
    return sole


def current_office(request: HttpRequest) -> Office | None:
    """The office this request is for (the views, the context processors and the terms pages
    ask here, so a page looks it up once)."""
    if not hasattr(request, "_office"):
        request._office = _decide(request)
    return request._office


def current_office_or_404(request: HttpRequest) -> Office:
    """The office this request is for; a page for no office is not found."""
    office = current_office(request)
    if office is None:
        if offices_to_choose_from(request):
            # An office page at the root while several offices take bookings.
            request._office_missing = True
        raise Http404
    return office


def offices_to_choose_from(request: HttpRequest) -> bool:
    """Whether this request is at the root of a site serving several offices (the chooser)."""
    current_office(request)
    return getattr(request, "_office_choice", False)


def office_missing(request: HttpRequest) -> bool:
    """Whether the address named an office that is unknown or not taking bookings."""
    return getattr(request, "_office_missing", False)


def private_booking(request: HttpRequest, token: str) -> Reservation | None:
    """The booking of a private link, looked up once per request."""
    found = getattr(request, "_private_bookings", None)
    if found is None:
        found = request._private_bookings = {}
    if token not in found:
        found[token] = selectors.reservation_by_token(token)
    return found[token]


def current_terms(request: HttpRequest, now: datetime) -> TermsNow:
    """The current office's terms as of `now` (in force, announced), read once per request
    and day."""
    office = current_office(request)
    if office is None:
        return TermsNow(in_force=None, announced=None)
    key = (office.pk, now.astimezone(rules.TOKYO).date())
    found = getattr(request, "_terms", None)
    if found is None or found[0] != key:
        kept = getattr(request, "_published_terms", None)
        if kept is not None and kept[0] == office.pk:
            versions = kept[1]
        else:  # the office of a private link, a staff page, a POST
            versions = _kept(request, f"terms:{office.pk}", lambda: terms_published_all(office.pk))
        found = request._terms = (key, terms_as_of(versions, now))
    return found[1]


def private_waitlist_entry(request: HttpRequest, token: str) -> WaitlistEntry | None:
    """The waiting-list entry of a private link, looked up once per request."""
    found = getattr(request, "_private_entries", None)
    if found is None:
        found = request._private_entries = {}
    if token not in found:
        found[token] = selectors.waitlist_entry_by_token(token)
    return found[token]


def office_path(request: HttpRequest | None, name: str, *args: object) -> str:
    """The path of the current office's page `name` (e.g. `reservations:week`): under
    /o/<slug>/ when the site serves several offices or the request came that way."""
    office = current_office(request) if request is not None else None
    if office is None:
        return reverse(name, args=args)
    return office.page_path(name, *args, prefixed=getattr(request, "_office_prefixed", False))


def office_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`view` under /o/<slug>/: the slug is read here (above), not by the view."""

    @wraps(view)
    def page(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        kwargs.pop(OFFICE_KWARG, None)
        return view(request, *args, **kwargs)

    return page
