"""Classify how a task closed: on time, on time within an approved extension, or late.

The facts computed here are stored on the task when it closes, so year-end statistics are
aggregation over stored facts, never a recomputation under today's calendar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from obligations.workdays import WorkdayCalendar


class Timeliness(StrEnum):
    ON_TIME = "on_time"  # 按时
    EXTENDED_ON_TIME = "extended_on_time"  # 延期办结 (within an approved extension)
    LATE = "late"  # 逾期

    def label(self, lang: str = "zh") -> str:
        return _LABELS[lang][self]


_LABELS = {
    "zh": {
        Timeliness.ON_TIME: "按时",
        Timeliness.EXTENDED_ON_TIME: "延期办结",
        Timeliness.LATE: "逾期",
    },
    "en": {
        Timeliness.ON_TIME: "on time",
        Timeliness.EXTENDED_ON_TIME: "on time (extended)",
        Timeliness.LATE: "late",
    },
}


@dataclass(frozen=True, slots=True)
class ClosingFacts:
    """What the statistics need about one closed task.

    ``working_days_margin`` is positive when finished early (working days left before the
    due day) and negative when late (working days after the due day).
    """

    timeliness: Timeliness
    working_days_margin: int
    extended: bool


def classify(
    *,
    done_at: dt.datetime,
    due_at: dt.datetime,
    due_without_extension_at: dt.datetime | None,
    calendar: WorkdayCalendar,
    tz: dt.tzinfo,
) -> ClosingFacts:
    """Compare the moment the duty was done with its due moment (both aware).

    ``due_without_extension_at`` is the due moment the clock would have had without its
    extensions (``None`` when it was never extended).
    """
    done_date = done_at.astimezone(tz).date()
    # due_at is 24:00 of the due day, i.e. 00:00 of the following day.
    due_date = (due_at.astimezone(tz) - dt.timedelta(microseconds=1)).date()
    extended = due_without_extension_at is not None
    if done_at < due_at:
        margin = calendar.workdays_between(done_date, due_date)
        if (
            extended
            and due_without_extension_at is not None
            and done_at >= due_without_extension_at
        ):
            return ClosingFacts(Timeliness.EXTENDED_ON_TIME, margin, True)
        return ClosingFacts(Timeliness.ON_TIME, margin, extended)
    late_by = max(calendar.workdays_between(due_date, done_date), 1 if done_date > due_date else 0)
    return ClosingFacts(Timeliness.LATE, -late_by, extended)
