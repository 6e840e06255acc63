"""JSON availability: exactly the slots a seeker could request right now."""

from __future__ import annotations

from datetime import date, timedelta

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from reservations import selectors
from reservations.models import Office

MAX_RANGE_DAYS = 62


def _error(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


@require_GET
def slots(request: HttpRequest) -> JsonResponse:
    """`GET /api/slots/?from=YYYY-MM-DD&to=YYYY-MM-DD[&office=slug]`."""
    try:
        first = date.fromisoformat(request.GET.get("from", ""))
        last = date.fromisoformat(request.GET.get("to", ""))
    except ValueError:
        return _error(_("from と to は YYYY-MM-DD の形の日付で指定してください。"))
    if last < first:
        return _error(_("to は from 以降の日付にしてください。"))
    if (last - first) > timedelta(days=MAX_RANGE_DAYS - 1):
        return _error(_("一度に指定できる期間は %(days)s 日までです。") % {"days": MAX_RANGE_DAYS})
    slug = request.GET.get("office")
    office = Office.objects.filter(slug=slug).first() if slug else selectors.default_office()
    if office is None:
        return _error(_("指定されたハローワークが見つかりません。"))
    available = selectors.availability(office, first, last, timezone.now())
    return JsonResponse(
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
    )
