"""Top-level URLs: the seeker's pages, the terms, the API, the Zoom webhook, the admin,
monitoring."""

from django.contrib import admin
from django.urls import include, path

from hellowork import health
from reservations.admin import mfa, scope

# The admin's titles (with the office's name from the database) are set in
# reservations/admin.py and templates/admin/base_site.html.

# A database outage anywhere is a 503 with Retry-After; any other error the 500 page.
handler500 = "reservations.middleware.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/mfa/", mfa.mfa_view, name="admin-mfa"),
    path("admin/office/", admin.site.admin_view(scope.switch_office), name="admin-office"),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("consent.urls")),
    path("", include("reservations.urls")),
]
