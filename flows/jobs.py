"""The plain jobs behind every flow and scheduler job: spawn, intake, sweep, deliver, reports.

No Prefect here and nothing global: a job takes the engine, the domain, the moment ``at``
(read once by its caller — a Prefect flow, an APScheduler job, the simulator) and whatever
else it needs, and returns what it did. The embedded runner and the Prefect flows call the
same functions, so both topologies behave the same.

A database that is briefly locked or unreachable (``OperationalError``, or a dropped
connection) makes a job retry with backoff (:class:`DbRetry`). Every attempt is one whole
transaction: a failed attempt rolled back completely, so a retry neither loses nor doubles
work. After the last attempt the error propagates and the run fails; the next run (or a
Prefect retry) picks the work up again, because claims and outbox keys make every job
idempotent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import Session, col, select

from db.context import Actor, Domain
from db.engine import session_scope
from db.models import Agency, OutboxMessage
from db.spawn import EventResult, SpawnResult, record_event, spawn_recurring
from db.sweep import SweepReport, has_due_tasks, queue_notices, sweep
from flows.errors import FlowError, PayloadError
from notifier.base import Channel
from notifier.deliver import DeliverReport, deliver
from obligations.catalog import Obligation
from obligations.periods import Recurrence, parse_period, periods_between

log = logging.getLogger("gongkai.flows")
UTC = dt.UTC
T = TypeVar("T")

#: Something that tells the time: the wall clock in production, a simulated one in
#: ``gongkai simulate``. Flows call it once per run and pass ``at`` down.
Clock = Callable[[], dt.datetime]

DEFAULT_HORIZON_DAYS = 40
MAX_HORIZON_DAYS = 400


def system_clock() -> dt.datetime:
    """The wall clock (aware, UTC)."""
    return dt.datetime.now(UTC)


# --- retrying a briefly unavailable database -------------------------------------------


def is_transient(exc: BaseException) -> bool:
    """Whether retrying can help: a locked or unreachable database, a dropped connection."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@dataclass(frozen=True)
