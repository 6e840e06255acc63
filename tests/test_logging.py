"""Private links are credentials: their tokens never reach the logs (rule 15)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from reservations.log_filters import PrivateLinkFilter, mask_private_links

TOKEN = "Kr4u7ZKgBj6ZRlfgOuZlGh_ZHONxynvKJw_Pg71N1es"


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the portal's console handler writes, for the length of a test."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, PrivateLinkFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_mask_private_links() -> None:
    assert mask_private_links(f"Not Found: /r/{TOKEN}/cancel/") == "Not Found: /r/[token]/cancel/"
    assert mask_private_links("/api/slots/?from=2026-12-01") == "/api/slots/?from=2026-12-01"


@pytest.mark.django_db
def test_a_failed_request_to_a_private_link_logs_no_token(client, console) -> None:
    # A POST without the CSRF token is refused (403) and logged by Django.
    client.handler.enforce_csrf_checks = True
    response = client.post(f"/r/{TOKEN}/cancel/", {})
    assert response.status_code == 403
    client.get(f"/r/{TOKEN}/")  # unknown token: 404, logged as "Not Found"
    written = console.getvalue()
    assert "/r/[token]/" in written
    assert TOKEN not in written


def test_the_filter_masks_dict_arguments_too() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "%(path)s", None, None)
    record.args = {"path": f"/r/{TOKEN}/"}
    PrivateLinkFilter().filter(record)
    assert record.getMessage() == "/r/[token]/"
