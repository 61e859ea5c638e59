"""``export_kubernetes``: manifests whose probes, ports and grace period follow the config."""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.config import load_config
from frontdesk.errors import ConfigError
from frontdesk.stack.export import export_kubernetes
from frontdesk.stack.export.kubernetes import _yaml, kubernetes_objects

yaml = pytest.importorskip("yaml")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fdx-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _documents(text: str) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    assert all(isinstance(d, dict) for d in docs)
    return docs


def _by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = {d["kind"]: d for d in docs}
    assert len(kinds) == len(docs)
    return kinds


def test_deployment_and_service_follow_the_config(short_dir: Path) -> None:
    path = short_dir / "site.toml"
    path.write_text(
        """
[worker]
graceful_timeout = 12.5
[edge]
status_path = "/ready"
[[apps]]
app = "shop.web:app"
workers = 3
"""
    )
    config = load_config({}, {}, str(path))
    text = export_kubernetes(config, None, config_path=str(path), image="shop:1.2")
    docs = _documents(text)
    assert docs == kubernetes_objects(config, None, config_path=str(path), image="shop:1.2")
    kinds = _by_kind(docs)
    assert set(kinds) == {"ConfigMap", "Deployment", "Service"}

    assert kinds["ConfigMap"]["data"] == {"site.toml": path.read_text()}
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert (
        deployment["spec"]["selector"]["matchLabels"]
        == deployment["spec"]["template"]["metadata"]["labels"]
    )
    # preStop sleep + graceful_timeout rounded up + margin
    assert pod["terminationGracePeriodSeconds"] == 5 + math.ceil(12.5) + 10
    (container,) = pod["containers"]
    assert container["image"] == "shop:1.2"
    assert container["command"] == [
        "python",
        "-m",
        "frontdesk",
        "run",
        "-c",
        "/etc/frontdesk/site.toml",
        "-b",
        "0.0.0.0:8000",
    ]
    assert container["ports"][0]["containerPort"] == 8000
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"] == {"path": "/ready", "port": 8000, "scheme": "HTTP"}
    env = {e["name"]: e["value"] for e in container["env"]}
    assert "FRONTDESK_STATUS_PATH" not in env  # the shipped file sets it
    assert "WEB_CONCURRENCY" not in env  # the file counts the workers
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "python"
    assert container["resources"]["requests"]["cpu"]
    assert container["volumeMounts"][0]["mountPath"] == "/etc/frontdesk"
    assert pod["volumes"][0]["configMap"]["name"] == "frontdesk-config"

    service = kinds["Service"]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}
    ]


def test_without_status_path_the_edge_is_given_one() -> None:
    config = load_config({"certfile": "/c.pem", "keyfile": "/k.pem"}, {})
    docs = _by_kind(_documents(export_kubernetes(config, "pkg.web:app", config_path=None)))
    assert "ConfigMap" not in docs
    pod = docs["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == [
        "python",
        "-m",
        "frontdesk",
        "run",
        "pkg.web:app",
        "-b",
        "0.0.0.0:8000",
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["FRONTDESK_STATUS_PATH"] == "/healthz"
    assert env["WEB_CONCURRENCY"] == "2"
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": 8000,
        "scheme": "HTTPS",
    }
    assert pod["terminationGracePeriodSeconds"] == 5 + 30 + 10
    assert "volumes" not in pod


def test_status_path_from_the_command_line_is_carried() -> None:
    config = load_config({"status_path": "/up"}, {})
    (deployment,) = [
        d for d in kubernetes_objects(config, "a:b", config_path=None) if d["kind"] == "Deployment"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "FRONTDESK_STATUS_PATH", "value": "/up"} in container["env"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/up"


def test_errors() -> None:
    with pytest.raises(ConfigError, match="nothing to run"):
        export_kubernetes(load_config({}, {}), None, config_path=None)
    with pytest.raises(ConfigError, match="Kubernetes names"):
        export_kubernetes(load_config({}, {}), "a:b", config_path=None, name="Not_OK")
    with pytest.raises(ConfigError, match="config file"):
        export_kubernetes(load_config({}, {}), "a:b", config_path="/no/such/file.toml")


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
# Files' text: what the ConfigMap holds, written as a literal block when it can be.
_FILE = st.lists(_TEXT.map(lambda t: t.replace("\n", "")), min_size=2, max_size=5).map(
    lambda lines: "\n".join(lines) + "\n"
)
_VALUE = st.recursive(
    _TEXT | _FILE | st.integers(-(10**6), 10**6) | st.booleans(),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.text("abcXYZ._/-:", min_size=1, max_size=8) | _TEXT.filter(bool), inner, max_size=3
        )
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text("abcdef", min_size=1, max_size=5), _VALUE, max_size=4))
def test_yaml_reads_back_as_written(data: dict[str, Any]) -> None:
    text = "\n".join(_yaml(data, 0)) + "\n"
    assert (yaml.safe_load(text) or {}) == data
