"""What a report covers: which agencies, and which local dates (a year or a month).

A :class:`Window` is a closed range of local dates in the agency's zone with its UTC
bounds, so queries compare stored UTC instants with bound parameters and date columns with
dates, on SQLite and PostgreSQL alike. A :class:`Scope` is one agency, or every agency of
the installation (a 政务公开办 running its departments: the 本级政府 report, 条例第四十九条
第二款).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, col, select

from db.context import Actor
from db.models import Agency
from reports.errors import ScopeError

UTC = dt.UTC


@dataclass(frozen=True)
class Window:
    """Local dates ``first`` … ``last`` (inclusive) in ``tz``."""

    first: dt.date
    last: dt.date
    tz: dt.tzinfo

    @property
    def start_utc(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), self.tz).astimezone(UTC)

    @property
    def end_utc(self) -> dt.datetime:
        """The first instant after the window (exclusive bound)."""
        after = self.last + dt.timedelta(days=1)
        return dt.datetime.combine(after, dt.time(), self.tz).astimezone(UTC)

    def ended(self, at: dt.datetime) -> bool:
        return at >= self.end_utc


def year_window(year: int, tz: dt.tzinfo) -> Window:
    if not 2000 <= year <= 2100:
        raise ScopeError(f"year {year} is out of range (2000–2100)")
    return Window(dt.date(year, 1, 1), dt.date(year, 12, 31), tz)


def month_window(year: int, month: int, tz: dt.tzinfo) -> Window:
    if not 2000 <= year <= 2100 or not 1 <= month <= 12:
        raise ScopeError(f"month {year}-{month:02d} is out of range")
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return Window(first, following - dt.timedelta(days=1), tz)


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month)."""
    try:
        year_text, month_text = text.strip().split("-")
        year, month = int(year_text), int(month_text)
    except ValueError:
        raise ScopeError(f"{text!r} is not a month (YYYY-MM, e.g. 2026-11)") from None
    if len(year_text) != 4 or not 1 <= month <= 12:
        raise ScopeError(f"{text!r} is not a month (YYYY-MM, e.g. 2026-11)")
    return year, month


@dataclass(frozen=True)
class AgencyRef:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Scope:
    """The agencies a report covers; ``government`` when it is the whole 本级政府."""

    agencies: tuple[AgencyRef, ...]
    government: bool = False

    @property
    def ids(self) -> list[int]:
        return [agency.id for agency in self.agencies]

    def by_id(self, agency_id: int) -> AgencyRef:
        for agency in self.agencies:
            if agency.id == agency_id:
                return agency
        raise KeyError(agency_id)


def resolve_scope(
    session: Session, actor: Actor, *, agency_code: str | None = None, everyone: bool = False
) -> Scope:
    """One agency (``agency_code``, or the only one), or all of them (``everyone``)."""
    if agency_code and everyone:
        raise ScopeError("give --agency CODE or --all, not both")
    agencies = list(session.exec(select(Agency).order_by(col(Agency.code))).all())
    if not agencies:
        raise ScopeError(
            "no agency yet: run `gongkai org import FILE` first (see gongkai/examples/demo-org.yaml)"
        )
    refs = [AgencyRef(agency.id or 0, agency.code, agency.name) for agency in agencies]
    if everyone:
        for ref in refs:
            actor.check_read(ref.id, None)
        return Scope(tuple(refs), government=True)
    if agency_code is None:
        if len(refs) > 1:
            codes = ", ".join(ref.code for ref in refs)
            raise ScopeError(f"several agencies ({codes}): pass --agency CODE or --all")
        actor.check_read(refs[0].id, None)
        return Scope((refs[0],))
    for ref in refs:
        if ref.code == agency_code:
            actor.check_read(ref.id, None)
            return Scope((ref,))
    known = ", ".join(ref.code for ref in refs)
    raise ScopeError(f"unknown agency {agency_code!r}; known: {known}")
