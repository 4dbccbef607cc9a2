"""When tasks are due: epoch-anchored ``every`` slots, 5- and 6-field cron, time zones, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from sexton.schedule import EPOCH, Cron, Every

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
# 2024 in Europe/London: clocks go forward at 01:00 UTC on 31 March (01:00 GMT → 02:00 BST)
# and back at 01:00 UTC on 27 October (02:00 BST → 01:00 GMT).
SPRING = datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
AUTUMN = datetime(2024, 10, 27, 1, 0, tzinfo=UTC)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[arg-type]


def slots(schedule: Cron | Every, start: datetime, count: int) -> list[datetime]:
    found, moment = [], start
    for _ in range(count):
        moment = schedule.next_after(moment)
        found.append(moment)
    return found


# -- every ----------------------------------------------------------------------------------


def test_every_slots_are_counted_from_the_fixed_epoch() -> None:
    hourly = Every(timedelta(hours=1))
    assert hourly.next_after(utc(2024, 5, 1, 12, 17, 3)) == utc(2024, 5, 1, 13)
    assert hourly.latest_at_or_before(utc(2024, 5, 1, 12, 17, 3)) == utc(2024, 5, 1, 12)
    # Seven days from 1970-01-01 (a Thursday) land on Thursdays, whoever asks and when.
    weekly = Every(timedelta(days=7))
    assert weekly.next_after(utc(2024, 1, 1)) == utc(2024, 1, 4)
    assert weekly.next_after(utc(2024, 1, 1)).weekday() == 3


def test_every_slot_is_the_same_whatever_time_zone_the_moment_is_given_in() -> None:
    every = Every(timedelta(minutes=7))
    moment = utc(2024, 5, 1, 12, 0, 0)
    assert every.next_after(moment) == every.next_after(moment.astimezone(LONDON))
    assert every.next_after(moment) == every.next_after(moment.astimezone(NEW_YORK))


def test_every_moment_exactly_on_a_slot_is_its_own_latest_and_not_its_next() -> None:
    every = Every(timedelta(minutes=15))
    on_slot = utc(2024, 5, 1, 12, 15)
    assert every.latest_at_or_before(on_slot) == on_slot
    assert every.next_after(on_slot) == utc(2024, 5, 1, 12, 30)


def test_every_works_before_the_epoch_too() -> None:
    every = Every(timedelta(hours=1))
    assert every.next_after(utc(1960, 1, 1, 0, 30)) == utc(1960, 1, 1, 1)
    assert every.latest_at_or_before(utc(1960, 1, 1, 0, 30)) == utc(1960, 1, 1, 0)


def test_every_ignores_daylight_saving() -> None:
    every = Every(timedelta(hours=1))
    assert slots(every, AUTUMN - timedelta(hours=2), 4) == [
        AUTUMN - timedelta(hours=1),
        AUTUMN,
        AUTUMN + timedelta(hours=1),
        AUTUMN + timedelta(hours=2),
    ]


def test_every_period_near_is_its_period() -> None:
    assert Every(timedelta(minutes=5)).period_near(utc(2024, 1, 1)) == timedelta(minutes=5)


moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
periods = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=400))


@given(periods, moments)
def test_every_slots_bracket_any_moment(period: timedelta, moment: datetime) -> None:
    every = Every(period)
    latest, following = every.latest_at_or_before(moment), every.next_after(moment)
    assert latest <= moment < following
    assert following - latest == period
    assert (latest - EPOCH) % period == timedelta(0)


@given(periods, moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
def test_every_slots_do_not_depend_on_when_the_host_asks(
    period: timedelta, moment: datetime, later: timedelta
) -> None:
    # Two schedulers that started at different times agree on every slot they both see.
    every = Every(period)
    slot = every.next_after(moment)
    assert every.latest_at_or_before(slot + later) - slot == (later // period) * period


# -- cron: fields ---------------------------------------------------------------------------


def test_five_field_cron_runs_at_whole_minutes() -> None:
    cron = Cron("*/15 * * * *", UTC)
    assert cron.next_after(utc(2024, 5, 1, 12, 7, 30)) == utc(2024, 5, 1, 12, 15)
    assert cron.latest_at_or_before(utc(2024, 5, 1, 12, 7, 30)) == utc(2024, 5, 1, 12, 0)
    assert cron.latest_at_or_before(utc(2024, 5, 1, 12, 15)) == utc(2024, 5, 1, 12, 15)
    assert cron.next_after(utc(2024, 5, 1, 12, 15)) == utc(2024, 5, 1, 12, 30)


def test_six_fields_put_seconds_first_so_zeros_mean_daily_at_midnight() -> None:
    cron = Cron("0 0 0 * * *", UTC)
    assert cron.with_seconds
    assert slots(cron, utc(2024, 5, 1, 12), 3) == [
        utc(2024, 5, 2),
        utc(2024, 5, 3),
        utc(2024, 5, 4),
    ]
    assert cron.latest_at_or_before(utc(2024, 5, 1, 12)) == utc(2024, 5, 1)
    assert cron.period_near(utc(2024, 5, 1, 12)) == timedelta(days=1)


def test_six_field_step_in_seconds_runs_every_two_seconds() -> None:
    cron = Cron("*/2 * * * * *", UTC)
    start = utc(2024, 5, 1, 12, 0, 0)
    assert slots(cron, start, 4) == [start + timedelta(seconds=s) for s in (2, 4, 6, 8)]
    half_past = start + timedelta(seconds=1, microseconds=500_000)
    assert cron.next_after(half_past) == start + timedelta(seconds=2)
    assert cron.latest_at_or_before(half_past) == start
    assert cron.latest_at_or_before(start + timedelta(seconds=2)) == start + timedelta(seconds=2)
    assert cron.period_near(start) == timedelta(seconds=2)


def test_every_second_cron_handles_fractional_moments() -> None:
    cron = Cron("* * * * * *", UTC)
    moment = utc(2024, 5, 1, 12, 0, 0) + timedelta(microseconds=1)
    assert cron.next_after(moment) == utc(2024, 5, 1, 12, 0, 1)
    assert cron.latest_at_or_before(moment) == utc(2024, 5, 1, 12, 0, 0)


def test_cron_slots_are_returned_in_utc() -> None:
    slot = Cron("0 2 * * *", LONDON).next_after(utc(2024, 7, 1))
    assert slot.utcoffset() == timedelta(0)
    assert slot == utc(2024, 7, 1, 1)  # 02:00 BST


def test_cron_reads_its_pattern_as_wall_time_in_its_zone() -> None:
    assert Cron("0 2 * * *", LONDON).next_after(utc(2024, 1, 10)) == utc(2024, 1, 10, 2)
    assert Cron("0 2 * * *", LONDON).next_after(utc(2024, 7, 10)) == utc(2024, 7, 10, 1)
    assert Cron("0 9 * * 1-5", NEW_YORK).next_after(utc(2024, 7, 12, 14)) == utc(2024, 7, 15, 13)


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("* * *", "5 fields"),
        ("* * * * * * *", "not 7"),
        ("", "not 0"),
        ("61 * * * *", "not a valid cron pattern"),
        ("* 25 * * *", "not a valid cron pattern"),
        ("60 * * * * *", "not a valid cron pattern"),
        ("* * * * frogs", "not a valid cron pattern"),
    ],
)
def test_cron_check_explains_unusable_patterns(expression: str, reason: str) -> None:
    why = Cron.check(expression)
    assert why is not None and reason in why


@pytest.mark.parametrize(
    "expression", ["* * * * *", "0 2 * * *", "0 0 0 * * *", "*/2 * * * * *", "0 9 * * mon-fri"]
)
def test_cron_check_accepts_usable_patterns(expression: str) -> None:
    assert Cron.check(expression) is None


# -- cron: DST in Europe/London -------------------------------------------------------------


def test_wall_time_in_the_spring_gap_runs_once_when_clocks_change() -> None:
    cron = Cron("30 1 * * *", LONDON)  # 01:30 does not exist on 31 March 2024
    assert slots(cron, utc(2024, 3, 29, 12), 4) == [
        utc(2024, 3, 30, 1, 30),  # 01:30 GMT
        SPRING,  # the moment the clocks jump, once
        utc(2024, 4, 1, 0, 30),  # 01:30 BST
        utc(2024, 4, 2, 0, 30),
    ]
    assert cron.latest_at_or_before(SPRING) == SPRING
    assert cron.latest_at_or_before(SPRING - timedelta(seconds=1)) == utc(2024, 3, 30, 1, 30)
    assert cron.latest_at_or_before(utc(2024, 3, 31, 12)) == SPRING


def test_every_quarter_hour_through_the_spring_gap_has_no_duplicates() -> None:
    cron = Cron("*/15 * * * *", LONDON)
    found = slots(cron, utc(2024, 3, 31, 0, 20), 6)
    assert found == [
        utc(2024, 3, 31, 0, 30),
        utc(2024, 3, 31, 0, 45),
        SPRING,  # 01:00 GMT skipped wall times and 02:00 BST are the same instant
        utc(2024, 3, 31, 1, 15),
        utc(2024, 3, 31, 1, 30),
        utc(2024, 3, 31, 1, 45),
    ]


def test_wall_time_in_the_autumn_repeat_runs_once_at_its_first_occurrence() -> None:
    cron = Cron("30 1 * * *", LONDON)  # 01:30 happens at 00:30 UTC (BST) and 01:30 UTC (GMT)
    assert slots(cron, utc(2024, 10, 26, 12), 2) == [
        utc(2024, 10, 27, 0, 30),
        utc(2024, 10, 28, 1, 30),
    ]
    assert cron.next_after(utc(2024, 10, 27, 0, 30)) == utc(2024, 10, 28, 1, 30)
    assert cron.latest_at_or_before(utc(2024, 10, 27, 1, 45)) == utc(2024, 10, 27, 0, 30)


def test_hourly_pattern_runs_in_both_passes_of_the_autumn_repeat() -> None:
    cron = Cron("30 * * * *", LONDON)
    assert slots(cron, utc(2024, 10, 26, 23, 45), 4) == [
        utc(2024, 10, 27, 0, 30),  # 01:30 BST
        utc(2024, 10, 27, 1, 30),  # 01:30 GMT, the second pass
        utc(2024, 10, 27, 2, 30),
        utc(2024, 10, 27, 3, 30),
    ]
    assert cron.latest_at_or_before(utc(2024, 10, 27, 1, 45)) == utc(2024, 10, 27, 1, 30)
    assert cron.latest_at_or_before(utc(2024, 10, 27, 1, 15)) == utc(2024, 10, 27, 0, 30)


def test_six_field_hourly_pattern_also_runs_in_both_passes() -> None:
    cron = Cron("0 30 * * * *", LONDON)
    assert cron.every_hour
    assert cron.next_after(utc(2024, 10, 27, 0, 30)) == utc(2024, 10, 27, 1, 30)


def test_six_field_daily_pattern_in_the_gap_runs_when_clocks_change() -> None:
    cron = Cron("0 30 1 * * *", LONDON)
    assert not cron.every_hour
    assert cron.next_after(utc(2024, 3, 30, 12)) == SPRING


def test_period_near_the_autumn_change_follows_the_wall_clock() -> None:
    daily = Cron("0 12 * * *", LONDON)
    assert daily.period_near(utc(2024, 10, 26, 10)) == timedelta(hours=25)
    assert daily.period_near(utc(2024, 3, 30, 10)) == timedelta(hours=23)
    assert daily.period_near(utc(2024, 10, 28, 10)) == timedelta(hours=24)


# -- cron: against a brute-force model of the rules -----------------------------------------


def offset_change(zone: ZoneInfo, before: datetime, after: datetime) -> datetime:
    """The first whole second in ``(before, after]`` with a different UTC offset."""
    offset, moment = before.astimezone(zone).utcoffset(), before.replace(microsecond=0)
    while moment.astimezone(zone).utcoffset() == offset:
        moment += timedelta(seconds=1)
    assert moment <= after
    return moment


@lru_cache
def expected_slots(
    expression: str, zone: ZoneInfo, start: datetime, end: datetime
) -> tuple[datetime, ...]:
    """Every slot in [start, end], from the DESIGN rules applied to each matching wall-clock
    time (croniter on naive times knows nothing of DST): a wall time in a gap runs at the
    change; a repeated one runs at its first occurrence, or at both when the hour field is
    ``*``."""
    six = len(expression.split()) == 6
    hourly = expression.split()[2 if six else 1] == "*"
    wall = (start - timedelta(hours=4)).astimezone(zone).replace(tzinfo=None)
    last = (end + timedelta(hours=4)).astimezone(zone).replace(tzinfo=None)
    walls = croniter(expression, wall, second_at_beginning=six)
    found: set[datetime] = set()
    while (wall := walls.get_next(datetime)) <= last:
        first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if first.astimezone(zone).replace(tzinfo=None) != wall:  # in the gap
            found.add(offset_change(zone, min(first, second), max(first, second)))
        elif first != second and hourly:  # repeated, and the pattern runs every hour
            found |= {first, second}
        else:
            found.add(first)
    return tuple(sorted(s for s in found if start <= s <= end))


@pytest.mark.parametrize(
    ("expression", "zone", "around"),
    [
        ("30 1 * * *", LONDON, SPRING),
        ("30 1 * * *", LONDON, AUTUMN),
        ("0 1 * * *", LONDON, AUTUMN),
        ("59 1 * * *", LONDON, SPRING),
        ("*/20 * * * *", LONDON, SPRING),
        ("*/20 * * * *", LONDON, AUTUMN),
        ("10,50 0-3 * * *", LONDON, AUTUMN),
        ("10,50 0-3 * * *", LONDON, SPRING),
        ("0 2 * * *", NEW_YORK, datetime(2024, 3, 10, 7, tzinfo=UTC)),
        ("30 1 * * *", NEW_YORK, datetime(2024, 11, 3, 6, tzinfo=UTC)),
        ("0 * * * *", NEW_YORK, datetime(2024, 11, 3, 6, tzinfo=UTC)),
    ],
)
def test_cron_matches_the_rules_around_each_change(
    expression: str, zone: ZoneInfo, around: datetime
) -> None:
    cron = Cron(expression, zone)
    start, end = around - timedelta(hours=30), around + timedelta(hours=30)
    wanted = expected_slots(expression, zone, start, end)
    assert len(wanted) > 1
    assert slots(cron, start - timedelta(microseconds=1), len(wanted)) == list(wanted)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["30 1 * * *", "*/20 * * * *", "15 * * * *", "0 0-3 * * *", "45 2 * * 0"]),
    st.sampled_from([SPRING, AUTUMN]),
    st.integers(min_value=-6 * 3600, max_value=6 * 3600),
)
def test_next_and_latest_agree_with_the_rules_near_london_changes(
    expression: str, change: datetime, offset: int
) -> None:
    cron = Cron(expression, LONDON)
    moment = change + timedelta(seconds=offset)
    wanted = expected_slots(
        expression, LONDON, change - timedelta(days=8), change + timedelta(days=8)
    )
    after = [s for s in wanted if s > moment]
    at_or_before = [s for s in wanted if s <= moment]
    assert cron.next_after(moment) == after[0]
    assert cron.latest_at_or_before(moment) == at_or_before[-1]


@settings(deadline=None)
@given(
    st.sampled_from(["*/7 * * * *", "0 3 * * *", "30 * * * *", "*/5 * * * * *", "0 0 0 * * *"]),
    st.sampled_from([UTC, LONDON, NEW_YORK]),
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1), timezones=st.just(UTC)
    ),
)
def test_cron_slots_bracket_any_moment(expression: str, zone: object, moment: datetime) -> None:
    cron = Cron(expression, zone)  # type: ignore[arg-type]
    latest, following = cron.latest_at_or_before(moment), cron.next_after(moment)
    assert latest <= moment < following
    assert cron.next_after(latest) == following or latest == following
    assert cron.latest_at_or_before(following) == following
