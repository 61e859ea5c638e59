"""The ``frontdesk`` command: parse the command line, resolve the config, run a subcommand.

This is the only place that decides the process's exit status. Invariants:

- ``main`` returns the status and never raises (the console script passes it to sys.exit);
- every failure is one line on stderr, ``frontdesk: error: ...``; a traceback is printed
  only with ``--log-level debug`` (or that level from the environment or the config file);
- usage and config errors exit 2, app load errors 3, other frontdesk errors their
  ``exit_status``, an unexpected exception 1, Ctrl-C 130 (128 + SIGINT), quietly.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import os
import re
import sys
import textwrap
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from frontdesk import __version__
from frontdesk.config import (
    CONFIG_ENV,
    SECTIONS,
    SETTINGS,
    SETTINGS_BY_NAME,
    Config,
    Setting,
    load_config,
)
from frontdesk.config.docs import config_as_toml, flag_usage
from frontdesk.config.types import toml_repr
from frontdesk.errors import ConfigError, FrontdeskError

__all__ = ["build_parser", "main"]

PROG = "frontdesk"

# MODULE:ATTRIBUTE, the module a dotted path; the app server checks that it imports.
_APP_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class _Exit(Exception):
    """argparse finished on purpose (--help, --version); carries the status to return."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of printing usage and exiting.

    argparse's own ``error`` prints the usage and the message on two lines and calls
    sys.exit(2); here a usage error is a ``ConfigError`` like any other bad setting.
    """

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see '{self.prog} --help')")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            sys.stderr.write(message)
        raise _Exit(status)


@dataclass
class _Run:
    """What ``main`` knows while running; ``debug`` is refined once the config resolves."""

    debug: bool


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None) -> int:
    """Run ``frontdesk`` with ``argv`` (default sys.argv[1:]); return the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    environ: Mapping[str, str] = os.environ if env is None else env
    run = _Run(debug=False)
    try:
        run.debug = _debug_requested(args, environ)
        return _main(args, environ, run)
    except _Exit as done:
        return done.status
    except KeyboardInterrupt:
        return 130
    except ConfigError as err:
        # A user's mistake, fully described by the message; a traceback would only hide it.
        _error(str(err))
        return err.exit_status
    except FrontdeskError as err:
        if run.debug:
            traceback.print_exc()
        _error(str(err))
        return err.exit_status
    except Exception as err:
        if run.debug:
            traceback.print_exc()
        hint = "" if run.debug else " (run with --log-level debug for the traceback)"
        _error(f"internal error: {type(err).__name__}: {err}{hint}")
        return 1


def _main(args: list[str], environ: Mapping[str, str], run: _Run) -> int:
    namespace, extras = build_parser().parse_known_args(args)
    command: str | None = namespace.command
    if extras:
        raise ConfigError(_unrecognized(extras, command))
    if command is None:
        raise ConfigError(f"missing command, one of: {', '.join(COMMANDS)} (see '{PROG} --help')")
    config = load_config(_given(namespace), environ, namespace.config)
    run.debug = config.log_level == "debug"
    return COMMANDS[command](namespace, config)


def _cmd_serve(namespace: argparse.Namespace, config: Config) -> int:
    app = _app_arg(namespace)
    assert app is not None  # serve's APP is not optional
    # Imported here: the server pulls in the event loop and HTTP stack, which `frontdesk
    # settings` and `--help` do not need.
    from frontdesk.appserver.logfile import use_log_file

    use_log_file(config.log_file)
    if config.workers > 0 or config.reload:
        from frontdesk.appserver.program import run as run_arbiter

        given, path = _given(namespace), namespace.config
        # A reload (SIGHUP) reads the file and the environment again; the flags stay.
        return run_arbiter(
            config,
            app,
            reload_config=lambda: load_config(given, os.environ, path),
            config_path=path or os.environ.get(CONFIG_ENV) or None,
        )
    from frontdesk.appserver.serve import run

    return run(config, app)


def _app_arg(namespace: argparse.Namespace) -> str | None:
    """The APP argument, checked to be MODULE:ATTRIBUTE (the app server imports it later)."""
    app: str | None = namespace.app
    if app is not None and not _APP_PATH.fullmatch(app):
        raise ConfigError(f"APP {toml_repr(app)}: expected MODULE:ATTRIBUTE, e.g. pkg.web:app")
    return app


def _given(namespace: argparse.Namespace) -> dict[str, Any]:
    """The settings given as flags (argparse leaves the others out of the namespace)."""
    return {s.name: getattr(namespace, s.name) for s in SETTINGS if hasattr(namespace, s.name)}


