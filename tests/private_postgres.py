"""A PostgreSQL server of the test's own, in a temporary directory, that it may stop at will.

Outage drills must never touch the shared server: this one is made with `initdb` from the
installed PostgreSQL (`/usr/lib/postgresql/<version>/bin/`), listens on a free port on
127.0.0.1 only, and is removed afterwards. PostgreSQL refuses to run as root, so when the
tests run as root the cluster belongs to (and runs as) the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed")
    return found[-1]  # the newest version


def available() -> bool:
    try:
        _bin("initdb")
    except FileNotFoundError:
        return False
    return os.geteuid() != 0 or _postgres_user() is not None


def _postgres_user() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


class PrivateCluster:
    """`start()`, `stop()` (immediate: a crash), `url(db)`; `remove()` when done."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="hellowork-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.owner = _postgres_user() if os.geteuid() == 0 else None
        if self.owner is not None:
            os.chown(self.root, self.owner.pw_uid, self.owner.pw_gid)
        self._run(
            _bin("initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        )

    def _run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        if self.owner is not None:
            command = ("runuser", "-u", self.owner.pw_name, "--", *command)
        return subprocess.run(  # noqa: S603 - fixed PostgreSQL binaries, our arguments
            command, check=check, capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            # No fsync (the machine does not crash, only the server): commits survive an
            # immediate stop, as they would in production.
            "-c fsync=off"
        )
        self._run(
            _bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run(_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg2

        conn = psycopg2.connect(
            dbname="postgres", user="postgres", host="127.0.0.1", port=self.port
        )
        try:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def wait_ready(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if (
                self._run(
                    _bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), check=False
                ).returncode
                == 0
            ):
                return
            time.sleep(0.2)
        raise TimeoutError("the private PostgreSQL did not come up")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
