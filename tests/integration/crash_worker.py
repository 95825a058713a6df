"""The process test_crash_safety.py kills: sweep + deliver on a simulated clock.

    python tests/integration/crash_worker.py --db ledger.db --receiver http://127.0.0.1:PORT \
        --incarnation 7 --start 2026-11-02T00:07+08:00 --end 2026-12-14T00:00+08:00 \
        --step-minutes 79 [--resume-at ISO] [--drain-at ISO --drain-days 14]

It runs the real ``db.sweep.sweep`` and ``notifier.deliver.deliver`` against the SQLite file,
step by step over the simulated period. Before each step it tells the receiver which
simulated instant it is about to use (``/tick``), so the killing parent knows where to resume,
and after a sweep that claimed tasks committed, it says so (``/swept``).
``--resume-at`` runs one step at that instant first (the parent passes the last instant a
killed incarnation used plus more than the lease, so its claims have run out), then the
regular steps after it. ``--drain-at`` is the final clean run: one sweep at that instant,
then delivery passes every morning for ``--drain-days`` days, until nothing is pending.

The channels (telegram, email and the console fallback) are one recording channel: each send
is an HTTP POST to the receiver in the parent process (announced by a ``/sending`` POST just
before, so the parent can also kill it before a message was accepted), and ``send`` returns
only after the receiver answered, so what reached "the chat" is logged outside the process that gets
killed. The message id is built from the outbox row ids of the digest; to know them, the
worker wraps ``notifier.deliver._send_one`` (which receives the rows) and hands the ids to
the channel through a context variable. Nothing else of deliver is changed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import datetime as dt
import json
import sys
import urllib.request
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from db.context import Domain
from db.engine import make_engine, session_scope
from db.sweep import sweep
from notifier import deliver as deliver_module
from notifier.base import Delivery, Message
from obligations.catalog import load_catalog
from obligations.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")
SWEEP_LIMIT = 1_000
MAX_PASSES = 50

#: The outbox row ids of the digest being sent (set by the wrapper below).
_ROWS: contextvars.ContextVar[tuple[int, ...]] = contextvars.ContextVar("rows", default=())
_original_send_one = deliver_module._send_one


async def _send_one_with_rows(
    engine: Any, person: Any, rows: list[Any], *args: Any, **kwargs: Any
) -> None:
    token = _ROWS.set(tuple(sorted(int(row.id) for row in rows)))
    try:
        await _original_send_one(engine, person, rows, *args, **kwargs)
    finally:
        _ROWS.reset(token)


deliver_module._send_one = _send_one_with_rows


class Receiver:
    """Posts JSON to the parent's receiver; returns only once it answered."""

    def __init__(self, url: str, incarnation: int) -> None:
        self.url = url.rstrip("/")
        self.incarnation = incarnation

    def post(self, path: str, body: dict[str, Any]) -> None:
        data = json.dumps({"incarnation": self.incarnation, **body}).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
            if response.status != 200:
                raise RuntimeError(f"receiver answered {response.status}")


class RecordingChannel:
    """A channel whose 'chat' is the receiver; the message id names the outbox rows."""

    def __init__(self, kind: str, receiver: Receiver) -> None:
        self.kind = kind
        self.receiver = receiver

    async def send(self, address: str, message: Message) -> Delivery:
        rows = _ROWS.get()
        if not rows:
            raise RuntimeError("send outside deliver._send_one: no outbox rows known")
        message_id = "m" + "-".join(str(row) for row in rows)
        # "About to send": lets the parent kill the process before the chat accepted anything.
        self.receiver.post("/sending", {"message_id": message_id, "rows": list(rows)})
        self.receiver.post(
            "/send",
            {
                "message_id": message_id,
                "rows": list(rows),
                "channel": self.kind,
                "address": address,
                "recipient": message.recipient,
                "tasks": sorted(item.task_id for item in message.items),
                "urgent": message.urgent,
                "notice": message.notice,
            },
        )
        return Delivery(channel=self.kind, address=address, external_id=message_id)


def schedule(start: dt.datetime, end: dt.datetime, step: dt.timedelta) -> list[dt.datetime]:
    moments = []
    moment = start
    while moment <= end:
        moments.append(moment)
        moment += step
    return moments


async def run_step(
    engine: Any,
    domain: Domain,
    channels: dict[str, Any],
    at: dt.datetime,
    worker: str,
    receiver: Receiver,
) -> None:
    claimed = 0
    for _ in range(MAX_PASSES):
        with session_scope(engine) as session:
            report = sweep(session, domain, at=at, worker=worker, limit=SWEEP_LIMIT)
        claimed += report.claimed
        if report.claimed < SWEEP_LIMIT:
            break
    if claimed:
        receiver.post("/swept", {"claimed": claimed})  # the sweep committed
    await deliver_all(engine, domain, channels, at, worker)


async def deliver_all(
    engine: Any, domain: Domain, channels: dict[str, Any], at: dt.datetime, worker: str
) -> None:
    for _ in range(MAX_PASSES):
        report = await deliver_module.deliver(engine, domain, channels, at=at, worker=worker)
        if report.claimed == 0:
            return


async def main_async(args: argparse.Namespace) -> None:
    receiver = Receiver(args.receiver, args.incarnation)
    engine = make_engine(f"sqlite:///{args.db}")
    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    channels = {kind: RecordingChannel(kind, receiver) for kind in ("telegram", "email", "console")}
    worker = f"crash-{args.incarnation}"
    try:
        if args.drain_at is not None:
            at = dt.datetime.fromisoformat(args.drain_at)
            receiver.post("/tick", {"at": at.isoformat()})
            await run_step(engine, domain, channels, at, worker, receiver)
            first = at.astimezone(TZ).date()
            for offset in range(1, args.drain_days + 1):
                morning = dt.datetime.combine(first + dt.timedelta(days=offset), dt.time(9, 30), TZ)
                receiver.post("/tick", {"at": morning.isoformat()})
                await deliver_all(engine, domain, channels, morning, worker)
        else:
            start = dt.datetime.fromisoformat(args.start)
            end = dt.datetime.fromisoformat(args.end)
            moments = schedule(start, end, dt.timedelta(minutes=args.step_minutes))
            if args.resume_at is not None:
                resume = dt.datetime.fromisoformat(args.resume_at)
                moments = [resume, *(moment for moment in moments if moment > resume)]
            for at in moments:
                receiver.post("/tick", {"at": at.isoformat()})
                await run_step(engine, domain, channels, at, worker, receiver)
        receiver.post("/done", {})
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--receiver", required=True)
    parser.add_argument("--incarnation", type=int, required=True)
    parser.add_argument("--start")
    parser.add_argument("--end")
    parser.add_argument("--step-minutes", type=int, default=79)
    parser.add_argument("--resume-at")
    parser.add_argument("--drain-at")
    parser.add_argument("--drain-days", type=int, default=14)
    args = parser.parse_args(argv)
    if args.drain_at is None and (args.start is None or args.end is None):
        parser.error("give --start and --end, or --drain-at")
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
