"""Supervisors (管理者) publish terms versions and export consent records for audits.

The groups and their other permissions come from reservations 0004_staff_groups; this
adds the two permissions the consent app defines, after that migration has run.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPERVISOR = "管理者"
CODENAMES = ("publish_termsversion", "export_consent")


def grant(apps, schema_editor):
    app_config = apps.get_app_config("consent")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=SUPERVISOR).first()
    if group is None:
        return
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="consent", codename__in=CODENAMES)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=SUPERVISOR).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="consent", codename__in=CODENAMES)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0004_append_only_triggers"),
        ("reservations", "0004_staff_groups"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
