"""The counselor's day in the admin: bookings, today's sessions, office settings, restrictions.

Nothing here changes a booking by editing a field: the booking pages are read-only and every
button or action calls one service (`reservations.services`) per booking and reports what
it said. Reads go through `reservations.selectors`, writes through the services; no page
talks to Zoom or the mail server. One module per model admin or page.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from reservations.admin import (  # noqa: F401 - each module registers its admin
    calendar_days,
    counselor,
    office,
    records,
    reservation,
    restriction,
    staff,
    waitlist,
)

admin.site.site_header = _("オンライン職業相談 予約管理")
admin.site.site_title = _("オンライン職業相談 予約管理")
admin.site.index_title = _("予約管理")
# Counselors use a handful of pages; the width goes to the booking tables instead.
admin.site.enable_nav_sidebar = False
