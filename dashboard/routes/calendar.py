"""The working-day calendar (工作日历): a month grid with holidays, make-up working days,
provisional years marked, and the number of deadlines on each day."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dashboard import stats
from dashboard.scope import scope_for
from dashboard.web import Svc, WebViewer, language, page_view, render
from obligations.workdays import DayInfo, YearStatus

router = APIRouter()


@dataclass(frozen=True)
class Cell:
    day: DayInfo
    in_month: bool
    deadlines: int
    today: bool


def _month(
    value: str | None, today: dt.date, first_year: int, last_year: int
) -> tuple[int, int, str | None]:
    if not value:
        return today.year, today.month, None
    try:
        year_text, month_text = value.split("-")
        year, month = int(year_text), int(month_text)
        if not (first_year <= year <= last_year and 1 <= month <= 12):
            raise ValueError
    except ValueError:
        return today.year, today.month, value
    return year, month, None


def _shift(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


@router.get("/calendar", include_in_schema=False)
@page_view
def calendar_page(
    request: Request,
    viewer: WebViewer,
    svc: Svc,
    month: str | None = None,
    agency: str | None = None,
) -> Response:
    lang = language(request)
    at = svc.now()
    domain = svc.domain()
    calendar = domain.calendar
    today = at.astimezone(domain.tz).date()
    year, month_number, bad = _month(month, today, calendar.first_year, calendar.last_year)
    first = dt.date(year, month_number, 1)
    next_year, next_month = _shift(year, month_number, 1)
    last = dt.date(next_year, next_month, 1) - dt.timedelta(days=1)
    grid_start = first - dt.timedelta(days=first.weekday())
    grid_end = last + dt.timedelta(days=6 - last.weekday())
    grid_start = max(grid_start, dt.date(calendar.first_year, 1, 1))
    grid_end = min(grid_end, dt.date(calendar.last_year, 12, 31))
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency)
        counts = stats.deadlines_per_day(
            session, scope, first=grid_start, last=grid_end, tz=domain.tz
        )
    weeks: list[list[Cell | None]] = []
    day = first - dt.timedelta(days=first.weekday())
    while day <= last:
        week: list[Cell | None] = []
        for _ in range(7):
            if grid_start <= day <= grid_end:
                week.append(
                    Cell(
                        day=calendar.day(day),
                        in_month=day.month == month_number,
                        deadlines=counts.get(day, 0),
                        today=day == today,
                    )
                )
            else:
                week.append(None)
            day += dt.timedelta(days=1)
        weeks.append(week)
    coverage = calendar.coverage([year])[0]
    prev_y, prev_m = _shift(year, month_number, -1)
    return render(
        request,
        "calendar.html",
        {
            "weeks": weeks,
            "year": year,
            "month": month_number,
            "coverage": coverage,
            "provisional": coverage.status is YearStatus.PROVISIONAL,
            "prev": f"{prev_y}-{prev_m:02d}" if prev_y >= calendar.first_year else None,
            "next": f"{next_year}-{next_month:02d}" if next_year <= calendar.last_year else None,
            "errors": {"month": "不是月份（YYYY-MM）" if lang == "zh" else "not a month (YYYY-MM)"}
            if bad
            else {},
            "agency": agency or "",
            "weekdays": ("一", "二", "三", "四", "五", "六", "日")
            if lang == "zh"
            else ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        },
        status_code=400 if bad else 200,
    )
