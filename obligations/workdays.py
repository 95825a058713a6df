"""The Chinese working-day calendar: official years, loaded notices and provisional estimates.

Every day of the covered range has a kind (working day, rest day, make-up working day
调休上班, holiday 放假), the name of its holiday, and the source it came from:

1. ``chinesecalendar`` — the package's data for the years it covers (2004–2026 in 1.11.0);
2. a State Council notice (国务院办公厅关于…部分节假日安排的通知) shipped with gongkai or
   loaded by the user; a notice wins over the package for the days it lists;
3. an estimate for any other year: weekends plus the statutory festival days computed from
   the lunar calendar and solar terms. Such a year is *provisional*, and so is every answer
   that touches it — never a silent guess.

Lookups never walk day by day: the working days of the whole range are kept as a sorted
array of ordinals, so adding N working days is one binary search.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from obligations.errors import NoticeError, OutOfRangeError
from obligations.yamlsource import YamlSyntaxError, parse_yaml

FIRST_YEAR = 2004
LAST_YEAR = 2040

#: A notice for year Y may move days at the very end of year Y-1 (the 2019 notice made
#: Sat 2018-12-29 a working day), so those days are provisional while Y is.
CROSS_YEAR_DAYS = 8

PACKAGE_SOURCE = "chinesecalendar"
ESTIMATE_SOURCE = "estimate"

HOLIDAY_NAMES_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}
HOLIDAY_NAMES_EN = {zh: en for en, zh in HOLIDAY_NAMES_ZH.items()}


class DayKind(StrEnum):
    """What a day is for counting purposes."""

    WORKDAY = "workday"
    REST = "rest"
    MAKEUP = "makeup"
    HOLIDAY = "holiday"

    @property
    def is_working(self) -> bool:
        return self in (DayKind.WORKDAY, DayKind.MAKEUP)

    def label(self, lang: str = "zh") -> str:
        return _KIND_LABELS[lang][self]


_KIND_LABELS = {
    "zh": {
        DayKind.WORKDAY: "工作日",
        DayKind.REST: "休息日",
        DayKind.MAKEUP: "调休上班",
        DayKind.HOLIDAY: "放假",
    },
    "en": {
        DayKind.WORKDAY: "working day",
        DayKind.REST: "rest day",
        DayKind.MAKEUP: "make-up working day",
        DayKind.HOLIDAY: "holiday",
    },
}

_KIND_CODES = {DayKind.WORKDAY: 0, DayKind.REST: 1, DayKind.MAKEUP: 2, DayKind.HOLIDAY: 3}
_CODE_KINDS = {code: kind for kind, code in _KIND_CODES.items()}


class YearStatus(StrEnum):
    """Whether a year's holidays come from an official notice or an estimate."""

    OFFICIAL = "official"
    PROVISIONAL = "provisional"


@dataclass(frozen=True, slots=True)
class DayInfo:
    """One day of the calendar and where its status came from."""

    date: dt.date
    kind: DayKind
    holiday: str | None
    source: str
    provisional: bool

    @property
    def is_workday(self) -> bool:
        return self.kind.is_working


@dataclass(frozen=True, slots=True)
class YearCoverage:
    """The status of one year: official (and from which source) or provisional."""

    year: int
    status: YearStatus
    source: str
    holidays: int
    makeup_workdays: int
    workdays: int


# --------------------------------------------------------------------------- notices


class EntryError(ValueError):
    """A whole-notice check that objects to one entry; ``loc`` points at it for the line."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class NoticeHoliday(BaseModel):
    """One holiday block of a notice: ``name`` off from ``from`` to ``to`` inclusive."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(min_length=1)
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> NoticeHoliday:
        if self.end < self.start:
            raise ValueError(f"'to' ({self.end}) is before 'from' ({self.start})")
        if (self.end - self.start).days > 14:
            raise ValueError("a holiday block longer than 15 days is not plausible")
        return self


