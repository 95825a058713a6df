"""The Prefect flows: thin async shells over :mod:`flows.jobs`, legible in the Prefect UI.

Each flow reads the clock once (``clock`` parameter, the wall clock by default), builds or
receives its context (:mod:`flows.context`), runs its jobs as task runs, and leaves a table
artifact saying what it did. Runs are named by what they do:

- ``spawn 2026-11-27 至 2027-01-06`` (with ``obligation``: ``spawn 各科室月度政务信息报送
  2026-11…2027-01``): one task run per recurring obligation (``spawn 三公经费季度公开
  2026-Q4…2027-Q1``), table artifact ``spawn-per-section`` (tasks created per section);
- ``sweep 2026-11-27 09:00``: task runs ``sweep batch 1`` … and ``deliver 2026-11-27 09:00``,
  table artifacts ``sweep-per-section`` (reminders, overdue, escalations per section) and
  ``deliver-outcome``;
- ``deliver 2026-11-27 09:00``: one delivery pass, table ``deliver-outcome``;
- ``intake request_received YSQ-2026-001``: task run ``record request_received YSQ-2026-001``;
- ``bulletin 2026-10`` and ``year-report 2025``: task run ``compile bulletin 2026-10`` …,
  artifact ``bulletin-summary`` / ``year-report-summary``.

Flows are async on purpose: a sync flow waits about a second on Prefect's heartbeat thread.
The sweep flow checks with one indexed query whether anything is due before it creates any
task run or artifact, so an idle minute costs Prefect one flow run and nothing more.
Called through ``.fn`` (tests, the simulator) the flows run their jobs directly, without
task runs or artifacts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from db.errors import LedgerError
from db.spawn import SpawnResult
from db.sweep import SweepReport, has_due_tasks
from flows.context import current, flow_settings, worker_name
from flows.errors import FlowError
from flows.jobs import (
    DB_RETRY,
    DEFAULT_HORIZON_DAYS,
    Clock,
    SpawnSummary,
    agencies_to_spawn,
    bulletin_job,
    bulletin_month,
    deliver_job,
    find_report_hook,
    has_due_messages,
    horizon_through,
    intake_job,
    merge_spawn,
    merge_sweep,
    parse_intake,
    period_span,
    recurring_obligations,
    report_year,
    spawn_job,
    sweep_job,
    system_clock,
    year_report_job,
)
from notifier.deliver import DeliverReport

log = logging.getLogger("gongkai.flows")

MAX_SWEEP_LIMIT = 10_000


@dataclass
class SweepOutcome:
    """What one sweep flow run did: the sweep batches together, and the delivery pass."""

    sweep: SweepReport
    delivered: DeliverReport | None = None


# --- shared plumbing -------------------------------------------------------------------------


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    return get_run_logger() if FlowRunContext.get() is not None else log


def _read_clock(clock: Clock | None) -> dt.datetime:
    """The one reading of the clock in a flow run."""
    at = (clock or system_clock)()
    if at.tzinfo is None:
        raise FlowError(f"the clock returned {at.isoformat()} without a time zone")
    return at


def _local(at: dt.datetime, tz: dt.tzinfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _run_id() -> str | None:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else None


def _scheduled() -> dt.datetime:
    """The moment the run stands for (its schedule slot), for provisional run names."""
    context = FlowRunContext.get()
    expected = context.flow_run.expected_start_time if context and context.flow_run else None
    return expected or system_clock()


def _param(name: str, default: Any = None) -> Any:
    context = FlowRunContext.get()
    parameters = context.parameters if context else None
    return (parameters or {}).get(name, default)


async def _ensure_name(name: str) -> None:
    """Rename the run after the ``at`` it really used (a late start, a simulated clock)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.name == name:
        return
    async with get_client() as client:
        await client.set_flow_run_name(context.flow_run.id, name)
    context.flow_run.name = name


async def _step(step: Any, **kwargs: Any) -> Any:
    """Run a task: as a Prefect task run inside a flow run, as a plain call under ``.fn``."""
    if FlowRunContext.get() is None:
        return await step.fn(**kwargs)
    return await step(**kwargs)


async def _table(key: str, rows: list[dict[str, Any]], description: str) -> None:
    if FlowRunContext.get() is None:
        return
    await acreate_table_artifact(table=rows, key=key, description=description)


