"""The overview (首页): overdue and due-this-week per section, this year's on-time rates and
the monthly trend; for the government office, the ranking of agencies."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dashboard import stats
from dashboard.board import obligation_title
from dashboard.live import ledger_version, next_due_after
from dashboard.scope import SectionInfo, agencies_in, scope_for, sections_in
from dashboard.web import Svc, WebViewer, language, page_view, render
from db.context import PermissionDenied
from reports.model import TimelinessRow

router = APIRouter()


@dataclass(frozen=True)
class SectionRow:
    section: SectionInfo
    overdue: int
    due_week: int
    figures: TimelinessRow | None


def week_end(at: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """24:00 of this week's Sunday (local), as a UTC instant."""
    today = at.astimezone(tz).date()
    return stats.local_midnight(today + dt.timedelta(days=7 - today.weekday()), tz)


@router.get("/", include_in_schema=False)
@page_view
def overview(request: Request, viewer: WebViewer, svc: Svc, agency: str | None = None) -> Response:
    at = svc.now()
    domain = svc.domain()
    tz = domain.tz
    year = at.astimezone(tz).year
    lang = language(request)
    with svc.db.read() as session:
        version = ledger_version(session)  # first: see dashboard.live
        scope = scope_for(session, viewer, agency)
        sections = sections_in(session, scope)
        agencies = agencies_in(session, scope) if viewer.all_agencies else []
        end = week_end(at, tz)
        counts, soon = svc.live.get(
            ("overview", scope, end),
            version=version,
            moment=at,
            compute=lambda: (
                stats.open_counts_by_section(session, scope, at=at, end=end),
                stats.due_soon(session, scope, start=at, end=end, limit=15),
            ),
            until=lambda: next_due_after(session, scope, at),
        )
        figures = svc.cached(
            ("year", scope, year, at.astimezone(tz).date()),
            lambda fresh: stats.yearly_timeliness(fresh, scope, year=year, at=at, tz=tz),
        )
    none = stats.SectionCounts(0, 0)
    rows = [
        SectionRow(
            section=section,
            overdue=counts.get(section_id, none).overdue,
            due_week=counts.get(section_id, none).due_soon,
            figures=figures.by_section.get(section_id),
        )
        for section_id, section in sections.items()
        if section.active or counts.get(section_id, none) != none
    ]
    rows.sort(key=lambda row: (-row.overdue, row.section.agency_code, row.section.id))
    soon_rows = [
        {
            "id": task_id,
            "title": title,
            "section": sections.get(section_id),
            "obligation": obligation_title(domain.catalog, code, lang),
            "due_date": due_date,
            "due_at": due_at,
            "provisional": provisional,
        }
        for task_id, title, section_id, code, due_date, due_at, provisional in soon
    ]
    return render(
        request,
        "overview.html",
        {
            "year": year,
            "rows": rows,
            "overdue_total": sum(item.overdue for item in counts.values()),
            "due_week_total": sum(item.due_soon for item in counts.values()),
            "year_total": figures.total,
            "trend": figures.trend(year),
            "soon": soon_rows,
            "agencies": agencies,
            "agency": agency or "",
        },
    )


@router.get("/agencies", include_in_schema=False)
@page_view
def ranking(request: Request, viewer: WebViewer, svc: Svc, year: int | None = None) -> Response:
    """政务公开办: every agency ranked by this year's on-time rate."""
    if viewer.role != "gov_office":
        raise PermissionDenied(f"{viewer.username}: only the government office ranks agencies")
    at = svc.now()
    tz = svc.domain().tz
    this_year = at.astimezone(tz).year
    chosen = year if year is not None and 2004 <= year <= this_year else this_year
    ranks = svc.cached(
        ("ranking", chosen),
        lambda session: stats.agency_ranking(session, year=chosen, tz=tz, at=at),
    )
    return render(
        request,
        "agencies.html",
        {"ranks": ranks, "year": chosen, "years": list(range(this_year, this_year - 5, -1))},
    )
