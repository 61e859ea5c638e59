"""``frontdesk run``: the whole stack as one real process tree, stopped and reloaded for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.devapp import write_devapp
from tests.support.load import Load
from tests.support.processes import REPO, ServerProcess, run_cli

APPS = str(REPO / "tests" / "appserver" / "apps")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def _run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> ServerProcess:
    return ServerProcess(
        ["run", *args, "-b", "127.0.0.1:0", "--control-socket", "none"], cwd=tmp_path, env=env
    )


def test_run_serves_the_app_and_static_files_behind_the_edge(tmp_path: Path) -> None:
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "site.css").write_text("body { color: teal }\n")
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "2") as stack:
        url = stack.url(60)
        stack.wait_for_line(r"app pool_apps \(pool_apps:app\): 2 workers behind the edge")
        with httpx.Client(base_url=url) as client:
            answered = {client.get("/x").text.split()[0] for _ in range(20)}
            css = client.get("/static/site.css")
            missing = client.get("/static/nope.css")
        assert css.status_code == 200
        assert css.text == "body { color: teal }\n"
        assert css.headers["content-type"].startswith("text/css")
        assert "etag" in css.headers  # the edge's static files, not the app
        assert missing.status_code == 404
        pids = _children(stack.proc.pid)
        assert len(pids) == 3  # one edge worker, two app workers
        assert answered <= {str(p) for p in pids}
        stack.signal(signal.SIGTERM)
        assert stack.wait(20) == 0
    assert not any(_alive(pid) for pid in pids)


def test_every_response_carries_the_journey(tmp_path: Path) -> None:
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "1") as stack:
        url = stack.url(60)
        response = httpx.get(url + "/", headers={"Frontdesk-Trace": "1"})
        assert response.status_code == 200
        timing = response.headers["server-timing"]
        for span in ("edge;dur=", "queue;dur=", "app;dur="):
            assert span in timing, timing
        assert len(response.headers["x-request-id"]) >= 16
        trace = response.headers.get_list("frontdesk-trace")
        layers = [field.split(";")[0].strip() for field in trace]
        assert layers == ["app", "edge"], trace


def test_term_lets_a_request_in_flight_finish_and_stops_edge_before_apps(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    env = {"POOL_APP_LOG": str(notes)}
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "1", env=env) as stack:
        url = stack.url(60)
        results: list[httpx.Response | BaseException] = []

        def slow() -> None:
            try:
                results.append(httpx.get(url + "/slow", timeout=20))
            except httpx.HTTPError as exc:
                results.append(exc)

        client = threading.Thread(target=slow)
        client.start()
        _wait(lambda: notes.exists() and "slow-start" in notes.read_text(), what="slow request")
        stack.signal(signal.SIGTERM)
        client.join(20)
        assert stack.wait(20) == 0
        [result] = results
        assert isinstance(result, httpx.Response) and result.status_code == 200
        out = stack.output
        lines = out.splitlines()
        stopped = [line for line in lines if " stopped (shutdown" in line]
        assert len(stopped) == 2, out
        # The edge's worker went first: app workers were told only once it had exited.
        edge_pid = next(
            line.split("worker ")[1].split()[0] for line in lines if "ready (edge" in line
        )
        assert f"worker {edge_pid} stopped" in stopped[0], out


def test_ctrl_c_to_the_process_group_stops_everything_cleanly(tmp_path: Path) -> None:
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "2") as stack:
        url = stack.url(60)
        assert httpx.get(url + "/").status_code == 200
        pids = _children(stack.proc.pid)
        os.killpg(stack.proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        assert stack.wait(20) == 0
        assert "SIGINT: stopping gracefully" in stack.output
        assert "unexpectedly" not in stack.output
    assert not any(_alive(pid) for pid in pids)


def test_a_killed_app_worker_is_replaced_and_the_stack_keeps_serving(tmp_path: Path) -> None:
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "1") as stack:
        url = stack.url(60)
        first = httpx.get(url + "/").text.split()[0]
        os.kill(int(first), signal.SIGKILL)
        stack.wait_for_line(rf"worker {first} .*(killed|signal)")
        deadline = time.monotonic() + 15
        while True:
            response = httpx.get(url + "/")
            if response.status_code == 200 and response.text.split()[0] != first:
                break
            assert time.monotonic() < deadline, "no replacement worker answered"
            time.sleep(0.05)


def test_hup_under_load_reloads_both_layers_with_no_failed_request(tmp_path: Path) -> None:
    version = tmp_path / "version"
    version.write_text("v1")
    env = {"POOL_APP_VERSION_FILE": str(version)}
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "2", env=env) as stack:
        url = stack.url(60)
        edge_before = {line for line in stack.output.splitlines() if "ready (edge" in line}
        with Load(url, connections=4, total=6000) as load:
            load.wait_done(500)
            version.write_text("v2")
            stack.signal(signal.SIGHUP)
            stack.wait_for_line(r"reload.*(complete|done|finished)", timeout=30)
            load.wait_done(load.done + 500)
        result = load.join()
        assert result.failed == 0, result.errors[:5]
        assert result.ok >= 1000
        assert any(body.endswith(" v2") for body in result.bodies)
        edge_after = {line for line in stack.output.splitlines() if "ready (edge" in line}
        assert edge_after > edge_before  # a new edge worker too, not only new app workers


def test_several_apps_and_an_upstream_from_one_config_file(tmp_path: Path) -> None:
    # An outside server the edge proxies to by [[upstreams]].
    with ServerProcess(
        ["serve", "scope_apps:scope_echo", "--app-dir", APPS, "-w", "0", "-b", "127.0.0.1:0"]
    ) as outside:
        outside_url = outside.url(30)
        (tmp_path / "public").mkdir()
        (tmp_path / "public" / "a.txt").write_text("from public\n")
        config = tmp_path / "frontdesk.toml"
        config.write_text(
            f"""\
