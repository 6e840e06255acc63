"""Top-level URLs: the seeker's pages, the terms, the API, the Zoom webhook, the admin."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "ハローワーク伊勢崎 オンライン職業相談 予約管理"
admin.site.site_title = "オンライン職業相談 予約管理"
admin.site.index_title = "予約管理"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("consent.urls")),
    path("", include("reservations.urls")),
]
