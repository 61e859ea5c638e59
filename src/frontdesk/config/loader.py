"""Merging the sources into one ``Config``: defaults < TOML file < environment < CLI.

A later source replaces a value whole (a ``--bind`` on the command line replaces every bind of
the file; lists are not merged). Every rejected value becomes a one-line ``ConfigError`` that
says where the value came from, the value, and what is allowed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from frontdesk.config.layout import STRUCTURED_KEYS, Layout, parse_layout
from frontdesk.config.model import Config
from frontdesk.config.settings import (
    CONFIG_ENV,
    CONSTRAINTS,
    SETTINGS,
    SETTINGS_BY_NAME,
    SETTINGS_BY_TOML_KEY,
    Setting,
)
from frontdesk.config.tomlfile import KeyPath, TomlFile, read_toml
from frontdesk.config.types import CliValue, Invalid, toml_repr
from frontdesk.errors import ConfigError

__all__ = ["default_config", "load_config"]

# Every table a setting's TOML key passes through: "http", and for a key "a.b.c" "a" and "a.b".
_TABLES: frozenset[str] = frozenset(
    ".".join(s.toml_key.split(".")[:end])
    for s in SETTINGS
    for end in range(1, s.toml_key.count(".") + 1)
)
# The top-level tables, in declaration order, for messages.
_TOP_TABLES = ", ".join(f"[{t}]" for t in dict.fromkeys(s.toml_key.split(".")[0] for s in SETTINGS))


def load_config(
    cli: Mapping[str, CliValue] | None = None,
    env: Mapping[str, str] | None = None,
    config_path: str | None = None,
) -> Config:
    """Resolve every setting from its sources. Pure apart from reading the config file.

    ``cli`` maps setting names to what argparse stored (text, a bool for a ``--x/--no-x``
    flag, a list of text for a repeatable flag); only the settings given on the command line.
    ``env`` is the environment (``FRONTDESK_*`` variables are read, others ignored).
    ``config_path`` is the TOML file; when None, ``FRONTDESK_CONFIG`` from ``env`` names it.
    Raises ``ConfigError`` with a one-line message on any bad value, key, flag or file.
    """
    cli = cli or {}
    env = env or {}
    values: dict[str, Any] = {s.name: s.type.resolve(s.default) for s in SETTINGS}
    sources: dict[str, str] = {}

    named_by = ""
    layout = Layout()
    if config_path is None and env.get(CONFIG_ENV):
        config_path, named_by = env[CONFIG_ENV], CONFIG_ENV
    if config_path is not None:
        doc = read_toml(config_path, named_by)
        for name, value, source in _from_file(doc):
            values[name], sources[name] = value, source
        layout = parse_layout(doc)

    for setting in SETTINGS:
        for var in (setting.env_var, *setting.env_fallback):
            text = env.get(var)
            if text is not None:
                values[setting.name] = _from_env(setting, var, text)
                sources[setting.name] = f"env {var}"
                break

    for name, raw in cli.items():
        flagged = SETTINGS_BY_NAME.get(name)
        if flagged is None:
            raise ConfigError(f"unknown setting {name!r}{_suggest(name, SETTINGS_BY_NAME)}")
        values[name] = _from_cli(flagged, raw)
        flag = flagged.long_flag
        if raw is False:
            flag = "--no-" + flag[2:]
        sources[name] = f"cli {flag}"

    _check_constraints(values, sources)
    return Config(**values, _layout=layout, _sources=sources)


def default_config() -> Config:
    """Every setting at its default: what ``load_config()`` gives with no sources."""
    return load_config()


def _from_env(setting: Setting[Any], var: str, text: str) -> Any:
    try:
        return setting.type.parse(text)
    except Invalid as err:
        raise ConfigError(f"{var}={toml_repr(text)}: {_reason(err)}") from None


def _from_cli(setting: Setting[Any], raw: CliValue) -> Any:
    try:
        return setting.type.from_cli(raw)
    except Invalid as err:
        # For a repeatable flag, show the one occurrence that is wrong, not the whole list.
        shown = err.item if err.item is not None else raw
        raise ConfigError(f"{setting.long_flag} {toml_repr(shown)}: {err.reason}") from None


def _reason(err: Invalid) -> str:
    return err.reason if err.item is None else f"item {toml_repr(err.item)}: {err.reason}"


def _from_file(doc: TomlFile) -> list[tuple[str, Any, str]]:
    """(name, value, source) for every setting in the file, in file order."""
    out: list[tuple[str, Any, str]] = []
    _walk(doc, doc.data, (), out)
    return out


def _walk(doc: TomlFile, table: Mapping[str, Any], prefix: KeyPath, out: list[Any]) -> None:
    for key, value in table.items():
        path = (*prefix, key)
        dotted = ".".join(path)
        setting = SETTINGS_BY_TOML_KEY.get(dotted)
        if dotted in STRUCTURED_KEYS:
            continue  # lists of tables: config/layout.py reads them
        if setting is not None:
            try:
                converted = setting.type.from_toml(value)
            except Invalid as err:
                raise ConfigError(
                    f"{doc.where(path)}: {dotted} = {toml_repr(value)}: {_reason(err)}"
                ) from None
            out.append((setting.name, converted, f"file {doc.where(path)}"))
        elif dotted in _TABLES:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{doc.where(path)}: {dotted} = {toml_repr(value)}: expected a table "
                    f"of settings, [{dotted}]"
                )
            _walk(doc, value, path, out)
        else:
            raise ConfigError(f"{doc.where(path)}: {_unknown_key(prefix, key, value)}")


def _unknown_key(prefix: KeyPath, key: str, value: object) -> str:
    dotted = ".".join((*prefix, key))
    parent = ".".join(prefix)
    if isinstance(value, dict) and not prefix:
        return f"unknown table [{dotted}]; known tables: {_TOP_TABLES}"
    siblings = sorted(
        k.rpartition(".")[2] for k in SETTINGS_BY_TOML_KEY if k.rpartition(".")[0] == parent
    )
    # The same name in another table ("bind" at top level instead of in [server]) is the
    # likeliest mistake, so it wins over spelling similarity.
    elsewhere = [s.toml_key for s in SETTINGS if key in (s.name, s.toml_key.rpartition(".")[2])]
    if elsewhere:
        return f"unknown setting {dotted}; did you mean {elsewhere[0]}?"
    close = difflib.get_close_matches(key, siblings, n=1)
    if close:
        return f"unknown setting {dotted}; did you mean {'.'.join((*prefix, close[0]))}?"
    if not prefix:
        return f"unknown setting {dotted}; settings live in the tables {_TOP_TABLES}"
    return f"unknown setting {dotted}; known in [{parent}]: {', '.join(siblings)}"


def _suggest(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _check_constraints(values: Mapping[str, Any], sources: Mapping[str, str]) -> None:
    for rule in CONSTRAINTS:
        low, high = SETTINGS_BY_NAME[rule.low], SETTINGS_BY_NAME[rule.high]
        if values[low.name] > values[high.name]:

            def shown(s: Setting[Any]) -> str:
                where = sources.get(s.name, "default")
                return f"{s.name} = {s.type.to_toml(values[s.name])} ({where})"

            raise ConfigError(f"{shown(low)} must be at most {shown(high)}")
