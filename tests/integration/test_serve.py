"""``gongkai serve``: one process that answers HTTP, runs the scheduler and stops cleanly.

The process tests start the real command on a free loopback port with a temporary SQLite
file and poll ``/healthz``; the time to ready is printed (benchmarks/bench_simulate.py
reports it), never asserted. The catch-up test drives the embedded runner's jobs with a
simulated clock that jumps over a weekend, through a channel that records what it sends.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from db.context import Actor, Domain
from db.engine import make_engine, session_scope
from db.models import ChatAddress, OutboxMessage, Task
from db.tasks import stages_of
from flows.embedded import (
    DAILY_MISFIRE_GRACE_SECONDS,
    SWEEP_MISFIRE_GRACE_SECONDS,
    EmbeddedRunner,
    Jobs,
)
from flows.simulate import SimulatedClock
from notifier.base import Delivery, Message
from notifier.channels.console import ConsoleChannel
from notifier.testing import FakeTelegramAPI
from obligations.schedule import due_stages

TZ = ZoneInfo("Asia/Shanghai")
GONGKAI = Path(sys.executable).parent / "gongkai"
#: Guards against a hung process; not a performance bound (that is the benchmark's job).
HANG_GUARD_SECONDS = 60.0


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=TZ)


# --- the process ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    ready_after: float

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, signum: int) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=HANG_GUARD_SECONDS)


def serve_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GONGKAI_")}
    env["GONGKAI_DATABASE_URL"] = f"sqlite:///{tmp_path / 'serve.db'}"
    env["GONGKAI_DATA_DIR"] = str(tmp_path / "data")
    env["NO_COLOR"] = "1"
    # Chat robots would be real services: point them at a closed loopback port.
    for name in ("WECOM", "DINGTALK", "FEISHU"):
        env[f"GONGKAI_{name}_BASE_URL"] = "http://127.0.0.1:9"
    return env


def start_serve(
    tmp_path: Path,
    *args: str,
    port: int | None = None,
    guard: float = HANG_GUARD_SECONDS,
    env: dict[str, str] | None = None,
) -> Served:
    """Start ``gongkai serve`` and wait until /healthz answers and the ready line is logged."""
    port = port or free_port()
    log = tmp_path / "serve.log"
    started = time.monotonic()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(GONGKAI), "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            cwd=tmp_path,  # no stray .env
            env={**serve_env(tmp_path), **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, port, log, 0.0)
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() - started < guard:
            if process.poll() is not None:
                pytest.fail(f"gongkai serve exited with {process.returncode}:\n{served.text()}")
            if "gongkai ready" in served.text() and _healthy(client, port):
                served.ready_after = time.monotonic() - started
                print(f"gongkai serve {' '.join(args)} ready after {served.ready_after:.2f} s")
                return served
            time.sleep(0.05)
    process.kill()
    process.wait()
    pytest.fail(f"gongkai serve was not ready:\n{served.text()}")


def _healthy(client: httpx.Client, port: int) -> bool:
    try:
        return client.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    service = start_serve(tmp_path)
    yield service
    if service.process.poll() is None:
        service.process.kill()
        service.process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_answers_runs_the_scheduler_and_stops_cleanly(served: Served, signum: int) -> None:
    log = served.text()
    assert "scheduler running" in log
    assert "(scheduler: running, jobs bulletin, spawn, sweep)" in log
    assert "Telegram bot off: GONGKAI_TELEGRAM_TOKEN is not set" in log
    assert served.stop(signum) == 0
    log = served.text()
    assert f"{signal.Signals(signum).name} received: shutting down" in log
    assert "scheduler stopped" in log
    assert "web server stopped" in log
    assert "gongkai stopped" in log
    assert "Traceback" not in log


SMALL_ORG = """
agencies:
  - code: test-bureau
    name: 测试局
    sections:
      - {code: office, name: 办公室}
      - {code: trade, name: 贸易科}
    people:
      - {name: 测试科长, role: chief, section: trade}
      - {name: 测试办公, role: office, section: office}
