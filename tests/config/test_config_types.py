"""Each converter's good and bad values, from text (env/CLI) and from TOML."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.config.types import (
    Bool,
    Choice,
    Converter,
    FileMode,
    Int,
    Invalid,
    ListOf,
    MountPath,
    Network,
    Seconds,
    Size,
    Str,
    format_size,
    toml_repr,
)


def _toml_value(literal: str) -> object:
    return tomllib.loads("v = " + literal)["v"]


# --- Int ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"), [("64", 64), (" 100 ", 100), ("+70", 70), ("1048576", 1048576)]
)
def test_int_parses_text_in_range(text: str, value: int) -> None:
    assert Int(64, 1048576).parse(text) == value


@pytest.mark.parametrize(
    "text", ["63", "1048577", "", "abc", "1.5", "1_000", "0x40", "٦٤", "9" * 5000]
)
def test_int_rejects_text(text: str) -> None:
    with pytest.raises(Invalid, match=r"^expected an integer from 64 to 1048576$"):
        Int(64, 1048576).parse(text)


@pytest.mark.parametrize("value", [True, 1.0, "100", [100], None])
def test_int_rejects_non_integer_toml(value: object) -> None:
    with pytest.raises(Invalid):
        Int(1).from_toml(value)


def test_int_allowed_words() -> None:
    assert Int(low=1).allowed == "an integer >= 1"
    assert Int(high=5).allowed == "an integer <= 5"
    assert Int().allowed == "an integer"
    assert Int(1).from_toml(2048) == 2048


# --- Seconds -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("5", 5.0), ("2.5", 2.5), (" .5 ", 0.5)])
def test_seconds_parses(text: str, value: float) -> None:
    assert Seconds(0).parse(text) == value


@pytest.mark.parametrize("text", ["-1", "abc", "", "inf", "nan", "-0.001"])
def test_seconds_rejects(text: str) -> None:
    with pytest.raises(Invalid, match=r"^expected a number of seconds >= 0$"):
        Seconds(0).parse(text)


def test_seconds_exclusive_rejects_zero() -> None:
    with pytest.raises(Invalid, match=r"^expected a number of seconds > 0$"):
        Seconds(0, exclusive=True).parse("0")
    assert Seconds(0, exclusive=True).parse("0.01") == 0.01


def test_seconds_from_toml() -> None:
    conv = Seconds(0)
    assert conv.from_toml(5) == 5.0
    assert isinstance(conv.from_toml(5), float)
    assert conv.from_toml(0.25) == 0.25
    for bad in (True, "5", float("inf"), -1):
        with pytest.raises(Invalid):
            conv.from_toml(bad)


# --- Size --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1048576", 1048576),
        ("512k", 512 * 1024),
        ("512K", 512 * 1024),
        ("10m", 10 * 1024**2),
        ("10M", 10 * 1024**2),
        ("1g", 1024**3),
        ("1G", 1024**3),
        ("0", 0),
    ],
)
def test_size_parses(text: str, value: int) -> None:
    assert Size().parse(text) == value
    assert Size().from_toml(text) == value


@pytest.mark.parametrize("text", ["", "k", "10mb", "1.5m", "-1", "10 x", "1t", "abc"])
def test_size_rejects(text: str) -> None:
    with pytest.raises(Invalid, match=r"^expected a size in bytes"):
        Size().parse(text)


def test_size_from_toml_int_and_bounds() -> None:
    assert Size().from_toml(4096) == 4096
    with pytest.raises(Invalid):
        Size().from_toml(True)
    with pytest.raises(Invalid):
        Size().from_toml(-1)
    with pytest.raises(Invalid, match=">= 1"):
        Size(low=1).parse("0")
    with pytest.raises(Invalid, match="from 1k to 1m"):
        Size(low=1024, high=1024**2).parse("2m")


@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (1000, "1000"), (1024, "1k"), (100 * 1024**2, "100m"), (1024**3, "1g")],
)
def test_format_size(value: int, text: str) -> None:
    assert format_size(value) == text


@given(st.integers(min_value=0, max_value=2**50))
def test_size_text_round_trips(value: int) -> None:
    conv = Size()
    assert conv.parse(format_size(value)) == value
    assert conv.from_toml(_toml_value(conv.to_toml(value))) == value


# --- Bool --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "yes", "On", " on "])
def test_bool_true_words(text: str) -> None:
    assert Bool().parse(text) is True


@pytest.mark.parametrize("text", ["0", "false", "False", "no", "OFF"])
def test_bool_false_words(text: str) -> None:
    assert Bool().parse(text) is False


@pytest.mark.parametrize("text", ["", "2", "y", "enabled", "truee"])
def test_bool_rejects(text: str) -> None:
    with pytest.raises(Invalid, match="1, true, yes, on, 0, false, no, off"):
        Bool().parse(text)


def test_bool_toml_and_cli() -> None:
    assert Bool().from_toml(True) is True
    assert Bool().from_toml(False) is False
    for bad in (1, "true", 0):
        with pytest.raises(Invalid, match=r"^expected true or false$"):
            Bool().from_toml(bad)
    assert Bool().from_cli(False) is False


# --- Choice, Str -------------------------------------------------------------------------


def test_choice() -> None:
    conv = Choice("error", "info", "debug")
    assert conv.parse("INFO") == "info"
    assert conv.from_toml("debug") == "debug"
    with pytest.raises(Invalid, match=r"^expected one of error, info, debug$"):
        conv.parse("loud")
    with pytest.raises(Invalid):
        conv.from_toml(1)


def test_str() -> None:
    conv = Str("a directory path")
    assert conv.parse("src") == "src"
    assert conv.from_toml("src") == "src"
    for bad in ("", "a\x00b"):
        with pytest.raises(Invalid, match=r"^expected a directory path$"):
            conv.parse(bad)
    with pytest.raises(Invalid):
        conv.from_toml(5)


# --- ListOf ------------------------------------------------------------------------------


def test_list_from_env_cli_toml() -> None:
    conv = ListOf(Choice("a", "b"))
    assert conv.parse("a, b") == ("a", "b")
    assert conv.from_cli(["a", "a"]) == ("a", "a")
    assert conv.from_toml(["b"]) == ("b",)
    assert conv.from_toml("b") == ("b",)  # a lone string is a one-item list


@pytest.mark.parametrize("raw", ["a,c", "a,,b", ""])
def test_list_env_names_bad_item(raw: str) -> None:
    with pytest.raises(Invalid) as info:
        ListOf(Choice("a", "b")).parse(raw)
    assert info.value.item is not None
    assert info.value.reason == "expected one of a, b"


@pytest.mark.parametrize("value", [[], [1], 5, {"a": 1}])
def test_list_rejects_toml(value: object) -> None:
    with pytest.raises(Invalid):
        ListOf(Choice("a", "b")).from_toml(value)


def test_list_split_commas_in_cli_and_toml_strings() -> None:
    conv = ListOf(Choice("a", "b"), split_commas=True)
    assert conv.from_cli(["a,b", "b"]) == ("a", "b", "b")
    assert conv.from_cli("b, a") == ("b", "a")
    assert conv.from_toml(["a, b", "a"]) == ("a", "b", "a")
    assert conv.from_toml("b,a") == ("b", "a")
    with pytest.raises(Invalid) as info:
        conv.from_cli(["a,c"])
    assert info.value.item == "c"
    # Without split_commas a comma belongs to the item (a unix socket path may hold one).
    assert ListOf(Str()).from_cli(["unix:/tmp/a,b"]) == ("unix:/tmp/a,b",)


# --- FileMode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("660", 0o660),
        ("0660", 0o660),
        ("0o660", 0o660),
        ("0O600", 0o600),
        (" 777 ", 0o777),
        ("0", 0),
        ("7", 0o7),
        ("none", None),
        ("None", None),
        ("", None),
    ],
)
def test_file_mode_parses_octal_text(text: str, value: int | None) -> None:
    assert FileMode().parse(text) == value
    assert FileMode().from_toml(text) == value


@pytest.mark.parametrize("text", ["1000", "0o1000", "8", "0x1ff", "rw-rw----", "-1", "0o", "6 6"])
def test_file_mode_rejects_text(text: str) -> None:
    with pytest.raises(Invalid, match=r"^expected an octal file mode up to 777"):
        FileMode().parse(text)


def test_file_mode_from_toml_integers() -> None:
    conv = FileMode()
    assert conv.from_toml(_toml_value("0o660")) == 0o660
    assert conv.from_toml(0o777) == 0o777
    with pytest.raises(Invalid, match=r'write 0o660 or "660" for octal$'):
        conv.from_toml(660)  # decimal 660 is not the mode people mean by it
    with pytest.raises(Invalid, match=r"or none$"):
        conv.from_toml(999)
    for bad in (True, -1, 1.5, ["660"]):
        with pytest.raises(Invalid):
            conv.from_toml(bad)


@pytest.mark.parametrize("value", [None, 0, 0o600, 0o660, 0o777])
def test_file_mode_round_trips(value: int | None) -> None:
    conv = FileMode()
    assert conv.from_toml(_toml_value(conv.to_toml(value))) == value
    assert conv.parse(conv.to_toml(value).strip('"')) == value


# --- MountPath ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "/api", "/a/b", "/with space", "/%C3%A9"])
def test_mount_path_accepts(text: str) -> None:
    assert MountPath().parse(text) == text
    assert MountPath().from_toml(text) == text


@pytest.mark.parametrize("text", ["/", "api", "/api/", "//", "/a\x00b", "/a\nb", "/a\x7f"])
def test_mount_path_rejects(text: str) -> None:
    with pytest.raises(Invalid, match=r'^expected a path starting and not ending with "/"'):
        MountPath().parse(text)


def test_mount_path_rejects_non_string_toml() -> None:
    with pytest.raises(Invalid):
        MountPath().from_toml(1)


# --- Network -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("127.0.0.1/32", "127.0.0.1"),
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("10.1.2.3/8", "10.0.0.0/8"),  # host bits dropped, not refused
        ("::1", "::1"),
        ("2001:DB8::/32", "2001:db8::/32"),
        ("0:0:0:0:0:0:0:1/128", "::1"),
        (" * ", "*"),
    ],
)
def test_network_canonical_form(text: str, value: str) -> None:
    assert Network().parse(text) == value
    assert Network().from_toml(text) == value


@pytest.mark.parametrize(
    "text", ["", "localhost", "10.0.0.256", "10.0.0.0/33", "::1/129", "[::1]", "1.2.3.4:80", "**"]
)
def test_network_rejects(text: str) -> None:
    with pytest.raises(Invalid, match=r"^expected an IP address or network \(IPv4 or IPv6"):
        Network().parse(text)


# --- to_toml round trip for every converter ----------------------------------------------


@pytest.mark.parametrize(
    ("conv", "value"),
    [
        (Int(1), 7),
        (Seconds(0), 2.5),
        (Seconds(0), 5.0),
        (Size(), 64 * 1024),
        (Size(), 1000),
        (Bool(), True),
        (Choice("x", "y"), "y"),
        (Str(), 'quote " and \\ and é'),
        (ListOf(Str()), ("a", "b,c")),
        (ListOf(Network(), split_commas=True), ("*", "10.0.0.0/8", "::1")),
        (FileMode(), 0o640),
        (FileMode(), None),
        (MountPath(), ""),
        (MountPath(), "/api/v1"),
    ],
)
def test_to_toml_round_trips(conv: Converter[Any], value: object) -> None:
    assert conv.from_toml(_toml_value(conv.to_toml(value))) == value


def test_toml_repr_is_one_bounded_line() -> None:
    assert toml_repr("a\nb") == '"a\\nb"'
    assert toml_repr(True) == "true"
    assert toml_repr([1, "x"]) == '[1, "x"]'
    assert toml_repr({"a": 1}) == "{a = 1}"
    long = toml_repr("x" * 1000)
    assert len(long) == 120
    assert long.endswith("…")
