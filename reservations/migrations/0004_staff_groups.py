"""The two staff roles of the office, as groups with their permissions.

相談員 (counselor): the bookings and today's sessions; can look up restrictions.
管理者 (supervisor): also office settings, closures, capacity, terms, restrictions, exports.
Django creates permissions after migrations, so they are created here first.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

COUNSELOR = "相談員"
SUPERVISOR = "管理者"

COUNSELOR_PERMISSIONS = [
    ("reservations", "view_reservation"),
    ("reservations", "change_reservation"),  # actions: confirm, move, cancel, attendance
    ("reservations", "add_reservation"),  # book the next session (Art. 6(2))
    ("reservations", "view_reservationevent"),
    ("reservations", "view_restriction"),
    ("consent", "view_consent"),
]

SUPERVISOR_PERMISSIONS = COUNSELOR_PERMISSIONS + [
    ("reservations", "export_reservation"),
    ("reservations", "view_office"),
    ("reservations", "change_office"),
    ("reservations", "view_sessionwindow"),
    ("reservations", "add_sessionwindow"),
    ("reservations", "change_sessionwindow"),
    ("reservations", "delete_sessionwindow"),
    ("reservations", "view_closure"),
    ("reservations", "add_closure"),
    ("reservations", "change_closure"),
    ("reservations", "delete_closure"),
    ("reservations", "view_capacityoverride"),
    ("reservations", "add_capacityoverride"),
    ("reservations", "change_capacityoverride"),
    ("reservations", "delete_capacityoverride"),
    ("reservations", "add_restriction"),
    ("reservations", "change_restriction"),  # lifting
    ("consent", "view_termsversion"),
    ("consent", "add_termsversion"),
    ("consent", "change_termsversion"),
    # Unlocking a colleague locked out by the login throttle.
    ("axes", "view_accessattempt"),
    ("axes", "delete_accessattempt"),
]

GROUPS = {COUNSELOR: COUNSELOR_PERMISSIONS, SUPERVISOR: SUPERVISOR_PERMISSIONS}


def create_groups(apps, schema_editor):
    """Create (or bring up to date) the two groups; safe to run again."""
    for label in ("reservations", "consent", "axes"):
        app_config = apps.get_app_config(label)
        # Historical app configs have no models module, and create_permissions skips those.
        original = getattr(app_config, "models_module", None)
        app_config.models_module = original or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GROUPS.items():
        group, _created = Group.objects.get_or_create(name=name)
        permissions = []
        for app_label, codename in wanted:
            permissions.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        group.permissions.set(permissions)


def remove_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0003_reservation_export_permission"),
        ("consent", "0001_initial"),
        ("axes", "0010_accessattemptexpiration"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
