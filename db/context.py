"""What every ledger operation needs besides the session: the catalog, calendar and zone.

The composition root builds one :class:`Domain` (catalog with the agency's overrides, the
calendar with the notices stored in the database) and passes it down; the ledger never
loads configuration by itself. :class:`Actor` says who acts and what they may touch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from db.errors import LedgerError
from db.models import Role
from obligations.catalog import Catalog
from obligations.workdays import WorkdayCalendar


@dataclass(frozen=True)
class Domain:
    catalog: Catalog
    calendar: WorkdayCalendar
    tz: dt.tzinfo
    delivery_time: dt.time = dt.time(9, 0)

    def with_calendar(self, calendar: WorkdayCalendar) -> Domain:
        return replace(self, calendar=calendar)


class PermissionDenied(LedgerError):
    """You may not do this."""


@dataclass(frozen=True)
class Actor:
    """Who performs an operation. ``agency_id`` None with role gov_office/system sees all."""

    name: str
    role: str = Role.OFFICE.value
    agency_id: int | None = None
    section_id: int | None = None
    person_id: int | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name=name, role="system")

    @property
    def all_agencies(self) -> bool:
        return self.role in ("system", Role.GOV_OFFICE.value)

    def check_read(self, agency_id: int, section_id: int | None = None) -> None:
        if self.all_agencies:
            return
        if self.agency_id != agency_id:
            raise PermissionDenied(f"{self.name} may not see another agency's records")
        if (
            self.role in (Role.CHIEF.value, Role.STAFF.value)
            and section_id is not None
            and section_id != self.section_id
        ):
            raise PermissionDenied(f"{self.name} may only see their own section's tasks")

    def check_write(
        self, agency_id: int, section_id: int | None = None, *, office_only: bool = False
    ) -> None:
        """Chiefs/staff act on their own section; the office on its agency; leaders read only."""
        self.check_read(agency_id, section_id)
        if self.role == Role.LEADER.value:
            raise PermissionDenied(f"{self.name} is a leader: read-only")
        if office_only and self.role in (Role.CHIEF.value, Role.STAFF.value):
            raise PermissionDenied(f"only the office may do this, not {self.name}")
