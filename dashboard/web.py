"""What every page handler shares: the app's services, the viewer, and rendering.

Handlers are plain functions that take the request and a :class:`Viewer` (the logged-in
user as a ledger actor) and return :func:`render`'s response. Templates get the language,
``tr(zh, en)``, the CSRF token and the flash messages from here, so no template reads the
session or the settings itself.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
import threading
from collections.abc import Callable, Coroutine, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from dashboard import i18n
from dashboard.config import DashboardConfig
from dashboard.database import Database
from dashboard.live import LiveCache
from dashboard.security import (
    CSRF_FIELD,
    LoginLimiter,
    LoginRequired,
    Viewer,
    csrf_token,
    stamp_of,
    viewer_for,
)
from dashboard.stats import StatsCache
from db.context import Domain
from db.engine import is_sqlite
from db.models import User
from obligations.catalog import EventType
from obligations.timeliness import Timeliness
from obligations.workdays import DayKind

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"


@dataclass
class Services:
    """Everything a handler needs besides the request; one per app."""

    db: Database
    domain_source: Callable[[], Domain]
    config: DashboardConfig
    secret_key: str
    templates: Jinja2Templates
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    #: Admits ``page_threads(config, engine)`` page renderings at a time (see :func:`page_view`).
    page_limiter: anyio.CapacityLimiter = field(default_factory=lambda: anyio.CapacityLimiter(1))
    stats: StatsCache = field(default_factory=StatsCache)
    live: LiveCache = field(default_factory=LiveCache)
    _override: Domain | None = None
    _override_base: Domain | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def domain(self) -> Domain:
        """The current domain; after a notice upload, its new calendar until the source
        itself hands out a new domain."""
        base = self.domain_source()
        with self._lock:
            if self._override is not None and self._override_base is base:
                return self._override
            self._override = None
            return base

    def domain_changed(self, new: Domain) -> None:
        with self._lock:
            self._override_base = self.domain_source()
            self._override = new
        self.stats.clear()
        if self.config.on_domain_change is not None:
            self.config.on_domain_change(new)

    def cached(self, key: Hashable, compute: Callable[[Session], T]) -> T:
        """``compute(session)`` through the stats cache, on a session of its own."""

        def run() -> T:
            with self.db.read() as session:
                return compute(session)

        return self.stats.get(key, run)

    def now(self) -> dt.datetime:
        at = self.config.clock()
        if at.tzinfo is None:
            raise ValueError("the dashboard clock must return an aware datetime")
        return at


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


async def _services_dependency(request: Request) -> Services:
    # async: resolved on the event loop, not with a thread hop of its own per request
    return services(request)


def page_threads(config: DashboardConfig, engine: Any) -> int:
    """The page pool's size: the configured one, else 1 on SQLite and 4 on PostgreSQL."""
    if config.page_threads is not None:
        return max(1, config.page_threads)
    return 1 if is_sqlite(engine) else 4


def make_services(
    *, engine: Any, domain: Callable[[], Domain], config: DashboardConfig
) -> Services:
    templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
    env = templates.env
    env.auto_reload = False  # package files: no stat() of every template on every page
    env.globals.update(
        role_label=lambda lang, key: i18n.label(i18n.ROLE_LABELS, lang, key),
        status_label=lambda lang, key: i18n.label(i18n.STATUS_LABELS, lang, key),
        clock_label=lambda lang, key: i18n.label(i18n.CLOCK_LABELS, lang, key),
        action_label=lambda lang, key: i18n.label(i18n.ACTION_LABELS, lang, key),
        extension_label=lambda lang, key: i18n.label(i18n.EXTENSION_LABELS, lang, key),
        event_label=_event_label,
        timeliness_label=_timeliness_label,
        day_kind_label=lambda lang, kind: DayKind(kind).label(lang),
        percent=_percent,
        qs=_query,
    )
    env.filters["local"] = _local_filter
    return Services(
        db=Database(engine),
        domain_source=domain,
        config=config,
        secret_key=config.secret_key or secrets.token_urlsafe(32),
        templates=templates,
        stats=StatsCache(ttl_seconds=config.stats_cache_seconds),
        live=LiveCache(max_age=config.live_cache_seconds),
        page_limiter=anyio.CapacityLimiter(page_threads(config, engine)),
    )


def _event_label(lang: str, value: str) -> str:
    try:
        return EventType(value).label(lang)
    except ValueError:
        return value


