"""`manage.py run_demo`: the task worker and the development server together.

Both run as child processes, each in its own process group; Ctrl+C (or SIGTERM, or either
child stopping) stops both: first politely (the worker finishes its current task, the
server's autoreloader takes its child with it), then for good. `make demo` runs this after
`migrate` and `seed_demo`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from argparse import ArgumentParser
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from reservations import outbox, selectors, tasks
from reservations.management.commands.seed_demo import demo_summary

STOP_TIMEOUT_SECONDS = 15


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5):  # noqa: S310 - our own local server
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


class Command(BaseCommand):
    help = "Run the task worker and the development server until Ctrl+C."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *, host: str, port: int, **options: object) -> None:
        manage = str(Path(settings.BASE_DIR) / "manage.py")
        commands = []
        if outbox.is_outbox(tasks.send_email):
            commands.append(("worker", [sys.executable, manage, "run_worker"]))
        else:
            self.stdout.write("TASK_BACKEND=immediate: tasks run inline, no worker needed.")
        commands.append(("server", [sys.executable, manage, "runserver", f"{host}:{port}"]))
        if not settings.ZOOM_ACCOUNT_ID:
            self.stdout.write(
                "Zoom is not configured (ZOOM_ACCOUNT_ID…): confirmed Zoom bookings show "
                "the reason to staff and are retried every 10 minutes; TeleOffice works."
            )
        # Both set explicitly: started in the background (`make demo &`, a service manager)
        # the process inherits SIGINT ignored, and Python then installs no handler of its
        # own. The children start with the default disposition, so they stop on SIGINT too.
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
        children: list[tuple[str, subprocess.Popen]] = []
        status = 0
        try:
            for name, command in commands:
                # Our own interpreter and manage.py with fixed arguments: nothing from outside.
                child = subprocess.Popen(command, start_new_session=True)  # noqa: S603
                children.append((name, child))
                self.stdout.write(f"{name}: pid {child.pid}")
            self.stdout.flush()
            base = f"http://{host}:{port}"
            probe_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
            probe = f"http://{probe_host}:{port}/healthz"
            announced = False
            while True:
                if not announced and _answers(probe):
                    announced = True
                    self._announce(base)
                for name, child in children:
                    code = child.poll()
                    if code is not None:
                        self.stderr.write(f"the {name} stopped (exit status {code})")
                        status = 1
                        raise KeyboardInterrupt
                time.sleep(0.5)
        except KeyboardInterrupt:
            if not status:
                self.stdout.write("Stopping the worker and the server…")
        finally:
            self._stop(children)
        if status:
            sys.exit(status)

    def _announce(self, base: str) -> None:
        """Last, once the site answers: the logins, the mail folder and where to go."""
        lines = ["", "=" * 72]
        office = selectors.default_office()
        if office is not None:
            lines += demo_summary(office)
        if settings.DEMO_MAIL_DIR:
            lines.append(
                _("メールは %(folder)s/ に1通ずつテキストファイルで保存されます。")
                % {"folder": settings.DEMO_MAIL_DIR}
            )
        lines += [
            _("求職者のページ: %(url)s") % {"url": f"{base}/"},
            _("職員の管理画面: %(url)s") % {"url": f"{base}/admin/"},
            _("Ctrl+C で終了します。"),
            "=" * 72,
        ]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()

    @staticmethod
    def _signal_group(child: subprocess.Popen, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(child.pid, signum)

    def _stop(self, children: list[tuple[str, subprocess.Popen]]) -> None:
        # SIGINT to each whole group: the worker's graceful stop, runserver's reloader and
        # its server child alike.
        for _name, child in children:
            self._signal_group(child, signal.SIGINT)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for _name, child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._signal_group(child, signal.SIGKILL)
                child.wait()
            # Whatever the group leader left behind (runserver's child) goes with it.
            self._signal_group(child, signal.SIGKILL)
