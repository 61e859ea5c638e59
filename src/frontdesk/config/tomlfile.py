"""Reading the TOML config file, and finding the line each key is on.

tomllib validates the syntax and gives the values, but not where they were: errors and
``Config.source`` want ``frontdesk.toml:7``. So after tomllib has accepted the text, a small
line scanner records the first line of every key path. The scanner may be simple because the
text is known to be valid TOML; what it must get right is not mistaking the inside of a
multi-line string for a key or table header.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from frontdesk.errors import ConfigError

__all__ = ["TomlFile", "key_lines", "read_toml"]

KeyPath = tuple[str, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+", re.ASCII)
_DECODE_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_DECODE_END = re.compile(r"\s*\(at end of document\)$")


@dataclass(frozen=True)
class TomlFile:
    """A parsed config file: its path as the user gave it, its data, and key lines."""

    path: str
    data: Mapping[str, Any]
    lines: Mapping[KeyPath, int]
    #: the line of each ``[[key]]`` header, in order: entry N of an array of tables is there
    arrays: Mapping[KeyPath, tuple[int, ...]] = field(default_factory=dict)

    def array_lines(self, key: KeyPath) -> tuple[int, ...]:
        """Lines of the ``[[key]]`` headers; for an inline array, its key's line for each."""
        found = self.arrays.get(key)
        if found:
            return found
        line = self.lines.get(key)
        value: Any = self.data
        for part in key:
            value = value.get(part) if isinstance(value, dict) else None
        count = len(value) if isinstance(value, list) else 0
        return (line,) * count if line is not None else ()

    def line_of(self, key: KeyPath) -> int | None:
        """The line of ``key``, else of its nearest parent (an inline table, a header)."""
        for end in range(len(key), 0, -1):
            line = self.lines.get(key[:end])
            if line is not None:
                return line
        return None

    def where(self, key: KeyPath) -> str:
        """``path:line`` for messages and sources; just ``path`` if the line is unknown."""
        line = self.line_of(key)
        return self.path if line is None else f"{self.path}:{line}"


