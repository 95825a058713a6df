"""The scaled topology for real: a Prefect server, ``gongkai deploy``, a process worker, PostgreSQL.

One module fixture starts ``prefect server start`` on 127.0.0.1 (a free port, its own
PREFECT_HOME, Prefect's own SQLite), registers the deployments through ``gongkai deploy``
(which creates the process work pool), imports the demo organisation into a fresh
PostgreSQL database and starts ``prefect worker start`` with GONGKAI_DATABASE_URL pointing
at it. The tests trigger spawn, intake and sweep through the Prefect API and check the
tasks and outbox rows in PostgreSQL, the run names and the artifacts. Teardown terminates
the process groups and checks that no process is left.

Prefect's scheduler service is off on this server: the every-minute sweep schedule would
otherwise start runs of its own in the middle of the test. The schedules themselves are
checked as registered.

Nothing leaves 127.0.0.1: the worker's chat robots (WeCom, DingTalk, Feishu — always
configured) point at a loopback sink that answers like the services and records what it
got; Telegram and e-mail are not configured; Prefect's analytics are off.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TZ = ZoneInfo("Asia/Shanghai")
POOL = "gongkai-e2e"
START_TIMEOUT = 120.0
RUN_TIMEOUT = 180.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (Linux /proc), e.g. the worker's flow-run processes."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid …": comm may contain spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM the process group, then SIGKILL what is still there."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):  # anything else left in the group
        os.killpg(process.pid, signal.SIGKILL)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class RobotSink:
    """A loopback stand-in for the WeCom / DingTalk / Feishu robot APIs: records, answers ok."""

    def __init__(self) -> None:
        received: list[tuple[str, dict[str, Any]]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                received.append((self.path, body))
                answer = json.dumps({"errcode": 0, "errmsg": "ok", "code": 0, "msg": "ok"})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass
class Scaled:
    api_url: str
    database_url: str
    engine: Engine
    env: dict[str, str]
    logs: Path
    robots: RobotSink
    deployed: dict[str, Any]
    started_at: dt.datetime
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)

    def spawn_process(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:  # the child keeps its own handle
            process = subprocess.Popen(
                list(args),
                env=self.env,
                cwd=self.logs,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process


def wait_healthy(api_url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited ({server.returncode}):\n{tail(log)}")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"prefect server not healthy after {START_TIMEOUT:.0f} s:\n{tail(log)}")


def create_database(base_url: str) -> str:
    import psycopg

    name = f"gongkai_e2e_{uuid.uuid4().hex[:10]}"
    admin = base_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(base_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = base_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def scaled(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scaled]:
    from db.context import Actor
    from db.engine import make_engine, session_scope
    from db.migrate import upgrade
    from db.org import import_org, parse_org_yaml

    logs = tmp_path_factory.mktemp("prefect-scaled")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    database_url = create_database(postgres_url)
    robots = RobotSink()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "GONGKAI_"))
    }
    env.update(
        {
            "PREFECT_HOME": str(logs / "prefect-home"),
            "PREFECT_API_URL": api_url,
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{logs / 'prefect.db'}",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_TELEMETRY_ENABLE_RESOURCE_METRICS": "false",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "DO_NOT_TRACK": "1",
            "GONGKAI_DATABASE_URL": database_url,
            "GONGKAI_TIMEZONE": "Asia/Shanghai",
            "GONGKAI_WECOM_BASE_URL": robots.url,
            "GONGKAI_DINGTALK_BASE_URL": robots.url,
            "GONGKAI_FEISHU_BASE_URL": robots.url,
        }
    )
    engine = make_engine(database_url)
    started_at = dt.datetime.now(dt.UTC)
    world = Scaled(api_url, database_url, engine, env, logs, robots, {}, started_at)
    try:
        server = world.spawn_process(
            "server",
            str(BIN / "prefect"),
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-ui",
            "--no-scheduler",
        )
        # Our ledger on PostgreSQL: schema and the demo organisation.
        upgrade(engine)
        org = parse_org_yaml(
            (ROOT / "gongkai" / "examples" / "demo-org.yaml").read_text(encoding="utf-8"),
            "demo-org.yaml",
        )
        with session_scope(engine) as session:
            import_org(session, org, actor=Actor.system("e2e"), at=started_at)
        wait_healthy(api_url, server, logs / "server.log")
        deployed = subprocess.run(
            [str(BIN / "gongkai"), "deploy", "--pool", POOL, "--json"],
            env=env,
            cwd=logs,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert deployed.returncode == 0, deployed.stderr
        world.deployed = json.loads(deployed.stdout)
        worker = world.spawn_process(
            "worker",
            str(BIN / "prefect"),
            "worker",
            "start",
            "--pool",
            POOL,
            "--type",
            "process",
            "--name",
            "e2e-worker",
            "--limit",
            "2",
        )
        time.sleep(1)
        assert worker.poll() is None, tail(logs / "worker.log")
        yield world
    finally:
        for process in reversed(world.processes):
            world.seen |= {process.pid, *descendants(process.pid)}
            stop_group(process)
        leftovers = {pid for pid in world.seen if alive(pid)}
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        robots.close()
        engine.dispose()
        drop_database(postgres_url, database_url)
        assert not leftovers, f"processes left after shutdown: {sorted(leftovers)}"


# --- talking to the Prefect API from the test ----------------------------------------------


def prefect_call(world: Scaled, work: Any) -> Any:
    """Run ``work(client)`` against the test server (PREFECT_API_URL for this process)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def main() -> Any:
        async with get_client() as client:
            return await work(client)

    with temporary_settings(updates={PREFECT_API_URL: world.api_url}):
        return asyncio.run(main())


