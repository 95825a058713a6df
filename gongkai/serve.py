"""``gongkai serve``: the dashboard, the scheduler and the Telegram bot in one process.

One asyncio loop runs uvicorn (``uvicorn.Server`` on a ``Config``, not ``uvicorn.run``),
the APScheduler runner of :mod:`flows.embedded` (skipped when Prefect owns the schedules)
and the bot when a token is configured. SIGINT (Ctrl-C) and SIGTERM are handled here, not by
uvicorn: the scheduler stops taking jobs and lets a running one finish, the bot stops, the
web server drains, and the process exits 0. A second signal during shutdown forces the web
server to close its connections at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import uvicorn
from sqlalchemy import Engine

from dashboard.app import create_app
from dashboard.config import DashboardConfig
from db.context import Actor, Domain
from flows.embedded import EmbeddedRunner, Jobs
from gongkai.runtime import domain_for, engine_for, now
from gongkai.settings import Settings
from notifier.base import Channel
from notifier.channels.console import ConsoleChannel

if TYPE_CHECKING:
    from notifier.ratelimit import RateLimiter

log = logging.getLogger("gongkai.serve")

#: How long the start waits for the web server to listen before giving up.
START_TIMEOUT_SECONDS = 30.0


def freeze_startup_heap() -> None:
    """Move everything built at start (catalog, calendar tables, app, mappers) out of the
    garbage collector's reach.

    Those objects live as long as the process, yet every full collection walked them all
    again: under load on the dashboard that showed as pauses of tens of milliseconds in the
    slowest page views. ``gc.freeze`` leaves them out of later collections (they are never
    freed, which they would not be anyway).
    """
    gc.collect()
    gc.freeze()


class ServeError(Exception):
    """The service could not start."""


class Bot(Protocol):
    """What serve needs of the interactive Telegram bot (``notifier.bot.TelegramBot``)."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: :func:`run` handles the signals for every part.

    uvicorn's handler would re-raise the signal after its shutdown (a KeyboardInterrupt
    traceback and a non-zero exit for Ctrl-C) and would not stop the scheduler or the bot.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class DomainSource:
    """The current :class:`Domain`; the dashboard replaces it after loading a notice.

    The scheduler's jobs call it once per run; parts that hold a Domain (the bot) are
    told through ``on_replace``.
    """

    def __init__(self, domain: Domain) -> None:
        self._domain = domain
        self.on_replace: list[Callable[[Domain], None]] = []

    def __call__(self) -> Domain:
        return self._domain

    def replace(self, domain: Domain) -> None:
        self._domain = domain
        for listener in self.on_replace:
            listener(domain)
        log.info("calendar updated: the scheduler and the bot use the new notice")


@dataclass
class Service:
    """The parts of one serve process, built by :func:`build_service`."""

    settings: Settings
    engine: Engine
    domain: DomainSource
    server: _Server
    channels: Mapping[str, Channel]
    runner: EmbeddedRunner | None = None
    bot: Bot | None = None
    clock: Callable[[], dt.datetime] = now
    notes: list[str] = field(default_factory=list)


def build_service(
    settings: Settings,
    *,
    console_only: bool = False,
    clock: Callable[[], dt.datetime] = now,
) -> Service:
    """Migrate the database and assemble the web app, the scheduler and the bot.

    ``console_only`` keeps every message on the console channel (the demo organisation's
    chat addresses are made up and must not be tried).
    """
    engine = engine_for(settings)  # upgrades the schema on start
    domain = DomainSource(domain_for(settings, engine))
    app = create_app(
        engine=engine,
        domain=domain,
        config=DashboardConfig(
            base_url=settings.base_url,
            secret_key=settings.secret_key,
            language=settings.language,
            clock=clock,
            on_domain_change=domain.replace,
        ),
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our logging setup (gongkai.cli.serve_cmd) formats uvicorn's lines
        lifespan="on",
        server_header=False,
    )
    limiter: RateLimiter | None = None
    channels: Mapping[str, Channel] = {"console": ConsoleChannel()}
    if not console_only:
        # Imported here: the chat channels (python-telegram-bot) are not needed by the demo.
        from notifier.ratelimit import RateLimiter

        limiter = RateLimiter(settings.telegram_rate_per_second)
        channels = _channels(settings, limiter)
    service = Service(
        settings=settings,
        engine=engine,
        domain=domain,
        server=_Server(config),
        channels=channels,
        clock=clock,
    )
    if settings.orchestrator == "embedded":
        jobs = Jobs(
            engine=engine,
            domain=domain,
            channels=channels,
            worker=f"serve:{socket.gethostname()[:60]}:{os.getpid()}",
            dashboard_url=settings.base_url,
            lang=settings.language,
            actor=Actor.system("scheduler"),
        )
        service.runner = EmbeddedRunner(
            jobs, clock=clock, tz=settings.tz, sweep_every_seconds=settings.sweep_every_seconds
        )
    else:
        service.notes.append("scheduler off: Prefect owns the schedules (orchestrator=prefect)")
    service.bot = _telegram_bot(
        settings, engine, domain, clock=clock, limiter=limiter, notes=service.notes
    )
    return service


