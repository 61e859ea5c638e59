"""The edge: the internet-facing layer (listeners, TLS, static files, proxy, filters)."""
