"""Helpers for the seeker page tests: a fixed calendar, valid answers, the two-step submit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from tests.conftest import tokyo

# Monday 21 December 2026, 10:00 in Tokyo. The week after holds open days (22–25), the
# year-end closure (29 Dec – 3 Jan) and, within the 28-day horizon, 成人の日 (11 Jan 2027).
NOW = tokyo(2026, 12, 21, 10)
OPEN_SLOT = "2026-12-24T10:00"  # Thursday, requestable
OPEN_SLOT_2 = "2026-12-24T14:00"
TODAY_SLOT = "2026-12-21T14:00"  # past its cut-off (17:00 on Friday 18th)
HOLIDAY_SLOT = "2027-01-11T10:00"  # 成人の日
YEAR_END_SLOT = "2026-12-30T10:00"
SATURDAY_SLOT = "2026-12-26T10:00"
BEYOND_HORIZON_SLOT = "2027-02-01T10:00"


def answers(terms_version_id: int, **overrides: object) -> dict:
    """A complete, valid set of answers to the request form."""
    data: dict = {
        "slot": OPEN_SLOT,
        "name": "山田 太郎",
        "seeker_number": "10040-1234567",
        "email": "taro@example.jp",
        "phone": "090-1234-5678",
        "topic": "事務の仕事を探しています",
        "companion": "",
        "companion_language": "",
        "platform": "zoom",
        "environment": "on",
        "camera": "on",
        "agree_terms": "on",
        "terms_version": str(terms_version_id),
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


class _FormInputs(HTMLParser):
    """The hidden inputs of the form that holds a submit button with name=action."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[list[tuple[str, str]]] = []
        self._current: list[tuple[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        if tag == "form":
            self._current = []
        elif tag == "input" and self._current is not None and self._carries(attributes):
            self._current.append((attributes["name"], attributes.get("value", "")))

    @staticmethod
    def _carries(attributes: dict[str, str]) -> bool:
        kind = attributes.get("type")
        return kind == "hidden" or (kind == "radio" and "checked" in attributes)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._current is not None:
            self.forms.append(self._current)
            self._current = None


def chosen_slot(html: str) -> tuple[str, str] | None:
    """The session the request form carries: (its value, the words shown), or None."""
    match = re.search(
        r'<input type="hidden" name="slot"(?: value="([^"]*)")?>'
        r'<output class="chosen-slot" id="id_slot"[^>]*>([^<]*)</output>',
        html,
    )
    return (match.group(1) or "", match.group(2)) if match else None


def hidden_fields(html: str) -> list[tuple[str, str]]:
    """The hidden (and checked radio) inputs of the last form on the page."""
    parser = _FormInputs()
    parser.feed(html)
    return parser.forms[-1]


def as_post(pairs: list[tuple[str, str]], **extra: str) -> dict:
    """Pairs of a form as the test client's POST data (repeated names become lists)."""
    data: dict = {}
    for name, value in pairs:
        if name == "csrfmiddlewaretoken":
            continue
        data.setdefault(name, []).append(value)
    data.update({key: [value] for key, value in extra.items()})
    return data


def review(client, data: dict):  # noqa: ANN001, ANN201 - test client and response
    """Step 1 → step 2: post the answers for the confirmation page."""
    return client.post("/book/", {**data, "action": "review"})


def submit(client, data: dict):  # noqa: ANN001, ANN201
    """Steps 1–3 as a browser does them: review, then send what the confirmation carries."""
    confirmation = review(client, data)
    assert confirmation.status_code == 200
    html = confirmation.content.decode()
    assert 'name="form_token"' in html, "the answers did not reach the confirmation step"
    return client.post("/book/", as_post(hidden_fields(html), action="submit"))
