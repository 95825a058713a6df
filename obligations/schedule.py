"""When a task needs attention: its reminder stages, the overdue moment and escalations.

The plan is a pure function of the task's due moment, its rule snapshot and the calendar.
Stages are numbered in time order; a task stores the highest stage already handed to the
outbox (``stage_done``) and the instant of the next one (``next_action_at``), so the sweep
finds due work through an index instead of scanning every open task.

Day-based reminders are delivered at ``delivery_time`` (09:00 local by default) on the
working day that is ``before`` working days ahead of the due day; hour-based ones at
``due_at - before hours``. The overdue stage fires at the due moment itself. An escalation
``after`` N working days overdue fires at ``delivery_time`` on the N-th working day after
the due day (hour duties: N hours after the due moment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from obligations.workdays import WorkdayCalendar

UTC = dt.UTC


class StageKind(StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"
    ESCALATION = "escalation"


@dataclass(frozen=True, slots=True)
class Stage:
    index: int
    kind: StageKind
    at: dt.datetime
    #: reminders: units before due; escalations: units overdue; overdue: 0
    offset: int
    #: who is addressed: "section" (its chief and staff), "office" or "leader"
    audience: str

    @property
    def name(self) -> str:
        if self.kind is StageKind.OVERDUE:
            return "overdue"
        return f"{self.kind.value}-{self.offset}-{self.audience}"


def plan_stages(
    *,
    due_date: dt.date,
    due_at: dt.datetime,
    hourly: bool,
    reminders: list[int],
    escalations: list[tuple[int, str]],
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
    delivery_time: dt.time = dt.time(9, 0),
) -> list[Stage]:
    """Every stage of one task in time order (ties keep reminder < overdue < escalation)."""
    raw: list[tuple[dt.datetime, int, StageKind, int, str]] = []
    for before in sorted(set(reminders), reverse=True):
        if hourly:
            moment = due_at - dt.timedelta(hours=before)
        else:
            day = (
                calendar.add_workdays(due_date, -before)
                if before
                else calendar.roll_forward(due_date)
            )
            if day > due_date:  # the due day is a rest day (no roll-forward): remind before it
                day = calendar.add_workdays(due_date, -1)
            moment = dt.datetime.combine(day, delivery_time, tz)
        raw.append((moment.astimezone(UTC), 0, StageKind.REMINDER, before, "section"))
    raw.append((due_at.astimezone(UTC), 1, StageKind.OVERDUE, 0, "section"))
    for after, audience in escalations:
        if hourly:
            moment = due_at + dt.timedelta(hours=after)
        else:
            day = calendar.add_workdays(due_date, max(after, 1))
            moment = dt.datetime.combine(day, delivery_time, tz)
        raw.append((moment.astimezone(UTC), 2, StageKind.ESCALATION, after, audience))
    raw.sort(key=lambda item: (item[0], item[1], item[3]))
    return [
        Stage(index=index, kind=kind, at=moment, offset=offset, audience=audience)
        for index, (moment, _, kind, offset, audience) in enumerate(raw)
    ]


def next_stage(stages: list[Stage], stage_done: int) -> Stage | None:
    """The first stage after ``stage_done`` (None when every stage was handed out)."""
    for stage in stages:
        if stage.index > stage_done:
            return stage
    return None


def due_stages(stages: list[Stage], stage_done: int, *, at: dt.datetime) -> list[Stage]:
    """Stages after ``stage_done`` whose moment has come by ``at`` (catch-up after downtime)."""
    return [stage for stage in stages if stage.index > stage_done and stage.at <= at]