def _cmd_edge(namespace: argparse.Namespace, config: Config) -> int:
    if config.workers > 0:
        from frontdesk.edge.program import run as run_arbiter

        given, path = _given(namespace), namespace.config
        # A reload (SIGHUP) reads the file and the environment again; the flags stay.
        return run_arbiter(config, reload_config=lambda: load_config(given, os.environ, path))
    from frontdesk.edge.run import run

    return run(config)


def _cmd_settings(namespace: argparse.Namespace, config: Config) -> int:
    from frontdesk.config.layout_toml import layout_as_toml

    sys.stdout.write(config_as_toml(config, sources=True))
    layout = layout_as_toml(config.layout)
    if layout:
        sys.stdout.write("\n" + layout)
    return 0


#: edge settings that 'frontdesk run' does not take: its upstreams are its own apps, and
#: more upstreams are [[upstreams]] in the config file
_NOT_FOR_RUN = ("proxy", "balance", "health_path")


def _cmd_run(namespace: argparse.Namespace, config: Config) -> int:
    app = _app_arg(namespace)
    _refuse_edge_proxy(config)
    from frontdesk.appserver.logfile import use_log_file
    from frontdesk.stack.program import run as run_stack

    use_log_file(config.log_file)
    given, path = _given(namespace), namespace.config
    return run_stack(
        config,
        app,
        reload_config=lambda: load_config(given, os.environ, path),
        config_path=path or os.environ.get(CONFIG_ENV) or None,
    )


def _refuse_edge_proxy(config: Config) -> None:
    for name in _NOT_FOR_RUN:
        if config.source(name) != "default":
            raise ConfigError(
                f"{name} ({config.source(name)}) is for 'frontdesk edge'; 'frontdesk run' proxies "
                "to its own apps, and to others named in [[upstreams]]"
            )


def _cmd_check(namespace: argparse.Namespace, config: Config) -> int:
    """Validate the config like ``nginx -t``: settings, layout, files, certificates."""
    from frontdesk.stack.check import check

    app = _app_arg(namespace)
    what = check(config, app)
    where = namespace.config or os.environ.get(CONFIG_ENV) or "the settings"
    sys.stdout.write(f"{where}: ok ({what})\n")
    return 0


def _cmd_ctl(namespace: argparse.Namespace, config: Config) -> int:
    from frontdesk.appserver.control import ControlError, format_status, request
    from frontdesk.appserver.runtime import control_path

    action: str = namespace.action
    count: int | None = namespace.count
    if count is not None and action not in ("add", "remove"):
        raise ConfigError(f"'ctl {action}' takes no count (see '{PROG} ctl --help')")
    path = control_path(config.control_socket)
    if path is None:
        raise ConfigError("--control-socket is none: there is no control socket to talk to")
    message: dict[str, Any] = {"command": action}
    if count is not None:
        message["count"] = count
    answer = request(path, message, timeout=namespace.wait)
    if namespace.json:
        sys.stdout.write(json.dumps(answer, indent=2) + "\n")
    elif answer.get("ok"):
        text = format_status(answer) if action == "status" else f"{answer.get('message', 'ok')}\n"
        sys.stdout.write(text)
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "the arbiter refused")))
    return 0


def _cmd_export(namespace: argparse.Namespace, config: Config) -> int:
    """Write the config of another tool doing the same job: nginx, systemd, Kubernetes."""
    from frontdesk.stack import export

    app = _app_arg(namespace)
    path = namespace.config or os.environ.get(CONFIG_ENV) or None
    config_path = os.path.abspath(path) if path else None
    files: dict[str, str]
    if namespace.kind == "nginx":
        files = {"nginx.conf": export.export_nginx(config, app)}
    elif namespace.kind == "systemd":
        files = export.export_systemd(config, app, config_path=config_path)
    else:
        text = export.export_kubernetes(config, app, config_path=config_path, image=namespace.image)
        files = {"frontdesk.yaml": text}
    if namespace.output is None:
        for name, text in files.items():
            if len(files) > 1:
                sys.stdout.write(f"# ---- {name}\n")
            sys.stdout.write(text)
        return 0
    os.makedirs(namespace.output, exist_ok=True)
    for name, text in files.items():
        target = os.path.join(namespace.output, name)
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
        sys.stdout.write(f"wrote {target}\n")
    return 0


def _cmd_trace(namespace: argparse.Namespace, config: Config) -> int:
    from frontdesk.stack.trace import format_journey, trace

    try:
        journey = trace(namespace.url, method=namespace.method, insecure=namespace.insecure)
    except OSError as exc:
        raise FrontdeskError(f"trace {namespace.url}: {exc}") from None
    sys.stdout.write(format_journey(journey))
    return 0


