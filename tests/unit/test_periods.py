"""Reporting periods: keys, boundaries and key parsing."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from obligations.errors import ObligationsError
from obligations.periods import Period, Recurrence, parse_period, period_of, periods_between

D = dt.date
W, M, Q, Y = Recurrence.WEEK, Recurrence.MONTH, Recurrence.QUARTER, Recurrence.YEAR


@pytest.mark.parametrize(
    ("kind", "day", "key", "first", "last"),
    [
        # ISO weeks: Monday to Sunday, keyed by the ISO year.
        (W, D(2026, 11, 25), "2026-W48", D(2026, 11, 23), D(2026, 11, 29)),
        (W, D(2026, 11, 23), "2026-W48", D(2026, 11, 23), D(2026, 11, 29)),
        (W, D(2026, 11, 29), "2026-W48", D(2026, 11, 23), D(2026, 11, 29)),
        (W, D(2020, 12, 31), "2020-W53", D(2020, 12, 28), D(2021, 1, 3)),  # 53-week year
        (W, D(2021, 1, 3), "2020-W53", D(2020, 12, 28), D(2021, 1, 3)),  # January, ISO 2020
        (W, D(2021, 1, 4), "2021-W01", D(2021, 1, 4), D(2021, 1, 10)),
        (W, D(2026, 12, 31), "2026-W53", D(2026, 12, 28), D(2027, 1, 3)),
        (W, D(2027, 1, 1), "2026-W53", D(2026, 12, 28), D(2027, 1, 3)),
        (W, D(2024, 12, 30), "2025-W01", D(2024, 12, 30), D(2025, 1, 5)),  # December, ISO 2025
        (W, D(2025, 12, 28), "2025-W52", D(2025, 12, 22), D(2025, 12, 28)),
        # Months, including leap and non-leap February.
        (M, D(2024, 2, 10), "2024-02", D(2024, 2, 1), D(2024, 2, 29)),
        (M, D(2025, 2, 28), "2025-02", D(2025, 2, 1), D(2025, 2, 28)),
        (M, D(2000, 2, 1), "2000-02", D(2000, 2, 1), D(2000, 2, 29)),  # divisible by 400
        (M, D(2100, 2, 1), "2100-02", D(2100, 2, 1), D(2100, 2, 28)),  # divisible by 100
        (M, D(2026, 12, 31), "2026-12", D(2026, 12, 1), D(2026, 12, 31)),
        (M, D(2026, 4, 30), "2026-04", D(2026, 4, 1), D(2026, 4, 30)),
        # Quarters.
        (Q, D(2026, 1, 1), "2026-Q1", D(2026, 1, 1), D(2026, 3, 31)),
        (Q, D(2026, 3, 31), "2026-Q1", D(2026, 1, 1), D(2026, 3, 31)),
        (Q, D(2026, 4, 1), "2026-Q2", D(2026, 4, 1), D(2026, 6, 30)),
        (Q, D(2026, 6, 30), "2026-Q2", D(2026, 4, 1), D(2026, 6, 30)),
        (Q, D(2026, 9, 30), "2026-Q3", D(2026, 7, 1), D(2026, 9, 30)),
        (Q, D(2026, 10, 1), "2026-Q4", D(2026, 10, 1), D(2026, 12, 31)),
        (Q, D(2024, 2, 29), "2024-Q1", D(2024, 1, 1), D(2024, 3, 31)),
        # Years.
        (Y, D(2026, 7, 15), "2026", D(2026, 1, 1), D(2026, 12, 31)),
        (Y, D(2024, 12, 31), "2024", D(2024, 1, 1), D(2024, 12, 31)),
    ],
)
def test_period_of(kind: Recurrence, day: dt.date, key: str, first: dt.date, last: dt.date) -> None:
    period = period_of(kind, day)
    assert (period.key, period.first, period.last, period.kind) == (key, first, last, kind)
    assert period.first <= day <= period.last
    assert parse_period(key) == period


@pytest.mark.parametrize(
    ("key", "zh", "en"),
    [
        ("2026", "2026年", "2026"),
        ("2026-Q4", "2026年第4季度", "2026 Q4"),
        ("2026-02", "2026年2月", "2026-02"),
        ("2020-W53", "2020年第53周", "2020 week 53"),
        ("2025-W01", "2025年第1周", "2025 week 1"),
    ],
)
def test_labels(key: str, zh: str, en: str) -> None:
    period = parse_period(key)
    assert period.label() == zh
    assert period.label("en") == en


@pytest.mark.parametrize("kind", list(Recurrence))
def test_parse_period_round_trip(kind: Recurrence) -> None:
    periods = list(periods_between(kind, D(2019, 12, 1), D(2027, 1, 31)))
    assert periods
    for period in periods:
        assert parse_period(period.key) == period
    # Contiguous and ordered: each period starts the day after the previous one ends.
    for before, after in itertools.pairwise(periods):
        assert after.first == before.last + dt.timedelta(days=1)
        assert before < after


def test_periods_between() -> None:
    months = [p.key for p in periods_between(M, D(2024, 11, 15), D(2025, 2, 1))]
    assert months == ["2024-11", "2024-12", "2025-01", "2025-02"]
    weeks = [p.key for p in periods_between(W, D(2026, 12, 25), D(2027, 1, 5))]
    assert weeks == ["2026-W52", "2026-W53", "2027-W01"]
    quarters = [p.key for p in periods_between(Q, D(2026, 3, 31), D(2026, 4, 1))]
    assert quarters == ["2026-Q1", "2026-Q2"]
    assert [p.key for p in periods_between(Y, D(2026, 5, 1), D(2026, 5, 1))] == ["2026"]
    assert list(periods_between(M, D(2026, 5, 1), D(2026, 4, 1))) == []


def test_weeks_in_iso_years() -> None:
    for year, weeks in [(2020, 53), (2021, 52), (2024, 52), (2026, 53)]:
        keys = [
            p.key
            for p in periods_between(W, D(year, 1, 4), D(year, 12, 28))
            if p.key.startswith(str(year))
        ]
        assert len(keys) == weeks
        assert keys[-1] == f"{year}-W{weeks}"


@pytest.mark.parametrize(
    "key",
    [
        "",
        "26",
        "20260",
        "2026-1",
        "2026-13",
        "2026-00",
        "2026-Q0",
        "2026-Q5",
        "2026-q1",
        "2026Q1",
        "2026-W00",
        "2026-W54",
        "2021-W53",  # 2021 has only 52 ISO weeks
        "2026-W1",
        "2026-w01",
        "2026-M01",
        " 2026",
        "2026 ",
        "2026-Q4\n",  # `$` also matches before a trailing newline: accepted today
        "二〇二六",
        "２０２６",  # full-width digits match a non-ASCII \d: accepted today
    ],
)
def test_bad_keys(key: str) -> None:
    # The two keys marked "accepted today" fail: parse_period uses re.match with `$` and
    # Unicode \d, so it returns the period of "2026-Q4\n" / "２０２６" whose .key differs
    # from the input (see the report).
    with pytest.raises(ObligationsError, match=r"YYYY, YYYY-Qn, YYYY-MM, YYYY-Www"):
        parse_period(key)


def test_periods_are_frozen() -> None:
    period = parse_period("2026-Q1")
    assert isinstance(period, Period)
    with pytest.raises(AttributeError):
        period.key = "2026-Q2"  # type: ignore[misc]
