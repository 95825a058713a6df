"""Benchmark: the overdue board and the overview with 10,000 and 1,000,000 tasks in SQLite.

    .venv/bin/python benchmarks/bench_dashboard.py                   # 10k and 1M, 16 clients, 30 s
    .venv/bin/python benchmarks/bench_dashboard.py --sizes 10000 --seconds 5

For each size a fresh SQLite file (WAL, as ``gongkai serve`` uses) gets one agency with
``--sections`` sections and that many tasks, filled by ``INSERT … SELECT`` from a recursive
CTE: 97 % done over the five years before "now" (one in ten late), 3 % open with due
moments within 60 days either side of "now" (so about 1.5 % are overdue: 15,000 at 1M).
Then a uvicorn child process serves the dashboard (``create_app``, clock fixed at
2026-11-27 10:00 Beijing time) on 127.0.0.1, and an asyncio load generator (raw HTTP/1.1
keep-alive connections, so the generator costs little CPU) logged in as the office runs
``--clients`` concurrent clients against one page for ``--seconds``: first ``/board``, then
``/``. Reported: requests, p50, p95, p99 and max latency per page and size, the cold first
overview (its yearly figures are computed, then reused for 60 s by the stats cache), and
the ratio p95(largest)/p95(smallest). Targets: p95 < 150 ms at 1M; ratio <= 2.

The server and the generator share the machine (2 cores in CI); the figures include that.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TZ = ZoneInfo("Asia/Shanghai")
UTC = dt.UTC
AT = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)
PASSWORD = "benchmark password 0123"
SECRET = "benchmark-session-key-0123456789abcdef"
FILL_CHUNK = 100_000
P95_TARGET_MS = 150.0
RATIO_TARGET = 2.0
PAGES = ("/board", "/")

#: Catalog obligations the filled tasks claim to be (their snapshots feed timeliness).
CODES = ("policy-interpretation", "monthly-info-report", "proactive-disclosure", "inquiry-reply")


def say(message: str) -> None:
    print(message, flush=True)


def sizes(value: str) -> list[int]:
    try:
        found = [int(part.replace("_", "")) for part in value.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give counts like 10000,1000000") from None
    if not found or any(size <= 0 for size in found):
        raise argparse.ArgumentTypeError(f"{value!r}: give positive counts")
    return found


def utc_text(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


_FILL = """
WITH RECURSIVE n(i) AS (SELECT :first UNION ALL SELECT i + 1 FROM n WHERE i < :last),
t AS (
    SELECT i,
           i % 100 < 3 AS open,
           CASE WHEN i % 100 < 3
                THEN strftime('%Y-%m-%d %H:%M:%S', :now, ((i * 7919) % 172800 - 86400) || ' minutes')
                ELSE strftime('%Y-%m-%d %H:%M:%S', :now, '-' || (86400 + (i * 7919) % 2540000) || ' minutes')
           END AS due_at
    FROM n
)
INSERT INTO task (
    id, agency_id, section_id, obligation_code, dedupe_key, event_id, period_key, title, rule,
    status, start_date, due_date, due_at, provisional, extended_by, next_action_at, stage_done,
    claimed_by, claim_expires_at, created_at, closed_at, done_at, evidence_url, timeliness,
    working_days_margin, extended, version
)
SELECT
    i, :agency, :section_base + ((i / 100 + i) % :sections),
    CASE i % 4 WHEN 0 THEN :c0 WHEN 1 THEN :c1 WHEN 2 THEN :c2 ELSE :c3 END,
    'bench|' || i, NULL, NULL, '基准任务 bench task ' || i,
    CASE i % 4 WHEN 0 THEN :r0 WHEN 1 THEN :r1 WHEN 2 THEN :r2 ELSE :r3 END,
    CASE WHEN open THEN 'open' ELSE 'done' END,
    date(due_at, '+8 hours', '-10 days'),
    date(due_at, '+8 hours', '-1 seconds'),
    due_at || '.000000', 0, 0, NULL, -1, NULL, NULL, :created_at,
    CASE WHEN open THEN NULL ELSE due_at || '.000000' END,
    CASE WHEN open THEN NULL
         WHEN i % 10 = 0 THEN strftime('%Y-%m-%d %H:%M:%S', due_at, '+2 days') || '.000000'
         ELSE strftime('%Y-%m-%d %H:%M:%S', due_at, '-1 days') || '.000000' END,
    CASE WHEN open THEN NULL ELSE 'https://www.example.gov.cn/zwgk/' || i || '.html' END,
    CASE WHEN open THEN NULL WHEN i % 10 = 0 THEN 'late' ELSE 'on_time' END,
    CASE WHEN open THEN NULL WHEN i % 10 = 0 THEN -2 ELSE 1 END,
    0, 0
