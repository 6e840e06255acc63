"""HTTP benchmark of the shipped app server: gunicorn with deploy/gunicorn.conf.py.

    bench/http.sh [--seconds 5] [--connections 8] [--workers 2] [--rounds 3]

It migrates and seeds a throwaway database (SQLite, or `bench_http` next to DATABASE_URL on
PostgreSQL), starts gunicorn with the shipped config, and measures with `wrk` (Debian's
package; a bounded Python client if wrk is missing) the GET endpoints `/`, `/slots/`,
`/api/slots/` (one day and one week) and `/book/?slot=…`, and with a Python client the whole
booking (form → confirmation → send → done page). Each figure is divided by the same client's
figure for `/healthz`, which touches neither the database nor the cache, measured just before
it: the hello-world baseline of this stack on this machine at that moment.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hellowork.settings_test")

import django  # noqa: E402

django.setup()

from tests import stack  # noqa: E402

# Both can be moved aside when several people share one machine.
BENCH_REDIS = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/13")
BENCH_DATABASE = os.environ.get("BENCH_DATABASE", "bench_http")


def database(workdir: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if "postgres" in url:
        bench_url = url.rsplit("/", 1)[0] + f"/{BENCH_DATABASE}"
        stack.pg_execute(url, f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        stack.pg_execute(url, f'CREATE DATABASE "{BENCH_DATABASE}"')
        return bench_url
    return f"sqlite:///{workdir / 'bench.sqlite3'}"


def seed(env: dict[str, str]) -> None:
    def manage(*args: str, **extra: str) -> None:
        subprocess.run(  # noqa: S603 - our interpreter and manage.py
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env={**env, **extra},
            check=True,
            capture_output=True,
        )

    manage("migrate", "--noinput", "-v", "0")
    manage("seed_demo", "-v", "0", DEBUG="1")
    # Room for every booking the run makes: 200 places per session.
    stack.django_json(
        env,
        "from reservations.models import SessionWindow\n"
        "result = SessionWindow.objects.update(capacity=200)",
    )


def wrk(url: str, seconds: int, connections: int) -> float:
    done = subprocess.run(  # noqa: S603 - Debian's wrk, fixed arguments
        [shutil.which("wrk") or "wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", done.stdout)
    if errors:
        raise SystemExit(f"{url}: {errors.group(1)} error responses\n{done.stdout}")
    return float(match.group(1))


def python_rate(action, seconds: int, connections: int) -> float:  # noqa: ANN001
    """Calls of action() per second from `connections` threads, each a browser of its own."""
    counts = [0] * connections
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    serial = {"n": 0}

    def run(index: int) -> None:
        while time.monotonic() < deadline:
            with lock:
                serial["n"] += 1
                n = serial["n"]
            action(n)
            counts[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    url = database(workdir)
    env = stack.app_env(
        url,
        REQUEST_RATE_LIMIT_PER_IP="0",
        REQUEST_RATE_LIMIT_PER_SEEKER="0",
        LOG_LEVEL="WARNING",
        CACHE_URL=BENCH_REDIS,
    )
    try:
        import redis

        redis.Redis.from_url(BENCH_REDIS).flushdb()
    except Exception:  # noqa: BLE001 - no Redis: per-process cache
        env["CACHE_URL"] = "locmemcache://"
    seed(env)
    port = stack.free_port()
    server = stack.start_gunicorn(env, port, workdir / "gunicorn.log", workers=options.workers)
    try:
        base = f"http://127.0.0.1:{port}"
        browser = stack.Browser("127.0.0.1", port)
        slots = stack.open_slots(browser)
        day = slots[0][:10]
        week_end = (date.fromisoformat(day) + timedelta(days=6)).isoformat()
        gets = {
            "/": "/",
            "/slots/": "/slots/",
            "/api/slots/ (one day)": f"/api/slots/?from={day}&to={day}",
            "/api/slots/ (one week)": f"/api/slots/?from={day}&to={week_end}",
            "/book/?slot=…": f"/book/?slot={slots[0]}",
        }
        tool = "wrk" if shutil.which("wrk") else "python"

        def measure(path: str) -> float:
            if tool == "wrk":
                return wrk(base + path, options.seconds, options.connections)

            def get(_n: int) -> None:
                assert stack.Browser("127.0.0.1", port).get(path).status == 200

            return python_rate(get, options.seconds, options.connections)

        def hello(_n: int) -> None:
            assert stack.Browser("127.0.0.1", port).get("/healthz").status == 200

        def book(n: int) -> None:
            client = stack.Browser("127.0.0.1", port)
            slot = slots[n % len(slots)]
            sent = stack.submit(client, stack.confirmation(client, slot, 10_000 + n))
            assert sent.status == 302, sent.status
            assert client.follow(sent).status == 200

        # Each figure is divided by the hello figure measured just before it with the same
        # client, so that a machine shared with other work compares like with like; over
        # several rounds, the median of each.
        measured: dict[str, list[tuple[float, float]]] = {name: [] for name in gets}
        for _round in range(options.rounds):
            for name, path in gets.items():
                hello_rate = measure("/healthz")
                measured[name].append((measure(path), hello_rate))
        rows: list[tuple[str, str, float, float, float]] = []
        for name, pairs in measured.items():
            rows.append(
                (
                    name,
                    tool,
                    statistics.median(rate for rate, _hello in pairs),
                    statistics.median(hello for _rate, hello in pairs),
                    statistics.median(rate / hello for rate, hello in pairs),
                )
            )
        hello_rate = python_rate(hello, options.seconds, options.connections)
        bookings = python_rate(book, options.seconds, options.connections)
        booking = "booking: form→confirm→send→done"
        rows.append((booking, "python", bookings, hello_rate, bookings / hello_rate))
    finally:
        stack.stop(server)
        if "postgres" in url:
            stack.pg_execute(
                os.environ["DATABASE_URL"],
                f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)',
            )
        shutil.rmtree(workdir, ignore_errors=True)

    engine = "PostgreSQL" if "postgres" in url else "SQLite"
    print(
        f"gunicorn (deploy/gunicorn.conf.py), {options.workers} sync workers, {engine}, "
        f"cache {urlsplit(env['CACHE_URL']).scheme}, {options.connections} connections, "
        f"{options.seconds} s each, median of {options.rounds} rounds for the GET endpoints"
    )
    print(f"| {'endpoint':<34} | {'client':<6} | {'req/s':>8} | {'hello':>8} | {'÷ hello':>7} |")
    print(f"|{'-' * 36}|{'-' * 8}|{'-' * 10}|{'-' * 10}|{'-' * 9}|")
    for name, tool, rate, hello_rate, ratio in rows:
        unit = "bookings/s" if name.startswith("booking") else ""
        print(
            f"| {name:<34} | {tool:<6} | {rate:>8.1f} | {hello_rate:>8.1f} | {ratio:>7.3f} | {unit}"
        )


if __name__ == "__main__":
    main()
