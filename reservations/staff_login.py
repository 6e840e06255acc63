"""The staff login throttle around django-axes: one client address, locks nobody can abuse.

- The client address is `ratelimit.client_ip` everywhere (axes included), so behind our
  proxies a forged X-Forwarded-For names the forger's own address, not a counselor's.
- axes locks a (username, address) pair after AXES_FAILURE_LIMIT failures for an hour: a
  stranger elsewhere cannot lock a counselor out, and one address cannot guess on.
- Spread attacks (many addresses, few guesses each) and one address trying many names are
  slowed here instead of locked: past LOGIN_USERNAME_FREE_FAILURES failures for a name from
  anywhere (or LOGIN_ADDRESS_FREE_FAILURES from one address), each further attempt must
  wait a delay that doubles up to LOGIN_MAX_DELAY_SECONDS. An address from which the user
  has signed in before is exempt from the name's delay, so a stranger's failures never
  keep the counselor at their own desk waiting.
Counts come from axes' own records (no second store), which expire after the cool-off.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from reservations import ratelimit

USERNAME_MAX = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).max_length


def client_ip(request: HttpRequest) -> str:
    """AXES_CLIENT_IP_CALLABLE: the same client address as the rest of the site."""
    return ratelimit.client_ip(request) or ""


def username(request: HttpRequest, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: what was typed, cut to the longest username there can be.

    A longer one is nobody's; cut, it still counts against itself, and it fits axes'
    column (an overlong one failed the insert with a database error).
    """
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    raw = (credentials or {}).get(field) if credentials else None
    if raw is None:
        raw = request.POST.get(field)
    return str(raw)[:USERNAME_MAX] if raw is not None else None


def _delay(failures: int, free: int) -> int:
    """Seconds to wait after the last failure, once `free` failures are used up."""
    if failures < free:
        return 0
    return int(min(settings.LOGIN_MAX_DELAY_SECONDS, 30 * 2 ** (failures - free)))


def wait_seconds(*, name: str | None, address: str) -> int:
    """How long this attempt must still wait (0: go ahead)."""
    from axes.models import AccessAttempt, AccessLog

    now = timezone.now()
    since = now - timedelta(hours=settings.AXES_COOLOFF_TIME)
    recent = AccessAttempt.objects.filter(attempt_time__gte=since)
    waits = [0]
    checks = [(recent.filter(ip_address=address), settings.LOGIN_ADDRESS_FREE_FAILURES)]
    known_here = (
        name
        and AccessLog.objects.filter(
            username=name, ip_address=address, attempt_time__gte=now - timedelta(days=90)
        ).exists()
    )
    if name and not known_here:
        checks.append((recent.filter(username=name), settings.LOGIN_USERNAME_FREE_FAILURES))
    for attempts, free in checks:
        totals = attempts.aggregate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        delay = _delay(totals["failures"] or 0, free)
        if delay and totals["last"] is not None:
            waits.append(int((totals["last"] + timedelta(seconds=delay) - now).total_seconds()) + 1)
    return max(waits)


class LoginDelayBackend:
    """First in AUTHENTICATION_BACKENDS: refuses an attempt made before its delay is over.

    The attempt is marked as axes' own lockout, so axes does not count it (the real user
    trying again does not make things worse) and its middleware answers with `lockout`.
    """

    def authenticate(self, request: HttpRequest | None, **credentials: object) -> None:
        if request is None or not settings.AXES_ENABLED:
            return None
        wait = wait_seconds(name=username(request, credentials), address=client_ip(request))
        if wait > 0:
            request.login_wait_seconds = wait  # type: ignore[attr-defined]
            request.axes_locked_out = True  # type: ignore[attr-defined]
            raise PermissionDenied
        return None

    # No get_user(): this backend never signs anyone in (and Django's test client picks
    # the first backend that has one for force_login).


def lockout(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the staff-facing page, in Japanese, with how long to wait."""
    wait = getattr(request, "login_wait_seconds", None)
    return render(
        request,
        "admin/lockout.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "wait_minutes": max(1, -(-wait // 60)) if wait else None,
            "title": "",
        },
        status=429,
    )
