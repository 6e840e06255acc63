"""Emails the queue gave up on after TASK_MAX_ATTEMPTS go back to "retrying".

Before, any error at the last attempt left an email "failed" for good, an outage included.
Now "failed" means refused for good (SMTP 5xx) and the `emails` periodic job queues again
every email that is still waiting; those given up on before are given that chance too (the
send re-checks whether each still makes sense, and sends none twice).
"""

from django.db import migrations
from django.db.models import Q


def retry_given_up(apps, schema_editor):
    OutgoingEmail = apps.get_model("reservations", "OutgoingEmail")
    refused_for_good = Q(last_error__startswith="SMTPRecipientsRefused 5") | Q(
        last_error__startswith="SMTPDataError 5"
    )
    OutgoingEmail.objects.filter(status="failed").exclude(refused_for_good).update(
        status="retrying"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0008_booking_link_email"),
    ]

    operations = [
        migrations.RunPython(retry_given_up, migrations.RunPython.noop),
    ]
