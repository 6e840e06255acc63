"""Monitoring endpoints: `/healthz` (the process answers), `/readyz`, `/metrics`."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is alive and answers; touches neither the database nor the cache."""
    return JsonResponse({"status": "ok"})
