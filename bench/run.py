"""The command line: ``python -m bench [options]``, from the repository root.

Progress goes to stderr; the command, the environment and the table go to stdout, so
``python -m bench --markdown > results.md`` captures just the report.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench import REPO_ROOT, report, scenarios, sysinfo, tools
from bench.driver import Options, Outcome, bench_scenario


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark frontdesk against peer servers on loopback with wrk.",
    )
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    p.add_argument("--repeat", type=int, default=3, help="runs per target; medians reported (3)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each run (1)")
    p.add_argument("--start-timeout", type=float, default=20.0, help="seconds to come up (20)")
    p.add_argument(
        "--only",
        metavar="NAME,...",
        help="scenarios, targets, or scenario/target to run (default: all); see --list",
    )
    p.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="server on cpu 0, wrk on cpu 1 (default: on when taskset and 2+ cpus exist)",
    )
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.add_argument("--json", type=Path, metavar="FILE", help="write raw results to FILE")
    p.add_argument("--list", action="store_true", help="list scenarios and targets, then exit")
    return p


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Turn TERM/HUP into an exception so every finally block stops its servers.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    if args.list:
        for scenario in scenarios.SCENARIOS.values():
            names = ", ".join(target.name for target in scenario.targets)
            print(f"{scenario.name}: {names}")
        return 0
    if min(args.duration, args.repeat, args.connections, args.threads) < 1 or args.warmup < 0:
        print("bench: --duration, --repeat, --connections and --threads must be >= 1")
        return 2
    if args.threads > args.connections:
        print("bench: wrk needs --connections >= --threads")
        return 2
    try:
        picked = scenarios.select(args.only.split(",") if args.only else None)
    except ValueError as exc:
        print(f"bench: {exc}")
        return 2
    needed = {"wrk"} | {tool for _, chosen in picked for target in chosen for tool in target.tools}
    missing = sorted(tool for tool in needed if tools.find_tool(tool) is None)
    if missing:
        print(f"bench: {' and '.join(missing)} not found; install with: {tools.APT_HINT}")
        return 2
    can_pin = tools.find_tool("taskset") is not None and (os.cpu_count() or 1) >= 2
    pin = can_pin if args.pin is None else args.pin
    if pin and not can_pin:
        print("bench: --pin needs taskset (util-linux) and at least 2 cpus")
        return 2

    opts = Options(
        duration=args.duration,
        repeat=args.repeat,
        connections=args.connections,
        threads=args.threads,
        warmup=args.warmup,
        pin=pin,
        start_timeout=args.start_timeout,
    )
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with INT ignored
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    environment = sysinfo.environment(pin)
    outcomes: list[Outcome] = []
    try:
        with tempfile.TemporaryDirectory(prefix="frontdesk-bench-") as tmp:
            for scenario, chosen in picked:
                env = _server_env()
                outcomes += bench_scenario(scenario, chosen, opts, env, Path(tmp), _progress)
    except KeyboardInterrupt:
        print("bench: interrupted; servers stopped", file=sys.stderr)
        return 130

    references = {scenario.name: scenario.reference for scenario, _ in picked}
    rows = report.summarize(outcomes, references)
    print(_header(command, environment, opts, markdown=args.markdown))
    print(report.markdown_table(rows) if args.markdown else report.text_table(rows))
    if any(row.note for row in rows):
        print("\n" + report.notes(rows))
    if args.json is not None:
        report.write_json(args.json, command, environment, opts, outcomes, rows)
    return 0


def _server_env() -> dict[str, str]:
    """The servers' environment: the repo root (for bench.apps) and src/ (for frontdesk) first."""
    env = dict(os.environ)
    paths = [str(REPO_ROOT), str(REPO_ROOT / "src")]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"  # a crashing server's last words reach its log
    return env


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _header(command: str, env: dict[str, str], opts: Options, *, markdown: bool) -> str:
    method = (
        f"wrk -t{opts.threads} -c{opts.connections}, {opts.duration}s per run after "
        f"{opts.warmup}s warm-up, median of {opts.repeat} runs, round-robin"
    )
    facts = [("command", command), *env.items(), ("method", method)]
    if markdown:
        return "\n".join(f"- {key}: `{value}`" for key, value in facts) + "\n"
    return "\n".join(f"{key + ':':<10} {value}" for key, value in facts) + "\n"
