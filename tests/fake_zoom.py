"""A fake Zoom on 127.0.0.1: real HTTP, the OAuth token endpoint and the meetings API.

It keeps meetings in memory, checks bearer tokens, and records every request so tests can
assert exactly what was sent. Faults are scripted per endpoint: answer a status, hang past
the client's timeout, expire the tokens, or stop listening altogether.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

# Endpoint names used to script faults.
TOKEN = "token"
CREATE = "create"
LIST = "list"
GET = "get"
UPDATE = "update"
DELETE = "delete"


@dataclass
class Recorded:
    endpoint: str
    method: str
    path: str
    query: dict
    headers: dict
    body: object


@dataclass
class Fault:
    status: int | None = None  # answer this status instead
    hang: float = 0.0  # wait this long before answering (the client should give up first)
    times: int = 1
    after: bool = False  # do the work first, then hang (the meeting exists, no reply comes)


@dataclass
class FakeZoomState:
    client_id: str = "fake-client-id"
    client_secret: str = "fake-client-secret"
    account_id: str = "fake-account"
    host_id: str = "host-user-id"
    # The account's users (emails or ids) besides "me"; None: every user exists.
    users: set[str] | None = None
    meetings: dict[str, dict] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)


class FakeZoom:
    """Start with `FakeZoom()`, point ZOOM_API_BASE_URL/ZOOM_OAUTH_URL at it, `stop()`."""

    def __init__(self, port: int = 0) -> None:
        self.state = FakeZoomState()
        self._ids = itertools.count(85_000_000_001)
        self._tokens = itertools.count(1)
        handler = type("Handler", (_Handler,), {"zoom": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base_url(self) -> str:
        return f"{self.url}/v2"

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/oauth/token"

    def stop(self) -> None:
        self.state.release.set()  # let hanging handlers finish
        self.server.shutdown()
        self.server.server_close()

    # --- scripting ---------------------------------------------------------------------

    def fail(self, endpoint: str, status: int, times: int = 1) -> None:
        self.state.faults.setdefault(endpoint, []).append(Fault(status=status, times=times))

    def hang(self, endpoint: str, seconds: float, times: int = 1, after: bool = False) -> None:
        self.state.faults.setdefault(endpoint, []).append(
            Fault(hang=seconds, times=times, after=after)
        )

    def expire_tokens(self) -> None:
        """Every token issued so far is now expired (Zoom's tokens last an hour)."""
        with self.state.lock:
            self.state.valid_tokens.clear()

    def calls(self, endpoint: str) -> list[Recorded]:
        return [r for r in self.state.requests if r.endpoint == endpoint]

    def add_meeting(self, *, user: str, start_time: str, duration: int, topic: str) -> str:
        """A meeting made outside the portal (in Zoom's web portal, say)."""
        meeting_id = self.new_meeting_id()
        with self.state.lock:
            self.state.meetings[meeting_id] = {
                "id": int(meeting_id),
                "uuid": f"uuid-{meeting_id}",
                "host_id": self.state.host_id,
                "user": user,
                "topic": topic,
                "type": 2,
                "start_time": start_time,
                "duration": duration,
                "timezone": "Asia/Tokyo",
                "password": "manual",
                "settings": {},
                "join_url": f"https://zoom.example/j/{meeting_id}",
            }
        return meeting_id

    def _take_fault(self, endpoint: str) -> Fault | None:
        with self.state.lock:
            queue = self.state.faults.get(endpoint) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def new_meeting_id(self) -> str:
        return str(next(self._ids))

    def new_token(self) -> str:
        token = f"token-{next(self._tokens)}"
        with self.state.lock:
            self.state.valid_tokens.add(token)
        return token


class _Handler(BaseHTTPRequestHandler):
    zoom: FakeZoom
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # quiet

    def handle(self) -> None:
        # A client that gave up (timeout) or was killed leaves a broken pipe: expected here.
        with contextlib.suppress(ConnectionError):
            super().handle()

    # --- plumbing ------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: object | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        raw = self._read_body()
        endpoint, meeting_id = _endpoint(method, path)
        body: object = raw.decode() if raw else None
        if raw and self.headers.get("Content-Type", "").startswith("application/json"):
            body = json.loads(raw)
        elif raw and endpoint == TOKEN:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        state = self.zoom.state
        with state.lock:
            state.requests.append(
                Recorded(endpoint, method, path, query, dict(self.headers.items()), body)
            )
        if endpoint is None:
            self._send(404, {"code": 404, "message": "Not found"})
            return
        fault = self.zoom._take_fault(endpoint)
        if fault is not None and fault.hang and not fault.after:
            state.release.wait(fault.hang)
        if fault is not None and fault.status is not None:
            self._send(fault.status, {"code": fault.status, "message": "scripted fault"})
            return
        if endpoint == TOKEN:
            status, reply = self._token(body if isinstance(body, dict) else {})
        elif not self._authorised():
            status, reply = 401, {"code": 124, "message": "Invalid access token."}
        else:
            status, reply = getattr(self, f"_{endpoint}")(
                meeting_id, body if isinstance(body, dict) else {}, query
            )
        if fault is not None and fault.hang and fault.after:
            state.release.wait(fault.hang)  # the work is done; the reply never comes in time
        self._send(status, reply)

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        with self.zoom.state.lock:
            return token in self.zoom.state.valid_tokens

    # --- endpoints -----------------------------------------------------------------------

    def _token(self, form: dict) -> tuple[int, dict]:
        state = self.zoom.state
        expected = base64.b64encode(f"{state.client_id}:{state.client_secret}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {expected}":
            return 401, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
        if form.get("grant_type") != "account_credentials" or form.get("account_id") != (
            state.account_id
        ):
            return 400, {"reason": "unsupported grant", "error": "invalid_request"}
        return 200, {
            "access_token": self.zoom.new_token(),
            "token_type": "bearer",
            "expires_in": 3599,
            "scope": "meeting:write:admin",
        }

    def _unknown_user(self, user: str) -> bool:
        users = self.zoom.state.users
        return users is not None and user != "me" and user.lower() not in users

    def _create(self, user: str, body: dict, _query: dict) -> tuple[int, dict]:
        if self._unknown_user(user):
            return 404, {"code": 1001, "message": "User does not exist: ."}
        meeting_id = self.zoom.new_meeting_id()
        passcode = body.get("password") or "zoomcode"
        meeting = {
            "id": int(meeting_id),
            "uuid": f"uuid-{meeting_id}",
            "host_id": self.zoom.state.host_id,
            "user": user,
            "topic": body.get("topic", ""),
            "type": body.get("type"),
            "start_time": body.get("start_time"),
            "duration": body.get("duration"),
            "timezone": body.get("timezone"),
            "password": passcode,
            "settings": body.get("settings", {}),
            "join_url": f"https://zoom.example/j/{meeting_id}?pwd=x{meeting_id}",
        }
        with self.zoom.state.lock:
            self.zoom.state.meetings[meeting_id] = meeting
        return 201, {**meeting, "start_url": f"https://zoom.example/s/{meeting_id}?zak=fresh"}

    def _list(self, user: str, _body: dict, _query: dict) -> tuple[int, dict]:
        if self._unknown_user(user):
            return 404, {"code": 1001, "message": "User does not exist: ."}
        keys = ("id", "uuid", "host_id", "topic", "start_time", "duration", "join_url")
        with self.zoom.state.lock:
            meetings = [
                {k: m[k] for k in keys}
                for m in self.zoom.state.meetings.values()
                if m["user"] == user
            ]
        return 200, {"page_size": 300, "total_records": len(meetings), "meetings": meetings}

    def _get(self, meeting_id: str, _body: dict, _query: dict) -> tuple[int, dict]:
        meeting = self.zoom.state.meetings.get(meeting_id)
        if meeting is None:
            return 404, {"code": 3001, "message": "Meeting does not exist."}
        return 200, {**meeting, "start_url": f"https://zoom.example/s/{meeting_id}?zak=fresh"}

    def _update(self, meeting_id: str, body: dict, _query: dict) -> tuple[int, None]:
        with self.zoom.state.lock:
            meeting = self.zoom.state.meetings.get(meeting_id)
            if meeting is None:
                return 404, {"code": 3001, "message": "Meeting does not exist."}
            for key in ("start_time", "duration", "timezone", "topic"):
                if key in body:
                    meeting[key] = body[key]
        return 204, None

    def _delete(self, meeting_id: str, _body: dict, _query: dict) -> tuple[int, dict | None]:
        with self.zoom.state.lock:
            if self.zoom.state.meetings.pop(meeting_id, None) is None:
                return 404, {"code": 3001, "message": "Meeting does not exist."}
        return 204, None

    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")


def _endpoint(method: str, path: str) -> tuple[str | None, str]:
    parts = [p for p in path.split("/") if p]
    if method == "POST" and parts == ["oauth", "token"]:
        return TOKEN, ""
    if len(parts) == 4 and parts[:2] == ["v2", "users"] and parts[3] == "meetings":
        # The user whose meetings these are stands where a meeting id would.
        endpoint = CREATE if method == "POST" else LIST if method == "GET" else None
        return endpoint, unquote(parts[2])
    if len(parts) == 3 and parts[:2] == ["v2", "meetings"]:
        return {"GET": GET, "PATCH": UPDATE, "DELETE": DELETE}.get(method), parts[2]
    return None, ""
