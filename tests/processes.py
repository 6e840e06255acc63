"""Running the portal's own processes in tests: workers, servers, one-off Django programs.

The test's own database lives inside this process's transaction (or in memory for SQLite),
where no other process can see it, so these tests give their processes a database of
their own and talk to them over real connections.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
# Settings of the developer's shell that must not leak into a process under test.
_NOT_INHERITED = ("ZOOM_", "EMAIL_", "TASK_", "DJANGO_", "CACHE_", "METRICS_")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pg_execute(url: str, statement: str) -> None:
    """Run a statement outside any transaction on the server's maintenance database."""
    import psycopg2

    parts = urlsplit(url)
    conn = psycopg2.connect(
        dbname="postgres",
        user=parts.username or "postgres",
        password=parts.password or None,
        host=parts.hostname,
        port=parts.port or 5432,
    )
    try:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment of an app process: the test database, rows for tasks, no mail out."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(_NOT_INHERITED)}
    env.update(
        DJANGO_SETTINGS_MODULE="hellowork.settings_test",
        DATABASE_URL=database_url,
        TASK_BACKEND="database",
        EMAIL_URL="dummymail://",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    """Migrate the database that `env` names."""
    subprocess.run(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )


def run_in_process(env: dict[str, str], module: str, function: str, *args: str) -> dict:
    """Call `module.function(*args)` in a fresh Django process; the JSON it printed last."""
    code = f"import sys, django; django.setup(); import {module} as m; m.{function}(*sys.argv[1:])"
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code, *args],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_worker(env: dict[str, str], worker_id: str, log: Path) -> subprocess.Popen:
    """`manage.py run_worker` without periodic jobs, polling fast, writing to `log`."""
    return subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [
            sys.executable,
            "manage.py",
            "run_worker",
            "--no-periodic",
            "--interval",
            "0.2",
            "--worker-id",
            worker_id,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
