from django.urls import path

from reservations import api

app_name = "reservations"

urlpatterns = [
    path("api/slots/", api.slots, name="api-slots"),
]