def run(world: Scaled, deployment: str, **kwargs: Any) -> Any:
    """Trigger ``deployment`` through the API and wait for the worker to finish it."""
    from prefect.deployments import arun_deployment

    async def work(client: Any) -> Any:
        started = await arun_deployment(
            deployment, client=client, timeout=RUN_TIMEOUT, poll_interval=1, **kwargs
        )
        return await client.read_flow_run(started.id)

    flow_run = prefect_call(world, work)
    assert flow_run.state is not None
    assert flow_run.state.is_final(), (
        f"{deployment} still {flow_run.state.name} after {RUN_TIMEOUT:.0f} s\n"
        f"{tail(world.logs / 'worker.log')}"
    )
    return flow_run


def task_run_names(world: Scaled, flow_run_id: Any) -> list[str]:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def work(client: Any) -> list[str]:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
        return sorted(str(task_run.name) for task_run in runs)

    return prefect_call(world, work)


def artifacts(world: Scaled, flow_run_id: Any) -> dict[str, Any]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def work(client: Any) -> dict[str, Any]:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
        return {str(item.key): item for item in found}

    return prefect_call(world, work)


def ledger_count(world: Scaled, model: Any, *where: Any) -> int:
    with Session(world.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())


# --- the tests -------------------------------------------------------------------------------


def test_gongkai_deploy_registers_every_flow_with_shanghai_schedules(scaled: Scaled) -> None:
    deployed = {item["name"]: item for item in scaled.deployed["deployments"]}
    assert set(deployed) == {
        "spawn/gongkai",
        "sweep/gongkai",
        "deliver/gongkai",
        "intake/gongkai",
        "bulletin/gongkai",
        "year-report/gongkai",
    }
    assert scaled.deployed["work_pool"] == POOL

    async def work(client: Any) -> dict[str, Any]:
        pool = await client.read_work_pool(POOL)
        found = {name: await client.read_deployment_by_name(name) for name in deployed}
        return {"pool": pool, **found}

    server = prefect_call(scaled, work)
    assert server["pool"].type == "process"
    schedules = {
        name: [(s.schedule.cron, s.schedule.timezone, s.active) for s in server[name].schedules]
        for name in deployed
    }
    assert schedules["spawn/gongkai"] == [("0 1 * * *", "Asia/Shanghai", True)]
    assert schedules["sweep/gongkai"] == [("* * * * *", "Asia/Shanghai", True)]
    assert schedules["bulletin/gongkai"] == [("0 8 1 * *", "Asia/Shanghai", True)]
    assert schedules["year-report/gongkai"] == [("0 8 2 1 *", "Asia/Shanghai", True)]
    assert schedules["intake/gongkai"] == []
    assert server["sweep/gongkai"].entrypoint == "flows.prefect_flows.sweep_flow"
    assert server["sweep/gongkai"].work_pool_name == POOL
    assert server["sweep/gongkai"].global_concurrency_limit.limit == 1
    assert server["sweep/gongkai"].concurrency_options.collision_strategy == "CANCEL_NEW"


