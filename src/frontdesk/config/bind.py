"""Listen addresses: the text forms ``--bind`` accepts, and their parsed form.

Forms (port always required, 0..65535; port 0 asks the OS for a free port)::

    HOST:PORT        IPv4 address or DNS hostname   127.0.0.1:8000, localhost:8000
    [IPV6]:PORT      IPv6 address in brackets       [::1]:8000, [fe80::1%eth0]:8000
    unix:PATH        Unix domain socket             unix:/run/frontdesk.sock
    fd://N           an already-open socket fd      fd://3 (systemd socket activation)

An IPv6 address must be bracketed, because its colons would make the port ambiguous.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from frontdesk.config.types import Converter, Invalid, toml_string

__all__ = ["BIND_FORMS", "BindAddress", "BindText", "parse_bind"]

#: the accepted forms in words; ends every bind error and appears in the docs
BIND_FORMS = "an address HOST:PORT, [IPV6]:PORT, unix:PATH or fd://N"

# RFC 1123 hostname label: letters, digits, inner hyphens, 1..63 characters.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)
_PORT = re.compile(r"[0-9]{1,5}", re.ASCII)
_FD = re.compile(r"[0-9]{1,9}", re.ASCII)


@dataclass(frozen=True, slots=True)
class BindAddress:
    """One parsed listen address.

    Invariant: exactly the fields of its ``kind`` are set: ``host`` and ``port`` for tcp (host
    without brackets), ``path`` for unix, ``fd`` for fd; the others are None.
    """

    kind: Literal["tcp", "unix", "fd"]
    host: str | None = None
    port: int | None = None
    path: str | None = None
    fd: int | None = None

    @property
    def is_ipv6(self) -> bool:
        return self.kind == "tcp" and self.host is not None and ":" in self.host

    def __str__(self) -> str:
        """The canonical text form; ``parse_bind(str(a)) == a``."""
        if self.kind == "unix":
            return f"unix:{self.path}"
        if self.kind == "fd":
            return f"fd://{self.fd}"
        host = f"[{self.host}]" if self.is_ipv6 else self.host
        return f"{host}:{self.port}"


def parse_bind(text: str) -> BindAddress:
    """Parse one listen address; raises ``Invalid`` (a ValueError) saying what is wrong."""
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if not path or "\x00" in path:
            raise Invalid(f"unix: needs a socket path; {_expected()}")
        return BindAddress("unix", path=path)
    if text.startswith("fd://"):
        digits = text[len("fd://") :]
        if not _FD.fullmatch(digits):
            raise Invalid(f"fd:// needs a file descriptor number; {_expected()}")
        return BindAddress("fd", fd=int(digits))
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise Invalid(_expected())
    port = _parse_port(port_text)
    if host.startswith("["):
        if not host.endswith("]"):
            raise Invalid(f"unclosed '[' in IPv6 address; {_expected()}")
        return BindAddress("tcp", host=_parse_ipv6(host[1:-1]), port=port)
    if ":" in host:
        raise Invalid(f"an IPv6 address needs brackets, e.g. [::1]:{port}")
    return BindAddress("tcp", host=_parse_host(host), port=port)


def _expected() -> str:
    return f"expected {BIND_FORMS}"


def _parse_port(text: str) -> int:
    if not _PORT.fullmatch(text) or int(text) > 65535:
        raise Invalid(f"port must be a number from 0 to 65535; {_expected()}")
    return int(text)


def _parse_ipv6(text: str) -> str:
    try:
        return str(ipaddress.IPv6Address(text))
    except ValueError:
        raise Invalid(f"{text!r} is not an IPv6 address; {_expected()}") from None


def _parse_host(host: str) -> str:
    # All digits and dots means the user meant an IPv4 address, so 999.0.0.1 must not be
    # accepted as a hostname that would only fail later, at bind time.
    if all(c.isdigit() or c == "." for c in host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise Invalid(f"{host!r} is not an IPv4 address; {_expected()}") from None
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise Invalid(f"{host!r} is not a valid hostname; {_expected()}")
    return host.lower()


class BindText(Converter[str]):
    """One listen address as text, checked by ``parse_bind`` and stored in canonical form."""

    annotation = "str"
    metavar = "ADDRESS"

    @property
    def allowed(self) -> str:
        return BIND_FORMS

    def parse(self, text: str) -> str:
        return str(parse_bind(text.strip()))

    def from_toml(self, value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(_expected())
        return self.parse(value)

    def to_toml(self, value: str) -> str:
        return toml_string(value)
