"""docs/settings.md is generated; it must match a fresh generation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from frontdesk.config import SETTINGS, default_config, load_config
from frontdesk.config.docs import REGENERATE, config_as_toml, main, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_generated_doc_is_up_to_date() -> None:
    current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    assert current == render(), f"docs/settings.md is stale; regenerate it with: {REGENERATE}"


def test_doc_mentions_every_setting() -> None:
    text = render()
    for setting in SETTINGS:
        assert f"### `{setting.name}`" in text
        assert setting.env_var in text
        assert setting.help in text


def test_config_as_toml_loads_back_to_the_same_config(tmp_path: Path) -> None:
    cfg = load_config({"bind": ["[::1]:0", "unix:/tmp/x"], "server_header": False})
    path = tmp_path / "round.toml"
    path.write_text(config_as_toml(cfg, sources=True))
    assert load_config(config_path=str(path)) == cfg
    assert tomllib.loads(config_as_toml(default_config()))["log"] == {
        "level": "info",
        "file": "-",
        "access": False,
    }


def test_main_writes_and_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "settings.md"
    assert main(["--write", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()
    assert main([]) == 0
    assert capsys.readouterr().out == render()
