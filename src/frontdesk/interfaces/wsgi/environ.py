"""The WSGI ``environ`` of one request (PEP 3333, with CGI 1.1's variables), built on the loop.

- Every CGI value is a native ``str`` holding the bytes as sent, decoded as latin-1 (PEP 3333
  "native strings"); ``PATH_INFO`` is the path percent-decoded *to bytes* and then decoded the
  same way, so an app re-encoding it as latin-1 gets the exact bytes back.
- ``SCRIPT_NAME`` is ``root_path`` and ``PATH_INFO`` the request's path, as the ASGI layer
  builds ``root_path`` and ``path``: a proxy mounting the app under a prefix strips it.
- ``HTTP_*``: a field name holding "_" is dropped, so ``X_Forwarded_For`` cannot pose as
  ``X-Forwarded-For`` (both would become ``HTTP_X_FORWARDED_FOR``). Repeated fields are
  joined with "," (RFC 9110 5.3), ``Cookie`` with "; " (RFC 6265 5.4).
- ``SERVER_NAME``/``SERVER_PORT`` are the listening socket's; on a unix socket, the Host's.
- ``REMOTE_ADDR``/``REMOTE_PORT`` and ``wsgi.url_scheme`` come from trusted proxy headers
  (``frontdesk.interfaces.proxy``) exactly as the ASGI scope's ``client`` and ``scheme``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote_to_bytes

from frontdesk import __version__
from frontdesk.interfaces.proxy import TrustedProxies, resolve

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.wsgi.types import Environ

_PROTOCOLS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_JOINERS: Final = {"HTTP_COOKIE": "; "}
_SPECIAL: Final = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}

# environ keys of field names seen before. Names are client-chosen, so the cache is bounded.
_KEYS: dict[bytes, str] = {}
_KEYS_MAX: Final = 512


def environ_key(name: bytes) -> str | None:
    """The environ key of a lower-case field name; None for a name that must be dropped."""
    key = _KEYS.get(name)
    if key is not None:
        return key
    special = _SPECIAL.get(name)
    if special is not None:
        return special
    if b"_" in name:
        return None
    key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
    if len(_KEYS) < _KEYS_MAX:
        _KEYS[name] = key
    return key


def path_info(raw_path: bytes) -> str:
    """PEP 3333: the percent-decoded path as a native string (bytes decoded as latin-1)."""
    if b"%" in raw_path:
        raw_path = unquote_to_bytes(raw_path)
    return raw_path.decode("latin-1")


def split_host(host: str, scheme: str) -> tuple[str, str]:
    """A Host value as SERVER_NAME and SERVER_PORT (the scheme's port when it names none)."""
    default = "443" if scheme == "https" else "80"
    if host.startswith("["):
        end = host.find("]")
        name, rest = (host[1:end], host[end + 1 :]) if end > 0 else (host, "")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name or "localhost", port if port.isdigit() else default


class EnvironBuilder:
    """Builds one environ per request from a per-handler template of the constant keys."""

    __slots__ = ("_base", "root_path", "trusted_proxies")

    def __init__(
        self,
        *,
        root_path: str = "",
        trusted_proxies: TrustedProxies | None = None,
        multithread: bool,
        multiprocess: bool = False,
        file_wrapper: type,
    ) -> None:
        self.root_path = root_path
        #: None ignores X-Forwarded-* and Forwarded from every peer
        self.trusted_proxies = trusted_proxies
        self._base: dict[str, Any] = {
            "SCRIPT_NAME": root_path,
            "SERVER_SOFTWARE": f"frontdesk/{__version__}",
            "wsgi.version": (1, 0),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": multithread,
            "wsgi.multiprocess": multiprocess,
            "wsgi.run_once": False,
            "wsgi.file_wrapper": file_wrapper,
            # wsgi.input reads to the end of the body and then returns b"" (also for chunked
            # bodies), so frameworks need not stop at CONTENT_LENGTH themselves.
            "wsgi.input_terminated": True,
        }

    def build(self, exchange: Exchange, wsgi_input: Any) -> Environ:
        request = exchange.request
        environ = self._base.copy()
        environ["REQUEST_METHOD"] = request.method
        environ["PATH_INFO"] = path_info(request.path)
        environ["QUERY_STRING"] = request.query.decode("latin-1")
        environ["SERVER_PROTOCOL"] = _PROTOCOLS.get(request.version) or "HTTP/" + request.version
        environ["wsgi.input"] = wsgi_input

        client = exchange.client
        scheme = exchange.scheme
        trusted = self.trusted_proxies
        if trusted is not None and request.proxied:  # resolve() is for requests that need it
            client, scheme, _host = resolve(client, scheme, request.headers, trusted)
        environ["wsgi.url_scheme"] = scheme
        if client is not None:
            environ["REMOTE_ADDR"] = client[0]
            environ["REMOTE_PORT"] = str(client[1])
        server = exchange.server
        if server is not None and server[1] is not None:
            environ["SERVER_NAME"] = server[0]
            environ["SERVER_PORT"] = str(server[1])
        else:  # a unix socket has no name or port a URL could use
            host, port = split_host(request.host.decode("latin-1"), scheme)
            environ["SERVER_NAME"] = host
            environ["SERVER_PORT"] = port

        for name, value in request.headers:
            key = environ_key(name)
            if key is None:
                continue
            text = value.decode("latin-1")
            previous = environ.get(key)
            environ[key] = text if previous is None else previous + _JOINERS.get(key, ",") + text
        return environ
