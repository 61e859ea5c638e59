"""The guestbook: a page listing the entries, with a form (CSRF-protected) to add one."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .forms import EntryForm
from .models import Entry


def index(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = EntryForm(request.POST)
        if form.is_valid():
            form.save()
            # Post/redirect/get: reloading the page does not post the entry again.
            return redirect("guestbook:index")
    else:
        form = EntryForm()
    entries = Entry.objects.all()[:20]
    status = 400 if form.errors else 200
    return render(
        request, "guestbook/index.html", {"form": form, "entries": entries}, status=status
    )
