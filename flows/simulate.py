"""A year on a simulated clock, through the real jobs, into a real database.

The simulation drives the same jobs the embedded scheduler runs (:class:`flows.embedded.Jobs`:
spawn daily at 01:00, sweep + deliver on every working-day morning at 09:00) and registers
events through the same intake, at rates drawn from the seed documents:

* 依申请公开: ~126 requests a year (厦门市商务局 2016: "共受理依申请公开126件"), mostly
  online (青岛西海岸 2018: all 14 through 网络申请), most applicants natural persons;
  网上咨询 126, 局长信箱 9, 监督投诉 6 (厦门 2016);
* ~13 policy interpretations (厦门 2016: "13份文件进行了政策解读");
* ~100 双公示 decisions (三明 2017: 102 licensing / penalty items on 信用 platforms);
* ~100 pieces of information formed for proactive disclosure (青岛 2013: 公文法规 79,
  规划计划 6, 财政信息 3, 人事信息 13);
* a few sentiment events, 人大建议 / 政协提案 assigned in spring after the 两会, the budget
  approved in February and the final accounts in July;
* the recurring duties come from the catalog: monthly reports from every section, the
  monthly self-inspection, quarterly 三公经费, the weekly WeChat update, the annual reports.

Rates are per agency the size of the 厦门 bureau (8 business sections) and scale with the
number of business sections. Each section has a profile (diligent, steady, slipping) that
sets how often it finishes early, on the due day or late; some sections are reliably late
so the dashboard has something to show. Requests are sometimes extended (延期), paused
(中止计时, third-party consultation) or need a 补正 that restarts their clock; done tasks
get evidence links on an example.gov.cn domain.

Everything is drawn from one ``random.Random(seed)`` in a fixed order and every write is
stamped with the simulated clock, so one seed gives the same database every time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import heapq
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from db import tasks as ledger
from db.context import Actor, Domain
from db.engine import session_scope
from db.errors import LedgerError
from db.models import Agency, Event, OutboxMessage, Person, Role, Section, Task, TaskStatus
from db.org import OrgFile, import_org
from flows.embedded import Jobs
from obligations.errors import ObligationsError

log = logging.getLogger("gongkai.simulate")

WORK_START = dt.time(8, 30)
WORK_END = dt.time(17, 30)
SPAWN_AT = dt.time(1, 0)
SWEEP_AT = dt.time(9, 0)
#: Hour duties (舆情) are swept every hour while they can still fall due.
SENTIMENT_SWEEP_HOURS = 50
#: Business sections of the 厦门 bureau the seed rates come from.
FULL_SIZE_SECTIONS = 8
#: Sections that coordinate rather than own business (no requests or decisions of their own).
COORDINATING_SECTIONS = frozenset({"office", "disclosure"})


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Profile:
    """How a section finishes its tasks: shares early / on the due day / late; rest never."""

    name: str
    early: float
    on_time: float
    late: float
    #: Working days late at most (fewer is likelier).
    max_late: int

    @property
    def never(self) -> float:
        return max(0.0, 1.0 - self.early - self.on_time - self.late)


PROFILES: dict[str, Profile] = {
    "diligent": Profile("diligent", early=0.60, on_time=0.37, late=0.03, max_late=2),
    "steady": Profile("steady", early=0.35, on_time=0.50, late=0.14, max_late=5),
    "slipping": Profile("slipping", early=0.10, on_time=0.42, late=0.44, max_late=12),
}
#: How sections are spread over the profiles when the scenario does not name them.
PROFILE_MIX = (("diligent", 0.3), ("steady", 0.5), ("slipping", 0.2))


@dataclass(frozen=True)
class Rates:
    """Events a year for an agency the size of the 厦门 bureau (see the module docstring)."""

    requests: float = 126
    consultations: float = 126
    mailbox: float = 9
    complaints: float = 6
    interpretations: float = 13
    decisions: float = 100
    information: float = 100
    sentiment: float = 4
    suggestions: float = 12


#: 申请人 (table 三 columns); natural persons dominate every published annual report.
APPLICANT_MIX = (
    ("natural_person", 0.78),
    ("commercial_enterprise", 0.14),
    ("legal_service_org", 0.04),
    ("research_institution", 0.01),
    ("public_interest_org", 0.01),
    ("other", 0.02),
)
#: 申请渠道; online dominates (青岛西海岸 2018: 14 of 14 online).
RECEIPT_MIX = (
    ("online", 0.62),
    ("post_signed", 0.16),
    ("in_person", 0.10),
    ("post_unsigned", 0.06),
    ("email", 0.04),
    ("fax", 0.02),
)
#: 办理结果 (table 三 rows).
OUTCOME_MIX = (
    ("disclosed", 0.46),
    ("partial", 0.12),
    ("unavailable.not_held", 0.22),
    ("refused.third_party", 0.03),
    ("refused.process_info", 0.03),
    ("refused.internal_affairs", 0.02),
    ("not_handled.petition", 0.05),
    ("not_handled.publication", 0.03),
    ("other.other", 0.04),
)
DECISION_MIX = (("licensing", 0.7), ("penalty", 0.3))
PUBLICATION_MIX = (("website", 0.8), ("wechat", 0.12), ("gazette", 0.05), ("weibo", 0.03))


@dataclass(frozen=True)
class Scenario:
    """Everything the simulation draws from: the seed, the rates and the shares."""

    seed: int = 1
    rates: Rates = field(default_factory=Rates)
    #: "agency/section" → profile name; other sections are drawn from ``PROFILE_MIX``.
    profiles: Mapping[str, str] = field(default_factory=dict)
    correction_share: float = 0.08
    #: Of the requests asked to correct, those whose applicant never answers.
    never_corrected_share: float = 0.3
    pause_share: float = 0.05
    extension_share: float = 0.10
    suggestion_extension_share: float = 0.10
    major_sentiment_share: float = 0.25


# --------------------------------------------------------------------------- the clock


class SimulatedClock:
    """A clock that only moves when told to; call it for the current instant (UTC)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs an aware start")
        self._now = start.astimezone(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self._now

    def advance(self, to: dt.datetime) -> None:
        """Move forward to ``to``; time never goes back."""
        moment = to.astimezone(dt.UTC)
        if moment < self._now:
            raise ValueError(f"the clock cannot go back from {self._now} to {moment}")
        self._now = moment


# --------------------------------------------------------------------------- results


@dataclass
class SimulationReport:
    start: dt.datetime
    until: dt.datetime
    seed: int
    events: Counter[str] = field(default_factory=Counter)
    tasks: Counter[str] = field(default_factory=Counter)
    timeliness: Counter[str] = field(default_factory=Counter)
    open_overdue: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    profiles: dict[str, str] = field(default_factory=dict)
    sweeps: int = 0
    stages: int = 0
    outbox_rows: int = 0
    messages: int = 0
    spawn_failures: dict[str, str] = field(default_factory=dict)
    wall_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "until": self.until.isoformat(),
            "seed": self.seed,
            "events": dict(sorted(self.events.items())),
            "tasks": dict(sorted(self.tasks.items())),
            "timeliness": dict(sorted(self.timeliness.items())),
            "open_overdue": self.open_overdue,
            "actions": dict(sorted(self.actions.items())),
            "profiles": dict(sorted(self.profiles.items())),
            "sweeps": self.sweeps,
            "stages": self.stages,
            "outbox_rows": self.outbox_rows,
            "messages": self.messages,
            "spawn_failures": self.spawn_failures,
            "wall_seconds": round(self.wall_seconds, 2),
        }


