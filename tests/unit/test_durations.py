"""Durations as operators write them in sexton.yaml and in librarian files (DESIGN §4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sexton.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01:00:00", timedelta(hours=1)),
        ("00:30:00", timedelta(minutes=30)),
        ("1:02:03", timedelta(hours=1, minutes=2, seconds=3)),
        ("25:00:00", timedelta(hours=25)),
        ("00:00:01.5", timedelta(seconds=1.5)),
        ("1 day, 00:00:00", timedelta(days=1)),
        ("2 days, 3:04:05", timedelta(days=2, hours=3, minutes=4, seconds=5)),
        ("0 days, 00:10:00", timedelta(minutes=10)),
        ("1 DAYS, 00:00:00", timedelta(days=1)),
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("2h", timedelta(hours=2)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(weeks=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h 30m 5s", timedelta(days=1, hours=12, minutes=30, seconds=5)),
        ("1.5h", timedelta(minutes=90)),
        ("2H", timedelta(hours=2)),
        ("  15m  ", timedelta(minutes=15)),
        ("30", timedelta(seconds=30)),
        ("0.25", timedelta(seconds=0.25)),
        ("0", timedelta(0)),
    ],
)
def test_every_documented_text_form_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [(30, timedelta(seconds=30)), (0, timedelta(0)), (1.5, timedelta(seconds=1.5))],
)
def test_a_number_is_seconds(number: float, expected: timedelta) -> None:
    assert parse_duration(number) == expected


def test_a_timedelta_passes_through_unchanged() -> None:
    assert parse_duration(timedelta(minutes=5)) == timedelta(minutes=5)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "1x",
        "h",
        "1h2",
        "-5",
        "-1h",
        "1:00",
        "00:90:00",
        "00:00:75",
        "1 day 00:00:00",
        "one hour",
        "1e3",
        "nan",
        "P1D",
        None,
        True,
        False,
        [1],
        {"hours": 1},
    ],
)
def test_anything_else_is_a_value_error_naming_the_accepted_forms(value: object) -> None:
    with pytest.raises(ValueError) as caught:
        parse_duration(value)
    message = str(caught.value)
    for form in ("01:00:00", "1 day, 00:00:00", "90s", "15m", "2h", "7d", "1d12h", "seconds"):
        assert form in message


def test_a_negative_number_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        parse_duration(-1)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 1e300, 10**30, "99999999999999d", "9e99h"]
)
def test_unrepresentable_durations_are_value_errors_not_crashes(value: object) -> None:
    # pydantic only turns ValueError into a config problem; an OverflowError would be a
    # traceback from `sexton validate`.
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1), "1h"),
        (timedelta(days=1, hours=2), "1d2h"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(seconds=-90), "-1m30s"),
        (timedelta(seconds=59.9), "59s"),
    ],
)
def test_format_duration_is_short_and_readable(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@given(st.integers(min_value=0, max_value=10**9))
def test_format_then_parse_gives_back_whole_seconds(seconds: int) -> None:
    delta = timedelta(seconds=seconds)
    assert parse_duration(format_duration(delta)) == delta


@given(
    st.integers(0, 400),
    st.integers(0, 99),
    st.integers(0, 59),
    st.integers(0, 59),
)
def test_clock_form_with_days_matches_its_parts(days: int, h: int, m: int, s: int) -> None:
    plural = "day" if days == 1 else "days"
    text = f"{days} {plural}, {h:02d}:{m:02d}:{s:02d}"
    assert parse_duration(text) == timedelta(days=days, hours=h, minutes=m, seconds=s)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10**5)))
def test_str_of_a_timedelta_parses_back_to_it(delta: timedelta) -> None:
    # Python's own str(timedelta) is what librarian files contain ("1 day, 0:00:00").
    assert parse_duration(str(delta)) == delta
