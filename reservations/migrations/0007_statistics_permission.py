"""Supervisors (管理者) see the office's statistics: counts only, never who (rule 15).

The permission is new with this migration; the groups were created in 0004_staff_groups.
Counselors (相談員) do not get it.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPERVISOR = "管理者"
CODENAME = "view_statistics"


def grant(apps, schema_editor):
    app_config = apps.get_app_config("reservations")
    # Historical app configs have no models module, and create_permissions skips those.
    original = getattr(app_config, "models_module", None)
    app_config.models_module = original or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=SUPERVISOR).first()
    if group is not None:
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="reservations", codename=CODENAME)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=SUPERVISOR).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="reservations", codename=CODENAME)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0006_supervisors_see_mail_and_meetings"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="reservation",
            options={
                "ordering": ["slot__starts_at", "id"],
                "permissions": [
                    ("export_reservation", "予約を書き出せる"),
                    ("view_statistics", "利用状況の統計を見られる"),
                ],
                "verbose_name": "予約",
                "verbose_name_plural": "予約",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
