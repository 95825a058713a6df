"""Deadline clocks: tricky dates in a table, then pause, restart, extension and regimes.

Expected dates were worked out by hand from the State Council notices (the comments list
the counted days) and checked against the code, not copied from it.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from obligations.clocks import ClockEvent, ClockEventKind, compute_due, start
from obligations.errors import ClockError, ExtensionCapError
from obligations.rules import DeadlineRule, ExtensionPolicy, RegimeOverride, Unit
from obligations.workdays import WorkdayCalendar, default_calendar

TZ = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
D = dt.date
K = ClockEventKind


def at(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hour, minute, tzinfo=TZ)


def wd(n: int, extension: ExtensionPolicy | None = None) -> DeadlineRule:
    return DeadlineRule(unit=Unit.WORKING_DAY, amount=n, extension=extension)


def days(n: int, roll_forward: bool = True) -> DeadlineRule:
    return DeadlineRule(unit=Unit.DAY, amount=n, roll_forward=roll_forward)


def months(n: int, roll_forward: bool = True) -> DeadlineRule:
    return DeadlineRule(unit=Unit.MONTH, amount=n, roll_forward=roll_forward)


def hours(n: int, pausable: bool = False) -> DeadlineRule:
    return DeadlineRule(unit=Unit.HOUR, amount=n, pausable=pausable)


def annual(roll_forward: bool) -> DeadlineRule:
    """政府信息公开工作年度报告: 31 January of the next year, anchored at 31 December."""
    return DeadlineRule(unit=Unit.FIXED_DATE, month=1, day=31, years=1, roll_forward=roll_forward)


REQUEST_REPLY = DeadlineRule(
    unit=Unit.WORKING_DAY,
    amount=20,
    pausable=True,
    extension=ExtensionPolicy(max_total=20, max_times=1, approver_role="leader"),
    regimes=(
        RegimeOverride(
            before=D(2019, 5, 15),
            amount=15,
            extension=ExtensionPolicy(max_total=15, max_times=1, approver_role="leader"),
            basis="2008年条例第二十四条",
        ),
    ),
    label="依申请公开答复",
)


@pytest.fixture(scope="module")
def cal() -> WorkdayCalendar:
    return default_calendar()


def due(rule: DeadlineRule, events: list[ClockEvent], calendar: WorkdayCalendar) -> dt.date | None:
    return compute_due(rule, events, calendar=calendar, tz=TZ).due_date


# --------------------------------------------------------------------------- the table

P2027 = (2027,)

TABLE = [
    # --- 2024 National Day: off 10-01..07, make-up Sun 09-29 and Sat 10-12 ---------------
    pytest.param(at(2024, 9, 27), wd(3), D(2024, 10, 8), (), id="2024ND-worked-example"),
    pytest.param(at(2024, 9, 27), wd(1), D(2024, 9, 29), (), id="2024ND-sun-makeup-is-day-1"),
    pytest.param(at(2024, 9, 28), wd(1), D(2024, 9, 29), (), id="2024ND-from-saturday"),
    pytest.param(at(2024, 9, 29), wd(1), D(2024, 9, 30), (), id="2024ND-from-makeup-day"),
    pytest.param(at(2024, 9, 30), wd(1), D(2024, 10, 8), (), id="2024ND-over-the-holiday"),
    pytest.param(at(2024, 10, 3), wd(1), D(2024, 10, 8), (), id="2024ND-from-inside"),
    pytest.param(at(2024, 10, 8), wd(4), D(2024, 10, 12), (), id="2024ND-sat-makeup-is-day-4"),
    pytest.param(at(2024, 10, 12), wd(1), D(2024, 10, 14), (), id="2024ND-from-sat-makeup"),
    pytest.param(at(2024, 9, 27), wd(0), D(2024, 9, 27), (), id="2024ND-zero-same-day"),
    pytest.param(at(2024, 10, 1), wd(0), D(2024, 10, 1), (), id="2024ND-zero-on-a-holiday"),
    # 09-29, 09-30, 10-08..12 (7), 10-14..18 (12), 10-21..25 (17), 10-28..30 (20)
    pytest.param(at(2024, 9, 27), wd(20), D(2024, 10, 30), (), id="2024ND-20wd"),
    # 09-23..27 (5), 09-29, 09-30 (7), 10-08..12 (12), 10-14..18 (17), 10-21..23 (20)
    pytest.param(at(2024, 9, 20), wd(20), D(2024, 10, 23), (), id="2024ND-20wd-earlier"),
    # --- 2025 Spring Festival: off 01-28..02-04, make-up Sun 01-26 and Sat 02-08 ----------
    pytest.param(at(2025, 1, 24), wd(1), D(2025, 1, 26), (), id="2025SF-sun-makeup"),
    pytest.param(at(2025, 1, 25), wd(1), D(2025, 1, 26), (), id="2025SF-from-saturday"),
    pytest.param(at(2025, 1, 24), wd(3), D(2025, 2, 5), (), id="2025SF-3wd"),
    pytest.param(at(2025, 1, 27), wd(1), D(2025, 2, 5), (), id="2025SF-over-the-holiday"),
    pytest.param(at(2025, 2, 7), wd(1), D(2025, 2, 8), (), id="2025SF-sat-makeup"),
    # 01-26, 01-27, 02-05..08 (6), 02-10..14 (11), 02-17..21 (16), 02-24..27 (20)
    pytest.param(at(2025, 1, 24), wd(20), D(2025, 2, 27), (), id="2025SF-20wd"),
    # 02-05..08 (4), 02-10..14 (9), 02-17..21 (14), 02-24..28 (19), 03-03 (20)
    pytest.param(at(2025, 1, 27), wd(20), D(2025, 3, 3), (), id="2025SF-20wd-from-monday"),
    # 01-26, 01-27, 02-05, 02-06, 02-07, 02-08, 02-10 (双公示, 7 working days)
    pytest.param(at(2025, 1, 24), wd(7), D(2025, 2, 10), (), id="2025SF-7wd"),
    # --- 2026 Spring Festival: off 02-15..23, make-up Sat 02-14 and Sat 02-28 -------------
    pytest.param(at(2026, 2, 13), wd(1), D(2026, 2, 14), (), id="2026SF-sat-makeup-before"),
    pytest.param(at(2026, 2, 13), wd(2), D(2026, 2, 24), (), id="2026SF-over-the-holiday"),
    pytest.param(at(2026, 2, 14), wd(1), D(2026, 2, 24), (), id="2026SF-from-makeup-day"),
    pytest.param(at(2026, 2, 15), wd(3), D(2026, 2, 26), (), id="2026SF-from-inside"),
    pytest.param(at(2026, 2, 24), wd(4), D(2026, 2, 28), (), id="2026SF-sat-makeup-after"),
    # 02-14, 02-24..28 (6), 03-02..06 (11), 03-09..13 (16), 03-16..19 (20)
    pytest.param(at(2026, 2, 13), wd(20), D(2026, 3, 19), (), id="2026SF-20wd"),
    # --- 2026 National Day: 中秋 09-25..27, off 10-01..07, make-up Sun 09-20, Sat 10-10 ---
    pytest.param(at(2026, 9, 18), wd(1), D(2026, 9, 20), (), id="2026ND-sun-makeup"),
    pytest.param(at(2026, 9, 24), wd(1), D(2026, 9, 28), (), id="2026ND-over-mid-autumn"),
    pytest.param(at(2026, 9, 30), wd(1), D(2026, 10, 8), (), id="2026ND-over-the-holiday"),
    pytest.param(at(2026, 10, 9), wd(1), D(2026, 10, 10), (), id="2026ND-sat-makeup"),
    # 09-20..24 (5), 09-28..30 (8), 10-08..10 (11), 10-12..16 (16), 10-19..22 (20)
    pytest.param(at(2026, 9, 18), wd(20), D(2026, 10, 22), (), id="2026ND-20wd"),
    # 10-08..10 (3), 10-12..16 (8), 10-19..23 (13), 10-26..30 (18), 11-02, 11-03 (20)
    pytest.param(at(2026, 9, 30), wd(20), D(2026, 11, 3), (), id="2026ND-20wd-from-eve"),
    # --- into 2027 (no notice: provisional) -----------------------------------------------
    pytest.param(at(2026, 11, 20), wd(20), D(2026, 12, 18), (), id="2026-dec-official"),
    # Ends in the last days of 2026, which the 2027 notice may still move.
    pytest.param(at(2026, 12, 1), wd(20), D(2026, 12, 29), P2027, id="2026-cross-year-window"),
    # 12-16..18 (3), 12-21..25 (8), 12-28..31 (12), 01-01 元旦 (estimate), 01-04..08 (17),
    # 01-11..13 (20)
    pytest.param(at(2026, 12, 15), wd(20), D(2027, 1, 13), P2027, id="into-2027-provisional"),
    # --- calendar days: start day not counted, rest-day end rolls forward ------------------
    pytest.param(at(2024, 9, 11), days(20), D(2024, 10, 8), (), id="day-ends-on-national-day"),
    pytest.param(at(2024, 9, 11), days(20, False), D(2024, 10, 1), (), id="day-no-roll-forward"),
    pytest.param(at(2024, 9, 22), days(20), D(2024, 10, 12), (), id="day-ends-on-makeup-sat"),
    pytest.param(at(2024, 9, 29), days(20), D(2024, 10, 21), (), id="day-ends-on-saturday"),
    pytest.param(at(2024, 9, 29), days(20, False), D(2024, 10, 19), (), id="day-sat-no-roll"),
    pytest.param(at(2025, 1, 8), days(20), D(2025, 2, 5), (), id="day-ends-on-chuxi"),
    pytest.param(at(2026, 1, 26), days(20), D(2026, 2, 24), (), id="day-ends-in-2026-sf"),
    pytest.param(at(2026, 2, 8), days(20), D(2026, 2, 28), (), id="day-ends-on-2026-makeup"),
    pytest.param(at(2024, 9, 12), days(20), D(2024, 10, 8), (), id="day-ends-in-holiday"),
    # --- months: same day, clamped to the month end (Art.202), then roll-forward -----------
    pytest.param(at(2025, 1, 31), months(1), D(2025, 2, 28), (), id="month-clamp-feb-28"),
    pytest.param(at(2024, 1, 31), months(1), D(2024, 2, 29), (), id="month-clamp-leap-feb-29"),
    pytest.param(at(2021, 1, 31), months(1), D(2021, 3, 1), (), id="month-clamp-then-roll"),
    pytest.param(at(2021, 1, 31), months(1, False), D(2021, 2, 28), (), id="month-clamp-no-roll"),
    pytest.param(at(2026, 1, 31), months(1), D(2026, 2, 28), (), id="month-clamp-on-makeup"),
    pytest.param(at(2024, 2, 29), months(1), D(2024, 3, 29), (), id="month-from-feb-29"),
    pytest.param(at(2024, 2, 29), months(12), D(2025, 2, 28), (), id="month-feb-29-plus-year"),
    pytest.param(at(2020, 2, 29), months(12), D(2021, 3, 1), (), id="month-feb-29-to-sunday"),
    pytest.param(at(2023, 12, 31), months(2), D(2024, 2, 29), (), id="month-over-year-end"),
    pytest.param(at(2024, 8, 31), months(1), D(2024, 9, 30), (), id="month-clamp-30"),
    pytest.param(at(2024, 7, 1), months(3), D(2024, 10, 8), (), id="month-onto-national-day"),
    pytest.param(at(2024, 1, 15), months(1), D(2024, 2, 18), (), id="month-sf-to-sun-makeup"),
    # --- fixed date: annual report due 31 January (2027-01-31 is a Sunday) ------------------
    # roll_forward false: the calendar is not consulted, so no notice can change the date.
    pytest.param(at(2026, 12, 31), annual(False), D(2027, 1, 31), (), id="annual-2026-stays"),
    pytest.param(at(2026, 12, 31), annual(True), D(2027, 2, 1), P2027, id="annual-2026-rolls"),
    pytest.param(at(2025, 12, 31), annual(True), D(2026, 2, 2), (), id="annual-2025-sat-rolls"),
    pytest.param(at(2024, 12, 31), annual(True), D(2025, 2, 5), (), id="annual-2024-in-sf"),
    pytest.param(at(2024, 12, 31), annual(False), D(2025, 1, 31), (), id="annual-2024-stays"),
    pytest.param(at(2023, 12, 31), annual(True), D(2024, 1, 31), (), id="annual-2023-weekday"),
]


@pytest.mark.parametrize(("start_at", "rule", "expected", "provisional_years"), TABLE)
def test_due_dates(
    cal: WorkdayCalendar,
    start_at: dt.datetime,
    rule: DeadlineRule,
    expected: dt.date,
    provisional_years: tuple[int, ...],
) -> None:
    deadline = compute_due(rule, [start(start_at)], calendar=cal, tz=TZ)
    assert deadline.due_date == expected
    assert deadline.start_date == start_at.date()
    assert deadline.provisional_years == provisional_years
    assert deadline.provisional is bool(provisional_years)
    assert deadline.paused is False
    # Due = 24:00 local of the due date = next day 00:00 +08:00 = 16:00Z of the due date.
    assert deadline.due_at == dt.datetime(
        expected.year, expected.month, expected.day, 16, tzinfo=UTC
    )
    assert deadline.due_at is not None
    assert deadline.due_at.utcoffset() == dt.timedelta(0)
    local = deadline.due_at.astimezone(TZ)
    assert (local.date(), local.time()) == (expected + dt.timedelta(days=1), dt.time(0))


@pytest.mark.parametrize(
    ("start_at", "rule", "expected_at"),
    [
        # 5 h information release across midnight, the eve of a weekend: no calendar.
        pytest.param(
            at(2024, 9, 27, 22), hours(5), dt.datetime(2024, 9, 27, 19, tzinfo=UTC), id="5h"
        ),
        # 48 h from Friday evening across the weekend (Sat 10-12 is a make-up day: irrelevant).
        pytest.param(
            at(2024, 10, 11, 18), hours(48), dt.datetime(2024, 10, 13, 10, tzinfo=UTC), id="48h"
        ),
        # 48 h into the National Day holiday: hours never skip holidays.
        pytest.param(
            at(2024, 9, 30, 23, 30),
            hours(48),
            dt.datetime(2024, 10, 2, 15, 30, tzinfo=UTC),
            id="48h-into-holiday",
        ),
        pytest.param(
            at(2024, 12, 31, 12), hours(24), dt.datetime(2025, 1, 1, 4, tzinfo=UTC), id="24h-ny"
        ),
        # A start given in UTC is the same instant; 2024-09-27 20:00Z is 09-28 04:00 local.
        pytest.param(
            dt.datetime(2024, 9, 27, 20, tzinfo=UTC),
            hours(5),
            dt.datetime(2024, 9, 28, 1, tzinfo=UTC),
            id="utc-start",
        ),
        # No notice for 2027 is needed for hour rules: never provisional.
        pytest.param(
            at(2026, 12, 31, 20), hours(48), dt.datetime(2027, 1, 2, 12, tzinfo=UTC), id="48h-2027"
        ),
    ],
)
def test_hour_rules(
    cal: WorkdayCalendar, start_at: dt.datetime, rule: DeadlineRule, expected_at: dt.datetime
) -> None:
    deadline = compute_due(rule, [start(start_at)], calendar=cal, tz=TZ)
    assert deadline.due_at == expected_at
    assert deadline.due_at is not None
    assert deadline.due_at.utcoffset() == dt.timedelta(0)
    assert deadline.due_date == expected_at.astimezone(TZ).date()
    assert deadline.start_date == start_at.astimezone(TZ).date()
    assert deadline.provisional is False
    assert deadline.provisional_years == ()


def test_start_date_is_the_local_date_of_the_start_instant(cal: WorkdayCalendar) -> None:
    # Fri 2024-09-27 17:00Z is Sat 09-28 01:00 in Shanghai: Saturday is the start day.
    deadline = compute_due(
        wd(1), [start(dt.datetime(2024, 9, 27, 17, tzinfo=UTC))], calendar=cal, tz=TZ
    )
    assert deadline.start_date == D(2024, 9, 28)
    assert deadline.due_date == D(2024, 9, 29)
    late_friday = compute_due(wd(1), [start(at(2024, 9, 27, 23, 59))], calendar=cal, tz=TZ)
    assert late_friday.start_date == D(2024, 9, 27)


def test_events_may_be_a_tuple(cal: WorkdayCalendar) -> None:
    deadline = compute_due(wd(3), (start(at(2024, 9, 27)),), calendar=cal, tz=TZ)
    assert deadline.due_date == D(2024, 10, 8)


# --------------------------------------------------------------------------- pause / resume


def test_pause_excludes_working_days_in_the_pause(cal: WorkdayCalendar) -> None:
    # 20 wd from Mon 09-02 end on 09-30. Paused 09-10 → 09-20: (09-10, 09-20] holds 09-11,
    # 09-12, 09-13, 09-14 (Sat make-up), 09-18, 09-19, 09-20 = 7 working days.
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, at(2024, 9, 10, 15)),
        ClockEvent(K.RESUME, at(2024, 9, 20, 9)),
    ]
    assert due(REQUEST_REPLY, events[:1], cal) == D(2024, 9, 30)
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert cal.workdays_between(D(2024, 9, 10), D(2024, 9, 20)) == 7
    assert deadline.paused_units == 7
    assert deadline.due_date == cal.add_workdays(D(2024, 9, 30), 7) == D(2024, 10, 15)
    assert deadline.paused is False


def test_pause_over_a_holiday_only_skips_working_days(cal: WorkdayCalendar) -> None:
    # Paused Sat 09-28 → Tue 10-08: (P, R] holds 09-29, 09-30 and 10-08 only.
    events = [
        start(at(2024, 9, 27)),
        ClockEvent(K.PAUSE, at(2024, 9, 28)),
        ClockEvent(K.RESUME, at(2024, 10, 8)),
    ]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert deadline.paused_units == 3
    assert deadline.due_date == D(2024, 11, 4)  # 10-30 + 3 working days


def test_two_pauses_add_up(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, at(2024, 9, 3)),
        ClockEvent(K.RESUME, at(2024, 9, 5)),  # 09-04, 09-05
        ClockEvent(K.PAUSE, at(2024, 9, 6)),
        ClockEvent(K.RESUME, at(2024, 9, 9)),  # 09-09
    ]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert deadline.paused_units == 3
    assert deadline.due_date == cal.add_workdays(D(2024, 9, 30), 3)


def test_pause_after_the_due_date_changes_nothing(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, at(2024, 10, 9)),
        ClockEvent(K.RESUME, at(2024, 10, 18)),
    ]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert (deadline.due_date, deadline.paused_units) == (D(2024, 9, 30), 0)


def test_pause_starting_after_the_due_date_on_a_rest_day_changes_nothing(
    cal: WorkdayCalendar,
) -> None:
    # 1 wd from Thu 09-26 is due Fri 09-27. A pause from Sat 09-28 to Tue 10-01 starts after
    # the due date; today the due date jumps to 10-01, a National Day holiday, because
    # _count_working_days only skips a pause when more than the remaining days were used
    # before it (`used > remaining`; see the report).
    rule = DeadlineRule(unit=Unit.WORKING_DAY, amount=1, pausable=True)
    events = [
        start(at(2024, 9, 26)),
        ClockEvent(K.PAUSE, at(2024, 9, 28)),
        ClockEvent(K.RESUME, at(2024, 10, 1)),
    ]
    deadline = compute_due(rule, events, calendar=cal, tz=TZ)
    assert deadline.due_date == D(2024, 9, 27)
    assert deadline.paused_units == 0


def test_pause_dates_are_local_dates(cal: WorkdayCalendar) -> None:
    # 2024-09-10 16:30Z is 09-11 00:30 in Shanghai: the pause starts on 09-11, so 09-11
    # still counts and (09-11, 09-20] holds 6 working days.
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, dt.datetime(2024, 9, 10, 16, 30, tzinfo=UTC)),
        ClockEvent(K.RESUME, at(2024, 9, 20)),
    ]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert deadline.paused_units == 6
    assert deadline.due_date == cal.add_workdays(D(2024, 9, 30), 6)


def test_open_pause_has_no_due_date(cal: WorkdayCalendar) -> None:
    events = [start(at(2024, 9, 2)), ClockEvent(K.PAUSE, at(2024, 9, 10))]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert deadline.paused is True
    assert deadline.due_date is None
    assert deadline.due_at is None
    assert deadline.provisional is False
    assert deadline.start_date == D(2024, 9, 2)


def test_calendar_day_rule_pause(cal: WorkdayCalendar) -> None:
    rule = DeadlineRule(unit=Unit.DAY, amount=20, pausable=True)
    # 09-03..05 counted (3), paused (09-05, 09-08], then 17 more days → 09-25 (Wed).
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, at(2024, 9, 5)),
        ClockEvent(K.RESUME, at(2024, 9, 8)),
    ]
    deadline = compute_due(rule, events, calendar=cal, tz=TZ)
    assert (deadline.due_date, deadline.paused_units) == (D(2024, 9, 25), 3)


def test_month_rule_pause(cal: WorkdayCalendar) -> None:
    rule = DeadlineRule(unit=Unit.MONTH, amount=1, pausable=True)
    # 02-15 + 10 paused days = Sun 02-25 → Mon 02-26.
    events = [
        start(at(2024, 1, 15)),
        ClockEvent(K.PAUSE, at(2024, 1, 20)),
        ClockEvent(K.RESUME, at(2024, 1, 30)),
    ]
    deadline = compute_due(rule, events, calendar=cal, tz=TZ)
    assert (deadline.due_date, deadline.paused_units) == (D(2024, 2, 26), 10)


def test_hour_rule_pause(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 27, 22)),
        ClockEvent(K.PAUSE, at(2024, 9, 28, 8)),
        ClockEvent(K.RESUME, at(2024, 9, 28, 13)),
    ]
    deadline = compute_due(hours(48, pausable=True), events, calendar=cal, tz=TZ)
    assert deadline.due_at == dt.datetime(2024, 9, 29, 19, tzinfo=UTC)  # 22:00 + 48 h + 5 h
    assert deadline.paused_units == 5


# --------------------------------------------------------------------------- restart


def test_restart_is_a_fresh_clock_from_the_restart_date(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, at(2024, 9, 3)),
        ClockEvent(K.RESUME, at(2024, 9, 5)),
        ClockEvent(K.EXTEND, at(2024, 9, 6), amount=5, approver="张主任"),
        ClockEvent(K.RESTART, at(2024, 9, 27, 16)),
    ]
    restarted = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    fresh = compute_due(REQUEST_REPLY, [start(at(2024, 9, 27, 16))], calendar=cal, tz=TZ)
    assert restarted.due_date == fresh.due_date == D(2024, 10, 30)
    assert restarted.due_at == fresh.due_at
    assert restarted.start_date == D(2024, 9, 27)
    assert (restarted.extended_by, restarted.extensions, restarted.paused_units) == (0, 0, 0)


def test_a_new_extension_is_allowed_after_a_restart(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.EXTEND, at(2024, 9, 6), amount=20, approver="张主任"),
        ClockEvent(K.RESTART, at(2024, 9, 27)),
        ClockEvent(K.EXTEND, at(2024, 10, 9), amount=20, approver="张主任"),
    ]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    assert deadline.due_date == cal.add_workdays(D(2024, 9, 27), 40)
    assert (deadline.extended_by, deadline.extensions) == (20, 1)


def test_restart_while_paused_is_refused(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 2)),
        ClockEvent(K.PAUSE, at(2024, 9, 3)),
        ClockEvent(K.RESTART, at(2024, 9, 5)),
    ]
    with pytest.raises(ClockError, match="resume the paused clock first"):
        compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)


# --------------------------------------------------------------------------- extension


def test_extension_adds_working_days(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 27)),
        ClockEvent(K.EXTEND, at(2024, 10, 25), amount=20, approver="李局长"),
    ]
    deadline = compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)
    # 10-30 (20) + 20: 10-31, 11-01 (22), 11-04..08 (27), 11-11..15 (32), 11-18..22 (37),
    # 11-25..27 (40)
    assert deadline.due_date == D(2024, 11, 27) == cal.add_workdays(D(2024, 9, 27), 40)
    assert (deadline.extended_by, deadline.extensions) == (20, 1)


def test_extension_over_the_cap_is_refused(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 27)),
        ClockEvent(K.EXTEND, at(2024, 10, 25), amount=21, approver="李局长"),
    ]
    with pytest.raises(ExtensionCapError, match="cap is 20 working days"):
        compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)


def test_second_extension_is_refused(cal: WorkdayCalendar) -> None:
    events = [
        start(at(2024, 9, 27)),
        ClockEvent(K.EXTEND, at(2024, 10, 25), amount=5, approver="李局长"),
        ClockEvent(K.EXTEND, at(2024, 10, 28), amount=5, approver="李局长"),
    ]
    with pytest.raises(ExtensionCapError, match="at most 1 allowed"):
        compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)


def test_several_extensions_share_the_cap(cal: WorkdayCalendar) -> None:
    rule = wd(10, extension=ExtensionPolicy(max_total=10, max_times=3))
    ok = [
        start(at(2024, 3, 1)),
        ClockEvent(K.EXTEND, at(2024, 3, 5), amount=4, approver="王科长"),
        ClockEvent(K.EXTEND, at(2024, 3, 6), amount=6, approver="王科长"),
    ]
    deadline = compute_due(rule, ok, calendar=cal, tz=TZ)
    assert (deadline.extended_by, deadline.extensions) == (10, 2)
    assert deadline.due_date == cal.add_workdays(D(2024, 3, 1), 20)
    over = [*ok[:2], ClockEvent(K.EXTEND, at(2024, 3, 6), amount=7, approver="王科长")]
    with pytest.raises(ExtensionCapError, match="cap is 10 working days, 6 left"):
        compute_due(rule, over, calendar=cal, tz=TZ)


def test_extension_without_a_policy_is_refused(cal: WorkdayCalendar) -> None:
    events = [start(at(2024, 3, 1)), ClockEvent(K.EXTEND, at(2024, 3, 5), amount=1, approver="王")]
    with pytest.raises(ExtensionCapError, match="cannot be extended"):
        compute_due(wd(7), events, calendar=cal, tz=TZ)


@pytest.mark.parametrize(
    ("amount", "approver", "message"),
    [
        (0, "王科长", "at least 1"),
        (-3, "王科长", "at least 1"),
        (5, None, "approved"),
        (5, "   ", "approved"),
    ],
)
def test_extension_event_validation(amount: int, approver: str | None, message: str) -> None:
    with pytest.raises(ClockError, match=message):
        ClockEvent(K.EXTEND, at(2024, 3, 5), amount=amount, approver=approver)


# --------------------------------------------------------------------------- bad event logs


def test_pause_on_a_rule_that_cannot_pause(cal: WorkdayCalendar) -> None:
    events = [start(at(2024, 3, 1)), ClockEvent(K.PAUSE, at(2024, 3, 5))]
    with pytest.raises(ClockError, match="cannot be paused"):
        compute_due(wd(7), events, calendar=cal, tz=TZ)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        pytest.param([], "needs a start event", id="empty"),
        pytest.param(
            [ClockEvent(K.PAUSE, at(2024, 3, 1))], "must begin with a start", id="no-start"
        ),
        pytest.param(
            [start(at(2024, 3, 5)), ClockEvent(K.PAUSE, at(2024, 3, 4))],
            "earlier than the event before it",
            id="out-of-order",
        ),
        pytest.param(
            [
                start(at(2024, 3, 1)),
                ClockEvent(K.PAUSE, at(2024, 3, 4)),
                ClockEvent(K.RESUME, at(2024, 3, 3)),
            ],
            "earlier than the event before it",
            id="resume-before-pause",
        ),
        pytest.param(
            [start(at(2024, 3, 1)), start(at(2024, 3, 2))], "only one start", id="two-starts"
        ),
        pytest.param(
            [start(at(2024, 3, 1)), ClockEvent(K.RESUME, at(2024, 3, 2))],
            "is not paused",
            id="resume-without-pause",
        ),
        pytest.param(
            [
                start(at(2024, 3, 1)),
                ClockEvent(K.PAUSE, at(2024, 3, 2)),
                ClockEvent(K.PAUSE, at(2024, 3, 3)),
            ],
            "already paused",
            id="pause-twice",
        ),
    ],
)
def test_inconsistent_event_logs(
    cal: WorkdayCalendar, events: list[ClockEvent], message: str
) -> None:
    with pytest.raises(ClockError, match=message):
        compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ)


def test_events_compare_as_instants_not_wall_clock(cal: WorkdayCalendar) -> None:
    # 10:00 +08:00 is 02:00Z: a pause at 03:00Z comes after the start despite "03" < "10".
    events = [
        start(at(2024, 3, 1, 10)),
        ClockEvent(K.PAUSE, dt.datetime(2024, 3, 1, 3, tzinfo=UTC)),
    ]
    assert compute_due(REQUEST_REPLY, events, calendar=cal, tz=TZ).paused is True


@pytest.mark.parametrize("kind", list(ClockEventKind))
def test_naive_datetimes_are_refused(kind: ClockEventKind) -> None:
    naive = dt.datetime(2024, 3, 1, 10)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ClockError, match="no time zone"):
        ClockEvent(kind, naive, amount=1, approver="王")


# --------------------------------------------------------------------------- regimes


@pytest.mark.parametrize(
    ("received", "amount", "cap", "expected"),
    [
        # 2008 条例: 15 wd — 05-15..17 (3), 05-20..24 (8), 05-27..31 (13), 06-03, 06-04 (15)
        pytest.param(at(2019, 5, 14, 23, 59), 15, 15, D(2019, 6, 4), id="2019-05-14"),
        # 2019 条例: 20 wd — 05-16, 05-17, 05-20..24 (7), 05-27..31 (12), 06-03..06 (16),
        # 06-07 端午, 06-10..13 (20)
        pytest.param(at(2019, 5, 15, 0, 0), 20, 20, D(2019, 6, 13), id="2019-05-15"),
        # 2019-05-14 17:00Z is already 05-15 in Shanghai: the 2019 rules apply.
        pytest.param(
            dt.datetime(2019, 5, 14, 17, tzinfo=UTC), 20, 20, D(2019, 6, 13), id="utc-evening"
        ),
    ],
)
def test_regime_switch(
    cal: WorkdayCalendar, received: dt.datetime, amount: int, cap: int, expected: dt.date
) -> None:
    deadline = compute_due(REQUEST_REPLY, [start(received)], calendar=cal, tz=TZ)
    assert deadline.due_date == expected
    assert deadline.rule.amount == amount
    assert deadline.rule.extension is not None
    assert deadline.rule.extension.max_total == cap
    assert (deadline.regime is not None) is (amount == 15)
    # Extending to the regime's cap works; one more working day is refused.
    full = ClockEvent(K.EXTEND, received + dt.timedelta(days=3), amount=cap, approver="李局长")
    extended = compute_due(REQUEST_REPLY, [start(received), full], calendar=cal, tz=TZ)
    assert extended.due_date == cal.add_workdays(deadline.start_date, amount + cap)
    over = ClockEvent(K.EXTEND, received + dt.timedelta(days=3), amount=cap + 1, approver="李局长")
    with pytest.raises(ExtensionCapError, match=f"cap is {cap} working days"):
        compute_due(REQUEST_REPLY, [start(received), over], calendar=cal, tz=TZ)
