from django.urls import path

from reservations import api, views, webhooks

app_name = "reservations"

urlpatterns = [
    # The job seeker's pages (no account: the private link carries an unguessable token).
    path("", views.home, name="home"),
    path("slots/", views.week, name="week"),
    path("book/", views.request_booking, name="request"),
    path("book/done/", views.done, name="done"),
    path("r/<str:token>/", views.booking, name="booking"),
    path("r/<str:token>/calendar.ics", views.booking_ics, name="booking-ics"),
    path("r/<str:token>/cancel/", views.cancel, name="cancel"),
    path("api/slots/", api.slots, name="api-slots"),
    path("zoom/webhook/", webhooks.zoom, name="zoom-webhook"),
]
