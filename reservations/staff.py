"""Staff accounts: who works in which office with which role, and their second factor.

One keyword-only service per action. The groups of migration 0004 (相談員, 管理者) give the
model permissions and follow the memberships; the memberships give the offices
(`selectors.offices_of`). The second factor is django-otp's: a TOTP device (an
authenticator app) and a static device holding the recovery codes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from reservations import selectors
from reservations.errors import ReservationError
from reservations.models import Office, StaffMembership, StaffRole

# The group that gives each role its pages (created by migration 0004_staff_groups).
ROLE_GROUPS = {StaffRole.COUNSELOR: "相談員", StaffRole.SUPERVISOR: "管理者"}
RECOVERY_CODES = 10
_TOTP_NAME = "authenticator"
_RECOVERY_NAME = "recovery"


class StaffRefused(ReservationError):
    """The account cannot be saved so; `field` names the input the message belongs to."""

    code = "staff_refused"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class StaffSaved:
    user: AbstractBaseUser
    created: bool
    generated_password: str  # "" unless one was made up here (shown once, never stored)


def generate_password() -> str:
    """A strong password: 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def staff_sync_groups(*, user: AbstractBaseUser) -> None:
    """Give the user the groups of the roles they hold somewhere, and no other staff group."""
    roles = set(StaffMembership.objects.filter(user=user).values_list("role", flat=True))
    wanted = {ROLE_GROUPS[StaffRole(role)] for role in roles}
    groups = {group.name: group for group in Group.objects.filter(name__in=ROLE_GROUPS.values())}
    user.groups.remove(*(group for name, group in groups.items() if name not in wanted))
    user.groups.add(*(group for name, group in groups.items() if name in wanted))


def staff_check(
    *,
    username: str,
    offices: list[Office],
    email: str | None = None,
    password: str | None = None,
    managed_by: AbstractBaseUser | None = None,
) -> AbstractBaseUser | None:
    """Whether `staff_save` would accept this (raises StaffRefused); the existing account."""
    username = (username or "").strip()
    if not username:
        raise StaffRefused(_("ユーザー名を入力してください。"), field="username")
    if not offices:
        raise StaffRefused(_("ハローワークを選んでください。"), field="office")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise StaffRefused(
                _("メールアドレスの形式が正しくありません。"), field="email"
            ) from None
    user = get_user_model().objects.filter(username=username).first()
    if managed_by is not None:
        supervised = selectors.offices_of(managed_by, role=StaffRole.SUPERVISOR)
        wanted = {office.pk for office in offices}
        if supervised.filter(pk__in=wanted).count() != len(wanted):
            raise StaffRefused(_("ハローワークを選んでください。"), field="office")
        # A supervisor manages their own offices' staff: never a superuser, never someone
        # who works only in other offices (the name is taken either way).
        if user is not None and (
            user.is_superuser
            or not StaffMembership.objects.filter(user=user, office__in=supervised).exists()
        ):
            raise StaffRefused(_("このユーザー名は使用されています。"), field="username")
    if password is not None:
        try:
            password_validation.validate_password(
                password, user or get_user_model()(username=username, email=email or "")
            )
        except ValidationError as problems:
            raise StaffRefused(" ".join(problems.messages), field="password") from None
    return user


@transaction.atomic
def staff_save(
    *,
    username: str,
    offices: list[Office],
    role: StaffRole,
    email: str | None = None,
    password: str | None = None,
    first_name: str | None = None,
    last_name: str | None = None,
    managed_by: AbstractBaseUser | None = None,
) -> StaffSaved:
    """Create or update a staff account with `role` in each of `offices`.

    A new account gets `password`, or a generated one (returned once). An existing one keeps
    its password unless one is given. With `managed_by` (a supervisor in the admin), the
    offices must be theirs and the account must not be a superuser or work only elsewhere.
    Never makes a superuser.
    """
    username = (username or "").strip()
    user = staff_check(
        username=username, offices=offices, email=email, password=password, managed_by=managed_by
    )
    created = user is None
    if created:
        user = get_user_model()(username=username, is_staff=True)
    else:
        user = get_user_model().objects.select_for_update().get(pk=user.pk)
    generated = ""
    if password is None and created:
        password = generated = generate_password()
    if password is not None:
        user.set_password(password)
    if email is not None:
        user.email = email
    if first_name is not None:
        user.first_name = first_name
    if last_name is not None:
        user.last_name = last_name
    user.is_staff = True
    user.save()
    for office in offices:
        StaffMembership.objects.update_or_create(user=user, office=office, defaults={"role": role})
    staff_sync_groups(user=user)
    return StaffSaved(user=user, created=created, generated_password=generated)


@transaction.atomic
def staff_membership_remove(*, membership: StaffMembership) -> None:
    """The user no longer works in that office; their groups follow what is left."""
    user = membership.user
    membership.delete()
    staff_sync_groups(user=user)


# --- The second factor (django-otp) -----------------------------------------------------


def mfa_enrolled(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def mfa_enrolment_device(*, user: AbstractBaseUser) -> TOTPDevice:
    """The authenticator being set up: the same secret until it is confirmed."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False, name=_TOTP_NAME).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_TOTP_NAME, confirmed=False)
    return device


@transaction.atomic
def mfa_enrolment_confirm(*, device: TOTPDevice, token: str) -> list[str] | None:
    """Confirm the authenticator with a code it shows; returns the new recovery codes
    (shown once), or None when the code is wrong."""
    if device.confirmed or not device.verify_token(token):
        return None
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=device.user, confirmed=False).delete()
    return mfa_recovery_codes_renew(user=device.user)


@transaction.atomic
def mfa_recovery_codes_renew(*, user: AbstractBaseUser) -> list[str]:
    """New recovery codes, each usable once; the old ones stop working."""
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=_RECOVERY_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


@dataclass(frozen=True)
class MfaResult:
    device: TOTPDevice | StaticDevice | None  # the device that accepted the code
    throttled: bool  # a device refused to check: too many wrong codes just now


def mfa_verify(*, user: AbstractBaseUser, code: str) -> MfaResult:
    """Check a code from the authenticator (6 digits) or a recovery code (used up here).

    Each device counts its wrong codes and refuses to check for a while that doubles with
    each one (django-otp's throttling), so codes cannot be guessed.
    """
    code = "".join((code or "").split())
    if code.isdigit() and len(code) == TOTPDevice._meta.get_field("digits").default:
        devices = TOTPDevice.objects.filter(user=user, confirmed=True)
    else:
        devices = StaticDevice.objects.filter(user=user, confirmed=True)
    throttled = False
    with transaction.atomic():
        for device in devices.select_for_update():
            allowed, _detail = device.verify_is_allowed()
            if not allowed:
                throttled = True
                continue
            if device.verify_token(code):
                return MfaResult(device=device, throttled=False)
    return MfaResult(device=None, throttled=throttled)
