"""Seeing what happens: process logging (``logging``), the access log (``access``), and a
request's journey through the layers: request ids, Server-Timing, tracing (``journey``).
Metrics later."""
