"""``gongkai serve``: the embedded service (dashboard, scheduler, bot) in one process."""

from __future__ import annotations

import datetime as dt
import logging
import time

import typer

from gongkai.cli._common import UserError, console
from gongkai.cli.simulate_cmd import (
    DEMO_LOGINS,
    DEMO_PASSWORD,
    demo_db_path,
    month_progress,
    print_report,
    simulate_into,
)
from gongkai.runtime import now
from gongkai.settings import Settings, get_settings

ORCHESTRATORS = ("embedded", "prefect")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging() -> None:
    """One format for gongkai, uvicorn and APScheduler lines; the scheduler's chatter off."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # A job run every minute would log two lines a minute at INFO.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # python-telegram-bot puts the token in URLs and httpx logs URLs at INFO (STYLE.md 15).
    logging.getLogger("httpx").setLevel(logging.WARNING)


def serve(
    host: str | None = typer.Option(None, "--host", help="Bind address (GONGKAI_HOST)"),
    port: int | None = typer.Option(
        None, "--port", min=1, max=65535, help="Port (GONGKAI_PORT, default 8000)"
    ),
    demo: bool = typer.Option(
        False,
        "--demo",
        help="Serve the demo database; simulate 1 January … now into it on first start",
    ),
    orchestrator: str | None = typer.Option(
        None,
        "--orchestrator",
        help="embedded (APScheduler in this process, default) or prefect (Prefect owns the schedules)",
    ),
) -> None:
    """启动服务 Run the dashboard, the scheduler and the Telegram bot in one process."""
    started = time.monotonic()
    configure_logging()
    settings = _with_options(get_settings(), host=host, port=port, orchestrator=orchestrator)
    if demo:
        settings = _demo(settings)
    # Imported here: uvicorn, the dashboard and the scheduler are not needed by other commands.
    from gongkai.serve import ServeError, build_service, run

    try:
        run(build_service(settings, console_only=demo), started=started)
    except ServeError as exc:
        raise UserError(str(exc)) from None


def _with_options(
    settings: Settings, *, host: str | None, port: int | None, orchestrator: str | None
) -> Settings:
    updates: dict[str, object] = {}
    if orchestrator is not None:
        if orchestrator not in ORCHESTRATORS:
            raise UserError(f"--orchestrator {orchestrator!r}: use embedded or prefect")
        updates["orchestrator"] = orchestrator
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    if (host is not None or port is not None) and "base_url" not in settings.model_fields_set:
        # Links in messages follow the address actually served unless GONGKAI_BASE_URL says.
        shown = host or settings.host
        updates["base_url"] = (
            f"http://{'127.0.0.1' if shown in ('0.0.0.0', '::') else shown}:{port or settings.port}"
        )
    return settings.model_copy(update=updates)


def _demo(settings: Settings) -> Settings:
    """Point at the demo database, simulating it first when it does not exist yet."""
    path = demo_db_path(settings)
    log = logging.getLogger("gongkai.serve")
    if path.exists():
        log.info("demo database %s (delete it to simulate again up to today)", path)
    else:
        until = now()  # the one reading of the real clock for the simulation
        start = dt.date(until.astimezone(settings.tz).year, 1, 1)
        log.info("demo database %s does not exist: simulating %s … now", path, start)
        with month_progress(start, until, settings.tz) as on_progress:
            report = simulate_into(
                settings, path=path, start=start, until=until, on_progress=on_progress
            )
        print_report(report, path)
    users = ", ".join(username for username, *_ in DEMO_LOGINS)
    console.print(f"演示登录 demo logins: {users} — 密码 password [bold]{DEMO_PASSWORD}[/]")
    return settings.model_copy(update={"database_url": f"sqlite:///{path}"})
