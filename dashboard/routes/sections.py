"""The section page (科室): its open tasks, this year's timeliness, its people, and the
calendar subscription (ICS feed) link for its chief."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from dashboard import board, stats
from dashboard.board import BoardFilter
from dashboard.forms import FieldErrors, RowId
from dashboard.scope import ViewScope, scope_for, sections_in
from dashboard.security import Viewer, check_csrf
from dashboard.web import Svc, WebViewer, language, page_view, render
from db.context import Actor, PermissionDenied
from db.errors import NotFoundError
from db.models import Person, Section
from db.users import Scope, create_api_token

router = APIRouter(dependencies=[Depends(check_csrf)])


def _section(session: Session, viewer: Viewer, section_id: int) -> Section:
    section = session.get(Section, section_id)
    if section is None:
        raise NotFoundError(f"section {section_id} does not exist")
    viewer.actor.check_read(section.agency_id, section.id)
    return section


@router.get("/sections/{section_id}", include_in_schema=False)
@page_view
def section_page(request: Request, section_id: RowId, viewer: WebViewer, svc: Svc) -> Response:
    lang = language(request)
    at = svc.now()
    domain = svc.domain()
    tz = domain.tz
    year = at.astimezone(tz).year
    with svc.db.read() as session:
        section = _section(session, viewer, section_id)
        scope = ViewScope(agency_id=section.agency_id, section_id=section.id)
        sections = sections_in(session, scope)
        overdue = board.count(session, scope, BoardFilter(), at=at, calendar=domain.calendar, tz=tz)
        found = board.rows(
            session,
            scope,
            BoardFilter(all_open=True),
            at=at,
            calendar=domain.calendar,
            catalog=domain.catalog,
            tz=tz,
            sections=sections,
            lang=lang,
            limit=300,
        )
        agency_scope = ViewScope(agency_id=section.agency_id)
        figures = svc.cached(
            ("year", agency_scope, year, at.astimezone(tz).date()),
            lambda fresh: stats.yearly_timeliness(fresh, agency_scope, year=year, at=at, tz=tz),
        )
        people = list(
            session.exec(
                select(Person)
                .where(Person.section_id == section.id, col(Person.active))
                .order_by(col(Person.id))
            ).all()
        )
    return render(
        request,
        "section.html",
        {
            "section": section,
            "info": sections.get(section_id),
            "rows": found,
            "overdue": overdue,
            "figures": figures.by_section.get(section_id),
            "year": year,
            "people": people,
            "can_subscribe": viewer.can_write,
        },
    )


@router.post("/sections/{section_id}/feed", include_in_schema=False)
def create_feed(request: Request, section_id: RowId, viewer: WebViewer, svc: Svc) -> Response:
    """A new calendar subscription URL for this section, shown once on the answer page."""
    at = svc.now()
    if not viewer.can_write:
        raise PermissionDenied(f"{viewer.username} is read-only")
    with svc.db.read() as session:
        section = _section(session, viewer, section_id)
    system = Actor.system(f"dashboard:{viewer.username}")
    with svc.db.write() as session:
        # The viewer may read this section (checked above); the token is made on their
        # behalf by the system actor, as a chief may not manage tokens in general.
        new = create_api_token(
            session,
            name=f"feed {section.code} by {viewer.username}"[:100],
            purpose="feed",
            role="chief",
            scope=Scope(agency_id=section.agency_id, section_id=section.id, person_id=None),
            actor=system,
            at=at,
        )
    # The one time the token is shown: to the user who made it (like `gongkai user token`).
    url = f"{svc.config.base_url.rstrip('/')}/ics/{new.secret}.ics"
    return render(
        request,
        "feed_created.html",
        {"section": section, "feed_url": url},
    )


@router.get("/evidence.xlsx", include_in_schema=False)
def evidence_export(
    request: Request,
    viewer: WebViewer,
    svc: Svc,
    year: int | None = None,
    section: int | None = None,
    agency: str | None = None,
) -> Response:
    """考核佐证: a year's on-time rates with every task behind them, for the viewer's agency
    or one section (a chief's own, whatever the URL says)."""
    from reports.errors import ScopeError
    from reports.evidence import evidence_scope, evidence_workbook

    lang = language(request)
    at = svc.now()
    domain = svc.domain()
    this_year = at.astimezone(domain.tz).year
    chosen = this_year if year is None else year
    if not 2004 <= chosen <= this_year:
        raise FieldErrors({"year": f"2004–{this_year}"})
    with svc.db.read() as session:
        scope = scope_for(session, viewer, agency)
        if scope.agency_id is None:
            raise FieldErrors({"agency": "choose the agency (?agency=CODE)"})
        section_id = scope.section_id if scope.section_id is not None else section
        if section_id is not None:
            _section(session, viewer, section_id)
        try:
            target = evidence_scope(
                session, agency_id=scope.agency_id, year=chosen, section_id=section_id
            )
        except ScopeError as exc:
            raise FieldErrors({"section": str(exc)}) from None
        data = evidence_workbook(
            session,
            target,
            at=at,
            tz=domain.tz,
            lang=lang,
            titles={code: item.title.localized(lang) for code, item in domain.catalog.items()},
        )
        name = f"evidence-{target.agency.code}{'-' + target.section.code if target.section else ''}-{chosen}.xlsx"
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
