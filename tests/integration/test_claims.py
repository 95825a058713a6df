"""Claims: each due task goes to exactly one worker (SQLite and PostgreSQL).

A claim hands out due, open tasks that nobody holds (or whose holder's lease ran out), oldest
``next_action_at`` first; the concurrency tests run several claimers in threads and in
separate processes (spawned, each with its own engine) until no due task is left, and check
that every task was handed out exactly once.
"""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import queue
import random
import sys
import threading
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, event, func, insert, text
from sqlmodel import Session, col, select

from db.claims import DEFAULT_LEASE, claim_due_tasks, release
from db.engine import make_engine, session_scope
from db.models import Task, TaskStatus

TZ = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
INDEX = "ix_task_next_action_at"


def task_row(
    bureau: Any,
    number: int,
    next_action_at: dt.datetime | None,
    *,
    status: TaskStatus = TaskStatus.OPEN,
    claimed_by: str | None = None,
    claim_expires_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """A task row for a bulk insert (the claim reads only the claim columns)."""
    return {
        "agency_id": bureau["agency"].id,
        "section_id": bureau["sections"]["foreign-trade"].id,
        "obligation_code": "monthly-info-report",
        "dedupe_key": f"claim-test|{number}",
        "title": f"claim test {number}",
        "rule": {"code": "monthly-info-report"},
        "status": status.value,
        "start_date": dt.date(2026, 11, 1),
        "due_date": dt.date(2026, 12, 7),
        "due_at": dt.datetime(2026, 12, 8, tzinfo=TZ),
        "provisional": False,
        "extended_by": 0,
        "next_action_at": next_action_at,
        "stage_done": -1,
        "claimed_by": claimed_by,
        "claim_expires_at": claim_expires_at,
        "created_at": dt.datetime(2026, 11, 1, tzinfo=TZ),
        "extended": False,
        "version": 0,
    }


def insert_tasks(engine: Engine, rows: list[dict[str, Any]]) -> list[int]:
    """Insert the rows; returns their ids in row order."""
    with session_scope(engine) as session:
        for offset in range(0, len(rows), 2_000):
            session.execute(insert(Task), rows[offset : offset + 2_000])
        found = dict(session.execute(select(Task.dedupe_key, Task.id)).all())
    return [int(found[row["dedupe_key"]]) for row in rows]


def claim(engine: Engine, *, at: dt.datetime, worker: str, limit: int = 1_000) -> list[int]:
    with session_scope(engine) as session:
        return claim_due_tasks(session, at=at, worker=worker, limit=limit)


def holders(engine: Engine) -> dict[int, tuple[str | None, dt.datetime | None]]:
    with Session(engine) as session:
        rows = session.exec(select(Task.id, Task.claimed_by, Task.claim_expires_at)).all()
        return {int(task_id): (by, until) for task_id, by, until in rows if task_id is not None}


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


# --- who gets what -----------------------------------------------------------------------


@pytest.fixture
def mixed(engine: Engine, bureau: Any, at: dt.datetime) -> dict[str, int]:
    """Tasks in every claim-relevant state, inserted so that id order is not action order."""
    hour, day, minute = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(minutes=1)
    specs: dict[str, dict[str, Any]] = {
        "due-1h": {"next_action_at": at - hour},
        "due-3d": {"next_action_at": at - 3 * day},
        "due-now": {"next_action_at": at},
        "held": {
            "next_action_at": at - 2 * day,
            "claimed_by": "other",
            "claim_expires_at": at + minute,
        },
        "lease-ran-out": {
            "next_action_at": at - day,
            "claimed_by": "crashed",
            "claim_expires_at": at - minute,
        },
        "future": {"next_action_at": at + minute},
        "no-action": {"next_action_at": None},
        "paused": {"next_action_at": at - day, "status": TaskStatus.PAUSED},
        "done": {"next_action_at": at - day, "status": TaskStatus.DONE},
        "cancelled": {"next_action_at": at - day, "status": TaskStatus.CANCELLED},
    }
    rows = [task_row(bureau, number, **spec) for number, spec in enumerate(specs.values())]
    return dict(zip(specs, insert_tasks(engine, rows), strict=True))


def test_claim_hands_out_only_due_open_unheld_tasks_oldest_first(
    engine: Engine, mixed: dict[str, int], at: dt.datetime
) -> None:
    first = claim(engine, at=at, worker="w1", limit=2)
    assert set(first) == {mixed["due-3d"], mixed["lease-ran-out"]}  # the two oldest
    second = claim(engine, at=at, worker="w2", limit=10)
    # the rest, including the one whose next action is exactly now
    assert set(second) == {mixed["due-1h"], mixed["due-now"]}
    assert claim(engine, at=at, worker="w3") == []

    held = holders(engine)
    for name, worker in [
        ("due-3d", "w1"),
        ("lease-ran-out", "w1"),
        ("due-1h", "w2"),
        ("due-now", "w2"),
    ]:
        assert held[mixed[name]] == (worker, at + DEFAULT_LEASE), name
    assert held[mixed["held"]] == ("other", at + dt.timedelta(minutes=1))
    for name in ("future", "no-action", "paused", "done", "cancelled"):
        assert held[mixed[name]] == (None, None), name


def test_second_claim_at_the_same_time_gets_nothing(
    engine: Engine, mixed: dict[str, int], at: dt.datetime
) -> None:
    taken = claim(engine, at=at, worker="w1")
    assert len(taken) == 4
    assert claim(engine, at=at, worker="w2") == []
    # a second before w1's lease ends: only what became claimable meanwhile ("held"'s
    # one-minute lease ran out, "future" came due), none of w1's tasks
    almost = claim(engine, at=at + DEFAULT_LEASE - dt.timedelta(seconds=1), worker="w2")
    assert set(almost) == {mixed["held"], mixed["future"]}


def test_tasks_can_be_claimed_again_when_the_lease_runs_out(
    engine: Engine, mixed: dict[str, int], at: dt.datetime
) -> None:
    taken = claim(engine, at=at, worker="w1")
    later = at + DEFAULT_LEASE  # the lease ends at this instant
    again = claim(engine, at=later, worker="w2")
    # w1's four, "held" (its holder's one-minute lease ran out) and "future" (due by now)
    assert set(again) == {*taken, mixed["held"], mixed["future"]}
    assert all(holders(engine)[task_id] == ("w2", later + DEFAULT_LEASE) for task_id in again)


def test_release_gives_tasks_back(engine: Engine, mixed: dict[str, int], at: dt.datetime) -> None:
    taken = claim(engine, at=at, worker="w1")
    with session_scope(engine) as session:
        assert release(session, taken, worker="w2") == 0  # only the holder can release
        assert release(session, [], worker="w1") == 0
    assert claim(engine, at=at, worker="w2") == []
    with session_scope(engine) as session:
        assert release(session, taken, worker="w1") == len(taken)
    assert all(holders(engine)[task_id] == (None, None) for task_id in taken)
    assert set(claim(engine, at=at, worker="w2")) == set(taken)


def test_limit_takes_the_oldest_in_batches(engine: Engine, bureau: Any, at: dt.datetime) -> None:
    minutes = list(range(1, 31))
    random.Random(7).shuffle(minutes)
    ids = insert_tasks(
        engine, [task_row(bureau, n, at - dt.timedelta(minutes=m)) for n, m in enumerate(minutes)]
    )
    age = dict(zip(ids, minutes, strict=True))
    batches = [claim(engine, at=at, worker=f"w{i}", limit=7) for i in range(5)]
    assert [len(batch) for batch in batches] == [7, 7, 7, 7, 2]
    # each batch is older than every task of the next one
    for earlier, later in itertools.pairwise(batches):
        assert min(age[i] for i in earlier) > max(age[i] for i in later)
    assert sorted(i for batch in batches for i in batch) == sorted(ids)


def test_claimed_ids_come_back_oldest_action_first(
    engine: Engine, bureau: Any, at: dt.datetime
) -> None:
    minutes = [5, 50, 20, 40, 10, 30]
    ids = insert_tasks(
        engine, [task_row(bureau, n, at - dt.timedelta(minutes=m)) for n, m in enumerate(minutes)]
    )
    oldest_first = [task_id for _, task_id in sorted(zip(minutes, ids, strict=True), reverse=True)]
    assert claim(engine, at=at, worker="w1") == oldest_first


# --- concurrent claimers -----------------------------------------------------------------


class Barrier(Protocol):
    def wait(self, timeout: float | None = None) -> Any: ...


@dataclass
class Outcome:
    worker: str
    ids: list[int] = field(default_factory=list)
    batches: int = 0
    error: str | None = None


def claim_until_empty(
    url: str, at: dt.datetime, worker: str, batch: int, barrier: Barrier
) -> Outcome:
    """A claimer with its own engine: claim ``batch`` at a time until nothing is due."""
    outcome = Outcome(worker)
    engine = make_engine(url)
    try:
        with engine.connect():  # connect before the start line, so the claims overlap
            pass
        barrier.wait(timeout=120)
        while True:
            with session_scope(engine) as session:
                ids = claim_due_tasks(session, at=at, worker=worker, limit=batch)
            if not ids:
                return outcome
            outcome.ids.extend(ids)
            outcome.batches += 1
    except Exception:
        outcome.error = traceback.format_exc()
        return outcome
    finally:
        engine.dispose()


def _process_main(
    url: str, at: dt.datetime, worker: str, batch: int, barrier: Barrier, results: Any
) -> None:
    results.put(claim_until_empty(url, at, worker, batch, barrier))


def run_threads(url: str, at: dt.datetime, workers: int, batch: int) -> list[Outcome]:
    barrier = threading.Barrier(workers)
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def run(name: str) -> None:
        outcome = claim_until_empty(url, at, name, batch, barrier)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(f"thread-{i}",)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a claimer thread hangs"
    return outcomes


def run_processes(
    url: str, at: dt.datetime, workers: int, batch: int, monkeypatch: pytest.MonkeyPatch
) -> list[Outcome]:
    # A spawned child re-imports this module by name to find its target; pytest's importlib
    # mode does not put the project root on sys.path, so put it there for the children.
    monkeypatch.syspath_prepend(str(ROOT))
    assert __name__ in sys.modules
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers)
    results = context.Queue()
    processes = [
        context.Process(
            target=_process_main, args=(url, at, f"process-{i}", batch, barrier, results)
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes: list[Outcome] = []
    try:
        for _ in processes:
            outcomes.append(results.get(timeout=300))
    except queue.Empty:
        pytest.fail("a claimer process sent no result within 300 s")
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    assert [process.exitcode for process in processes] == [0] * workers
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["threads", "processes"])
def test_concurrent_claimers_take_every_task_exactly_once(
    engine: Engine, bureau: Any, at: dt.datetime, runner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 claimers, batches of 50, 5,000 due tasks (SQLite file: WAL + BEGIN IMMEDIATE)."""
    total, workers, batch = 5_000, 4, 50
    due_rows = [task_row(bureau, n, at - dt.timedelta(seconds=n)) for n in range(total)]
    later = [task_row(bureau, total + n, at + dt.timedelta(minutes=1 + n)) for n in range(100)]
    ids = insert_tasks(engine, due_rows + later)
    due = set(ids[:total])

    if runner == "threads":
        outcomes = run_threads(url_of(engine), at, workers, batch)
    else:
        outcomes = run_processes(url_of(engine), at, workers, batch, monkeypatch)

    errors = [f"{outcome.worker}:\n{outcome.error}" for outcome in outcomes if outcome.error]
    assert not errors, "\n".join(errors)  # e.g. "database is locked" on SQLite
    assert len(outcomes) == workers
    handed_out = Counter(task_id for outcome in outcomes for task_id in outcome.ids)
    assert [task_id for task_id, times in handed_out.items() if times > 1] == []
    assert set(handed_out) == due
    assert sum(outcome.batches for outcome in outcomes) >= total // batch
    assert sum(1 for outcome in outcomes if outcome.ids) >= 2, "the claimers did not overlap"
    # the database agrees: every due task is held by the worker it was handed to
    given_to = {task_id: outcome.worker for outcome in outcomes for task_id in outcome.ids}
    held = holders(engine)
    assert all(held[task_id][0] == worker for task_id, worker in given_to.items())
    assert all(held[task_id] == (None, None) for task_id in ids[total:])


# --- the claim uses the partial index on next_action_at ----------------------------------


def explain_claim(engine: Engine, at: dt.datetime) -> list[str]:
    """The plan of the statement claim_due_tasks uses to find its candidates."""
    captured: list[tuple[str, Any]] = []

    def capture(
        _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if "next_action_at" in statement:
            captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            assert len(claim_due_tasks(session, at=at, worker="plan", limit=100)) == 100
            session.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    # SQLite: UPDATE … WHERE id IN (SELECT … ORDER BY next_action_at LIMIT …);
    # PostgreSQL: SELECT … FOR UPDATE SKIP LOCKED, then an UPDATE by id.
    statement, parameters = captured[0]
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
        connection.rollback()
    return [str(row[-1]) for row in rows]


@pytest.mark.slow
def test_claim_query_uses_the_next_action_index(
    engine: Engine, bureau: Any, at: dt.datetime
) -> None:
    total, due = 20_000, 200
    rows = [
        task_row(
            bureau, n, at - dt.timedelta(minutes=n) if n < due else at + dt.timedelta(minutes=n)
        )
        for n in range(total)
    ]
    insert_tasks(engine, rows)
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE" if engine.dialect.name == "sqlite" else "ANALYZE task")
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Task)).one() == total

    plan = explain_claim(engine, at)
    shown = "\n".join(plan)
    if engine.dialect.name == "sqlite":
        assert any(INDEX in line for line in plan), shown
        assert not any(line.startswith("SCAN task") for line in plan), shown  # no full scan
    else:
        assert any(f"Index Scan using {INDEX} on task" in line for line in plan), shown
        assert not any("Seq Scan on task" in line for line in plan), shown


def test_claimed_rows_keep_everything_else(
    engine: Engine, mixed: dict[str, int], at: dt.datetime
) -> None:
    """A claim changes only the claim columns (the sweep owns next_action_at and the stage)."""
    with Session(engine) as session:
        before = {
            task.id: task.model_dump(exclude={"claimed_by", "claim_expires_at"})
            for task in session.exec(select(Task))
        }
    claim(engine, at=at, worker="w1")
    with Session(engine) as session:
        after = {
            task.id: task.model_dump(exclude={"claimed_by", "claim_expires_at"})
            for task in session.exec(select(Task))
        }
        claimed = session.exec(
            select(func.count()).select_from(Task).where(col(Task.claimed_by) == "w1")
        ).one()
    assert after == before
    assert claimed == 4


def test_naive_text_storage_compares_in_utc(engine: Engine, bureau: Any) -> None:
    """``at`` in Beijing time compares with UTC-stored times by the instant, not the wall clock."""
    at = dt.datetime(2026, 11, 27, 1, 0, tzinfo=TZ)  # 2026-11-26 17:00 UTC
    ids = insert_tasks(
        engine,
        [
            task_row(
                bureau, 0, dt.datetime(2026, 11, 26, 16, 59, tzinfo=dt.UTC)
            ),  # due a minute ago
            task_row(bureau, 1, dt.datetime(2026, 11, 26, 17, 1, tzinfo=dt.UTC)),  # in a minute
        ],
    )
    assert claim(engine, at=at, worker="w1") == [ids[0]]
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT count(*) FROM task WHERE claimed_by = 'w1'")
        ).scalar_one()
    assert stored == 1
