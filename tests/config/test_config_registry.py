"""The declarations are consistent: one Config field per setting, unique names, valid defaults."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from frontdesk.config import SECTIONS, SETTINGS, Config, Setting
from frontdesk.config.settings import CONSTRAINTS, SETTINGS_BY_NAME


def _fields() -> dict[str, object]:
    return {f.name: f.type for f in dataclasses.fields(Config) if not f.name.startswith("_")}


def test_every_setting_has_a_config_field_and_vice_versa() -> None:
    declared = [s.name for s in SETTINGS]
    fields = list(_fields())
    missing = sorted(set(declared) - set(fields))
    extra = sorted(set(fields) - set(declared))
    assert not missing, f"add these fields to Config in config/model.py: {missing}"
    assert not extra, f"these Config fields have no Setting in config/settings.py: {extra}"
    assert fields == declared, "keep Config fields in declaration order"


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_config_field_type_matches_converter(setting: Setting[object]) -> None:
    # Annotations are strings (from __future__ import annotations); compare them as text.
    assert _fields()[setting.name] == setting.type.annotation


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_declaration_is_well_formed(setting: Setting[object]) -> None:
    assert setting.name.isidentifier() and setting.name == setting.name.lower()
    assert setting.section in SECTIONS
    assert setting.help.strip() and "\n" not in setting.help
    assert setting.env_var.startswith("FRONTDESK_")
    assert all(f.startswith("-") for f in setting.cli_flags)
    assert setting.long_flag.startswith("--")
    assert setting.commands


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.name)
def test_default_is_valid_and_round_trips(setting: Setting[object]) -> None:
    literal = setting.type.to_toml(setting.default)
    # A symbolic default ("auto" workers) reads back as what it stands for here.
    assert setting.type.from_toml(tomllib.loads("v = " + literal)["v"]) == setting.type.resolve(
        setting.default
    )


@pytest.mark.parametrize("attribute", ["name", "env_var", "toml_key"])
def test_names_are_unique(attribute: str) -> None:
    values = [getattr(s, attribute) for s in SETTINGS]
    assert len(values) == len(set(values))


def test_flags_are_unique_and_not_reserved() -> None:
    flags = [f for s in SETTINGS for f in s.cli_flags]
    assert len(flags) == len(set(flags))
    assert not {"-c", "--config", "-h", "--help", "--version"} & set(flags)
    negated = {"--no-" + s.long_flag[2:] for s in SETTINGS if s.type.cli_shape == "flag"}
    assert not negated & set(flags)


def test_constraints_name_settings() -> None:
    for rule in CONSTRAINTS:
        assert rule.low in SETTINGS_BY_NAME
        assert rule.high in SETTINGS_BY_NAME


def test_derived_names() -> None:
    keepalive = SETTINGS_BY_NAME["keepalive_timeout"]
    assert keepalive.cli_flags == ("--keepalive-timeout",)
    assert keepalive.env_var == "FRONTDESK_KEEPALIVE_TIMEOUT"
    assert keepalive.toml_key == "http.keepalive_timeout"
    assert SETTINGS_BY_NAME["log_level"].toml_key == "log.level"
    assert SETTINGS_BY_NAME["bind"].cli_flags == ("-b", "--bind")
    assert SETTINGS_BY_NAME["bind"].multiple
