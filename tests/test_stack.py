"""The shipped production stack, run for real: Debian's nginx with deploy/nginx/hellowork.conf
in front of gunicorn with deploy/gunicorn.conf.py, two gunicorn instances on one Redis, all
on a database of their own that every process can reach.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import IS_POSTGRES
from tests.stack import (
    BASE_DIR,
    SECRET_KEY,
    Browser,
    Nginx,
    app_env,
    confirmation,
    django_json,
    free_port,
    nginx_binary,
    open_slots,
    pg_execute,
    reference_on,
    start_gunicorn,
    stop,
    submit,
)

pytestmark = pytest.mark.stack

REDIS_URL = "redis://127.0.0.1:6379/12"  # two app servers share it
PROXIED_REDIS_URL = "redis://127.0.0.1:6379/13"  # the app server behind nginx


@pytest.fixture(scope="module")
def stack_database(tmp_path_factory) -> Iterator[str]:
    """A migrated database of its own: the test's own lives where no other process sees it."""
    if IS_POSTGRES:
        url = os.environ["DATABASE_URL"]
        name = f"{urlsplit(url).path.lstrip('/')}_stack"
        stack_url = url.rsplit("/", 1)[0] + f"/{name}"
        pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_execute(url, f'CREATE DATABASE "{name}"')
    else:
        stack_url = f"sqlite:///{tmp_path_factory.mktemp('stack') / 'stack.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=app_env(stack_url),
        check=True,
        timeout=300,
        capture_output=True,
    )
    yield stack_url
    if IS_POSTGRES:
        pg_execute(os.environ["DATABASE_URL"], f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def production_env(database_url: str, static_root: Path, site_url: str, **extra: str) -> dict:
    """Production settings (DEBUG off, hashed static files, HTTPS only) as the env file has."""
    return app_env(
        database_url,
        DJANGO_SETTINGS_MODULE="hellowork.settings",
        DEBUG="0",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="localhost",
        SITE_URL=site_url,
        STATIC_ROOT=str(static_root),
        TRUSTED_PROXY_COUNT="1",
        CACHE_URL=PROXIED_REDIS_URL,
        **extra,
    )


def _tokens(env: dict, references: list[str]) -> dict[str, str]:
    code = (
        "from reservations.models import Reservation\n"
        f"result = dict(Reservation.objects.filter(reference__in={references!r})"
        ".values_list('reference', 'token'))"
    )
    return django_json(env, code)


def _consent_ips(env: dict, references: list[str]) -> dict[str, str]:
    code = (
        "from consent.models import Consent\n"
        f"result = {{c.reservation.reference: c.ip_address for c in Consent.objects"
        f".filter(reservation__reference__in={references!r}).select_related('reservation')}}"
    )
    return django_json(env, code)


class SlowBody:
    """A client that sends its headers, promises 100,000 bytes and trickles them."""

    # A same-origin form post with a CSRF cookie: Django must read the body to check the
    # token, so a worker that got this request would wait for every byte.
    def __init__(self, port: int, tls, stop: threading.Event) -> None:  # noqa: ANN001
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
        origin = f"https://localhost:{port}".encode()
        self.sock.sendall(
            b"POST /book/ HTTP/1.1\r\nHost: localhost\r\n"
            b"Origin: " + origin + b"\r\nReferer: " + origin + b"/book/\r\n"
            b"Cookie: csrftoken=" + b"a" * 32 + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100000\r\n\r\nslot="
        )
        self.stop = stop
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self) -> None:
        while not self.stop.wait(0.3):
            try:
                self.sock.sendall(b"x")
            except OSError:
                return

    def close(self) -> None:
        self.thread.join(2)
        self.sock.close()


