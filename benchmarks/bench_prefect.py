"""Benchmark: one sweep tick driven through a Prefect flow run vs the same jobs called directly.

    .venv/bin/python benchmarks/bench_prefect.py                      # 1 000 due among 10 000
    .venv/bin/python benchmarks/bench_prefect.py --open 100000 --runs 3
    .venv/bin/python benchmarks/bench_prefect.py --api-url http://127.0.0.1:4200/api

The ledger: a fresh SQLite file (WAL, ``BEGIN IMMEDIATE``, migrated like ``gongkai serve``
does) with one agency of ``--open``/100 sections, an office person and a chief per section,
and 100 months of the monthly report per section (``spawn_recurring``) — ``--open`` real
tasks with real rule snapshots. ``--due`` of them (spread over the sections) get a
``next_action_at`` in the past and exactly one stage left to hand out (an ordinary busy
tick, not a catch-up); the rest wait in the future. The file is copied before every
timed tick, so each tick does the same work: claim the due tasks, compute their reminder /
overdue / escalation stages, write the outbox rows, move ``next_action_at``.

Timed, alternately, ``--runs`` times each (median reported):

* **direct** — ``flows.jobs.sweep_job`` in batches of ``--limit`` until a batch comes back
  short, exactly what the flow does;
* **prefect** — ``await sweep_flow(deliver=False, clock=…)``: a real flow run with its task
  runs (``sweep batch 1`` …) and the ``sweep-per-section`` table artifact, against the Prefect
  API. Without ``--api-url`` that is Prefect's **ephemeral API** (a temporary server started
  in a subprocess with its own SQLite under a temporary PREFECT_HOME — what embedded mode
  would use); its start-up is paid once in a warm-up run and reported separately.

The ratio prefect/direct and the difference (Prefect's overhead per tick) are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

# Prefect reads its settings at import: point it at a private home first, never phone home.
_HOME = tempfile.mkdtemp(prefix="gongkai-bench-prefect-")
os.environ.setdefault("PREFECT_HOME", _HOME)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

from sqlalchemy import Engine, update  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from db.context import Actor, Domain  # noqa: E402
from db.engine import make_engine, session_scope  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.models import Agency, OutboxMessage, Person, Section, Task  # noqa: E402
from db.spawn import spawn_recurring  # noqa: E402
from db.sweep import SweepReport  # noqa: E402
from db.tasks import stages_of  # noqa: E402
from flows.context import FlowContext, using  # noqa: E402
from flows.jobs import merge_sweep, sweep_job  # noqa: E402
from obligations.catalog import load_catalog  # noqa: E402
from obligations.schedule import due_stages  # noqa: E402
from obligations.workdays import default_calendar  # noqa: E402

TZ = ZoneInfo("Asia/Shanghai")
#: The tick's fixed "now"; the spawned months end well before it.
AT = dt.datetime(2026, 11, 27, 9, 0, tzinfo=TZ)
MONTHS = 100
OBLIGATION = "monthly-info-report"


def say(message: str) -> None:
    print(message, flush=True)


def build_template(path: Path, *, open_tasks: int, due: int) -> None:
    sections = max(open_tasks // MONTHS, 1)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    first = dt.date(2018, 1, 1)
    with session_scope(engine) as session:
        agency = Agency(
            code="bench", name="基准测试局", created_at=dt.datetime(2018, 1, 1, tzinfo=TZ)
        )
        session.add(agency)
        session.flush()
        assert agency.id is not None
        rows = [
            Section(agency_id=agency.id, code=f"s{number:04d}", name=f"第{number}科")
            for number in range(1, sections + 1)
        ]
        session.add_all(rows)
        session.flush()
        session.add(
            Person(agency_id=agency.id, section_id=rows[0].id, name="办公室", role="office")
        )
        session.add(Person(agency_id=agency.id, section_id=None, name="分管领导", role="leader"))
        session.add_all(
            Person(agency_id=agency.id, section_id=row.id, name=f"科长{row.code}", role="chief")
            for row in rows
        )
    last_month_start = dt.date(first.year + (MONTHS - 1) // 12, (MONTHS - 1) % 12 + 1, 1)
    with session_scope(engine) as session:
        result = spawn_recurring(
            session,
            domain,
            through=last_month_start,
            since=first,
            actor=Actor.system("bench"),
            at=AT,
            obligation_codes=[OBLIGATION],
        )
    total = result.created
    # Every task is past its deadline (2018–2026 months); only ``due`` of them are due now.
    step = max(total // due, 1)
    with session_scope(engine) as session:
        session.execute(update(Task).values(next_action_at=dt.datetime(2030, 1, 1, tzinfo=TZ)))
        chosen = select(Task.id).where(col(Task.id) % step == 0).order_by(col(Task.id)).limit(due)
        # A busy but ordinary tick: each due task has exactly one stage (its last) to hand out.
        for task in session.exec(select(Task).where(col(Task.id).in_(chosen.scalar_subquery()))):
            due_now = due_stages(stages_of(task, domain), -1, at=AT)
            task.stage_done = due_now[-1].index - 1
            task.next_action_at = due_now[-1].at
            session.add(task)
    # Start every tick from an empty WAL; a checkpoint cannot run inside the transaction
    # SQLAlchemy would begin (BEGIN IMMEDIATE), so use the driver connection.
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("ANALYZE")
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()
    engine.dispose()
    say(f"ledger: {total} open tasks in {sections} sections, {min(due, total // step)} due")


def fresh_copy(template: Path, workdir: Path, name: str) -> Path:
    target = workdir / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return target


def context_for(path: Path) -> FlowContext:
    engine = make_engine(f"sqlite:///{path}")
    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    return FlowContext(engine=engine, domain=domain)


def outbox_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return len(session.exec(select(OutboxMessage.id)).all())


def tick_direct(context: FlowContext, limit: int) -> tuple[float, SweepReport]:
    total = SweepReport()
    started = time.perf_counter()
    while True:
        part = sweep_job(context.engine, context.domain, at=AT, worker="bench", limit=limit)
        merge_sweep(total, part)
        if part.claimed < limit:
            break
    return time.perf_counter() - started, total


def tick_prefect(context: FlowContext, limit: int) -> tuple[float, SweepReport]:
    from flows.prefect_flows import sweep_flow

    async def run() -> SweepReport:
        with using(context):
            outcome = await sweep_flow(limit=limit, deliver=False, clock=lambda: AT)
        return outcome.sweep

    started = time.perf_counter()
    report = asyncio.run(run())
    return time.perf_counter() - started, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--open", type=int, default=10_000, help="open tasks (x100 months)")
    parser.add_argument("--due", type=int, default=1_000, help="due tasks among them")
    parser.add_argument("--limit", type=int, default=1_000, help="tasks per sweep batch")
    parser.add_argument("--runs", type=int, default=5, help="timed ticks of each kind")
    parser.add_argument("--api-url", default=None, help="a Prefect server (default: ephemeral)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the files go")
    args = parser.parse_args(argv)
    if args.open < MONTHS or args.due < 1 or args.runs < 1 or args.limit < 1:
        parser.error(f"--open must be at least {MONTHS}; --due, --runs, --limit positive")
    if args.api_url:
        os.environ["PREFECT_API_URL"] = args.api_url
    import prefect

    api = args.api_url or "ephemeral API (temporary server, SQLite, PREFECT_HOME in a temp dir)"
    say(
        f"bench_prefect: Prefect {prefect.__version__}, SQLite {sqlite3.sqlite_version}, "
        f"Python {sys.version.split()[0]}; {api}"
    )
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-", dir=args.workdir) as folder:
        workdir = Path(folder)
        template = workdir / "template.db"
        started = time.perf_counter()
        build_template(template, open_tasks=args.open, due=args.due)
        say(f"built in {time.perf_counter() - started:.1f} s")

        warm = context_for(fresh_copy(template, workdir, "warm-up"))
        seconds, _ = tick_prefect(warm, args.limit)
        warm.engine.dispose()
        say(f"warm-up flow run (starts the Prefect API): {seconds:.2f} s")

        times: dict[str, list[float]] = {"direct": [], "prefect": []}
        rows: dict[str, set[int]] = {"direct": set(), "prefect": set()}
        for run in range(args.runs):
            for kind, tick in (("direct", tick_direct), ("prefect", tick_prefect)):
                context = context_for(fresh_copy(template, workdir, f"{kind}-{run}"))
                seconds, report = tick(context, args.limit)
                times[kind].append(seconds)
                rows[kind].add(outbox_rows(context.engine))
                context.engine.dispose()
                say(
                    f"  {kind:7} run {run + 1}: {seconds * 1000:8.1f} ms "
                    f"({report.claimed} tasks, {report.stages} stages, "
                    f"{report.outbox_rows} outbox rows)"
                )
        if rows["direct"] != rows["prefect"] or len(rows["direct"]) != 1:
            say(f"MISMATCH: outbox rows direct {rows['direct']} vs prefect {rows['prefect']}")
            return 1
        direct = statistics.median(times["direct"])
        through = statistics.median(times["prefect"])
        say(f"\nsweep tick, {args.due} due among {args.open} open tasks (median of {args.runs}):")
        say(f"  direct (flows.jobs.sweep_job): {direct * 1000:8.1f} ms")
        say(f"  through a Prefect flow run:    {through * 1000:8.1f} ms")
        say(f"  Prefect overhead per tick:     {(through - direct) * 1000:8.1f} ms")
        say(f"  ratio prefect / direct:        {through / direct:8.2f}")
    shutil.rmtree(_HOME, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
