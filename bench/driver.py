"""Start a scenario's targets, check their answers, and drive each with wrk, round-robin.

Order of work for one scenario: start every target (a failed one becomes a row that says why),
then for each repeat visit the live targets in a rotated order (warm-up, then the measured run),
so that slow drifts of a shared machine spread over all targets instead of landing on one.
"""

from __future__ import annotations

import http.client
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench import REPO_ROOT, procs, tools, wrk
from bench.scenarios import Expect, Scenario
from bench.targets import Launch, ProbeError, Target

Log = Callable[[str], None]

SERVER_CPU = "0"
WRK_CPU = "1"


class Failure(Exception):
    """A target could not be started, checked or measured; the message is one line."""


@dataclass(frozen=True)
class Options:
    duration: int = 10
    repeat: int = 3
    connections: int = 64
    threads: int = 2
    warmup: int = 1
    pin: bool = True
    start_timeout: float = 20.0


@dataclass
class Outcome:
    """What happened to one target in one scenario: its runs, or why it has none."""

    scenario: str
    target: str
    server: str
    version: str = "?"
    failure: str | None = None
    runs: list[wrk.WrkResult] = field(default_factory=list)
    run_failures: list[str] = field(default_factory=list)
    idle_rss: int = 0  # bytes, all of the target's processes, after its first answer
    cpu: list[float] = field(default_factory=list)  # per run: server CPU seconds per request


