"""Medians over repeats, and the table (plain text or markdown) and JSON built from them."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.driver import Options, Outcome

COLUMNS = (
    "scenario",
    "server",
    "version",
    "req/s",
    "p50",
    "p99",
    "errors",
    "spread",
    "idle RSS",
    "MiB/s",
    "CPU s/10k req",
    "frontdesk/peer",
)


@dataclass(frozen=True)
class Row:
    scenario: str
    target: str
    version: str
    failure: str | None  # set: the row says why it has no numbers
    runs: int = 0
    rps: float = 0.0  # medians over the runs that completed
    p50: float = 0.0
    p99: float = 0.0
    errors: int = 0  # summed over all runs: one bad run is worth seeing
    spread: float = 0.0  # (max - min) / median of req/s: how noisy the repeats were
    ratio: float | None = None  # reference req/s / this row's req/s
    note: str | None = None  # runs that failed although others completed
    idle_rss: int = 0  # bytes, all of the target's processes, before the load
    transfer: float = 0.0  # median bytes/s of responses (wrk's Transfer/sec)
    cpu_per_10k: float = 0.0  # median CPU seconds of the server under test per 10,000 requests


def summarize(outcomes: Sequence[Outcome], references: Mapping[str, str]) -> list[Row]:
    rows = [_row(outcome) for outcome in outcomes]
    reference_rps = {
        row.scenario: row.rps
        for row in rows
        if row.failure is None and references.get(row.scenario) == row.target
    }
    return [
        _with_ratio(row, reference_rps.get(row.scenario), references.get(row.scenario))
        for row in rows
    ]


def _row(outcome: Outcome) -> Row:
    runs = outcome.runs
    if not runs:
        failure = outcome.failure or "; ".join(outcome.run_failures[:1]) or "no runs"
        return Row(outcome.scenario, outcome.target, outcome.version, failure)
    rps = [run.rps for run in runs]
    median = statistics.median(rps)
    problems = [*outcome.run_failures, *([outcome.failure] if outcome.failure else [])]
    note = f"{len(runs)} runs completed; {'; '.join(problems)}" if problems else None
    return Row(
        scenario=outcome.scenario,
        target=outcome.target,
        version=outcome.version,
        failure=None,
        runs=len(runs),
        rps=median,
        p50=statistics.median(run.p50 for run in runs),
        p99=statistics.median(run.p99 for run in runs),
        errors=sum(run.errors for run in runs),
        spread=(max(rps) - min(rps)) / median if median else 0.0,
        note=note,
        idle_rss=outcome.idle_rss,
        transfer=statistics.median(run.transfer for run in runs),
        cpu_per_10k=statistics.median(outcome.cpu) * 10_000 if outcome.cpu else 0.0,
    )


def _with_ratio(row: Row, reference: float | None, reference_name: str | None) -> Row:
    if row.failure is not None or not reference or not row.rps or row.target == reference_name:
        return row
    return Row(**{**asdict(row), "ratio": reference / row.rps})


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f}ms"
    return f"{seconds:.2f}s"


def _cells(row: Row) -> list[str]:
    head = [row.scenario, row.target, row.version]
    if row.failure is not None:
        return [*head, row.failure]
    ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "-"
    return [
        *head,
        f"{row.rps:,.0f}",
        fmt_time(row.p50),
        fmt_time(row.p99),
        str(row.errors),
        f"{row.spread:.0%}" if row.runs > 1 else "-",
        f"{row.idle_rss / 2**20:.1f} MiB" if row.idle_rss else "-",
        f"{row.transfer / 2**20:,.1f}" if row.transfer else "-",
        f"{row.cpu_per_10k:.3f}" if row.cpu_per_10k else "-",
        ratio,
    ]


def notes(rows: Sequence[Row]) -> str:
    """Footnotes for rows whose numbers come from fewer runs than asked."""
    return "\n".join(f"note: {r.scenario}/{r.target}: {r.note}" for r in rows if r.note)


def text_table(rows: Sequence[Row]) -> str:
    cells = [_cells(row) for row in rows]
    full = [c for c in cells if len(c) == len(COLUMNS)]
    widths = [max(len(c[i]) for c in [list(COLUMNS), *full]) for i in range(len(COLUMNS))]
    # The first three columns of failure rows count too; their message runs on unpadded.
    for c in cells:
        for i in range(3):
            widths[i] = max(widths[i], len(c[i]))

    def line(values: Sequence[str], header: bool = False) -> str:
        if len(values) < len(COLUMNS):  # a failure: three columns, then the message
            return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=False)).rstrip()
        parts = [
            v.ljust(w) if i < 3 or header else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [line(COLUMNS, header=True), "  ".join("-" * w for w in widths)]
    out += [line(c) for c in cells]
    return "\n".join(out)


def markdown_table(rows: Sequence[Row]) -> str:
    out = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] * 3 + ["--:"] * (len(COLUMNS) - 3)) + "|",
    ]
    for row in rows:
        cells = _cells(row)
        if len(cells) < len(COLUMNS):
            cells += ["-"] * (len(COLUMNS) - len(cells))
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def write_json(
    path: Path,
    command: str,
    environment: Mapping[str, str],
    opts: Options,
    outcomes: Sequence[Outcome],
    rows: Sequence[Row],
) -> None:
    data = {
        "command": command,
        "environment": dict(environment),
        "options": asdict(opts),
        "rows": [asdict(row) for row in rows],
        "outcomes": [
            {
                "scenario": o.scenario,
                "target": o.target,
                "server": o.server,
                "version": o.version,
                "failure": o.failure,
                "run_failures": o.run_failures,
                "cpu_per_request": o.cpu,
                "runs": [
                    {**asdict(run), "latency": {str(k): v for k, v in run.latency.items()}}
                    for run in o.runs
                ],
            }
            for o in outcomes
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
