"""Benchmark: one sweep tick with 1 000 due tasks among 10 000 and among 1 000 000 open tasks.

    .venv/bin/python benchmarks/bench_sweep.py                      # 10k vs 1M, 1 000 due, 5 runs
    .venv/bin/python benchmarks/bench_sweep.py --open 10000,100000 --runs 3

For each size in ``--open``, a fresh SQLite file (WAL, ``BEGIN IMMEDIATE``, as ``gongkai
serve`` uses) gets an organisation — ``--agencies`` agencies, each with an office (two
office people, a leader) and ``--sections`` sections with a chief each — and that many open
tasks, of which exactly ``--due`` have a reminder due. The task rows are copies of one real
task row: ``spawn_recurring`` creates the 2026-11 ``monthly-info-report`` tasks in a scratch
database, and its rule snapshot (the full obligation JSON, ~1.5 KB), start date, due date and
due moment are copied, as stored, into every row by ``INSERT … SELECT`` from a recursive CTE.
The due tasks keep that row's first action (the reminder 3 working days before the
2026-12-07 deadline: 2026-12-02 09:00); the others have their next action spread over the
following year. Tasks are spread over the sections, so the due ones make one digest per
chief. Then ``ANALYZE`` and a WAL checkpoint.

Timed, median of ``--runs`` runs alternating between the sizes, with the due state restored
before each run (``stage_done``/``next_action_at``/claims of the due tasks reset, outbox and
delivery rows deleted, WAL checkpointed):

- **one sweep tick** at 2026-12-02 09:30: ``db.sweep.sweep`` (claim + stage computation +
  outbox insert + ``next_action_at`` move) and the commit, with the claim, the outbox insert
  and the commit also shown on their own. Targets: < 1 s at 1 000 000, ratio 1M/10k <= 2.
- **the deliver pass** for the outbox rows that tick wrote, through the console channel
  (``notifier.deliver.deliver`` until nothing is left to claim: digests built, "sent",
  outcomes recorded). By default one pass takes all the tick's rows: with the production
  batch (``--deliver-limit 500``) a chief's rows of one window can fall into two passes, and
  the second pass postpones them to the next working day (a bug reported with the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, text
from sqlmodel import Session, SQLModel, create_engine

import db.models  # noqa: F401  (registers the tables)
import db.sweep as sweep_module
from db.context import Actor, Domain
from db.engine import make_engine, session_scope
from db.models import Agency, Person, Section
from db.spawn import spawn_recurring
from notifier.channels.console import ConsoleChannel
from notifier.deliver import deliver
from obligations.catalog import load_catalog
from obligations.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
#: The tick: Wed 2026-12-02 09:30, half an hour after the first reminder of the November
#: monthly report (due 2026-12-07, the 5th working day of December).
AT = dt.datetime(2026, 12, 2, 9, 30, tzinfo=TZ)
OBLIGATION = "monthly-info-report"
PERIOD_FIRST, PERIOD_LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 30)
FILL_CHUNK = 100_000

TICK_TARGET_MS = 1_000.0
RATIO_TARGET = 2.0


def say(message: str) -> None:
    print(message, flush=True)


def sizes(value: str) -> list[int]:
    try:
        found = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a comma-separated list of counts"
        ) from None
    if not found or any(size <= 0 for size in found):
        raise argparse.ArgumentTypeError(f"{value!r}: give positive counts, e.g. 10000,1000000")
    return found


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def utc_text(moment: dt.datetime) -> str:
    """A datetime as SQLModel stores it on SQLite: naive UTC text with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def new_engine(path: Path) -> Engine:
    remove_db(path)
    engine = make_engine(f"sqlite:///{path}")
    SQLModel.metadata.create_all(engine)
    return engine


def loading_engine(path: Path) -> Engine:
    """A fresh file without journal or fsync, to load ~2 GB quickly; timed runs reopen it
    with db.engine.make_engine (WAL, synchronous=NORMAL, BEGIN IMMEDIATE)."""
    remove_db(path)
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=OFF")
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.execute("PRAGMA cache_size=-262144")
        cursor.close()

    SQLModel.metadata.create_all(engine)
    return engine


def file_mb(path: Path) -> float:
    return (
        sum(
            Path(f"{path}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{path}{suffix}").exists()
        )
        / 1e6
    )


def checkpoint(engine: Engine) -> None:
    # Not inside the transaction SQLAlchemy would begin (BEGIN IMMEDIATE): the raw connection.
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()


# --------------------------------------------------------------------------- the real row


@dataclass(frozen=True)
class RealRow:
    """One task row as spawn_recurring stored it (the column values as SQLite holds them)."""

    obligation_code: str
    title: str
    rule: str
    start_date: str
    due_date: str
    due_at: str
    next_action_at: str