"""


@pytest.mark.slow
def test_serve_migrates_the_database_and_spawns_at_start(tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(SMALL_ORG, encoding="utf-8")
    subprocess.run(
        [str(GONGKAI), "org", "import", str(org)],
        cwd=tmp_path,
        env=serve_env(tmp_path),
        capture_output=True,
        timeout=HANG_GUARD_SECONDS,
        check=True,
    )
    service = start_serve(tmp_path)
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'serve.db'}")
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        created = 0
        while not created and time.monotonic() < deadline:
            with Session(engine) as session:
                created = len(session.exec(select(Task.id)).all())
            time.sleep(0.05)
        engine.dispose()
        assert created > 0  # the start-up spawn ran: this month's reports exist
    finally:
        assert service.stop(signal.SIGTERM) == 0
    assert "Traceback" not in service.text()


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegramAPI]:
    """A fake Bot API on loopback, served from its own thread (serve runs in a subprocess)."""
    loop = asyncio.new_event_loop()
    api = FakeTelegramAPI()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(api.start(), loop).result(timeout=10)
    yield api
    asyncio.run_coroutine_threadsafe(api.stop(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


@pytest.mark.slow
def test_telegram_bot_runs_in_the_same_process_when_a_token_is_set(
    tmp_path: Path, fake_telegram: FakeTelegramAPI
) -> None:
    service = start_serve(
        tmp_path,
        env={
            "GONGKAI_TELEGRAM_TOKEN": fake_telegram.token,
            "GONGKAI_TELEGRAM_BASE_URL": fake_telegram.base_url,
        },
    )
    try:
        assert "Telegram bot on (long polling)" in service.text()
        assert "Telegram bot polling" in service.text()
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while time.monotonic() < deadline:
            if any(call.method == "getUpdates" for call in list(fake_telegram.calls)):
                break
            time.sleep(0.05)
        methods = {call.method for call in list(fake_telegram.calls)}
        assert {"setMyCommands", "getUpdates"} <= methods
    finally:
        assert service.stop(signal.SIGINT) == 0
    log = service.text()
    assert "Telegram bot stopped" in log
    assert "Traceback" not in log
    assert fake_telegram.token not in log  # the token is in Bot API URLs: never logged


@pytest.mark.slow
def test_prefect_orchestrator_leaves_the_schedules_to_prefect(tmp_path: Path) -> None:
    service = start_serve(tmp_path, "--orchestrator", "prefect")
    try:
        log = service.text()
        assert "scheduler off: Prefect owns the schedules" in log
        assert "(scheduler: off)" in log
        assert "scheduler running" not in log
    finally:
        assert service.stop(signal.SIGINT) == 0
    assert "Traceback" not in service.text()


def test_a_busy_port_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(GONGKAI), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path,
            env=serve_env(tmp_path),
            capture_output=True,
            timeout=HANG_GUARD_SECONDS,
            check=False,
        )
    output = result.stdout.decode() + result.stderr.decode()
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in output
    assert "Traceback" not in output


def test_unknown_orchestrator_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(GONGKAI), "serve", "--orchestrator", "cron"],
        cwd=tmp_path,
        env=serve_env(tmp_path),
        capture_output=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert result.returncode == 1
    assert "--orchestrator 'cron': use embedded or prefect" in result.stderr.decode()


@pytest.mark.slow
def test_demo_serves_an_existing_demo_database_and_catches_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    subprocess.run(
        [
            str(GONGKAI),
            "simulate",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-20",
            "--db",
            str(data / "gongkai-demo.db"),
        ],
        cwd=tmp_path,
        env=serve_env(tmp_path),
        capture_output=True,
        timeout=300,
        check=True,
    )
    service = start_serve(tmp_path, "--demo")
    try:
        log = service.text()
        assert "(delete it to simulate again up to today)" in log
        assert "demo logins: office, chief, leader, gov" in log
        # The demo stopped on 20 January: the first sweep hands out everything due since,
        # as one digest per person (on the console: the demo's chat addresses are made up).
        deadline = time.monotonic() + HANG_GUARD_SECONDS
        while "message(s) sent" not in service.text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "message(s) sent" in service.text()
    finally:
        assert service.stop(signal.SIGINT) == 0
    assert "Traceback" not in service.text()


@pytest.mark.slow
def test_demo_simulates_this_year_on_first_start(tmp_path: Path) -> None:
    service = start_serve(tmp_path, "--demo", guard=600)
    try:
        log = service.text()
        assert "does not exist: simulating" in log
        assert "模拟完成 Simulated" in log
        assert (tmp_path / "data" / "gongkai-demo.db").exists()
    finally:
        assert service.stop(signal.SIGTERM) == 0
    assert "Traceback" not in service.text()


# --- the runner, in process ------------------------------------------------------------------


class Recorder:
    """A channel that records every message it is given."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.sent: list[tuple[str, Message]] = []

    async def send(self, address: str, message: Message) -> Delivery:
        self.sent.append((address, message))
        return Delivery(channel=self.kind, address=address)


def make_runner(
    engine: Engine, domain: Domain, clock: SimulatedClock, channels: dict[str, Any]
) -> EmbeddedRunner:
    jobs = Jobs(
        engine=engine,
        domain=lambda: domain,
        channels=channels,
        worker="test",
        dashboard_url="http://127.0.0.1:8000",
        actor=Actor.system("test"),
    )
    return EmbeddedRunner(jobs, clock=clock, tz=TZ, sweep_every_seconds=60)


