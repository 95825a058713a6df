"""The embedded runner: APScheduler 3 triggers spawn, sweep + deliver and the bulletin in-process.

``gongkai serve`` (embedded mode, the default) owns the schedules through this module; in
scaled mode Prefect owns them and this runner is not started. Jobs live in memory and are
registered from code at every start (APScheduler's FAQ: a job store must never be shared
between schedulers), so a missed tick is not replayed by APScheduler: all state lives in
our tables, and the first sweep after a start catches up (one digest per person and
window, every stage kept — :mod:`db.sweep` and :mod:`notifier.deliver` implement that).

Every job reads the clock once (``clock``, passed in by the composition root or a
simulated clock) and hands ``at=`` down. Database work is synchronous: it runs in a
thread so the event loop keeps answering HTTP while a sweep runs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from db.context import Actor, Domain
from db.errors import LedgerError
from db.models import Agency
from db.spawn import EventResult
from db.sweep import SweepReport
from flows import jobs as plain
from notifier.base import Channel
from notifier.deliver import DeliverReport

log = logging.getLogger("gongkai.scheduler")

#: A daily job may start up to an hour late (loop stalled, machine suspended) and still run.
DAILY_MISFIRE_GRACE_SECONDS = 3600
#: A sweep later than this is skipped: the next one comes within ``sweep_every_seconds``.
SWEEP_MISFIRE_GRACE_SECONDS = 30
#: How long a stop waits for a running job to finish its transaction.
STOP_TIMEOUT_SECONDS = 30.0
SPAWN_AT = dt.time(1, 0)
#: The monthly bulletin (月度通报): first day of the month, before the office starts work.
BULLETIN_DAY = 1
BULLETIN_AT = dt.time(6, 0)
#: Rows per claim; a sweep or delivery pass repeats until a claim comes back short.
SWEEP_BATCH = 1_000
DELIVER_BATCH = 500


@dataclass
class SpawnRun:
    """What one spawn run did across agencies; ``failed`` names agencies that refused."""

    created: int = 0
    existing: int = 0
    per_section: dict[str, int] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass
class TickReport:
    """One sweep + deliver run."""

    at: dt.datetime
    sweep: SweepReport
    deliver: DeliverReport


@dataclass
class Jobs:
    """What the scheduler and the simulation trigger: :mod:`flows.jobs` with the context bound.

    ``domain`` is a callable because the calendar changes when a notice is loaded; each
    run takes the current one. Sweep and delivery repeat their batches until a claim comes
    back short, so one tick after downtime hands out everything that is due.
    """

    engine: Engine
    domain: Callable[[], Domain]
    channels: Mapping[str, Channel]
    worker: str = "embedded"
    dashboard_url: str | None = None
    lang: str = "zh"
    actor: Actor = field(default_factory=lambda: Actor.system("scheduler"))
    horizon_days: int = plain.DEFAULT_HORIZON_DAYS
    _warned: set[str] = field(default_factory=set, repr=False)

    def spawn(self, *, at: dt.datetime) -> SpawnRun:
        """Spawn the recurring periods that begin within the horizon, agency by agency.

        An agency whose organisation does not fit the catalog (a listed section missing)
        does not stop the others; it is logged once per process.
        """
        domain = self.domain()
        run = SpawnRun()
        with Session(self.engine) as session:
            codes = list(session.exec(select(Agency.code).order_by(col(Agency.id))).all())
        for code in codes:
            try:
                result = plain.spawn_job(
                    self.engine,
                    domain,
                    at=at,
                    actor=self.actor,
                    horizon_days=self.horizon_days,
                    agency_codes=[code],
                )
            except LedgerError as exc:
                run.failed[code] = str(exc)
                if code not in self._warned:
                    self._warned.add(code)
                    log.warning("spawn skipped agency %s: %s", code, exc)
                continue
            run.created += result.created
            run.existing += result.existing
            for key, count in result.per_section.items():
                run.per_section[key] = run.per_section.get(key, 0) + count
        return run

    def intake(self, payload: Mapping[str, Any], *, at: dt.datetime) -> EventResult:
        """Record one event and spawn its tasks (the same external id again creates nothing)."""
        return plain.intake_job(self.engine, self.domain(), payload, at=at, actor=self.actor)

    def sweep(self, *, at: dt.datetime) -> SweepReport:
        """Hand every due stage to the outbox."""
        domain = self.domain()
        total = SweepReport()
        while True:
            part = plain.sweep_job(
                self.engine, domain, at=at, worker=self.worker, limit=SWEEP_BATCH
            )
            plain.merge_sweep(total, part)
            if part.claimed < SWEEP_BATCH:
                return total

    async def deliver(self, *, at: dt.datetime) -> DeliverReport:
        """Send what is due in the outbox: one digest per person and window."""
        domain = self.domain()
        total = DeliverReport()
        while True:
            part = await plain.deliver_job(
                self.engine,
                domain,
                self.channels,
                at=at,
                worker=self.worker,
                limit=DELIVER_BATCH,
                lang=self.lang,
                dashboard_url=self.dashboard_url,
            )
            _merge_deliver(total, part)
            if part.claimed < DELIVER_BATCH:
                return total

    def bulletin(self, *, at: dt.datetime) -> Any:
        """Last month's bulletin (月度通报), once the reports package offers its builder."""
        build = plain.find_report_hook("bulletin")
        if build is None:
            if "bulletin" not in self._warned:
                self._warned.add("bulletin")
                log.info(
                    "monthly bulletin skipped: %s does not exist yet", plain.REPORT_HOOKS_MODULE
                )
            return None
        return plain.bulletin_job(self.engine, self.domain(), at=at, build=build)


