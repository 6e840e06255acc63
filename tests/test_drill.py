"""Outage drill: the database crashes while the worker is sending mail, and comes back.

A private PostgreSQL (tests/private_postgres.py, never the shared server) is stopped with
`pg_ctl -m immediate` (a crash) while a real worker process talks to a slow SMTP server,
and started again some seconds later. The worker must live through it, log one line for the
outage (no traceback per poll), reconnect by itself and deliver every email. Runs once in
CI, on the PostgreSQL run (it needs PostgreSQL's binaries, not the suite's database).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests import private_postgres
from tests.conftest import IS_POSTGRES
from tests.fake_smtp import SMTPServer
from tests.processes import (
    BASE_DIR,
    free_port,
    migrate,
    run_in_process,
    start_worker,
    wait_for,
)
from tests.test_tasks import _env

pytestmark = [
    pytest.mark.drill,
    pytest.mark.skipif(not IS_POSTGRES, reason="the drill runs once, on the PostgreSQL run"),
    pytest.mark.skipif(not private_postgres.available(), reason="no PostgreSQL binaries"),
]

BOOKINGS = 5  # a request received and a confirmation each: 10 emails
OUTAGE_SECONDS = 15
SMTP_SECONDS_PER_MESSAGE = 1.5


@pytest.fixture
def private_cluster() -> Iterator[private_postgres.PrivateCluster]:
    cluster = private_postgres.PrivateCluster()
    try:
        cluster.start()
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.remove()


def migrated(cluster: private_postgres.PrivateCluster, name: str) -> str:
    url = cluster.create_database(name)
    migrate(_env(url))
    return url


def scenario_queue(count: str) -> None:
    """(In a subprocess.) `count` TeleOffice bookings, requested and confirmed."""
    import contextlib
    import io

    from tests.test_tasks import scenario_book

    ids = []
    for index in range(int(count)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            scenario_book(str(index), "teleoffice")
        ids.append(json.loads(out.getvalue())["id"])
    from reservations.models import OutgoingEmail

    print(
        json.dumps(
            {"message_ids": list(OutgoingEmail.objects.values_list("message_id", flat=True))}
        )
    )


def test_the_worker_survives_a_database_crash_mid_send(private_cluster, tmp_path):
    url = migrated(private_cluster, "drill")
    smtp = SMTPServer.reserve().start()
    smtp.slow_seconds = SMTP_SECONDS_PER_MESSAGE
    env = _env(
        url, EMAIL_URL=f"smtp://127.0.0.1:{smtp.port}", EMAIL_TIMEOUT="10", CONN_MAX_AGE="60"
    )
    expected = set(
        run_in_process(env, "tests.test_drill", "scenario_queue", str(BOOKINGS))["message_ids"]
    )
    assert len(expected) == 2 * BOOKINGS
    log = tmp_path / "worker.log"
    worker = start_worker(env, "worker-drill", log)
    try:
        wait_for(lambda: len(smtp.received) >= 2, 60, "the first emails")
        # Mid-send: the worker is waiting for the slow server's 250 for the next message.
        wait_for(lambda: smtp.connections > len(smtp.received), 10, "a send in progress")
        private_cluster.stop("immediate")
        crashed_at = time.monotonic()
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, "the worker died during the outage:\n" + log.read_text()
        private_cluster.start()
        back_at = time.monotonic()

        def recovered() -> bool:
            return "database available again" in log.read_text()

        wait_for(recovered, 30, "the worker to reconnect")
        recovered_in = time.monotonic() - back_at
        delivered = {m["Message-ID"] for m in smtp.messages}
        wait_for(lambda: {m["Message-ID"] for m in smtp.messages} >= expected, 60, "every email")
        delivered_in = time.monotonic() - back_at
        assert worker.poll() is None
        worker.terminate()
        assert worker.wait(15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        smtp.stop()
    text = log.read_text()
    received = [m["Message-ID"] for m in smtp.messages]
    assert set(received) == expected  # every email arrived…
    assert len(received) == len(expected)  # …once: the one in flight was recorded, not resent
    assert text.count("database unavailable") == 1, text  # one line for the outage
    assert "Traceback" not in text, text
    assert delivered <= expected
    print(
        f"drill: outage {back_at - crashed_at:.1f}s; worker reconnected {recovered_in:.1f}s "
        f"after PostgreSQL returned; all {len(expected)} emails delivered "
        f"{delivered_in:.1f}s after; {len(received) - len(expected)} duplicate(s)"
    )


# --- The site during the outage -------------------------------------------------------------


def _server(env: dict[str, str], port: int, log) -> subprocess.Popen:  # noqa: ANN001
    return subprocess.Popen(  # noqa: S603 - our interpreter and manage.py
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def test_the_site_answers_503_during_a_database_outage(private_cluster, tmp_path):
    import http.cookiejar
    import re
    import urllib.error
    import urllib.parse
    import urllib.request

    url = migrated(private_cluster, "outage")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    server = _server(_env(url, CONN_MAX_AGE="60"), port, log)
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def fetch(path: str, data: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(
            base + path, data=body, headers={"Referer": base + "/book/"}
        )
        try:
            with browser.open(request, timeout=10) as response:  # noqa: S310 - our local server
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode()
        except OSError:
            return 0, {}, ""

    try:
        wait_for(lambda: fetch("/")[0] == 200, 60, "the server")
        status, _headers, form_page = fetch("/book/")
        assert status == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form_page).group(1)
        private_cluster.stop("immediate")

        status, headers, body = fetch("/api/slots/?from=2026-12-01&to=2026-12-10")
        assert status == 503 and headers["Retry-After"] == "30"
        assert headers["Content-Type"].startswith("application/json") and "error" in json.loads(
            body
        )

        # Home was read before the outage: the office, its terms and its availability are in
        # the cache, so it still answers. A page that needs the database says why it cannot.
        assert fetch("/")[0] == 200
        status, headers, body = fetch("/terms/")
        assert status == 503 and headers["Retry-After"] == "30"
        assert "ただいま表示できません" in body

        typed = {
            "csrfmiddlewaretoken": token,
            "action": "review",
            "name": "山田 太郎",
            "email": "taro@example.jp",
            "topic": "事務の仕事を探しています",
        }
        status, headers, body = fetch("/book/", typed)
        assert status == 503 and headers["Retry-After"] == "30"
        assert "申込みはまだ送信されていません" in body
        for value in ("山田 太郎", "taro@example.jp", "事務の仕事を探しています"):
            assert f'value="{value}"' in body  # what the person typed, ready to send again

        private_cluster.start()
        private_cluster.wait_ready()
        wait_for(lambda: fetch("/terms/")[0] == 200, 30, "the site to recover")
    finally:
        server.terminate()
        server.wait(15)
    text = log.read_text()
    assert "Traceback" not in text, text
    assert text.count("answered 503") == 3, text
