"""The flows' logic through ``.fn`` (no Prefect API) and their jobs, on SQLite and PostgreSQL.

Spawn creates tasks and is idempotent; sweep writes outbox rows and deliver sends them via
the console channel; a bad intake payload fails with one clear message and changes nothing;
a briefly unavailable database is retried; two sweeps at once never write a stage twice.
The deployments in ``deploy/prefect.yaml`` match the ones ``gongkai deploy`` registers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import Engine, func
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, SQLModel, col, select

from db.context import Actor, Domain
from db.engine import session_scope
from db.models import AuditEntry, Event, OutboxMessage, Task
from db.spawn import record_event
from db.sweep import SweepReport, _audiences
from db.tasks import stages_of
from flows import jobs
from flows import prefect_flows as pf
from flows.context import FlowContext, FlowSettings, using
from flows.errors import FlowError, PayloadError
from notifier.channels.console import ConsoleChannel
from obligations.errors import ObligationsError
from obligations.schedule import due_stages

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
AGENCY = "xm-commerce"
IN_PERSON = {"applicant_type": "natural_person", "channel": "in_person"}


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TZ)


def clock_at(moment: dt.datetime) -> Callable[[], dt.datetime]:
    return lambda: moment


def count(engine: Engine, model: type[SQLModel]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def counts(engine: Engine) -> dict[str, int]:
    return {model.__name__: count(engine, model) for model in (Event, Task, AuditEntry)}


@pytest.fixture
def console() -> ConsoleChannel:
    return ConsoleChannel()


@pytest.fixture
def context(
    engine: Engine, bureau: Any, domain: Domain, console: ConsoleChannel
) -> Iterator[FlowContext]:
    """The bureau's ledger as the flows' context (what a worker builds from GONGKAI_*)."""
    made = FlowContext(engine=engine, domain=domain, channels={"console": console})
    with using(made):
        yield made


def request(engine: Engine, domain: Domain, *, number: int, received: dt.datetime) -> list[int]:
    """A disclosure request to 外贸科 (two tasks: the reply and the correction notice)."""
    with session_scope(engine) as session:
        result = record_event(
            session,
            domain,
            agency_code=AGENCY,
            event_type_name="request_received",
            occurred_at=received,
            actor=Actor.system("test"),
            at=received,
            attributes=IN_PERSON,
            external_id=f"YSQ-2026-{number:04d}",
            section_code="foreign-trade",
            title=f"申请公开外贸统计 {number}",
        )
    return result.task_ids


# --- spawn ---------------------------------------------------------------------------------


def test_spawn_creates_the_periods_within_the_horizon_and_is_idempotent(
    context: FlowContext, engine: Engine, at: dt.datetime
) -> None:
    first = asyncio.run(pf.spawn_flow.fn(clock=clock_at(at)))
    assert first.created > 0
    assert first.existing == 0
    assert count(engine, Task) == first.created
    # every section of the bureau got its monthly report, through January 2027 (40 days on)
    with Session(engine) as session:
        keys = set(
            session.exec(
                select(Task.period_key).where(Task.obligation_code == "monthly-info-report")
            ).all()
        )
    assert {"2026-11", "2026-12", "2027-01"} <= keys
    assert "2027-02" not in keys
    assert sum(first.per_section.values()) == first.created
    assert f"{AGENCY}/foreign-trade" in first.per_section

    again = asyncio.run(pf.spawn_flow.fn(clock=clock_at(at + dt.timedelta(hours=1))))
    assert again.created == 0
    assert again.existing == first.created
    assert count(engine, Task) == first.created


def test_spawn_of_one_obligation_and_a_short_horizon(
    context: FlowContext, engine: Engine, at: dt.datetime
) -> None:
    result = asyncio.run(
        pf.spawn_flow.fn(obligation="monthly-info-report", horizon_days=0, clock=clock_at(at))
    )
    with Session(engine) as session:
        found = Counter(session.exec(select(Task.obligation_code)).all())
    assert set(found) == {"monthly-info-report"}
    assert result.created == found["monthly-info-report"]
    with Session(engine) as session:
        assert "2026-12" not in set(session.exec(select(Task.period_key)).all())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"obligation": "no-such-duty"}, "unknown obligation 'no-such-duty'"),
        ({"obligation": "request-reply"}, "triggered by events, not recurring"),
        ({"agencies": ["nowhere"]}, "unknown agency 'nowhere'; known: xm-commerce"),
        ({"horizon_days": -1}, "horizon_days must be between 0 and 400"),
    ],
)
def test_spawn_refuses_bad_input_and_changes_nothing(
    context: FlowContext, engine: Engine, at: dt.datetime, kwargs: dict[str, Any], message: str
) -> None:
    before = counts(engine)
    with pytest.raises(ObligationsError, match=message):
        asyncio.run(pf.spawn_flow.fn(clock=clock_at(at), **kwargs))
    assert counts(engine) == before


# --- sweep and deliver -----------------------------------------------------------------------


def test_sweep_writes_outbox_rows_and_deliver_sends_them_via_the_console(
    context: FlowContext, engine: Engine, domain: Domain, console: ConsoleChannel
) -> None:
    request(engine, domain, number=1, received=local(2026, 11, 20, 10))
    # 补正告知 (7 working days → due 12-01) reminds 2 working days before: Fri 11-27 09:00.
    moment = local(2026, 11, 27, 9, 0)
    outcome = asyncio.run(pf.sweep_flow.fn(clock=clock_at(moment)))
    assert outcome.sweep.claimed >= 1
    assert outcome.sweep.outbox_rows == 1
    assert outcome.sweep.as_rows() == [
        {"section": f"{AGENCY}/foreign-trade", "reminders": 1, "overdue": 0, "escalations": 0}
    ]
    assert outcome.delivered is not None
    assert outcome.delivered.messages == 1
    address, message = console.sent[0]
    assert address == "王外贸"  # no chat address: the console channel, by name
    assert message.items[0].state == "due_soon"
    with Session(engine) as session:
        row = session.exec(select(OutboxMessage)).one()
        assert row.status == "sent"

    again = asyncio.run(pf.sweep_flow.fn(clock=clock_at(moment)))
    assert again.sweep.outbox_rows == 0
    assert again.delivered is None  # nothing due: no delivery pass at all
    assert len(console.sent) == 1


def test_an_idle_sweep_returns_at_once(context: FlowContext, engine: Engine) -> None:
    outcome = asyncio.run(pf.sweep_flow.fn(clock=clock_at(local(2026, 11, 27, 9, 0))))
    assert outcome.sweep == SweepReport()
    assert outcome.delivered is None


def test_deliver_flow_sends_what_the_sweep_queued(
    context: FlowContext, engine: Engine, domain: Domain, console: ConsoleChannel
) -> None:
    request(engine, domain, number=1, received=local(2026, 11, 20, 10))
    moment = local(2026, 11, 27, 9, 0)
    outcome = asyncio.run(pf.sweep_flow.fn(deliver=False, clock=clock_at(moment)))
    assert outcome.delivered is None
    assert outcome.sweep.outbox_rows == 1
    report = asyncio.run(pf.deliver_flow.fn(clock=clock_at(moment)))
    assert (report.messages, report.sent_rows) == (1, 1)
    assert asyncio.run(pf.deliver_flow.fn(clock=clock_at(moment))).claimed == 0


@pytest.mark.parametrize("limit", [0, 10_001])
def test_sweep_refuses_a_bad_limit(context: FlowContext, limit: int) -> None:
    with pytest.raises(FlowError, match="limit must be between 1 and 10000"):
        asyncio.run(pf.sweep_flow.fn(limit=limit, clock=clock_at(local(2026, 11, 27, 9))))


def test_a_clock_without_zone_is_refused(context: FlowContext) -> None:
    naive = dt.datetime(2026, 11, 27, 9, 0)  # noqa: DTZ001 (the point of the test)
    with pytest.raises(FlowError, match="without a time zone"):
        asyncio.run(pf.sweep_flow.fn(clock=lambda: naive))


# --- intake --------------------------------------------------------------------------------------

GOOD_PAYLOAD: dict[str, Any] = {
    "event_type": "request_received",
    "occurred_at": "2026-11-20T10:00:00+08:00",
    "agency": AGENCY,
    "section": "foreign-trade",
    "external_id": "YSQ-2026-0042",
    "title": "申请公开2025年外贸统计",
    "attributes": IN_PERSON,
}


def test_intake_records_the_event_once(context: FlowContext, engine: Engine) -> None:
    moment = local(2026, 11, 20, 11)
    first = asyncio.run(pf.intake_flow.fn(payload=GOOD_PAYLOAD, clock=clock_at(moment)))
    assert first["created"] is True
    assert len(first["task_ids"]) == 2  # the reply and the correction notice
    again = asyncio.run(pf.intake_flow.fn(payload=GOOD_PAYLOAD, clock=clock_at(moment)))
    assert again == {**first, "created": False}
    assert count(engine, Event) == 1


def test_intake_without_agency_uses_the_only_one(context: FlowContext, engine: Engine) -> None:
    payload = {key: value for key, value in GOOD_PAYLOAD.items() if key != "agency"}
    outcome = asyncio.run(
        pf.intake_flow.fn(payload=payload, clock=clock_at(local(2026, 11, 20, 11)))
    )
    assert outcome["created"] is True


def _without(key: str) -> dict[str, Any]:
    return {name: value for name, value in GOOD_PAYLOAD.items() if name != key}


BAD_PAYLOADS = [
    pytest.param(["not", "an", "object"], "must be an object", id="not-an-object"),
    pytest.param(_without("occurred_at"), "occurred_at: Field required", id="no-time"),
    pytest.param(
        {**GOOD_PAYLOAD, "occurred_at": "2026-11-20T10:00:00"},
        "occurred_at: Input should have timezone info",
        id="naive-time",
    ),
    pytest.param(
        {**GOOD_PAYLOAD, "occurred_at": "last tuesday"}, "occurred_at: Input should be", id="junk"
    ),
    pytest.param({**GOOD_PAYLOAD, "colour": "red"}, "colour: Extra inputs", id="unknown-field"),
    pytest.param(
        {**GOOD_PAYLOAD, "attributes": {"channel": ["in_person"]}},
        "attributes.channel: Input should be a valid string",
        id="attribute-not-text",
    ),
    pytest.param(
        {**GOOD_PAYLOAD, "event_type": "party"}, "unknown event type 'party'", id="event-type"
    ),
    pytest.param({**GOOD_PAYLOAD, "agency": "nowhere"}, "unknown agency 'nowhere'", id="agency"),
    pytest.param({**GOOD_PAYLOAD, "section": "kitchen"}, "unknown section 'kitchen'", id="section"),
    pytest.param(
        {**GOOD_PAYLOAD, "attributes": {"channel": "in_person"}},
        "applicant_type",
        id="required-attribute",
    ),
    pytest.param(
        {**GOOD_PAYLOAD, "occurred_at": "2026-12-20T10:00:00+08:00"}, "in the future", id="future"
    ),
]


@pytest.mark.parametrize(("payload", "message"), BAD_PAYLOADS)
def test_a_bad_intake_fails_with_one_clear_message_and_changes_nothing(
    context: FlowContext, engine: Engine, payload: Any, message: str
) -> None:
    before = counts(engine)
    with pytest.raises(ObligationsError, match=message) as raised:
        asyncio.run(pf.intake_flow.fn(payload=payload, clock=clock_at(local(2026, 11, 20, 11))))
    assert "\n" not in str(raised.value)
    assert counts(engine) == before


def test_several_agencies_need_the_agency_named(
    engine: Engine, domain: Domain, bureau: Any, at: dt.datetime
) -> None:
    from db.models import Agency

    with session_scope(engine) as session:
        session.add(Agency(code="xm-finance", name="厦门市财政局", created_at=at))
    with pytest.raises(PayloadError, match="needs agency: one of xm-commerce, xm-finance"):
        jobs.intake_job(engine, domain, _without("agency"), at=at, actor=Actor.system("test"))


# --- a briefly unavailable database ------------------------------------------------------------


class Flaky:
    """Wraps a function; the first ``failures`` calls raise OperationalError instead."""

    def __init__(self, wrapped: Callable[..., Any], failures: int) -> None:
        self.wrapped = wrapped
        self.failures = failures
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise OperationalError("SELECT 1", {}, Exception("database is locked"))
        return self.wrapped(*args, **kwargs)


def test_a_locked_database_is_retried_and_no_work_is_lost(
    engine: Engine, domain: Domain, bureau: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request(engine, domain, number=1, received=local(2026, 11, 20, 10))
    flaky = Flaky(jobs.sweep, failures=2)
    monkeypatch.setattr(jobs, "sweep", flaky)
    pauses: list[float] = []
    retry = jobs.DbRetry(attempts=4, first_delay=0.5, sleep=pauses.append)
    report = jobs.sweep_job(engine, domain, at=local(2026, 11, 27, 9), worker="test", retry=retry)
    assert flaky.calls == 3
    assert pauses == [0.5, 1.0]
    assert report.outbox_rows == 1
    assert count(engine, OutboxMessage) == 1


def test_a_database_that_stays_away_fails_the_run_without_partial_work(
    engine: Engine, domain: Domain, bureau: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request(engine, domain, number=1, received=local(2026, 11, 20, 10))
    monkeypatch.setattr(jobs, "sweep", Flaky(jobs.sweep, failures=99))
    pauses: list[float] = []
    retry = jobs.DbRetry(attempts=3, sleep=pauses.append)
    with pytest.raises(OperationalError):
        jobs.sweep_job(engine, domain, at=local(2026, 11, 27, 9), worker="test", retry=retry)
    assert len(pauses) == 2
    assert count(engine, OutboxMessage) == 0
    monkeypatch.undo()  # the database is back: the work is still there for the next run
    assert jobs.sweep_job(engine, domain, at=local(2026, 11, 27, 9), worker="test").outbox_rows == 1


def test_delivery_retries_an_unreachable_database(
    engine: Engine, domain: Domain, bureau: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request(engine, domain, number=1, received=local(2026, 11, 20, 10))
    moment = local(2026, 11, 27, 9)
    jobs.sweep_job(engine, domain, at=moment, worker="test")
    flaky = Flaky(jobs.has_due_messages, failures=1)
    monkeypatch.setattr(jobs, "has_due_messages", flaky)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    console = ConsoleChannel()
    report = asyncio.run(
        jobs.deliver_job(
            engine,
            domain,
            {"console": console},
            at=moment,
            worker="test",
            retry=jobs.DbRetry(asleep=pause),
        )
    )
    assert pauses == [0.5]
    assert report.messages == 1
    assert len(console.sent) == 1


def test_other_database_errors_are_not_retried(engine: Engine, domain: Domain) -> None:
    from sqlalchemy.exc import IntegrityError

    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        jobs.DbRetry(sleep=lambda _: None).run(broken, what="test")
    assert calls == [1]


# --- two sweeps at once ------------------------------------------------------------------------


def test_two_sweeps_at_once_write_every_stage_exactly_once(
    engine: Engine, domain: Domain, bureau: Any
) -> None:
    for number in range(60):
        request(
            engine,
            domain,
            number=number,
            received=local(2026, 11, 2, 9) + dt.timedelta(hours=number),
        )
    # Far past every deadline: every reminder, the overdue stage and the escalations are due.
    moment = local(2027, 2, 1, 10)
    with Session(engine) as session:
        tasks = list(session.exec(select(Task)).all())
        audiences = _audiences(session, {task.agency_id for task in tasks})
        expected = {
            (task.id, stage.name, person.id)
            for task in tasks
            for stage in due_stages(stages_of(task, domain), task.stage_done, at=moment)
            for person in audiences.people(task, stage.audience)
        }
    assert len(tasks) == 120
    assert len(expected) > 300

    start = threading.Barrier(2)
    reports: dict[str, list[SweepReport]] = {"a": [], "b": []}
    errors: list[BaseException] = []

    def sweeper(name: str) -> None:
        try:
            start.wait()
            while True:
                report = jobs.sweep_job(engine, domain, at=moment, worker=name, limit=7)
                reports[name].append(report)
                if report.claimed == 0:
                    return
                time.sleep(0.001)  # let the other sweep in (SQLite would let one starve)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweeper, args=(name,)) for name in reports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    claimed = {name: sum(r.claimed for r in done) for name, done in reports.items()}
    if engine.dialect.name == "postgresql":  # SKIP LOCKED: both take turns, neither waits
        assert min(claimed.values()) > 0, claimed
    assert sum(claimed.values()) == len(tasks)  # no task handed to both sweeps
    with Session(engine) as session:
        rows = session.exec(
            select(OutboxMessage.task_id, OutboxMessage.stage, OutboxMessage.person_id)
        ).all()
        written = Counter((int(t or 0), str(s), int(p or 0)) for t, s, p in rows)
        left = session.exec(
            select(func.count()).select_from(Task).where(col(Task.claimed_by).is_not(None))
        ).one()
    assert max(written.values()) == 1  # never a duplicate
    assert set(written) == expected  # every due stage, to every recipient, once
    assert sum(r.outbox_rows for done in reports.values() for r in done) == len(expected)
    assert left == 0


# --- reports hooks -------------------------------------------------------------------------------


def test_bulletin_builds_the_month_before_with_the_given_function(
    engine: Engine, domain: Domain
) -> None:
    seen: list[tuple[str, dt.datetime]] = []

    def build(engine: Engine, domain: Domain, *, month: str, at: dt.datetime) -> dict[str, int]:
        seen.append((month, at))
        return {"sections": 4}

    moment = local(2026, 12, 1, 8)
    assert jobs.bulletin_job(engine, domain, at=moment, build=build) == {"sections": 4}
    assert seen == [("2026-11", moment)]
    with pytest.raises(FlowError, match="has not begun yet"):
        jobs.bulletin_job(engine, domain, at=moment, build=build, month="2027-01")
    with pytest.raises(FlowError, match="must be YYYY-MM"):
        jobs.bulletin_job(engine, domain, at=moment, build=build, month="2026-Q3")


def test_year_report_defaults_to_the_year_before(engine: Engine, domain: Domain) -> None:
    def build(engine: Engine, domain: Domain, *, year: int, at: dt.datetime) -> int:
        return year

    moment = local(2027, 1, 2, 8)
    assert jobs.year_report_job(engine, domain, at=moment, build=build) == 2026
    with pytest.raises(FlowError, match="between 2000 and 2027"):
        jobs.year_report_job(engine, domain, at=moment, build=build, year=2028)


def test_report_flows_skip_while_the_reports_hooks_are_missing(
    context: FlowContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pf, "find_report_hook", lambda name: None)
    outcome = asyncio.run(pf.bulletin_flow.fn(clock=clock_at(local(2026, 12, 1, 8))))
    assert outcome == {"skipped": "bulletin 2026-11 skipped: the reports package has no hooks yet"}


def test_report_flows_call_the_reports_hooks(
    context: FlowContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    def year_report(engine: Engine, domain: Domain, *, year: int, at: dt.datetime) -> str:
        return f"report {year}"

    monkeypatch.setattr(pf, "find_report_hook", lambda name: year_report)
    outcome = asyncio.run(pf.year_report_flow.fn(clock=clock_at(local(2027, 1, 2, 8))))
    assert outcome == "report 2026"


def test_find_report_hook_tolerates_only_a_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jobs, "REPORT_HOOKS_MODULE", "reports.no_such_module_here")
    assert jobs.find_report_hook("bulletin") is None
    monkeypatch.setattr(jobs, "REPORT_HOOKS_MODULE", "flows.errors")
    with pytest.raises(FlowError, match="has no function 'bulletin'"):
        jobs.find_report_hook("bulletin")


# --- configuration kept in step ------------------------------------------------------------------


def test_flow_settings_repeat_gongkai_settings_exactly() -> None:
    from gongkai.settings import Settings

    ours = FlowSettings.model_fields
    theirs = Settings.model_fields
    assert FlowSettings.model_config.get("env_prefix") == Settings.model_config.get("env_prefix")
    for name, info in ours.items():
        assert name in theirs, f"FlowSettings.{name} is not a gongkai setting"
        assert info.get_default(call_default_factory=True) == theirs[name].get_default(
            call_default_factory=True
        ), name


def test_a_worker_delivers_through_the_channels_its_settings_configure(
    engine: Engine, domain: Domain
) -> None:
    settings = FlowSettings(smtp_host="127.0.0.1", smtp_port=2525)
    made = FlowContext(engine=engine, domain=domain, channels=None, settings=settings)

    async def kinds() -> set[str]:
        async with made.open_channels() as channels:
            return set(channels)

    assert asyncio.run(kinds()) == {"console", "wecom", "dingtalk", "feishu", "email"}


def test_placeholder_secrets_are_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="replace the placeholder"):
        FlowSettings(telegram_token="changeme")


def test_prefect_yaml_describes_the_deployments_gongkai_deploy_registers() -> None:
    from flows.deployments import DEFAULT_TIMEZONE, DEFAULT_WORK_POOL, DEPLOYMENT_NAME, DEPLOYMENTS

    document = yaml.safe_load((ROOT / "deploy" / "prefect.yaml").read_text(encoding="utf-8"))
    assert document["pull"] == []
    described = {
        entry["entrypoint"]: (
            entry["name"],
            entry["work_pool"]["name"],
            [(s["cron"], s["timezone"]) for s in entry["schedules"]],
            entry["parameters"],
            entry["description"],
            entry.get("concurrency_limit"),
        )
        for entry in document["deployments"]
    }
    one = {"limit": 1, "collision_strategy": "CANCEL_NEW"}
    registered = {
        spec.entrypoint: (
            DEPLOYMENT_NAME,
            DEFAULT_WORK_POOL,
            [(spec.cron, DEFAULT_TIMEZONE)] if spec.cron else [],
            spec.parameters,
            spec.description,
            one if spec.single else None,
        )
        for spec in DEPLOYMENTS
    }
    assert described == registered
    for entrypoint in described:
        module, name = entrypoint.rsplit(".", 1)
        assert getattr(pf, name).name in {spec.flow.name for spec in DEPLOYMENTS}, entrypoint
        assert module == pf.__name__


def test_compose_runs_serve_with_prefect_owning_the_schedules() -> None:
    document = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text(encoding="utf-8"))
    services = document["services"]
    assert {"postgres", "prefect-server", "worker", "web", "deploy"} <= set(services)
    assert services["web"]["command"] == "gongkai serve --orchestrator prefect"
    assert "prefect worker start --pool gongkai --type process" in services["worker"]["command"]
    assert "gongkai deploy --pool gongkai" in services["deploy"]["command"]


def test_gongkai_deploy_refuses_to_register_without_a_prefect_server() -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from typer.testing import CliRunner

    from gongkai.cli import app

    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(app, ["deploy"])
    assert result.exit_code == 1
    assert "PREFECT_API_URL is not set" in result.output
