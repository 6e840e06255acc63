"""Benchmark: the public office chooser with many offices (Japan has about 540).

    .venv/bin/python bench/bench_offices.py [--offices 540] [--repeat 50]
    DATABASE_URL=postgres://... .venv/bin/python bench/bench_offices.py   # PostgreSQL

It builds a throwaway database (SQLite, or Django's test database next to DATABASE_URL's),
seeds the offices with `offices_import` (one CSV, one transaction: windows and the terms in
force for each), then times `GET /` (the whole list), `GET /?q=…` (a search) and one
office's week `/o/<slug>/slots/`, through the middleware stack with Django's test client.
It prints the import time and, for each page, the queries, median, p95 and max.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hellowork.settings_test")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    setup_test_environment,
    teardown_test_environment,
)

from reservations.models import PREFECTURES, Office  # noqa: E402

warnings.filterwarnings("ignore", message="No directory at", module="django.core.handlers")


def seed(count: int, folder: Path) -> float:
    """`count` offices spread over the 47 prefectures, imported from one CSV; seconds."""
    lines = ["slug,name,name_en,phone,prefecture,address"]
    for n in range(count):
        prefecture, latin = PREFECTURES[n % len(PREFECTURES)]
        lines.append(
            f"office-{n},ハローワーク{latin}{n},Hello Work {latin} {n},03-0000-{n:04d},"
            f"{prefecture},{prefecture}{n}番地"
        )
    csv = folder / "offices.csv"
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    started = time.perf_counter()
    call_command("offices_import", str(csv), stdout=StringIO())
    return time.perf_counter() - started


def timed(client: Client, url: str, repeat: int) -> tuple[int, list[float]]:
    # Counted as they run (request_started empties `connection.queries`).
    queries: list[str] = []

    def count(execute, sql, params, many, context):  # noqa: ANN001, ANN202
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    return len(queries), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offices", type=int, default=540)
    parser.add_argument("--repeat", type=int, default=50)
    options = parser.parse_args()

    scratch = tempfile.TemporaryDirectory()
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(Path(scratch.name) / "bench.sqlite3")
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        seconds = seed(options.offices - Office.objects.count(), Path(scratch.name))
        total = Office.objects.count()
        print(f"{connection.vendor}: {total} offices imported in {seconds:.2f} s")
        client = Client()
        print(f"{'page':<28} {'queries':>7} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
        for label, url in (
            (f"/ ({total} offices)", "/"),
            ("/?q=Gunma", "/?q=Gunma"),
            ("/?prefecture=東京都", "/?prefecture=東京都"),
            ("/o/office-1/slots/", "/o/office-1/slots/"),
        ):
            count, times = timed(client, url, options.repeat)
            p95 = statistics.quantiles(times, n=20)[-1]
            print(
                f"{label:<28} {count:>7} {statistics.median(times):>10.1f} {p95:>8.1f}"
                f" {max(times):>8.1f}"
            )
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        scratch.cleanup()


if __name__ == "__main__":
    main()
