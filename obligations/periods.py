"""Reporting periods of recurring duties: weeks, months, quarters and years.

A period has a stable key (``2026-W48``, ``2026-11``, ``2026-Q4``, ``2026``) that makes
spawning idempotent: one task per (obligation, section, period key). The clock of a
recurring task is anchored on the period's last day, so "5th working day of the next month"
is ``working_day 5`` and "31 January of the next year" is a ``fixed_date`` rule.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from obligations.errors import ObligationsError


class Recurrence(StrEnum):
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"
    YEAR = "year"


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A closed date range [first, last] with its key."""

    first: dt.date
    last: dt.date
    kind: Recurrence
    key: str

    def label(self, lang: str = "zh") -> str:
        if self.kind is Recurrence.YEAR:
            return f"{self.first.year}年" if lang == "zh" else str(self.first.year)
        if self.kind is Recurrence.QUARTER:
            quarter = (self.first.month - 1) // 3 + 1
            return (
                f"{self.first.year}年第{quarter}季度"
                if lang == "zh"
                else f"{self.first.year} Q{quarter}"
            )
        if self.kind is Recurrence.MONTH:
            return f"{self.first.year}年{self.first.month}月" if lang == "zh" else self.key
        iso_year, week, _ = self.first.isocalendar()
        return f"{iso_year}年第{week}周" if lang == "zh" else f"{iso_year} week {week}"


def period_of(kind: Recurrence, day: dt.date) -> Period:
    """The period of ``kind`` that contains ``day``."""
    if kind is Recurrence.WEEK:
        first = day - dt.timedelta(days=day.weekday())
        iso_year, week, _ = first.isocalendar()
        return Period(first, first + dt.timedelta(days=6), kind, f"{iso_year}-W{week:02d}")
    if kind is Recurrence.MONTH:
        first = day.replace(day=1)
        return Period(first, _month_end(first), kind, f"{day.year}-{day.month:02d}")
    if kind is Recurrence.QUARTER:
        quarter = (day.month - 1) // 3
        first = dt.date(day.year, quarter * 3 + 1, 1)
        last = _month_end(dt.date(day.year, quarter * 3 + 3, 1))
        return Period(first, last, kind, f"{day.year}-Q{quarter + 1}")
    return Period(dt.date(day.year, 1, 1), dt.date(day.year, 12, 31), kind, str(day.year))


def periods_between(kind: Recurrence, start: dt.date, end: dt.date) -> Iterator[Period]:
    """Every period of ``kind`` that overlaps [start, end], in order."""
    period = period_of(kind, start)
    while period.first <= end:
        yield period
        period = period_of(kind, period.last + dt.timedelta(days=1))


_KEY_PATTERNS = {
    Recurrence.WEEK: re.compile(r"^(\d{4})-W(\d{2})$", re.ASCII),
    Recurrence.MONTH: re.compile(r"^(\d{4})-(\d{2})$", re.ASCII),
    Recurrence.QUARTER: re.compile(r"^(\d{4})-Q([1-4])$", re.ASCII),
    Recurrence.YEAR: re.compile(r"^(\d{4})$", re.ASCII),
}


def parse_period(key: str) -> Period:
    """The period named by ``key``; a malformed key raises with the accepted forms."""
    for kind, pattern in _KEY_PATTERNS.items():
        match = pattern.fullmatch(key)
        if not match:
            continue
        year = int(match.group(1))
        try:
            if kind is Recurrence.WEEK:
                return period_of(kind, dt.date.fromisocalendar(year, int(match.group(2)), 1))
            if kind is Recurrence.MONTH:
                return period_of(kind, dt.date(year, int(match.group(2)), 1))
            if kind is Recurrence.QUARTER:
                return period_of(kind, dt.date(year, (int(match.group(2)) - 1) * 3 + 1, 1))
            return period_of(kind, dt.date(year, 1, 1))
        except ValueError:
            break
    raise ObligationsError(f"period {key!r} is not one of YYYY, YYYY-Qn, YYYY-MM, YYYY-Www")


def _month_end(first: dt.date) -> dt.date:
    following = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return following - dt.timedelta(days=1)