class DbRetry:
    """Backoff for transient database errors: ``attempts`` tries, delays doubling up to a cap."""

    attempts: int = 5
    first_delay: float = 0.5
    max_delay: float = 8.0
    sleep: Callable[[float], None] = time.sleep
    asleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def delay(self, attempt: int) -> float:
        return float(min(self.first_delay * 2 ** (attempt - 1), self.max_delay))

    def _note(self, what: str, exc: BaseException, attempt: int) -> float:
        pause = self.delay(attempt)
        log.warning(
            "%s: database unavailable (%s); retry %d of %d in %.1f s",
            what,
            _first_line(exc),
            attempt,
            self.attempts - 1,
            pause,
        )
        return pause

    def run(self, job: Callable[[], T], *, what: str) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return job()
            except DBAPIError as exc:
                if attempt == self.attempts or not is_transient(exc):
                    raise
                self.sleep(self._note(what, exc, attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    async def arun(self, job: Callable[[], Awaitable[T]], *, what: str) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return await job()
            except DBAPIError as exc:
                if attempt == self.attempts or not is_transient(exc):
                    raise
                await self.asleep(self._note(what, exc, attempt))
        raise AssertionError("unreachable")  # pragma: no cover


DB_RETRY = DbRetry()


# --- spawn -------------------------------------------------------------------------------


def horizon_through(at: dt.datetime, domain: Domain, horizon_days: int) -> dt.date:
    """The last day whose periods a spawn at ``at`` creates (local date + horizon)."""
    if not 0 <= horizon_days <= MAX_HORIZON_DAYS:
        raise FlowError(
            f"horizon_days must be between 0 and {MAX_HORIZON_DAYS}, not {horizon_days}"
        )
    return at.astimezone(domain.tz).date() + dt.timedelta(days=horizon_days)


def recurring_obligations(domain: Domain, codes: Iterable[str] | None = None) -> list[Obligation]:
    """The recurring obligations to spawn (all, or the named ones; unknown codes refused)."""
    if codes is None:
        return list(domain.catalog.recurring())
    chosen = []
    for code in codes:
        obligation = domain.catalog.get(code)
        if obligation.trigger.every is None:
            raise FlowError(
                f"obligation {code!r} is triggered by events, not recurring: "
                "record its events with intake instead"
            )
        chosen.append(obligation)
    return chosen


def period_span(obligation: Obligation, at: dt.datetime, domain: Domain, through: dt.date) -> str:
    """The period keys a spawn reaches, e.g. ``2026-11`` or ``2026-11…2027-01``."""
    every = obligation.trigger.every
    assert every is not None
    today = at.astimezone(domain.tz).date()
    keys = [period.key for period in periods_between(Recurrence(every), today, through)]
    if not keys:
        return through.isoformat()
    return keys[0] if len(keys) == 1 else f"{keys[0]}…{keys[-1]}"


def spawn_job(
    engine: Engine,
    domain: Domain,
    *,
    at: dt.datetime,
    actor: Actor,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    agency_codes: Iterable[str] | None = None,
    obligation_codes: Iterable[str] | None = None,
    retry: DbRetry = DB_RETRY,
) -> SpawnResult:
    """Create the recurring tasks of every period that begins by ``at`` + ``horizon_days``.

    Idempotent (unique ``obligation|section|period`` keys): a re-run creates nothing.
    """
    through = horizon_through(at, domain, horizon_days)
    agencies = list(agency_codes) if agency_codes is not None else None
    obligations = list(obligation_codes) if obligation_codes is not None else None

    def once() -> SpawnResult:
        with session_scope(engine) as session:
            return spawn_recurring(
                session,
                domain,
                through=through,
                actor=actor,
                at=at,
                agency_codes=agencies,
                obligation_codes=obligations,
            )

    return retry.run(once, what="spawn")


def agencies_to_spawn(engine: Engine, codes: Iterable[str] | None = None) -> list[str]:
    """Every agency's code, or the listed ones checked (an unknown code is refused)."""
    with Session(engine) as session:
        known = list(session.exec(select(Agency.code).order_by(col(Agency.id))).all())
    if codes is None:
        return known
    chosen = list(codes)
    unknown = [code for code in chosen if code not in known]
    if unknown:
        listed = ", ".join(known) or "(none — run gongkai org import)"
        raise FlowError(f"unknown agency {', '.join(map(repr, unknown))}; known: {listed}")
    return chosen


def merge_spawn(total: SpawnResult, part: SpawnResult) -> SpawnResult:
    total.created += part.created
    total.existing += part.existing
    for key, count in part.per_section.items():
        total.per_section[key] += count
    return total


# --- intake ------------------------------------------------------------------------------


class IntakePayload(BaseModel):
    """An event as an integrator (the agency's CMS, a form) sends it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    event_type: str = Field(min_length=1, description="document_published, request_received, …")
    occurred_at: AwareDatetime = Field(description="When it happened, with its UTC offset")
    agency: str | None = Field(default=None, description="Agency code (needed with several)")
    section: str | None = Field(default=None, description="Responsible section code")
    external_id: str | None = Field(default=None, description="ID in the source system")
    title: str = Field(default="", max_length=500)
    attributes: dict[str, str] = Field(default_factory=dict)


def parse_intake(payload: Any) -> IntakePayload:
    """The payload validated, or one :class:`PayloadError` naming every bad field."""
    if not isinstance(payload, Mapping):
        raise PayloadError(
            f"intake payload must be an object with event_type and occurred_at, "
            f"not {type(payload).__name__}"
        )
    try:
        return IntakePayload.model_validate(dict(payload))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise PayloadError(f"intake payload refused: {problems}") from None


def _only_agency(session: Session) -> str:
    codes = list(session.exec(select(Agency.code).order_by(col(Agency.code))).all())
    if len(codes) == 1:
        return codes[0]
    if not codes:
        raise FlowError("no agency yet: run `gongkai org import FILE` first")
    raise PayloadError(f"intake payload needs agency: one of {', '.join(codes)}")


def intake_job(
    engine: Engine,
    domain: Domain,
    payload: Mapping[str, Any] | IntakePayload,
    *,
    at: dt.datetime,
    actor: Actor,
    retry: DbRetry = DB_RETRY,
) -> EventResult:
    """Record one event and spawn its tasks; the same ``external_id`` again creates nothing.

    A malformed payload, an unknown event type, agency or section fails with one clear
    message before anything is written (the transaction rolls back as a whole).
    """
    event = payload if isinstance(payload, IntakePayload) else parse_intake(payload)

    def once() -> EventResult:
        with session_scope(engine) as session:
            agency = event.agency or _only_agency(session)
            return record_event(
                session,
                domain,
                agency_code=agency,
                event_type_name=event.event_type,
                occurred_at=event.occurred_at,
                actor=actor,
                at=at,
                attributes=event.attributes,
                external_id=event.external_id,
                section_code=event.section,
                title=event.title,
            )

    return retry.run(once, what="intake")


# --- sweep and deliver ---------------------------------------------------------------------


def sweep_job(
    engine: Engine,
    domain: Domain,
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 1_000,
    retry: DbRetry = DB_RETRY,
) -> SweepReport:
    """One sweep batch: claim up to ``limit`` due tasks and write their stages to the outbox.

    Returns at once (one indexed query) when nothing is due. Safe to run in several
    processes at once: claims split the tasks, outbox keys make a retry harmless.
    """

    def once() -> SweepReport:
        if not has_due_tasks(engine, at=at):
            return SweepReport()
        with session_scope(engine) as session:
            return sweep(session, domain, at=at, worker=worker, limit=limit)

    return retry.run(once, what="sweep")


def merge_sweep(total: SweepReport, part: SweepReport) -> SweepReport:
    total.claimed += part.claimed
    total.stages += part.stages
    total.outbox_rows += part.outbox_rows
    for key, counter in part.per_section.items():
        total.per_section[key].update(counter)
    return total


def has_due_messages(engine: Engine, *, at: dt.datetime) -> bool:
    """The cheap check before a delivery pass: is any pending outbox row due?"""
    with Session(engine) as session:
        found = session.exec(
            select(OutboxMessage.id)
            .where(
                col(OutboxMessage.status) == "pending",
                col(OutboxMessage.next_attempt_at) <= at,
            )
            .limit(1)
        ).first()
    return found is not None


async def deliver_job(
    engine: Engine,
    domain: Domain,
    channels: Mapping[str, Channel],
    *,
    at: dt.datetime,
    worker: str,
    limit: int = 500,
    lang: str = "zh",
    dashboard_url: str | None = None,
    retry: DbRetry = DB_RETRY,
) -> DeliverReport:
    """One delivery pass (digests per person and window; see :mod:`notifier.deliver`).

    Returns at once when no outbox row is due. A retry after a database error re-claims
    only rows nobody holds; rows claimed by the failed attempt wait for their lease to end
    (at least once, never lost).
    """
    if "console" not in channels:
        raise FlowError("deliver needs the console channel as the fallback of every person")

    async def once() -> DeliverReport:
        if not has_due_messages(engine, at=at):
            return DeliverReport()
        return await deliver(
            engine,
            domain,
            channels,
            at=at,
            worker=worker,
            limit=limit,
            lang=lang,
            dashboard_url=dashboard_url,
        )

    return await retry.arun(once, what="deliver")


# --- reports (bulletin, year report) ---------------------------------------------------------


class BulletinBuilder(Protocol):
    """Compiles the monthly bulletin (月度通报) of ``month`` (``YYYY-MM``)."""

    def __call__(self, engine: Engine, domain: Domain, *, month: str, at: dt.datetime) -> Any: ...


class YearReportBuilder(Protocol):
    """Compiles the year-end statistics of the annual report (年度报告) for ``year``."""

    def __call__(self, engine: Engine, domain: Domain, *, year: int, at: dt.datetime) -> Any: ...


#: Where the reports package exposes its builders: ``reports.hooks.bulletin`` and
#: ``reports.hooks.year_report`` with the signatures above.
REPORT_HOOKS_MODULE = "reports.hooks"


def find_report_hook(name: str) -> Callable[..., Any] | None:
    """The reports package's builder ``name``, or None while that module does not exist yet.

    Only the module's absence is tolerated; an error inside it propagates.
    """
    try:
        module = importlib.import_module(REPORT_HOOKS_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name in (REPORT_HOOKS_MODULE, REPORT_HOOKS_MODULE.split(".")[0]):
            return None
        raise
    hook = getattr(module, name, None)
    if hook is None:
        raise FlowError(f"{REPORT_HOOKS_MODULE} has no function {name!r}")
    if not callable(hook):
        raise FlowError(f"{REPORT_HOOKS_MODULE}.{name} is not a function")
    return hook


def previous_month(at: dt.datetime, domain: Domain) -> str:
    first = at.astimezone(domain.tz).date().replace(day=1)
    last_month = first - dt.timedelta(days=1)
    return f"{last_month.year}-{last_month.month:02d}"


def bulletin_month(at: dt.datetime, domain: Domain, month: str | None = None) -> str:
    """``month`` checked (``YYYY-MM``, begun by ``at``), or the month before ``at``."""
    key = month or previous_month(at, domain)
    period = parse_period(key)
    if period.kind is not Recurrence.MONTH:
        raise FlowError(f"bulletin month must be YYYY-MM, not {key!r}")
    if period.first > at.astimezone(domain.tz).date():
        raise FlowError(f"bulletin month {key} has not begun yet")
    return key


def report_year(at: dt.datetime, domain: Domain, year: int | None = None) -> int:
    """``year`` checked (2000 … this year), or the year before ``at``."""
    current = at.astimezone(domain.tz).year
    chosen = year if year is not None else current - 1
    if not 2000 <= chosen <= current:
        raise FlowError(f"report year must be between 2000 and {current}, not {chosen}")
    return chosen


def bulletin_job(
    engine: Engine,
    domain: Domain,
    *,
    at: dt.datetime,
    build: BulletinBuilder,
    month: str | None = None,
    retry: DbRetry = DB_RETRY,
) -> Any:
    """Compile the bulletin of ``month`` (default: the month before ``at``) with ``build``."""
    key = bulletin_month(at, domain, month)
    result = retry.run(lambda: build(engine, domain, month=key, at=at), what=f"bulletin {key}")
    messages: dict[str, str] = getattr(result, "messages", {}) or {}
    if messages:
        # The office circulates its bulletin (一月一通报); the government office gets the whole
        # government's. Idempotent by (month, agency, person).
        def push() -> int:
            with session_scope(engine) as session:
                return sum(
                    queue_notices(
                        session,
                        text=text,
                        key=f"bulletin|{key}|{code}",
                        at=at,
                        roles=("gov_office",) if code == "*" else ("office",),
                        agency_code=None if code == "*" else code,
                    )
                    for code, text in messages.items()
                )

        retry.run(push, what=f"queue bulletin {key}")
    return result


def year_report_job(
    engine: Engine,
    domain: Domain,
    *,
    at: dt.datetime,
    build: YearReportBuilder,
    year: int | None = None,
    retry: DbRetry = DB_RETRY,
) -> Any:
    """Compile the year report of ``year`` (default: the year before ``at``) with ``build``."""
    chosen = report_year(at, domain, year)
    return retry.run(
        lambda: build(engine, domain, year=chosen, at=at), what=f"year report {chosen}"
    )


# --- helpers for the flows' artifacts --------------------------------------------------------


@dataclass
class SpawnLine:
    """Tasks one obligation created in one section (a row of the spawn artifact)."""

    section: str
    obligation: str
    created: int
    note: str = ""


@dataclass
class SpawnSummary:
    """A spawn over several obligations: the total, the per-section lines, the refusals."""

    total: SpawnResult = field(default_factory=SpawnResult)
    lines: list[SpawnLine] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    def add(
        self,
        obligation: Obligation,
        result: SpawnResult,
        *,
        refused: Mapping[str, str] | None = None,
    ) -> None:
        merge_spawn(self.total, result)
        self.lines.extend(
            SpawnLine(section=key, obligation=obligation.title.zh, created=count)
            for key, count in sorted(result.per_section.items())
            if count
        )
        for agency, reason in (refused or {}).items():
            self.lines.append(SpawnLine(agency, obligation.title.zh, 0, f"skipped: {reason}"))
            self.refusals.append(f"{agency} / {obligation.code}: {reason}")

    def as_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "section": line.section,
                "obligation": line.obligation,
                "created": line.created,
                "note": line.note,
            }
            for line in self.lines
        ]
