"""Seeing what happens: logging now; access log, request ids, Server-Timing and metrics later."""