@pytest.mark.skipif(
    not nginx_binary() and not os.environ.get("CI"), reason="nginx is not installed"
)
def test_nginx_in_front_of_gunicorn_books_sees_the_real_client_and_shields_workers(
    stack_database, tmp_path
):
    import redis

    redis.Redis.from_url(PROXIED_REDIS_URL).flushdb()
    nginx = Nginx(tmp_path / "nginx", https_port=free_port(), http_port=free_port())
    app_port = free_port()
    static_root = tmp_path / "static"
    env = production_env(
        stack_database,
        static_root,
        f"https://localhost:{nginx.https_port}",
        REQUEST_RATE_LIMIT_PER_IP="3",
        METRICS_ALLOWED_IPS="127.0.0.1",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=300,
        capture_output=True,
    )
    app_log = tmp_path / "gunicorn.log"
    app = start_gunicorn(env, app_port, app_log, workers=2)
    stop_trickle = threading.Event()
    slow: list[SlowBody] = []
    try:
        nginx.start(app_port, static_root)
        # The client connects from 127.0.0.2 and claims to be someone else.
        browser = Browser(
            "localhost",
            nginx.https_port,
            tls=nginx.tls(),
            source_ip="127.0.0.2",
            extra_headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "http"},
        )
        # Plain HTTP is sent to HTTPS.
        plain = Browser("localhost", nginx.http_port).get("/")
        assert plain.status == 301
        assert plain.header("Location").startswith("https://localhost")

        slots = open_slots(browser)
        assert len(slots) >= 4

        # Monitoring through nginx: ready; /metrics is for 127.0.0.1 (nginx's own address,
        # as gunicorn sees it) only, so a client elsewhere must not get it.
        ready = browser.get("/readyz")
        assert ready.status == 200, ready.body
        assert browser.get("/metrics").status == 404
        local = Browser("localhost", nginx.https_port, tls=nginx.tls(), source_ip="127.0.0.1")
        assert local.get("/metrics").status == 200

        # 1. A booking through nginx: form → confirmation → send → done.
        sent = submit(browser, confirmation(browser, slots[0], 1))
        assert sent.status == 302, sent.body[:1000]
        done = browser.follow(sent)
        assert done.status == 200
        references = [reference_on(done)]
        # SECURE_SSL_REDIRECT is on: no redirect means Django saw nginx's
        # X-Forwarded-Proto: https, not the client's forged "http".

        # 2. Two more, each claiming a different address: the limit (3 an hour here)
        # counts them all against the one real address, and the 4th is refused.
        for n in (2, 3):
            browser.extra_headers["X-Forwarded-For"] = f"198.51.100.{n}"
            references.append(
                reference_on(
                    browser.follow(submit(browser, confirmation(browser, slots[n - 1], n)))
                )
            )
        browser.extra_headers["X-Forwarded-For"] = "198.51.100.4"
        refused = submit(browser, confirmation(browser, slots[3], 4))
        assert refused.status == 429

        # The consent record keeps the real address, not the forged one, not nginx's.
        assert _consent_ips(env, references) == dict.fromkeys(references, "127.0.0.2")

        # 3. Static files come from nginx with long cache headers, not from a worker.
        stylesheet = next(
            part.split('"')[0]
            for part in done.body.split('href="')[1:]
            if part.startswith("/static/") and ".css" in part.split('"')[0]
        )
        static = browser.get(stylesheet)
        assert static.status == 200
        assert "immutable" in static.header("Cache-Control")
        assert "max-age=31536000" in static.header("Cache-Control")

        # 4. A private link, also as a referer, never reaches either access log.
        token = _tokens(env, references[:1])[references[0]]
        page = browser.get(f"/r/{token}/", headers={"Referer": f"{browser.origin}/r/{token}/"})
        assert page.status == 200
        missing = browser.get(f"/r/{token}x/cancel/")
        assert missing.status == 404

        # 5. Eight clients trickling request bodies hold nginx, not the two workers.
        slow = [SlowBody(nginx.https_port, nginx.tls(), stop_trickle) for _ in range(8)]
        time.sleep(1.0)  # long enough for any of them to have reached a worker
        probe_times = []
        for _ in range(5):
            started = time.monotonic()
            probe = browser.get("/", timeout=5)
            probe_times.append(time.monotonic() - started)
            assert probe.status == 200
        assert max(probe_times) < 1.0, probe_times
        print(f"probe under 8 slow clients: max {max(probe_times) * 1000:.0f} ms")
    finally:
        stop_trickle.set()
        for client in slow:
            client.close()
        nginx.stop()
        stop(app)

    app_lines = app_log.read_text()
    nginx_lines = (nginx.prefix / "access.log").read_text()
    for log in (app_lines, nginx_lines):
        assert token not in log
        assert "/r/[token]/" in log
    assert f"{browser.origin}/r/[token]/" in app_lines  # the referer, masked
    assert "/static/" not in app_lines  # served by nginx alone
    assert "127.0.0.2" not in app_lines + nginx_lines  # no client address in the logs
    assert "203.0.113.66" not in app_lines + nginx_lines


def test_two_app_servers_on_one_redis_share_the_rate_limit_and_the_one_time_token(
    stack_database, tmp_path
):
    import redis

    shared = redis.Redis.from_url(REDIS_URL)
    shared.flushdb()
    env = app_env(stack_database, CACHE_URL=REDIS_URL, TRUSTED_PROXY_COUNT="0")
    ports = (free_port(), free_port())
    servers = []
    try:
        for index, port in enumerate(ports):
            servers.append(start_gunicorn(env, port, tmp_path / f"app{index}.log", workers=1))
        one, other = (Browser("127.0.0.1", port) for port in ports)
        other.cookies = one.cookies  # one browser, two app servers (as a load balancer does)
        slots = open_slots(one)
        assert len(slots) >= 22

        # A confirmation sent on one server and again on the other books once.
        confirmed = confirmation(one, slots[0], 100)
        first = submit(one, confirmed)
        assert first.status == 302, first.body[:1000]
        reference = reference_on(one.follow(first))
        again = submit(other, confirmed)
        assert again.status == 302
        assert reference_on(other.follow(again)) == reference
        count = django_json(
            env,
            "from reservations.models import Reservation\n"
            "result = Reservation.objects.filter(email='stack100@example.jp').count()",
        )
        assert count == 1

        # 20 requests an hour from one address across both servers; the 21st is refused.
        shared.flushdb()
        statuses = []
        for n in range(21):
            browser = (one, other)[n % 2]
            statuses.append(submit(browser, confirmation(browser, slots[n + 1], 200 + n)).status)
        assert statuses == [302] * 20 + [429], statuses
    finally:
        for server in servers:
            stop(server)
        shared.flushdb()
