"""The exception tree of frontdesk.

Every error says who is at fault, and the HTTP errors carry the status to answer with::

    FrontdeskError
    ├── ConfigError            bad setting, flag or config file; the CLI exits with status 2
    ├── AppLoadError           the app path does not import or is not an app; exit status 3
    ├── ProtocolError          an HTTP/1.1 exchange went wrong; carries ``status``
    │   ├── RemoteProtocolError    the peer broke the protocol (4xx; answer then close)
    │   └── LocalProtocolError     we (or the app) broke it (5xx; close)
    └── ClientDisconnected     the client went away; also a ConnectionError (an OSError), so
                               an app writing to a gone client gets the OSError it expects

``ProtocolError.status`` is the status a server answers with before closing the connection;
``None`` means "close without answering" (for example a timeout while idle on keep-alive).
"""

from __future__ import annotations

__all__ = [
    "AppLoadError",
    "ClientDisconnected",
    "ConfigError",
    "FrontdeskError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
]


class FrontdeskError(Exception):
    """Base of every error frontdesk raises on purpose."""

    #: process exit status the CLI uses when this error ends the process
    exit_status: int = 1


class ConfigError(FrontdeskError):
    """A setting, flag or config file is wrong. The message is one line, fit for a user."""

    exit_status = 2


class AppLoadError(FrontdeskError):
    """The application named on the command line cannot be loaded."""

    exit_status = 3


class ProtocolError(FrontdeskError):
    """An HTTP exchange cannot go on. ``status`` is the answer to give, or None to just close."""

    status: int | None = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class RemoteProtocolError(ProtocolError):
    """The peer sent something RFC 9112 forbids, or went past a limit. The peer's fault."""

    status: int | None = 400


class LocalProtocolError(ProtocolError):
    """Our side (the server or the app) broke the protocol. Our fault."""

    status: int | None = 500


class ClientDisconnected(FrontdeskError, ConnectionError):
    """The client closed the connection (or it was reset) before the exchange ended."""
