"""``frontdesk export``: the command line over the exporters (tests/stack tests the files)."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import run_cli


def test_export_prints_or_writes_each_kind(tmp_path: Path) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text(
        '[edge]\nstatus_path = "/up"\n\n[[apps]]\napp = "shop.web:app"\nworkers = 3\n'
    )
    nginx = run_cli(["export", "nginx", "-c", str(config)], cwd=tmp_path)
    assert nginx.returncode == 0, nginx.stderr
    assert "frontdesk serve shop.web:app -b unix:" in nginx.stdout and "--workers 3" in nginx.stdout
    assert "location = /up" in nginx.stdout

    systemd = run_cli(["export", "systemd", "-c", str(config), "-o", str(tmp_path / "out")])
    assert systemd.returncode == 0, systemd.stderr
    unit = (tmp_path / "out" / "frontdesk.service").read_text()
    assert "Type=notify" in unit and str(config) in unit

    k8s = run_cli(["export", "kubernetes", "-c", str(config), "--image", "reg.example/shop:7"])
    assert k8s.returncode == 0, k8s.stderr
    assert "reg.example/shop:7" in k8s.stdout and "/up" in k8s.stdout


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    result = run_cli(["export", "nginx"], cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("frontdesk: error: the edge has nothing to serve")
    assert result.stderr.count("\n") == 1
    result = run_cli(["export", "nginx", "pkg:app", "--self-signed"], cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_redirect_http_exports_as_an_nginx_redirect_server(tmp_path: Path) -> None:
    import trustme

    from tests.stack.nginx_support import find_nginx, nginx_test

    ca = trustme.CA()
    cert = ca.issue_cert("shop.example")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "k.pem"))
    config = tmp_path / "frontdesk.toml"
    config.write_text(
        f'[server]\nbind = ["127.0.0.1:8443"]\n\n[edge]\ncertfile = "{tmp_path / "c.pem"}"\n'
        f'keyfile = "{tmp_path / "k.pem"}"\nredirect_http = ["127.0.0.1:8080"]\n\n'
        '[[apps]]\napp = "shop.web:app"\n'
    )
    result = run_cli(["export", "nginx", "-c", str(config)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "listen 127.0.0.1:8080;" in text
    assert "return 301 https://$host:8443$request_uri;" in text
    assert "return 308 https://$host:8443$request_uri;" in text
    nginx = find_nginx()
    if nginx is not None:
        (tmp_path / "nginx.conf").write_text(text)
        checked = nginx_test(nginx, tmp_path / "nginx.conf", tmp_path)
        assert checked.returncode == 0, checked.stderr

    sni = tmp_path / "sni.toml"
    sni.write_text(
        config.read_text() + f'\n[[edge.certificates]]\ncertfile = "{tmp_path / "c.pem"}"\n'
        f'keyfile = "{tmp_path / "k.pem"}"\n'
    )
    refused = run_cli(["export", "nginx", "-c", str(sni)], cwd=tmp_path)
    assert refused.returncode == 2
    assert "[[edge.certificates]]" in refused.stderr and refused.stderr.count("\n") == 1


def test_route_methods_export_as_405_with_allow(tmp_path: Path) -> None:
    from tests.stack.nginx_support import find_nginx, nginx_test

    (tmp_path / "files").mkdir()
    config = tmp_path / "frontdesk.toml"
    config.write_text(
        '[[apps]]\napp = "shop.web:app"\nmethods = ["GET", "POST"]\n\n'
        f'[[edge.routes]]\nprefix = "/files/"\nstatic = "{tmp_path / "files"}"\n'
        'methods = ["GET"]\n'
    )
    result = run_cli(["export", "nginx", "-c", str(config)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "if ($request_method !~ ^(GET|HEAD|POST)$) {" in result.stdout
    assert 'add_header Allow "GET, HEAD" always;' in result.stdout
    nginx = find_nginx()
    if nginx is not None:
        (tmp_path / "nginx.conf").write_text(result.stdout)
        checked = nginx_test(nginx, tmp_path / "nginx.conf", tmp_path)
        assert checked.returncode == 0, checked.stderr
