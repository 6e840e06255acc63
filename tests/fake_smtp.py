"""A small SMTP server on 127.0.0.1 that keeps what it receives: a real SMTP conversation.

`SMTPServer.reserve()` picks a port without listening on it, so a client first meets
"connection refused" (the mail server is down); `start()` then brings the server up on that
same port (it recovered).
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import socket
import socketserver
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())
        self.wfile.flush()

    def handle(self) -> None:
        # The client may go away (or be killed) mid-conversation.
        with contextlib.suppress(OSError):
            self._converse()

    def _converse(self) -> None:
        with self.server.lock:
            self.server.connections += 1
            stall = self.server.stalls.pop(0) if self.server.stalls else 0.0
        if stall:
            # A mail server that accepts the connection and then says nothing.
            self.server.release.wait(stall)
            return
        self._reply("220 fake-smtp ready")
        mail_from = ""
        rcpt_to: list[str] = []
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self._reply("250-fake-smtp")
                self._reply("250-8BITMIME")
                self._reply("250-SMTPUTF8")
                self._reply("250 SIZE 10485760")
            elif verb == "HELO":
                self._reply("250 fake-smtp")
            elif verb == "MAIL":
                mail_from = line.split(":", 1)[1].strip().split(" ")[0].strip("<>")
                rcpt_to = []
                self._reply("250 OK")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip().split(" ")[0].strip("<>")
                refusal = self.server.refusals.get(address)
                if refusal:
                    self._reply(refusal)
                    continue
                rcpt_to.append(address)
                self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                lines = []
                while True:
                    chunk = self.rfile.readline()
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                if self.server.owner.slow_seconds:
                    # A slow mail server: it takes its time before accepting each message.
                    time.sleep(self.server.owner.slow_seconds)
                with self.server.lock:
                    self.server.received.append(Received(mail_from, rcpt_to, b"".join(lines)))
                self._reply("250 OK queued")
            elif verb == "RSET":
                mail_from, rcpt_to = "", []
                self._reply("250 OK")
            elif verb == "NOOP":
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, owner: SMTPServer) -> None:
        self.received = owner.received
        self.lock = owner.lock
        self.stalls = owner.stalls
        self.release = owner.release
        self.refusals = owner.refusals
        self.owner = owner
        self.connections = 0
        super().__init__(("127.0.0.1", owner.port), _Handler)


class SMTPServer:
    """A fake mail server; `received` lists every accepted message."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stalls: list[float] = []
        self.release = threading.Event()
        # Recipient → the reply its RCPT gets, e.g. "550 5.1.1 No such user".
        self.refusals: dict[str, str] = {}
        # Seconds each message waits before its "250 OK" (a slow server).
        self.slow_seconds = 0.0
        self._server: _Server | None = None

    @classmethod
    def reserve(cls) -> SMTPServer:
        """A server for a free port, not yet listening (connections are refused)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        return cls(port)

    def stall_next(self, seconds: float) -> None:
        """The next connection is accepted and then gets no greeting for `seconds`."""
        with self.lock:
            self.stalls.append(seconds)

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Answer `RCPT TO:<address>` with `reply` (a 5xx for good, a 4xx for now)."""
        self.refusals[address] = reply

    def accept(self, address: str) -> None:
        """Take mail for `address` again."""
        self.refusals.pop(address, None)

    @property
    def connections(self) -> int:
        return self._server.connections if self._server is not None else 0

    def start(self) -> SMTPServer:
        self.release.clear()
        self._server = _Server(self)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return [r.message for r in self.received]
