"""Reading the TOML file: syntax errors with file:line, and the line of each key."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.config.tomlfile import key_lines, read_toml
from frontdesk.errors import ConfigError


def test_key_lines_tables_dotted_quoted_and_strings() -> None:
    text = "\n".join(
        [
            "# comment [not.a.table]",  # 1
            'title = """',  # 2
            "[fake]",  # 3: inside a multi-line string
            "x = 1",  # 4: inside a multi-line string
            '"""',  # 5
            "[server]",  # 6
            "bind = [",  # 7
            '  "a", # ] a comment',  # 8
            "  [1],",  # 9: a nested array, not a table header
            "]",  # 10
            "backlog = 5",  # 11
            '"quoted.key" . y = 3',  # 12
            "[ http ]",  # 13
            "keepalive_timeout = 'a#b'  # x",  # 14
            "log.level = 'debug'",  # 15: dotted key inside [http]
            "s = '''",  # 16
            "k = 1",  # 17: inside a literal multi-line string
            "'''",  # 18
            "after = 1",  # 19
        ]
    )
    lines = key_lines(text)
    assert lines[("title",)] == 2
    assert ("fake",) not in lines
    assert ("x",) not in lines
    assert lines[("server",)] == 6
    assert lines[("server", "bind")] == 7
    assert ("1",) not in lines
    assert lines[("server", "backlog")] == 11
    assert lines[("server", "quoted.key", "y")] == 12
    assert lines[("http", "keepalive_timeout")] == 14
    assert lines[("http", "log", "level")] == 15
    assert ("http", "k") not in lines
    assert lines[("http", "after")] == 19


def test_line_of_falls_back_to_parent(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text("\n[http]\nlimits = { a = 1 }\n")
    doc = read_toml(str(path))
    assert doc.line_of(("http", "limits", "a")) == 3
    assert doc.where(("http", "limits", "a")) == f"{path}:3"
    assert doc.line_of(("nowhere",)) is None
    assert doc.where(("nowhere",)) == str(path)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("a = 1\n[http\n", ":2:6: invalid TOML: "),
        ("a = 1\nb = \n", ":2:5: invalid TOML: Invalid value"),
        ("a = 1\na = 2\n", ":2:"),
        ('a = "unterminated\n', ":1:"),
    ],
)
def test_syntax_error_names_file_and_line(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        read_toml(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}{where}")
    assert "\n" not in message
    assert "(at line" not in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=r"missing\.toml: config file not found$"):
        read_toml(str(path))
    with pytest.raises(ConfigError, match=r"not found \(named by FRONTDESK_CONFIG\)$"):
        read_toml(str(path), named_by="FRONTDESK_CONFIG")


def test_directory_and_non_utf8(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        read_toml(str(tmp_path))
    path = tmp_path / "latin1.toml"
    path.write_bytes(b"a = 1\nb = '\xe9'\n")
    with pytest.raises(ConfigError, match=r"latin1\.toml:2: config file is not UTF-8 text$"):
        read_toml(str(path))
