from django.urls import path

from reservations import api, views, webhooks
from reservations.offices import office_page

app_name = "reservations"

# An office's pages: at the root while one office takes bookings, and always under
# /o/<slug>/ (the only way to them once several do; `/` is then the office chooser).
OFFICE_PAGES = [
    ("", views.home, "home"),
    ("slots/", views.week, "week"),
    ("book/", views.request_booking, "request"),
    ("book/done/", views.done, "done"),
    ("waitlist/", views.waitlist_join, "waitlist-join"),
    ("waitlist/done/", views.waitlist_done, "waitlist-done"),
]

urlpatterns = [
    # The job seeker's pages (no account: the private link carries an unguessable token).
    *(path(route, view, name=name) for route, view, name in OFFICE_PAGES),
    *(
        path(f"o/<slug:office_slug>/{route}", office_page(view), name=f"office-{name}")
        for route, view, name in OFFICE_PAGES
    ),
    path("r/<str:token>/", views.booking, name="booking"),
    path("r/<str:token>/calendar.ics", views.booking_ics, name="booking-ics"),
    path("r/<str:token>/cancel/", views.cancel, name="cancel"),
    # A counselor's calendar feed: the unguessable token is the only key (no session).
    path("staff/calendar/<str:token>.ics", views.counselor_calendar, name="counselor-calendar"),
    path("r/<str:token>/move/", views.move, name="move"),
    path("r/<str:token>/move/confirm/", views.move_confirm, name="move-confirm"),
    # A waiting-list entry's private link (the offer, leaving the list), rule 16.
    path("w/<str:entry_token>/", views.waitlist_entry, name="waitlist-entry"),
    path("w/<str:entry_token>/leave/", views.waitlist_leave, name="waitlist-leave"),
    path("api/slots/", api.slots, name="api-slots"),
    path("zoom/webhook/", webhooks.zoom, name="zoom-webhook"),
]
