"""Benchmark: adding working days with gongkai's calendar vs chinesecalendar, and full deadlines.

    .venv/bin/python benchmarks/bench_calendar.py            # N = 100 000, F = 1 000 000
    .venv/bin/python benchmarks/bench_calendar.py --n 10000 --full 100000

1. On the same N random start dates (seeded), time ``default_calendar().add_workdays(d, 20)``
   against ``chinese_calendar.find_workday(20, d)`` and compare the answers. The two differ
   in meaning on rest days: find_workday first moves a rest-day start to the next working
   day and counts from there ("0 means next workday, includes today"), so on a rest day
   ``find_workday(n, d) == add_workdays(d, n + 1)``; on a working day they agree. Both the
   raw and the semantics-adjusted disagreement counts are printed.
2. Time F full deadline computations ``compute_due(rule, [ClockEvent(START, at)], ...)`` for
   a 20-working-day rule over random aware start instants built before timing.

Start dates are drawn from 2005-01-01..2026-11-30 so that 20 working days later is still
inside chinesecalendar's range (it raises for 2027).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time
from zoneinfo import ZoneInfo

import chinese_calendar

from obligations.clocks import ClockEvent, ClockEventKind, compute_due
from obligations.rules import DeadlineRule, Unit
from obligations.workdays import default_calendar

TZ = ZoneInfo("Asia/Shanghai")
FIRST = dt.date(2005, 1, 1)
LAST = dt.date(2026, 11, 30)
AMOUNT = 20


def random_dates(rng: random.Random, n: int) -> list[dt.date]:
    low, high = FIRST.toordinal(), LAST.toordinal()
    return [dt.date.fromordinal(rng.randint(low, high)) for _ in range(n)]


def random_instants(rng: random.Random, n: int) -> list[dt.datetime]:
    low, high = FIRST.toordinal(), LAST.toordinal()
    instants = []
    for _ in range(n):
        day = dt.date.fromordinal(rng.randint(low, high))
        seconds = rng.randrange(86_400)
        clock = dt.time(seconds // 3600, seconds // 60 % 60, seconds % 60)
        instants.append(dt.datetime.combine(day, clock, TZ))
    return instants


def say(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="start dates for part 1")
    parser.add_argument("--full", type=int, default=1_000_000, help="compute_due calls in part 2")
    parser.add_argument("--seed", type=int, default=20241008)
    args = parser.parse_args(argv)
    n, full = args.n, args.full
    rng = random.Random(args.seed)

    say(f"bench_calendar: N={n:,} start dates, F={full:,} deadlines, seed={args.seed}")
    say(f"start dates {FIRST}..{LAST}; +{AMOUNT} working days")

    began = time.perf_counter()
    default_calendar.cache_clear()
    cal = default_calendar()
    build_seconds = time.perf_counter() - began
    say(f"calendar build (package + shipped notices, 2004..2040): {build_seconds * 1000:.0f} ms")

    dates = random_dates(rng, n)

    # --- part 1a: ours ---------------------------------------------------------------
    add = cal.add_workdays
    began = time.perf_counter()
    ours = [add(day, AMOUNT) for day in dates]
    ours_seconds = time.perf_counter() - began
    ours_us = ours_seconds / n * 1e6
    say(f"gongkai add_workdays(d, {AMOUNT}):       {ours_seconds:8.3f} s  {ours_us:8.2f} µs/call")

    # --- part 1b: chinesecalendar, with progress ------------------------------------
    find = chinese_calendar.find_workday
    theirs: list[dt.date] = []
    step = max(1, n // 10)
    began = time.perf_counter()
    for index in range(0, n, step):
        theirs.extend(find(AMOUNT, day) for day in dates[index : index + step])
        elapsed = time.perf_counter() - began
        say(f"  chinese_calendar: {len(theirs):>9,}/{n:,} dates, {elapsed:6.1f} s")
    theirs_seconds = time.perf_counter() - began
    theirs_us = theirs_seconds / n * 1e6
    say(
        f"chinese_calendar.find_workday({AMOUNT}, d): {theirs_seconds:8.3f} s  {theirs_us:8.2f} µs/call"
    )

    # --- part 1c: agreement ----------------------------------------------------------
    raw = sum(1 for a, b in zip(ours, theirs, strict=True) if a != b)
    rest_starts = sum(1 for day in dates if not cal.is_workday(day))
    equivalent = [
        answer if cal.is_workday(day) else add(day, AMOUNT + 1)
        for day, answer in zip(dates, ours, strict=True)
    ]
    adjusted = sum(1 for a, b in zip(equivalent, theirs, strict=True) if a != b)
    say(
        f"raw disagreements: {raw:,} of {n:,} (starts on a rest day: {rest_starts:,}); "
        f"find_workday({AMOUNT}, d) vs add_workdays(d, {AMOUNT} + [d is a rest day]): "
        f"{adjusted:,} disagreements"
    )

    # --- part 2: full deadlines ------------------------------------------------------
    rule = DeadlineRule(unit=Unit.WORKING_DAY, amount=AMOUNT)
    instants = random_instants(rng, full)
    start_kind = ClockEventKind.START
    say(f"compute_due x {full:,} (explain off) ...")
    began = time.perf_counter()
    for at in instants:
        compute_due(rule, [ClockEvent(start_kind, at)], calendar=cal, tz=TZ)
    full_seconds = time.perf_counter() - began
    full_us = full_seconds / full * 1e6 if full else 0.0

    ratio = theirs_us / ours_us if ours_us else float("inf")
    say("")
    say("=" * 72)
    say("summary")
    say(f"  python {sys.version.split()[0]}, chinesecalendar {chinese_calendar.__version__}")
    say(f"  calendar build                         {build_seconds * 1000:10.0f} ms")
    say(f"  add_workdays(d, {AMOUNT})  (gongkai)          {ours_us:10.2f} µs/call  (N={n:,})")
    say(f"  find_workday({AMOUNT}, d)  (chinese_calendar) {theirs_us:10.2f} µs/call  (N={n:,})")
    say(f"  ours faster by                         {ratio:10.0f} x")
    say(
        f"  raw disagreements                      {raw:10,}  (starts on a rest day: {rest_starts:,})"
    )
    say(f"  disagreements after the +1 adjustment  {adjusted:10,}")
    say(
        f"  compute_due, 20 working days           {full_seconds:10.2f} s total, {full_us:.2f} µs/call  (F={full:,})"
    )
    say("=" * 72)
    return 0 if adjusted == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