def read_toml(path: str, named_by: str = "") -> TomlFile:
    """Read and parse ``path``; any failure is a one-line ``ConfigError`` naming the file.

    ``named_by`` says where the path came from (e.g. an env var), for the not-found message.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        hint = f" (named by {named_by})" if named_by else ""
        raise ConfigError(f"{path}: config file not found{hint}") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config file: {err.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: config file is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(_syntax_error(path, str(err), text)) from None
    arrays: dict[KeyPath, list[int]] = {}
    return TomlFile(
        path,
        data,
        key_lines(text, arrays),
        {key: tuple(lines) for key, lines in arrays.items()},
    )


def _syntax_error(path: str, message: str, text: str) -> str:
    # tomllib ends its messages with "(at line L, column C)" or "(at end of document)".
    message = message.strip().splitlines()[0] if message.strip() else "syntax error"
    pos = _DECODE_POS.search(message)
    if pos is not None:
        where = f"{path}:{pos.group(1)}:{pos.group(2)}"
        message = message[: pos.start()]
    elif _DECODE_END.search(message):
        where = f"{path}:{text.count(chr(10)) + 1}"
        message = _DECODE_END.sub("", message) + " at end of file"
    else:
        where = path
    return f"{where}: invalid TOML: {message}"


def key_lines(text: str, arrays: dict[KeyPath, list[int]] | None = None) -> dict[KeyPath, int]:
    """First line (1-based) of every key path and table header in valid TOML ``text``.

    A dotted key or header also records its parents, so a lookup can fall back to them.
    ``arrays``, when given, receives the line of every ``[[array.of.tables]]`` header.
    """
    found: dict[KeyPath, int] = {}
    table: KeyPath = ()
    # Scan state carried across lines: the closer of the multi-line string the scan is in
    # (or ""), and how many arrays/inline tables are open. Inside either, a line holds only
    # values, so it must not be read as a key or a header ("  [1]," in a nested array).
    open_string = ""
    depth = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        pos = 0
        if open_string:
            pos = _find_close(line, 0, open_string)
            if pos < 0:
                continue
            open_string = ""
        elif depth == 0:
            stripped = line.lstrip()
            pos = len(line) - len(stripped)
            if stripped.startswith("["):
                header = _parse_header(line, pos)
                if header is not None:
                    table, pos = header
                    _record(found, table, lineno)
                    if arrays is not None and stripped.startswith("[["):
                        arrays.setdefault(table, []).append(lineno)
            else:
                parsed = _parse_key(line, pos)
                if parsed is not None and line[parsed[1] :].lstrip().startswith("="):
                    key, pos = parsed
                    _record(found, table + key, lineno)
                    pos = line.index("=", pos) + 1
        open_string, depth = _scan_values(line, pos, depth)
    return found


def _record(found: dict[KeyPath, int], key: KeyPath, lineno: int) -> None:
    for end in range(1, len(key) + 1):
        found.setdefault(key[:end], lineno)


def _parse_header(line: str, pos: int) -> tuple[KeyPath, int] | None:
    double = line.startswith("[[", pos)
    parsed = _parse_key(line, pos + (2 if double else 1))
    if parsed is None:
        return None
    key, end = parsed
    rest = line[end:].lstrip()
    close = "]]" if double else "]"
    if not rest.startswith(close):
        return None
    return key, line.index(close, end) + len(close)


def _parse_key(line: str, pos: int) -> tuple[KeyPath, int] | None:
    """A dotted key starting at ``pos`` (after optional blanks), and the index after it."""
    parts: list[str] = []
    while True:
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos >= len(line):
            return None
        if line[pos] == '"':
            end = _find_close(line, pos + 1, '"')
            if end < 0:
                return None
            try:
                # Let tomllib decode the escapes, so the key matches what it produced.
                parts.append(tomllib.loads("k = " + line[pos:end])["k"])
            except tomllib.TOMLDecodeError:
                return None
            pos = end
        elif line[pos] == "'":
            end = line.find("'", pos + 1)
            if end < 0:
                return None
            parts.append(line[pos + 1 : end])
            pos = end + 1
        else:
            match = _BARE.match(line, pos)
            if match is None:
                return None
            parts.append(match.group())
            pos = match.end()
        while pos < len(line) and line[pos] in " \t":
            pos += 1
        if pos < len(line) and line[pos] == ".":
            pos += 1
            continue
        return tuple(parts), pos


def _find_close(line: str, pos: int, delimiter: str) -> int:
    """Index just past ``delimiter`` closing a string, from ``pos``; -1 if not on this line.

    In basic strings (``"``) a backslash escapes the next character; literal strings have no
    escapes.
    """
    while pos < len(line):
        if delimiter[0] == '"' and line[pos] == "\\":
            pos += 2
            continue
        if line.startswith(delimiter, pos):
            end = pos + len(delimiter)
            # A multi-line string may end with up to two quotes of content before the closer.
            while len(delimiter) == 3 and end < len(line) and line[end] == delimiter[0]:
                end += 1
            return end
        pos += 1
    return -1


def _scan_values(line: str, pos: int, depth: int) -> tuple[str, int]:
    """Scan values in the rest of ``line``: skip strings and the comment, count brackets.

    Returns the multi-line string closer left open (or "") and the bracket depth after.
    """
    while pos < len(line):
        char = line[pos]
        if char == "#":
            break
        if char in "\"'":
            delimiter = char * 3 if line.startswith(char * 3, pos) else char
            end = _find_close(line, pos + len(delimiter), delimiter)
            if end < 0:
                return (delimiter if len(delimiter) == 3 else ""), depth
            pos = end
            continue
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth = max(0, depth - 1)
        pos += 1
    return "", depth
