"""Deadline clocks: the due moment as a pure function of clock events, a rule and the calendar.

A clock is a list of :class:`ClockEvent` rows — start, pause (中止计时), resume, restart
(重新计时, 依申请 补正 under 条例 Art.30) and extension (延期, +N with a named approver).
:func:`compute_due` replays them and returns a :class:`Deadline`: the due moment (the end of
the last day at 24:00 local time, or an exact instant for hour rules), whether it is
provisional, and — when asked — the steps a clerk can follow to check it.

Counting conventions (DOMAIN.md):

* the start day is never counted (民法典 Art.201); ``amount`` 0 means "the same day";
* working days follow the State Council calendar including make-up working days;
* calendar-day, month and fixed-date rules roll a rest-day end forward (Art.203) when the
  rule says so; months clamp to the month's last day (Art.202);
* a pause from day P to day R excludes (P, R]: the day the clock stopped still counts, the
  day it resumed does not (it is a new start day);
* a restart discards everything before it: the clock starts over from the restart day;
* extensions add units to the allowance, capped by the rule's extension policy.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from calendar import monthrange
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from obligations.errors import ClockError, ExtensionCapError
from obligations.rules import DeadlineRule, RegimeOverride, Unit
from obligations.workdays import WorkdayCalendar

UTC = dt.UTC


class ClockEventKind(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    RESTART = "restart"
    EXTEND = "extend"


@dataclass(slots=True)
class ClockEvent:
    """One row of a clock's event log (treat as read-only). ``at`` must be timezone-aware."""

    kind: ClockEventKind
    at: dt.datetime
    amount: int = 0
    approver: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ClockError(f"{self.kind.value} event time {self.at.isoformat()} has no time zone")
        if self.kind is ClockEventKind.EXTEND:
            if self.amount <= 0:
                raise ClockError(f"an extension must add at least 1 unit, got {self.amount}")
            if not (self.approver and self.approver.strip()):
                raise ClockError("an extension needs the name of the person who approved it")


def start(at: dt.datetime) -> ClockEvent:
    return ClockEvent(ClockEventKind.START, at)


@dataclass(frozen=True, slots=True)
class Step:
    """One line of a deadline's explanation, rendered by :mod:`obligations.explain`."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Deadline:
    """The result of replaying a clock (treat as read-only).

    ``due_at`` is the instant the duty becomes late (UTC; for day rules 24:00 local of
    ``due_date``). Both are ``None`` while the clock is paused.
    """

    rule: DeadlineRule
    start_date: dt.date
    due_date: dt.date | None
    due_at: dt.datetime | None
    provisional: bool
    provisional_years: tuple[int, ...] = ()
    paused: bool = False
    extended_by: int = 0
    extensions: int = 0
    paused_units: int = 0
    regime: RegimeOverride | None = None
    steps: tuple[Step, ...] = ()

    def explain(self, lang: str = "zh") -> list[str]:
        from obligations.explain import render_steps

        return render_steps(self.steps, lang=lang)


@dataclass(slots=True)
class _Replay:
    """The clock state after replaying its events."""

    anchor_at: dt.datetime
    pauses: list[tuple[dt.datetime, dt.datetime]]
    open_pause: dt.datetime | None
    extended_by: int
    extensions: int
    first_start: dt.date
    restarts: list[dt.datetime]
    extension_log: list[ClockEvent]


def _replay(
    events: list[ClockEvent] | tuple[ClockEvent, ...], rule: DeadlineRule, tz: dt.tzinfo
) -> tuple[_Replay, DeadlineRule, RegimeOverride | None]:
    if not events:
        raise ClockError("a clock needs a start event")
    first = events[0]
    if first.kind is not ClockEventKind.START:
        raise ClockError(f"a clock must begin with a start event, not {first.kind.value}")
    first_start = first.at.astimezone(tz).date()
    effective, regime = rule.for_start(first_start)
    state = _Replay(
        anchor_at=first.at,
        pauses=[],
        open_pause=None,
        extended_by=0,
        extensions=0,
        first_start=first_start,
        restarts=[],
        extension_log=[],
    )
    previous = first.at
    for event in events[1:]:
        if event.at < previous:
            raise ClockError(
                f"{event.kind.value} at {event.at.isoformat()} is earlier than the event before it"
            )
        previous = event.at
        kind = event.kind
        if kind is ClockEventKind.START:
            raise ClockError(
                "a clock has only one start event; use restart (重新计时) to start over"
            )
        if kind is ClockEventKind.PAUSE:
            if not effective.pausable:
                raise ClockError("this rule cannot be paused (中止计时)")
            if state.open_pause is not None:
                raise ClockError(f"pause at {event.at.isoformat()}: the clock is already paused")
            state.open_pause = event.at
        elif kind is ClockEventKind.RESUME:
            if state.open_pause is None:
                raise ClockError(f"resume at {event.at.isoformat()}: the clock is not paused")
            state.pauses.append((state.open_pause, event.at))
            state.open_pause = None
        elif kind is ClockEventKind.RESTART:
            if state.open_pause is not None:
                raise ClockError(
                    f"restart at {event.at.isoformat()}: resume the paused clock first"
                )
            state.anchor_at = event.at
            state.pauses = []
            state.extended_by = 0
            state.extensions = 0
            state.extension_log = []
            state.restarts.append(event.at)
        else:  # EXTEND
            check_extension(effective, state.extended_by, state.extensions, event.amount)
            state.extended_by += event.amount
            state.extensions += 1
            state.extension_log.append(event)
    return state, effective, regime


def check_extension(rule: DeadlineRule, extended_by: int, extensions: int, amount: int) -> None:
    """Refuse an extension the rule's policy does not allow (cap on total and on count)."""
    policy = rule.extension
    unit = rule.unit.label("en").strip()
    if policy is None:
        raise ExtensionCapError("this duty cannot be extended (no extension policy)")
    if extensions >= policy.max_times:
        raise ExtensionCapError(
            f"extension refused: already extended {extensions} time(s), at most {policy.max_times} allowed"
        )
    if extended_by + amount > policy.max_total:
        left = policy.max_total - extended_by
        raise ExtensionCapError(
            f"extension of {amount} {unit} refused: the cap is {policy.max_total} {unit}, {left} left"
        )