def check_answer(port: int, path: str, expect: Expect, timeout: float = 2.0) -> str | None:
    """One GET; None if status, media type and body are as expected, else what differed.

    Raises OSError (and http.client errors) when there is no HTTP answer at all.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        media = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    finally:
        conn.close()
    if response.status != expect.status:
        return f"status {response.status}, expected {expect.status}"
    if media != expect.content_type:
        return f"content-type {media!r}, expected {expect.content_type!r}"
    if expect.length is not None:
        if len(body) != expect.length:
            return f"body of {len(body)} bytes, expected {expect.length}"
    elif body != expect.body:
        return f"body {body[:40]!r}, expected {expect.body[:40]!r}"
    return None


class Running:
    """A started target: its process groups and the port wrk will hit."""

    def __init__(self, target: Target, launch: Launch, groups: list[procs.Group]) -> None:
        self.target = target
        self.launch = launch
        self.groups = groups

    def exit_reason(self) -> str | None:
        for group in self.groups:
            reason = group.exit_reason()
            if reason is not None:
                return reason
        return None

    def stop(self) -> None:
        for group in reversed(self.groups):
            group.stop()

    def rss(self) -> int:
        return sum(procs.group_rss(group.proc.pid) for group in self.groups)

    def cpu_seconds(self) -> float:
        """utime + stime so far of the server under test (the last command's process group)."""
        return procs.group_cpu(self.groups[-1].proc.pid) if self.groups else 0.0


def start(target: Target, workdir: Path, env: Mapping[str, str], pin: bool) -> Running:
    workdir.mkdir(parents=True, exist_ok=True)
    launch = Launch(port=procs.free_port(), workdir=workdir)
    prefix = ["taskset", "-c", SERVER_CPU] if pin else []
    running = Running(target, launch, [])
    try:
        for argv in target.commands(launch):
            group = procs.Group(prefix + argv, cwd=REPO_ROOT, env=env, log=workdir / "out.log")
            running.groups.append(group)
    except OSError as exc:
        running.stop()
        raise Failure(f"failed to start: {exc}") from exc
    return running


def wait_ready(running: Running, path: str, expect: Expect, timeout: float) -> None:
    """Poll until the target gives the expected answer; bounded by ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    wrong_answer = False
    while time.monotonic() < deadline:
        reason = running.exit_reason()
        if reason is not None:
            raise Failure(f"failed to start: {reason}")
        try:
            mismatch = check_answer(running.launch.port, path, expect)
        except (OSError, http.client.HTTPException) as exc:
            last, wrong_answer = f"no answer after {timeout:g}s ({exc})", False
        else:
            if mismatch is None:
                return
            last, wrong_answer = mismatch, True
        time.sleep(0.05)
    raise Failure(f"failed check: {last}" if wrong_answer else f"failed to start: {last}")


# wrk's script for scenarios whose requests all differ (``Scenario.varied``)
VARIED_SCRIPT = REPO_ROOT / "bench" / "varied.lua"


def run_wrk(
    port: int, path: str, seconds: int, opts: Options, varied: bool = False
) -> wrk.WrkResult:
    url = f"http://127.0.0.1:{port}{path}"
    argv = ["wrk", "-t", str(opts.threads), "-c", str(opts.connections), "-d", f"{seconds}s"]
    if varied:
        argv += ["-s", str(VARIED_SCRIPT)]
    argv += ["--latency", url]
    if opts.pin:
        argv = ["taskset", "-c", WRK_CPU, *argv]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise Failure(f"wrk did not finish within {seconds + 30}s") from exc
    if done.returncode != 0:
        raise Failure(f"wrk exited {done.returncode}: {(done.stderr or done.stdout).strip()[:200]}")
    try:
        return wrk.parse(done.stdout)
    except wrk.WrkParseError as exc:
        raise Failure(str(exc)) from exc


def bench_scenario(
    scenario: Scenario,
    chosen: tuple[Target, ...],
    opts: Options,
    env: Mapping[str, str],
    workdir: Path,
    log: Log,
) -> list[Outcome]:
    outcomes = [Outcome(scenario.name, target.name, target.server) for target in chosen]
    running: dict[str, Running] = {}
    try:
        for target, outcome in zip(chosen, outcomes, strict=True):
            tag = f"[{scenario.name}/{target.name}]"
            try:
                outcome.version = target.version(env)
                missing = [name for name in target.tools if tools.find_tool(name) is None]
                if missing:
                    raise ProbeError(f"{', '.join(missing)} not found ({tools.APT_HINT})")
                running[target.name] = start(target, workdir / target.name, env, opts.pin)
                wait_ready(running[target.name], scenario.path, scenario.expect, opts.start_timeout)
            except ProbeError as exc:
                outcome.failure = f"failed to start: {exc}"
            except Failure as exc:
                outcome.failure = str(exc)
            if outcome.failure is not None:
                log(f"{tag} {outcome.failure}")
                if target.name in running:
                    running.pop(target.name).stop()
                continue
            port = running[target.name].launch.port
            outcome.idle_rss = running[target.name].rss()
            log(
                f"{tag} {target.server} {outcome.version} answering on 127.0.0.1:{port}, "
                f"idle RSS {outcome.idle_rss / 2**20:.1f} MiB"
            )

        live = [outcome for outcome in outcomes if outcome.target in running]
        for rep in range(opts.repeat):
            shift = rep % len(live) if live else 0
            for outcome in live[shift:] + live[:shift]:
                if outcome.failure is not None:
                    continue
                _measure_once(running[outcome.target], outcome, scenario, opts, rep, log)
    finally:
        for item in running.values():
            item.stop()
    return outcomes


def _measure_once(
    item: Running, outcome: Outcome, scenario: Scenario, opts: Options, rep: int, log: Log
) -> None:
    tag = f"[{scenario.name}/{outcome.target}] run {rep + 1}/{opts.repeat}:"
    reason = item.exit_reason()
    if reason is not None:
        outcome.failure = f"died: {reason}"
        log(f"{tag} {outcome.failure}")
        return
    try:
        if opts.warmup > 0:
            run_wrk(item.launch.port, scenario.path, opts.warmup, opts, scenario.varied)
        cpu_before = item.cpu_seconds()
        result = run_wrk(item.launch.port, scenario.path, opts.duration, opts, scenario.varied)
        cpu = item.cpu_seconds() - cpu_before
    except Failure as exc:
        outcome.run_failures.append(str(exc))
        log(f"{tag} {exc}")
        return
    outcome.runs.append(result)
    outcome.cpu.append(cpu / result.requests if result.requests else 0.0)
    log(
        f"{tag} {result.rps:,.0f} req/s, p50 {result.p50 * 1e3:.2f}ms, "
        f"p99 {result.p99 * 1e3:.2f}ms, errors {result.errors}, "
        f"{result.transfer / 2**20:,.1f} MiB/s, server CPU {cpu:.2f}s"
    )
