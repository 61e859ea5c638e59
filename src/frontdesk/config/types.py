"""Converters: how a setting's text or TOML value becomes a typed value, and back.

Every converter answers the same questions, so the loader, the CLI and the docs never
special-case a type:

- ``parse(text)``: a value from the environment or the command line (always text);
- ``from_toml(value)``: a value tomllib produced (already typed: int, str, bool, list...);
- ``from_cli(raw)``: what argparse stored, given the converter's ``cli_shape``;
- ``to_toml(value)``: the TOML literal of a typed value (docs, ``frontdesk settings``);
- ``allowed``: what is accepted, in words; error messages end with "expected <allowed>";
- ``annotation``: the annotation its ``Config`` field must carry (checked by a test).

A rejected value raises ``Invalid``; the loader adds where the value came from.
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Generic, Literal, TypeVar

__all__ = [
    "AUTO_WORKERS",
    "Bool",
    "Choice",
    "CliValue",
    "Converter",
    "FileMode",
    "Int",
    "Invalid",
    "ListOf",
    "MountPath",
    "Network",
    "OptionalText",
    "Seconds",
    "Size",
    "Str",
    "WorkerCount",
    "format_size",
    "toml_repr",
    "toml_string",
]

T = TypeVar("T")

#: what argparse stores for a setting: text, a bool for --x/--no-x, a list for repeatable flags
CliValue = str | bool | list[str]

_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_SIZE = re.compile(r"([0-9]+)([kmg]?)", re.ASCII | re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_MODE = re.compile(r"(?:0[oO]?)?([0-7]{1,3})", re.ASCII)
_MODE_MAX = 0o777
_NO_MODE = ("", "none")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class Invalid(ValueError):
    """A value was rejected. ``reason`` completes "<where> = <value>: <reason>".

    ``item`` is set when one element of a list was at fault, so the message can point at it.
    """

    def __init__(self, reason: str, item: object = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.item = item


class Converter(ABC, Generic[T]):
    """Text and TOML values to one typed value; see the module docstring."""

    #: "value": ``--x V``; "flag": ``--x``/``--no-x``; "repeat": ``--x V`` given many times
    cli_shape: ClassVar[Literal["value", "flag", "repeat"]] = "value"
    annotation: ClassVar[str]
    metavar: str = "VALUE"

    @property
    @abstractmethod
    def allowed(self) -> str: ...

    @abstractmethod
    def parse(self, text: str) -> T: ...

    @abstractmethod
    def from_toml(self, value: object) -> T: ...

    @abstractmethod
    def to_toml(self, value: T) -> str: ...

    def from_cli(self, raw: CliValue) -> T:
        if not isinstance(raw, str):
            raise TypeError(f"{type(self).__name__} takes text from the command line")
        return self.parse(raw)

    def expected(self) -> Invalid:
        return Invalid(f"expected {self.allowed}")

    def resolve(self, value: T) -> T:
        """A symbolic default made concrete (``auto`` workers: the CPU count); else as is."""
        return value


def _range_words(low: str | None, high: str | None) -> str:
    if low is not None and high is not None:
        return f"from {low} to {high}"
    if low is not None:
        return f">= {low}"
    if high is not None:
        return f"<= {high}"
    return ""


class Int(Converter[int]):
    """An integer within [low, high] (either bound optional)."""

    annotation = "int"

    def __init__(self, low: int | None = None, high: int | None = None, metavar: str = "N") -> None:
        self.low = low
        self.high = high
        self.metavar = metavar

    @property
    def allowed(self) -> str:
        low = None if self.low is None else str(self.low)
        high = None if self.high is None else str(self.high)
        return f"an integer {_range_words(low, high)}".rstrip()

    def parse(self, text: str) -> int:
        text = text.strip()
        # int() alone would also take "1_000" and non-ASCII digits; TOML-like text only.
        if not _INT.fullmatch(text):
            raise self.expected()
        try:
            value = int(text)
        except ValueError:  # more digits than int() converts (sys.int_info)
            raise self.expected() from None
        return self._check(value)

    def from_toml(self, value: object) -> int:
        # bool is an int subclass in Python, but `true` is not a number in TOML.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.expected()
        return self._check(value)

    def _check(self, value: int) -> int:
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise self.expected()
        return value

    def to_toml(self, value: int) -> str:
        return str(value)


class Seconds(Converter[float]):
    """A finite number of seconds, at least ``low`` (or more than ``low`` if ``exclusive``)."""

    annotation = "float"
    metavar = "SECONDS"

    def __init__(self, low: float = 0.0, *, exclusive: bool = False) -> None:
        self.low = float(low)
        self.exclusive = exclusive

    @property
    def allowed(self) -> str:
        op = ">" if self.exclusive else ">="
        return f"a number of seconds {op} {_number(self.low)}"

    def parse(self, text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise self.expected() from None
        return self._check(value)

    def from_toml(self, value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.expected()
        return self._check(float(value))

    def _check(self, value: float) -> float:
        # inf and nan would pass a naive comparison or poison timer arithmetic later.
        if not math.isfinite(value):
            raise self.expected()
        if value < self.low or (self.exclusive and value == self.low):
            raise self.expected()
        return value

    def to_toml(self, value: float) -> str:
        return _number(value)


class Rate(Seconds):
    """A finite number of events a second, at least ``low``."""

    metavar = "PER_SECOND"

    @property
    def allowed(self) -> str:
        op = ">" if self.exclusive else ">="
        return f"a number per second {op} {_number(self.low)}"


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def format_size(value: int) -> str:
    """The shortest exact text for a byte count: 104857600 -> "100m", 1000 -> "1000"."""
    for suffix in ("g", "m", "k"):
        unit = _SIZE_UNITS[suffix]
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


class Size(Converter[int]):
    """A byte count: ``1048576``, ``512k``, ``10m``, ``1g`` (1024-based, any case)."""

    annotation = "int"
    metavar = "BYTES"

    def __init__(self, low: int = 0, high: int | None = None) -> None:
        self.low = low
        self.high = high

    @property
    def allowed(self) -> str:
        low = format_size(self.low) if self.low else None
        high = None if self.high is None else format_size(self.high)
        bounds = _range_words(low, high)
        bounds = f" {bounds}" if bounds else ""
        return f"a size in bytes{bounds}, as an integer or with a k, m or g suffix (512k, 10m, 1g)"

    def parse(self, text: str) -> int:
        match = _SIZE.fullmatch(text.strip())
        if match is None:
            raise self.expected()
        digits, suffix = match.groups()
        try:
            value = int(digits) * _SIZE_UNITS[suffix.lower()]
        except ValueError:  # more digits than int() converts
            raise self.expected() from None
        return self._check(value)

    def from_toml(self, value: object) -> int:
        if isinstance(value, str):
            return self.parse(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.expected()
        return self._check(value)

    def _check(self, value: int) -> int:
        if value < self.low or (self.high is not None and value > self.high):
            raise self.expected()
        return value

    def to_toml(self, value: int) -> str:
        text = format_size(value)
        return str(value) if text == str(value) else toml_string(text)


class Bool(Converter[bool]):
    """true/false in TOML; 1/0, true/false, yes/no, on/off in the environment; --x/--no-x."""

    annotation = "bool"
    cli_shape = "flag"
    metavar = ""

    @property
    def allowed(self) -> str:
        return "true or false"

    def parse(self, text: str) -> bool:
        word = text.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Invalid(f"expected one of {', '.join(_TRUE + _FALSE)}")

    def from_toml(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise self.expected()
        return value

    def from_cli(self, raw: CliValue) -> bool:
        # BooleanOptionalAction has already turned --x / --no-x into the bool.
        return raw if isinstance(raw, bool) else self.parse(str(raw))

    def to_toml(self, value: bool) -> str:
        return "true" if value else "false"


class Text(Converter[str]):
    """A converter whose values are strings: TOML gives a string, parsed like the CLI's text."""

    def from_toml(self, value: object) -> str:
        if not isinstance(value, str):
            raise self.expected()
        return self.parse(value)

    def to_toml(self, value: str) -> str:
        return toml_string(value)


