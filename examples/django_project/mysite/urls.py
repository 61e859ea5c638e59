"""URLs: the guestbook at /, the admin at /admin/. No /static/: the edge serves it."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("guestbook.urls")),
]
