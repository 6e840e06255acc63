"""Supervisors (管理者) edit the counselors, their weekly duty and its exceptions; counselors
(相談員) see them (the rota page, rule 4). The groups were created in 0004_staff_groups."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

COUNSELOR = "相談員"
SUPERVISOR = "管理者"
MODELS = ("counselor", "dutywindow", "dutyexception")
GRANTS = {
    COUNSELOR: [f"view_{model}" for model in MODELS],
    SUPERVISOR: [f"{verb}_{model}" for model in MODELS for verb in ("view", "add", "change")]
    + ["delete_dutywindow", "delete_dutyexception"],
}


def grant(apps, schema_editor):
    app_config = apps.get_app_config("reservations")
    # Historical app configs have no models module, and create_permissions skips those.
    original = getattr(app_config, "models_module", None)
    app_config.models_module = original or True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="reservations", codename__in=codenames
                )
            )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.remove(
                *Permission.objects.filter(
                    content_type__app_label="reservations", codename__in=codenames
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0014_meetings_under_their_host"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