class Choice(Text):
    """One of a fixed set of lowercase words; input is matched case-insensitively."""

    annotation = "str"

    def __init__(self, *choices: str) -> None:
        self.choices = choices
        self.metavar = "{" + ",".join(choices) + "}"

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self.choices)

    def parse(self, text: str) -> str:
        word = text.strip().lower()
        if word not in self.choices:
            raise self.expected()
        return word


class Str(Text):
    """Non-empty text without NUL (which no path or name may contain)."""

    annotation = "str"

    def __init__(
        self,
        allowed: str = "a non-empty string",
        metavar: str = "TEXT",
        *,
        allow_empty: bool = False,
    ) -> None:
        self._allowed = allowed
        self.metavar = metavar
        #: "" is a value meaning "none" (no certificate file, no health path)
        self.allow_empty = allow_empty

    @property
    def allowed(self) -> str:
        return f"{self._allowed}, or empty" if self.allow_empty else self._allowed

    def parse(self, text: str) -> str:
        if (not text and not self.allow_empty) or "\x00" in text:
            raise self.expected()
        return text


class OptionalText(Converter[str | None]):
    """Text without NUL (a path, a user name), or none: ``""`` or ``none`` mean not set."""

    annotation = "str | None"

    def __init__(self, allowed: str = "a non-empty string", metavar: str = "TEXT") -> None:
        self._allowed = allowed
        self.metavar = metavar

    @property
    def allowed(self) -> str:
        return f"{self._allowed}, or none"

    def parse(self, text: str) -> str | None:
        if text.strip().lower() in _NO_MODE:
            return None
        if "\x00" in text:
            raise self.expected()
        return text

    def from_toml(self, value: object) -> str | None:
        if not isinstance(value, str):
            raise self.expected()
        return self.parse(value)

    def to_toml(self, value: str | None) -> str:
        return toml_string("none" if value is None else value)


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