def real_task_row(folder: Path, domain: Domain) -> RealRow:
    """Spawn the 2026-11 monthly report in a scratch database and read one row back raw."""
    path = folder / "scratch.db"
    engine = new_engine(path)
    try:
        with session_scope(engine) as session:
            agency = Agency(
                code="scratch", name="样本局", created_at=dt.datetime(2026, 1, 1, tzinfo=TZ)
            )
            session.add(agency)
            session.flush()
            session.add(Section(agency_id=agency.id or 0, code="s1", name="综合科"))
        with session_scope(engine) as session:
            spawn_recurring(
                session,
                domain,
                through=PERIOD_LAST,
                since=PERIOD_FIRST,
                actor=Actor.system("bench"),
                at=dt.datetime(2026, 11, 1, tzinfo=TZ),
                obligation_codes=[OBLIGATION],
            )
        with engine.connect() as connection:
            row = connection.exec_driver_sql(
                "SELECT obligation_code, title, rule, start_date, due_date, due_at, next_action_at "
                "FROM task WHERE obligation_code = ? ORDER BY id LIMIT 1",
                (OBLIGATION,),
            ).one()
    finally:
        engine.dispose()
        remove_db(path)
    return RealRow(*(str(value) for value in row))


# --------------------------------------------------------------------------- one database


def add_org(engine: Engine, agencies: int, sections: int) -> list[tuple[int, int]]:
    """Agencies with an office (2 people), a leader and sections with a chief each.

    Returns (section id, agency id) of the chiefs' sections, which the tasks go to.
    """
    targets: list[tuple[int, int]] = []
    with session_scope(engine) as session:
        for number in range(1, agencies + 1):
            agency = Agency(
                code=f"bench-{number:02d}",
                name=f"基准测试{number}局",
                created_at=dt.datetime(2026, 1, 1, tzinfo=TZ),
            )
            session.add(agency)
            session.flush()
            assert agency.id is not None
            office = Section(agency_id=agency.id, code="office", name="办公室")
            session.add(office)
            session.flush()
            for n in range(2):
                session.add(
                    Person(
                        agency_id=agency.id,
                        section_id=office.id,
                        name=f"办公室{number}-{n}",
                        role="office",
                    )
                )
            session.add(
                Person(agency_id=agency.id, section_id=None, name=f"局领导{number}", role="leader")
            )
            for s in range(1, sections + 1):
                section = Section(agency_id=agency.id, code=f"s{s:03d}", name=f"第{s}科")
                session.add(section)
                session.flush()
                assert section.id is not None
                session.add(
                    Person(
                        agency_id=agency.id,
                        section_id=section.id,
                        name=f"科长{number}-{s}",
                        role="chief",
                    )
                )
                targets.append((section.id, agency.id))
    return targets


_FILL = """
WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last)
INSERT INTO task (
    id, agency_id, section_id, obligation_code, dedupe_key, event_id, period_key, title, rule,
    status, start_date, due_date, due_at, provisional, extended_by, next_action_at, stage_done,
    claimed_by, claim_expires_at, created_at, extended, version
)
SELECT
    i, b.agency_id, b.section_id, :code, :code || '|bench|' || i, NULL, NULL,
    :title || ' #' || i, :rule, 'open', :start_date, :due_date, :due_at, 0, 0,
    CASE WHEN i <= :due
         THEN :due_next
         ELSE strftime('%Y-%m-%d %H:%M:%S', :now, '+' || (1 + (i * 7919) % 525600) || ' minutes')
              || '.000000'
    END,
    -1, NULL, NULL, :created_at, 0, 0
FROM n JOIN bench_section AS b ON b.idx = i % :sections
"""


def fill(
    engine: Engine, real: RealRow, *, total: int, due: int, targets: list[tuple[int, int]]
) -> None:
    """``total`` open task rows copied from ``real``; ids 1..due have their reminder due."""
    began = time.perf_counter()
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE bench_section (idx INTEGER PRIMARY KEY, section_id INT, agency_id INT)"
        )
        connection.execute(
            text("INSERT INTO bench_section VALUES (:idx, :section, :agency)"),
            [
                {"idx": idx, "section": section, "agency": agency}
                for idx, (section, agency) in enumerate(targets)
            ],
        )
    params = {
        "code": real.obligation_code,
        "title": real.title,
        "rule": real.rule,
        "start_date": real.start_date,
        "due_date": real.due_date,
        "due_at": real.due_at,
        "due_next": real.next_action_at,
        "due": due,
        "sections": len(targets),
        "now": AT.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "created_at": utc_text(dt.datetime(2026, 11, 30, tzinfo=TZ)),
    }
    for first in range(1, total + 1, FILL_CHUNK):
        last = min(first + FILL_CHUNK - 1, total)
        with engine.begin() as connection:
            connection.execute(text(_FILL), {**params, "first": first, "last": last})
        elapsed = time.perf_counter() - began
        if last == total or last % 200_000 == 0:
            say(
                f"      filled {last:>9,}/{total:,} ({elapsed:5.1f} s, {last / elapsed:,.0f} rows/s)"
            )
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE bench_section")
    say(f"      done in {time.perf_counter() - began:.1f} s; ANALYZE next")


