"""Staff sign-in's second factor: an authenticator app (TOTP) or a recovery code.

With STAFF_MFA_REQUIRED on, a staff member who signed in with their password reaches no
admin page until they give a code (`StaffMFAMiddleware`). On the first sign-in they enrol:
the page shows a QR code (an SVG drawn here, no script, no outside image: the CSP allows
neither), they type the code their app shows, and get ten recovery codes, shown once.
The devices and their throttling are django-otp's (`reservations.staff`).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import segno
from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import mark_safe
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp import login as otp_login

from reservations import staff


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("確認コード"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


def _exempt_paths() -> tuple[str, ...]:
    return (reverse("admin-mfa"), reverse("admin:logout"), reverse("admin:jsi18n"))


class StaffMFAMiddleware:
    """Staff signed in by password alone are sent to the code page first (admin only)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.STAFF_MFA_REQUIRED and request.path.startswith(reverse("admin:index")):
            user = request.user
            if (
                user.is_authenticated
                and user.is_staff
                and not user.is_verified()
                and request.path not in _exempt_paths()
            ):
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('admin-mfa')}?{query}")
        return self.get_response(request)


def _next(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def _qr_svg(url: str) -> str:
    """The otpauth:// link as an inline SVG (drawn by segno from our own data only)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, border=2, dark="#000", light="#fff")
    return mark_safe(svg)  # noqa: S308 - segno's own markup; the URL is ours


def mfa_view(request: HttpRequest) -> HttpResponse:
    """Enter a code (or enrol on the first sign-in); then on to where the user was going."""
    user = request.user
    if not (user.is_authenticated and user.is_staff):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    next_url = _next(request)
    if user.is_verified():
        return HttpResponseRedirect(next_url)
    enrolled = staff.mfa_enrolled(user)
    device = None if enrolled else staff.mfa_enrolment_device(user=user)
    form = CodeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"]
        if enrolled:
            result = staff.mfa_verify(user=user, code=code)
            if result.device is not None:
                otp_login(request, result.device)
                return HttpResponseRedirect(next_url)
            form.add_error(
                "code",
                gettext(
                    "コードの入力が続けて誤っています。少し待ってからもう一度入力してください。"
                )
                if result.throttled
                else gettext("コードが正しくありません。"),
            )
        else:
            codes = staff.mfa_enrolment_confirm(device=device, token=code)
            if codes is not None:
                otp_login(request, device)
                return TemplateResponse(
                    request,
                    "admin/mfa_recovery_codes.html",
                    {
                        **admin.site.each_context(request),
                        "title": gettext("復旧用コード"),
                        "codes": codes,
                        "next_url": next_url,
                    },
                )
            form.add_error("code", gettext("コードが正しくありません。"))
    context = {
        **admin.site.each_context(request),
        "title": gettext("2段階認証") if enrolled else gettext("2段階認証の設定"),
        "form": form,
        "enrolled": enrolled,
        "next_url": next_url,
    }
    if device is not None:
        context["qr_svg"] = _qr_svg(device.config_url)
        context["secret"] = base64.b32encode(device.bin_key).decode("ascii")
    return TemplateResponse(request, "admin/mfa.html", context)
