"""dashboard.live.LiveCache: a count is reused only while the ledger version, the moment
range and the age say it is still exact."""

from __future__ import annotations

import datetime as dt

from dashboard.live import LiveCache

T0 = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.UTC)
NEXT_DUE = T0 + dt.timedelta(hours=3)


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        return self.calls


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def ask(cache: LiveCache, compute: Counter, *, version: int = 7, moment: dt.datetime = T0) -> int:
    return cache.get("k", version=version, moment=moment, compute=compute, until=lambda: NEXT_DUE)


def test_reused_within_the_moment_range_of_one_version() -> None:
    cache, compute = LiveCache(max_age=60, clock=Clock()), Counter()
    assert ask(cache, compute) == 1
    assert ask(cache, compute, moment=T0 + dt.timedelta(hours=2, minutes=59)) == 1
    assert compute.calls == 1


def test_recounted_when_the_ledger_changed() -> None:
    cache, compute = LiveCache(max_age=60, clock=Clock()), Counter()
    ask(cache, compute)
    assert ask(cache, compute, version=8) == 2


def test_recounted_once_the_clock_reaches_the_next_due_moment_or_goes_back() -> None:
    cache, compute = LiveCache(max_age=60, clock=Clock()), Counter()
    ask(cache, compute)
    assert ask(cache, compute, moment=NEXT_DUE) == 2  # a task falls due at exactly this moment
    assert ask(cache, compute, moment=T0) == 3  # before the range the stored count was made for


def test_recounted_after_max_age_and_never_kept_when_disabled() -> None:
    clock = Clock()
    cache, compute = LiveCache(max_age=60, clock=clock), Counter()
    ask(cache, compute)
    clock.now += 59.9
    assert ask(cache, compute) == 1
    clock.now += 0.2
    assert ask(cache, compute) == 2
    off, counted = LiveCache(max_age=0), Counter()
    assert [ask(off, counted), ask(off, counted)] == [1, 2]


def test_time_independent_values_and_no_later_due_moment() -> None:
    cache, compute = LiveCache(max_age=60, clock=Clock()), Counter()
    later = T0 + dt.timedelta(days=400)
    assert cache.get("ledger-only", version=1, moment=T0, compute=compute, until=None) == 1
    assert cache.get("ledger-only", version=1, moment=later, compute=compute, until=None) == 1
    assert cache.get("no-due", version=1, moment=T0, compute=compute, until=lambda: None) == 2
    assert cache.get("no-due", version=1, moment=later, compute=compute, until=lambda: None) == 2


def test_bounded_size() -> None:
    cache, compute = LiveCache(max_age=60, clock=Clock(), size=3), Counter()
    for key in range(5):
        cache.get(key, version=1, moment=T0, compute=compute, until=None)
    assert len(cache._entries) <= 3