def _merge_deliver(total: DeliverReport, part: DeliverReport) -> None:
    for name in (
        "claimed",
        "messages",
        "sent_rows",
        "postponed_rows",
        "skipped_rows",
        "retried_rows",
        "failed_rows",
    ):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.disabled_addresses.extend(part.disabled_addresses)


class EmbeddedRunner:
    """APScheduler in the serve process: Asia/Shanghai, coalescing, misfire grace set.

    Jobs: ``spawn`` daily at 01:00 and once at start; ``sweep`` (sweep + deliver) every
    ``sweep_every_seconds`` and once at start, so the first tick after downtime catches up;
    ``bulletin`` on the first of each month at 06:00.
    """

    def __init__(
        self,
        jobs: Jobs,
        *,
        clock: Callable[[], dt.datetime],
        tz: dt.tzinfo,
        sweep_every_seconds: float,
    ) -> None:
        self.jobs = jobs
        self.clock = clock
        self.tz = tz
        self.sweep_every_seconds = sweep_every_seconds
        self.scheduler = AsyncIOScheduler(
            timezone=tz,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": DAILY_MISFIRE_GRACE_SECONDS,
            },
        )
        self._running: set[asyncio.Task[Any]] = set()
        #: The latest report of each job, for logs and tests.
        self.last: dict[str, Any] = {}

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Register the jobs and start the scheduler on the running event loop."""
        # APScheduler decides *when* by the wall clock (its triggers); each job then reads
        # the injected clock once for its ``at`` (the wall clock too, except in tests).
        first = dt.datetime.now(self.tz)
        self.scheduler.add_job(
            self.run_spawn,
            CronTrigger(hour=SPAWN_AT.hour, minute=SPAWN_AT.minute, timezone=self.tz),
            id="spawn",
            name="spawn recurring tasks (daily 01:00 and at start)",
            next_run_time=first,
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.run_tick,
            IntervalTrigger(seconds=self.sweep_every_seconds, timezone=self.tz),
            id="sweep",
            name=f"sweep + deliver (every {self.sweep_every_seconds:g} s and at start)",
            next_run_time=first,
            misfire_grace_time=SWEEP_MISFIRE_GRACE_SECONDS,
            replace_existing=True,
        )
        self.scheduler.add_job(
            self.run_bulletin,
            CronTrigger(
                day=BULLETIN_DAY, hour=BULLETIN_AT.hour, minute=BULLETIN_AT.minute, timezone=self.tz
            ),
            id="bulletin",
            name="monthly bulletin (1st, 06:00)",
            replace_existing=True,
        )
        self.scheduler.start()
        log.info(
            "scheduler running (%s): %s",
            self.tz,
            "; ".join(
                f"{job.id} next {job.next_run_time:%Y-%m-%d %H:%M}" for job in self.jobs_list()
            ),
        )

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def jobs_list(self) -> list[Any]:
        return list(self.scheduler.get_jobs())

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop taking jobs, let a running one finish (bounded), then shut the scheduler down.

        The order matters: APScheduler's asyncio executor cancels running jobs when it shuts
        down, so the scheduler is paused first and shut down only once they are done.
        """
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        await asyncio.sleep(0)  # a job submitted just now enters its tracking on this turn
        pending = {task for task in self._running if not task.done()}
        if pending:
            log.info("waiting for %d running job(s) to finish", len(pending))
            _, late = await asyncio.wait(pending, timeout=timeout)
            if late:
                log.warning(
                    "%d job(s) still running after %.0f s; stopping anyway", len(late), timeout
                )
        self.scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the loop's next turn
        log.info("scheduler stopped")

    # --- jobs (each reads the clock once) ------------------------------------------------

    async def run_spawn(self) -> SpawnRun:
        async with self._tracked():
            at = self.clock()
            summary = await asyncio.to_thread(self.jobs.spawn, at=at)
            self.last["spawn"] = summary
            if summary.created:
                log.info("spawn %s: %d task(s) created", _local(at, self.tz), summary.created)
            return summary

    async def run_tick(self) -> TickReport:
        async with self._tracked():
            at = self.clock()
            swept = await asyncio.to_thread(self.jobs.sweep, at=at)
            delivered = await self.jobs.deliver(at=at)
            report = TickReport(at=at, sweep=swept, deliver=delivered)
            self.last["sweep"] = report
            if swept.stages or delivered.messages or delivered.failed_rows:
                log.info(
                    "sweep %s: %d stage(s), %d outbox row(s); %d message(s) sent, %d failed",
                    _local(at, self.tz),
                    swept.stages,
                    swept.outbox_rows,
                    delivered.messages,
                    delivered.failed_rows,
                )
            return report

    async def run_bulletin(self) -> Any:
        async with self._tracked():
            at = self.clock()
            result = await asyncio.to_thread(self.jobs.bulletin, at=at)
            self.last["bulletin"] = result
            rows = result.as_rows() if hasattr(result, "as_rows") else []
            for row in rows:
                log.info("bulletin %s", ", ".join(f"{key} {value}" for key, value in row.items()))
            return result

    def _tracked(self) -> _Tracked:
        return _Tracked(self._running)


class _Tracked:
    """Remembers the current task while a job runs, so ``stop`` can wait for it."""

    def __init__(self, running: set[asyncio.Task[Any]]) -> None:
        self._running = running
        self._task: asyncio.Task[Any] | None = None

    async def __aenter__(self) -> None:
        self._task = asyncio.current_task()
        if self._task is not None:
            self._running.add(self._task)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._running.discard(self._task)


def _local(at: dt.datetime, tz: dt.tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