def test_scheduler_jobs_coalesce_with_misfire_grace_and_run_once_at_start(
    engine: Engine, bureau: Any, domain: Domain
) -> None:
    clock = SimulatedClock(local(2026, 11, 27, 10, 0))
    runner = make_runner(engine, domain, clock, {"console": ConsoleChannel()})

    async def scenario() -> dict[str, Any]:
        runner.start()
        try:
            jobs = {job.id: job for job in runner.jobs_list()}
            deadline = time.monotonic() + HANG_GUARD_SECONDS
            while not {"spawn", "sweep"} <= set(runner.last) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return jobs
        finally:
            await runner.stop()

    jobs = asyncio.run(scenario())
    assert set(jobs) == {"spawn", "sweep", "bulletin"}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert str(job.trigger.timezone) == "Asia/Shanghai"
    assert jobs["spawn"].misfire_grace_time == DAILY_MISFIRE_GRACE_SECONDS
    assert jobs["bulletin"].misfire_grace_time == DAILY_MISFIRE_GRACE_SECONDS
    assert jobs["sweep"].misfire_grace_time == SWEEP_MISFIRE_GRACE_SECONDS
    assert str(jobs["spawn"].trigger) == "cron[hour='1', minute='0']"
    assert str(jobs["bulletin"].trigger) == "cron[day='1', hour='6', minute='0']"
    assert jobs["sweep"].trigger.interval == dt.timedelta(seconds=60)
    # The start-up spawn created this month's recurring tasks for the bureau's sections.
    assert runner.last["spawn"].created > 0
    assert not runner.running
    # The monthly job compiles last month's bulletin through the reports package's hook.
    bulletin = asyncio.run(runner.run_bulletin())
    assert bulletin.month == "2026-10"
    assert "xm-commerce" in bulletin.by_agency


def test_first_sweep_after_a_weekend_off_sends_one_digest_per_person(
    engine: Engine, bureau: Any, domain: Domain
) -> None:
    people = bureau["people"]
    telegram = Recorder("telegram")
    email = Recorder("email")
    channels = {"telegram": telegram, "email": email, "console": ConsoleChannel()}
    with session_scope(engine) as session:
        session.add(
            ChatAddress(person_id=people["trade_chief"].id, channel="telegram", address="1001")
        )
        session.add(ChatAddress(person_id=people["office"].id, channel="telegram", address="2001"))
        session.add(
            ChatAddress(
                person_id=people["leader"].id, channel="email", address="leader@example.gov.cn"
            )
        )
    clock = SimulatedClock(local(2026, 11, 19, 10, 0))
    runner = make_runner(engine, domain, clock, channels)
    # Thu 11-19: a request for 外贸科 (补正告知 due Mon 11-30, reply due 12-17).
    runner.jobs.intake(
        {
            "event_type": "request_received",
            "occurred_at": clock(),
            "agency": "xm-commerce",
            "section": "foreign-trade",
            "title": "申请公开外贸统计",
            "attributes": {"applicant_type": "natural_person", "channel": "in_person"},
        },
        at=clock(),
    )
    # Mon 11-23: a policy document; its interpretation is due Thu 11-26 (3 working days).
    clock.advance(local(2026, 11, 23, 10, 0))
    runner.jobs.intake(
        {
            "event_type": "document_published",
            "occurred_at": clock(),
            "agency": "xm-commerce",
            "section": "foreign-trade",
            "title": "关于促进外贸稳规模优结构的若干措施",
        },
        at=clock(),
    )
    # Wed 11-25 09:30, the last morning before the machine goes off.
    clock.advance(local(2026, 11, 25, 9, 30))
    asyncio.run(runner.run_tick())
    before = len(telegram.sent)
    assert [address for address, _ in telegram.sent] == ["1001"]

    # Off from Wed evening until Mon 11-30 10:00: Thu's reminders, Fri's overdue moment and
    # the office escalation, Mon's "due today" all fell due while nobody was sweeping.
    clock.advance(local(2026, 11, 30, 10, 0))
    report = asyncio.run(runner.run_tick())
    sent = telegram.sent[before:]
    digests = Counter(address for address, message in sent if not message.urgent)
    assert digests == Counter({"1001": 1})  # the chief: one digest, not a flood
    chief_digest = next(message for address, message in sent if address == "1001")
    states = {item.obligation: item.state for item in chief_digest.items}
    assert states == {"policy-interpretation": "overdue", "request-correction-notice": "due_today"}
    # The escalation of the overdue interpretation reaches the office at once, once.
    assert [address for address, message in sent if message.urgent] == ["2001"]
    assert email.sent == []  # the leader's step (5 working days overdue) is not due yet
    assert report.deliver.failed_rows == 0

    # No stage lost: every stage due by now has its outbox row, sent; the task moved past it.
    now = clock()
    with Session(engine) as session:
        for task in session.exec(select(Task).where(col(Task.status) == "open")).all():
            due = due_stages(stages_of(task, domain), -1, at=now)
            rows = session.exec(select(OutboxMessage).where(OutboxMessage.task_id == task.id)).all()
            assert {stage.name for stage in due} <= {row.stage for row in rows}, (
                task.obligation_code
            )
            assert all(row.status == "sent" for row in rows)
            if due:
                assert task.stage_done == due[-1].index
                assert task.next_action_at is None or task.next_action_at > now

    # A second tick in the same window sends nothing more.
    clock.advance(local(2026, 11, 30, 10, 5))
    again = asyncio.run(runner.run_tick())
    assert again.sweep.outbox_rows == 0
    assert again.deliver.messages == 0
    assert len(telegram.sent) == before + len(sent)