# --------------------------------------------------------------------------- set-up


def import_organisation(engine: Any, org: OrgFile, *, start: dt.date, tz: dt.tzinfo) -> None:
    """Import the organisation as it stood the day before ``start``.

    The agencies then exist on the last day of the previous year, so the first spawn also
    creates what that year leaves open: December's reports, the fourth quarter's 三公经费
    and the annual report due on 31 January.
    """
    at = dt.datetime.combine(start - dt.timedelta(days=1), dt.time(), tz)
    with session_scope(engine) as session:
        import_org(session, org, actor=Actor.system("simulate"), at=at)


def database_is_empty(engine: Any) -> bool:
    with Session(engine) as session:
        return session.exec(select(func.count()).select_from(Agency)).one() == 0


# --------------------------------------------------------------------------- internals


@dataclass
class _Org:
    agency: Agency
    sections: list[Section]
    business: list[Section]
    profiles: dict[int, Profile]
    #: Who completes a section's tasks (its chief, else staff, else the office).
    doers: dict[int, Actor]
    office: Actor
    leader_name: str
    office_name: str
    host: str


@dataclass
class _RequestPlan:
    correction: bool = False
    corrected: bool = True
    pause: bool = False
    extension: bool = False


@dataclass
class _EventSpec:
    register_at: dt.datetime
    occurred_at: dt.datetime
    agency: str
    type: str
    section: str
    attributes: dict[str, str]
    title: str
    external_id: str
    request: _RequestPlan | None = None


def _pick(rng: random.Random, mix: Sequence[tuple[str, float]]) -> str:
    names = [name for name, _ in mix]
    weights = [weight for _, weight in mix]
    return rng.choices(names, weights=weights)[0]


def _count(rng: random.Random, mean: float) -> int:
    """A Poisson-like count around ``mean`` (normal approximation; never negative)."""
    if mean <= 0:
        return 0
    if mean < 10:
        # Knuth's method for small means keeps a few sentiment events realistic.
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, round(rng.gauss(mean, math.sqrt(mean))))


