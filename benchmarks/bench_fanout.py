"""Benchmark: a morning's digests to 2,000 Telegram chats, and rendering 10,000 digests.

    .venv/bin/python benchmarks/bench_fanout.py                 # all three parts
    .venv/bin/python benchmarks/bench_fanout.py --recipients 500 --skip-deliver

Everything runs against the fake Bot API of :mod:`notifier.testing` on 127.0.0.1, through
python-telegram-bot for real; the fake records each request's arrival time, which is what
Telegram's flood control would see.

1. **Fan-out.** ``--recipients`` digests (1–12 tasks each, every 20th one long enough to be
   split in two parts) are handed to one :class:`TelegramChannel` at once, its limiter set to
   ``--rate`` messages/s. Measured at the server: achieved rate (messages over the span from
   the first to the last arrival), the most messages in any 1-second window, duplicates
   (a chat receiving a part twice, or more parts than it was sent), and per-chat violations
   (two messages to one chat less than 1 s apart). Targets: rate >= 90 % of ``--rate``,
   window <= ``--rate``, zero duplicates, zero violations.
2. **Deliver.** The same number of people with outbox rows in a fresh SQLite ledger, sent
   by one :func:`notifier.deliver.deliver` pass (claim, build, send, record): the rate the
   whole production path reaches. Informative (no target). ``--latency`` makes the fake
   answer slowly, like the real Bot API across the internet: a ``deliver`` that sends one
   person after the other is then bound by the round trip, not by the limiter.
3. **Render.** ``--render`` digests rendered for Telegram (HTML, split), the robots
   (markdown) and e-mail (text + HTML); pure functions, no I/O.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from notifier.base import DigestItem, Message
from notifier.channels.telegram import TelegramChannel, make_bot
from notifier.ratelimit import RateLimiter
from notifier.render import render_email, render_markdown, render_telegram
from notifier.testing import FakeTelegramAPI

TZ = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 12, 3, 9, 0, tzinfo=TZ)
FIRST_CHAT = 200_000_000
RATE_TARGET = 0.90
SECTIONS = (
    "办公室",
    "综合科",
    "外贸科",
    "外资科",
    "商贸流通科",
    "电子商务科",
    "财务科",
    "市场运行科",
)
TITLES = (
    "依申请公开答复：关于{n}号申请的答复",
    "补正告知：关于{n}号申请",
    "月度政务信息报送 2026年11月",
    "政府信息主动公开：关于印发《{n}号实施方案》的通知",
    "政策解读：《关于促进外贸稳规模优结构的若干措施》",
    "行政许可决定公示（第{n}批）",
    "预算公开：2027年部门预算",
    "政务舆情回应：关于网传“{n}号商场火灾”的情况说明",
)
STATES = ("escalation", "overdue", "due_today", "due_soon", "due_soon", "due_soon")


def say(message: str) -> None:
    print(message, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def make_digest(index: int, rng: random.Random, *, lang: str = "zh") -> Message:
    """A realistic digest: a few tasks, every 20th recipient a section-sized backlog."""
    count = 70 if index % 20 == 0 else rng.randint(1, 12)
    items = []
    for n in range(count):
        due = AT.date() + dt.timedelta(days=rng.randint(-10, 15))
        state = rng.choice(STATES)
        items.append(
            DigestItem(
                task_id=index * 100 + n,
                title=rng.choice(TITLES).format(n=rng.randint(1, 999)),
                section=rng.choice(SECTIONS),
                obligation="bench",
                due_at=dt.datetime.combine(due, dt.time(23, 59, 59), TZ),
                due_date=due,
                state=state,
                days=rng.randint(0, 9),
                provisional=rng.random() < 0.05,
                link=f"https://gongkai.example.gov.cn/tasks/{index * 100 + n}",
            )
        )
    return Message(
        recipient=f"科长{index}",
        title="政务公开事项提醒 2026-12-03（周四）"
        if lang == "zh"
        else "Disclosure duties 2026-12-03",
        items=tuple(items),
        lang=lang,
        link="https://gongkai.example.gov.cn",
        actions=tuple((f"已完成 #{i.task_id}", f"done:{i.task_id}") for i in items[:10]),
    )


def _serve_api(port_queue: Any, stop: Any, result_queue: Any, latency: float) -> None:
    """Child process: run the fake Bot API until told to stop, then send back its records."""

    async def run() -> None:
        api = FakeTelegramAPI(latency=latency)
        await api.start()
        port_queue.put((api.base_url, api.token))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, stop.wait)
        await api.stop()
        result_queue.put((api.calls, api.sent))

    asyncio.run(run())


@contextmanager
def api_in_process(latency: float = 0.0) -> Iterator[FakeTelegramAPI]:
    """The fake Bot API in a child process; the records are copied back when it stops.

    Its arrival times are then taken by a process the senders do not keep busy, as
    Telegram's would be (in the senders' process a request could wait for the GIL or the
    event loop and look as if it arrived late, or in a bunch). ``time.monotonic`` is one
    clock for every process of the machine.
    """
    context = multiprocessing.get_context("spawn")
    port_queue, result_queue, stop = context.Queue(), context.Queue(), context.Event()
    child = context.Process(
        target=_serve_api, args=(port_queue, stop, result_queue, latency), daemon=True
    )
    child.start()
    base_url, token = port_queue.get(timeout=30)
    # A local stand-in carrying the address now and the child's records afterwards.
    api = FakeTelegramAPI(token)
    api.__dict__["_remote_base_url"] = base_url
    try:
        yield api
    finally:
        stop.set()
        api.calls, api.sent = result_queue.get(timeout=30)
        child.join(30)


def base_url_of(api: FakeTelegramAPI) -> str:
    return str(api.__dict__.get("_remote_base_url") or api.base_url)


# --------------------------------------------------------------------------- 1. fan-out


@dataclass
class Arrivals:
    """What the fake server saw, summed up."""

    messages: int
    rate: float
    window: int
    violations: int

    @classmethod
    def of(cls, api: FakeTelegramAPI) -> Arrivals:
        calls = [c for c in api.calls_of("sendMessage") if c.status == 200]
        span = calls[-1].at - calls[0].at if len(calls) > 1 else 0.0
        return cls(
            messages=len(calls),
            rate=(len(calls) - 1) / span if span else 0.0,
            window=api.max_per_window(1.0),
            violations=len(api.per_chat_violations(1.0)),
        )


async def fan_out(recipients: int, rate: float, concurrency: int) -> bool:
    rng = random.Random(20261203)
    digests = [make_digest(i, rng) for i in range(recipients)]
    expected = {str(FIRST_CHAT + i): len(render_telegram(d)) for i, d in enumerate(digests)}
    say(
        f"1. fan-out: {recipients:,} digests = {sum(expected.values()):,} messages, limiter {rate:g}/s"
    )
    failures: list[str] = []
    with api_in_process() as api:
        channel = TelegramChannel(
            make_bot(api.token, base_url=base_url_of(api), pool_size=concurrency),
            limiter=RateLimiter(rate),
            max_wait=None,
        )
        gate = asyncio.Semaphore(concurrency)

        async def send(index: int, message: Message) -> None:
            async with gate:
                try:
                    await channel.send(str(FIRST_CHAT + index), message)
                except Exception as exc:
                    failures.append(f"{index}: {exc}")

        started = time.perf_counter()
        await asyncio.gather(*(send(i, d) for i, d in enumerate(digests)))
        wall = time.perf_counter() - started
        await channel.aclose()
    # The server's records arrive when it stops.
    seen = Arrivals.of(api)
    received = Counter(m.chat_id for m in api.sent)
    repeated = sum(n - 1 for n in Counter((m.chat_id, m.text) for m in api.sent).values())
    extra = sum(max(received[chat] - parts, 0) for chat, parts in expected.items())
    missing = sum(max(parts - received[chat], 0) for chat, parts in expected.items())
    duplicates = repeated + extra
    split = sum(1 for parts in expected.values() if parts > 1)
    ok_rate = seen.rate >= RATE_TARGET * rate
    ok_window = seen.window <= rate
    say(f"   sent {seen.messages:,} messages in {wall:.1f} s wall ({split} digests in 2+ parts)")
    say(
        f"   achieved rate: {seen.rate:.2f} msg/s = {seen.rate / rate:.1%} of {rate:g} "
        f"(target >= {RATE_TARGET:.0%}: {verdict(ok_rate)})"
    )
    say(f"   busiest 1-s window: {seen.window} messages (target <= {rate:g}: {verdict(ok_window)})")
    say(
        f"   duplicates: {duplicates} ({verdict(duplicates == 0)}), missing: {missing}, "
        f"errors: {len(failures)}"
    )
    say(f"   per-chat violations (< 1 s apart): {seen.violations} ({verdict(not seen.violations)})")
    for line in failures[:5]:
        say(f"     error {line}")
    return (
        ok_rate
        and ok_window
        and duplicates == 0
        and not seen.violations
        and not missing
        and not failures
    )


# --------------------------------------------------------------------------- 2. deliver


async def through_deliver(recipients: int, rate: float, latency: float) -> None:
    from sqlmodel import Session, select

    from db.context import Domain
    from db.engine import make_engine, session_scope
    from db.migrate import upgrade
    from db.models import Agency, ChatAddress, OutboxMessage, Person, Section
    from db.sweep import insert_outbox, window_key
    from notifier.deliver import deliver
    from obligations.catalog import load_catalog
    from obligations.workdays import default_calendar

    say(
        f"2. deliver: {recipients:,} people, one pass of notifier.deliver.deliver on SQLite, "
        f"Bot API answering in {latency * 1000:.0f} ms"
    )
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
        rng = random.Random(7)
        window = window_key(AT.astimezone(dt.UTC))
        with session_scope(engine) as session:
            agency = Agency(code="bench", name="基准局", created_at=AT)
            session.add(agency)
            session.flush()
            section = Section(agency_id=agency.id or 0, code="s", name="外贸科")
            session.add(section)
            session.flush()
            people = [
                Person(
                    agency_id=agency.id or 0, section_id=section.id, name=f"科长{i}", role="chief"
                )
                for i in range(recipients)
            ]
            session.add_all(people)
            session.flush()
            session.add_all(
                ChatAddress(person_id=p.id or 0, channel="telegram", address=str(FIRST_CHAT + i))
                for i, p in enumerate(people)
            )
            rows = []
            for i, person in enumerate(people):
                for n in range(rng.randint(1, 6)):
                    due = AT.date() + dt.timedelta(days=rng.randint(1, 10))
                    rows.append(
                        {
                            "agency_id": agency.id,
                            "dedupe_key": f"bench|{i}|{n}",
                            "task_id": None,
                            "person_id": person.id,
                            "stage": "reminder-2",
                            "window": window,
                            "immediate": False,
                            "payload": {
                                "task_id": i * 100 + n,
                                "title": rng.choice(TITLES).format(n=n),
                                "section": "外贸科",
                                "obligation": "bench",
                                "due_at": dt.datetime.combine(
                                    due, dt.time(23, 59, 59), TZ
                                ).isoformat(),
                                "due_date": due.isoformat(),
                                "hourly": False,
                            },
                            "status": "pending",
                            "attempts": 0,
                            "next_attempt_at": AT,
                            "created_at": AT,
                        }
                    )
            insert_outbox(session, rows)
        with api_in_process(latency) as api:
            from notifier.registry import build_channels

            channels = build_channels(
                telegram_token=api.token,
                telegram_base_url=base_url_of(api),
                telegram_limiter=RateLimiter(rate),
            )
            started = time.perf_counter()
            report = await deliver(
                engine, domain, channels, at=AT, worker="bench", limit=len(rows) + 10
            )
            wall = time.perf_counter() - started
            await channels.aclose()
        with Session(engine) as session:
            sent = len(
                session.exec(select(OutboxMessage.id).where(OutboxMessage.status == "sent")).all()
            )
        engine.dispose()
    seen = Arrivals.of(api)
    say(
        f"   {report.messages:,} messages for {report.sent_rows:,} outbox rows "
        f"({sent:,} marked sent) in {wall:.1f} s"
    )
    say(
        f"   achieved rate: {seen.rate:.2f} msg/s = {seen.rate / rate:.1%} of {rate:g}; "
        f"per-chat violations: {seen.violations}; busiest 1-s window: {seen.window}"
    )


# --------------------------------------------------------------------------- 3. render


def render(count: int) -> bool:
    rng = random.Random(42)
    digests = [make_digest(i, rng, lang="zh" if i % 10 else "en") for i in range(count)]
    items = sum(len(d.items) for d in digests)
    say(f"3. render: {count:,} digests ({items:,} tasks, every 10th in English)")
    timings = {}
    for name, function in (
        ("telegram HTML", render_telegram),
        ("robot markdown", render_markdown),
        ("e-mail text+HTML", render_email),
    ):
        started = time.perf_counter()
        for digest in digests:
            function(digest)
        timings[name] = time.perf_counter() - started
    for name, seconds in timings.items():
        say(f"   {name:17s} {seconds:6.2f} s total, {seconds / count * 1e3:6.3f} ms per digest")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=30.0, help="limiter, messages/s")
    parser.add_argument("--concurrency", type=int, default=64, help="sends in flight")
    parser.add_argument("--render", type=int, default=10_000, help="digests to render")
    parser.add_argument("--skip-deliver", action="store_true", help="skip part 2")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="part 2: seconds the fake API takes to answer"
    )
    args = parser.parse_args(argv)
    # PTB 22 warns on every RetryAfter unless opted in to its timedelta durations.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    ok = asyncio.run(fan_out(args.recipients, args.rate, args.concurrency))
    if not args.skip_deliver:
        asyncio.run(through_deliver(args.recipients, args.rate, args.latency))
    render(args.render)
    say("fan-out targets: " + verdict(ok))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
