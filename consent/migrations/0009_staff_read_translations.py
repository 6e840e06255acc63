"""Counselors (相談員) and supervisors (管理者) may read the reference translations in the
admin, as they read the consent records that name them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUPS = ("相談員", "管理者")
CODENAME = "view_termstranslation"


def _permission(apps):
    app_config = apps.get_app_config("consent")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label="consent", codename=CODENAME)


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    permissions = list(_permission(apps))
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = Permission.objects.filter(content_type__app_label="consent", codename=CODENAME)
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0008_terms_translations_2023_04_01"),
        ("consent", "0005_supervisors_manage_terms"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