class Simulation:
    """Runs ``Scenario`` from ``start`` to ``until`` on ``clock`` through ``jobs``."""

    def __init__(
        self,
        jobs: Jobs,
        *,
        clock: SimulatedClock,
        scenario: Scenario,
        pace: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jobs = jobs
        self.engine = jobs.engine
        self.clock = clock
        self.scenario = scenario
        self.rng = random.Random(scenario.seed)
        #: Simulated seconds per wall-clock second (None: as fast as possible).
        self.pace = pace
        self._sleep = sleep
        self._wall = wall
        self._queue: list[tuple[dt.datetime, int, Callable[[], object]]] = []
        self._seq = 0
        self._orgs: dict[int, _Org] = {}
        self._last_task_id = 0
        self._event_plans: dict[int, _RequestPlan] = {}
        self._report: SimulationReport | None = None
        self._loop: asyncio.Runner | None = None

    # --- public ----------------------------------------------------------------------------

    def run(
        self,
        *,
        start: dt.date,
        until: dt.datetime,
        on_progress: Callable[[dt.datetime], None] | None = None,
    ) -> SimulationReport:
        """Simulate from ``start`` 00:00 (agency zone) up to the instant ``until``."""
        domain = self.jobs.domain()
        tz = domain.tz
        begin = dt.datetime.combine(start, dt.time(), tz)
        if until <= begin:
            raise ValueError(
                f"nothing to simulate: {until.isoformat()} is not after {begin.isoformat()}"
            )
        started = self._wall()
        report = SimulationReport(start=begin, until=until, seed=self.scenario.seed)
        self._report = report
        self._load_org()
        report.profiles = {
            f"{org.agency.code}/{section.code}": org.profiles[section.id or 0].name
            for org in self._orgs.values()
            for section in org.sections
        }
        self._schedule_days(begin, until, domain, on_progress)
        for spec in self._draw_events(begin, until, domain):
            self._at(spec.register_at, functools.partial(self._intake, spec))
        with asyncio.Runner() as loop:
            self._loop = loop
            while self._queue and self._queue[0][0] <= until:
                moment, _, action = heapq.heappop(self._queue)
                self.clock.advance(moment)
                self._keep_pace(begin, moment, started)
                action()
        self._loop = None
        self._summarise(report, until)
        report.wall_seconds = self._wall() - started
        return report

    # --- the queue -------------------------------------------------------------------------

    def _at(self, moment: dt.datetime, action: Callable[[], object]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (moment.astimezone(dt.UTC), self._seq, action))

    def _keep_pace(self, begin: dt.datetime, moment: dt.datetime, started: float) -> None:
        if not self.pace:
            return
        target = started + (moment - begin).total_seconds() / self.pace
        ahead = target - self._wall()
        if ahead > 0:
            self._sleep(ahead)

    def _schedule_days(
        self,
        begin: dt.datetime,
        until: dt.datetime,
        domain: Domain,
        on_progress: Callable[[dt.datetime], None] | None,
    ) -> None:
        tz = domain.tz
        day = begin.date()
        last = until.astimezone(tz).date()
        while day <= last:
            spawn_at = dt.datetime.combine(day, SPAWN_AT, tz)
            self._at(spawn_at, functools.partial(self._spawn, spawn_at, on_progress))
            if domain.calendar.is_workday(day):
                self._at(dt.datetime.combine(day, SWEEP_AT, tz), self._tick)
            day += dt.timedelta(days=1)

    # --- jobs ------------------------------------------------------------------------------

    def _spawn(self, at: dt.datetime, on_progress: Callable[[dt.datetime], None] | None) -> None:
        summary = self.jobs.spawn(at=self.clock())
        assert self._report is not None
        self._report.spawn_failures.update(summary.failed)
        self._plan_new_tasks()
        if on_progress is not None:
            on_progress(at)

    def _tick(self) -> None:
        at = self.clock()
        swept = self.jobs.sweep(at=at)
        assert self._loop is not None
        delivered = self._loop.run(self.jobs.deliver(at=at))
        assert self._report is not None
        self._report.sweeps += 1
        self._report.stages += swept.stages
        self._report.outbox_rows += swept.outbox_rows
        self._report.messages += delivered.messages

    def _intake(self, spec: _EventSpec) -> None:
        result = self.jobs.intake(
            {
                "event_type": spec.type,
                "occurred_at": spec.occurred_at,
                "agency": spec.agency,
                "section": spec.section,
                "external_id": spec.external_id,
                "title": spec.title,
                "attributes": spec.attributes,
            },
            at=self.clock(),
        )
        assert self._report is not None
        self._report.events[spec.type] += 1
        if spec.request is not None and result.event.id is not None:
            self._event_plans[result.event.id] = spec.request
        if spec.type == "sentiment_detected":
            self._sweep_hourly(self.clock())
        self._plan_new_tasks()

    def _sweep_hourly(self, since: dt.datetime) -> None:
        first = since.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
        for hour in range(SENTIMENT_SWEEP_HOURS):
            self._at(first + dt.timedelta(hours=hour), self._tick)

    # --- organisation ----------------------------------------------------------------------

    def _load_org(self) -> None:
        with Session(self.engine) as session:
            agencies = session.exec(select(Agency).order_by(col(Agency.id))).all()
            for agency in agencies:
                sections = list(
                    session.exec(
                        select(Section)
                        .where(Section.agency_id == agency.id, col(Section.active))
                        .order_by(col(Section.id))
                    ).all()
                )
                people = list(
                    session.exec(
                        select(Person)
                        .where(Person.agency_id == agency.id, col(Person.active))
                        .order_by(col(Person.id))
                    ).all()
                )
                self._orgs[agency.id or 0] = self._org(agency, sections, people)

    def _org(self, agency: Agency, sections: list[Section], people: list[Person]) -> _Org:
        agency_id = agency.id or 0
        office_people = [p for p in people if p.role == Role.OFFICE.value]
        leaders = [p for p in people if p.role == Role.LEADER.value]
        office = (
            Actor(
                name=office_people[0].name,
                role=Role.OFFICE.value,
                agency_id=agency_id,
                person_id=office_people[0].id,
            )
            if office_people
            else Actor.system("simulate")
        )
        doers: dict[int, Actor] = {}
        for section in sections:
            staff = sorted(
                (p for p in people if p.section_id == section.id and p.role in ("chief", "staff")),
                key=lambda p: (p.role != Role.CHIEF.value, p.id or 0),
            )
            doers[section.id or 0] = (
                Actor(
                    name=staff[0].name,
                    role=staff[0].role,
                    agency_id=agency_id,
                    section_id=section.id,
                    person_id=staff[0].id,
                )
                if staff
                else office
            )
        business = [s for s in sections if s.code not in COORDINATING_SECTIONS]
        profiles = self._profiles(agency, sections, business)
        host = agency.code.removeprefix("demo-") + ".example.gov.cn"
        return _Org(
            agency=agency,
            sections=sections,
            business=business,
            profiles=profiles,
            doers=doers,
            office=office,
            leader_name=leaders[0].name if leaders else office.name,
            office_name=office.name,
            host=host,
        )

    def _profiles(
        self, agency: Agency, sections: list[Section], business: list[Section]
    ) -> dict[int, Profile]:
        """Named in the scenario, else drawn; an agency with 3+ business sections has a laggard."""
        chosen: dict[int, Profile] = {}
        for section in sections:
            named = self.scenario.profiles.get(f"{agency.code}/{section.code}")
            if named is None:
                named = _pick(self.rng, PROFILE_MIX)
                if section.code in COORDINATING_SECTIONS:
                    named = "diligent" if named == "slipping" else named
            chosen[section.id or 0] = PROFILES[named]
        drawn = [s for s in business if f"{agency.code}/{s.code}" not in self.scenario.profiles]
        if (
            len(business) >= 3
            and drawn
            and not any(chosen[s.id or 0].name == "slipping" for s in business)
        ):
            chosen[self.rng.choice(drawn).id or 0] = PROFILES["slipping"]
        return chosen

    # --- events ----------------------------------------------------------------------------

    def _draw_events(
        self, begin: dt.datetime, until: dt.datetime, domain: Domain
    ) -> list[_EventSpec]:
        specs: list[_EventSpec] = []
        for org in self._orgs.values():
            specs.extend(_EventDraw(self.rng, self.scenario, org, domain, begin, until).all())
        specs.sort(key=lambda spec: (spec.register_at, spec.external_id))
        return specs

    # --- tasks -----------------------------------------------------------------------------

    def _plan_new_tasks(self) -> None:
        with Session(self.engine) as session:
            fresh = list(
                session.exec(
                    select(Task).where(col(Task.id) > self._last_task_id).order_by(col(Task.id))
                ).all()
            )
        for task in fresh:
            self._last_task_id = max(self._last_task_id, task.id or 0)
            self._plan(task)

    def _plan(self, task: Task) -> None:
        plan = self._event_plans.get(task.event_id or -1)
        code = task.obligation_code
        task_id = task.id or 0
        if code == "request-correction-notice":
            if plan is not None and plan.correction:
                self._plan_done(task, then=lambda: self._after_correction_notice(task))
            else:
                self._at(
                    self._workday_moment(self.clock(), self.rng.randint(0, 1)),
                    lambda: self._cancel(task_id, "申请内容明确，无需补正"),
                )
            return
        if code == "request-reply" and plan is not None:
            if plan.correction:
                return  # planned when the correction notice goes out
            if plan.pause:
                self._plan_pause(task)
                return
            if plan.extension:
                self._plan_extension(task, approver_role="office")
                return
        if (
            code == "suggestion-reply"
            and self.rng.random() < self.scenario.suggestion_extension_share
        ):
            self._plan_extension(task, approver_role="leader")
            return
        self._plan_done(task)

    def _plan_done(
        self, task: Task, *, then: Callable[[], None] | None = None, outcome: str | None = None
    ) -> None:
        org = self._orgs[task.agency_id]
        profile = org.profiles[task.section_id]
        moment = self._done_moment(task, profile)
        if moment is None:
            return
        task_id = task.id or 0

        def finish() -> None:
            if self._complete(task_id, outcome=outcome) and then is not None:
                then()

        self._at(moment, finish)

    def _done_moment(self, task: Task, profile: Profile) -> dt.datetime | None:
        """When this section finishes this task: early, on the due day, late or never."""
        if task.due_date is None or task.due_at is None:
            return None
        draw = self.rng.random()
        if draw >= profile.early + profile.on_time + profile.late:
            return None
        kind = (
            "early"
            if draw < profile.early
            else ("on_time" if draw < profile.early + profile.on_time else "late")
        )
        now = self.clock()
        domain = self.jobs.domain()
        tz = domain.tz
        if task.rule["deadline"]["unit"] == "hour":
            span = max(task.due_at - now, dt.timedelta(hours=1))
            if kind == "early":
                moment = task.due_at - span * self.rng.uniform(0.3, 0.8)
            elif kind == "on_time":
                moment = task.due_at - span * self.rng.uniform(0.02, 0.2)
            else:
                moment = task.due_at + dt.timedelta(hours=self.rng.uniform(0.5, 6))
            return max(moment, now + dt.timedelta(minutes=10))
        calendar = domain.calendar
        floor = now + dt.timedelta(minutes=30)
        if task.period_key is not None and task.start_date < task.due_date:
            # A report on a period is written once the period is over.
            floor = max(floor, dt.datetime.combine(task.start_date, dt.time(9, 0), tz))
        try:
            due_day = (
                task.due_date
                if calendar.is_workday(task.due_date)
                else calendar.add_workdays(task.due_date, -1)
            )
            if kind == "early":
                room = calendar.workdays_between(floor.astimezone(tz).date(), due_day)
                if room >= 1:
                    back = min(room, 1 + int(self.rng.expovariate(0.5)))
                    day = calendar.add_workdays(due_day, -back)
                else:
                    day = due_day
            elif kind == "on_time":
                day = due_day
            else:
                late = 1 + min(
                    int(self.rng.expovariate(2.5 / profile.max_late)), profile.max_late - 1
                )
                day = calendar.add_workdays(task.due_date, late)
        except ObligationsError:
            return None  # beyond the calendar: stays open
        return max(self._office_hours(day, tz), floor)

    def _office_hours(self, day: dt.date, tz: dt.tzinfo) -> dt.datetime:
        minutes = self.rng.randint(0, 8 * 60 + 30)
        return dt.datetime.combine(day, dt.time(9, 0), tz) + dt.timedelta(minutes=minutes)

    def _workday_moment(self, after: dt.datetime, workdays: int) -> dt.datetime:
        domain = self.jobs.domain()
        local = after.astimezone(domain.tz)
        day = domain.calendar.add_workdays(local.date(), workdays) if workdays else local.date()
        if not domain.calendar.is_workday(day):
            day = domain.calendar.roll_forward(day)
        return max(self._office_hours(day, domain.tz), after + dt.timedelta(minutes=20))

    # --- request handling ------------------------------------------------------------------

    def _reply_task(self, event_id: int | None) -> Task | None:
        if event_id is None:
            return None
        with Session(self.engine) as session:
            return session.exec(
                select(Task).where(
                    Task.event_id == event_id, Task.obligation_code == "request-reply"
                )
            ).first()

    def _after_correction_notice(self, notice: Task) -> None:
        plan = self._event_plans.get(notice.event_id or -1)
        reply = self._reply_task(notice.event_id)
        if reply is None or plan is None:
            return
        reply_id = reply.id or 0
        if not plan.corrected:
            # 申请人无正当理由逾期不补正: handled as "其他处理" once the correction period is over.
            moment = self._workday_moment(self.clock(), self.rng.randint(8, 12))
            self._at(moment, lambda: self._complete(reply_id, outcome="other.no_correction"))
            return
        arrives = self._workday_moment(self.clock(), self.rng.randint(2, 10))

        def corrected() -> None:
            task = self._ledger(
                "restart",
                reply_id,
                lambda session, domain, office: ledger.restart(
                    session, reply_id, domain, actor=office, at=self.clock(), received=self.clock()
                ),
            )
            if task is not None:
                self._plan_done(task)

        self._at(arrives, corrected)

    def _plan_pause(self, task: Task) -> None:
        task_id = task.id or 0
        paused_at = self._workday_moment(self.clock(), self.rng.randint(2, 5))
        days = self.rng.randint(5, 15)

        def pause() -> None:
            done = self._ledger(
                "pause",
                task_id,
                lambda session, domain, office: ledger.pause(
                    session,
                    task_id,
                    domain,
                    actor=office,
                    at=self.clock(),
                    reason="征求第三方意见（条例第三十二条），中止计时",
                ),
            )
            if done is not None:
                self._at(self._workday_moment(self.clock(), days), resume)

        def resume() -> None:
            resumed = self._ledger(
                "resume",
                task_id,
                lambda session, domain, office: ledger.resume(
                    session, task_id, domain, actor=office, at=self.clock()
                ),
            )
            if resumed is not None:
                self._plan_done(resumed)

        self._at(paused_at, pause)

    def _plan_extension(self, task: Task, *, approver_role: str) -> None:
        task_id = task.id or 0
        org = self._orgs[task.agency_id]
        extension = task.rule["deadline"].get("extension") or {}
        cap = int(extension.get("max_total", 0))
        if cap <= 0 or task.due_date is None:
            self._plan_done(task)
            return
        domain = self.jobs.domain()
        try:
            day = domain.calendar.add_workdays(task.due_date, -self.rng.randint(1, 4))
        except ObligationsError:
            self._plan_done(task)
            return
        moment = max(self._office_hours(day, domain.tz), self.clock() + dt.timedelta(hours=1))
        unit = task.rule["deadline"]["unit"]
        amount = min(
            cap, self.rng.choice([1, 2, 3]) if unit == "month" else self.rng.choice([5, 10, 15, 20])
        )
        approver = org.leader_name if approver_role == "leader" else org.office_name

        def extend() -> None:
            extended = self._ledger(
                "extend",
                task_id,
                lambda session, domain, office: ledger.extend(
                    session,
                    task_id,
                    domain,
                    actor=office,
                    at=self.clock(),
                    amount=amount,
                    approver=approver,
                    reason="情况复杂，需进一步核查",
                ),
            )
            if extended is not None:
                self._plan_done(extended)

        self._at(moment, extend)

    # --- ledger operations -----------------------------------------------------------------

    def _ledger(
        self, name: str, task_id: int, operation: Callable[[Session, Domain, Actor], Task]
    ) -> Task | None:
        """Run one ledger operation as the agency's office; a refusal is logged and skipped."""
        with Session(self.engine) as session:
            task = session.get(Task, task_id)
            agency_id = task.agency_id if task else 0
        office = self._orgs[agency_id].office if agency_id in self._orgs else Actor.system()
        try:
            with session_scope(self.engine) as session:
                changed = operation(session, self.jobs.domain(), office)
        except LedgerError as exc:
            log.debug("%s of task %d skipped: %s", name, task_id, exc)
            return None
        assert self._report is not None
        self._report.actions[name] += 1
        return changed

    def _cancel(self, task_id: int, reason: str) -> None:
        self._ledger(
            "cancel",
            task_id,
            lambda session, domain, office: ledger.cancel(
                session, task_id, domain, actor=office, at=self.clock(), reason=reason
            ),
        )

    def _complete(self, task_id: int, *, outcome: str | None = None) -> bool:
        with Session(self.engine) as session:
            task = session.get(Task, task_id)
        if task is None or task.status not in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value):
            return False
        org = self._orgs[task.agency_id]
        actor = org.doers.get(task.section_id, org.office)
        at = self.clock()
        domain = self.jobs.domain()
        local_day = at.astimezone(domain.tz).date()
        request = "table3" in task.rule.get("feeds", [])
        try:
            with session_scope(self.engine) as session:
                ledger.complete(
                    session,
                    task_id,
                    domain,
                    actor=actor,
                    at=at,
                    evidence=self._evidence(org, task, at, domain.tz),
                    outcome_code=(outcome or _pick(self.rng, OUTCOME_MIX)) if request else None,
                    service_date=local_day if request else None,
                )
        except LedgerError as exc:
            log.debug("completing task %d skipped: %s", task_id, exc)
            return False
        assert self._report is not None
        self._report.actions["complete"] += 1
        return True

    def _evidence(self, org: _Org, task: Task, at: dt.datetime, tz: dt.tzinfo) -> str:
        local = at.astimezone(tz)
        folder = {
            "request-reply": "ysqgk",
            "request-correction-notice": "ysqgk",
            "policy-interpretation": "zcjd",
            "credit-publicity": "sgs",
            "budget-disclosure": "czyjs",
            "final-accounts-disclosure": "czyjs",
            "spending-quarterly": "czyjs",
            "suggestion-reply": "jytabl",
            "wechat-weekly": "wx",
        }.get(task.obligation_code, "zwgk")
        return f"https://{org.host}/{folder}/{local:%Y%m}/t{local:%Y%m%d}_{task.id}.html"

    # --- summary ---------------------------------------------------------------------------

    def _summarise(self, report: SimulationReport, until: dt.datetime) -> None:
        with Session(self.engine) as session:
            for status, count in session.exec(
                select(Task.status, func.count()).group_by(col(Task.status))
            ).all():
                report.tasks[str(status)] = int(count)
            for timeliness, count in session.exec(
                select(Task.timeliness, func.count())
                .where(col(Task.timeliness).is_not(None))
                .group_by(col(Task.timeliness))
            ).all():
                report.timeliness[str(timeliness)] = int(count)
            report.open_overdue = int(
                session.exec(
                    select(func.count())
                    .select_from(Task)
                    .where(
                        col(Task.status).in_([TaskStatus.OPEN.value, TaskStatus.PAUSED.value]),
                        col(Task.due_at) < until,
                    )
                ).one()
            )
            report.outbox_rows = int(
                session.exec(select(func.count()).select_from(OutboxMessage)).one()
            )
            events = int(session.exec(select(func.count()).select_from(Event)).one())
        if events != sum(report.events.values()):
            log.warning("events in the database (%d) differ from those registered", events)