def restore(engine: Engine, real: RealRow, due: int) -> None:
    """Put the due tasks back as they were before the tick; drop what the tick wrote."""
    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM delivery")
        connection.exec_driver_sql("DELETE FROM outbox")
        connection.execute(
            text(
                "UPDATE task SET stage_done = -1, next_action_at = :due_next, claimed_by = NULL, "
                "claim_expires_at = NULL WHERE id <= :due"
            ),
            {"due_next": real.next_action_at, "due": due},
        )
    checkpoint(engine)


# --------------------------------------------------------------------------- timing


@dataclass
class Phases:
    """Milliseconds spent in the parts of the sweep, by wrapping them for the timed call."""

    spent: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def wrap(self, module: Any, names: list[str]) -> Iterator[None]:
        originals = {name: getattr(module, name) for name in names}

        def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
            def call(*args: Any, **kwargs: Any) -> Any:
                began = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.spent[name] = (time.perf_counter() - began) * 1000

            return call

        for name, function in originals.items():
            setattr(module, name, timed(name, function))
        try:
            yield
        finally:
            for name, function in originals.items():
                setattr(module, name, function)


@dataclass
class Run:
    tick_ms: float
    claim_ms: float
    insert_ms: float
    commit_ms: float
    deliver_ms: float
    claimed: int
    outbox_rows: int
    messages: int
    sent_rows: int
    postponed: int


def time_run(
    engine: Engine, domain: Domain, real: RealRow, *, due: int, run: int, deliver_limit: int
) -> Run:
    restore(engine, real, due)
    phases = Phases()
    with phases.wrap(sweep_module, ["claim_due_tasks", "insert_outbox"]):
        began = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            report = sweep_module.sweep(session, domain, at=AT, worker=f"bench-{run}", limit=due)
            before_commit = time.perf_counter()
            session.commit()
        ended = time.perf_counter()
    if report.claimed != due or report.outbox_rows != due:
        raise SystemExit(
            f"the tick claimed {report.claimed} tasks and wrote {report.outbox_rows} outbox rows, "
            f"expected {due} and {due}"
        )
    channels = {"console": ConsoleChannel()}
    delivered_began = time.perf_counter()
    messages = sent_rows = postponed = 0
    for _ in range(100):
        result = asyncio.run(
            deliver(
                engine,
                domain,
                channels,
                at=AT,
                worker=f"bench-{run}",
                limit=deliver_limit or report.outbox_rows,
            )
        )
        messages += result.messages
        sent_rows += result.sent_rows
        postponed += result.postponed_rows
        if result.claimed == 0:
            break
    delivered = time.perf_counter()
    if sent_rows + postponed != report.outbox_rows:
        raise SystemExit(
            f"deliver sent {sent_rows} and postponed {postponed} of {report.outbox_rows} rows"
        )
    return Run(
        tick_ms=(ended - began) * 1000,
        claim_ms=phases.spent["claim_due_tasks"],
        insert_ms=phases.spent["insert_outbox"],
        commit_ms=(ended - before_commit) * 1000,
        deliver_ms=(delivered - delivered_began) * 1000,
        claimed=report.claimed,
        outbox_rows=report.outbox_rows,
        messages=messages,
        sent_rows=sent_rows,
        postponed=postponed,
    )


def median(runs: list[Run], name: str) -> float:
    return statistics.median(getattr(run, name) for run in runs)


