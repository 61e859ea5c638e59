"""The config file's [[apps]], [[upstreams]] and [[edge.routes]]: read, checked, located."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from frontdesk.config import load_config
from frontdesk.config.layout_toml import layout_as_toml
from frontdesk.errors import ConfigError

FULL = """\
[server]
workers = 2

[[apps]]
app = "shop.web:app"
workers = 3
hosts = ["Shop.Example."]

[[apps]]
app = "blog.main:application"
name = "blog"
mount = "/blog/"
interface = "wsgi"

[[upstreams]]
name = "legacy"
servers = ["127.0.0.1:9000", { address = "unix:/run/b.sock", weight = 2 }]
balance = "least-conn"
mount = "/legacy/"

[[edge.routes]]
prefix = "/assets/"
static = "./public"
cache_control = "public, max-age=60"

[[edge.routes]]
prefix = "/old/"
upstream = "legacy"
hosts = ["*.example.com"]
"""


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "frontdesk.toml"
    path.write_text(text)
    return load_config(config_path=str(path))


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_full_layout_reads_every_table(tmp_path: Path) -> None:
    path = tmp_path / "frontdesk.toml"
    path.write_text(FULL)
    config = load_config(config_path=str(path))
    layout = config.layout
    assert config.workers == 2
    shop, blog = layout.apps
    assert (shop.name, shop.workers, shop.mount, shop.hosts) == ("web", 3, "/", ("shop.example",))
    assert (blog.name, blog.interface, blog.workers, blog.mount) == ("blog", "wsgi", None, "/blog/")
    assert shop.where == f"{path}:4" and blog.where == f"{path}:9"
    (legacy,) = layout.upstreams
    assert [(s.address, s.weight) for s in legacy.servers] == [
        ("127.0.0.1:9000", 1),
        ("unix:/run/b.sock", 2),
    ]
    assert legacy.balance == "least-conn"
    assets, old = layout.routes
    assert (assets.static, assets.cache_control, old.upstream) == (
        "./public",
        "public, max-age=60",
        "legacy",
    )
    # The apps and upstreams mount themselves too.
    prefixes = sorted(r.prefix for r in layout.all_routes())
    assert prefixes == ["/", "/assets/", "/blog/", "/legacy/", "/old/"]


def test_layout_prints_back_as_toml_that_reads_the_same(tmp_path: Path) -> None:
    config = _load(tmp_path, FULL)
    text = layout_as_toml(config.layout)  # type: ignore[attr-defined]
    assert "# file " in text and "frontdesk.toml:4" in text
    again = _load(tmp_path, text)
    assert again.layout == config.layout  # type: ignore[attr-defined]
    assert tomllib.loads(text)["apps"][0]["app"] == "shop.web:app"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[apps]]\napp = "a:b"\nworker = 2\n',
            "frontdesk.toml:1: [[apps]] #1: unknown key worker; did you mean workers?",
        ),
        ('[[apps]]\nname = "x"\n', "[[apps]] #1: missing required key app"),
        ('[[apps]]\napp = "nocolon"\n', 'app = "nocolon": expected MODULE:ATTRIBUTE'),
        ('[[apps]]\napp = "a:b"\nworkers = "many"\n', 'workers = "many": expected an integer'),
        ('[[apps]]\napp = "a:b"\nmount = "api"\n', 'mount = "api": expected a URL path prefix'),
        (
            '[[upstreams]]\nname = "u"\nservers = []\n',
            "servers = []: expected one or more addresses",
        ),
        (
            '[[upstreams]]\nname = "u"\nservers = ["h:1"]\nbalance = "random"\n',
            'balance = "random": expected one of',
        ),
        (
            '[[upstreams]]\nname = "u"\nservers = [{ address = "h:1", wieght = 2 }]\n',
            "unknown key wieght",
        ),
        (
            '[[edge.routes]]\nprefix = "/a/"\n',
            "needs exactly one of static, upstream or app (given: none)",
        ),
        (
            '[[edge.routes]]\nprefix = "/a/"\nstatic = "d"\nupstream = "u"\n',
            "(given: static and upstream)",
        ),
        (
            '[[edge.routes]]\nprefix = "/a/"\nupstream = "nope"\n',
            "no upstream named 'nope' (upstreams: none defined)",
        ),
        ("apps = 3\n", "apps must be an array of tables, [[apps]]"),
    ],
)
def test_mistakes_are_one_line_with_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    message = _error(tmp_path, text)
    assert "frontdesk.toml:" in message
    assert expected in message


def test_the_second_entry_is_located_at_its_own_header(tmp_path: Path) -> None:
    text = '[[apps]]\napp = "a:b"\n\n[[apps]]\napp = "c:d"\nthreads = 0\n'
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'frontdesk.toml'}:4: [[apps]] #2: threads = 0")


def test_names_must_be_unique_across_apps_and_upstreams(tmp_path: Path) -> None:
    text = '[[apps]]\napp = "pkg.web:app"\n\n[[upstreams]]\nname = "web"\nservers = ["h:1"]\n'
    message = _error(tmp_path, text)
    assert "upstream name 'web' is already used at" in message and "frontdesk.toml:1" in message


@pytest.mark.parametrize(
    "text",
    [
        # Two apps on the whole site.
        '[[apps]]\napp = "a:x"\n[[apps]]\napp = "b:y"\n',
        # An app and a route on the same prefix, "/api" and "/api/" being the same.
        '[[apps]]\napp = "a:x"\nmount = "/api"\n[[edge.routes]]\nprefix = "/api/"\nstatic = "d"\n',
        # The same host twice.
        '[[apps]]\napp = "a:x"\nhosts = ["a.example"]\n[[apps]]\napp = "b:y"\nhosts = ["A.example"]\n',
    ],
)
def test_conflicting_routes_are_refused(tmp_path: Path, text: str) -> None:
    assert "conflicting routes" in _error(tmp_path, text)


def test_same_prefix_on_different_hosts_is_no_conflict(tmp_path: Path) -> None:
    text = '[[apps]]\napp = "a:x"\nhosts = ["a.example"]\n[[apps]]\napp = "b:y"\nhosts = ["b.example"]\n'
    config = _load(tmp_path, text)
    assert [a.name for a in config.layout.apps] == ["a", "b"]  # type: ignore[attr-defined]


def test_inline_array_of_tables_is_read_and_located(tmp_path: Path) -> None:
    text = '[edge]\nroutes = [{ prefix = "/a/", static = "d" }, { prefix = "/b/" }]\n'
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'frontdesk.toml'}:2: [[edge.routes]] #2")


def test_flat_settings_and_tables_mix_in_edge(tmp_path: Path) -> None:
    text = '[edge]\nrate_limit = 5\n\n[[edge.routes]]\nprefix = "/a/"\nstatic = "d"\n'
    config = _load(tmp_path, text)
    assert config.rate_limit == 5.0  # type: ignore[attr-defined]
    assert config.layout.routes[0].prefix == "/a/"  # type: ignore[attr-defined]