def _timeliness_label(lang: str, value: str | None) -> str:
    if not value:
        return ""
    try:
        return Timeliness(value).label(lang)
    except ValueError:
        return value


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _query(params: Mapping[str, Any], **changes: Any) -> str:
    """A query string from ``params`` with ``changes`` applied (None removes a key)."""
    merged = {key: value for key, value in params.items() if value not in (None, "")}
    for key, value in changes.items():
        if value in (None, ""):
            merged.pop(key, None)
        else:
            merged[key] = value
    return urlencode(merged)


def _local_filter(value: dt.datetime | None, tz: dt.tzinfo, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(tz).strftime(fmt)


def language(request: Request) -> str:
    default = services(request).config.language
    return i18n.normalise(request.cookies.get(i18n.LANG_COOKIE), i18n.normalise(default))


#: The columns of the logged-in user a page view needs, by primary key (Core, no ORM entity).
_VIEWER_ROW = sa_select(
    col(User.id),
    col(User.username),
    col(User.password_hash),
    col(User.role),
    col(User.agency_id),
    col(User.section_id),
    col(User.person_id),
    col(User.active),
).where(col(User.id) == bindparam("uid"))


async def current_viewer(request: Request) -> Viewer:
    """The logged-in user; :class:`LoginRequired` (a redirect to /login) otherwise.

    Resolved on the event loop rather than in a worker thread: it is one primary-key read
    of a few columns, cheaper than the thread hop a sync dependency costs on every page.
    """
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        raise LoginRequired()
    svc = services(request)
    with svc.db.reader.connect() as connection:
        row = connection.execute(_VIEWER_ROW, {"uid": uid}).first()
    if row is None or not row.active:
        request.session.clear()
        raise LoginRequired()
    stamp = request.session.get("stamp")
    if not isinstance(stamp, str) or not secrets.compare_digest(
        stamp, stamp_of(svc.secret_key, row.id, row.password_hash, row.active)
    ):
        request.session.clear()
        raise LoginRequired()
    viewer = viewer_for(row)
    request.state.viewer = viewer
    return viewer


WebViewer = Annotated[Viewer, Depends(current_viewer)]
Svc = Annotated[Services, Depends(_services_dependency)]


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page (after a redirect)."""
    messages = list(request.session.get("flash", []))
    messages.append([kind, message])
    request.session["flash"] = messages[-5:]


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    viewer: Viewer | None = None,
) -> HTMLResponse:
    svc = services(request)
    lang = language(request)
    domain = svc.domain()
    messages = request.session.pop("flash", []) if "flash" in request.session else []

    def tr(zh: str, en: str) -> str:
        return en if lang == "en" else zh

    full: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "tr": tr,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "viewer": viewer or getattr(request.state, "viewer", None),
        "flashes": messages,
        "tz": domain.tz,
        "path": request.url.path,
        "errors": {},
        "form": {},
    }
    full.update(context or {})
    return svc.templates.TemplateResponse(request, template, full, status_code=status_code)


def page_view(handler: Callable[P, R]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Run a sync, read-only page handler in the pages' own small thread pool.

    FastAPI runs a sync handler in anyio's default pool (40 threads). Sixteen page views at
    once then make sixteen threads take turns at one GIL: each switch costs, a thread back
    from SQLite waits for the interpreter, and the slowest page sets everyone's latency.
    Pages wrapped here queue for ``config.page_threads`` threads instead and run nearly
    uninterrupted, first come first served (with 16 concurrent clients on SQLite, two threads
    instead of forty served the board 17–33 % and the overview 36–48 % more pages a second,
    and cut their p95 by a quarter to a third; one thread did better still for the board).
    The handler must take the request as its ``request`` argument.
    """

    @functools.wraps(handler)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        request = kwargs.get("request")
        if not isinstance(request, Request):
            raise TypeError(f"{handler.__qualname__}: page_view needs the request argument")
        limiter = services(request).page_limiter
        return await anyio.to_thread.run_sync(
            functools.partial(handler, *args, **kwargs), limiter=limiter
        )

    return run


def redirect(url: str, status_code: int = 303) -> RedirectResponse:
    return RedirectResponse(url, status_code=status_code)


def safe_next(value: str | None, default: str = "/") -> str:
    """A local path to go back to; anything else (another host, a scheme) becomes ``default``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value
