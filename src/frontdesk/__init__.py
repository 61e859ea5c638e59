"""frontdesk: the whole Python serving stack in one package.

The edge (the front door), the application server with its process manager, and the WSGI and
ASGI contracts the apps speak. See docs/architecture.md for the layers.
"""

from __future__ import annotations

from frontdesk.errors import (
    AppLoadError,
    ClientDisconnected,
    ConfigError,
    FrontdeskError,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)

__version__ = "0.1.0"

__all__ = [
    "AppLoadError",
    "ClientDisconnected",
    "ConfigError",
    "FrontdeskError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "__version__",
]
