"""Sources and precedence: defaults < TOML file < environment < CLI; one-line errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from frontdesk.config import CliValue, Config, default_config, load_config
from frontdesk.errors import ConfigError

SOURCES = ("file", "env", "cli")
TABLES = "[server], [app], [worker], [http], [proxy], [ws], [edge], [log]"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "frontdesk.toml"
    path.write_text(text)
    return str(path)


def _error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_status == 2
    return message


def test_defaults() -> None:
    cfg = default_config()
    assert cfg == load_config()
    assert cfg.bind == ("127.0.0.1:8000",)
    assert cfg.backlog == 2048
    assert cfg.limit_request_body == 100 * 1024 * 1024
    assert cfg.keepalive_timeout == 5.0
    assert cfg.write_buffer_high == 64 * 1024
    assert cfg.write_buffer_low == 16 * 1024
    assert cfg.server_header is True
    assert cfg.log_level == "info"
    assert all(cfg.source(s.name) == "default" for s, _ in cfg.items())


@pytest.mark.parametrize(
    "present",
    [c for n in range(len(SOURCES) + 1) for c in itertools.combinations(SOURCES, n)],
    ids=lambda c: "+".join(c) or "none",
)
def test_precedence(tmp_path: Path, present: tuple[str, ...]) -> None:
    # Each source gives a different value; the highest one present must win, whatever else
    # is present. Two settings, so that a source's value for one cannot leak into the other.
    path = _write(tmp_path, "[http]\nkeepalive_timeout = 1\nmax_pipelined = 11\n")
    env = {"FRONTDESK_KEEPALIVE_TIMEOUT": "2", "FRONTDESK_MAX_PIPELINED": "22"}
    cli: dict[str, CliValue] = {"keepalive_timeout": "3", "max_pipelined": "33"}
    cfg = load_config(
        cli if "cli" in present else None,
        env if "env" in present else None,
        path if "file" in present else None,
    )
    expected = {"": (5.0, 16, "default"), "file": (1.0, 11, f"file {path}:2")}
    expected["env"] = (2.0, 22, "env FRONTDESK_KEEPALIVE_TIMEOUT")
    expected["cli"] = (3.0, 33, "cli --keepalive-timeout")
    winner = present[-1] if present else ""
    timeout, pipelined, source = expected[winner]
    assert cfg.keepalive_timeout == timeout
    assert cfg.max_pipelined == pipelined
    assert cfg.source("keepalive_timeout") == source


def test_higher_source_replaces_list_whole(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\nbind = ["127.0.0.1:1", "unix:/tmp/a"]\n')
    assert load_config(config_path=path).bind == ("127.0.0.1:1", "unix:/tmp/a")
    env = {"FRONTDESK_BIND": "[::1]:2, fd://3"}
    assert load_config(None, env, path).bind == ("[::1]:2", "fd://3")
    cfg = load_config({"bind": ["localhost:4"]}, env, path)
    assert cfg.bind == ("localhost:4",)
    assert cfg.source("bind") == "cli --bind"
    assert [a.port for a in cfg.bind_addresses] == [4]


def test_sources_of_each_kind(tmp_path: Path) -> None:
    path = _write(tmp_path, "# settings\n\n[log]\nlevel = 'debug'\n")
    cfg = load_config({"server_header": False}, {"FRONTDESK_BACKLOG": "10"}, path)
    assert cfg.log_level == "debug"
    assert cfg.source("log_level") == f"file {path}:4"
    assert cfg.source("backlog") == "env FRONTDESK_BACKLOG"
    assert cfg.source("server_header") == "cli --no-server-header"
    assert cfg.source("app_dir") == "default"
    with pytest.raises(KeyError):
        cfg.source("nope")


def test_config_path_from_env_and_cli_wins(tmp_path: Path) -> None:
    env_file = tmp_path / "env.toml"
    env_file.write_text("[server]\nbacklog = 7\n")
    cli_file = _write(tmp_path, "[server]\nbacklog = 9\n")
    env = {"FRONTDESK_CONFIG": str(env_file)}
    assert load_config(env=env).backlog == 7
    assert load_config(env=env, config_path=cli_file).backlog == 9
    assert load_config(env={"FRONTDESK_CONFIG": ""}).backlog == 2048


def test_sizes_bools_and_choices_from_each_source(tmp_path: Path) -> None:
    path = _write(tmp_path, '[http]\nlimit_request_body = "1g"\nserver_header = false\n')
    cfg = load_config(None, {"FRONTDESK_WRITE_BUFFER_HIGH": "1M"}, path)
    assert cfg.limit_request_body == 1024**3
    assert cfg.server_header is False
    assert cfg.write_buffer_high == 1024**2
    cfg = load_config({"server_header": True}, {"FRONTDESK_SERVER_HEADER": "off"}, path)
    assert cfg.server_header is True
    assert load_config(env={"FRONTDESK_LOG_LEVEL": "WARNING"}).log_level == "warning"


def test_config_is_frozen() -> None:
    cfg = default_config()
    with pytest.raises(AttributeError):
        cfg.backlog = 1  # type: ignore[misc]
    assert isinstance(cfg, Config)


# --- errors ------------------------------------------------------------------------------


def test_toml_bad_value_names_file_line_key_value_and_allowed(tmp_path: Path) -> None:
    lines = [
        "# frontdesk",
        "",
        "[server]",
        "backlog = 10",
        "",
        "[http]",
        'keepalive_timeout = "abc"',
    ]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    assert _error(config_path=path) == (
        f'{path}:7: http.keepalive_timeout = "abc": expected a number of seconds >= 0'
    )


def test_toml_bad_list_item(tmp_path: Path) -> None:
    path = _write(tmp_path, '[server]\nbind = ["127.0.0.1:80", "nope"]\n')
    message = _error(config_path=path)
    assert message.startswith(f'{path}:2: server.bind = ["127.0.0.1:80", "nope"]: item "nope": ')
    assert "expected an address HOST:PORT" in message


def test_toml_dotted_key_at_top_level_is_found(tmp_path: Path) -> None:
    path = _write(tmp_path, "\nhttp.max_pipelined = 0\n")
    assert _error(config_path=path) == (
        f"{path}:2: http.max_pipelined = 0: expected an integer from 1 to 1024"
    )


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            "[http]\nkeepalive_timout = 5\n",
            2,
            "unknown setting http.keepalive_timout; did you mean http.keepalive_timeout?",
        ),
        ("\n[server]\nbogus = 1\n", 3, "unknown setting server.bogus; known in [server]: "),
        ("bind = ['x:1']\n", 1, "unknown setting bind; did you mean server.bind?"),
        (
            "[log]\nlog_level = 'info'\n",
            2,
            "unknown setting log.log_level; did you mean log.level?",
        ),
        ("[bogus]\nx = 1\n", 1, f"unknown table [bogus]; known tables: {TABLES}"),
        ("x = 1\n", 1, f"unknown setting x; settings live in the tables {TABLES}"),
        ("http = 5\n", 1, "http = 5: expected a table of settings, [http]"),
    ],
)
def test_toml_unknown_keys(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = _write(tmp_path, text)
    assert _error(config_path=path).startswith(f"{path}:{line}: {message}")


def test_toml_syntax_error_and_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[http]\nkeepalive_timeout = \n")
    assert _error(config_path=path).startswith(f"{path}:2:")
    assert _error(config_path=str(tmp_path / "nope.toml")).endswith("config file not found")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FRONTDESK_KEEPALIVE_TIMEOUT", "abc", "expected a number of seconds >= 0"),
        ("FRONTDESK_BACKLOG", "0", "expected an integer >= 1"),
        ("FRONTDESK_LIMIT_REQUEST_BODY", "10mb", "expected a size in bytes"),
        ("FRONTDESK_SERVER_HEADER", "maybe", "expected one of 1, true, yes, on, 0, false"),
        ("FRONTDESK_BIND", "127.0.0.1:80,bad", 'item "bad": expected an address'),
        ("FRONTDESK_BIND", "a:1,b:99999", 'item "b:99999": port must be'),
        ("FRONTDESK_LOG_LEVEL", "", "expected one of critical"),
    ],
)
def test_env_bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    text = _error(env={name: value})
    assert text.startswith(f'{name}="{value}": ')
    assert message in text


def test_env_ignores_unrelated_variables() -> None:
    assert load_config(env={"PATH": "/bin", "FRONTDESK_UNKNOWN": "x"}) == default_config()


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"keepalive_timeout": "abc"}, '--keepalive-timeout "abc": expected a number of seconds'),
        ({"bind": ["127.0.0.1:80", "x"]}, '--bind "x": expected an address'),
        ({"limit_request_line": "10"}, '--limit-request-line "10": expected an integer from 64'),
        ({"nope": "1"}, "unknown setting 'nope'"),
    ],
)
def test_cli_bad_value_names_the_flag(cli: dict[str, CliValue], message: str) -> None:
    assert _error(cli=cli).startswith(message)


def test_write_buffer_low_must_not_exceed_high(tmp_path: Path) -> None:
    assert _error(env={"FRONTDESK_WRITE_BUFFER_LOW": "128k"}) == (
        'write_buffer_low = "128k" (env FRONTDESK_WRITE_BUFFER_LOW) must be at most '
        'write_buffer_high = "64k" (default)'
    )
    path = _write(tmp_path, "[http]\nwrite_buffer_high = 1024\n")
    message = _error(config_path=path)
    assert f'write_buffer_high = "1k" (file {path}:2)' in message
    equal = load_config({"write_buffer_low": "1k", "write_buffer_high": "1k"})
    assert equal.write_buffer_low == equal.write_buffer_high == 1024