class _EventDraw:
    """Draws one agency's events for the simulated range (see the module docstring)."""

    def __init__(
        self,
        rng: random.Random,
        scenario: Scenario,
        org: _Org,
        domain: Domain,
        begin: dt.datetime,
        until: dt.datetime,
    ) -> None:
        self.rng = rng
        self.scenario = scenario
        self.org = org
        self.domain = domain
        self.tz = domain.tz
        self.begin = begin
        self.until = until
        self.scale = len(org.business) / FULL_SIZE_SECTIONS
        self.days = self._days(begin.astimezone(self.tz).date(), until.astimezone(self.tz).date())
        self.workdays = [day for day in self.days if domain.calendar.is_workday(day)]
        self._serial: Counter[str] = Counter()

    def all(self) -> list[_EventSpec]:
        if not self.org.business:
            return []  # a coordinating agency only has its recurring duties
        rates = self.scenario.rates
        specs: list[_EventSpec] = []
        specs += [self._request(day) for day in self._spread(rates.requests, any_day=True)]
        for box, rate in (
            ("consultation", rates.consultations),
            ("director_mailbox", rates.mailbox),
            ("complaint", rates.complaints),
        ):
            specs += [self._message(day, box) for day in self._spread(rate, any_day=True)]
        specs += [self._document(day) for day in self._spread(rates.interpretations)]
        specs += [self._decision(day) for day in self._spread(rates.decisions)]
        specs += [self._information(day) for day in self._spread(rates.information)]
        specs += [self._sentiment(day) for day in self._spread(rates.sentiment, any_day=True)]
        specs += [
            self._suggestion(day) for day in self._seasonal(rates.suggestions, (3, 10), (4, 30))
        ]
        specs += [self._approval(day, "budget") for day in self._yearly((2, 5), (2, 25))]
        specs += [self._approval(day, "final_accounts") for day in self._yearly((7, 10), (8, 10))]
        return [spec for spec in specs if self.begin <= spec.register_at <= self.until]

    # --- days ------------------------------------------------------------------------------

    @staticmethod
    def _days(first: dt.date, last: dt.date) -> list[dt.date]:
        return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]

    def _spread(self, per_year: float, *, any_day: bool = False) -> list[dt.date]:
        pool = self.days if any_day else self.workdays
        share = len(pool) / (365 if any_day else 250)
        count = _count(self.rng, per_year * self.scale * share)
        return sorted(self.rng.choice(pool) for _ in range(count)) if pool else []

    def _seasonal(
        self, per_year: float, first: tuple[int, int], last: tuple[int, int]
    ) -> list[dt.date]:
        found: list[dt.date] = []
        for year in sorted({day.year for day in self.workdays}):
            window = [
                day
                for day in self.workdays
                if day.year == year and dt.date(year, *first) <= day <= dt.date(year, *last)
            ]
            full = self.domain.calendar.workdays_between(
                dt.date(year, *first) - dt.timedelta(days=1), dt.date(year, *last)
            )
            if window and full > 0:
                count = _count(self.rng, per_year * self.scale * len(window) / full)
                found += sorted(self.rng.choice(window) for _ in range(count))
        return found

    def _yearly(self, first: tuple[int, int], last: tuple[int, int]) -> list[dt.date]:
        """One working day a year inside the window (the range filter drops days outside)."""
        found: list[dt.date] = []
        for year in sorted({day.year for day in self.days}):
            start, end = dt.date(year, *first), dt.date(year, *last)
            window = [
                start + dt.timedelta(days=n)
                for n in range((end - start).days + 1)
                if self.domain.calendar.is_workday(start + dt.timedelta(days=n))
            ]
            if window:
                found.append(self.rng.choice(window))
        return found

    def _moment(self, day: dt.date, *, any_hour: bool = False) -> dt.datetime:
        if any_hour:
            minutes = self.rng.randint(0, 24 * 60 - 1)
            return dt.datetime.combine(day, dt.time(), self.tz) + dt.timedelta(minutes=minutes)
        span = (WORK_END.hour - WORK_START.hour) * 60 + WORK_END.minute - WORK_START.minute
        start = dt.datetime.combine(day, WORK_START, self.tz)
        return start + dt.timedelta(minutes=self.rng.randint(0, span))

    def _next_workday_morning(self, moment: dt.datetime) -> dt.datetime:
        """When the office confirms what arrived at ``moment`` (same day if it is early enough)."""
        local = moment.astimezone(self.tz)
        calendar = self.domain.calendar
        if calendar.is_workday(local.date()) and local.time() < dt.time(16, 0):
            return local + dt.timedelta(minutes=self.rng.randint(20, 90))
        day = calendar.add_workdays(local.date(), 1)
        return dt.datetime.combine(day, dt.time(9, 0), self.tz) + dt.timedelta(
            minutes=self.rng.randint(0, 150)
        )

    # --- sections --------------------------------------------------------------------------

    def _business(self) -> str:
        return self.rng.choice(self.org.business).code

    def _finance(self) -> str:
        for section in self.org.sections:
            if "finance" in section.code:
                return section.code
        codes = [s.code for s in self.org.sections]
        return "office" if "office" in codes else codes[0]

    def _id(self, kind: str) -> str:
        self._serial[kind] += 1
        return f"SIM-{self.org.agency.code}-{kind}-{self._serial[kind]:04d}"

    # --- the events ------------------------------------------------------------------------

    def _request(self, day: dt.date) -> _EventSpec:
        channel = _pick(self.rng, RECEIPT_MIX)
        attributes = {"applicant_type": _pick(self.rng, APPLICANT_MIX), "channel": channel}
        if channel in ("online", "email", "fax", "post_unsigned"):
            arrived = self._moment(day, any_hour=True)
            registered = self._next_workday_morning(arrived)
            attributes["confirmed_on"] = registered.astimezone(self.tz).date().isoformat()
        else:
            workday = (
                day
                if self.domain.calendar.is_workday(day)
                else self.domain.calendar.roll_forward(day)
            )
            arrived = registered = self._moment(workday)
        scenario = self.scenario
        plan = _RequestPlan()
        draw = self.rng.random()
        if draw < scenario.correction_share:
            plan.correction = True
            plan.corrected = self.rng.random() >= scenario.never_corrected_share
        elif draw < scenario.correction_share + scenario.pause_share:
            plan.pause = True
        elif draw < scenario.correction_share + scenario.pause_share + scenario.extension_share:
            plan.extension = True
        return _EventSpec(
            register_at=registered,
            occurred_at=arrived,
            agency=self.org.agency.code,
            type="request_received",
            section=self._business(),
            attributes=attributes,
            title=f"申请公开{self.rng.choice(REQUEST_TOPICS)}",
            external_id=self._id("YSQ"),
            request=plan,
        )

    def _message(self, day: dt.date, box: str) -> _EventSpec:
        arrived = self._moment(day, any_hour=True)
        label = {
            "consultation": "网上咨询",
            "director_mailbox": "局长信箱",
            "complaint": "监督投诉",
        }[box]
        return _EventSpec(
            register_at=self._next_workday_morning(arrived),
            occurred_at=arrived,
            agency=self.org.agency.code,
            type="message_received",
            section=self._business(),
            attributes={"box": box},
            title=f"{label}：{self.rng.choice(MESSAGE_TOPICS)}",
            external_id=self._id("MSG"),
        )

    def _document(self, day: dt.date) -> _EventSpec:
        moment = self._moment(day)
        serial = self._serial["DOC"] + 1
        return _EventSpec(
            register_at=moment,
            occurred_at=moment,
            agency=self.org.agency.code,
            type="document_published",
            section=self._business(),
            attributes={
                "doc_kind": self.rng.choice(["normative", "policy"]),
                "channel": "website",
                "doc_number": f"示{self.org.agency.code[-4:]}规〔{day.year}〕{serial}号",
            },
            title=self.rng.choice(DOCUMENT_TITLES),
            external_id=self._id("DOC"),
        )

    def _decision(self, day: dt.date) -> _EventSpec:
        moment = self._moment(day)
        kind = _pick(self.rng, DECISION_MIX)
        serial = self._serial["DEC"] + 1
        word = "许" if kind == "licensing" else "罚"
        return _EventSpec(
            register_at=moment,
            occurred_at=moment,
            agency=self.org.agency.code,
            type="decision_made",
            section=self._business(),
            attributes={"kind": kind, "number": f"示{word}〔{day.year}〕第{serial:04d}号"},
            title=self.rng.choice(LICENSING_TITLES if kind == "licensing" else PENALTY_TITLES),
            external_id=self._id("DEC"),
        )

    def _information(self, day: dt.date) -> _EventSpec:
        moment = self._moment(day)
        category, title = self.rng.choice(INFORMATION_ITEMS)
        return _EventSpec(
            register_at=moment,
            occurred_at=moment,
            agency=self.org.agency.code,
            type="information_formed",
            section=self.rng.choice(self.org.sections).code,
            attributes={"category": category, "channel": _pick(self.rng, PUBLICATION_MIX)},
            title=title,
            external_id=self._id("INF"),
        )

    def _sentiment(self, day: dt.date) -> _EventSpec:
        moment = self._moment(day, any_hour=True)
        major = self.rng.random() < self.scenario.major_sentiment_share
        return _EventSpec(
            register_at=moment,
            occurred_at=moment,
            agency=self.org.agency.code,
            type="sentiment_detected",
            section=self._business(),
            attributes={"severity": "major" if major else "other"},
            title=self.rng.choice(SENTIMENT_TOPICS),
            external_id=self._id("YQ"),
        )

    def _suggestion(self, day: dt.date) -> _EventSpec:
        moment = self._moment(day)
        source = self.rng.choice(["npc", "cppcc"])
        serial = self._serial["JYTA"] + 1
        label = "人大代表建议" if source == "npc" else "政协委员提案"
        return _EventSpec(
            register_at=moment,
            occurred_at=moment,
            agency=self.org.agency.code,
            type="suggestion_assigned",
            section=self._business(),
            attributes={"source": source, "number": f"{day.year}{serial:03d}"},
            title=f"{label}：{self.rng.choice(SUGGESTION_TOPICS)}",
            external_id=self._id("JYTA"),
        )

    def _approval(self, day: dt.date, kind: str) -> _EventSpec:
        moment = self._moment(day)
        year = day.year if kind == "budget" else day.year - 1
        title = f"{year}年部门预算批复" if kind == "budget" else f"{year}年部门决算批复"
        return _EventSpec(
            register_at=moment,
            occurred_at=moment,
            agency=self.org.agency.code,
            type="approval_received",
            section=self._finance(),
            attributes={"kind": kind},
            title=title,
            external_id=self._id("BUDGET" if kind == "budget" else "FINAL"),
        )


