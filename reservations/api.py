"""JSON availability: exactly the slots a seeker could request right now."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from reservations import offices, rules, selectors

MAX_RANGE_DAYS = 62
# Exactly YYYY-MM-DD: date.fromisoformat alone also takes 20270112 and 2027-W02-2.
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _error(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def _parse_date(raw: str | None) -> date | None:
    if raw is None or not _ISO_DATE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


@require_GET
@never_cache  # places change with every booking; a browser's copy would offer full slots
def slots(request: HttpRequest) -> HttpResponse:
    """`GET /api/slots/?from=YYYY-MM-DD&to=YYYY-MM-DD[&office=slug]`."""
    first = _parse_date(request.GET.get("from"))
    last = _parse_date(request.GET.get("to"))
    if first is None or last is None:
        return _error(_("from と to は YYYY-MM-DD の形の日付で指定してください。"))
    if last < first:
        return _error(_("to は from 以降の日付にしてください。"))
    if (last - first) > timedelta(days=MAX_RANGE_DAYS - 1):
        return _error(_("一度に指定できる期間は %(days)s 日までです。") % {"days": MAX_RANGE_DAYS})
    slug = request.GET.get("office")
    # A named office only if it takes bookings; unnamed, the one that does (never a guess
    # among several).
    office = (
        offices.office_taking_bookings(request, slug) if slug else offices.sole_office(request)[0]
    )
    if office is None:
        return _error(_("指定されたハローワークが見つかりません。"))
    now = timezone.now()
    # Only tomorrow to the horizon can hold a requestable slot (rule 6): the answer for any
    # wider range is the same, so it is kept once, whatever dates a client asks for.
    today = now.astimezone(rules.TOKYO).date()
    first = max(first, today + timedelta(days=1))
    last = min(last, rules.last_bookable_day(now, office.horizon_days))

    def answer() -> bytes:
        available = selectors.open_availability(office, first, last, now) if first <= last else []
        return json.dumps(
            {
                "office": office.slug,
                "slots": [
                    {
                        "start": a.slot.start.isoformat(),
                        "end": a.slot.end.isoformat(),
                        "remaining": a.remaining,
                    }
                    for a in available
                ],
            }
        ).encode()

    if first > last:
        body = answer()  # nothing to request there, and nothing to keep
    else:
        # From the shared cache, fresh after every change (`selectors.availability_cached`).
        body = selectors.availability_cached(office, now, f"api:{first}:{last}", answer)
    return HttpResponse(body, content_type="application/json")
