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
