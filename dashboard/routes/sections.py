"""The section page (科室): its open tasks, this year's timeliness, its people, and the
calendar subscription (ICS feed) link for its chief."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from dashboard import board, stats
from dashboard.board import BoardFilter
from dashboard.forms import RowId
from dashboard.scope import ViewScope, sections_in
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
