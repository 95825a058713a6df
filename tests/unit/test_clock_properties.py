"""Properties of the deadline clock and the calendar arithmetic, checked with Hypothesis.

Starts are drawn from 2005-01-01..2026-06-30 (official calendar data, with room for 60
working days and pauses after them) and amounts from 0..60. Runs are derandomized so the
suite is deterministic.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from obligations.clocks import ClockEvent, ClockEventKind, compute_due, start
from obligations.errors import ExtensionCapError
from obligations.rules import DeadlineRule, ExtensionPolicy, Unit
from obligations.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")
K = ClockEventKind
CAL = default_calendar()

PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None)

start_dates = st.dates(min_value=dt.date(2005, 1, 1), max_value=dt.date(2026, 6, 30))
amounts = st.integers(min_value=0, max_value=60)
hours_of_day = st.integers(min_value=0, max_value=8)  # events later that day use 12:00+


def local(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), TZ)


def working(amount: int) -> DeadlineRule:
    return DeadlineRule(unit=Unit.WORKING_DAY, amount=amount, pausable=True)


# --------------------------------------------------------------------------- calendar


@PROPERTY
@given(day=start_dates, n=amounts)
def test_add_then_count_gives_n(day: dt.date, n: int) -> None:
    result = CAL.add_workdays(day, n)
    assert CAL.workdays_between(day, result) == n
    if n >= 1:
        # The n-th working day is the first day at which n working days have passed.
        assert CAL.is_workday(result)
        assert CAL.workdays_between(day, result - dt.timedelta(days=1)) == n - 1


@PROPERTY
@given(day=start_dates, n=amounts)
def test_forward_then_back_is_the_last_working_day_on_or_before(day: dt.date, n: int) -> None:
    back = CAL.add_workdays(CAL.add_workdays(day, n), -n)
    assert back <= day
    if n == 0 or CAL.is_workday(day):
        assert back == day
    else:
        # From a rest day: the last working day before it, with only rest days in between.
        assert back == CAL.add_workdays(day, -1)
        assert CAL.is_workday(back)
        assert CAL.workdays_between(back, day) == 0


@PROPERTY
@given(day=start_dates)
def test_roll_forward_is_the_first_working_day_on_or_after(day: dt.date) -> None:
    rolled = CAL.roll_forward(day)
    assert rolled >= day
    assert CAL.is_workday(rolled)
    assert CAL.workdays_between(day, rolled) == (0 if rolled == day else 1)


# --------------------------------------------------------------------------- due dates


@PROPERTY
@given(day=start_dates, hour=hours_of_day, amount=amounts)
def test_working_day_due_is_after_the_start_and_on_a_working_day(
    day: dt.date, hour: int, amount: int
) -> None:
    deadline = compute_due(working(amount), [start(local(day, hour))], calendar=CAL, tz=TZ)
    assert deadline.due_date is not None
    assert deadline.due_date >= day
    assert CAL.workdays_between(day, deadline.due_date) == amount
    if amount >= 1:
        assert deadline.due_date > day
        assert CAL.is_workday(deadline.due_date)
    else:
        assert deadline.due_date == day
    assert deadline.due_at == dt.datetime.combine(
        deadline.due_date + dt.timedelta(days=1), dt.time(), TZ
    )


@PROPERTY
@given(day=start_dates, amount=amounts, roll=st.booleans())
def test_calendar_day_due(day: dt.date, amount: int, roll: bool) -> None:
    rule = DeadlineRule(unit=Unit.DAY, amount=amount, roll_forward=roll)
    deadline = compute_due(rule, [start(local(day, 9))], calendar=CAL, tz=TZ)
    raw = day + dt.timedelta(days=amount)
    assert deadline.due_date == (CAL.roll_forward(raw) if roll else raw)
    assert deadline.due_date >= day


@PROPERTY
@given(day=start_dates, amount=st.integers(min_value=0, max_value=24))
def test_month_due(day: dt.date, amount: int) -> None:
    rule = DeadlineRule(unit=Unit.MONTH, amount=amount)
    deadline = compute_due(rule, [start(local(day, 9))], calendar=CAL, tz=TZ)
    assert deadline.due_date is not None
    assert deadline.due_date >= day
    assert CAL.is_workday(deadline.due_date) or (amount == 0 and deadline.due_date == day)
    # The target is the same day of the month, or the month's last day (Art.202).
    index = day.year * 12 + day.month - 1 + amount
    year, month = divmod(index, 12)
    first_next = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    target = min(
        dt.date(year, month + 1, 1) + dt.timedelta(days=day.day - 1),
        first_next - dt.timedelta(days=1),
    )
    assert deadline.due_date == CAL.roll_forward(target)


# --------------------------------------------------------------------------- pause


@PROPERTY
@given(
    day=start_dates,
    amount=st.integers(min_value=1, max_value=60),
    pause_at=st.integers(min_value=0, max_value=59),
    pause_length=st.integers(min_value=0, max_value=80),
)
def test_aligned_pause_moves_the_due_by_the_paused_working_days(
    day: dt.date, amount: int, pause_at: int, pause_length: int
) -> None:
    # P is the k-th working day after the start (k < amount, so P is before the original due)
    # and R the j-th working day after P.
    assume(pause_at < amount)
    rule = working(amount)
    old = compute_due(rule, [start(local(day, 9))], calendar=CAL, tz=TZ).due_date
    assert old is not None
    paused_on = CAL.add_workdays(day, pause_at)
    resumed_on = CAL.add_workdays(paused_on, pause_length)
    assert paused_on < old
    events = [
        start(local(day, 9)),
        ClockEvent(K.PAUSE, local(paused_on, 12)),
        ClockEvent(K.RESUME, local(resumed_on, 15)),
    ]
    new = compute_due(rule, events, calendar=CAL, tz=TZ)
    assert new.due_date is not None
    skipped = CAL.workdays_between(paused_on, resumed_on)
    assert skipped == pause_length
    assert CAL.workdays_between(old, new.due_date) == skipped
    assert new.paused_units == skipped


@PROPERTY
@given(
    day=start_dates,
    amount=st.integers(min_value=1, max_value=60),
    pause_offset=st.integers(min_value=0, max_value=90),
    pause_days=st.integers(min_value=0, max_value=120),
)
def test_any_pause_before_the_due_moves_it_by_the_paused_working_days(
    day: dt.date, amount: int, pause_offset: int, pause_days: int
) -> None:
    # P and R on any days (weekends and holidays included), P before the original due.
    rule = working(amount)
    old = compute_due(rule, [start(local(day, 9))], calendar=CAL, tz=TZ).due_date
    assert old is not None
    paused_on = day + dt.timedelta(days=pause_offset)
    assume(paused_on < old)
    resumed_on = paused_on + dt.timedelta(days=pause_days)
    events = [
        start(local(day, 9)),
        ClockEvent(K.PAUSE, local(paused_on, 12)),
        ClockEvent(K.RESUME, local(resumed_on, 15)),
    ]
    new = compute_due(rule, events, calendar=CAL, tz=TZ).due_date
    assert new is not None
    assert CAL.workdays_between(old, new) == CAL.workdays_between(paused_on, resumed_on)


@PROPERTY
@given(
    day=start_dates,
    amount=st.integers(min_value=0, max_value=60),
    pause_offset=st.integers(min_value=0, max_value=120),
    pause_days=st.integers(min_value=0, max_value=60),
)
def test_a_pause_keeps_the_due_on_a_working_day_and_never_earlier(
    day: dt.date, amount: int, pause_offset: int, pause_days: int
) -> None:
    rule = working(amount)
    old = compute_due(rule, [start(local(day, 9))], calendar=CAL, tz=TZ).due_date
    paused_on = day + dt.timedelta(days=pause_offset)
    events = [
        start(local(day, 9)),
        ClockEvent(K.PAUSE, local(paused_on, 12)),
        ClockEvent(K.RESUME, local(paused_on + dt.timedelta(days=pause_days), 15)),
    ]
    new = compute_due(rule, events, calendar=CAL, tz=TZ).due_date
    assert old is not None
    assert new is not None
    assert new >= old
    if amount >= 1:
        assert CAL.is_workday(new)
    if paused_on > old:
        assert new == old  # a pause after the due date changes nothing


@PROPERTY
@given(
    day=start_dates,
    amount=st.integers(min_value=0, max_value=60),
    after_due=st.integers(min_value=1, max_value=6),
    pause_days=st.integers(min_value=0, max_value=30),
)
def test_a_pause_that_starts_after_the_due_date_changes_nothing(
    day: dt.date, amount: int, after_due: int, pause_days: int
) -> None:
    # Fails today when P is a rest day right after the due date (no working day in
    # (due, P]): the due date jumps to R, possibly a rest day (see the report).
    rule = working(amount)
    old = compute_due(rule, [start(local(day, 9))], calendar=CAL, tz=TZ)
    assert old.due_date is not None
    paused_on = old.due_date + dt.timedelta(days=after_due)
    events = [
        start(local(day, 9)),
        ClockEvent(K.PAUSE, local(paused_on, 12)),
        ClockEvent(K.RESUME, local(paused_on + dt.timedelta(days=pause_days), 15)),
    ]
    new = compute_due(rule, events, calendar=CAL, tz=TZ)
    assert (new.due_date, new.paused_units) == (old.due_date, 0)


# --------------------------------------------------------------------------- restart


@PROPERTY
@given(
    day=start_dates,
    amount=amounts,
    restart_after=st.integers(min_value=0, max_value=120),
    pause=st.booleans(),
)
def test_restart_equals_a_fresh_clock(
    day: dt.date, amount: int, restart_after: int, pause: bool
) -> None:
    rule = DeadlineRule(
        unit=Unit.WORKING_DAY,
        amount=amount,
        pausable=True,
        extension=ExtensionPolicy(max_total=20),
    )
    restart_on = day + dt.timedelta(days=restart_after)
    events = [start(local(day, 9))]
    if pause:
        events += [
            ClockEvent(K.PAUSE, local(day, 10)),
            ClockEvent(K.RESUME, local(day, 11)),
            ClockEvent(K.EXTEND, local(day, 11), amount=3, approver="王科长"),
        ]
    events.append(ClockEvent(K.RESTART, local(restart_on, 16)))
    restarted = compute_due(rule, events, calendar=CAL, tz=TZ)
    fresh = compute_due(rule, [start(local(restart_on, 16))], calendar=CAL, tz=TZ)
    assert restarted.due_date == fresh.due_date
    assert restarted.due_at == fresh.due_at
    assert restarted.start_date == fresh.start_date == restart_on
    assert restarted.provisional_years == fresh.provisional_years
    assert (restarted.extended_by, restarted.paused_units) == (0, 0)


# --------------------------------------------------------------------------- extension


@PROPERTY
@given(
    day=start_dates,
    max_total=st.integers(min_value=1, max_value=40),
    max_times=st.integers(min_value=1, max_value=3),
    requests=st.lists(st.integers(min_value=1, max_value=30), max_size=5),
)
def test_extensions_never_exceed_the_cap(
    day: dt.date, max_total: int, max_times: int, requests: list[int]
) -> None:
    rule = DeadlineRule(
        unit=Unit.WORKING_DAY,
        amount=20,
        extension=ExtensionPolicy(max_total=max_total, max_times=max_times),
    )
    events = [start(local(day, 9))] + [
        ClockEvent(K.EXTEND, local(day, 10 + i), amount=amount, approver="李局长")
        for i, amount in enumerate(requests)
    ]
    # The model: every request must fit in what is left, and in the number of extensions.
    total, allowed = 0, True
    for count, amount in enumerate(requests):
        if count >= max_times or total + amount > max_total:
            allowed = False
            break
        total += amount
    try:
        deadline = compute_due(rule, events, calendar=CAL, tz=TZ)
    except ExtensionCapError:
        assert not allowed
        return
    assert allowed
    assert deadline.extended_by == sum(requests) <= max_total
    assert deadline.extensions == len(requests) <= max_times
    assert deadline.due_date == CAL.add_workdays(day, 20 + deadline.extended_by)
