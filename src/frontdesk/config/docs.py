"""Generate docs/settings.md from the declarations; a test fails when the file is stale.

Regenerate with::

    python -m frontdesk.config.docs --write docs/settings.md

Also renders a ``Config`` as TOML (``config_as_toml``), shared by the docs' example file and
``frontdesk settings``, so both always show valid TOML with the right keys.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from frontdesk.config.layout import layout_reference
from frontdesk.config.loader import default_config
from frontdesk.config.model import Config
from frontdesk.config.settings import CONFIG_ENV, CONSTRAINTS, SECTIONS, SETTINGS, Setting
from frontdesk.config.types import ListOf

__all__ = ["REGENERATE", "config_as_toml", "flag_usage", "main", "render"]

#: the command that rewrites the checked-in file; named by the staleness test
REGENERATE = "python -m frontdesk.config.docs --write docs/settings.md"


def flag_usage(setting: Setting[Any]) -> str:
    """How the flag is written: ``-b ADDRESS, --bind ADDRESS`` or ``--x, --no-x``."""
    if setting.type.cli_shape == "flag":
        return f"{setting.long_flag}, --no-{setting.long_flag[2:]}"
    return ", ".join(f"{flag} {setting.type.metavar}" for flag in setting.cli_flags)


def config_as_toml(config: Config, *, sources: bool = False) -> str:
    """The config as a TOML document, one table per section; ``sources`` adds comments."""
    tables: dict[str, list[str]] = {}
    for setting, value in config.items():
        table, _, key = setting.toml_key.rpartition(".")
        line = f"{key} = {setting.type.to_toml(value)}"
        if sources:
            line += f"  # {config.source(setting.name)}"
        tables.setdefault(table, []).append(line)
    blocks = [f"[{table}]\n" + "\n".join(lines) for table, lines in tables.items()]
    return "\n\n".join(blocks) + "\n"


def _constraint_notes(setting: Setting[Any]) -> list[str]:
    notes = []
    for rule in CONSTRAINTS:
        if rule.low == setting.name:
            notes.append(f"at most `{rule.high}`")
        if rule.high == setting.name:
            notes.append(f"at least `{rule.low}`")
    return notes


def _setting_block(setting: Setting[Any]) -> list[str]:
    kind = setting.type.allowed
    notes = _constraint_notes(setting)
    if notes:
        kind += "; " + ", ".join(notes)
    repeat = ""
    if setting.multiple:
        split = isinstance(setting.type, ListOf) and setting.type.split_commas
        repeat = " (repeatable, comma-separated)" if split else " (repeatable)"
    flag = f"`{flag_usage(setting)}`" + repeat
    env = f"`{setting.env_var}`" + (" (comma-separated)" if setting.multiple else "")
    if setting.env_fallback:
        env += ", else " + ", ".join(f"`{var}`" for var in setting.env_fallback)
    table, _, key = setting.toml_key.rpartition(".")
    return [
        f"### `{setting.name}`",
        "",
        setting.help,
        "",
        f"- Value: {kind}",
        f"- Default: `{setting.type.to_toml(setting.default)}`",
        f"- Flag: {flag}",
        f"- Environment: {env}",
        f"- TOML: `{key}` in `[{table}]`",
        f"- Commands: {', '.join(setting.commands)}",
        "",
    ]


def render() -> str:
    """The whole of docs/settings.md."""
    out = [
        f"<!-- Generated from src/frontdesk/config/settings.py by `{REGENERATE}`. -->",
        "<!-- Do not edit by hand; a test fails when this file is stale. -->",
        "",
        "# Settings",
        "",
        "Each setting is declared once, in `src/frontdesk/config/settings.py`; the command",
        "line, the environment, the TOML file and this page all come from that declaration.",
        "",
        "## Where values come from",
        "",
        "Lowest to highest precedence; a higher source replaces a value whole (lists are",
        "not merged):",
        "",
        "1. the default;",
        f"2. the TOML file given by `-c FILE` / `--config FILE`, else by `{CONFIG_ENV}`;",
        "3. the environment variable `FRONTDESK_<NAME>`;",
        "4. the command-line flag.",
        "",
        "Sizes are bytes, as an integer or with a 1024-based `k`, `m` or `g` suffix (`512k`,",
        "`10m`, `1g`; in TOML an integer or a string). Seconds may be fractional. Booleans",
        "are `true`/`false` in TOML, `--x`/`--no-x` on the command line, and `1`/`0`,",
        "`true`/`false`, `yes`/`no`, `on`/`off` in the environment. Lists are a TOML array,",
        "a repeated flag, or a comma-separated environment variable.",
        "",
        "A bad value, an unknown flag or an unknown TOML key stops `frontdesk` with a",
        "one-line error that names the setting, the value and what is allowed (and the file",
        "and line for TOML), and exit status 2. `frontdesk settings` prints every resolved",
        "value and where it came from.",
        "",
        "## The defaults as a TOML file",
        "",
        "```toml",
        config_as_toml(default_config()).rstrip("\n"),
        "```",
        "",
    ]
    for section, description in SECTIONS.items():
        out += [f"## `[{section}]`", "", description, ""]
        for setting in SETTINGS:
            if setting.section == section:
                out += _setting_block(setting)
    out += [
        "## Lists of tables: apps, upstreams, routes, certificates",
        "",
        "Beside its settings, the file may describe a whole deployment as arrays of tables.",
        "Each is checked when the file is read (unknown keys, types, names used twice, routes",
        "naming what does not exist, two routes claiming the same host and prefix), with the",
        "file and line in the error; `frontdesk check -c FILE` also checks the files they name.",
        "",
        *layout_reference(),
    ]
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m frontdesk.config.docs", description="Generate docs/settings.md."
    )
    parser.add_argument("--write", metavar="PATH", help="write the file instead of stdout")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        with open(args.write, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
