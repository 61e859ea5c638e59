"""A one-file Django project served through Django's own ASGI handler."""

from __future__ import annotations

import asyncio

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="frontdesk-test-only",
    ROOT_URLCONF=__name__,
    ALLOWED_HOSTS=["*"],
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
)
django.setup()

from django.core.asgi import get_asgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402


async def async_view(request: HttpRequest) -> JsonResponse:
    await asyncio.sleep(0)
    return JsonResponse(
        {"method": request.method, "path": request.path, "query": request.GET.get("q", "")}
    )


async def echo_body(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"length": len(request.body), "type": request.content_type})


urlpatterns = [path("async/", async_view), path("echo/", echo_body)]

application = get_asgi_application()