# --- spawn -----------------------------------------------------------------------------------


def _spawn_run_name() -> str:
    tz = flow_settings().tz
    obligation = _param("obligation")
    today = _scheduled().astimezone(tz).date()
    if obligation:
        return f"spawn {obligation} {today.isoformat()}"
    horizon = int(_param("horizon_days", DEFAULT_HORIZON_DAYS) or 0)
    return f"spawn {today.isoformat()} 至 {(today + dt.timedelta(days=horizon)).isoformat()}"


@dataclass
class SpawnPart:
    """One obligation's spawn: the tasks created, and the agencies that refused it."""

    result: SpawnResult
    failed: dict[str, str]


@task(name="spawn-obligation", task_run_name="spawn {label}", cache_policy=NO_CACHE)
async def spawn_obligation(
    obligation: str,
    label: str,
    at: dt.datetime,
    horizon_days: int,
    agencies: list[str],
) -> SpawnPart:
    """The tasks of one recurring obligation, agency by agency.

    An agency whose organisation does not fit the obligation (a listed section missing)
    does not stop the others: it is skipped, logged and listed in the artifact, as the
    embedded runner does.
    """
    context = current()
    part = SpawnPart(SpawnResult(), {})
    for code in agencies:
        try:
            result = await asyncio.to_thread(
                spawn_job,
                context.engine,
                context.domain,
                at=at,
                actor=context.actor,
                horizon_days=horizon_days,
                agency_codes=[code],
                obligation_codes=[obligation],
            )
        except LedgerError as exc:
            part.failed[code] = str(exc)
            continue
        merge_spawn(part.result, result)
    return part


@flow(name="spawn", flow_run_name=_spawn_run_name)
async def spawn_flow(
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    obligation: str | None = None,
    agencies: list[str] | None = None,
    clock: Clock | None = None,
) -> SpawnResult:
    """生成周期任务 Spawn the recurring tasks of every period that begins within the horizon.

    Idempotent: a re-run creates nothing. An unknown obligation or agency fails the run
    before anything is written; an agency that does not fit an obligation is skipped.
    """
    at = _read_clock(clock)
    context = current()
    domain = context.domain
    through = horizon_through(at, domain, horizon_days)
    obligations = recurring_obligations(domain, [obligation] if obligation else None)
    codes = await asyncio.to_thread(
        DB_RETRY.run, lambda: agencies_to_spawn(context.engine, agencies or None), what="spawn"
    )
    if obligation:
        name = f"spawn {obligations[0].title.zh} {period_span(obligations[0], at, domain, through)}"
    else:
        name = f"spawn {at.astimezone(domain.tz).date().isoformat()} 至 {through.isoformat()}"
    await _ensure_name(name)
    summary = SpawnSummary()
    for item in obligations:
        part: SpawnPart = await _step(
            spawn_obligation,
            obligation=item.code,
            label=f"{item.title.zh} {period_span(item, at, domain, through)}",
            at=at,
            horizon_days=horizon_days,
            agencies=codes,
        )
        summary.add(item, part.result, refused=part.failed)
    total = summary.total
    logger = _logger()
    logger.info("%s: created %d, already present %d", name, total.created, total.existing)
    for line in summary.refusals:
        logger.warning("spawn skipped %s", line)
    await _table(
        "spawn-per-section",
        summary.as_rows() or [{"section": "-", "obligation": "无新任务 nothing new", "created": 0}],
        f"**{name}** — 新建 created {total.created}, 已有 already present {total.existing}"
        + (f", 未适用 refused {len(summary.refusals)}" if summary.refusals else ""),
    )
    return total


# --- intake ------------------------------------------------------------------------------------


def _intake_label(event_type: Any, external_id: Any, when: str) -> str:
    return f"{event_type or '?'} {external_id or when}"


def _intake_run_name() -> str:
    payload = _param("payload")
    payload = payload if isinstance(payload, Mapping) else {}
    when = _local(_scheduled(), flow_settings().tz)
    return "intake " + _intake_label(payload.get("event_type"), payload.get("external_id"), when)


@task(name="record-event", task_run_name="record {label}", cache_policy=NO_CACHE)
async def record_event_step(label: str, payload: dict[str, Any], at: dt.datetime) -> dict[str, Any]:
    context = current()
    result = await asyncio.to_thread(
        intake_job, context.engine, context.domain, payload, at=at, actor=context.actor
    )
    return {"event_id": result.event.id, "created": result.created, "task_ids": result.task_ids}


