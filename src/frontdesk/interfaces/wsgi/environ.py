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
from frontdesk.http.rules import JOURNEY_FIELDS
from frontdesk.interfaces.proxy import TrustedProxies, resolve
from frontdesk.memo import remember

if TYPE_CHECKING:
    from frontdesk.http.exchange import Exchange
    from frontdesk.interfaces.wsgi.types import Environ

_PROTOCOLS: Final = {"1.1": "HTTP/1.1", "1.0": "HTTP/1.0"}
_JOINERS: Final = {"HTTP_COOKIE": "; "}
_SPECIAL: Final = {b"content-type": "CONTENT_TYPE", b"content-length": "CONTENT_LENGTH"}

# environ keys of field names seen before. Names are client-chosen, so the cache is bounded.
_KEYS: dict[bytes, str] = dict(_SPECIAL)
_KEYS_MAX: Final = 512


def environ_key(name: bytes) -> str | None:
    """The environ key of a lower-case field name; None for a name that must be dropped."""
    key = _KEYS.get(name)
    if key is not None:
        return key
    special = _SPECIAL.get(name)
    if special is not None:
        return special
    if name.find(b"_") >= 0:
        return None
    key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
    if len(_KEYS) < _KEYS_MAX:
        _KEYS[name] = key
    return key


# Field lines seen before: (name, value) -> (environ key, value as a str). Clients send the
# same Host, User-Agent, Accept... on request after request; one lookup stands for finding
# the key and decoding the value. Bounded, short values only, and not the journey's fields
# (a proxy's request id and start time differ on every request: they would only churn it).
_LINES: dict[tuple[bytes, bytes], tuple[str, str]] = {}
_LINES_MAX: Final = 1024
_LINES_VALUE: Final = 128


def _environ_line(line: tuple[bytes, bytes]) -> tuple[str, str] | None:
    """A field line as (environ key, value), remembered; None for a name that is dropped."""
    name, value = line
    key = _KEYS.get(name) or environ_key(name)  # environ_key's own first step, written out
    if key is None:
        return None
    found = (key, value.decode("latin-1"))
    if len(value) <= _LINES_VALUE and name not in JOURNEY_FIELDS:
        remember(_LINES, line, found, _LINES_MAX)
    return found


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


# The facts of a connection, as environ keys: (client, server, scheme, the Host on a unix
# socket) -> the template with REMOTE_*, SERVER_* and wsgi.url_scheme filled in. One request
# after another on a keep-alive connection copies it whole (one copy of a dict is cheaper than
# setting five keys and formatting two ports). Bounded: past that many, it starts again.
_FACTS_MAX: Final = 1024


class EnvironBuilder:
    """Builds one environ per request from a per-handler template of the constant keys."""

    __slots__ = ("_base", "_facts", "root_path", "trusted_proxies")

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
        self._facts: dict[tuple[object, ...], dict[str, Any]] = {}

    def _template(
        self,
        client: tuple[str, int] | None,
        server: tuple[str, int | None] | None,
        scheme: str,
        host: bytes | None,
    ) -> dict[str, Any]:
        """The constant keys and a connection's facts (``host``: the Host, on a unix socket)."""
        template = self._base.copy()
        template["wsgi.url_scheme"] = scheme
        if client is not None:
            template["REMOTE_ADDR"] = client[0]
            template["REMOTE_PORT"] = str(client[1])
        if host is None and server is not None:
            template["SERVER_NAME"] = server[0]
            template["SERVER_PORT"] = str(server[1])
        else:  # a unix socket has no name or port a URL could use
            name, port = split_host((host or b"").decode("latin-1"), scheme)
            template["SERVER_NAME"] = name
            template["SERVER_PORT"] = port
        facts = self._facts
        remember(facts, (client, server, scheme, host), template, _FACTS_MAX)
        return template

    def build(self, exchange: Exchange, wsgi_input: Any) -> Environ:
        request = exchange.request
        client = exchange.client
        scheme = exchange.scheme
        trusted = self.trusted_proxies
        if trusted is not None and request.proxied:  # resolve() is for requests that need it
            client, scheme, _host = resolve(client, scheme, request.headers, trusted)
        server = exchange.server
        host = request.host if server is None or server[1] is None else None
        template = self._facts.get((client, server, scheme, host))
        if template is None:
            template = self._template(client, server, scheme, host)
        environ = template.copy()

        environ["REQUEST_METHOD"] = request.method
        path = request.path
        if path.find(b"%") >= 0:  # PEP 3333: percent-decoded, as bytes, then a native string
            path = unquote_to_bytes(path)
        environ["PATH_INFO"] = path.decode("latin-1")
        environ["QUERY_STRING"] = request.query.decode("latin-1")
        environ["SERVER_PROTOCOL"] = _PROTOCOLS.get(request.version) or "HTTP/" + request.version
        environ["wsgi.input"] = wsgi_input

        lines = _LINES
        for line in request.headers:
            found = lines.get(line)
            if found is None:
                found = _environ_line(line)
                if found is None:
                    continue
            key, text = found
            previous = environ.get(key)
            environ[key] = text if previous is None else previous + _JOINERS.get(key, ",") + text
        return environ