[server]
app_dir = "{APPS}"

[[apps]]
app = "pool_apps:app"
name = "asgi"
workers = 1

[[apps]]
app = "pool_apps:wsgi_app"
name = "wsgi"
workers = 1
mount = "/w/"

[[apps]]
app = "pool_apps:app"
name = "tenant"
workers = 1
hosts = ["tenant.example"]

[[upstreams]]
name = "outside"
servers = ["{outside_url}"]
mount = "/outside/"

[[edge.routes]]
prefix = "/files/"
static = "{tmp_path / "public"}"
"""
        )
        with _run(tmp_path, "-c", str(config)) as stack:
            url = stack.url(60)
            with httpx.Client(base_url=url) as client:
                root = client.get("/")
                wsgi = client.get("/w/x")
                tenant = client.get("/", headers={"Host": "tenant.example"})
                files = client.get("/files/a.txt")
                echoed = client.get("/outside/echo?q=1")
            assert root.status_code == wsgi.status_code == tenant.status_code == 200
            pids = {r.text.split()[0] for r in (root, wsgi, tenant)}
            assert len(pids) == 3  # three pools, three different workers
            assert files.text == "from public\n"
            assert echoed.status_code == 200
            assert "/outside/echo" in echoed.text


def test_mounted_apps_see_their_prefix_as_root_path_and_the_real_client(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text(
        f"""\
[server]
app_dir = "{APPS}"

[[apps]]
app = "scope_apps:scope_echo"
name = "asgi"
workers = 1
mount = "/a/"

