"""WSGI (PEP 3333) on the shared HTTP/1.1 core: environ, input, start_response, two modes."""

from __future__ import annotations

from frontdesk.interfaces.wsgi.filewrapper import FileWrapper
from frontdesk.interfaces.wsgi.handler import WSGIHandler

__all__ = ["FileWrapper", "WSGIHandler"]
