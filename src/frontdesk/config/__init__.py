"""Settings declared once (``settings.SETTINGS``); the CLI, TOML, environment and docs follow.

Sources, lowest to highest: defaults < TOML file (``-c``/``FRONTDESK_CONFIG``) < environment
(``FRONTDESK_*``) < command line. ``load_config`` merges them into one frozen ``Config``.

Module map: ``types`` converters and validators; ``bind`` listen addresses; ``settings`` the
declarations; ``model`` the ``Config`` class; ``tomlfile`` reading TOML with line numbers;
``loader`` sources and precedence; ``docs`` the generator of docs/settings.md (not imported
here, so that ``python -m frontdesk.config.docs`` runs cleanly).
"""

from __future__ import annotations

from frontdesk.config.bind import BindAddress, parse_bind
from frontdesk.config.loader import default_config, load_config
from frontdesk.config.model import Config
from frontdesk.config.settings import CONFIG_ENV, SECTIONS, SETTINGS, SETTINGS_BY_NAME, Setting
from frontdesk.config.types import CliValue, Invalid

__all__ = [
    "CONFIG_ENV",
    "SECTIONS",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "BindAddress",
    "CliValue",
    "Config",
    "Invalid",
    "Setting",
    "default_config",
    "load_config",
    "parse_bind",
]