FROM t
"""


def _rule(code: str) -> str:
    from obligations.catalog import load_catalog

    obligation = load_catalog().get(code)
    return json.dumps(
        {
            "code": code,
            "title": {"zh": obligation.title.zh, "en": obligation.title.en},
            "feeds": ["timeliness"],
            "deadline": obligation.deadline.model_dump(mode="json"),
            "reminders": [],
            "escalation": [],
        },
        ensure_ascii=False,
    )


def build_database(path: Path, *, total: int, sections: int) -> None:
    from argon2 import PasswordHasher
    from sqlalchemy import text

    from db import users
    from db.context import Actor
    from db.engine import make_engine, session_scope
    from db.migrate import upgrade
    from db.models import Agency, Section

    began = time.perf_counter()
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with session_scope(engine) as session:
        agency = Agency(code="bench", name="基准局", created_at=dt.datetime(2020, 1, 1, tzinfo=TZ))
        session.add(agency)
        session.flush()
        rows = [
            Section(agency_id=agency.id or 0, code=f"s{k:03d}", name=f"第{k}科")
            for k in range(1, sections + 1)
        ]
        session.add_all(rows)
        session.flush()
        agency_id, section_base = agency.id or 0, rows[0].id or 0
        users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        scope = users.Scope(agency_id=agency_id, section_id=None, person_id=None)
        users.add_user(
            session,
            username="office",
            password=PASSWORD,
            role="office",
            scope=scope,
            actor=Actor.system("bench"),
            at=AT,
        )
    params = {
        "agency": agency_id,
        "section_base": section_base,
        "sections": sections,
        "now": utc_text(AT),
        "created_at": AT.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        **{f"c{k}": code for k, code in enumerate(CODES)},
        **{f"r{k}": _rule(code) for k, code in enumerate(CODES)},
    }
    for first in range(1, total + 1, FILL_CHUNK):
        last = min(first + FILL_CHUNK - 1, total)
        with engine.begin() as connection:
            connection.execute(text(_FILL), {**params, "first": first, "last": last})
        say(f"      filled {last:>9,}/{total:,} ({time.perf_counter() - began:5.1f} s)")
    with engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    raw = engine.raw_connection()
    try:
        raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        raw.close()
    engine.dispose()
    say(f"      ANALYZE and checkpoint done ({time.perf_counter() - began:.1f} s in all)")


def serve(db: Path, port: int) -> None:
    """The child process: the dashboard on 127.0.0.1:port over ``db``."""
    import logging

    import uvicorn

    from dashboard.app import DashboardConfig, create_app
    from db.context import Domain
    from db.engine import make_engine
    from gongkai.serve import freeze_startup_heap
    from obligations.catalog import load_catalog
    from obligations.workdays import default_calendar

    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = make_engine(f"sqlite:///{db}")
    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    app = create_app(
        engine=engine,
        domain=lambda: domain,
        config=DashboardConfig(clock=lambda: AT, secret_key=SECRET),
    )
    freeze_startup_heap()  # as ``gongkai serve`` does once it is built
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(db: Path) -> tuple[subprocess.Popen[bytes], int]:
    import httpx

    port = free_port()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(db), "--port", str(port)],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return child, port
        except httpx.HTTPError:
            time.sleep(0.2)
    child.kill()
    raise RuntimeError("the dashboard did not start")


def login(port: int) -> str:
    """The session cookie of the office user."""
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{port}", follow_redirects=False) as client:
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        answer = client.post(
            "/login",
            data={"username": "office", "password": PASSWORD, "csrf_token": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        return answer.headers["set-cookie"].split(";", 1)[0]


async def _one_client(
    port: int, path: str, cookie: str, stop_at: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode()
    try:
        while time.perf_counter() < stop_at:
            began = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - began)
            if not status.startswith(b"HTTP/1.1 200"):
                errors.append(status.decode("latin-1").strip())
    finally:
        writer.close()


async def load(
    port: int, path: str, cookie: str, *, clients: int, seconds: float
) -> tuple[list[float], list[str]]:
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    await asyncio.gather(
        *(_one_client(port, path, cookie, stop_at, latencies, errors) for _ in range(clients))
    )
    return latencies, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


def cold_request(port: int, path: str, cookie: str) -> float:
    import httpx

    began = time.perf_counter()
    answer = httpx.get(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie}, timeout=120)
    assert answer.status_code == 200, answer.status_code
    return (time.perf_counter() - began) * 1000


def run(args: argparse.Namespace) -> int:
    results: dict[int, dict[str, float]] = {}
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as folder:
        for size in args.sizes:
            db = Path(folder) / f"ledger-{size}.db"
            say(f"== {size:,} tasks, {args.sections} sections")
            build_database(db, total=size, sections=args.sections)
            child, port = start_server(db)
            try:
                cookie = login(port)
                cold_board = cold_request(port, "/board", cookie)
                cold_overview = cold_request(port, "/", cookie)
                say(
                    f"   cold: /board {cold_board:.0f} ms, / {cold_overview:.0f} ms (yearly figures computed)"
                )
                results[size] = {}
                for path in PAGES:
                    asyncio.run(
                        load(port, path, cookie, clients=args.clients, seconds=2)
                    )  # warm-up
                    latencies, errors = asyncio.run(
                        load(port, path, cookie, clients=args.clients, seconds=args.seconds)
                    )
                    p50, p95 = percentile(latencies, 0.50), percentile(latencies, 0.95)
                    p99, worst = percentile(latencies, 0.99), max(latencies) * 1000
                    results[size][path] = p95
                    rate = len(latencies) / args.seconds
                    say(
                        f"   {path:<7} {len(latencies):>6} requests ({rate:5.0f}/s), "
                        f"p50 {p50:6.1f} ms, p95 {p95:6.1f} ms, p99 {p99:6.1f} ms, max {worst:6.1f} ms"
                        + (f", {len(errors)} errors ({errors[0]})" if errors else "")
                    )
                    failed = failed or bool(errors)
            finally:
                child.terminate()
                child.wait(timeout=30)
            os.remove(db)
    smallest, largest = min(results), max(results)
    if smallest != largest:
        say(f"== ratio p95 {largest:,}/{smallest:,}")
        for path in PAGES:
            ratio = results[largest][path] / results[smallest][path]
            ok_ratio = ratio <= RATIO_TARGET
            ok_p95 = results[largest][path] < P95_TARGET_MS
            say(
                f"   {path:<7} p95 {results[largest][path]:.1f} ms ({'OK' if ok_p95 else 'over'} "
                f"< {P95_TARGET_MS:.0f} ms), ratio {ratio:.2f} ({'OK' if ok_ratio else 'over'} "
                f"<= {RATIO_TARGET})"
            )
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=sizes, default=[10_000, 1_000_000])
    parser.add_argument("--sections", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve, args.port)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