[[apps]]
app = "scope_apps:environ_echo"
name = "wsgi"
workers = 1
mount = "/w"
"""
    )
    with _run(tmp_path, "-c", str(config)) as stack:
        url = stack.url(60)
        with httpx.Client(base_url=url) as client:
            asgi = client.get("/a/x/y", headers={"X-Forwarded-For": "203.0.113.9"}).json()
            wsgi = client.get("/w/x?q=1").json()
            bare = client.get("/w")
            outside = client.get("/elsewhere")
    assert asgi["path"] == "/a/x/y" and asgi["root_path"] == "/a"
    # The app server reads the edge's Forwarded element (which wins over X-Forwarded-For):
    # the client is the address that connected to the edge.
    assert asgi["client"][0] == "127.0.0.1"
    assert asgi["scheme"] == "http"
    assert wsgi["SCRIPT_NAME"] == "/w" and wsgi["PATH_INFO"] == "/x"
    assert wsgi["QUERY_STRING"] == "q=1"
    assert wsgi["REMOTE_ADDR"] == "127.0.0.1"
    assert len(wsgi["request_id"]) >= 16
    assert bare.status_code == 200 and bare.json()["SCRIPT_NAME"] == "/w"
    assert outside.status_code == 404


def test_check_validates_like_nginx_t(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(
        f'[server]\napp_dir = "{APPS}"\n\n[[apps]]\napp = "pool_apps:app"\n\n'
        f'[[edge.routes]]\nprefix = "/s/"\nstatic = "{tmp_path}"\n'
    )
    result = run_cli(["check", "-c", str(good)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{good}: ok (stack")

    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[apps]]\napp = "pool_apps:app"\n\n[[edge.routes]]\nprefix = "/s/"\n'
        'static = "/no/such/dir"\n'
    )
    result = run_cli(["check", "-c", str(bad)], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"frontdesk: error: {bad}:4: route /s/: static directory /no/such/dir does not "
        "exist or is not a directory"
    )

    typo = tmp_path / "typo.toml"
    typo.write_text("[edge]\nrate_limt = 3\n")
    result = run_cli(["check", "-c", str(typo)], cwd=tmp_path)
    assert result.returncode == 2
    assert (
        f"{typo}:2: unknown setting edge.rate_limt; did you mean edge.rate_limit?" in result.stderr
    )

    cert = tmp_path / "cert.toml"
    (tmp_path / "junk.pem").write_text("not a certificate\n")
    cert.write_text(
        f'[edge]\ncertfile = "{tmp_path / "junk.pem"}"\nkeyfile = "{tmp_path / "junk.pem"}"\n'
        '\n[[apps]]\napp = "pool_apps:app"\n'
    )
    result = run_cli(["check", "-c", str(cert)], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "junk.pem" in result.stderr


def test_config_prints_each_value_and_where_it_came_from(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text('[edge]\nrate_limit = 3\n\n[[apps]]\napp = "pkg.web:app"\nworkers = 2\n')
    result = run_cli(["config", "-c", str(config), "--backlog", "7"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"rate_limit = 3  # file {config}:2" in out
    assert "backlog = 7  # cli --backlog" in out
    assert f"[[apps]]  # file {config}:4" in out
    assert 'app = "pkg.web:app"' in out and "workers = 2" in out


def test_run_without_an_app_or_with_a_bad_one_is_one_line(tmp_path: Path) -> None:
    result = run_cli(["run"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("frontdesk: error: nothing to run: give APP")
    result = run_cli(["run", "no_such_module_xyz:app", "-b", "127.0.0.1:0"], cwd=tmp_path)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli(["run", "pkg:app", "--proxy", "http://127.0.0.1:9"], cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --proxy" in result.stderr


def test_sigquit_stops_fast(tmp_path: Path) -> None:
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "1") as stack:
        stack.url(60)
        pids = _children(stack.proc.pid)
        started = time.monotonic()
        stack.signal(signal.SIGQUIT)
        assert stack.wait(10) == 0
        assert time.monotonic() - started < 5
    assert not any(_alive(pid) for pid in pids)


def test_the_edge_listens_on_ipv6_and_unix_too(tmp_path: Path) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    path = tmp_path / "edge.sock"
    args = ["run", "pool_apps:app", "--app-dir", APPS, "-w", "1", "--control-socket", "none"]
    args += ["-b", "[::1]:0", "-b", f"unix:{path}"]
    with ServerProcess(args, cwd=tmp_path) as stack:
        urls = stack.listening(30)
        assert any(u.startswith("http://[::1]:") for u in urls)
        assert httpx.get(next(u for u in urls if "[::1]" in u) + "/").status_code == 200
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport) as client:
            assert client.get("http://stack/").status_code == 200


def test_reload_restarts_the_stack_when_the_code_changes(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    app_dir = tmp_path / "app"
    write_devapp(app_dir, "one")
    args = ["devapp:app", "--app-dir", str(app_dir), "-w", "1", "--reload", "--lifespan", "off"]
    with _run(tmp_path, *args) as stack:
        url = stack.url(60)
        assert httpx.get(url).text == "one"
        stack.wait_for_line("watching .* for changes")
        write_devapp(app_dir, "two")
        stack.wait_for_line("devapp.py changed; reloading")
        stack.wait_for_line("reload complete")
        assert httpx.get(url).text == "two"


def test_workers_of_a_killed_supervisor_do_not_outlive_it(tmp_path: Path) -> None:
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "2") as stack:
        stack.url(60)
        pids = _children(stack.proc.pid)
        assert len(pids) == 3
        stack.proc.kill()  # SIGKILL: no chance to stop anyone
        stack.wait(10)
        _wait(lambda: not any(_alive(pid) for pid in pids), 15, "orphaned workers to exit")


def test_a_killed_edge_worker_is_replaced_and_the_address_keeps_answering(
    tmp_path: Path,
) -> None:
    with _run(tmp_path, "pool_apps:app", "--app-dir", APPS, "-w", "1") as stack:
        url = stack.url(60)
        edge = int(stack.wait_for_line(r"worker (\d+) ready \(edge").group(1))
        assert httpx.get(url + "/").status_code == 200
        os.kill(edge, signal.SIGKILL)
        stack.wait_for_line(rf"worker {edge} .*(killed|signal)")
        replacement = stack.wait_for_line(rf"worker (?!{edge}\b)(\d+) ready \(edge", 30)
        assert int(replacement.group(1)) != edge
        # The listening socket never closed: the replacement answers on the same address.
        assert httpx.get(url + "/", timeout=10).status_code == 200


def test_user_runs_both_layers_as_that_user(tmp_path: Path) -> None:
    import pwd
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    nobody = pwd.getpwnam("nobody")
    # nobody imports the app: give it a copy where nobody can read it.
    readable = Path(tempfile.mkdtemp(prefix="frontdesk-nobody-"))
    readable.chmod(0o755)
    shutil.copy(Path(APPS) / "pool_apps.py", readable / "pool_apps.py")
    (readable / "pool_apps.py").chmod(0o644)
    try:
        args = ["pool_apps:app", "--app-dir", str(readable), "-w", "1", "--user", "nobody"]
        with _run(tmp_path, *args) as stack:
            url = stack.url(60)
            assert httpx.get(url + "/").status_code == 200
            for pid in _children(stack.proc.pid):
                assert os.stat(f"/proc/{pid}").st_uid == nobody.pw_uid
            assert os.stat(f"/proc/{stack.proc.pid}").st_uid == 0
    finally:
        shutil.rmtree(readable, ignore_errors=True)