class NoticeMakeup(BaseModel):
    """A weekend day declared a working day (调休上班)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    date: dt.date
    for_holiday: str = Field(alias="for", min_length=1)

    @model_validator(mode="after")
    def _weekend(self) -> NoticeMakeup:
        if self.date.weekday() < 5:
            raise ValueError(f"{self.date} is a weekday; a make-up working day must be a weekend")
        return self


class HolidayNotice(BaseModel):
    """A State Council holiday notice for one year, as shipped or loaded by a user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    year: int = Field(ge=FIRST_YEAR, le=LAST_YEAR)
    title: str = Field(min_length=4)
    number: str | None = None
    published: dt.date | None = None
    url: str | None = None
    holidays: tuple[NoticeHoliday, ...] = Field(min_length=1)
    makeup_workdays: tuple[NoticeMakeup, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> HolidayNotice:
        if not (self.number or self.url):
            raise ValueError("a notice must cite its document: give 'number' or 'url'")
        first = dt.date(self.year - 1, 12, 31 - CROSS_YEAR_DAYS + 1)
        last = dt.date(self.year, 12, 31)
        off: set[dt.date] = set()
        for index, block in enumerate(self.holidays):
            if block.start < first or block.end > last:
                raise EntryError(
                    ("holidays", index),
                    f"holiday {block.name} {block.start}..{block.end} is outside {self.year}",
                )
            off.update(_days(block.start, block.end))
        for index, makeup in enumerate(self.makeup_workdays):
            where = ("makeup_workdays", index)
            if makeup.date < first or makeup.date > last:
                raise EntryError(where, f"make-up working day {makeup.date} is outside {self.year}")
            if makeup.date in off:
                raise EntryError(
                    where, f"{makeup.date} is both a holiday and a make-up working day"
                )
        return self

    @property
    def source(self) -> str:
        return self.number or self.title

    def days(self) -> dict[dt.date, tuple[DayKind, str]]:
        """Every day this notice decides, with its kind and holiday name."""
        decided: dict[dt.date, tuple[DayKind, str]] = {}
        for block in self.holidays:
            for day in _days(block.start, block.end):
                decided[day] = (DayKind.HOLIDAY, block.name)
        for makeup in self.makeup_workdays:
            decided[makeup.date] = (DayKind.MAKEUP, makeup.for_holiday)
        return decided


def parse_notice(text: str, *, source: str) -> HolidayNotice:
    """Validate a notice YAML text; problems are raised as one line each (file:line: field)."""
    try:
        document = parse_yaml(text, source=source)
    except YamlSyntaxError as exc:
        raise NoticeError(str(exc)) from None
    if not isinstance(document.data, dict):
        raise NoticeError(f"{source}:1: a notice must be a mapping with year, title, holidays")
    try:
        return HolidayNotice.model_validate(document.data)
    except ValidationError as exc:
        raise NoticeError("\n".join(document.problems(exc))) from None


def shipped_notices() -> list[HolidayNotice]:
    """The notices that ship inside the package (``obligations/notices/*.yaml``)."""
    folder = resources.files("obligations").joinpath("notices")
    notices = []
    for entry in sorted(folder.iterdir(), key=lambda item: item.name):
        if entry.name.endswith(".yaml"):
            text = entry.read_text(encoding="utf-8")
            notices.append(parse_notice(text, source=f"obligations/notices/{entry.name}"))
    return notices


# --------------------------------------------------------------------------- calendar


def _days(start: dt.date, end: dt.date) -> Iterable[dt.date]:
    for offset in range((end - start).days + 1):
        yield start + dt.timedelta(days=offset)


def _package_days() -> tuple[range, dict[dt.date, tuple[DayKind, str]]]:
    """The chinesecalendar package's years and its decided days."""
    from chinese_calendar import constants

    decided: dict[dt.date, tuple[DayKind, str]] = {}
    for day, name in constants.holidays.items():
        decided[day] = (DayKind.HOLIDAY, HOLIDAY_NAMES_ZH.get(name, name))
    for day, name in constants.workdays.items():
        decided[day] = (DayKind.MAKEUP, HOLIDAY_NAMES_ZH.get(name, name))
    years = range(min(d.year for d in decided), max(d.year for d in decided) + 1)
    return years, decided


def estimate_year(year: int) -> dict[dt.date, tuple[DayKind, str]]:
    """Rule-based holidays for a year without a notice (放假办法 as in force from 2025).

    元旦 1 day, 春节 4 days (除夕 to 初三), 清明 1, 劳动节 2, 端午 1, 中秋 1, 国庆 3; a
    statutory day on a weekend gives a day off on the next free weekday (Art.6 补假). No
    make-up working days are guessed: only a notice can declare those.
    """
    from chinese_calendar import get_solar_terms
    from lunardate import LunarDate

    def lunar(month: int, day: int) -> dt.date:
        solar: dt.date = LunarDate(year, month, day).to_solar_date()
        return solar

    new_year = lunar(1, 1)
    qingming = next(
        d
        for d, name in get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 10))
        if name == "清明"
    )
    statutory: list[tuple[dt.date, str]] = [
        (dt.date(year, 1, 1), "元旦"),
        *((new_year + dt.timedelta(days=k), "春节") for k in range(-1, 3)),
        (qingming, "清明节"),
        (dt.date(year, 5, 1), "劳动节"),
        (dt.date(year, 5, 2), "劳动节"),
        (lunar(5, 5), "端午节"),
        (lunar(8, 15), "中秋节"),
        *((dt.date(year, 10, day), "国庆节") for day in (1, 2, 3)),
    ]
    decided = {day: (DayKind.HOLIDAY, name) for day, name in statutory}
    for day, name in statutory:
        if day.weekday() >= 5:
            substitute = day + dt.timedelta(days=1)
            while substitute.weekday() >= 5 or substitute in decided:
                substitute += dt.timedelta(days=1)
            decided[substitute] = (DayKind.HOLIDAY, name)
    return {day: value for day, value in decided.items() if day.year == year}