@flow(name="intake", flow_run_name=_intake_run_name)
async def intake_flow(payload: dict[str, Any], clock: Clock | None = None) -> dict[str, Any]:
    """登记事件 Record an event and spawn its tasks (a repeated external_id creates nothing).

    A malformed payload, an unknown event type, agency or section fails the run with one
    clear message and changes nothing.
    """
    at = _read_clock(clock)
    event = parse_intake(payload)
    context = current()
    label = _intake_label(event.event_type, event.external_id, _local(at, context.domain.tz))
    await _ensure_name(f"intake {label}")
    outcome: dict[str, Any] = await _step(
        record_event_step, label=label, payload=event.model_dump(mode="json"), at=at
    )
    verb = "recorded" if outcome["created"] else "already recorded"
    _logger().info("intake %s: %s, tasks %s", label, verb, outcome["task_ids"])
    return outcome


# --- sweep and deliver ---------------------------------------------------------------------------


def _sweep_run_name() -> str:
    return f"sweep {_local(_scheduled(), flow_settings().tz)}"


def _deliver_run_name() -> str:
    return f"deliver {_local(_scheduled(), flow_settings().tz)}"


@task(name="sweep-batch", task_run_name="sweep batch {batch}", cache_policy=NO_CACHE)
async def sweep_batch(batch: int, at: dt.datetime, worker: str, limit: int) -> SweepReport:
    """Claim up to ``limit`` due tasks and write their reminder/overdue/escalation stages."""
    context = current()
    return await asyncio.to_thread(
        sweep_job, context.engine, context.domain, at=at, worker=worker, limit=limit
    )


@task(name="deliver", task_run_name="deliver {when}", cache_policy=NO_CACHE)
async def deliver_step(when: str, at: dt.datetime, worker: str) -> DeliverReport:
    """Send the due outbox rows as one digest per person and window."""
    context = current()
    async with context.open_channels() as channels:
        return await deliver_job(
            context.engine,
            context.domain,
            channels,
            at=at,
            worker=worker,
            lang=context.language,
            dashboard_url=context.dashboard_url,
        )


def _deliver_rows(report: DeliverReport) -> list[dict[str, Any]]:
    return [
        {"outcome": "messages sent", "count": report.messages},
        {"outcome": "rows sent", "count": report.sent_rows},
        {"outcome": "rows postponed to the next window", "count": report.postponed_rows},
        {"outcome": "rows skipped (task closed)", "count": report.skipped_rows},
        {"outcome": "rows to retry", "count": report.retried_rows},
        {"outcome": "rows failed", "count": report.failed_rows},
        {"outcome": "addresses disabled", "count": len(report.disabled_addresses)},
    ]


async def _deliver_if_due(at: dt.datetime, when: str, worker: str) -> DeliverReport | None:
    context = current()
    due = await asyncio.to_thread(
        DB_RETRY.run, lambda: has_due_messages(context.engine, at=at), what="deliver check"
    )
    if not due:
        return None
    report: DeliverReport = await _step(deliver_step, when=when, at=at, worker=worker)
    if report.claimed:
        await _table(
            "deliver-outcome",
            _deliver_rows(report),
            f"**deliver {when}** — {report.messages} messages, {report.claimed} outbox rows claimed",
        )
    return report


