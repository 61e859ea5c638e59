"""The bench's wrk parser, on wrk 4.1.0 (Debian) output captured on the project's machine.

Numbers only: performance is never asserted in tests. The last test runs the harness once,
briefly, against nginx to show the command still works end to end.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:  # bench/ sits beside src/, not inside the package
    sys.path.insert(0, str(REPO_ROOT))
wrk = importlib.import_module("bench.wrk")
tools = importlib.import_module("bench.tools")

KEEPALIVE = """\
Running 2s test @ http://127.0.0.1:18080/
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   818.12us    0.96ms   8.34ms   87.81%
    Req/Sec    47.27k    18.84k   68.67k    57.50%
  Latency Distribution
     50%  361.00us
     75%    1.06ms
     90%    2.11ms
     99%    4.29ms
  188070 requests in 2.00s, 28.88MB read
Requests/sec:  93904.19
Transfer/sec:     14.42MB
"""

NOT_FOUND = """\
Running 1s test @ http://127.0.0.1:18080/missing
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.94ms    1.09ms  28.37ms   98.50%
    Req/Sec    37.05k     2.52k   39.69k    90.00%
  Latency Distribution
     50%  817.00us
     75%    0.94ms
     90%    1.10ms
     99%    3.19ms
  73595 requests in 1.00s, 21.62MB read
  Non-2xx or 3xx responses: 73595
Requests/sec:  73454.12
Transfer/sec:     21.58MB
"""

# The server was killed one second into the run.
SERVER_KILLED = """\
Running 3s test @ http://127.0.0.1:18080/
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   206.59us  290.46us   5.48ms   95.27%
    Req/Sec    38.17k    19.70k   63.99k    71.43%
  Latency Distribution
     50%  134.00us
     75%  264.00us
     90%  365.00us
     99%    1.48ms
  79644 requests in 3.10s, 12.23MB read
  Socket errors: connect 0, read 32, write 180290, timeout 0
Requests/sec:  25693.25
Transfer/sec:      3.94MB
"""

TIMEOUTS = """\
Running 3s test @ http://127.0.0.1:18081/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    50.81ms  297.16us  51.39ms   58.33%
    Req/Sec    28.77     21.50    70.00     69.23%
  Latency Distribution
     50%   50.77ms
     75%   51.12ms
     90%   51.24ms
     99%   51.39ms
  41 requests in 3.00s, 3.88KB read
  Socket errors: connect 0, read 0, write 0, timeout 17
Requests/sec:     13.64
Transfer/sec:      1.29KB
"""

# wrk pads whole-second latencies with a trailing space ("1.00s "); kept by the replace below.
SECONDS = """\
Running 3s test @ http://127.0.0.1:18081/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   444.68ms  473.91ms   1.00s    58.54%
    Req/Sec    26.77     17.59    50.00     61.54%
  Latency Distribution
     50%   50.93ms
     75%    1.00s
     90%    1.00s
     99%    1.00s
  41 requests in 3.01s, 3.88KB read
Requests/sec:     13.64
Transfer/sec:      1.29KB
""".replace("1.00s\n", "1.00s \n")


def test_keepalive_run() -> None:
    result = wrk.parse(KEEPALIVE)
    assert result.rps == 93904.19
    assert result.requests == 188070
    assert result.duration == pytest.approx(2.0)
    assert result.p50 == pytest.approx(361e-6)
    assert result.p99 == pytest.approx(4.29e-3)
    assert result.latency[75.0] == pytest.approx(1.06e-3)
    assert result.errors == 0


def test_non_2xx_responses_are_errors() -> None:
    result = wrk.parse(NOT_FOUND)
    assert result.non_2xx_3xx == 73595
    assert result.socket_errors == 0
    assert result.errors == 73595


def test_socket_errors_are_counted_by_kind() -> None:
    result = wrk.parse(SERVER_KILLED)
    assert (result.connect_errors, result.read_errors, result.write_errors) == (0, 32, 180290)
    assert result.timeouts == 0
    assert result.errors == 32 + 180290
    assert result.duration == pytest.approx(3.10)


def test_timeouts() -> None:
    result = wrk.parse(TIMEOUTS)
    assert result.timeouts == 17
    assert result.errors == 17
    assert result.p50 == pytest.approx(50.77e-3)
    assert result.rps == 13.64


def test_whole_seconds_with_trailing_space() -> None:
    assert "1.00s \n" in SECONDS
    result = wrk.parse(SECONDS)
    assert result.p50 == pytest.approx(50.93e-3)
    assert result.p99 == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("361.00us", 361e-6), ("1.06ms", 1.06e-3), ("1.00s", 1.0), ("2.00m", 120.0), ("1h", 3600)],
)
def test_parse_time_units(text: str, seconds: float) -> None:
    assert wrk.parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "unable to connect to 127.0.0.1:18099 Connection refused"])
def test_output_without_a_report_is_an_error(text: str) -> None:
    with pytest.raises(wrk.WrkParseError):
        wrk.parse(text)


def test_output_without_latency_distribution_is_an_error() -> None:
    without = "\n".join(line for line in KEEPALIVE.splitlines() if "%  " not in line)
    with pytest.raises(wrk.WrkParseError, match="--latency"):
        wrk.parse(without)


def test_bench_smoke_run_against_nginx() -> None:
    if tools.find_tool("wrk") is None or tools.find_tool("nginx") is None:
        pytest.skip("needs wrk and nginx (apt-get install wrk nginx-light)")
    # every scenario's nginx, and the proxy row's nginx set up like frontdesk's defaults
    only = "nginx,proxy/nginx-same-fields"
    argv = [sys.executable, "-m", "bench", "--only", only, "--duration", "1"]
    argv += ["--repeat", "1", "--warmup", "0", "--no-pin", "--markdown"]
    done = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for start in ("| hello | nginx |", "| proxy | nginx-same-fields |"):
        row = next(line for line in lines if line.startswith(start))
        assert "failed" not in row