# --------------------------------------------------------------------------- titles

REQUEST_TOPICS = (
    "2025年度外贸发展专项资金拨付明细",
    "本市对外贸易经营者备案登记信息",
    "商贸流通领域专项资金分配结果",
    "电子商务示范企业评审情况",
    "某商业综合体项目审批材料",
    "成品油零售经营资格审批情况",
    "单用途预付卡发卡企业备案名单",
    "外商投资企业设立情况统计",
    "菜市场改造提升补助资金使用情况",
    "家电以旧换新补贴发放情况",
    "拍卖企业许可及年检情况",
    "报废机动车回收企业资质认定材料",
    "促消费活动经费支出明细",
    "对外劳务合作经营资格核准情况",
    "本单位2025年度“三公”经费决算明细",
)
MESSAGE_TOPICS = (
    "外贸企业出口信用保险补贴申报时间",
    "预付卡退款投诉",
    "电商企业扶持政策咨询",
    "展会补贴申报条件",
    "商场促销活动规范",
    "二手车交易市场备案咨询",
    "外资企业变更备案流程",
)
DOCUMENT_TITLES = (
    "关于促进外贸稳规模优结构的若干措施",
    "电子商务发展专项资金管理办法",
    "关于进一步促进消费扩容提质的实施意见",
    "主要副食品供应保障资金管理办法",
    "商贸流通企业纾困扶持办法",
    "关于推动跨境电商高质量发展的若干措施",
    "会展业发展扶持资金管理办法",
)
LICENSING_TITLES = (
    "对外贸易经营者备案登记",
    "成品油零售经营资格审批",
    "拍卖企业设立许可",
    "报废机动车回收企业资质认定",
    "酒类流通备案登记",
)
PENALTY_TITLES = (
    "单用途预付卡违规发卡行政处罚",
    "成品油市场违规经营行政处罚",
    "拍卖活动违规行政处罚",
    "商业特许经营未备案行政处罚",
)
INFORMATION_ITEMS = (
    ("规划计划", "年度工作要点"),
    ("财政信息", "专项资金分配结果公示"),
    ("人事信息", "公开招聘工作人员拟聘用人员公示"),
    ("公文法规", "关于开展消费季活动的通知"),
    ("公文法规", "关于组织企业参加进博会的通知"),
    ("政策文件", "扶持资金申报指南"),
    ("统计信息", "月度社会消费品零售总额运行情况"),
    ("项目信息", "重点项目推进情况"),
)
SENTIMENT_TOPICS = (
    "网传某商场预付卡跑路",
    "市民反映菜价异常上涨",
    "网传某外贸企业拖欠货款",
    "社交媒体热议促消费券发放不公",
    "网传某加油站油品质量问题",
)
SUGGESTION_TOPICS = (
    "关于支持外贸企业开拓新兴市场的建议",
    "关于完善社区商业网点布局的建议",
    "关于加快发展跨境电商的提案",
    "关于规范单用途预付卡管理的建议",
    "关于提升夜间经济活力的提案",
    "关于扶持老字号企业发展的建议",
)
