"""The national benchmark runs end to end at a tiny size, so that it cannot rot: seeding
(bench/seed_national.py), nginx in front of two app servers, the load, the task workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.conftest import IS_POSTGRES
from tests.stack import BASE_DIR, nginx_binary, pg_execute

pytestmark = [
    pytest.mark.stack,
    pytest.mark.postgres,
    pytest.mark.skipif(not IS_POSTGRES, reason="the benchmark seeds PostgreSQL with COPY"),
    pytest.mark.skipif(
        not nginx_binary() and not os.environ.get("CI"), reason="nginx is not installed"
    ),
]

BENCH_REDIS_URL = "redis://127.0.0.1:6379/15"


def test_the_national_benchmark_books_without_overbooking_or_server_errors(tmp_path):
    url = os.environ["DATABASE_URL"]
    name = f"{urlsplit(url).path.lstrip('/')}_bench"
    figures = tmp_path / "figures.json"
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter and our benchmark
            [
                sys.executable,
                "bench/bench_national.py",
                f"--database={name}",
                "--offices=3",
                "--days=7",
                "--per-slot=2",
                "--bookings=12",
                "--reads-per-booking=3",
                "--clients=4",
                "--max-seconds=120",
                f"--json={figures}",
            ],
            cwd=BASE_DIR,
            env={**os.environ, "BENCH_CACHE_URL": BENCH_REDIS_URL},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        pg_execute(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "overbooked slots (must be 0)" in done.stdout
    (run,) = json.loads(figures.read_text())
    assert run["offices"] == 3
    assert run["overbooked"] == 0
    assert run["5xx"] == 0
    assert run["failed"] == 0, run["errors"]
    assert run["booked"] + run["refused"] == 12
    assert run["booked"] >= 1
    assert run["reads"] == 36
    assert run["active"] >= run["booked"]
    # Every booking's email went out through the two task workers.
    assert run["emails"] == run["emails_queued"] >= run["booked"]
    assert run["app_rss_mb"] and run["worker_rss_mb"]
