"""Entries in the shared cache (Redis in production) that hold while a version holds.

A version is a random token under its own key; whatever is worked out from the database is
kept together with the version read *before* the database was, and is used only while that
version is still the current one. A change replaces the version (`replace_version`): at once,
and again once its transaction commits, so that no read in between keeps what it is about to
change. A random token, never a counter: a lost key can never bring old entries back.

The cache is a help, never a need: when it cannot be reached, the answer is worked out from
the database and the change stands.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)


def version(version_key: str) -> str:
    """The current version under `version_key` (a new one if the cache has none)."""
    found = cache.get(version_key)
    if found is None:
        cache.add(version_key, secrets.token_hex(8), timeout=None)
        found = cache.get(version_key)
    return str(found)


def _replace(version_key: str) -> None:
    try:
        cache.set(version_key, secrets.token_hex(8), timeout=None)
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        # What was kept expires within its timeout.
        logger.warning("%s: the cache could not be told of a change", version_key)


def replace_version(version_key: str) -> None:
    """Every entry kept under `version_key` is stale from now on: now, for later reads in this
    transaction (and in tests, whose transaction never commits), and again once it commits."""
    _replace(version_key)
    transaction.on_commit(lambda: _replace(version_key))


def kept[T](
    version_key: str | None,
    key: str,
    work_out: Callable[[], T],
    *,
    timeout: int,
    what: str,
    keep_none: bool = True,
) -> T:
    """What `work_out()` gives, from the cache under `key` while `version_key`'s version is the
    one it was worked out for; else worked out and kept for at most `timeout` seconds (a None
    only with `keep_none`: not for a key anyone can make up). Without a `version_key`, the key
    itself names all the entry depends on. `what` names it in the log (never anything
    personal)."""
    try:
        # The entry names the version it was worked out for: both are read in one round trip.
        found = cache.get_many([version_key, key] if version_key else [key])
        current = found.get(version_key) if version_key else ""
        if current is None:
            current = version(version_key)
    except Exception:  # noqa: BLE001 - no cache: work it out, as without one
        logger.warning("%s: the cache could not be read", what)
        return work_out()
    entry = found.get(key)
    if entry is not None and entry[0] == str(current):
        return entry[1]
    value = work_out()
    if value is None and not keep_none:
        return value
    try:
        cache.set(key, (str(current), value), timeout=timeout)
    except Exception:  # noqa: BLE001
        logger.warning("%s: the cache could not be written", what)
    return value


# --- The offices' rows and their published terms -------------------------------------------
#
# Every page reads which office it is for and that office's terms (reservations/offices.py);
# for a GET, both are kept under this one version, which any change of an office or of a
# terms version replaces: a save, a delete and a queryset update (the models' signals and
# querysets call `offices_changed`). Only a change made in SQL behind the application's back
# waits for the entries' timeout.
OFFICES_VERSION_KEY = "offices:version"


def offices_changed(**_signal: object) -> None:
    """An office or a terms version changed: pages read them afresh from now on."""
    replace_version(OFFICES_VERSION_KEY)
