"""A fresh install serves ハローワーク伊勢崎 with the weekly windows of Art. 6(2)③."""

from datetime import time

from django.db import migrations

WINDOWS = [(time(10), time(12)), (time(14), time(16))]


def seed(apps, schema_editor):
    Office = apps.get_model("reservations", "Office")
    SessionWindow = apps.get_model("reservations", "SessionWindow")
    office, created = Office.objects.get_or_create(
        slug="isesaki",
        defaults={
            "name": "ハローワーク伊勢崎",
            "phone": "0270-23-8609",
            "address": "群馬県伊勢崎市太田町554-10",
            "closing_time": time(17),
            "horizon_days": 28,
            "max_active_bookings": 1,
            "no_show_threshold": 2,
            "no_show_window_days": 180,
        },
    )
    if created:
        SessionWindow.objects.bulk_create(
            SessionWindow(office=office, weekday=weekday, start_time=start, end_time=end, capacity=1)
            for weekday in range(5)
            for start, end in WINDOWS
        )


def unseed(apps, schema_editor):
    Office = apps.get_model("reservations", "Office")
    Office.objects.filter(slug="isesaki", reservations__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("reservations", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
