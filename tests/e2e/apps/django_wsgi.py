"""A one-file Django project served through Django's WSGI handler, by tests/e2e/test_django_wsgi.py.

The database is sqlite at ``$DJANGO_E2E_DB`` (the test migrates it first); ``$DJANGO_E2E_FILE``
is the file /file/ answers with. ``validated_application`` is the project behind
``wsgiref.validate.validator``, which checks every request against PEP 3333.
"""

from __future__ import annotations

import hashlib
import os
from wsgiref.validate import validator

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="frontdesk-test-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("DJANGO_E2E_DB", ":memory:"),
        }
    },
    INSTALLED_APPS=[
        "django.contrib.admin",
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django.contrib.messages",
    ],
    MIDDLEWARE=[
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ],
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "APP_DIRS": True,
            "OPTIONS": {
                "context_processors": [
                    "django.template.context_processors.request",
                    "django.contrib.auth.context_processors.auth",
                    "django.contrib.messages.context_processors.messages",
                ]
            },
        }
    ],
    STATIC_URL="/static/",
    USE_TZ=True,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    # Errors go to stderr, where the test looks for tracebacks (not to mail_admins).
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler"}},
        "loggers": {"django": {"handlers": ["console"], "level": "ERROR"}},
    },
)
django.setup()

from django.contrib import admin  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import (  # noqa: E402
    FileResponse,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    JsonResponse,
)
from django.middleware.csrf import get_token  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils.html import escape  # noqa: E402


def hello(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {
            "method": request.method,
            "path": request.path,
            "query": request.GET.get("q", ""),
            "script_name": request.META["SCRIPT_NAME"],
            "multithread": request.META["wsgi.multithread"],
        }
    )


def form(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return HttpResponse(f"hello {escape(request.POST['name'])}", content_type="text/plain")
    token = get_token(request)
    return HttpResponse(
        '<form method="post">'
        f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        '<input name="name"></form>'
    )


def upload(request: HttpRequest) -> JsonResponse:
    file = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in file.chunks():
        digest.update(chunk)
    return JsonResponse(
        {
            "name": file.name,
            "size": file.size,
            "sha256": digest.hexdigest(),
            "note": request.POST["note"],
            "on_disk": hasattr(file, "temporary_file_path"),
        }
    )


def file(request: HttpRequest) -> HttpResponseBase:
    return FileResponse(open(os.environ["DJANGO_E2E_FILE"], "rb"))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("hello/", hello),
    path("form/", form),
    path("upload/", upload),
    path("file/", file),
]

application = get_wsgi_application()
validated_application = validator(application)