def bench(
    workdir: Path,
    open_sizes: list[int],
    due: int,
    runs: int,
    agencies: int,
    sections: int,
    deliver_limit: int,
) -> bool:
    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    real = real_task_row(workdir, domain)
    say(
        f"real row: {real.obligation_code} '{real.title}', due {real.due_date} "
        f"(due_at {real.due_at} UTC), first action {real.next_action_at} UTC, "
        f"rule snapshot {len(real.rule.encode()):,} bytes"
    )
    say(
        f"org: {agencies} agencies x ({sections} sections with a chief + office of 2 + leader); "
        f"tick at {AT.isoformat()}"
    )
    if any(size < due for size in open_sizes):
        raise SystemExit(f"every --open size must be at least --due {due}")
    engines: dict[int, Engine] = {}
    paths = {size: workdir / f"sweep-{size}.db" for size in open_sizes}
    results: dict[int, list[Run]] = {size: [] for size in open_sizes}
    try:
        for size in open_sizes:
            say(f"\n    filling {size:,} open tasks ({due:,} due):")
            loader = loading_engine(paths[size])
            try:
                targets = add_org(loader, agencies, sections)
                fill(loader, real, total=size, due=due, targets=targets)
            finally:
                loader.dispose()
            engines[size] = make_engine(f"sqlite:///{paths[size]}")
            with engines[size].begin() as connection:
                connection.exec_driver_sql("ANALYZE")
            checkpoint(engines[size])
        say(
            f"\n    timing: median of {runs} runs, alternating sizes, due state restored before each"
        )
        # Alternating, so a burst of load from elsewhere on the machine hits every size alike.
        for run in range(runs):
            for size in open_sizes:
                results[size].append(
                    time_run(
                        engines[size], domain, real, due=due, run=run, deliver_limit=deliver_limit
                    )
                )
        megabytes = {size: file_mb(paths[size]) for size in open_sizes}
    finally:
        for size, engine in engines.items():
            engine.dispose()
            remove_db(paths[size])
    say(f"\n    one sweep tick, {due:,} due tasks (ms):")
    for size in open_sizes:
        done = results[size]
        listed = ", ".join(f"{run.tick_ms:.0f}" for run in done)
        say(
            f"      {size:>11,} open: median {median(done, 'tick_ms'):7.1f}  "
            f"min {min(run.tick_ms for run in done):7.1f}  "
            f"[claim {median(done, 'claim_ms'):5.1f}, outbox insert {median(done, 'insert_ms'):5.1f}, "
            f"commit {median(done, 'commit_ms'):5.1f}]  (runs: {listed}); "
            f"{done[0].claimed:,} claimed, {done[0].outbox_rows:,} outbox rows; "
            f"file {megabytes[size]:,.0f} MB"
        )
    say("    deliver pass for those outbox rows, console channel (ms):")
    for size in open_sizes:
        done = results[size]
        listed = ", ".join(f"{run.deliver_ms:.0f}" for run in done)
        say(
            f"      {size:>11,} open: median {median(done, 'deliver_ms'):7.1f}  (runs: {listed}); "
            f"{done[0].messages:,} digests, {done[0].sent_rows:,} rows sent"
            + (f", {done[0].postponed:,} postponed to the next window" if done[0].postponed else "")
        )
    medians = {size: median(done, "tick_ms") for size, done in results.items()}
    smallest, largest = min(medians), max(medians)
    ok = True
    if largest >= 1_000_000:
        ok = medians[largest] < TICK_TARGET_MS
        say(f"    target: tick < {TICK_TARGET_MS:.0f} ms at {largest:,}: {verdict(ok)}")
    if largest != smallest:
        ratio = medians[largest] / medians[smallest]
        fine = ratio <= RATIO_TARGET
        fastest = min(run.tick_ms for run in results[largest]) / min(
            run.tick_ms for run in results[smallest]
        )
        say(
            f"    ratio {largest:,}/{smallest:,}: {ratio:.2f} "
            f"(target <= {RATIO_TARGET:.0f}: {verdict(fine)}); of the fastest runs: {fastest:.2f}"
        )
        delivery = median(results[largest], "deliver_ms") / median(results[smallest], "deliver_ms")
        say(f"    deliver ratio {largest:,}/{smallest:,}: {delivery:.2f}")
        ok = ok and fine
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--open",
        type=sizes,
        default=[10_000, 1_000_000],
        help="open task counts, e.g. 10000,1000000",
    )
    parser.add_argument("--due", type=int, default=1_000, help="due tasks among them")
    parser.add_argument("--runs", type=int, default=5, help="timed ticks per size")
    parser.add_argument("--agencies", type=int, default=4)
    parser.add_argument("--sections", type=int, default=25, help="sections per agency")
    parser.add_argument(
        "--deliver-limit",
        type=int,
        default=0,
        help="rows per deliver pass (default 0: all the tick's rows in one pass)",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    if min(args.due, args.runs, args.agencies, args.sections) < 1 or args.deliver_limit < 0:
        parser.error("--due, --runs, --agencies and --sections must be positive")
    logging.getLogger("gongkai.console").setLevel(logging.WARNING)  # no digest text on stdout
    say(
        f"bench_sweep: SQLite {__import__('sqlite3').sqlite_version}, "
        f"Python {sys.version.split()[0]}"
    )
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-sweep-", dir=args.workdir) as folder:
        say(f"databases in {folder}")
        ok = bench(
            Path(folder),
            args.open,
            args.due,
            args.runs,
            args.agencies,
            args.sections,
            args.deliver_limit,
        )
    say("\nall targets met" if ok else "\nsome targets MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
