"""The working-day calendar: official data, notices, estimates and range checks.

Reference data: chinesecalendar 1.11.0 (2004–2026) and the State Council notices. The 2027
notice used here is a FICTIONAL fixture (tests/fixtures/notices/2027-fictional.yaml).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from lunardate import LunarDate

from obligations.clocks import compute_due, start
from obligations.errors import NoticeError, OutOfRangeError
from obligations.rules import DeadlineRule, Unit
from obligations.workdays import (
    ESTIMATE_SOURCE,
    HOLIDAY_NAMES_ZH,
    PACKAGE_SOURCE,
    DayKind,
    HolidayNotice,
    WorkdayCalendar,
    YearStatus,
    default_calendar,
    estimate_year,
    parse_notice,
    shipped_notices,
)

TZ = ZoneInfo("Asia/Shanghai")
D = dt.date
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "notices"
FICTIONAL_2027 = FIXTURES / "2027-fictional.yaml"
NOTICE_2026_TITLE = "国务院办公厅关于2026年部分节假日安排的通知"


@pytest.fixture(scope="module")
def cal() -> WorkdayCalendar:
    return default_calendar()


@pytest.fixture(scope="module")
def notice_2027() -> HolidayNotice:
    return parse_notice(FICTIONAL_2027.read_text(encoding="utf-8"), source=FICTIONAL_2027.name)


@pytest.fixture(scope="module")
def cal_2027(notice_2027: HolidayNotice) -> WorkdayCalendar:
    return WorkdayCalendar.build([*shipped_notices(), notice_2027])


def every_day(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


# --------------------------------------------------------------------------- official data


def test_is_workday_matches_chinese_calendar_on_every_day_2004_to_2026(
    cal: WorkdayCalendar,
) -> None:
    days = every_day(D(2004, 1, 1), D(2026, 12, 31))
    assert len(days) == 8401
    mismatches = [day for day in days if cal.is_workday(day) != chinese_calendar.is_workday(day)]
    assert mismatches == []


def test_kinds_and_holiday_names_match_chinese_calendar_2004_to_2026(
    cal: WorkdayCalendar,
) -> None:
    mismatches = []
    for day in every_day(D(2004, 1, 1), D(2026, 12, 31)):
        off, name = chinese_calendar.get_holiday_detail(day)
        zh = HOLIDAY_NAMES_ZH.get(name, name) if name else None
        if name is None:
            expected = (DayKind.REST if off else DayKind.WORKDAY, None)
        else:
            expected = (DayKind.HOLIDAY if off else DayKind.MAKEUP, zh)
        info = cal.day(day)
        if (info.kind, info.holiday) != expected:
            mismatches.append((day, info.kind, info.holiday, expected))
    assert mismatches == []


@pytest.mark.parametrize(
    ("day", "kind", "holiday", "is_workday"),
    [
        (D(2024, 9, 29), DayKind.MAKEUP, "国庆节", True),  # Sun, make-up working day
        (D(2024, 10, 12), DayKind.MAKEUP, "国庆节", True),  # Sat, make-up working day
        (D(2024, 9, 28), DayKind.REST, None, False),  # ordinary Saturday
        (D(2024, 10, 1), DayKind.HOLIDAY, "国庆节", False),
        (D(2024, 10, 8), DayKind.WORKDAY, None, True),
        (D(2025, 1, 28), DayKind.HOLIDAY, "春节", False),  # 除夕, a statutory day from 2025
        (D(2025, 1, 26), DayKind.MAKEUP, "春节", True),  # Sun
        (D(2025, 2, 8), DayKind.MAKEUP, "春节", True),  # Sat
        (D(2026, 2, 14), DayKind.MAKEUP, "春节", True),  # Sat
        (D(2026, 2, 23), DayKind.HOLIDAY, "春节", False),  # Mon, last day of 9
        (D(2026, 2, 28), DayKind.MAKEUP, "春节", True),  # Sat
        (D(2026, 9, 20), DayKind.MAKEUP, "国庆节", True),  # Sun
        (D(2026, 10, 10), DayKind.MAKEUP, "国庆节", True),  # Sat
        (
            D(2015, 9, 3),
            DayKind.HOLIDAY,
            "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
            False,
        ),
    ],
)
def test_day_info_samples(
    cal: WorkdayCalendar, day: dt.date, kind: DayKind, holiday: str | None, is_workday: bool
) -> None:
    info = cal.day(day)
    assert info.date == day
    assert info.kind is kind
    assert info.holiday == holiday
    assert info.is_workday is is_workday
    assert cal.is_workday(day) is is_workday
    assert cal.kind(day) is kind
    assert info.provisional is False


def test_day_sources(cal: WorkdayCalendar) -> None:
    assert cal.day(D(2024, 9, 29)).source == PACKAGE_SOURCE
    assert cal.day(D(2024, 9, 28)).source == PACKAGE_SOURCE
    # 2026 comes from the shipped notice, which wins over the package (no number: the title).
    assert cal.day(D(2026, 2, 14)).source == NOTICE_2026_TITLE
    assert cal.day(D(2026, 3, 3)).source == NOTICE_2026_TITLE
    assert cal.day(D(2027, 2, 6)).source == ESTIMATE_SOURCE


def test_day_kind_labels() -> None:
    assert DayKind.MAKEUP.label() == "调休上班"
    assert DayKind.MAKEUP.label("en") == "make-up working day"
    assert DayKind.HOLIDAY.label("zh") == "放假"
    assert DayKind.REST.label("en") == "rest day"
    assert DayKind.MAKEUP.is_working
    assert DayKind.WORKDAY.is_working
    assert not DayKind.HOLIDAY.is_working
    assert not DayKind.REST.is_working


def test_shipped_2026_notice_agrees_with_the_package() -> None:
    (notice,) = [n for n in shipped_notices() if n.year == 2026]
    assert notice.title == NOTICE_2026_TITLE
    for day, (kind, name) in notice.days().items():
        off, package_name = chinese_calendar.get_holiday_detail(day)
        assert off is (kind is DayKind.HOLIDAY), day
        assert HOLIDAY_NAMES_ZH[package_name] == name, day


# --------------------------------------------------------------------------- counting


@pytest.mark.parametrize(
    ("day", "n", "expected"),
    [
        (D(2024, 9, 27), 0, D(2024, 9, 27)),
        (D(2024, 10, 1), 0, D(2024, 10, 1)),  # 0 = the same day, even on a holiday
        (D(2024, 9, 27), 1, D(2024, 9, 29)),  # Sun make-up day
        (D(2024, 9, 27), 3, D(2024, 10, 8)),  # the worked example
        (D(2024, 9, 30), 1, D(2024, 10, 8)),
        (D(2024, 10, 11), 1, D(2024, 10, 12)),  # Sat make-up day
        (D(2024, 10, 8), -1, D(2024, 9, 30)),
        (D(2024, 10, 8), -3, D(2024, 9, 27)),
        (D(2024, 10, 5), -1, D(2024, 9, 30)),  # from inside the holiday
        (D(2024, 10, 14), -1, D(2024, 10, 12)),
        (D(2004, 1, 5), -1, D(2004, 1, 2)),  # first days of the range
    ],
)
def test_add_workdays(cal: WorkdayCalendar, day: dt.date, n: int, expected: dt.date) -> None:
    assert cal.add_workdays(day, n) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (D(2024, 9, 27), D(2024, 10, 8), 3),
        (D(2024, 9, 27), D(2024, 9, 27), 0),
        (D(2024, 9, 28), D(2024, 9, 29), 1),  # (a, b]: b counts
        (D(2024, 9, 29), D(2024, 9, 30), 1),  # (a, b]: a does not
        (D(2024, 10, 1), D(2024, 10, 7), 0),
        (D(2024, 10, 8), D(2024, 9, 27), -3),
        # 01-26 (Sun, make-up), 01-27, 02-05, 02-06, 02-07, 02-08 (Sat, make-up)
        (D(2025, 1, 24), D(2025, 2, 8), 6),
    ],
)
def test_workdays_between(cal: WorkdayCalendar, a: dt.date, b: dt.date, expected: int) -> None:
    assert cal.workdays_between(a, b) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (D(2024, 10, 8), D(2024, 10, 8)),
        (D(2024, 9, 29), D(2024, 9, 29)),  # make-up day is a working day
        (D(2024, 9, 28), D(2024, 9, 29)),
        (D(2024, 10, 1), D(2024, 10, 8)),
        (D(2026, 2, 15), D(2026, 2, 24)),
        (D(2024, 10, 13), D(2024, 10, 14)),
    ],
)
def test_roll_forward(cal: WorkdayCalendar, day: dt.date, expected: dt.date) -> None:
    assert cal.roll_forward(day) == expected


# --------------------------------------------------------------------------- range


OUT_OF_RANGE_CALLS: list[tuple[str, Callable[[WorkdayCalendar], Any], str]] = [
    ("is_workday-before", lambda c: c.is_workday(D(2003, 12, 31)), "2003-12-31"),
    ("is_workday-after", lambda c: c.is_workday(D(2041, 1, 1)), "2041-01-01"),
    ("day", lambda c: c.day(D(2003, 6, 1)), "2003-06-01"),
    ("kind", lambda c: c.kind(D(2050, 6, 1)), "2050-06-01"),
    ("add-zero", lambda c: c.add_workdays(D(2003, 12, 31), 0), "2003-12-31"),
    ("add-forward-start-before", lambda c: c.add_workdays(D(2003, 12, 31), 1), "2003-12-31"),
    ("add-forward-past-end", lambda c: c.add_workdays(D(2040, 12, 20), 20), "2040-12-20"),
    ("add-backward-past-start", lambda c: c.add_workdays(D(2004, 1, 5), -5), "2004-01-05"),
    ("add-backward-start-after", lambda c: c.add_workdays(D(2041, 1, 5), -1), "2041-01-05"),
    ("between-start", lambda c: c.workdays_between(D(2003, 1, 1), D(2024, 1, 1)), "2003-01-01"),
    ("between-end", lambda c: c.workdays_between(D(2024, 1, 1), D(2041, 3, 1)), "2041-03-01"),
    ("roll_forward", lambda c: c.roll_forward(D(2041, 1, 1)), "2041-01-01"),
    ("year_status", lambda c: c.year_status(2041), "2041"),
    ("year_status-before", lambda c: c.year_status(2003), "2003"),
]


@pytest.mark.parametrize(
    ("call", "needle"),
    [(call, needle) for _, call, needle in OUT_OF_RANGE_CALLS],
    ids=[name for name, _, _ in OUT_OF_RANGE_CALLS],
)
def test_out_of_range_raises_with_the_date(
    cal: WorkdayCalendar, call: Callable[[WorkdayCalendar], Any], needle: str
) -> None:
    # "add-backward-start-after" fails today: add_workdays(2041-01-05, -1) returns
    # 2040-12-31 instead of refusing a start date outside the calendar (see the report).
    with pytest.raises(OutOfRangeError, match=needle):
        call(cal)


def test_compute_due_outside_the_range_raises(cal: WorkdayCalendar) -> None:
    rule = DeadlineRule(unit=Unit.WORKING_DAY, amount=20)
    with pytest.raises(OutOfRangeError, match="2003-12-30"):
        compute_due(rule, [start(dt.datetime(2003, 12, 30, 9, tzinfo=TZ))], calendar=cal, tz=TZ)
    with pytest.raises(OutOfRangeError, match="2040-12-20"):
        compute_due(rule, [start(dt.datetime(2040, 12, 20, 9, tzinfo=TZ))], calendar=cal, tz=TZ)


# --------------------------------------------------------------------------- status


def test_year_status(cal: WorkdayCalendar) -> None:
    assert cal.year_status(2004) is YearStatus.OFFICIAL
    assert cal.year_status(2024) is YearStatus.OFFICIAL
    assert cal.year_status(2026) is YearStatus.OFFICIAL
    assert cal.year_status(2027) is YearStatus.PROVISIONAL
    assert cal.year_status(2040) is YearStatus.PROVISIONAL


def test_coverage_rows(cal: WorkdayCalendar) -> None:
    rows = {row.year: row for row in cal.coverage([2024, 2026, 2027])}
    assert list(rows) == [2024, 2026, 2027]
    r2024, r2026, r2027 = rows[2024], rows[2026], rows[2027]
    # 2024: 262 weekdays − 19 weekday holidays + 8 make-up days.
    assert (r2024.status, r2024.source) == (YearStatus.OFFICIAL, PACKAGE_SOURCE)
    assert (r2024.holidays, r2024.makeup_workdays, r2024.workdays) == (28, 8, 251)
    # 2026: from the shipped notice; 261 weekdays − 19 + 6.
    assert (r2026.status, r2026.source) == (YearStatus.OFFICIAL, NOTICE_2026_TITLE)
    assert (r2026.holidays, r2026.makeup_workdays, r2026.workdays) == (33, 6, 248)
    # 2027: estimated, no make-up days; 261 weekdays − 13 weekday holidays.
    assert (r2027.status, r2027.source) == (YearStatus.PROVISIONAL, ESTIMATE_SOURCE)
    assert (r2027.holidays, r2027.makeup_workdays, r2027.workdays) == (19, 0, 248)


def test_coverage_defaults_to_every_year(cal: WorkdayCalendar) -> None:
    rows = cal.coverage()
    assert [row.year for row in rows] == list(range(2004, 2041))
    official = [row.year for row in rows if row.status is YearStatus.OFFICIAL]
    assert official == list(range(2004, 2027))
    for row in rows:
        if row.status is YearStatus.OFFICIAL:
            assert row.workdays == sum(
                chinese_calendar.is_workday(d)
                for d in every_day(D(row.year, 1, 1), D(row.year, 12, 31))
            )


@pytest.mark.parametrize(
    ("first", "last", "years"),
    [
        (D(2026, 6, 1), D(2026, 12, 23), ()),
        # A 2027 notice may move days from 2026-12-24 on (the 2019 notice moved 2018-12-29).
        (D(2026, 12, 20), D(2026, 12, 24), (2027,)),
        (D(2026, 12, 28), D(2026, 12, 28), (2027,)),
        (D(2026, 12, 15), D(2027, 1, 13), (2027,)),
        (D(2027, 3, 1), D(2029, 1, 1), (2027, 2028, 2029)),
        (D(2027, 1, 13), D(2026, 12, 15), (2027,)),  # reversed bounds
    ],
)
def test_provisional_years(
    cal: WorkdayCalendar, first: dt.date, last: dt.date, years: tuple[int, ...]
) -> None:
    assert cal.provisional_years(first, last) == years
    assert cal.is_provisional(first, last) is bool(years)


def test_day_info_is_provisional_in_2027_and_the_cross_year_window(cal: WorkdayCalendar) -> None:
    assert cal.day(D(2026, 12, 23)).provisional is False
    assert cal.day(D(2026, 12, 24)).provisional is True
    assert cal.day(D(2027, 6, 1)).provisional is True


# --------------------------------------------------------------------------- estimates


def test_lunar_new_year_2027() -> None:
    assert LunarDate(2027, 1, 1).to_solar_date() == D(2027, 2, 6)  # 初一
    assert LunarDate.from_solar_date(2027, 2, 5) == LunarDate(2026, 12, 29)  # 除夕 (小月)


def test_estimate_2027_spring_festival(cal: WorkdayCalendar) -> None:
    estimate = estimate_year(2027)
    spring = sorted(day for day, (_, name) in estimate.items() if name == "春节")
    # 除夕 Fri 02-05 .. 初三 Mon 02-08; Sat 02-06 and Sun 02-07 give 02-09 and 02-10 off.
    assert spring == every_day(D(2027, 2, 5), D(2027, 2, 10))
    assert all(kind is DayKind.HOLIDAY for kind, _ in estimate.values())
    info = cal.day(D(2027, 2, 6))
    assert (info.kind, info.holiday, info.source, info.provisional) == (
        DayKind.HOLIDAY,
        "春节",
        ESTIMATE_SOURCE,
        True,
    )


def test_estimate_2027_has_no_makeup_days(cal: WorkdayCalendar) -> None:
    kinds = {cal.kind(day) for day in every_day(D(2027, 1, 1), D(2027, 12, 31))}
    assert DayKind.MAKEUP not in kinds
    # Weekends next to the holidays stay rest days: nobody guesses 调休上班.
    assert cal.kind(D(2027, 2, 20)) is DayKind.REST
    assert cal.kind(D(2027, 10, 9)) is DayKind.REST


@pytest.mark.parametrize("year", [2025, 2026])
def test_estimate_matches_the_statutory_days_of_official_years(year: int) -> None:
    # From 2025 the rules the estimate encodes were in force: every estimated day off is
    # inside an official holiday block with the same name.
    for day, (_, name) in estimate_year(year).items():
        off, package_name = chinese_calendar.get_holiday_detail(day)
        assert off, day
        assert HOLIDAY_NAMES_ZH[package_name] == name, day


# --------------------------------------------------------------------------- notices


def test_loading_a_2027_notice_makes_2027_official(
    cal: WorkdayCalendar, cal_2027: WorkdayCalendar, notice_2027: HolidayNotice
) -> None:
    assert cal_2027.year_status(2027) is YearStatus.OFFICIAL
    (row,) = cal_2027.coverage([2027])
    assert row.source == "测试〔2027〕1号" == notice_2027.source
    assert row.makeup_workdays == 4  # the fifth make-up day (2026-12-27) lies in 2026
    info = cal_2027.day(D(2027, 2, 20))
    assert (info.kind, info.holiday, info.source, info.provisional) == (
        DayKind.MAKEUP,
        "春节",
        "测试〔2027〕1号",
        False,
    )
    assert cal_2027.year_status(2028) is YearStatus.PROVISIONAL
    # The default calendar is not affected.
    assert cal.year_status(2027) is YearStatus.PROVISIONAL


def test_a_2027_notice_can_move_a_day_of_late_2026(
    cal: WorkdayCalendar, cal_2027: WorkdayCalendar
) -> None:
    assert cal.kind(D(2026, 12, 27)) is DayKind.REST
    info = cal_2027.day(D(2026, 12, 27))
    assert (info.kind, info.holiday, info.source) == (DayKind.MAKEUP, "元旦", "测试〔2027〕1号")
    assert cal_2027.day(D(2026, 12, 24)).provisional is False


@pytest.mark.parametrize(
    ("start_day", "amount", "estimated_due", "notice_due"),
    [
        (D(2027, 2, 19), 1, D(2027, 2, 22), D(2027, 2, 20)),  # Sat 02-20 make-up counted
        (D(2027, 10, 8), 1, D(2027, 10, 11), D(2027, 10, 9)),  # Sat 10-09 make-up counted
        (D(2027, 2, 4), 1, D(2027, 2, 11), D(2027, 2, 12)),  # 02-11 off in the notice only
        (D(2026, 12, 25), 1, D(2026, 12, 28), D(2026, 12, 27)),  # cross-year make-up Sunday
    ],
)
def test_a_notice_changes_2027_deadlines(
    cal: WorkdayCalendar,
    cal_2027: WorkdayCalendar,
    start_day: dt.date,
    amount: int,
    estimated_due: dt.date,
    notice_due: dt.date,
) -> None:
    rule = DeadlineRule(unit=Unit.WORKING_DAY, amount=amount)
    events = [start(dt.datetime.combine(start_day, dt.time(10), TZ))]
    before = compute_due(rule, events, calendar=cal, tz=TZ)
    after = compute_due(rule, events, calendar=cal_2027, tz=TZ)
    assert (before.due_date, before.provisional, before.provisional_years) == (
        estimated_due,
        True,
        (2027,),
    )
    assert (after.due_date, after.provisional, after.provisional_years) == (notice_due, False, ())


def test_later_notice_for_the_same_year_wins(notice_2027: HolidayNotice) -> None:
    replacement = notice_2027.model_copy(
        update={"number": "测试〔2027〕2号", "makeup_workdays": ()}
    )
    calendar = WorkdayCalendar.build([notice_2027, replacement], first_year=2026, last_year=2028)
    assert calendar.kind(D(2027, 2, 20)) is DayKind.REST
    assert calendar.coverage([2027])[0].source == "测试〔2027〕2号"


# Line numbers refer to tests/fixtures/notices/2027-fictional.yaml.
NOTICE_ERRORS = [
    pytest.param(
        ("2027-10-09, for", "2027-10-08, for"),
        ["2027.yaml:23: makeup_workdays.4:", "2027-10-08 is a weekday"],
        id="makeup-on-a-weekday",
    ),
    pytest.param(
        ("from: 2027-10-01, to: 2027-10-07", "from: 2027-10-07, to: 2027-10-01"),
        ["2027.yaml:17: holidays.6:", "'to' (2027-10-01) is before 'from' (2027-10-07)"],
        id="to-before-from",
    ),
    pytest.param(
        ("number: 测试〔2027〕1号\n", ""),
        ["2027.yaml:", "'number' or 'url'"],
        id="no-number-nor-url",
    ),
    pytest.param(
        ("year: 2027", "year: 2003"),
        ["2027.yaml:6: year:", "greater than or equal to 2004"],
        id="year-out-of-range",
    ),
    pytest.param(
        ("title: 国务院办公厅关于2027年部分节假日安排的通知（测试用，虚构）", "title: 通知"),
        ["2027.yaml:7: title:"],
        id="title-too-short",
    ),
    pytest.param(
        ("published: 2026-11-01\n", "published: 2026-11-01\nsigned_by: 某某\n"),
        ["2027.yaml:10: signed_by:", "Extra inputs are not permitted"],
        id="unknown-field",
    ),
    pytest.param(
        ("  - {date: 2027-02-20, for: 春节}", "  - {date: 2027-02-20, for: 春节"),
        ["2027.yaml:21: YAML syntax error"],
        id="bad-yaml",
    ),
    # The two below report line 1 "(document)" today instead of the offending entry.
    pytest.param(
        (
            "{name: 国庆节, from: 2027-10-01, to: 2027-10-07}",
            "{name: 国庆节, from: 2028-10-01, to: 2028-10-07}",
        ),
        ["2027.yaml:17: holidays.6:", "国庆节 2028-10-01..2028-10-07 is outside 2027"],
        id="holiday-outside-the-year",
    ),
    pytest.param(
        ("{date: 2027-05-08, for: 劳动节}", "{date: 2027-05-01, for: 劳动节}"),
        ["2027.yaml:21: makeup_workdays.2:", "2027-05-01 is both a holiday and a make-up"],
        id="makeup-on-a-holiday",
    ),
    # A date that does not exist crashes inside PyYAML with a bare ValueError today.
    pytest.param(
        (
            "{name: 端午节, from: 2027-06-09, to: 2027-06-09}",
            "{name: 端午节, from: 2027-06-31, to: 2027-06-31}",
        ),
        ["2027.yaml:15:"],
        id="impossible-date",
    ),
]


@pytest.mark.parametrize(("change", "needles"), NOTICE_ERRORS)
def test_notice_validation_errors_name_file_line_and_field(
    tmp_path: Path, change: tuple[str, str], needles: list[str]
) -> None:
    text = FICTIONAL_2027.read_text(encoding="utf-8")
    old, new = change
    assert old in text
    path = tmp_path / "2027.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(NoticeError) as caught:
        parse_notice(path.read_text(encoding="utf-8"), source=path.name)
    message = str(caught.value)
    first_line = message.splitlines()[0]
    for needle in needles:
        assert needle in first_line, message


def test_notice_must_be_a_mapping() -> None:
    with pytest.raises(NoticeError, match=r"^x\.yaml:1: a notice must be a mapping"):
        parse_notice("- 2027\n- 春节\n", source="x.yaml")


def test_written_notice_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "2027.yaml"
    path.write_text(FICTIONAL_2027.read_text(encoding="utf-8"), encoding="utf-8")
    notice = parse_notice(path.read_text(encoding="utf-8"), source=str(path))
    assert notice.year == 2027
    assert notice.source == "测试〔2027〕1号"
    days = notice.days()
    assert days[D(2027, 10, 9)] == (DayKind.MAKEUP, "国庆节")
    assert days[D(2027, 2, 11)] == (DayKind.HOLIDAY, "春节")
    assert len([kind for kind, _ in days.values() if kind is DayKind.HOLIDAY]) == 27
