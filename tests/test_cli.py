"""The frontdesk command: help, errors on one line with exit 2, serve's hand-off, settings."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from frontdesk import __version__
from frontdesk.cli import build_parser, main
from frontdesk.config import SETTINGS, Config
from frontdesk.errors import AppLoadError, FrontdeskError

SERVE_MODULE = "frontdesk.appserver.serve"


def _run_main(
    capsys: pytest.CaptureFixture[str], *argv: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    status = main(list(argv), env=env or {})
    out, err = capsys.readouterr()
    return status, out, err


def _assert_one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("frontdesk: error: ")
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def fake_serve(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[tuple[Config, str]]]:
    """Stand in for frontdesk.appserver.serve; ``install(behaviour)`` sets what run does."""
    calls: list[tuple[Config, str]] = []

    def install(behaviour: Callable[[], int] = lambda: 0) -> list[tuple[Config, str]]:
        module = types.ModuleType(SERVE_MODULE)

        def run(config: Config, app: str) -> int:
            calls.append((config, app))
            return behaviour()

        module.run = run  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, SERVE_MODULE, module)
        return calls

    return install


# --- in process --------------------------------------------------------------------------


def test_help_lists_commands_and_every_setting(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run_main(capsys, "--help")
    assert status == 0
    assert "serve" in out and "settings" in out
    for setting in SETTINGS:
        assert setting.long_flag in out
        assert setting.help.split()[0] in out


def test_serve_help_has_every_serve_flag(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run_main(capsys, "serve", "--help")
    assert status == 0
    for setting in SETTINGS:
        if "serve" in setting.commands:
            assert setting.long_flag in out
    assert "--no-server-header" in out
    assert "FRONTDESK_KEEPALIVE_TIMEOUT" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run_main(capsys, "--version")
    assert (status, out.strip()) == (0, f"frontdesk {__version__}")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            (),
            "missing command, one of: serve, edge, run, check, config, settings, trace, export, ctl",
        ),
        (("bogus",), "argument COMMAND: invalid choice: 'bogus'"),
        (("serve",), "the following arguments are required: APP"),
        (("serve", "app:app", "--bogus"), "unrecognized arguments: --bogus (see 'frontdesk serve"),
        (
            ("serve", "app:app", "--bnd", "x"),
            "unrecognized arguments: --bnd x; did you mean --bind?",
        ),
        # Abbreviated flags are refused: a new setting must never change what one means.
        (("serve", "app:app", "--keep", "1"), "unrecognized arguments: --keep 1"),
        (("serve", "nocolon"), 'APP "nocolon": expected MODULE:ATTRIBUTE'),
        (
            ("serve", "a:b", "--keepalive-timeout", "abc"),
            '--keepalive-timeout "abc": expected a num',
        ),
        (("serve", "a:b", "--keepalive-timeout", "-1"), '--keepalive-timeout "-1": expected a num'),
        (("serve", "a:b", "-b", "::1:80"), '--bind "::1:80": an IPv6 address needs brackets'),
        (("serve", "a:b", "--backlog"), "argument --backlog: expected one argument"),
        (("serve", "a:b", "-c", "/nonexistent/frontdesk.toml"), "config file not found"),
        (("settings", "--write-buffer-low", "1m"), 'write_buffer_low = "1m" (cli --write-buf'),
    ],
)
def test_usage_and_config_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], expected: str
) -> None:
    status, out, err = _run_main(capsys, *argv)
    assert status == 2
    assert out == ""
    assert expected in _assert_one_error_line(err)


def test_env_bad_value(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = _run_main(capsys, "settings", env={"FRONTDESK_BACKLOG": "lots"})
    assert status == 2
    assert _assert_one_error_line(err) == (
        'frontdesk: error: FRONTDESK_BACKLOG="lots": expected an integer >= 1'
    )


def test_settings_prints_values_and_sources(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text("[http]\nkeepalive_timeout = 1.5\n")
    env = {"FRONTDESK_CONFIG": str(config), "FRONTDESK_BACKLOG": "64"}
    status, out, err = _run_main(
        capsys, "settings", "-b", "unix:/tmp/s", "--no-server-header", env=env
    )
    assert (status, err) == (0, "")
    assert 'bind = ["unix:/tmp/s"]  # cli --bind' in out
    assert "backlog = 64  # env FRONTDESK_BACKLOG" in out
    assert f"keepalive_timeout = 1.5  # file {config}:2" in out
    assert "server_header = false  # cli --no-server-header" in out
    assert 'level = "info"  # default' in out


def test_serve_hands_config_and_app_to_the_server(
    capsys: pytest.CaptureFixture[str], fake_serve: Callable[..., list[tuple[Config, str]]]
) -> None:
    calls = fake_serve(lambda: 0)
    status, _, err = _run_main(
        capsys, "serve", "pkg.web:app", "-w", "0", "-b", "127.0.0.1:0", "--backlog", "5"
    )
    assert (status, err) == (0, "")
    [(config, app)] = calls
    assert app == "pkg.web:app"
    assert config.bind == ("127.0.0.1:0",)
    assert config.backlog == 5
    assert config.source("backlog") == "cli --backlog"


def test_serve_return_value_is_the_exit_status(
    capsys: pytest.CaptureFixture[str], fake_serve: Callable[..., list[tuple[Config, str]]]
) -> None:
    fake_serve(lambda: 4)
    assert _run_main(capsys, "serve", "a:b", "-w", "0")[0] == 4


def _raise(exc: BaseException) -> Callable[[], int]:
    def behaviour() -> int:
        raise exc

    return behaviour


@pytest.mark.parametrize(
    ("exc", "status", "line"),
    [
        (AppLoadError("cannot import 'a'"), 3, "frontdesk: error: cannot import 'a'"),
        (FrontdeskError("two\nlines"), 1, "frontdesk: error: two lines"),
        (RuntimeError("boom"), 1, "frontdesk: error: internal error: RuntimeError: boom (run"),
    ],
)
def test_serve_errors_are_one_line(
    capsys: pytest.CaptureFixture[str],
    fake_serve: Callable[..., list[tuple[Config, str]]],
    exc: Exception,
    status: int,
    line: str,
) -> None:
    fake_serve(_raise(exc))
    got, _, err = _run_main(capsys, "serve", "a:b", "-w", "0")
    assert got == status
    assert _assert_one_error_line(err).startswith(line)


def test_keyboard_interrupt_exits_130_quietly(
    capsys: pytest.CaptureFixture[str], fake_serve: Callable[..., list[tuple[Config, str]]]
) -> None:
    fake_serve(_raise(KeyboardInterrupt()))
    assert _run_main(capsys, "serve", "a:b", "-w", "0") == (130, "", "")


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (("--log-level", "debug"), {}),
        (("--log-level=debug",), {}),
        ((), {"FRONTDESK_LOG_LEVEL": "debug"}),
    ],
)
def test_traceback_only_with_debug(
    capsys: pytest.CaptureFixture[str],
    fake_serve: Callable[..., list[tuple[Config, str]]],
    argv: tuple[str, ...],
    env: dict[str, str],
) -> None:
    fake_serve(_raise(RuntimeError("boom")))
    status, _, err = _run_main(capsys, "serve", "a:b", "-w", "0", *argv, env=env)
    assert status == 1
    assert "Traceback" in err
    assert err.splitlines()[-1] == "frontdesk: error: internal error: RuntimeError: boom"


def test_every_setting_command_exists() -> None:
    # A setting may name a command added by a later issue; the ones that exist take its flag.
    parser = build_parser()
    help_text = parser.format_help()
    for setting in SETTINGS:
        for command in setting.commands:
            if command in help_text:
                assert setting.long_flag in help_text


# --- real processes ----------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}


def _commands() -> list[list[str]]:
    commands = [[sys.executable, "-m", "frontdesk"]]
    script = Path(sys.executable).parent / "frontdesk"
    if script.exists():
        commands.append([str(script)])
    return commands


def _spawn(command: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_process_help_lists_settings(command: list[str], tmp_path: Path) -> None:
    done = _spawn(command, "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for setting in SETTINGS:
        assert setting.long_flag in done.stdout


@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_process_unknown_flag_is_one_line_exit_2(command: list[str], tmp_path: Path) -> None:
    done = _spawn(command, "serve", "app:app", "--bogus", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    line = _assert_one_error_line(done.stderr)
    assert line.startswith("frontdesk: error: unrecognized arguments: --bogus")
    assert "--help" in line


@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_process_bad_toml_value_is_one_line_exit_2(command: list[str], tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text('[server]\nbacklog = 10\n\n[http]\n\n\nkeepalive_timeout = "abc"\n')
    done = _spawn(command, "serve", "app:app", "-c", "frontdesk.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert _assert_one_error_line(done.stderr) == (
        'frontdesk: error: frontdesk.toml:7: http.keepalive_timeout = "abc": '
        "expected a number of seconds >= 0"
    )


@pytest.mark.parametrize("command", _commands(), ids=lambda c: Path(c[-1]).name)
def test_process_invalid_toml_syntax_is_one_line_exit_2(command: list[str], tmp_path: Path) -> None:
    (tmp_path / "frontdesk.toml").write_text("[http]\nkeepalive_timeout = = 5\n")
    done = _spawn(command, "settings", "-c", "frontdesk.toml", cwd=tmp_path)
    assert done.returncode == 2
    assert _assert_one_error_line(done.stderr).startswith(
        "frontdesk: error: frontdesk.toml:2:21: invalid TOML: "
    )
