"""Sizes and reserves as operators write them in sexton.yaml."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sexton.sizes import Reserve, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1000000", 1_000_000),
        ("0", 0),
        ("500G", 500 * 10**9),
        ("500GB", 500 * 10**9),
        ("10k", 10_000),
        ("10 KB", 10_000),
        ("1.5TiB", 3 * 2**39),
        ("1 GiB", 2**30),
        ("2Mi", 2 * 2**20),
        ("4P", 4 * 10**15),
        ("512B", 512),
        (" 7 ", 7),
        (".5K", 500),
        (12345, 12345),
    ],
)
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "G", "-1", "1.2.3", "5X", "10 apples", "1i", -5, True, 1.5])
def test_bad_sizes_are_refused_with_a_clear_message(bad: object) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "K", "M", "G", "T", "P"]))
def test_decimal_units_are_powers_of_1000(number: int, unit: str) -> None:
    power = " KMGTP".index(unit or " ")
    assert parse_size(f"{number}{unit}") == number * 1000**power
    assert parse_size(f"{number} {unit.lower()}b") == number * 1000**power


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["K", "M", "G", "T", "P"]))
def test_binary_units_are_powers_of_1024(number: int, unit: str) -> None:
    assert parse_size(f"{number}{unit}iB") == number * 1024 ** (" KMGTP".index(unit))


def test_reserve_as_percentage_or_bytes() -> None:
    assert Reserve.parse("5%") == Reserve(fraction=0.05)
    assert Reserve.parse("200G") == Reserve(nbytes=200 * 10**9)
    assert Reserve.parse(0) == Reserve()
    assert Reserve.parse("5%").bytes_of(1000) == 50
    assert Reserve.parse("5%").bytes_of(None) is None
    assert Reserve.parse("1K").bytes_of(None) == 1000


@pytest.mark.parametrize("text", ["5%", "12.5%", "0%", "1000"])
def test_reserve_text_round_trips(text: str) -> None:
    assert Reserve.parse(str(Reserve.parse(text))) == Reserve.parse(text)


@pytest.mark.parametrize("bad", ["100%", "-1%", "x%", "five"])
def test_bad_reserves_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        Reserve.parse(bad)


def test_format_size_for_people() -> None:
    assert format_size(999) == "999 B"
    assert format_size(1536) == "1.5 KiB"
    assert format_size(3 * 2**40) == "3.0 TiB"
