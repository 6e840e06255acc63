"""`POST /zoom/webhook/`: Zoom tells us who joined, which keeps the no-show sweep honest.

Every request must carry Zoom's signature: `x-zm-signature: v0=<hex>`, the HMAC-SHA256 of
`v0:{x-zm-request-timestamp}:{raw body}` under ZOOM_WEBHOOK_SECRET_TOKEN. Bad signatures and
timestamps more than five minutes away are answered 401. `endpoint.url_validation` is
answered as Zoom specifies. A seeker (anyone but the host) joining within the session marks
the booking attended; duplicate deliveries find it attended already and change nothing.
Nothing personal from the payload (names, emails) is stored or logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reservations import rules, services
from reservations.models import Reservation, ZoomMeeting

logger = logging.getLogger(__name__)

# Zoom's own guidance: reject requests whose timestamp is more than five minutes off.
MAX_CLOCK_SKEW = timedelta(minutes=5)
# Zoom's url_validation token is a short random string; anything else is not Zoom's.
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")
# Seconds since 1970: ten digits until the year 2286; twelve leave room and stay in range.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def _sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signature_valid(
    *, secret: str, timestamp: str, body: bytes, signature: str, now: datetime
) -> bool:
    """Whether the request is Zoom's and recent (rejects replays of old deliveries)."""
    # ASCII digits only ("²".isdigit() is true) and short enough to be a date: anything
    # else an unauthenticated caller sends is a refusal, never an error.
    if not (secret and _TIMESTAMP.fullmatch(timestamp) and signature.startswith("v0=")):
        return False
    try:
        sent_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return False
    if abs(now - sent_at) > MAX_CLOCK_SKEW:
        return False
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    expected = "v0=" + _sign(secret, f"v0:{timestamp}:{text}")
    return hmac.compare_digest(expected, signature)


def _contains_nul(value: object) -> bool:
    """Whether any key or string in the parsed JSON holds a NUL (the database refuses it)."""
    pending = [value]
    while pending:  # iterative: the parser has bounded the depth already
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


def _refused(reason: str, status: int = 400, *, why: str = "") -> JsonResponse:
    logger.warning("zoom webhook refused: %s", why or reason)
    response = JsonResponse({"error": reason}, status=status)
    response._has_been_logged = True  # type: ignore[attr-defined] # one line is enough
    return response


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _reservation_for(meeting_id: str) -> Reservation | None:
    if not meeting_id:
        return None
    # Also a meeting found as a duplicate during reconciliation, if the seeker used it.
    recorded = ZoomMeeting.objects.filter(meeting_id=meeting_id).values("reservation_id")
    return (
        Reservation.objects.select_related("slot")
        .filter(Q(meeting_id=meeting_id) | Q(pk__in=recorded))
        .first()
    )


def _joined_at(participant: dict, now: datetime) -> datetime:
    raw = str(participant.get("join_time") or "")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return now
    return moment if moment.tzinfo is not None else now


def _participant_joined(payload: dict, now: datetime) -> str:
    meeting = _mapping(payload.get("object"))
    participant = _mapping(meeting.get("participant"))
    reservation = _reservation_for(str(meeting.get("id", "")))
    if reservation is None:
        return "unknown meeting"
    host_id = meeting.get("host_id") or ""
    if host_id and participant.get("id") == host_id:
        return "host"  # the counselor opening the room is not the seeker attending
    joined = _joined_at(participant, now)
    slot = reservation.slot
    if not rules.attended_in_session(joined, slot.starts_at, slot.ends_at):
        return "outside the session"
    try:
        services.reservation_mark_attended(
            reservation=reservation, actor=None, now=joined, source="zoom"
        )
    except services.ReservationError:
        return "unchanged"  # attended already (a duplicate delivery), cancelled, …
    logger.info("booking %s attended (zoom participant joined)", reservation.reference)
    return "attended"


@csrf_exempt
@require_POST
def zoom(request: HttpRequest) -> JsonResponse:
    """Zoom's event notifications (Zoom signs them; we verify before reading them)."""
    secret = settings.ZOOM_WEBHOOK_SECRET_TOKEN
    if not secret:
        return JsonResponse({"error": "webhook not configured"}, status=503)
    now = timezone.now()
    if not signature_valid(
        secret=secret,
        timestamp=request.headers.get("x-zm-request-timestamp", ""),
        body=request.body,
        signature=request.headers.get("x-zm-signature", ""),
        now=now,
    ):
        return _refused("invalid signature", status=401, why="bad signature or stale timestamp")
    # Signed is not sane: a leaked secret, or a bug at Zoom, must not crash the view.
    try:
        message = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
        return _refused("invalid json")
    if not isinstance(message, dict) or _contains_nul(message):
        return _refused("invalid json")
    event = message.get("event", "")
    payload = _mapping(message.get("payload"))
    if event == "endpoint.url_validation":
        plain = payload.get("plainToken")
        if not isinstance(plain, str) or not _PLAIN_TOKEN.fullmatch(plain):
            return _refused("plainToken missing or malformed")
        return JsonResponse({"plainToken": plain, "encryptedToken": _sign(secret, plain)})
    if event == "meeting.participant_joined":
        return JsonResponse({"status": _participant_joined(payload, now)})
    return JsonResponse({"status": "ignored"})