def compute_due(
    rule: DeadlineRule,
    events: list[ClockEvent] | tuple[ClockEvent, ...],
    *,
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
    explain: bool = False,
) -> Deadline:
    """Replay ``events`` under ``rule`` and return the due moment (see the module docstring)."""
    if not explain and len(events) == 1 and rule.unit is not Unit.HOUR:
        return _single_start(rule, events[0], calendar, tz)
    state, effective, regime = _replay(events, rule, tz)
    anchor = state.anchor_at.astimezone(tz)
    anchor_date = anchor.date()
    if state.open_pause is not None:
        return Deadline(
            rule=effective,
            start_date=anchor_date,
            due_date=None,
            due_at=None,
            provisional=False,
            paused=True,
            extended_by=state.extended_by,
            extensions=state.extensions,
            regime=regime,
            steps=_explain(effective, state, anchor, None, calendar, tz, regime) if explain else (),
        )
    total = effective.amount + state.extended_by
    unit = effective.unit
    paused_units = 0
    if unit is Unit.HOUR:
        # Real elapsed hours: add in UTC so a daylight-saving zone cannot shorten the period.
        due_at = anchor.astimezone(UTC) + dt.timedelta(hours=total)
        for pause_from, pause_to in state.pauses:
            if pause_from <= due_at:
                length = pause_to - pause_from
                due_at += length
                paused_units += int(length.total_seconds() // 3600)
        due_at = due_at.astimezone(UTC)
        due_date = due_at.astimezone(tz).date()
        provisional_years: tuple[int, ...] = ()
        raw_due = None
    else:
        if unit is Unit.WORKING_DAY:
            due_date, paused_units = _count_working_days(
                anchor_date, total, state.pauses, calendar, tz
            )
        elif unit is Unit.DAY:
            due_date, paused_units = _count_days(anchor_date, total, state.pauses, tz)
        else:
            target = (
                _add_months(anchor_date, total)
                if unit is Unit.MONTH
                else _fixed_date(effective, anchor_date, state.extended_by)
            )
            due_date, paused_units = _shift_by_pauses(target, state.pauses, tz)
        raw_due = due_date
        if unit is not Unit.WORKING_DAY and effective.roll_forward:
            due_date = calendar.roll_forward(due_date)
        else:
            calendar.kind(due_date)  # range check
        due_at = _end_of_day(due_date, tz)
        provisional_years = ()
        if effective.uses_calendar and calendar.is_provisional(anchor_date, due_date):
            provisional_years = calendar.provisional_years(anchor_date, due_date)
    return Deadline(
        rule=effective,
        start_date=anchor_date,
        due_date=due_date,
        due_at=due_at,
        provisional=bool(provisional_years),
        provisional_years=provisional_years,
        extended_by=state.extended_by,
        extensions=state.extensions,
        paused_units=paused_units,
        regime=regime,
        steps=_explain(effective, state, anchor, due_date, calendar, tz, regime, raw_due)
        if explain
        else (),
    )


_MIDNIGHTS: dict[dt.tzinfo, dict[dt.date, dt.datetime]] = {}


def _end_of_day(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """24:00 local of ``day`` as a UTC instant (memoised: a pure function of the date)."""
    table = _MIDNIGHTS.get(tz)
    if table is None:
        table = _MIDNIGHTS.setdefault(tz, {})
    moment = table.get(day)
    if moment is None:
        moment = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tz).astimezone(UTC)
        if len(table) < 100_000:
            table[day] = moment
    return moment


def _single_start(
    rule: DeadlineRule, event: ClockEvent, calendar: WorkdayCalendar, tz: dt.tzinfo
) -> Deadline:
    """The common case, kept lean: a clock with only its start event (no explanation)."""
    if event.kind is not ClockEventKind.START:
        raise ClockError(f"a clock must begin with a start event, not {event.kind.value}")
    at = event.at
    anchor_date = (at if at.tzinfo is tz else at.astimezone(tz)).date()
    regime = None
    if rule.regimes:
        rule, regime = rule.for_start(anchor_date)
    unit = rule.unit
    if unit is Unit.WORKING_DAY:
        due_date, provisional = calendar.working_day_due(anchor_date, rule.amount)
        return Deadline(
            rule=rule,
            start_date=anchor_date,
            due_date=due_date,
            due_at=_end_of_day(due_date, tz),
            provisional=provisional,
            provisional_years=calendar.provisional_years(anchor_date, due_date)
            if provisional
            else (),
            regime=regime,
        )
    if unit is Unit.DAY:
        due_date = anchor_date + dt.timedelta(days=rule.amount)
    elif unit is Unit.MONTH:
        due_date = _add_months(anchor_date, rule.amount)
    else:
        due_date = _fixed_date(rule, anchor_date, 0)
    due_date = calendar.roll_forward(due_date) if rule.roll_forward else due_date
    calendar.kind(due_date)  # range check
    provisional_years: tuple[int, ...] = ()
    if rule.roll_forward and calendar.is_provisional(anchor_date, due_date):
        provisional_years = calendar.provisional_years(anchor_date, due_date)
    return Deadline(
        rule=rule,
        start_date=anchor_date,
        due_date=due_date,
        due_at=_end_of_day(due_date, tz),
        provisional=bool(provisional_years),
        provisional_years=provisional_years,
        regime=regime,
    )


def _local_dates(
    pauses: list[tuple[dt.datetime, dt.datetime]], tz: dt.tzinfo
) -> list[tuple[dt.date, dt.date]]:
    return [(a.astimezone(tz).date(), b.astimezone(tz).date()) for a, b in pauses]


def _count_working_days(
    anchor: dt.date,
    total: int,
    pauses: list[tuple[dt.datetime, dt.datetime]],
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
) -> tuple[dt.date, int]:
    if not pauses:
        return calendar.add_workdays(anchor, total), 0
    current, remaining, skipped = anchor, total, 0
    for pause_from, pause_to in _local_dates(pauses, tz):
        used = calendar.workdays_between(current, pause_from)
        if used >= remaining:
            break
        remaining -= max(used, 0)
        if pause_to > current:
            skipped += calendar.workdays_between(max(pause_from, current), pause_to)
            current = pause_to
    return calendar.add_workdays(current, remaining), skipped


def _count_days(
    anchor: dt.date, total: int, pauses: list[tuple[dt.datetime, dt.datetime]], tz: dt.tzinfo
) -> tuple[dt.date, int]:
    current, remaining, skipped = anchor, total, 0
    for pause_from, pause_to in _local_dates(pauses, tz):
        used = (pause_from - current).days
        if used >= remaining:
            break
        remaining -= max(used, 0)
        if pause_to > current:
            skipped += (pause_to - max(pause_from, current)).days
            current = pause_to
    return current + dt.timedelta(days=remaining), skipped


def _shift_by_pauses(
    target: dt.date, pauses: list[tuple[dt.datetime, dt.datetime]], tz: dt.tzinfo
) -> tuple[dt.date, int]:
    skipped = 0
    for pause_from, pause_to in _local_dates(pauses, tz):
        if pause_from <= target:
            length = (pause_to - pause_from).days
            target += dt.timedelta(days=length)
            skipped += length
    return target, skipped


def _add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later, clamped to the month's last day (民法典 Art.202)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, monthrange(year, month)[1]))


def _fixed_date(rule: DeadlineRule, anchor: dt.date, extra_days: int) -> dt.date:
    shifted = _add_months(anchor, rule.years * 12 + rule.months)
    month = rule.month or shifted.month
    year = shifted.year
    day = rule.day or 1
    target = dt.date(year, month, min(day, monthrange(year, month)[1]))
    return target + dt.timedelta(days=extra_days)


# --------------------------------------------------------------------------- explanation


def _explain(
    rule: DeadlineRule,
    state: _Replay,
    anchor: dt.datetime,
    due_date: dt.date | None,
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
    regime: RegimeOverride | None,
    raw_due: dt.date | None = None,
) -> tuple[Step, ...]:
    steps: list[Step] = []
    if regime is not None:
        steps.append(Step("regime", {"before": regime.before, "basis": regime.basis, "rule": rule}))
    steps.append(Step("start", {"date": state.first_start, "unit": rule.unit, "rule": rule}))
    for restart_at in state.restarts:
        steps.append(Step("restart", {"date": restart_at.astimezone(tz).date()}))
    for extension in state.extension_log:
        steps.append(
            Step(
                "extend",
                {"amount": extension.amount, "approver": extension.approver, "unit": rule.unit},
            )
        )
    anchor_date = anchor.date()
    pauses = _local_dates(state.pauses, tz)
    if state.open_pause is not None:
        steps.append(Step("paused", {"date": state.open_pause.astimezone(tz).date()}))
        return tuple(steps)
    assert due_date is not None
    if rule.unit is Unit.HOUR:
        due_at = anchor + dt.timedelta(hours=rule.amount + state.extended_by)
        steps.append(
            Step("hours", {"from": anchor, "hours": rule.amount + state.extended_by, "to": due_at})
        )
        for pause_from, pause_to in state.pauses:
            steps.append(
                Step(
                    "pause_hours",
                    {"from": pause_from.astimezone(tz), "to": pause_to.astimezone(tz)},
                )
            )
            if pause_from <= due_at:
                due_at += pause_to - pause_from
        if state.pauses:
            steps.append(Step("due_at", {"at": due_at.astimezone(tz)}))
        return tuple(steps)
    if rule.unit in (Unit.WORKING_DAY, Unit.DAY):
        steps.extend(_walk(anchor_date, raw_due or due_date, rule, pauses, calendar))
    else:
        steps.append(
            Step("calendar_target", {"from": anchor_date, "rule": rule, "extra": state.extended_by})
        )
        for day_from, day_to in pauses:
            steps.append(
                Step(
                    "pause_days",
                    {"from": day_from, "to": day_to, "days": (day_to - day_from).days},
                )
            )
    if raw_due is not None and raw_due != due_date:
        steps.append(
            Step("roll_forward", {"from": raw_due, "to": due_date, "kind": calendar.day(raw_due)})
        )
    steps.append(Step("due", {"date": due_date}))
    if rule.uses_calendar and calendar.is_provisional(anchor_date, due_date):
        steps.append(
            Step("provisional", {"years": calendar.provisional_years(anchor_date, due_date)})
        )
    return tuple(steps)


def _walk(
    anchor: dt.date,
    due: dt.date,
    rule: DeadlineRule,
    pauses: list[tuple[dt.date, dt.date]],
    calendar: WorkdayCalendar,
) -> list[Step]:
    """Group the days between anchor and due into readable runs."""
    steps: list[Step] = []
    count = 0
    run: dict[str, Any] | None = None
    pause_starts = [a for a, _ in pauses]
    day = anchor + dt.timedelta(days=1)
    while day <= due:
        position = bisect_right(pause_starts, day - dt.timedelta(days=1)) - 1
        in_pause = position >= 0 and pauses[position][0] < day <= pauses[position][1]
        info = calendar.day(day)
        if in_pause:
            category = "paused"
            counted = False
        elif rule.unit is Unit.WORKING_DAY:
            counted = info.is_workday
            category = "count" if info.kind.value == "workday" else info.kind.value
        else:
            counted = True
            category = "count"
        if counted:
            count += 1
        key = (category, info.holiday if category in ("holiday", "makeup") else None)
        if run is not None and run["key"] == key and category != "makeup":
            run["to"] = day
            run["last"] = count
        else:
            if run is not None:
                steps.append(_run_step(run))
            run = {
                "key": key,
                "category": category,
                "from": day,
                "to": day,
                "first": count,
                "last": count,
                "holiday": info.holiday,
                "counted": counted,
                "unit": rule.unit,
            }
        day += dt.timedelta(days=1)
    if run is not None:
        steps.append(_run_step(run))
    return steps


def _run_step(run: dict[str, Any]) -> Step:
    return Step(
        "run",
        {
            "category": run["category"],
            "from": run["from"],
            "to": run["to"],
            "first": run["first"],
            "last": run["last"],
            "holiday": run["holiday"],
            "counted": run["counted"],
            "unit": run["unit"],
        },
    )
