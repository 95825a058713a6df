"""Which rows a page shows: the viewer's agency (or a chosen one) and, for chiefs, their section.

Every query of the dashboard takes a :class:`ViewScope` built here from the logged-in user,
so a chief's pages never reach another section's rows, whatever the URL says; pages that
name one record check it with the ledger's ``Actor.check_read`` as well.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Table
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from dashboard.security import Viewer
from db.context import PermissionDenied
from db.errors import NotFoundError
from db.models import Agency

#: The tables as Core objects. The page queries select plain columns; a statement built on
#: these skips the ORM's compile and row-loading layers (about 60 µs a query, a tenth of a
#: board view's database time).
TASK: Table = SQLModel.metadata.tables["task"]
SECTION: Table = SQLModel.metadata.tables["section"]
AGENCY: Table = SQLModel.metadata.tables["agency"]


@dataclass(frozen=True)
class ViewScope:
    #: None: every agency (the government office without a chosen agency).
    agency_id: int | None
    #: Set for chiefs and staff: their own section only.
    section_id: int | None = None

    def task_filters(self) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        if self.agency_id is not None:
            filters.append(TASK.c.agency_id == self.agency_id)
        if self.section_id is not None:
            filters.append(TASK.c.section_id == self.section_id)
        return filters

    def section_filters(self) -> list[ColumnElement[bool]]:
        filters: list[ColumnElement[bool]] = []
        if self.agency_id is not None:
            filters.append(SECTION.c.agency_id == self.agency_id)
        if self.section_id is not None:
            filters.append(SECTION.c.id == self.section_id)
        return filters


def scope_for(session: Session, viewer: Viewer, agency_code: str | None = None) -> ViewScope:
    """The viewer's scope; the government office may narrow it to one agency by code."""
    if viewer.all_agencies:
        if not agency_code:
            return ViewScope(agency_id=viewer.agency_id if viewer.role != "gov_office" else None)
        agency = session.exec(select(Agency).where(Agency.code == agency_code)).first()
        if agency is None:
            raise NotFoundError(f"unknown agency {agency_code!r}")
        return ViewScope(agency_id=agency.id)
    if agency_code:
        agency = session.exec(select(Agency).where(Agency.code == agency_code)).first()
        if agency is None or agency.id != viewer.agency_id:
            raise PermissionDenied(f"{viewer.username} may not see another agency's records")
    if viewer.is_section_bound:
        return ViewScope(agency_id=viewer.agency_id, section_id=viewer.section_id)
    return ViewScope(agency_id=viewer.agency_id)


@dataclass(frozen=True)
class SectionInfo:
    id: int
    agency_id: int
    agency_code: str
    code: str
    name: str
    active: bool

    @property
    def label(self) -> str:
        return self.name


def sections_in(session: Session, scope: ViewScope) -> dict[int, SectionInfo]:
    """The sections the scope covers, by id, in agency then section order."""
    rows = session.execute(
        sa_select(
            SECTION.c.id,
            SECTION.c.agency_id,
            AGENCY.c.code,
            SECTION.c.code,
            SECTION.c.name,
            SECTION.c.active,
        )
        .join(AGENCY, AGENCY.c.id == SECTION.c.agency_id)
        .where(*scope.section_filters())
        .order_by(AGENCY.c.code, SECTION.c.id)
    ).all()
    return {
        section_id: SectionInfo(
            id=section_id,
            agency_id=agency_id,
            agency_code=agency_code,
            code=code,
            name=name,
            active=active,
        )
        for section_id, agency_id, agency_code, code, name, active in rows
    }


def agencies_in(session: Session, scope: ViewScope) -> list[Agency]:
    statement = select(Agency).order_by(col(Agency.code))
    if scope.agency_id is not None:
        statement = statement.where(col(Agency.id) == scope.agency_id)
    return list(session.exec(statement).all())
