"""Reference translations of a terms version, and what a consent records of them and of the
privacy notice.

A translation of a published version is frozen like the Japanese text: the triggers below
refuse to update it (PostgreSQL, SQLite) or delete it (PostgreSQL; on SQLite the model and
the foreign keys guard deletion, as in 0004). Adding a translation stays possible.

The consent gains four columns the retention purge must leave as they are, so the
append-only trigger of 0004 is made again with them (SQLite also rebuilds the table and
loses it). Reversed, the trigger of 0004 comes back.
"""

from importlib import import_module

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

triggers = import_module("consent.migrations.0004_append_only_triggers")
NEW_KEPT = (
    *triggers.KEPT_COLUMNS,
    "translation_id",
    "translation_language",
    "translation_hash",
    "privacy_version",
)


def _consent_postgresql(kept):
    return f"""
    CREATE OR REPLACE FUNCTION consent_consent_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {triggers.PERSONAL_BLANKED}
           AND ({", ".join(f"NEW.{c}" for c in kept)})
               IS NOT DISTINCT FROM ({", ".join(f"OLD.{c}" for c in kept)}) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'consent record % is append-only', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$;
    """


def _consent_sqlite(kept):
    return f"""
    CREATE TRIGGER consent_consent_append_only
    BEFORE UPDATE ON consent_consent
    FOR EACH ROW WHEN NOT ({triggers.PERSONAL_BLANKED}
        AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in kept)})
    BEGIN
        SELECT RAISE(ABORT, 'consent records are append-only');
    END;
    """


TRANSLATION_POSTGRESQL = [
    """
    CREATE OR REPLACE FUNCTION consent_termstranslation_frozen() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM consent_termsversion
                   WHERE id = OLD.terms_version_id AND published_at IS NOT NULL) THEN
            RAISE EXCEPTION 'translation % of a published terms version cannot be changed', OLD.id
                USING ERRCODE = 'integrity_constraint_violation';
        END IF;
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END
    $$;
    """,
    """
    CREATE TRIGGER consent_termstranslation_frozen
    BEFORE UPDATE OR DELETE ON consent_termstranslation
    FOR EACH ROW EXECUTE FUNCTION consent_termstranslation_frozen();
    """,
]
TRANSLATION_SQLITE = [
    """
    CREATE TRIGGER consent_termstranslation_frozen
    BEFORE UPDATE ON consent_termstranslation
    FOR EACH ROW WHEN (SELECT published_at FROM consent_termsversion
                       WHERE id = OLD.terms_version_id) IS NOT NULL
    BEGIN
        SELECT RAISE(ABORT, 'translations of published terms cannot be changed');
    END;
    """,
]


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [_consent_postgresql(NEW_KEPT), *TRANSLATION_POSTGRESQL]
    elif vendor == "sqlite":
        statements = [
            "DROP TRIGGER IF EXISTS consent_consent_append_only;",
            _consent_sqlite(NEW_KEPT),
            *TRANSLATION_SQLITE,
        ]
    else:
        return
    for sql in statements:
        schema_editor.execute(sql, params=None)


def restore_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        statements = [
            "DROP TRIGGER IF EXISTS consent_termstranslation_frozen ON consent_termstranslation;",
            "DROP FUNCTION IF EXISTS consent_termstranslation_frozen();",
            _consent_postgresql(triggers.KEPT_COLUMNS),
        ]
    elif vendor == "sqlite":
        statements = [
            "DROP TRIGGER IF EXISTS consent_termstranslation_frozen;",
            "DROP TRIGGER IF EXISTS consent_consent_append_only;",
            triggers.SQLITE[1],
        ]
    else:
        return
    for sql in statements:
        schema_editor.execute(sql, params=None)


def restore_old_consent_trigger(apps, schema_editor):
    # Reversed, this runs last: after SQLite rebuilt the table without the new columns.
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS consent_consent_append_only;")
        schema_editor.execute(triggers.SQLITE[1], params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('consent', '0006_languages'),
        ('reservations', '0010_languages'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_old_consent_trigger),
        migrations.AddField(
            model_name='consent',
            name='privacy_version',
            field=models.CharField(blank=True, max_length=20, verbose_name='個人情報の取扱いの版'),
        ),
        migrations.AddField(
            model_name='consent',
            name='translation_hash',
            field=models.CharField(blank=True, max_length=64, verbose_name='参考訳のハッシュ（SHA-256）'),
        ),
        migrations.AddField(
            model_name='consent',
            name='translation_language',
            field=models.CharField(blank=True, max_length=16, verbose_name='参考訳の言語'),
        ),
        migrations.CreateModel(
            name='TermsTranslation',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('language', models.CharField(max_length=16, verbose_name='言語')),
                ('text', models.TextField(verbose_name='翻訳の本文')),
                ('content_hash', models.CharField(max_length=64, verbose_name='翻訳のハッシュ（SHA-256）')),
                ('created_at', models.DateTimeField(verbose_name='登録日時')),
                ('terms_version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='translations', to='consent.termsversion', verbose_name='規約の版')),
            ],
            options={
                'verbose_name': '利用規約の参考訳',
                'verbose_name_plural': '利用規約の参考訳',
                'ordering': ['terms_version', 'language'],
                'default_permissions': ('view',),
            },
        ),
        migrations.AddField(
            model_name='consent',
            name='translation',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='consent.termstranslation', verbose_name='表示した参考訳'),
        ),
        migrations.AddConstraint(
            model_name='consent',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('translation__isnull', True), ('translation_hash', ''), ('translation_language', '')), models.Q(('translation__isnull', False), models.Q(('translation_language', ''), _negated=True), models.Q(('translation_hash', ''), _negated=True)), _connector='OR'), name='consent_translation_named_with_hash'),
        ),
        migrations.AddConstraint(
            model_name='termstranslation',
            constraint=models.UniqueConstraint(fields=('terms_version', 'language'), name='one_terms_translation_per_language'),
        ),
        migrations.AddConstraint(
            model_name='termstranslation',
            constraint=models.CheckConstraint(condition=models.Q(('language__in', ['', 'ja']), _negated=True), name='terms_translation_not_japanese'),
        ),
        migrations.AddConstraint(
            model_name='termstranslation',
            constraint=models.CheckConstraint(condition=models.Q(('content_hash', ''), _negated=True), name='terms_translation_has_a_hash'),
        ),
        migrations.RunPython(create_triggers, restore_triggers),
]
