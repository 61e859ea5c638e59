"""ASGI 3 on the shared HTTP/1.1 core: the http scope and lifespan."""

from __future__ import annotations

from frontdesk.interfaces.asgi.http import ASGIHandler
from frontdesk.interfaces.asgi.lifespan import Lifespan

__all__ = ["ASGIHandler", "Lifespan"]