def test_spawn_intake_and_sweep_run_on_a_worker_against_postgresql(scaled: Scaled) -> None:
    from db.models import Delivery, Event, OutboxMessage, Task

    # spawn: the demo organisation's recurring tasks, through the 40-day horizon
    spawned = run(scaled, "spawn/gongkai")
    assert spawned.state.is_completed(), spawned.state.message
    today = dt.datetime.now(TZ).date()
    assert spawned.name == f"spawn {today} 至 {today + dt.timedelta(days=40)}"
    names = task_run_names(scaled, spawned.id)
    assert any(name.startswith("spawn 各科室月度政务信息报送 ") for name in names), names
    assert "spawn-per-section" in artifacts(scaled, spawned.id)
    tasks = ledger_count(scaled, Task)
    assert tasks > 0
    with Session(scaled.engine) as session:
        keys = set(session.exec(select(Task.period_key).where(col(Task.period_key).is_not(None))))
    assert f"{today.year}-{today.month:02d}" in keys

    # intake: a disclosure request received 30 days ago (its reminders are due now)
    received = (dt.datetime.now(TZ) - dt.timedelta(days=30)).replace(microsecond=0)
    payload = {
        "event_type": "request_received",
        "occurred_at": received.isoformat(),
        "agency": "demo-commerce",
        "section": "foreign-trade",
        "external_id": "E2E-YSQ-1",
        "title": "申请公开外贸统计",
        "attributes": {"applicant_type": "natural_person", "channel": "in_person"},
    }
    key = "event:demo-commerce:E2E-YSQ-1"
    recorded = run(scaled, "intake/gongkai", parameters={"payload": payload}, idempotency_key=key)
    assert recorded.state.is_completed(), recorded.state.message
    assert recorded.name == "intake request_received E2E-YSQ-1"
    assert ledger_count(scaled, Event) == 1
    assert ledger_count(scaled, Task) == tasks + 2

    # a malformed payload fails its run with one clear message and records nothing
    bad = run(scaled, "intake/gongkai", parameters={"payload": {"event_type": "request_received"}})
    assert bad.state.is_failed()
    assert "occurred_at: Field required" in (bad.state.message or "")
    assert ledger_count(scaled, Event) == 1

    # sweep (+ deliver): outbox rows for the request's due reminders
    swept = run(scaled, "sweep/gongkai")
    assert swept.state.is_completed(), swept.state.message
    assert swept.name.startswith("sweep ")
    assert "sweep batch 1" in task_run_names(scaled, swept.id)
    assert "sweep-per-section" in artifacts(scaled, swept.id)
    with Session(scaled.engine) as session:
        request_tasks = set(
            session.exec(select(Task.id).join(Event, col(Task.event_id) == col(Event.id)))
        )
        rows = session.exec(select(OutboxMessage)).all()
        claimed = session.exec(select(Task.id).where(col(Task.claimed_by).is_not(None))).all()
    assert rows, tail(scaled.logs / "worker.log")
    assert request_tasks & {row.task_id for row in rows}
    assert len({row.dedupe_key for row in rows}) == len(rows)
    assert not claimed  # every claim released with its work
    # delivered in the same run through the worker's configured channels: the escalations
    # are immediate (digests wait for 09:00 on a working day), to the office's WeCom robot
    # (the loopback sink) and, for people whose only chat is the unconfigured Telegram,
    # to the console
    with Session(scaled.engine) as session:
        outcomes = set(session.exec(select(Delivery.channel, Delivery.outcome)))
    assert ("wecom", "sent") in outcomes, outcomes
    assert {outcome for _, outcome in outcomes} == {"sent"}, outcomes
    assert scaled.robots.received

    # a second sweep finds nothing new: no duplicate outbox row
    again = run(scaled, "sweep/gongkai")
    assert again.state.is_completed(), again.state.message
    assert ledger_count(scaled, OutboxMessage) == len(rows)
    assert task_run_names(scaled, again.id) == []  # an idle tick: one flow run, nothing more
