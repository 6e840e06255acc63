"""Keep private booking links and calendar feeds out of the logs.

Django's request logger writes the path of every 4xx/5xx response; a private link's token
is a credential (whoever has it can cancel the booking), and so is a counselor's calendar
feed's (whoever has it reads their sessions), so both are masked before any handler sees
them (rule 15).
"""

from __future__ import annotations

import logging
import re

_PRIVATE_LINK = re.compile(r"/r/[A-Za-z0-9_-]{8,}")
MASK = "/r/[token]"
_CALENDAR_FEED = re.compile(r"/staff/calendar/[A-Za-z0-9_-]{8,}")
CALENDAR_MASK = "/staff/calendar/[token]"


def mask_private_links(text: str) -> str:
    """The text with every `/r/<token>` replaced by `/r/[token]`, and every calendar feed's
    `/staff/calendar/<token>` by `/staff/calendar/[token]`."""
    return _CALENDAR_FEED.sub(CALENDAR_MASK, _PRIVATE_LINK.sub(MASK, text))


class PrivateLinkFilter(logging.Filter):
    """A logging filter that masks private-link tokens in the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_private_links(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_private_links(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: mask_private_links(value) if isinstance(value, str) else value
                for key, value in record.args.items()
            }
        return True
