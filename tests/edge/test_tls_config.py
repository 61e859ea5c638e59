"""Several certificates from the config file, chosen by SNI, through a real edge process."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path

import trustme

from tests.support.processes import ServerProcess, run_cli


def _names_seen(port: int, ca: trustme.CA, name: str) -> list[str]:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with context.wrap_socket(raw, server_hostname=name) as tls:
        cert = tls.getpeercert()
    return [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]


def test_certificates_table_adds_sni_certificates(tmp_path: Path) -> None:
    ca = trustme.CA()
    files = {}
    for name in ("a.example", "b.example", "*.c.example"):
        cert = ca.issue_cert(name)
        stem = name.replace("*", "star")
        cert.cert_chain_pems[0].write_to_path(str(tmp_path / f"{stem}.crt"))
        for pem in cert.cert_chain_pems[1:]:
            pem.write_to_path(str(tmp_path / f"{stem}.crt"), append=True)
        cert.private_key_pem.write_to_path(str(tmp_path / f"{stem}.key"))
        files[name] = (tmp_path / f"{stem}.crt", tmp_path / f"{stem}.key")
    (tmp_path / "www").mkdir()
    config = tmp_path / "edge.toml"
    config.write_text(
        f"""\
[edge]
certfile = "{files["a.example"][0]}"
keyfile = "{files["a.example"][1]}"
static = ["/={tmp_path / "www"}"]

[[edge.certificates]]
certfile = "{files["b.example"][0]}"
keyfile = "{files["b.example"][1]}"

[[edge.certificates]]
certfile = "{files["*.c.example"][0]}"
keyfile = "{files["*.c.example"][1]}"
"""
    )
    assert run_cli(["check", "-c", str(config)]).returncode == 0
    args = ["edge", "-c", str(config), "-w", "0", "-b", "127.0.0.1:0"]
    with ServerProcess(args) as edge:
        port = int(edge.url(30).rsplit(":", 1)[1])
        assert _names_seen(port, ca, "b.example") == ["b.example"]
        assert _names_seen(port, ca, "x.c.example") == ["*.c.example"]
        assert _names_seen(port, ca, "a.example") == ["a.example"]

    broken = tmp_path / "broken.toml"
    broken.write_text(config.read_text() + '\n[[edge.certificates]]\ncertfile = "x.crt"\n')
    result = run_cli(["check", "-c", str(broken)])
    assert result.returncode == 2
    assert f"{broken}:" in result.stderr and "missing required key keyfile" in result.stderr