#: subcommand name -> what runs it, given the parsed arguments and the resolved config
COMMANDS: dict[str, Callable[[argparse.Namespace, Config], int]] = {
    "serve": _cmd_serve,
    "edge": _cmd_edge,
    "run": _cmd_run,
    "check": _cmd_check,
    "config": _cmd_settings,
    "settings": _cmd_settings,
    "trace": _cmd_trace,
    "export": _cmd_export,
    "ctl": _cmd_ctl,
}


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, generated from the settings declarations."""
    parser = _Parser(
        prog=PROG,
        description="The whole Python serving stack: edge, application server, WSGI, ASGI.",
        epilog=_settings_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(
        dest="command", title="commands", metavar="COMMAND", parser_class=_Parser
    )

    serve = commands.add_parser(
        "serve",
        help="run the application server for APP",
        description="Run the application server: listen, and hand each request to APP.",
        allow_abbrev=False,
    )
    serve.add_argument("app", metavar="APP", help="the app as MODULE:ATTRIBUTE, e.g. pkg.web:app")
    _add_config_option(serve)
    _add_settings(serve, "serve")

    edge = commands.add_parser(
        "edge",
        help="run the front door: static files, reverse proxy, TLS, filters",
        description="Run the edge: serve static routes and proxy the rest to upstream servers. "
        "It never runs app code.",
        allow_abbrev=False,
    )
    _add_config_option(edge)
    _add_settings(edge, "edge")

    run = commands.add_parser(
        "run",
        help="run the whole stack: the edge in front of APP's workers, one command",
        description="Run the whole stack: the edge on --bind (static files, TLS, filters), "
        "and APP's workers behind it on unix sockets, under one supervisor. Without APP, "
        "the config file's [[apps]] are run.",
        allow_abbrev=False,
    )
    run.add_argument(
        "app", metavar="APP", nargs="?", default=None, help="the app as MODULE:ATTRIBUTE"
    )
    _add_config_option(run)
    _add_settings(run, "run")

    check = commands.add_parser(
        "check",
        help="validate the config file (and APP's stack) without running anything",
        description="Check every setting, app, upstream and route of the config, the files "
        "they name and the TLS certificates, like 'nginx -t'. Exit 0 when all is well, 2 "
        "with one line naming file:line otherwise.",
        allow_abbrev=False,
    )
    check.add_argument(
        "app", metavar="APP", nargs="?", default=None, help="check the stack 'run APP' would run"
    )
    _add_config_option(check)
    _add_settings(check, "run")

    config_cmd = commands.add_parser(
        "config",
        help="print the resolved config: every setting, app, upstream and route, and its source",
        description="Print the resolved config as TOML, each value with where it came from "
        "(default, file:line, env, cli).",
        allow_abbrev=False,
    )
    _add_config_option(config_cmd)
    _add_settings(config_cmd, None)

    settings = commands.add_parser(
        "settings",
        help="print every resolved setting, as TOML, with where its value came from",
        description="Print every resolved setting and its source (default, file, env, cli).",
        allow_abbrev=False,
    )
    _add_config_option(settings)
    _add_settings(settings, None)

    export_cmd = commands.add_parser(
        "export",
        help="write nginx, systemd or Kubernetes config for the same stack",
        description="Write the config another tool needs to do part of the stack's job: "
        "nginx (the edge's job, in front of 'frontdesk serve' on unix sockets), systemd "
        "(a unit running 'frontdesk run'), kubernetes (a Deployment and a Service with "
        "probes). Printed, or written into --output DIR.",
        allow_abbrev=False,
    )
    export_cmd.add_argument("kind", choices=["nginx", "systemd", "kubernetes"], metavar="KIND")
    export_cmd.add_argument(
        "app", metavar="APP", nargs="?", default=None, help="the app, if not in [[apps]]"
    )
    export_cmd.add_argument(
        "-o", "--output", metavar="DIR", default=None, help="write the files into DIR"
    )
    export_cmd.add_argument(
        "--image",
        default="frontdesk-app:latest",
        help="kubernetes: the container image holding the app and frontdesk",
    )
    _add_config_option(export_cmd)
    _add_settings(export_cmd, "run")

    trace = commands.add_parser(
        "trace",
        help="send one request through the running stack and show the layers it crossed",
        description="Send one request to URL with 'Frontdesk-Trace: 1' and print each layer it "
        "crossed (edge, queue, app worker), which process served it and each layer's time. "
        "Layers answer only clients they trust (loopback by default).",
        allow_abbrev=False,
    )
    trace.add_argument("url", metavar="URL", help="e.g. http://127.0.0.1:8000/")
    trace.add_argument("-X", "--method", default="GET", help="request method (default GET)")
    trace.add_argument(
        "-k", "--insecure", action="store_true", help="https: do not verify the certificate"
    )
    _add_config_option(trace)

    ctl = commands.add_parser(
        "ctl",
        help="control a running 'serve --workers N' through its control socket",
        description="Ask a running arbiter: "
        + "; ".join(f"{name}: {what}" for name, what in _CTL_ACTIONS.items())
        + ".",
        allow_abbrev=False,
    )
    ctl.add_argument(
        "action", choices=list(_CTL_ACTIONS), metavar="ACTION", help="|".join(_CTL_ACTIONS)
    )
    ctl.add_argument(
        "count", nargs="?", type=_positive, default=None, help="add/remove: how many (default 1)"
    )
    ctl.add_argument("--json", action="store_true", help="print the arbiter's answer as JSON")
    ctl.add_argument(
        "--wait",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="longest wait for the answer (a reload answers once the new workers serve)",
    )
    _add_config_option(ctl)
    _add_settings(ctl, "ctl")
    return parser


#: ``frontdesk ctl`` actions (the same words as the control protocol's commands)
_CTL_ACTIONS: dict[str, str] = {
    "status": "each worker's pid, state, age, requests served and memory",
    "reload": "rolling reload of config and code, as SIGHUP (waits for the outcome)",
    "stop": "graceful stop, as SIGTERM",
    "add": "one more worker, or COUNT more, as SIGTTIN",
    "remove": "one worker fewer, or COUNT fewer, as SIGTTOU",
}


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: expected an integer >= 1")
    return int(text)


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        default=None,
        help=f"TOML config file (default: ${CONFIG_ENV} if set, else none)",
    )


def _add_settings(parser: argparse.ArgumentParser, command: str | None) -> None:
    """Add the flags of the settings for ``command`` (None: all), one group per section.

    ``default=SUPPRESS`` keeps flags that were not given out of the namespace, so the loader
    sees only what the user typed and lower-precedence sources keep their values.
    """
    groups = {name: parser.add_argument_group(f"[{name}] settings") for name in SECTIONS}
    for setting in SETTINGS:
        if command is not None and not _takes(command, setting):
            continue
        kwargs: dict[str, Any] = {"dest": setting.name, "default": argparse.SUPPRESS}
        kwargs["help"] = _flag_help(setting).replace("%", "%%")
        if setting.type.cli_shape == "flag":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["metavar"] = setting.type.metavar
            if setting.type.cli_shape == "repeat":
                kwargs["action"] = "append"
        groups[setting.section].add_argument(*setting.cli_flags, **kwargs)


def _takes(command: str, setting: Setting[Any]) -> bool:
    """Whether ``command`` has a flag for ``setting``; run takes serve's and edge's."""
    if command == "run":
        if setting.name in _NOT_FOR_RUN:
            return False
        return bool({"serve", "edge", "run"} & set(setting.commands))
    return command in setting.commands


def _flag_help(setting: Setting[Any]) -> str:
    default = setting.type.to_toml(setting.default)
    return f"{setting.help} [default: {default}; env {setting.env_var}]"


def _settings_epilog() -> str:
    """Top-level --help lists every setting, so it is discoverable without a subcommand."""
    lines = [
        "settings (flags of 'serve'; each is also FRONTDESK_<NAME> in the environment and",
        "a key of the -c TOML file; precedence: default < file < env < flag; see",
        "docs/settings.md, or 'frontdesk settings' for the resolved values):",
    ]
    for section in SECTIONS:
        lines.append(f"  [{section}]")
        for setting in SETTINGS:
            if setting.section != section:
                continue
            lines.append(f"    {flag_usage(setting)}")
            text = f"{setting.help} (default {setting.type.to_toml(setting.default)})"
            lines += textwrap.wrap(text, 88, initial_indent=" " * 8, subsequent_indent=" " * 8)
    return "\n".join(lines)


def _unrecognized(extras: list[str], command: str | None) -> str:
    message = "unrecognized arguments: " + " ".join(extras)
    flags = [f for s in SETTINGS for f in s.cli_flags] + ["--config", "--help", "--version"]
    first_flag = next((e.split("=", 1)[0] for e in extras if e.startswith("--")), None)
    close = difflib.get_close_matches(first_flag, flags, n=1, cutoff=0.7) if first_flag else []
    if close:
        message += f"; did you mean {close[0]}?"
    where = f"{PROG} {command}" if command else PROG
    return f"{message} (see '{where} --help')"


def _debug_requested(args: list[str], environ: Mapping[str, str]) -> bool:
    """A first guess at --log-level debug, before parsing, for crashes that happen early."""
    level = SETTINGS_BY_NAME["log_level"]
    if environ.get(level.env_var, "").strip().lower() == "debug":
        return True
    flag = level.long_flag
    pairs = itertools.pairwise([*args, ""])
    return any(a == f"{flag}=debug" or (a, b) == (flag, "debug") for a, b in pairs)


def _error(message: str) -> None:
    # Invariant: one line, whatever the message holds (a path or value with a newline).
    one_line = " ".join(message.splitlines()) or "unknown error"
    print(f"{PROG}: error: {one_line}", file=sys.stderr)
