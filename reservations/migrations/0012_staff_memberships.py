"""Staff belong to offices, with a role in each (相談員 or 管理者).

The groups keep giving the model permissions; a membership says which offices a staff
member may see and act on. Supervisors may now manage their offices' memberships.
Existing staff in the two groups keep seeing what they saw: every office, with the role
of their group (an installation upgraded from one office has only that one).
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

COUNSELOR = "相談員"
SUPERVISOR = "管理者"
CODENAMES = (
    "view_staffmembership",
    "add_staffmembership",
    "change_staffmembership",
    "delete_staffmembership",
)


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


def keep_existing_staff(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Office = apps.get_model("reservations", "Office")
    StaffMembership = apps.get_model("reservations", "StaffMembership")
    offices = list(Office.objects.all())
    for user in User.objects.filter(is_staff=True, is_superuser=False).prefetch_related("groups"):
        names = {group.name for group in user.groups.all()}
        role = "supervisor" if SUPERVISOR in names else "counselor" if COUNSELOR in names else None
        if role is None:
            continue
        for office in offices:
            StaffMembership.objects.get_or_create(user=user, office=office, defaults={"role": role})


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0011_office_english_names_and_bookings"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="StaffMembership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "role",
                    models.CharField(
                        choices=[("counselor", "相談員"), ("supervisor", "管理者")],
                        max_length=20,
                        verbose_name="役割",
                    ),
                ),
                (
                    "office",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="staff_memberships",
                        to="reservations.office",
                        verbose_name="ハローワーク",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="office_memberships",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="職員",
                    ),
                ),
            ],
            options={
                "verbose_name": "職員の所属",
                "verbose_name_plural": "職員の所属",
                "ordering": ["office", "user__username"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "office"), name="one_membership_per_office"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("role__in", ["counselor", "supervisor"])),
                        name="staff_membership_role_valid",
                    ),
                ],
            },
        ),
        migrations.RunPython(grant, revoke),
        migrations.RunPython(keep_existing_staff, migrations.RunPython.noop),
    ]
