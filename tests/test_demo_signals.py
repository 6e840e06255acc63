"""`run_demo` started in the background still stops on SIGINT (and stops both children).

A process started in the background by a non-interactive shell inherits SIGINT *ignored*;
Python then installs no KeyboardInterrupt handler, so a command relying on it cannot be
stopped with Ctrl+C's signal. The test starts the demo exactly that way.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import pytest

from tests.processes import BASE_DIR, free_port, wait_for
from tests.test_tasks import _env, worker_database

__all__ = ["worker_database"]  # fixture in use


def _as_if_in_the_background() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_run_demo_started_with_sigint_ignored_stops_on_sigint(worker_database, tmp_path):
    port = free_port()
    log = tmp_path / "demo.log"
    demo = subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", "run_demo", "--port", str(port)],
        cwd=BASE_DIR,
        env=_env(worker_database),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        preexec_fn=_as_if_in_the_background,  # noqa: PLW1509 - the point of the test
    )
    pids: dict[str, int] = {}
    stopped = False
    try:

        def both_started() -> bool:
            lines = log.read_text().splitlines()
            pids.update(
                {
                    line.split(":")[0]: int(line.rsplit(" ", 1)[1])
                    for line in lines
                    if line.startswith(("worker: pid", "server: pid"))
                }
            )
            return len(pids) == 2

        wait_for(both_started, 60, "the worker and the server")
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0, log.read_text()
        stopped = True
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
        if not stopped:
            for pid in pids.values():  # the demo's children, left behind by a failed stop
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
