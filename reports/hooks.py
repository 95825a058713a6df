"""The builders the flows call (flows/jobs.py looks up ``reports.hooks.bulletin`` and
``reports.hooks.year_report``): compile, and hand back what the notifier can push.

Each agency gets its own bulletin (its office circulates it); an installation with several
agencies also gets the whole government's. The results carry the chat message of each
bulletin (:func:`reports.bulletin.bulletin_message`) and ``as_rows()`` for the flow's summary
artifact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from db.context import Actor, Domain
from db.engine import session_scope
from reports.bulletin import bulletin_message, compile_month
from reports.compile import compile_year
from reports.model import Bulletin, YearReport
from reports.scope import Scope, parse_month, resolve_scope

ACTOR = Actor.system("reports")


@dataclass
class BulletinResult:
    month: str
    #: Agency code (``*``: the whole government) → its bulletin.
    by_agency: dict[str, Bulletin] = field(default_factory=dict)

    @property
    def bulletins(self) -> list[Bulletin]:
        return list(self.by_agency.values())

    @property
    def messages(self) -> dict[str, str]:
        """Agency code (``*``: the whole government) → the chat text of its bulletin."""
        return {code: bulletin_message(item) for code, item in self.by_agency.items()}

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "bulletin": item.title,
                "due": item.total.due,
                "on_time_rate": item.total.on_time_rate.percent(),
                "open_overdue": item.total.open_overdue,
                "sections": len(item.ranking),
            }
            for item in self.bulletins
        ]


@dataclass
class YearReportResult:
    year: int
    reports: list[YearReport] = field(default_factory=list)

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "report": report.title,
                "requests": report.figures.requests.received,
                "answered": report.figures.requests.closed,
                "on_time_rate": report.figures.timeliness.total.on_time_rate.percent(),
                "checks": "ok" if all(c.ok for c in report.figures.table3.checks) else "FAILED",
                "locked": "yes" if report.figures.locked else "no",
            }
            for report in self.reports
        ]


def _scopes(engine: Engine) -> list[tuple[str, Scope]]:
    """(agency code or ``*``, scope): each agency, then the whole government if several."""
    with session_scope(engine) as session:
        whole = resolve_scope(session, ACTOR, everyone=True)
    scopes = [(agency.code, Scope((agency,))) for agency in whole.agencies]
    if len(whole.agencies) > 1:
        scopes.append(("*", whole))
    return scopes


def bulletin(engine: Engine, domain: Domain, *, month: str, at: dt.datetime) -> BulletinResult:
    """The bulletins of ``month`` (``YYYY-MM``) for every agency (and the whole government)."""
    year, number = parse_month(month)
    result = BulletinResult(month=month)
    for code, scope in _scopes(engine):
        with session_scope(engine) as session:
            result.by_agency[code] = compile_month(
                session, year=year, month=number, at=at, tz=domain.tz, scope=scope
            )
    return result


def year_report(engine: Engine, domain: Domain, *, year: int, at: dt.datetime) -> YearReportResult:
    """The year's statistics for every agency (and the whole government)."""
    result = YearReportResult(year=year)
    for _, scope in _scopes(engine):
        with session_scope(engine) as session:
            result.reports.append(
                compile_year(session, year=year, at=at, tz=domain.tz, scope=scope)
            )
    return result
