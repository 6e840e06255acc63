"""The booking path's cost: a whole booking over HTTP in few queries, and the free-places
count read from the slot index on PostgreSQL at a realistic size."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.db.models import Count, QuerySet
from django.test import Client
from django.test.utils import CaptureQueriesContext

from reservations import selectors
from reservations.forms import parse_slot_value
from reservations.models import Office, Reservation
from reservations.rules import ACTIVE_STATUSES, TOKYO
from tests.conftest import IS_POSTGRES
from tests.seeker_pages import NOW, OPEN_SLOT, answers, as_post, hidden_fields

# Form, confirmation, sending and the done page, with the availability not cached yet (56
# before the availability cache and the one-query locks, 33 before the terms were read once
# per request and shared with the consent). Each page reads the office once and its terms
# (in force and announced) once; the sending step also takes the locks, writes the booking,
# its consent, its record, the email and its task, and saves the session.
# The done page reads the office and its terms from the shared cache, as the form left them.
BOOKING_QUERIES = {"form": 4, "review": 4, "send": 18, "done": 2}
BOOKING_QUERIES_MAX = 30
TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK")
# The slot index: (office, starts_at), the constraint unique_slot_start.
SLOT_INDEX = "unique_slot_start"


def data_queries(captured: CaptureQueriesContext) -> int:
    """Statements that read or write rows (PostgreSQL's BEGIN/COMMIT are not logged at all)."""
    return sum(1 for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL))


@pytest.mark.parametrize("others", [0, 30])
@pytest.mark.django_db(transaction=True)
def test_a_whole_booking_over_http_runs_few_queries(
    office, terms, database_tasks, make_reservation, others
):
    # Transactional, so that the transactions are real (no test savepoints), and the mail
    # queued as a task row: the count is the one production sees. The office's other
    # bookings change nothing in it.
    with time_machine.travel(NOW, tick=False):
        chosen = parse_slot_value(OPEN_SLOT)
        free = [
            a.slot.start
            for a in selectors.availability(office, NOW.date(), NOW.date() + timedelta(28), NOW)
            if a.slot.start != chosen
        ]
        for start in free[:others]:
            make_reservation(start, now=NOW)
        assert Reservation.objects.count() == others
        cache.clear()
        client = Client()
        steps: dict[str, int] = {}
        with CaptureQueriesContext(connection) as form:
            assert client.get(f"/book/?slot={OPEN_SLOT}").status_code == 200
        steps["form"] = data_queries(form)
        with CaptureQueriesContext(connection) as review:
            confirmation = client.post("/book/", {**answers(terms.pk), "action": "review"})
        assert 'name="form_token"' in confirmation.content.decode()
        steps["review"] = data_queries(review)
        carried = hidden_fields(confirmation.content.decode())
        with CaptureQueriesContext(connection) as send:
            sent = client.post("/book/", as_post(carried, action="submit"))
        assert sent.status_code == 302
        steps["send"] = data_queries(send)
        with CaptureQueriesContext(connection) as done:
            page = client.get("/book/done/")
        steps["done"] = data_queries(done)
    booked = Reservation.objects.get(slot__starts_at=chosen)
    assert booked.reference in page.content.decode()
    assert booked.consents.get().terms_version == terms
    assert steps == BOOKING_QUERIES
    assert sum(steps.values()) <= BOOKING_QUERIES_MAX


@pytest.mark.skipif(not IS_POSTGRES, reason="the query plan is PostgreSQL's")
@pytest.mark.django_db
def test_the_free_places_count_reads_the_slot_index(office):
    # Realistic size: 200 offices with two years of slots (8 a day) and bookings in them.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO reservations_office
                (name, slug, phone, email, address, closing_time, slot_minutes, horizon_days,
                 max_active_bookings, no_show_threshold, no_show_window_days, created_at,
                 name_en, address_en, prefecture, accepting_bookings)
            SELECT 'office ' || n, 'office-' || n, '0270-00-0000', '', '', '17:00', 30, 28,
                   1, 2, 180, now(), '', '', '群馬県', true
            FROM generate_series(1, 199) AS n
            """
        )
        cursor.execute(
            """
            INSERT INTO reservations_slot (office_id, starts_at, ends_at)
            SELECT o.id, s, s + interval '30 minutes'
            FROM reservations_office o,
                 generate_series(now() - interval '730 days', now() + interval '28 days',
                                 interval '3 hours') AS s
            """
        )
        cursor.execute(
            """
            INSERT INTO reservations_reservation
                (office_id, slot_id, status, reference, token, name, seeker_number,
                 about_to_register, email, phone, topic, companion, companion_language,
                 platform, language, person_key, meeting_state, meeting_id, meeting_join_url,
                 meeting_passcode, meeting_error, created_at, updated_at, needs_reassignment)
            SELECT s.office_id, s.id,
                   CASE WHEN s.starts_at > now() THEN 'requested' ELSE 'attended' END,
                   'R' || s.id, 't' || s.id, 'x', '10040-' || s.id, false, 'x@example.jp',
                   '', '', '', '', 'zoom', 'ja', 'n:' || s.id, %s, '', '', '', '', now(), now(),
                   false
            FROM reservations_slot s WHERE s.id %% 3 = 0
            """,
            [Reservation._meta.get_field("meeting_state").default],
        )
        cursor.execute("ANALYZE")
        cursor.execute("SELECT count(*) FROM reservations_slot")
        assert cursor.fetchone()[0] > 1_000_000
    other = Office.objects.exclude(pk=office.pk).order_by("id").last()
    today = date.today()
    for subject in (office, other):
        plan = selectors.held_by_slot(subject, today, today + timedelta(days=28)).explain()
        assert "Seq Scan on reservations_slot" not in plan, plan
        assert SLOT_INDEX in plan, plan
        # The same count filtered on the booking's office, as it was: the slot index cannot
        # serve it (the planner reaches the slots through the bookings instead), so the test
        # tells the two forms apart.
        old = booking_office_held_by_slot(subject, today, today + timedelta(days=28)).explain()
        assert SLOT_INDEX not in old, old


def booking_office_held_by_slot(office: Office, first: date, last: date) -> QuerySet:
    """`selectors.held_by_slot` as it was: the booking's office instead of the slot's."""
    start = datetime.combine(first, datetime.min.time(), tzinfo=TOKYO)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=TOKYO)
    return (
        Reservation.objects.filter(
            office=office,
            status__in=ACTIVE_STATUSES,
            slot__starts_at__gte=start,
            slot__starts_at__lt=end,
        )
        .values("slot__starts_at")
        .annotate(held=Count("id"))
        .order_by()
    )
