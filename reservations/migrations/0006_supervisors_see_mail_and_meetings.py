"""Supervisors (管理者) see the queue's evidence: the emails sent and the Zoom meetings made.

Both models come with migration 0005; the groups were created in 0004_staff_groups.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SUPERVISOR = "管理者"
CODENAMES = ("view_outgoingemail", "view_zoommeeting")


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
            *Permission.objects.filter(
                content_type__app_label="reservations", codename__in=CODENAMES
            )
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=SUPERVISOR).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="reservations", codename__in=CODENAMES
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0005_notifications_and_zoom_meetings"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