def _channels(settings: Settings, limiter: RateLimiter) -> Mapping[str, Channel]:
    """Every configured channel; the result owns HTTP clients that ``_shutdown`` closes."""
    from notifier.registry import build_channels

    return build_channels(
        telegram_token=settings.telegram_token,
        telegram_base_url=settings.telegram_base_url,
        telegram_limiter=limiter,
        wecom_base_url=settings.wecom_base_url,
        dingtalk_base_url=settings.dingtalk_base_url,
        feishu_base_url=settings.feishu_base_url,
        dingtalk_secrets=settings.dingtalk_secrets,
        feishu_secrets=settings.feishu_secrets,
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_user=settings.smtp_user,
        smtp_password=settings.smtp_password,
        smtp_sender=settings.smtp_sender,
        smtp_starttls=settings.smtp_starttls,
        smtp_ssl=settings.smtp_ssl,
    )


def _telegram_bot(
    settings: Settings,
    engine: Engine,
    domain: DomainSource,
    *,
    clock: Callable[[], dt.datetime],
    limiter: RateLimiter | None,
    notes: list[str],
) -> Bot | None:
    """The interactive bot when a token is configured (one poller per token: this process)."""
    if not settings.telegram_token:
        notes.append("Telegram bot off: GONGKAI_TELEGRAM_TOKEN is not set")
        return None
    # Imported here: python-telegram-bot is not needed without a token.
    from notifier.bot import TelegramBot
    from notifier.ratelimit import RateLimiter

    bot = TelegramBot(
        token=settings.telegram_token,
        engine=engine,
        domain=domain(),
        clock=clock,
        base_url=settings.telegram_base_url,
        dashboard_url=settings.base_url,
        lang=settings.language,
        # One token, one rate budget, shared with the digests' channel.
        limiter=limiter or RateLimiter(settings.telegram_rate_per_second),
    )

    def follow(new: Domain) -> None:
        bot.domain = new

    domain.on_replace.append(follow)
    notes.append("Telegram bot on (long polling)")
    return bot


async def serve(service: Service, *, started: float | None = None) -> None:
    """Run until SIGINT or SIGTERM, then stop every part; returns normally on a clean stop."""
    started = time.monotonic() if started is None else started
    listener = bind(service.settings.host, service.settings.port)  # a busy port stops us here
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals: list[int] = []

    def on_signal(number: int) -> None:
        signals.append(number)
        if stop.is_set():
            service.server.force_exit = True  # a second Ctrl-C: do not wait for connections
        stop.set()

    installed: list[signal.Signals] = []
    for number in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(number, on_signal, number)
            installed.append(number)
    server_task: asyncio.Task[None] | None = None
    try:
        for note in service.notes:
            log.info(note)
        if service.runner is not None:
            service.runner.start()
        if service.bot is not None:
            await service.bot.start()
        freeze_startup_heap()
        server_task = asyncio.create_task(_web(service.server, listener), name="uvicorn")
        await _wait_listening(service.server, server_task)
        if not server_task.done():
            log.info(
                "gongkai ready in %.1f s: http://%s:%d (scheduler: %s)",
                time.monotonic() - started,
                service.settings.host,
                service.settings.port,
                _scheduler_state(service.runner),
            )
            stopper = asyncio.create_task(stop.wait(), name="stop")
            await asyncio.wait({server_task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
        if signals:
            log.info("%s received: shutting down", signal.Signals(signals[0]).name)
    finally:
        await _shutdown(service, server_task)
        listener.close()
        for number in installed:
            loop.remove_signal_handler(number)
    if server_task is not None and not signals:
        error = server_task.exception()
        if isinstance(error, ServeError):
            raise error
        raise ServeError(f"the web server stopped unexpectedly: {error or 'no reason given'}")
    log.info("gongkai stopped")


def _scheduler_state(runner: EmbeddedRunner | None) -> str:
    if runner is None:
        return "off"
    if not runner.running:
        return "not running"
    return "running, jobs " + ", ".join(sorted(job.id for job in runner.jobs_list()))


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so a busy port is one clear line, not a traceback."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
    except OSError as exc:
        listener.close()
        raise ServeError(
            f"cannot listen on {host}:{port}: {exc.strerror} (choose another with --port)"
        ) from None
    return listener


async def _web(server: _Server, listener: socket.socket) -> None:
    """uvicorn on ``listener``; its ``sys.exit`` on a failed start becomes a ServeError."""
    try:
        await server.serve(sockets=[listener])
    except SystemExit:
        raise ServeError("the web server could not start (see the log above)") from None


async def _wait_listening(server: _Server, task: asyncio.Task[None]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if task.done():
            return  # the caller reports why
        if time.monotonic() > deadline:
            raise ServeError(f"the web server did not start within {START_TIMEOUT_SECONDS:.0f} s")
        await asyncio.sleep(0.02)


async def _shutdown(service: Service, server_task: asyncio.Task[None] | None) -> None:
    """Scheduler first (no new work), then the bot, then the web server, then the channels."""
    if service.runner is not None:
        await service.runner.stop()
    if service.bot is not None:
        try:
            await service.bot.stop()
        except Exception:
            log.exception("stopping the Telegram bot failed")
        else:
            log.info("Telegram bot stopped")
    if server_task is not None and not server_task.done():
        service.server.should_exit = True
        await asyncio.wait({server_task})
        log.info("web server stopped")
    aclose = getattr(service.channels, "aclose", None)
    if aclose is not None:  # notifier.registry.Channels owns HTTP clients
        await aclose()


def run(service: Service, *, started: float | None = None) -> None:
    """Run :func:`serve` in a fresh event loop (the CLI's entry)."""
    asyncio.run(serve(service, started=started))
