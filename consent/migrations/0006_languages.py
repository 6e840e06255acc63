"""Room for every language code of the portal (`ja-x-easy` has nine characters).

SQLite rebuilds the table to widen the column and loses its triggers: the append-only
trigger of 0004 is created again afterwards (and again after a reversal).
"""

from importlib import import_module

from django.db import migrations, models

triggers = import_module("consent.migrations.0004_append_only_triggers")
CONSENT_TRIGGER = triggers.SQLITE[1]


def recreate_consent_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS consent_consent_append_only;")
        schema_editor.execute(CONSENT_TRIGGER, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0005_supervisors_manage_terms"),
    ]

    operations = [
        # Reversed, this runs last: the trigger is back after the table is rebuilt again.
        migrations.RunPython(migrations.RunPython.noop, recreate_consent_trigger),
        migrations.AlterField(
            model_name="consent",
            name="language",
            field=models.CharField(max_length=16, verbose_name="画面の言語"),
        ),
        migrations.RunPython(recreate_consent_trigger, migrations.RunPython.noop),
    ]
