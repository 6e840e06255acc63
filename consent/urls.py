"""The terms of use and the privacy notice, at the site root: /terms/, /terms/<version>/,
/terms/<version>/changes/, /privacy/."""

from django.urls import path, re_path

from consent import views

app_name = "consent"

# The same shape as TermsVersion.version (consent.models.VERSION_LABEL).
VERSION = r"(?P<version>[0-9A-Za-z][0-9A-Za-z._-]{0,39})"

urlpatterns = [
    path("privacy/", views.privacy, name="privacy"),
    path("terms/", views.terms_current, name="terms"),
    re_path(rf"^terms/{VERSION}/$", views.terms_version, name="terms-version"),
    re_path(rf"^terms/{VERSION}/changes/$", views.terms_changes, name="terms-changes"),
]
