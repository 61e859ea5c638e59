from __future__ import annotations

from django.contrib import admin

from .models import Entry


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["name", "created", "message"]
    search_fields = ["name", "message"]
