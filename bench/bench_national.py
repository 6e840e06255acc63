"""A national day's load in compressed time, through the production stack.

    DATABASE_URL=postgres://… .venv/bin/python bench/bench_national.py \
        [--database bench_national] [--offices 540] [--days 730] [--per-slot 5] \
        [--bookings 8000] [--reads-per-booking 20] [--clients 16] [--max-seconds 1800] \
        [--compare-offices 1] [--reuse]

Debian's nginx with the shipped site (deploy/nginx/hellowork.conf, moved to loopback) in
front of two gunicorn app servers (deploy/gunicorn.conf.py), on PostgreSQL and one Redis
(BENCH_CACHE_URL, default db 14). The database is seeded by bench/seed_national.py (or
reused with --reuse). A bounded client (--clients threads, each request a fresh
connection) makes --bookings whole bookings (form → confirmation → send → done) spread at
random over the offices, mixed with --reads-per-booking times as many availability reads
(the one-day API, an office's week, an office's home), and stops at --max-seconds. The
emails the bookings queued are then sent by two `manage.py run_worker` processes to a
local SMTP server (tests/fake_smtp.py).

It prints, per office count (--compare-offices runs the same load on a database of that
many offices first): overbookings (active bookings per slot against the slot's places,
which must be 0), 5xx answers (must be 0), p50/p99 per endpoint, bookings/s, the workers'
emails/s, and the resident memory of every app server worker and task worker after the
load with its growth since the start.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hellowork.settings_test")

import django  # noqa: E402
import psycopg2  # noqa: E402
import redis  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from reservations import rules, selectors  # noqa: E402
from reservations.models import Office  # noqa: E402
from tests import stack  # noqa: E402
from tests.fake_smtp import SMTPServer  # noqa: E402
from tests.processes import run_in_process, start_worker  # noqa: E402

BENCH_REDIS = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/14")
DEFAULT_DATABASE = os.environ.get("BENCH_DATABASE", "bench_national")
# Open sessions an office offers over its horizon (28 days, 8 a day on weekdays), at least.
SESSIONS_IN_HORIZON = 140
ENDPOINTS = ("api one day", "week", "home", "api 28 days", "form", "review", "submit", "done")


# --- In a process of its own, on the benchmark's database ---------------------------


def print_overbooked() -> None:
    """Slots holding more active bookings than their places (rule 4), as JSON."""
    now = timezone.now()
    today = now.astimezone(rules.TOKYO).date()
    over = active = 0
    for office in Office.objects.all():
        last = today + timedelta(days=office.horizon_days + 7)
        office_rules = selectors.office_rules(office, today, last)
        places = {s.start: s.capacity for s in rules.slots_between(today, last, office_rules)}
        for start, held in selectors.booked_counts(office, today, last).items():
            active += held
            over += held > places.get(start, 0)
    print(json.dumps({"overbooked_slots": over, "active_bookings": active}))


# --- Processes ------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """A process's resident memory (VmRSS) in MB, None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else None


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Memory:
    """Resident memory of processes sampled while they run, per process."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def sample(self, processes: dict[str, int]) -> None:
        for name, pid in processes.items():
            size = rss_mb(pid)
            if size is not None:
                self.samples[name].append(size)

    @property
    def last(self) -> dict[str, float]:
        return {name: sizes[-1] for name, sizes in self.samples.items()}

    def growth(self) -> dict[str, float]:
        """From the sample halfway through a process's life (warmed up) to its last."""
        return {name: sizes[-1] - sizes[len(sizes) // 2] for name, sizes in self.samples.items()}

    def growth_from_start(self) -> dict[str, float]:
        return {name: sizes[-1] - sizes[0] for name, sizes in self.samples.items()}


class Sampler(threading.Thread):
    """Samples the processes `which()` names every `seconds` until stopped."""

    def __init__(self, which, memory: Memory, seconds: float = 2.0) -> None:  # noqa: ANN001
        super().__init__(daemon=True)
        self.which = which
        self.memory = memory
        self.seconds = seconds
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.memory.sample(self.which())
            self.done.wait(self.seconds)

    def stop(self) -> None:
        self.memory.sample(self.which())
        self.done.set()
        self.join()


def app_workers(servers: list[subprocess.Popen]) -> dict[str, int]:
    """Every gunicorn worker of every app server, named server/pid."""
    return {
        f"app {index + 1} worker {pid}": pid
        for index, server in enumerate(servers)
        for pid in children(server.pid)
    }


# --- The load ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What the client saw, shared by its threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def record(self, method: str, path: str, status: int, seconds: float) -> None:
        name = endpoint(method, path)
        with self.lock:
            self.times[name].append(seconds)
            self.statuses[status // 100 * 100] += 1

    def outcome(self, what: str, error: str | None = None) -> None:
        with self.lock:
            self.outcomes[what] += 1
            if error is not None and len(self.errors) < 10:
                self.errors.append(error)


def endpoint(method: str, path: str) -> str:
    parts = urlsplit(path)
    if parts.path == "/api/slots/":
        query = parse_qs(parts.query)
        return "api one day" if query.get("from") == query.get("to") else "api 28 days"
    if parts.path.endswith("/book/"):
        if method == "GET":
            return "form"
        return "submit" if _step.submitting else "review"
    if parts.path.endswith("/book/done/"):
        return "done"
    if parts.path.endswith("/slots/"):
        return "week"
    return "home"


class _Step(threading.local):
    """Which of a booking's two posts to /book/ a thread is sending."""

    submitting = False


_step = _Step()


def page_error(body: str) -> str:
    """The first error a page shows, as text."""
    match = re.search(r'class="[^"]*error[^"]*"[^>]*>(.*?)</', body, re.DOTALL)
    text = match.group(1) if match else body[:300]
    return re.sub(r"<[^>]+>|\s+", " ", text).strip()[:200]


class Load:
    """Bookings and reads spread at random over the offices, by a bounded set of threads."""

    def __init__(self, port: int, tls, offices: list[str], options) -> None:  # noqa: ANN001
        self.port = port
        self.tls = tls
        self.offices = offices
        self.options = options
        self.tally = Tally()
        self.slots: dict[str, list[str]] = {}
        self.slots_lock = threading.Lock()
        rng = random.Random(540)  # noqa: S311 - a benchmark's mix, not security
        reads = ("api one day", "week", "home")
        jobs = [("book", rng.choice(offices)) for _ in range(options.bookings)]
        jobs += [
            (rng.choice(reads), rng.choice(offices))
            for _ in range(options.bookings * options.reads_per_booking)
        ]
        rng.shuffle(jobs)
        # People new to the database, even when it is reused: a serial of this run's own.
        first = (int(time.time()) // 60 % 400) * 200_000
        self.jobs = iter(enumerate(jobs, start=first))
        self.jobs_lock = threading.Lock()
        self.days = [date.today() + timedelta(days=n) for n in range(1, 29)]
        self.rng = rng

    def browser(self) -> stack.Browser:
        return stack.Browser("localhost", self.port, tls=self.tls, on_response=self.tally.record)

    def open_slots(self, office: str) -> list[str]:
        with self.slots_lock:
            known = self.slots.get(office)
        if known is None:
            known = stack.open_slots(self.browser(), office=office)
            with self.slots_lock:
                self.slots[office] = known
        return known

    def book(self, n: int, office: str) -> None:
        slots = self.open_slots(office)
        if not slots:
            self.tally.outcome("no slot offered")
            return
        browser = self.browser()
        slot = slots[n % len(slots)]
        try:
            confirmed = stack.confirmation(browser, slot, n, office=office)
        except stack.SlotTaken:
            self.tally.outcome("refused (slot full)")
            return
        _step.submitting = True
        try:
            sent = stack.submit(browser, confirmed, office=office)
        finally:
            _step.submitting = False
        if sent.status != 302:
            self.tally.outcome(
                "refused (slot full)" if sent.status == 200 else "failed",
                f"{office} {slot}: {sent.status} {page_error(sent.body)}",
            )
            return
        done = browser.follow(sent)
        self.tally.outcome("booked" if done.status == 200 else "failed")

    def read(self, kind: str, office: str) -> None:
        if kind == "api one day":
            day = self.rng.choice(self.days)
            path = f"/api/slots/?from={day}&to={day}&office={office}"
        elif kind == "week":
            path = f"/o/{office}/slots/"
        else:
            path = f"/o/{office}/"
        status = self.browser().get(path).status
        self.tally.outcome("read" if status == 200 else f"read {status}")

    def worker(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            with self.jobs_lock:
                job = next(self.jobs, None)
            if job is None:
                return
            n, (kind, office) = job
            try:
                if kind == "book":
                    self.book(n, office)
                else:
                    self.read(kind, office)
            except (AssertionError, OSError) as error:
                self.tally.outcome("failed", f"{kind} {office}: {page_error(str(error))}")

    def run(self) -> float:
        deadline = time.monotonic() + self.options.max_seconds
        threads = [
            threading.Thread(target=self.worker, args=(deadline,))
            for _ in range(self.options.clients)
        ]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.monotonic() - started


# --- One run ------------------------------------------------------------------------------


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def database_url(name: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if "postgres" not in url:
        raise SystemExit("bench_national needs PostgreSQL: set DATABASE_URL=postgres://…")
    return url.rsplit("/", 1)[0] + f"/{name}"


def seed(name: str, offices: int, options) -> None:  # noqa: ANN001
    subprocess.run(  # noqa: S603 - our interpreter and our seed script
        [
            sys.executable,
            str(ROOT / "bench" / "seed_national.py"),
            f"--database={name}",
            f"--offices={offices}",
            f"--days={options.days}",
            f"--per-slot={options.per_slot}",
            f"--jobs={options.jobs}",
        ],
        cwd=ROOT,
        check=True,
    )


def sql(url: str, statement: str, params: tuple = ()) -> list[tuple]:
    """One statement on the benchmark's database, committed; its rows."""
    with closing(psycopg2.connect(url)) as conn, conn, conn.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def seeded(name: str) -> bool:
    """Whether the database `name` exists and has offices."""
    try:
        return sql(database_url(name), "SELECT count(*) FROM reservations_office")[0][0] > 0
    except psycopg2.Error:
        return False


def run(name: str, offices: int, options) -> dict[str, object]:  # noqa: ANN001, PLR0915
    """Seed (unless reused), start the stack, run the load, drain the emails, measure."""
    if not (options.reuse and seeded(name)):
        seed(name, offices, options)
    url = database_url(name)
    workdir = Path(tempfile.mkdtemp(prefix="bench-national-"))
    nginx = stack.Nginx(
        workdir / "nginx", https_port=stack.free_port(), http_port=stack.free_port()
    )
    env = stack.app_env(
        url,
        SITE_URL=f"https://localhost:{nginx.https_port}",
        ALLOWED_HOSTS="localhost",
        TRUSTED_PROXY_COUNT="1",
        CACHE_URL=BENCH_REDIS,
        REQUEST_RATE_LIMIT_PER_IP="0",
        REQUEST_RATE_LIMIT_PER_SEEKER="0",
        LOG_LEVEL="WARNING",
    )
    query = "SELECT slug FROM reservations_office WHERE accepting_bookings ORDER BY id"
    slugs = [row[0] for row in sql(url, query)]
    # Room for the day's bookings: twice an office's share of them, at least.
    places = max(
        options.per_slot, math.ceil(2 * options.bookings / (len(slugs) * SESSIONS_IN_HORIZON))
    )
    sql(url, "UPDATE reservations_sessionwindow SET capacity = %s", (places,))
    redis.Redis.from_url(BENCH_REDIS).flushdb()
    servers: list[subprocess.Popen] = []
    workers: list[subprocess.Popen] = []
    smtp = None
    app_memory, worker_memory = Memory(), Memory()
    try:
        ports = [stack.free_port() for _ in range(options.app_servers)]
        for index, port in enumerate(ports):
            servers.append(
                stack.start_gunicorn(
                    env, port, workdir / f"app{index}.log", workers=options.web_workers
                )
            )
        static_root = workdir / "static"
        static_root.mkdir()
        nginx.start(ports, static_root)
        say(f"{len(slugs)} offices: the stack is up; the load starts")
        load = Load(nginx.https_port, nginx.tls(), slugs, options)
        sampler = Sampler(lambda: app_workers(servers), app_memory)
        sampler.start()
        seconds = load.run()
        sampler.stop()
        workers_replaced = len(app_memory.samples) - len(app_workers(servers))

        say(f"load done in {seconds:.0f} s; two task workers send the emails")
        # The emails the day's bookings queued, sent by two task workers.
        query = "SELECT count(*) FROM reservations_outgoingemail WHERE status = 'queued'"
        to_send = sql(url, query)[0][0]
        smtp = SMTPServer.reserve().start()
        mail_env = {**env, "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}"}
        started = time.monotonic()
        workers = [start_worker(mail_env, f"bench-{n}", workdir / f"worker{n}.log") for n in (1, 2)]
        names = {f"task worker {n + 1}": worker.pid for n, worker in enumerate(workers)}
        worker_sampler = Sampler(lambda: names, worker_memory, seconds=1.0)
        worker_sampler.start()
        first_mail = None
        while len(smtp.received) < to_send and time.monotonic() - started < options.max_seconds:
            if first_mail is None and smtp.received:
                first_mail = time.monotonic()
            time.sleep(0.2)
        last_mail = time.monotonic()
        worker_sampler.stop()
        sent = len(smtp.received)
        overbooked = run_in_process(env, "bench.bench_national", "print_overbooked")
    finally:
        for process in [*workers, *servers]:
            stack.stop(process)
        nginx.stop()
        if smtp is not None:
            smtp.stop()
    access = (nginx.prefix / "access.log").read_text() if nginx.prefix.exists() else ""
    nginx_5xx = len(re.findall(r'" 5\d\d ', access))
    shutil.rmtree(workdir, ignore_errors=True)
    tally = load.tally
    mail_seconds = last_mail - (first_mail or started)
    return {
        "offices": len(slugs),
        "seconds": seconds,
        "booked": tally.outcomes["booked"],
        "refused": tally.outcomes["refused (slot full)"],
        "failed": tally.outcomes["failed"],
        "reads": tally.outcomes["read"],
        "errors": tally.errors,
        "bookings_per_second": tally.outcomes["booked"] / seconds,
        "requests_per_second": sum(len(t) for t in tally.times.values()) / seconds,
        "5xx": tally.statuses[500] + nginx_5xx,
        "overbooked": overbooked["overbooked_slots"],
        "active": overbooked["active_bookings"],
        "emails": sent,
        "emails_queued": to_send,
        "emails_per_second": sent / mail_seconds if mail_seconds > 0 else 0.0,
        "times": {name: sorted(values) for name, values in tally.times.items()},
        "app_memory": app_memory,
        "app_workers_replaced": workers_replaced,
        "worker_memory": worker_memory,
    }


# --- Report -----------------------------------------------------------------------------


def percentile(values: list[float], share: float) -> float:
    if not values:
        return math.nan
    return values[min(len(values) - 1, int(len(values) * share))] * 1000


def memory_cells(memory: Memory) -> tuple[str, str, str]:
    """The largest RSS at the end, the largest growth from halfway and from the start."""
    if not memory.samples:
        return "–", "–", "–"
    return (
        f"{max(memory.last.values()):.0f} MB",
        f"{max(memory.growth().values()):+.0f} MB",
        f"{max(memory.growth_from_start().values()):+.0f} MB",
    )


def memory_column(runs: list[dict[str, object]], key: str, index: int) -> list[str]:
    return [memory_cells(r[key])[index] for r in runs]


def report(runs: list[dict[str, object]], options) -> None:  # noqa: ANN001
    heads = [f"{run['offices']} offices" for run in runs]
    rows: list[tuple[str, list[str]]] = [
        (
            "bookings made / refused (full) / failed",
            [f"{r['booked']} / {r['refused']} / {r['failed']}" for r in runs],
        ),
        ("availability reads", [str(r["reads"]) for r in runs]),
        ("seconds", [f"{r['seconds']:.0f}" for r in runs]),
        ("bookings/s", [f"{r['bookings_per_second']:.1f}" for r in runs]),
        ("requests/s (all)", [f"{r['requests_per_second']:.0f}" for r in runs]),
        ("overbooked slots (must be 0)", [str(r["overbooked"]) for r in runs]),
        ("5xx answers (must be 0)", [str(r["5xx"]) for r in runs]),
    ]
    for name in ENDPOINTS:
        if any(name in r["times"] for r in runs):
            cells = []
            for r in runs:
                values = r["times"].get(name, [])
                cells.append(
                    f"{percentile(values, 0.5):.0f} / {percentile(values, 0.99):.0f} ms"
                    f" ({len(values)})"
                )
            rows.append((f"{name}: p50 / p99 (requests)", cells))
    rows += [
        ("emails sent / queued", [f"{r['emails']} / {r['emails_queued']}" for r in runs]),
        ("emails/s, two task workers", [f"{r['emails_per_second']:.1f}" for r in runs]),
        ("app server worker RSS at the end, largest", memory_column(runs, "app_memory", 0)),
        ("  growth, second half of its life", memory_column(runs, "app_memory", 1)),
        ("  growth since it started", memory_column(runs, "app_memory", 2)),
        ("  workers recycled (max_requests)", [str(r["app_workers_replaced"]) for r in runs]),
        ("task worker RSS at the end, largest", memory_column(runs, "worker_memory", 0)),
        ("  growth, second half of its life", memory_column(runs, "worker_memory", 1)),
        ("  growth since it started", memory_column(runs, "worker_memory", 2)),
    ]
    print(
        f"\nnginx → {options.app_servers} gunicorn × {options.web_workers} sync workers → "
        f"PostgreSQL + Redis; {options.clients} clients; {options.bookings} bookings, "
        f"{options.reads_per_booking}× reads; {os.cpu_count()} CPUs"
    )
    width = max(len(label) for label, _cells in rows)
    cell = max(max(len(c) for c in cells) for _label, cells in rows)
    cell = max(cell, *(len(h) for h in heads))
    print(f"| {'':<{width}} | " + " | ".join(f"{h:>{cell}}" for h in heads) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (cell + 2) for _ in heads) + "|")
    for label, cells in rows:
        print(f"| {label:<{width}} | " + " | ".join(f"{c:>{cell}}" for c in cells) + " |")
    for r in runs:
        for error in r["errors"]:
            print(f"  {r['offices']} offices: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default=DEFAULT_DATABASE)
    parser.add_argument("--offices", type=int, default=540)
    parser.add_argument("--days", type=int, default=730, help="days of history")
    parser.add_argument("--per-slot", type=int, default=5, help="bookings per past session")
    parser.add_argument("--jobs", type=int, default=2, help="seeding writers")
    parser.add_argument("--bookings", type=int, default=8000)
    parser.add_argument("--reads-per-booking", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=1800)
    parser.add_argument("--app-servers", type=int, default=2)
    parser.add_argument("--web-workers", type=int, default=2, help="per app server")
    parser.add_argument("--compare-offices", type=int, help="run first with this many")
    parser.add_argument("--reuse", action="store_true", help="keep a seeded database")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    options = parser.parse_args()

    runs = []
    if options.compare_offices:
        runs.append(
            run(f"{options.database}_{options.compare_offices}", options.compare_offices, options)
        )
    runs.append(run(options.database, options.offices, options))
    report(runs, options)
    if options.json:
        options.json.write_text(
            json.dumps(
                [
                    {
                        k: v
                        for k, v in r.items()
                        if k not in ("times", "app_memory", "worker_memory")
                    }
                    | {
                        "p50_ms": {n: percentile(t, 0.5) for n, t in r["times"].items()},
                        "p99_ms": {n: percentile(t, 0.99) for n, t in r["times"].items()},
                        "app_rss_mb": r["app_memory"].samples,
                        "worker_rss_mb": r["worker_memory"].samples,
                    }
                    for r in runs
                ],
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
