"""The demo's mail: one readable UTF-8 text file per message (`make demo` → demo-mail/).

The console backend prints each message as MIME (base64 Japanese), which buries the demo's
own output; here every message is a plain text file a newcomer can open.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

_sequence = itertools.count(1)


class DemoMailBackend(BaseEmailBackend):
    """Writes each message, decoded, to `<directory>/<time>-<pid>-<n>.txt`."""

    def __init__(self, *args: object, directory: str = "demo-mail", **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.directory = Path(directory)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        self.directory.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            now = timezone.localtime()
            path = self.directory / f"{now:%Y%m%d-%H%M%S}-{os.getpid()}-{next(_sequence):04d}.txt"
            path.write_text(self.as_text(message, now), encoding="utf-8")
        return len(email_messages)

    @staticmethod
    def as_text(message: EmailMessage, now: datetime) -> str:
        lines = [
            f"Subject: {message.subject}",
            f"From: {message.from_email}",
            f"To: {', '.join(message.to)}",
            f"Date: {now:%Y-%m-%d %H:%M:%S %z}",
        ]
        message_id = message.extra_headers.get("Message-ID")
        if message_id:
            lines.append(f"Message-ID: {message_id}")
        for attachment in message.attachments:
            filename = getattr(attachment, "filename", None)
            if filename is None and isinstance(attachment, tuple):
                filename = attachment[0]
            lines.append(f"Attachment: {filename or '(unnamed)'}")
        return "\n".join(lines) + "\n\n" + message.body.rstrip() + "\n"
