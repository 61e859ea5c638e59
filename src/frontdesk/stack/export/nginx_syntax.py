"""nginx config syntax: indented directives and blocks, strings, times."""

from __future__ import annotations

import re

from frontdesk.errors import ConfigError

__all__ = ["Block", "Lines", "duration", "on_off", "quote"]


class Lines:
    """Indented nginx directives; ``block`` opens ``name { ... }`` for a ``with``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 0

    def add(self, *directives: str) -> None:
        for text in directives:
            self.lines.append("    " * self.depth + text if text else "")

    def block(self, head: str) -> Block:
        return Block(self, head)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Block:
    def __init__(self, lines: Lines, head: str) -> None:
        self.lines, self.head = lines, head

    def __enter__(self) -> None:
        self.lines.add(f"{self.head} {{")
        self.lines.depth += 1

    def __exit__(self, *exc: object) -> None:
        self.lines.depth -= 1
        self.lines.add("}")


def quote(text: str) -> str:
    """An nginx string: quoted when it holds anything but plain characters."""
    if "$" in text or any(ord(c) < 0x20 for c in text):
        # nginx has no escape for "$" in a string: it would read a variable.
        raise ConfigError(f"{text!r}: nginx cannot take '$' or control characters here")
    if text and re.fullmatch(r"[A-Za-z0-9_./:@*=+,-]+", text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def duration(value: float) -> str:
    millis = round(value * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def on_off(flag: bool) -> str:
    return "on" if flag else "off"
