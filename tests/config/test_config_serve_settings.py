"""The application server's settings: defaults, every source, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.cli import build_parser
from frontdesk.config import SETTINGS_BY_NAME, CliValue, default_config, load_config
from frontdesk.errors import ConfigError

SERVE_SETTINGS = (
    "unix_mode",
    "factory",
    "interface",
    "root_path",
    "lifespan",
    "threads",
    "loop",
    "limit_concurrency",
    "limit_max_requests",
    "graceful_timeout",
    "forwarded_allow_ips",
    "proxy_headers",
    "ws",
    "ws_max_size",
    "ws_ping_interval",
    "ws_ping_timeout",
    "ws_per_message_deflate",
    "ws_max_queue",
)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "frontdesk.toml"
    path.write_text(text)
    return str(path)


def _error(**kwargs: object) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults() -> None:
    cfg = default_config()
    assert cfg.unix_mode is None
    assert cfg.factory is False
    assert cfg.interface == "auto"
    assert cfg.root_path == ""
    assert cfg.lifespan == "auto"
    assert cfg.threads == 1
    assert cfg.loop == "auto"
    assert cfg.limit_concurrency == 0
    assert cfg.limit_max_requests == 0
    assert cfg.graceful_timeout == 30.0
    assert cfg.forwarded_allow_ips == ("127.0.0.1", "::1")
    assert cfg.proxy_headers is True
    assert cfg.ws == "auto"
    assert cfg.ws_max_size == 16 * 1024**2
    assert cfg.ws_ping_interval == 20.0
    assert cfg.ws_ping_timeout == 20.0
    assert cfg.ws_per_message_deflate is True
    assert cfg.ws_max_queue == 32


@pytest.mark.parametrize("name", SERVE_SETTINGS)
def test_serve_takes_the_flag(name: str) -> None:
    assert "serve" in SETTINGS_BY_NAME[name].commands
    parser = build_parser()
    namespace = parser.parse_args(["serve", "a:b"])
    assert not hasattr(namespace, name)  # SUPPRESS: not given, not in the namespace


def test_cli_flags_parse_into_config() -> None:
    argv = [
        "serve",
        "a:b",
        "--factory",
        "--root-path",
        "/api",
        "--interface",
        "WSGI",
        "--unix-mode",
        "0o660",
        "--forwarded-allow-ips",
        "10.0.0.0/8,::1",
        "--forwarded-allow-ips",
        "192.168.1.7",
        "--no-proxy-headers",
        "--limit-concurrency",
        "100",
        "--limit-max-requests",
        "5000",
        "--graceful-timeout",
        "2.5",
        "--lifespan",
        "off",
        "--loop",
        "asyncio",
        "--ws",
        "none",
        "--ws-max-size",
        "1m",
        "--ws-ping-interval",
        "0",
        "--ws-ping-timeout",
        "5",
        "--no-ws-per-message-deflate",
        "--ws-max-queue",
        "4",
        "--threads",
        "8",
    ]
    namespace = build_parser().parse_args(argv)
    given = {name: getattr(namespace, name) for name in SERVE_SETTINGS}
    cfg = load_config(given)
    assert cfg.factory is True
    assert cfg.root_path == "/api"
    assert cfg.interface == "wsgi"
    assert cfg.unix_mode == 0o660
    assert cfg.forwarded_allow_ips == ("10.0.0.0/8", "::1", "192.168.1.7")
    assert cfg.proxy_headers is False
    assert cfg.limit_concurrency == 100
    assert cfg.limit_max_requests == 5000
    assert cfg.graceful_timeout == 2.5
    assert cfg.lifespan == "off"
    assert cfg.loop == "asyncio"
    assert cfg.ws == "none"
    assert cfg.ws_max_size == 1024**2
    assert cfg.ws_ping_interval == 0.0
    assert cfg.ws_ping_timeout == 5.0
    assert cfg.ws_per_message_deflate is False
    assert cfg.ws_max_queue == 4
    assert cfg.threads == 8
    assert cfg.source("proxy_headers") == "cli --no-proxy-headers"
    assert cfg.source("ws") == "cli --ws"


def test_toml_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "\n".join(
            [
                "[server]",
                "unix_mode = 0o600",
                "[app]",
                "factory = true",
                'root_path = "/x"',
                "threads = 4",
                "[worker]",
                "graceful_timeout = 1",
                "[proxy]",
                'forwarded_allow_ips = "*"',
                "headers = false",
                "[ws]",
                'implementation = "websockets"',
                'max_size = "64k"',
                "per_message_deflate = false",
                "max_queue = 1",
            ]
        ),
    )
    cfg = load_config(config_path=path)
    assert cfg.unix_mode == 0o600
    assert cfg.factory is True
    assert cfg.root_path == "/x"
    assert cfg.threads == 4
    assert cfg.graceful_timeout == 1.0
    assert cfg.forwarded_allow_ips == ("*",)
    assert cfg.proxy_headers is False
    assert cfg.ws == "websockets"
    assert cfg.ws_max_size == 64 * 1024
    assert cfg.ws_per_message_deflate is False
    assert cfg.ws_max_queue == 1
    assert cfg.source("ws") == f"file {path}:13"


def test_env() -> None:
    env = {
        "FRONTDESK_UNIX_MODE": "660",
        "FRONTDESK_FORWARDED_ALLOW_IPS": "10.0.0.0/8, 2001:db8::/32",
        "FRONTDESK_WS": "NONE",
        "FRONTDESK_ROOT_PATH": "",
    }
    cfg = load_config(env=env)
    assert cfg.unix_mode == 0o660
    assert cfg.forwarded_allow_ips == ("10.0.0.0/8", "2001:db8::/32")
    assert cfg.ws == "none"
    assert cfg.root_path == ""
    assert cfg.source("unix_mode") == "env FRONTDESK_UNIX_MODE"


def test_unix_mode_none_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[server]\nunix_mode = '0660'\n")
    assert load_config(config_path=path).unix_mode == 0o660
    assert load_config({"unix_mode": "none"}, config_path=path).unix_mode is None


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        (
            {"forwarded_allow_ips": ["10.0.0.0/8,nope"]},
            '--forwarded-allow-ips "nope": expected an IP address or network',
        ),
        ({"forwarded_allow_ips": ["1.2.3.4/40"]}, '--forwarded-allow-ips "1.2.3.4/40": expected'),
        ({"root_path": "/api/"}, '--root-path "/api/": expected a path starting and not ending'),
        ({"root_path": "api"}, '--root-path "api": expected a path'),
        ({"unix_mode": "888"}, '--unix-mode "888": expected an octal file mode up to 777'),
        ({"interface": "cgi"}, '--interface "cgi": expected one of auto, asgi3, asgi2, wsgi'),
        ({"lifespan": "yes"}, '--lifespan "yes": expected one of auto, on, off'),
        ({"loop": "trio"}, '--loop "trio": expected one of auto, uvloop, asyncio'),
        ({"ws": "wsproto"}, '--ws "wsproto": expected one of auto, websockets, none'),
        ({"threads": "0"}, '--threads "0": expected an integer >= 1'),
        ({"limit_concurrency": "-1"}, '--limit-concurrency "-1": expected an integer >= 0'),
        ({"limit_max_requests": "x"}, '--limit-max-requests "x": expected an integer >= 0'),
        ({"graceful_timeout": "0"}, '--graceful-timeout "0": expected a number of seconds > 0'),
        ({"ws_max_size": "0"}, '--ws-max-size "0": expected a size in bytes >= 1'),
        ({"ws_ping_interval": "-1"}, '--ws-ping-interval "-1": expected a number of seconds >= 0'),
        ({"ws_max_queue": "0"}, '--ws-max-queue "0": expected an integer >= 1'),
    ],
)
def test_cli_bad_values_are_one_line(cli: dict[str, CliValue], message: str) -> None:
    assert _error(cli=cli).startswith(message)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[server]\nunix_mode = 660\n",
            "server.unix_mode = 660: expected an octal file mode up to 777, like 660, 0660 or "
            '0o660 (in TOML 0o660 or "660"), or none; a TOML integer is decimal, write 0o660 or '
            '"660" for octal',
        ),
        (
            '[proxy]\nforwarded_allow_ips = ["127.0.0.1", "host.example"]\n',
            'proxy.forwarded_allow_ips = ["127.0.0.1", "host.example"]: item "host.example": '
            "expected an IP address or network",
        ),
        ("[app]\nroot_path = 5\n", "app.root_path = 5: expected a path"),
        ("[ws]\nws_max_size = 1\n", "unknown setting ws.ws_max_size; did you mean ws.max_size?"),
        ("[proxy]\nproxy_headers = 1\n", "unknown setting proxy.proxy_headers; did you mean"),
    ],
)
def test_toml_bad_values_are_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    assert _error(config_path=path).startswith(f"{path}:2: {message}")


def test_env_bad_forwarded_item_names_it() -> None:
    message = _error(env={"FRONTDESK_FORWARDED_ALLOW_IPS": "127.0.0.1,,::1"})
    assert message.startswith('FRONTDESK_FORWARDED_ALLOW_IPS="127.0.0.1,,::1": item "": ')
