"""The terms of use and the privacy notice: /terms/, /terms/<version>/,
/terms/<version>/changes/, /privacy/ at the root while one office takes bookings, and under
/o/<slug>/ for each office."""

from django.urls import path, re_path

from consent import views
from reservations.offices import office_page

app_name = "consent"

# The same shape as TermsVersion.version (consent.models.VERSION_LABEL).
VERSION = r"(?P<version>[0-9A-Za-z][0-9A-Za-z._-]{0,39})"
OFFICE = r"o/(?P<office_slug>[-a-zA-Z0-9_]+)/"

urlpatterns = [
    path("privacy/", views.privacy, name="privacy"),
    path("terms/", views.terms_current, name="terms"),
    re_path(rf"^terms/{VERSION}/$", views.terms_version, name="terms-version"),
    re_path(rf"^terms/{VERSION}/changes/$", views.terms_changes, name="terms-changes"),
    path("o/<slug:office_slug>/privacy/", office_page(views.privacy), name="office-privacy"),
    path("o/<slug:office_slug>/terms/", office_page(views.terms_current), name="office-terms"),
    re_path(
        rf"^{OFFICE}terms/{VERSION}/$",
        office_page(views.terms_version),
        name="office-terms-version",
    ),
    re_path(
        rf"^{OFFICE}terms/{VERSION}/changes/$",
        office_page(views.terms_changes),
        name="office-terms-changes",
    ),
]
