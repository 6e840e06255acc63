"""The production stack as real processes: gunicorn with the shipped config, Debian's nginx
with the shipped site, on a database of their own; and an HTTP client that books through it.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.processes import BASE_DIR, app_env, free_port, pg_execute, stop, wait_for
from tests.seeker_pages import hidden_fields

__all__ = ["BASE_DIR", "app_env", "free_port", "pg_execute", "stop", "wait_for"]

DEPLOY = BASE_DIR / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "hellowork.conf"
GUNICORN_CONF = DEPLOY / "gunicorn.conf.py"
SECRET_KEY = "stack-test-secret-key-not-for-production-0123456789-abcdefghij"


def django_json(env: dict[str, str], code: str) -> object:
    """Run `code` (which sets `result`) in a fresh Django process; `result` as JSON."""
    program = f"import json, django; django.setup()\n{code}\nprint(json.dumps(result))"
    done = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", program],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_gunicorn(env: dict[str, str], port: int, log: Path, workers: int = 2) -> subprocess.Popen:
    """gunicorn with the shipped deploy/gunicorn.conf.py on 127.0.0.1:port."""
    process = subprocess.Popen(  # noqa: S603 - our interpreter and the shipped config
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)],
        cwd=BASE_DIR,
        env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn stopped:\n{log.read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
        except OSError:
            return False
        return True

    wait_for(answers, 60, "gunicorn")
    return process


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None
    )


@dataclass
class Nginx:
    """Debian's nginx running the shipped site, moved to loopback ports and a temp prefix."""

    prefix: Path
    https_port: int
    http_port: int
    process: subprocess.Popen | None = None

    def site(
        self, upstream_port: int | Sequence[int], static_root: Path, cert: Path, key: Path
    ) -> str:
        """The shipped site with only its host-specific values replaced; one upstream line
        per app server."""
        text = NGINX_SITE.read_text()
        ports = [upstream_port] if isinstance(upstream_port, int) else list(upstream_port)
        upstreams = "\n    ".join(f"server 127.0.0.1:{port};" for port in ports)
        replacements = {
            "listen 443 ssl http2;": f"listen 127.0.0.1:{self.https_port} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "listen 80;": f"listen 127.0.0.1:{self.http_port};",
            "listen [::]:80;": "",
            "server 127.0.0.1:8000;": upstreams,
            "/etc/ssl/hellowork/fullchain.pem": str(cert),
            "/etc/ssl/hellowork/privkey.pem": str(key),
            "/srv/hellowork/staticfiles/": f"{static_root}/",
            "/var/log/nginx/hellowork.access.log": str(self.prefix / "access.log"),
            "/var/log/nginx/hellowork.error.log": str(self.prefix / "error.log"),
            "yoyaku.hellowork.example.jp": "localhost",
        }
        for old, new in replacements.items():
            assert old in text, f"the shipped site no longer has {old!r}"
            text = text.replace(old, new)
        return text

    def start(self, upstream_port: int | Sequence[int], static_root: Path) -> None:
        self.prefix.mkdir(parents=True, exist_ok=True)
        cert, key = self.prefix / "cert.pem", self.prefix / "key.pem"
        openssl = shutil.which("openssl")
        assert openssl, "openssl is not installed"
        subprocess.run(  # noqa: S603 - openssl from the system, fixed arguments
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        (self.prefix / "site.conf").write_text(self.site(upstream_port, static_root, cert, key))
        user = "root" if os.geteuid() == 0 else ""
        (self.prefix / "nginx.conf").write_text(
            (f"user {user};\n" if user else "")
            + "worker_processes 1;\n"
            + f"pid {self.prefix}/nginx.pid;\n"
            + f"error_log {self.prefix}/main-error.log warn;\n"
            + "events { worker_connections 256; }\n"
            + "http {\n"
            + "  include /etc/nginx/mime.types;\n"
            + "  default_type application/octet-stream;\n"
            + f"  client_body_temp_path {self.prefix}/body;\n"
            + f"  proxy_temp_path {self.prefix}/proxy;\n"
            + f"  fastcgi_temp_path {self.prefix}/fastcgi;\n"
            + f"  uwsgi_temp_path {self.prefix}/uwsgi;\n"
            + f"  scgi_temp_path {self.prefix}/scgi;\n"
            + f"  include {self.prefix}/site.conf;\n"
            + "}\n"
        )
        nginx = nginx_binary()
        assert nginx, "nginx is not installed (apt-get install nginx-light)"
        command = [nginx, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        subprocess.run([*command, "-t"], check=True, capture_output=True)  # noqa: S603
        self.process = subprocess.Popen(  # noqa: S603 - Debian's nginx, our config
            [*command, "-g", "daemon off;"],
            stdout=(self.prefix / "stdout.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        self.cafile = cert

        def listening() -> bool:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_for(listening, 20, "nginx")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cafile))


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def header(self, name: str) -> str:
        return self.headers.get(name, "")


@dataclass
class Browser:
    """A minimal browser: cookies, forms and same-origin posts over real HTTP(S)."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None
    source_ip: str | None = None
    extra_headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    # Told of every response: method, path, status and seconds taken (a benchmark's clock).
    on_response: Callable[[str, str, int, float], None] | None = None

    @property
    def origin(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        source = (self.source_ip, 0) if self.source_ip else None
        if self.tls is not None:
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=self.tls, source_address=source
            )
        return http.client.HTTPConnection(
            self.host, self.port, timeout=timeout, source_address=source
        )

    def request(
        self,
        method: str,
        path: str,
        data: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> Response:
        conn = self._connection(timeout)
        sent = {"Accept-Language": "ja", **self.extra_headers, **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if data is not None:
            body = urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
            sent["Origin"] = self.origin
            sent["Referer"] = self.origin + path
        started = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=sent)
            raw = conn.getresponse()
            text = raw.read().decode("utf-8", "replace")
        finally:
            conn.close()
        if self.on_response is not None:
            self.on_response(method, path, raw.status, time.perf_counter() - started)
        for value in raw.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return Response(raw.status, raw.headers, text)

    def get(self, path: str, **kwargs: object) -> Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, data: list[tuple[str, str]], **kwargs: object) -> Response:
        return self.request("POST", path, data=data, **kwargs)

    def follow(self, response: Response) -> Response:
        location = response.header("Location")
        assert response.status in (301, 302, 303), (response.status, response.body[:500])
        return self.get(urlsplit(location).path or location)


def answers(slot: str, n: int) -> list[tuple[str, str]]:
    """Valid answers to the request form for person n."""
    pairs = [
        ("slot", slot),
        ("name", f"前橋 次郎{n}"),
        ("seeker_number", f"10040-{3000000 + n}"),
        ("email", f"stack{n}@example.jp"),
        ("phone", ""),
        ("topic", ""),
        ("companion", ""),
        ("companion_language", ""),
        ("platform", "teleoffice"),
        ("environment", "on"),
        ("camera", "on"),
        ("agree_terms", "on"),
    ]
    return pairs


def book_path(office: str | None) -> str:
    """The request form: at the root while one office takes bookings, else under its slug."""
    return f"/o/{office}/book/" if office else "/book/"


class SlotTaken(AssertionError):
    """The confirmation step says the chosen session filled up meanwhile."""


def confirmation(
    browser: Browser, slot: str, n: int, office: str | None = None
) -> list[tuple[str, str]]:
    """Form → confirmation: the hidden fields the confirmation page sends on."""
    form = browser.get(f"{book_path(office)}?slot={slot}")
    assert form.status == 200, form.body[:500]
    carried = [(k, v) for k, v in hidden_fields(form.body) if k != "slot"]
    review = browser.post(book_path(office), [*carried, *answers(slot, n), ("action", "review")])
    assert review.status == 200, review.body[:500]
    if 'name="form_token"' not in review.body and 'href="#id_slot"' in review.body:
        raise SlotTaken(slot)
    assert 'name="form_token"' in review.body, review.body[:3000]
    return hidden_fields(review.body)


def submit(
    browser: Browser, confirmed: list[tuple[str, str]], office: str | None = None
) -> Response:
    return browser.post(book_path(office), [*confirmed, ("action", "submit")])


def reference_on(page: Response) -> str:
    match = re.search(r"data-reference>([^<]+)<", page.body)
    assert match, page.body[:2000]
    return match.group(1).strip()


def open_slots(browser: Browser, days: int = 28, office: str | None = None) -> list[str]:
    """The requestable slots as the form's values (YYYY-MM-DDTHH:MM), soonest first."""
    from datetime import date, timedelta

    today = date.today()
    which = f"&office={office}" if office else ""
    response = browser.get(f"/api/slots/?from={today}&to={today + timedelta(days=days)}{which}")
    assert response.status == 200, response.body
    return [slot["start"][:16] for slot in json.loads(response.body)["slots"]]
