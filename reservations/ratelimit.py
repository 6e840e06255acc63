"""A small fixed-window rate limiter on the shared cache (CACHE_URL).

The request form is limited per IP address and per 求職番号 so that nobody can flood the
office with requests or probe the 求職番号 space. Counters live in the cache under hashed
keys: no personal data is stored in the cache key or value.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Limit:
    scope: str
    per_hour: int


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: REMOTE_ADDR, or the one our own proxies put in X-Forwarded-For.

    Only the last TRUSTED_PROXY_COUNT entries of X-Forwarded-For were added by proxies we
    run; anything to their left was written by the client and cannot be trusted.
    """
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or None


def _key(scope: str, identity: str, window: int) -> str:
    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"{scope}:{identity}".encode(), hashlib.sha256
    ).hexdigest()[:32]
    return f"ratelimit:{scope}:{digest}:{window}"


def hit(limit: Limit, identity: str, now: datetime) -> bool:
    """Count one attempt; True while the identity is within its hourly limit."""
    if not identity or limit.per_hour <= 0:
        return True
    window = int(now.timestamp()) // WINDOW_SECONDS
    key = _key(limit.scope, identity, window)
    # add() then incr() is atomic on every shared cache backend (Redis, Memcached, locmem).
    cache.add(key, 0, timeout=WINDOW_SECONDS + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add() and incr()
        cache.set(key, 1, timeout=WINDOW_SECONDS + 60)
        count = 1
    return count <= limit.per_hour


def request_limits() -> tuple[Limit, Limit]:
    """The request form's limits, read from settings at call time (tests may override)."""
    return (
        Limit("request-ip", settings.REQUEST_RATE_LIMIT_PER_IP),
        Limit("request-seeker", settings.REQUEST_RATE_LIMIT_PER_SEEKER),
    )


def move_limits() -> tuple[Limit, Limit]:
    """The limits of moving a booking (振替): per IP address and per person, as for requests."""
    return (
        Limit("move-ip", settings.REQUEST_RATE_LIMIT_PER_IP),
        Limit("move-seeker", settings.REQUEST_RATE_LIMIT_PER_SEEKER),
    )