#: the ``auto`` worker count as a declared default; ``WorkerCount.resolve`` makes it concrete
AUTO_WORKERS = -1


class WorkerCount(Converter[int]):
    """A number of worker processes, or ``auto``: one per CPU, resolved when parsed.

    0 is allowed and means "no worker processes": the caller serves in its own process.
    A default of ``AUTO_WORKERS`` is shown as ``auto`` in the docs and resolved by the loader.
    """

    annotation = "int"
    metavar = "N"

    def __init__(self, high: int = 1024) -> None:
        self.high = high

    @property
    def allowed(self) -> str:
        return f"an integer from 0 to {self.high}, or auto for one per CPU"

    def parse(self, text: str) -> int:
        text = text.strip()
        if text.lower() == "auto":
            return min(cpu_count(), self.high)
        if not _INT.fullmatch(text) or len(text) > 6:
            raise self.expected()
        return self._check(int(text))

    def from_toml(self, value: object) -> int:
        if isinstance(value, str):
            return self.parse(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.expected()
        return self._check(value)

    def _check(self, value: int) -> int:
        if not 0 <= value <= self.high:
            raise self.expected()
        return value

    def resolve(self, value: int) -> int:
        return min(cpu_count(), self.high) if value == AUTO_WORKERS else value

    def to_toml(self, value: int) -> str:
        return '"auto"' if value == AUTO_WORKERS else str(value)


class ListOf(Converter[tuple[str, ...]]):
    """One or more items: a repeatable flag, a comma-separated env var, a TOML array.

    A single TOML string is taken as a one-item list, since ``bind = "0.0.0.0:80"`` is what
    people write first. Items are stored as a tuple so the Config stays immutable.
    ``split_commas`` also splits each flag value and TOML string on commas, for items that
    never contain one (addresses); ``bind`` keeps it off, as a unix socket path may.
    """

    annotation = "tuple[str, ...]"
    cli_shape = "repeat"

    def __init__(
        self, item: Converter[str], *, split_commas: bool = False, allow_empty: bool = False
    ) -> None:
        self.item = item
        self.metavar = item.metavar
        self.split_commas = split_commas
        #: an empty list is a value (e.g. "no static routes"), not a mistake
        self.allow_empty = allow_empty

    @property
    def allowed(self) -> str:
        quantity = "zero or more" if self.allow_empty else "one or more"
        return f"{quantity} of {self.item.allowed}"

    def parse(self, text: str) -> tuple[str, ...]:
        return self.from_items(text.split(","))

    def from_items(self, items: Sequence[str]) -> tuple[str, ...]:
        if not items:
            if self.allow_empty:
                return ()
            raise self.expected()
        out = []
        for raw in items:
            try:
                out.append(self.item.parse(raw.strip()))
            except Invalid as err:
                raise Invalid(err.reason, item=raw) from None
        return tuple(out)

    def from_cli(self, raw: CliValue) -> tuple[str, ...]:
        if isinstance(raw, bool):
            raise TypeError("ListOf takes text from the command line")
        raws = [raw] if isinstance(raw, str) else raw
        if self.split_commas:
            raws = [piece for text in raws for piece in text.split(",")]
        return self.from_items(raws)

    def from_toml(self, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (not value and not self.allow_empty):
            raise self.expected()
        if self.split_commas:
            value = [
                piece.strip()
                for element in value
                for piece in (element.split(",") if isinstance(element, str) else [element])
            ]
        out = []
        for element in value:
            try:
                out.append(self.item.from_toml(element))
            except Invalid as err:
                raise Invalid(err.reason, item=element) from None
        return tuple(out)

    def to_toml(self, value: tuple[str, ...]) -> str:
        return "[" + ", ".join(self.item.to_toml(v) for v in value) + "]"


class FileMode(Converter[int | None]):
    """Permission bits in octal, up to 777, or none (leave them as the umask gives).

    Text is always octal: ``660``, ``0660`` and ``0o660`` are the same mode. A TOML integer is
    the mode's value, so ``0o660``; a decimal ``660`` is refused (it exceeds 0o777) with a
    hint, since it is what people write first and it would mean a different mode.
    """

    annotation = "int | None"
    metavar = "MODE"

    @property
    def allowed(self) -> str:
        return (
            'an octal file mode up to 777, like 660, 0660 or 0o660 (in TOML 0o660 or "660"), '
            "or none"
        )

    def parse(self, text: str) -> int | None:
        text = text.strip()
        if text.lower() in _NO_MODE:
            return None
        match = _MODE.fullmatch(text)
        if match is None:
            raise self.expected()
        return int(match.group(1), 8)

    def from_toml(self, value: object) -> int | None:
        if isinstance(value, str):
            return self.parse(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.expected()
        if not 0 <= value <= _MODE_MAX:
            hint = ""
            if _MODE.fullmatch(str(value)):
                hint = f'; a TOML integer is decimal, write 0o{value} or "{value}" for octal'
            raise Invalid(f"expected {self.allowed}{hint}")
        return value

    def to_toml(self, value: int | None) -> str:
        return toml_string("none") if value is None else f"0o{value:o}"


class MountPath(Text):
    """A URL path prefix an app is mounted under: "" (none), or "/a/b" with no trailing "/"."""

    annotation = "str"
    metavar = "PATH"

    @property
    def allowed(self) -> str:
        return 'a path starting and not ending with "/", like /api, or "" for none'

    def parse(self, text: str) -> str:
        text = text.strip()
        if text == "":
            return text
        # "/" alone ends with "/": the root is spelled "", as in ASGI root_path and SCRIPT_NAME.
        if not text.startswith("/") or text.endswith("/"):
            raise self.expected()
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise self.expected()
        return text


class Network(Text):
    """An IPv4 or IPv6 address or network, or "*" for any; stored in canonical form.

    Host bits of a network are dropped (``10.1.2.3/8`` is ``10.0.0.0/8``); a single address is
    kept without its prefix length (``::1``, not ``::1/128``).
    """

    annotation = "str"
    metavar = "ADDRESS"

    @property
    def allowed(self) -> str:
        return "an IP address or network (IPv4 or IPv6, like 10.0.0.0/8 or ::1), or * for any"

    def parse(self, text: str) -> str:
        text = text.strip()
        if text == "*":
            return text
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise self.expected() from None
        if network.prefixlen == network.max_prefixlen:
            return str(network.network_address)
        return str(network)


def toml_string(value: str) -> str:
    """A TOML basic string. JSON's escapes are valid TOML and keep the text on one line."""
    return json.dumps(value, ensure_ascii=False)


def toml_repr(value: object, limit: int = 120) -> str:
    """Any value tomllib can produce, or text from env/CLI, as one line of TOML for messages."""
    if isinstance(value, str):
        text = toml_string(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    elif isinstance(value, list):
        text = "[" + ", ".join(toml_repr(v, limit) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k} = {toml_repr(v, limit)}" for k, v in value.items()) + "}"
    elif hasattr(value, "isoformat"):
        text = str(value.isoformat())
    else:
        text = repr(value)
    # Invariant: one line, bounded length; a huge value must not flood the error line.
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 1] + "…"