@dataclass
class WorkdayCalendar:
    """Precomputed day statuses for ``first_year``..``last_year`` with O(log n) lookups.

    Build it with :meth:`build`; it is immutable afterwards and safe to share.
    """

    first_year: int
    last_year: int
    _base: int = field(repr=False)
    _kinds: bytearray = field(repr=False)
    _workdays: list[int] = field(repr=False)
    _names: dict[int, str] = field(repr=False)
    _sources: dict[int, str] = field(repr=False)
    _year_sources: dict[int, str] = field(repr=False)
    _provisional_years: frozenset[int] = field(repr=False)
    _prov_starts: list[int] = field(repr=False)
    _prov_ends: list[int] = field(repr=False)
    _first_provisional: int = field(repr=False, default=0)

    @classmethod
    def build(
        cls,
        notices: Iterable[HolidayNotice] = (),
        *,
        first_year: int = FIRST_YEAR,
        last_year: int = LAST_YEAR,
        use_package: bool = True,
    ) -> WorkdayCalendar:
        """Layer package data, then notices (later ones win), then estimates for the rest."""
        package_years, package_days = _package_days() if use_package else (range(0), {})
        by_year: dict[int, HolidayNotice] = {}
        for notice in notices:
            by_year[notice.year] = notice
        base = dt.date(first_year, 1, 1).toordinal()
        end = dt.date(last_year, 12, 31).toordinal()
        kinds = bytearray(end - base + 1)
        for ordinal in range(base, end + 1):
            weekend = dt.date.fromordinal(ordinal).weekday() >= 5
            kinds[ordinal - base] = _KIND_CODES[DayKind.REST if weekend else DayKind.WORKDAY]
        names: dict[int, str] = {}
        sources: dict[int, str] = {}
        year_sources: dict[int, str] = {}
        provisional: set[int] = set()

        def apply(decided: dict[dt.date, tuple[DayKind, str]], source: str) -> None:
            for day, (kind, name) in decided.items():
                ordinal = day.toordinal()
                if base <= ordinal <= end:
                    kinds[ordinal - base] = _KIND_CODES[kind]
                    names[ordinal] = name
                    sources[ordinal] = source

        for year in range(first_year, last_year + 1):
            if year in by_year or year in package_years:
                continue
            provisional.add(year)
            year_sources[year] = ESTIMATE_SOURCE
            apply(estimate_year(year), ESTIMATE_SOURCE)
        for year in package_years:
            if first_year <= year <= last_year and year not in by_year:
                year_sources[year] = PACKAGE_SOURCE
                apply({d: v for d, v in package_days.items() if d.year == year}, PACKAGE_SOURCE)
        for year in sorted(by_year):
            if first_year <= year <= last_year:
                notice = by_year[year]
                year_sources[year] = notice.source
                # A notice replaces whatever the year had before: reset its days first.
                for ordinal in range(
                    dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal() + 1
                ):
                    weekend = dt.date.fromordinal(ordinal).weekday() >= 5
                    kinds[ordinal - base] = _KIND_CODES[
                        DayKind.REST if weekend else DayKind.WORKDAY
                    ]
                    names.pop(ordinal, None)
                    sources.pop(ordinal, None)
                apply(notice.days(), notice.source)

        workdays = [
            base + index for index, code in enumerate(kinds) if _CODE_KINDS[code].is_working
        ]
        spans: list[tuple[int, int]] = []
        for year in sorted(provisional):
            start = dt.date(year - 1, 12, 31 - CROSS_YEAR_DAYS + 1).toordinal()
            stop = dt.date(year, 12, 31).toordinal()
            if spans and start <= spans[-1][1] + 1:
                spans[-1] = (spans[-1][0], stop)
            else:
                spans.append((start, stop))
        return cls(
            first_year=first_year,
            last_year=last_year,
            _base=base,
            _kinds=kinds,
            _workdays=workdays,
            _names=names,
            _sources=sources,
            _year_sources=year_sources,
            _provisional_years=frozenset(provisional),
            _prov_starts=[start for start, _ in spans],
            _prov_ends=[stop for _, stop in spans],
            _first_provisional=spans[0][0] if spans else end + 1,
        )

    # ----------------------------------------------------------------- single days

    def _index(self, day: dt.date) -> int:
        index = day.toordinal() - self._base
        if index < 0 or index >= len(self._kinds):
            raise OutOfRangeError(
                f"date {day.isoformat()} is outside the calendar's range "
                f"{self.first_year}-01-01..{self.last_year}-12-31"
            )
        return index

    def kind(self, day: dt.date) -> DayKind:
        return _CODE_KINDS[self._kinds[self._index(day)]]

    def is_workday(self, day: dt.date) -> bool:
        """True on ordinary working days and on make-up working days (调休上班)."""
        return self._kinds[self._index(day)] in (0, 2)

    def day(self, day: dt.date) -> DayInfo:
        """Everything known about one day, including its source and provisional flag."""
        index = self._index(day)
        ordinal = day.toordinal()
        source = self._sources.get(ordinal, self._year_sources[day.year])
        return DayInfo(
            date=day,
            kind=_CODE_KINDS[self._kinds[index]],
            holiday=self._names.get(ordinal),
            source=source,
            provisional=self.is_provisional(day, day),
        )

    # ----------------------------------------------------------------- counting

    def add_workdays(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day after ``day`` (``day`` itself not counted; n=0 → ``day``).

        A negative n gives the |n|-th working day before ``day``.
        """
        ordinal = day.toordinal()
        if ordinal < self._base or ordinal - self._base >= len(self._kinds):
            self._index(day)  # raises with the range in the message
        workdays = self._workdays
        if n > 0:
            position = bisect_right(workdays, ordinal) + n - 1
        elif n < 0:
            position = bisect_left(workdays, ordinal) + n
        else:
            return day
        if position < 0 or position >= len(workdays):
            raise OutOfRangeError(
                f"{day.isoformat()} {n:+d} working days is outside the calendar's range "
                f"{self.first_year}..{self.last_year}"
            )
        return dt.date.fromordinal(workdays[position])

    def working_day_due(self, day: dt.date, n: int) -> tuple[dt.date, bool]:
        """``add_workdays(day, n)`` for n ≥ 0 and whether [day, due] is provisional, in one
        step: the hot path of deadline computation."""
        ordinal = day.toordinal()
        if n <= 0 or ordinal < self._base or ordinal - self._base >= len(self._kinds):
            due = self.add_workdays(day, n)
            return due, self.is_provisional(day, due)
        workdays = self._workdays
        position = bisect_right(workdays, ordinal) + n - 1
        if position >= len(workdays):
            self.add_workdays(day, n)  # raises with the range in the message
        due_ordinal = workdays[position]
        if due_ordinal < self._first_provisional:
            return dt.date.fromordinal(due_ordinal), False
        due = dt.date.fromordinal(due_ordinal)
        return due, self.is_provisional(day, due)

    def workdays_between(self, start: dt.date, end: dt.date) -> int:
        """Working days in (start, end]; negative when ``end`` is before ``start``."""
        self._index(start)
        self._index(end)
        workdays = self._workdays
        return bisect_right(workdays, end.toordinal()) - bisect_right(workdays, start.toordinal())

    def roll_forward(self, day: dt.date) -> dt.date:
        """``day`` if it is a working day, else the next working day (民法典 Art.203)."""
        index = self._index(day)
        if self._kinds[index] in (0, 2):
            return day
        position = bisect_left(self._workdays, day.toordinal())
        if position >= len(self._workdays):
            raise OutOfRangeError(f"no working day after {day.isoformat()} within the calendar")
        return dt.date.fromordinal(self._workdays[position])

    # ----------------------------------------------------------------- status

    def is_provisional(self, start: dt.date, end: dt.date) -> bool:
        """True if any day in [start, end] may still be changed by a notice not yet loaded."""
        low, high = (start, end) if start <= end else (end, start)
        position = bisect_left(self._prov_ends, low.toordinal())
        return position < len(self._prov_starts) and self._prov_starts[position] <= high.toordinal()

    def provisional_years(self, start: dt.date, end: dt.date) -> tuple[int, ...]:
        """The provisional years whose notice could still change a day in [start, end]."""
        low, high = (start, end) if start <= end else (end, start)
        found = []
        for year in range(low.year, high.year + 2):
            window_start = dt.date(year - 1, 12, 31 - CROSS_YEAR_DAYS + 1)
            if (
                year in self._provisional_years
                and window_start <= high
                and low <= dt.date(year, 12, 31)
            ):
                found.append(year)
        return tuple(found)

    def year_status(self, year: int) -> YearStatus:
        if year < self.first_year or year > self.last_year:
            raise OutOfRangeError(
                f"year {year} is outside the calendar's range {self.first_year}..{self.last_year}"
            )
        return YearStatus.PROVISIONAL if year in self._provisional_years else YearStatus.OFFICIAL

    def coverage(self, years: Sequence[int] | None = None) -> list[YearCoverage]:
        """Status, source and day counts per year."""
        rows = []
        for year in years or range(self.first_year, self.last_year + 1):
            start = dt.date(year, 1, 1).toordinal() - self._base
            stop = dt.date(year, 12, 31).toordinal() - self._base + 1
            chunk = self._kinds[start:stop]
            rows.append(
                YearCoverage(
                    year=year,
                    status=self.year_status(year),
                    source=self._year_sources[year],
                    holidays=chunk.count(_KIND_CODES[DayKind.HOLIDAY]),
                    makeup_workdays=chunk.count(_KIND_CODES[DayKind.MAKEUP]),
                    workdays=chunk.count(0) + chunk.count(2),
                )
            )
        return rows


@lru_cache(maxsize=1)
def default_calendar() -> WorkdayCalendar:
    """The package data plus the notices shipped with gongkai (built once per process)."""
    return WorkdayCalendar.build(shipped_notices())