@flow(name="sweep", flow_run_name=_sweep_run_name, timeout_seconds=900)
async def sweep_flow(
    limit: int = 1_000,
    max_batches: int = 20,
    deliver: bool = True,
    clock: Clock | None = None,
) -> SweepOutcome:
    """巡检 Hand due reminders, overdue notices and escalations to the outbox, then deliver.

    Batches of ``limit`` tasks until a batch finds fewer (a catch-up after downtime), at
    most ``max_batches``; with ``deliver`` the due outbox rows are sent in the same run.
    """
    if not 1 <= limit <= MAX_SWEEP_LIMIT:
        raise FlowError(f"limit must be between 1 and {MAX_SWEEP_LIMIT}, not {limit}")
    if max_batches < 1:
        raise FlowError(f"max_batches must be at least 1, not {max_batches}")
    at = _read_clock(clock)
    context = current()
    when = _local(at, context.domain.tz)
    await _ensure_name(f"sweep {when}")
    worker = worker_name(_run_id())
    outcome = SweepOutcome(SweepReport())
    due = await asyncio.to_thread(
        DB_RETRY.run, lambda: has_due_tasks(context.engine, at=at), what="sweep check"
    )
    if due:
        for batch in range(1, max_batches + 1):
            part: SweepReport = await _step(
                sweep_batch, batch=batch, at=at, worker=worker, limit=limit
            )
            merge_sweep(outcome.sweep, part)
            if part.claimed < limit:
                break
        report = outcome.sweep
        _logger().info(
            "sweep %s: %d tasks claimed, %d stages, %d messages queued",
            when,
            report.claimed,
            report.stages,
            report.outbox_rows,
        )
        if report.claimed:
            await _table(
                "sweep-per-section",
                report.as_rows(),
                f"**sweep {when}** — {report.claimed} tasks claimed, {report.stages} stages "
                f"(reminders / overdue / escalations per section), "
                f"{report.outbox_rows} messages queued",
            )
    if deliver:
        outcome.delivered = await _deliver_if_due(at, when, worker)
    return outcome


@flow(name="deliver", flow_run_name=_deliver_run_name, timeout_seconds=900)
async def deliver_flow(clock: Clock | None = None) -> DeliverReport:
    """发送提醒 One delivery pass on its own (a dedicated sender, or a manual retry)."""
    at = _read_clock(clock)
    context = current()
    when = _local(at, context.domain.tz)
    await _ensure_name(f"deliver {when}")
    report = await _deliver_if_due(at, when, worker_name(_run_id()))
    return report or DeliverReport()


# --- reports -------------------------------------------------------------------------------------


def _bulletin_run_name() -> str:
    return f"bulletin {_param('month') or 'last month'}"


def _year_report_run_name() -> str:
    return f"year-report {_param('year') or 'last year'}"


@task(name="compile-report", task_run_name="compile {kind} {period}", cache_policy=NO_CACHE)
async def compile_report(kind: str, period: str, at: dt.datetime) -> Any:
    context = current()
    build = find_report_hook(kind)
    if build is None:  # removed between the flow's check and now
        raise FlowError(f"reports hook {kind!r} is not available")
    if kind == "bulletin":
        return await asyncio.to_thread(
            bulletin_job, context.engine, context.domain, at=at, build=build, month=period
        )
    return await asyncio.to_thread(
        year_report_job, context.engine, context.domain, at=at, build=build, year=int(period)
    )


async def _report_artifact(kind: str, period: str, result: Any) -> None:
    key = f"{kind.replace('_', '-')}-summary"
    as_rows: Callable[[], list[dict[str, Any]]] | None = getattr(result, "as_rows", None)
    if callable(as_rows):
        await _table(key, as_rows(), f"**{kind} {period}**")
    elif isinstance(result, Mapping):
        rows = [{"item": str(name), "value": str(value)} for name, value in result.items()]
        await _table(key, rows, f"**{kind} {period}**")


async def _report(kind: str, period: str, at: dt.datetime) -> Any:
    if find_report_hook(kind) is None:
        message = f"{kind} {period} skipped: the reports package has no hooks yet"
        _logger().warning(message)
        if FlowRunContext.get() is not None:
            await acreate_markdown_artifact(
                markdown=f"**{message}**", key=f"{kind.replace('_', '-')}-summary"
            )
        return {"skipped": message}
    result = await _step(compile_report, kind=kind, period=period, at=at)
    await _report_artifact(kind, period, result)
    return result


@flow(name="bulletin", flow_run_name=_bulletin_run_name)
async def bulletin_flow(month: str | None = None, clock: Clock | None = None) -> Any:
    """月度通报 Compile the monthly bulletin (default: the month before this run)."""
    at = _read_clock(clock)
    key = bulletin_month(at, current().domain, month)
    await _ensure_name(f"bulletin {key}")
    return await _report("bulletin", key, at)


@flow(name="year-report", flow_run_name=_year_report_run_name)
async def year_report_flow(year: int | None = None, clock: Clock | None = None) -> Any:
    """年度报告 Compile the annual report's statistics (default: the year before this run)."""
    at = _read_clock(clock)
    chosen = report_year(at, current().domain, year)
    await _ensure_name(f"year-report {chosen}")
    return await _report("year_report", str(chosen), at)
