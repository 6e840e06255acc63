"""Zoom meetings through zoomus 1.2.1 (Server-to-Server OAuth), with its traps made safe.

Each trap of zoomus is handled here and has a test in tests/test_zoom.py:

- `ZoomClient()` requests a token in its constructor, without a timeout: the client is made
  lazily on first use (never at import), and without zoomus's constructor.
- Tokens expire after an hour and zoomus never refreshes them: refreshed shortly before they
  expire, and on a 401 the call is retried once with a fresh token.
- The token request has no timeout and the meeting component ignores the client's
  `timeout` (it is built with zoomus's default): our own token request has one, the
  components get ours, and every operation runs against a deadline, so nothing waits
  longer than ZOOM_TIMEOUT.
- Aware datetimes are written with a literal "Z" without conversion: converted to UTC first.
- Raw responses, no exception on HTTP errors, and the daily limit answers HTTP 300: each
  status is checked against the one expected (201, 204, 200).
- A create that timed out may still have made the meeting: callers record the attempt
  before asking and reconcile with `find()` before asking again (see `meetings.sync`).

Nothing personal goes to Zoom: the topic carries the office and the booking reference.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from urllib3.exceptions import NewConnectionError
from zoomus import ZoomClient, util
from zoomus.client import COMPONENT_CLASSES

from reservations.meetings.base import (
    Meeting,
    MeetingError,
    MeetingNotConfigured,
    MeetingTimeout,
    MeetingUnknownOutcome,
)
from reservations.rules import MeetingProblem

# Zoom allows passcodes of up to 10 characters; letters and digits satisfy the usual
# account policies, and unambiguous characters are easy to read on a phone.
PASSCODE_LENGTH = 8
_PASSCODE_LETTERS = "abcdefghjkmnpqrstuvwxyz"
_PASSCODE_DIGITS = "23456789"
# Zoom's own daily limit resets at midnight UTC; an hour between tries is plenty.
DAILY_LIMIT_RETRY_SECONDS = 3600.0
# Zoom's code for "User does not exist" (a host that is not a user of the account).
USER_NOT_FOUND_CODE = "1001"
# Refresh a token this long before Zoom says it expires.
TOKEN_MARGIN_SECONDS = 60.0


@dataclass(frozen=True)
class ZoomConfig:
    """The Zoom account and endpoints, read from settings when a call is made."""

    account_id: str
    client_id: str
    client_secret: str
    host_user: str
    api_base_url: str
    oauth_url: str
    timeout: float

    @classmethod
    def from_settings(cls) -> ZoomConfig:
        return cls(
            account_id=settings.ZOOM_ACCOUNT_ID,
            client_id=settings.ZOOM_CLIENT_ID,
            client_secret=settings.ZOOM_CLIENT_SECRET,
            host_user=settings.ZOOM_HOST_USER or "me",
            api_base_url=settings.ZOOM_API_BASE_URL.rstrip("/"),
            oauth_url=settings.ZOOM_OAUTH_URL,
            timeout=float(settings.ZOOM_TIMEOUT),
        )

    @property
    def configured(self) -> bool:
        return bool(self.account_id and self.client_id and self.client_secret)

    @property
    def socket_timeout(self) -> int:
        """Per-request timeout: zoomus accepts whole seconds only."""
        return max(1, math.ceil(self.timeout))

    @property
    def settle_seconds(self) -> float:
        """How long after it began an operation can still reach Zoom.

        The deadline, plus the one request that may be under way when it passes (connect
        and answer, each bounded by the socket timeout); no further request starts after.
        """
        return self.timeout + 2 * self.socket_timeout + 1


class _Client(ZoomClient):
    """zoomus's client, built without its constructor's unbounded token request."""

    def __init__(self, zoom: ZoomConfig) -> None:  # noqa: D107 - zoomus's __init__ is skipped
        util.ApiClient.__init__(self, base_uri=zoom.api_base_url, timeout=zoom.socket_timeout)
        self.zoom = zoom
        self.token_expires_at = 0.0
        self.config = {
            "client_id": zoom.client_id,
            "client_secret": zoom.client_secret,
            "api_account_id": zoom.account_id,
            "data_type": "json",
            "version": util.API_VERSION_2,
            "base_uri": zoom.api_base_url,
            "oauth_uri": zoom.oauth_url,
            "token": None,
        }
        # zoomus builds its components with its own default timeout; give them ours.
        self.components = {
            key: component(
                base_uri=zoom.api_base_url, config=self.config, timeout=zoom.socket_timeout
            )
            for key, component in COMPONENT_CLASSES[util.API_VERSION_2].items()
        }

    @property
    def token_stale(self) -> bool:
        return self.config["token"] is None or time.monotonic() >= self.token_expires_at

    def refresh_token(self) -> None:
        """Ask Zoom for an account token, with a timeout (zoomus's request has none)."""
        response = requests.post(
            self.zoom.oauth_url,
            data={"grant_type": "account_credentials", "account_id": self.zoom.account_id},
            auth=(self.zoom.client_id, self.zoom.client_secret),
            timeout=self.zoom.socket_timeout,
        )
        token = None
        if response.status_code == 200:
            body = response.json()
            token = body.get("access_token")
        if not token:
            raise MeetingError(
                _("Zoom の認証に失敗しました（トークン取得: HTTP %(status)s）。")
                % {"status": response.status_code},
                problem=MeetingProblem.AUTH_FAILED,
            )
        self.config["token"] = token
        self.token_expires_at = (
            time.monotonic() + float(body.get("expires_in", 3600)) - TOKEN_MARGIN_SECONDS
        )


_clients: dict[ZoomConfig, _Client] = {}
_clients_lock = threading.Lock()


def _client_for(zoom: ZoomConfig) -> _Client:
    with _clients_lock:
        client = _clients.get(zoom)
        if client is None:
            client = _clients[zoom] = _Client(zoom)
        return client


def _timeout_error(seconds: float) -> MeetingTimeout:
    return MeetingTimeout(
        _("Zoom から %(seconds)s 秒以内に応答がありませんでした。") % {"seconds": f"{seconds:g}"}
    )


def _within[T](seconds: float, work: Callable[[threading.Event], T]) -> T:
    """Run `work` but give up after `seconds`: no caller, least of all a page, may hang.

    The abandoned thread ends by itself: every socket it uses has a timeout, and `work`
    checks the event it is given before each request, so it starts none after the deadline.
    """
    outcome: dict[str, object] = {}
    done = threading.Event()
    abandoned = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work(abandoned)
        except BaseException as exc:  # handed over to the caller below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="zoom-request", daemon=True).start()
    if not done.wait(seconds):
        abandoned.set()
        raise _timeout_error(seconds)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _never_sent(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _error_for(response: requests.Response, action: str) -> MeetingError:
    status = response.status_code
    if status == 300:
        # Zoom answers its daily create/update limit with HTTP 300, not an error status.
        return MeetingError(
            _("Zoom の1日あたりの会議作成・変更の上限に達しました（%(action)s）。")
            % {"action": action},
            retry_after=DAILY_LIMIT_RETRY_SECONDS,
            problem=MeetingProblem.DAILY_LIMIT,
        )
    if status == 401:
        return MeetingError(
            _("Zoom の認証に失敗しました（%(action)s）。") % {"action": action},
            problem=MeetingProblem.AUTH_FAILED,
        )
    if status == 429:
        retry_after = response.headers.get("Retry-After", "")
        return MeetingError(
            _("Zoom の利用回数の制限に達しました（%(action)s）。") % {"action": action},
            retry_after=float(retry_after) if retry_after.isdigit() else 60.0,
            problem=MeetingProblem.RATE_LIMITED,
        )
    code = ""
    with contextlib.suppress(ValueError, AttributeError):
        code = str(response.json().get("code", ""))
    if status == 404 and code == USER_NOT_FOUND_CODE:
        # The host named in the path is not a user of the account (a typo, a user removed).
        return MeetingError(
            _(
                "主催するZoomユーザーがこのアカウントにありません"
                "（%(action)s: HTTP 404 %(code)s）。相談員のZoomユーザーの設定を確認してください。"
            )
            % {"action": action, "code": code},
            problem=MeetingProblem.HOST_NOT_FOUND,
        )
    return MeetingError(
        _("Zoom がエラーを返しました（%(action)s: HTTP %(status)s %(code)s）。")
        % {"action": action, "status": status, "code": code}
    )


def new_passcode() -> str:
    """A meeting passcode with letters and digits (Zoom allows up to 10 characters)."""
    while True:
        code = "".join(
            secrets.choice(_PASSCODE_LETTERS + _PASSCODE_DIGITS) for _ in range(PASSCODE_LENGTH)
        )
        if any(c in string.digits for c in code) and any(c.isalpha() for c in code):
            return code


def _utc(moment: datetime) -> datetime:
    """zoomus writes `%Y-%m-%dT%H:%M:%SZ` without converting: hand it UTC."""
    if moment.tzinfo is None:
        raise ValueError("an aware datetime is required")
    return moment.astimezone(UTC)


def _meeting_from(body: dict) -> Meeting:
    start = body.get("start_time")
    return Meeting(
        meeting_id=str(body["id"]),
        join_url=body.get("join_url", ""),
        passcode=body.get("password", ""),
        topic=body.get("topic", ""),
        start_time=datetime.fromisoformat(start.replace("Z", "+00:00")) if start else None,
        start_url=body.get("start_url", ""),
        minutes=body.get("duration"),
    )


class ZoomProvider:
    """Scheduled Zoom meetings for sessions, one per confirmed booking."""

    creates_meetings = True

    def __init__(self, zoom: ZoomConfig | None = None) -> None:
        self.zoom = zoom or ZoomConfig.from_settings()

    @property
    def configured(self) -> bool:
        return self.zoom.configured

    def _send(self, request: Callable[[_Client], requests.Response]) -> requests.Response:
        if not self.configured:
            raise MeetingNotConfigured(
                _(
                    "Zoom の接続設定（ZOOM_ACCOUNT_ID・ZOOM_CLIENT_ID・ZOOM_CLIENT_SECRET）が"
                    "ありません。設定されると自動で再試行します。"
                )
            )
        zoom = self.zoom

        def work(abandoned: threading.Event) -> requests.Response:
            def go[R](step: Callable[[], R]) -> R:
                if abandoned.is_set():
                    raise _timeout_error(zoom.timeout)
                return step()

            client = _client_for(zoom)
            try:
                if client.token_stale:
                    go(client.refresh_token)
                response = go(lambda: request(client))
                if response.status_code == 401:
                    # The token expired (after an hour) or was revoked: one fresh try.
                    go(client.refresh_token)
                    response = go(lambda: request(client))
                return response
            except requests.Timeout as exc:
                if isinstance(exc, requests.ConnectTimeout):
                    raise MeetingError(
                        _("Zoom に接続できませんでした（接続の時間切れ）。"),
                        problem=MeetingProblem.UNREACHABLE,
                    ) from None
                raise MeetingTimeout(
                    _("Zoom から %(seconds)s 秒以内に応答がありませんでした。")
                    % {"seconds": zoom.socket_timeout}
                ) from None
            except requests.ConnectionError as exc:
                if _never_sent(exc):
                    raise MeetingError(
                        _("Zoom に接続できませんでした。"), problem=MeetingProblem.UNREACHABLE
                    ) from None
                raise MeetingUnknownOutcome(_("Zoom との通信が途中で切れました。")) from None

        return _within(zoom.timeout, work)

    def create(
        self, *, topic: str, start: datetime, minutes: int, passcode: str, host: str = ""
    ) -> Meeting:
        """Schedule a meeting (type 2) under `host` (default ZOOM_HOST_USER) with waiting
        room on and recording off (Art. 12(2))."""
        response = self._send(
            lambda client: client.meeting.create(
                user_id=host or self.zoom.host_user,
                topic=topic,
                type=2,
                start_time=_utc(start),
                duration=minutes,
                timezone="Asia/Tokyo",
                password=passcode,
                settings={
                    "waiting_room": True,
                    "join_before_host": False,
                    # Art. 12(2): sessions are never recorded.
                    "auto_recording": "none",
                    "approval_type": 2,
                },
            )
        )
        if response.status_code != 201:
            raise _error_for(response, _("会議の作成"))
        meeting = _meeting_from(response.json())
        if not meeting.passcode:
            meeting = Meeting(**{**meeting.__dict__, "passcode": passcode})
        return meeting

    def update(self, *, meeting_id: str, start: datetime, minutes: int) -> None:
        """Move a meeting to the booking's new time."""
        response = self._send(
            lambda client: client.meeting.update(
                id=meeting_id, start_time=_utc(start), duration=minutes, timezone="Asia/Tokyo"
            )
        )
        if response.status_code != 204:
            raise _error_for(response, _("会議の日時の変更"))

    def delete(self, *, meeting_id: str) -> bool:
        """Delete a meeting; False when Zoom no longer has it (404 is as good as done)."""
        response = self._send(lambda client: client.meeting.delete(id=meeting_id))
        if response.status_code == 404:
            return False
        if response.status_code != 204:
            raise _error_for(response, _("会議の削除"))
        return True

    def get(self, *, meeting_id: str) -> Meeting:
        """The meeting as Zoom has it now, with a fresh start URL for the host."""
        response = self._send(lambda client: client.meeting.get(id=meeting_id))
        if response.status_code == 404:
            raise MeetingError(
                _("Zoom にこの会議がありません（削除された可能性があります）。"),
                problem=MeetingProblem.MEETING_MISSING,
            )
        if response.status_code != 200:
            raise _error_for(response, _("会議の取得"))
        return _meeting_from(response.json())

    def find(self, *, reference: str, host: str = "") -> list[Meeting]:
        """The host's scheduled meetings whose topic carries this booking reference."""
        return [m for m in self.scheduled(host=host) if reference in m.topic]

    def scheduled(self, *, host: str = "") -> list[Meeting]:
        """Every scheduled meeting of `host` (default ZOOM_HOST_USER), with its duration."""
        found: list[Meeting] = []
        page_token = ""
        for _page in range(20):
            params: dict[str, object] = {
                "user_id": host or self.zoom.host_user,
                "type": "scheduled",
                "page_size": 300,
            }
            if page_token:
                params["next_page_token"] = page_token
            response = self._send(lambda client, p=params: client.meeting.list(**p))
            if response.status_code != 200:
                raise _error_for(response, _("会議の一覧"))
            body = response.json()
            found.extend(_meeting_from(item) for item in body.get("meetings", []))
            page_token = body.get("next_page_token") or ""
            if not page_token:
                break
        return found

    def start_url(self, *, meeting_id: str, join_url: str) -> str:
        """A fresh start URL (it expires, so it is never stored)."""
        url = self.get(meeting_id=meeting_id).start_url
        if not url:
            raise MeetingError(_("Zoom が開始用URLを返しませんでした。"))
        return url
