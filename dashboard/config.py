"""The dashboard's configuration, filled by ``gongkai serve`` from Settings (or by tests)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from db.context import Domain


def utc_now() -> dt.datetime:
    """The wall clock, read once per request by the handlers (aware, UTC)."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class DashboardConfig:
    #: Public address of the dashboard, for links in feeds and the API's answers; an https
    #: address also marks the session cookie Secure.
    base_url: str = "http://127.0.0.1:8000"
    #: Signs the session cookies. None: a random key per process (logins end on restart).
    secret_key: str | None = None
    #: Default interface language (zh or en); a user switches with the 中文/English link.
    language: str = "zh"
    #: Read once per request; tests pass a fixed instant.
    clock: Callable[[], dt.datetime] = utc_now
    #: How long the on-time rates and the trend of the overview are reused (seconds).
    stats_cache_seconds: float = 60.0
    #: Longest the live counts (overdue, due this week, the board's total) are reused while
    #: the ledger and the clock say they are still exact (:mod:`dashboard.live`); 0: never.
    live_cache_seconds: float = 60.0
    #: Largest calendar notice accepted by the upload form.
    max_upload_bytes: int = 256 * 1024
    #: Rows per page of the overdue board.
    page_size: int = 50
    #: Worker threads that render the read-only pages (board, overview, section, task,
    #: calendar …); exports, uploads and the API keep anyio's default pool, so a long export
    #: never holds up the board. None: 1 on SQLite, 4 on PostgreSQL. On SQLite a page is
    #: pure CPU inside one interpreter, and a second thread only makes two pages take turns
    #: at the GIL (the board served 30 % fewer pages a second with two threads than with
    #: one); on PostgreSQL a page mostly waits for the server, and threads overlap the waits.
    page_threads: int | None = None
    #: Rows an export (CSV, xlsx) may hold at most.
    max_export_rows: int = 50_000
    #: Called with the new domain after a notice was loaded from the dashboard, so the
    #: rest of the process (sweep, bot) uses the new calendar too.
    on_domain_change: Callable[[Domain], None] | None = None
