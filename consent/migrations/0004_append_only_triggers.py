"""The database itself refuses to change published terms or consent records.

The models and querysets already refuse; these triggers hold for any code or console that
goes around the ORM (raw SQL, another client).

- A published terms version cannot be updated (PostgreSQL, SQLite) nor deleted
  (PostgreSQL).
- A consent cannot be updated (PostgreSQL, SQLite) nor deleted (PostgreSQL), except the
  one change the retention purge makes (DESIGN rule 15): blanking the personal columns
  and setting `anonymized_at`, once, with everything else unchanged.

Deletes are not guarded by a trigger on SQLite: Django empties SQLite tables between
transactional tests with row-by-row DELETEs (PostgreSQL uses TRUNCATE, which row triggers
do not see). There, the foreign keys (PROTECT) and the models guard deletion.

SQLite rebuilds a table (and loses its triggers) when a migration alters it: a later
migration that alters these two tables must create the triggers again. The tests fail
if they are missing.
"""

from django.db import migrations

PERSONAL_BLANKED = (
    "NEW.anonymized_at IS NOT NULL AND OLD.anonymized_at IS NULL"
    " AND NEW.seeker_number = '' AND NEW.email = ''"
    " AND NEW.ip_address IS NULL AND NEW.user_agent = ''"
)
KEPT_COLUMNS = (
    "id",
    "reservation_id",
    "terms_version_id",
    "terms_hash",
    "platform",
    "platform_terms_accepted",
    "items",
    "method",
    "given_at",
    "language",
    "recorded_by_id",
)

POSTGRESQL = [
    """
    CREATE OR REPLACE FUNCTION consent_termsversion_frozen() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.published_at IS NOT NULL THEN
            RAISE EXCEPTION 'published terms version % cannot be changed or deleted', OLD.id
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
    CREATE TRIGGER consent_termsversion_frozen
    BEFORE UPDATE OR DELETE ON consent_termsversion
    FOR EACH ROW EXECUTE FUNCTION consent_termsversion_frozen();
    """,
    f"""
    CREATE OR REPLACE FUNCTION consent_consent_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {PERSONAL_BLANKED}
           AND ({", ".join(f"NEW.{c}" for c in KEPT_COLUMNS)})
               IS NOT DISTINCT FROM ({", ".join(f"OLD.{c}" for c in KEPT_COLUMNS)}) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'consent record % is append-only', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$;
    """,
    """
    CREATE TRIGGER consent_consent_append_only
    BEFORE UPDATE OR DELETE ON consent_consent
    FOR EACH ROW EXECUTE FUNCTION consent_consent_append_only();
    """,
]
POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS consent_consent_append_only ON consent_consent;",
    "DROP FUNCTION IF EXISTS consent_consent_append_only();",
    "DROP TRIGGER IF EXISTS consent_termsversion_frozen ON consent_termsversion;",
    "DROP FUNCTION IF EXISTS consent_termsversion_frozen();",
]

SQLITE = [
    """
    CREATE TRIGGER consent_termsversion_frozen
    BEFORE UPDATE ON consent_termsversion
    FOR EACH ROW WHEN OLD.published_at IS NOT NULL
    BEGIN
        SELECT RAISE(ABORT, 'published terms versions cannot be changed');
    END;
    """,
    f"""
    CREATE TRIGGER consent_consent_append_only
    BEFORE UPDATE ON consent_consent
    FOR EACH ROW WHEN NOT ({PERSONAL_BLANKED}
        AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in KEPT_COLUMNS)})
    BEGIN
        SELECT RAISE(ABORT, 'consent records are append-only');
    END;
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS consent_consent_append_only;",
    "DROP TRIGGER IF EXISTS consent_termsversion_frozen;",
]


def _run(schema_editor, statements):
    for sql in statements[schema_editor.connection.vendor]:
        schema_editor.execute(sql, params=None)


def create_triggers(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL, "sqlite": SQLITE})


def drop_triggers(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE})


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_first_terms_version")]
    operations = [migrations.RunPython(create_triggers, drop_triggers)]
