"""``gongkai deploy``: register the flows as Prefect deployments (the scaled topology).

Schedules are cron expressions in ``GONGKAI_TIMEZONE`` (Asia/Shanghai by default): spawn
daily 01:00, sweep + deliver every minute, bulletin on the 1st 08:00, year report on
2 January 08:00; intake and deliver run on demand. Workers: ``prefect worker start --pool
POOL``; the web/bot process: ``gongkai serve --orchestrator prefect`` (APScheduler off).
"""

from __future__ import annotations

import asyncio
from typing import Any

import typer
from rich.table import Table

from gongkai.cli._common import JSON_OPTION, UserError, console, emit
from gongkai.settings import get_settings


def deploy(
    pool: str = typer.Option("gongkai", "--pool", help="Process work pool (created if missing)"),
    paused: bool = typer.Option(False, "--paused", help="Register with schedules paused"),
    as_json: bool = JSON_OPTION,
) -> None:
    """注册 Prefect 部署 Register the flows as deployments on the Prefect server (PREFECT_API_URL)."""
    import httpx  # Prefect is imported only by this command: it takes a second to load.
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import register

    api_url = PREFECT_API_URL.value()
    if not api_url:
        raise UserError(
            "PREFECT_API_URL is not set: point it at the Prefect server, "
            "e.g. PREFECT_API_URL=http://127.0.0.1:4200/api (a temporary server has no scheduler)"
        )
    settings = get_settings()
    try:
        registered = asyncio.run(
            register(work_pool=pool, timezone=settings.timezone, paused=paused)
        )
    except httpx.HTTPError as exc:
        raise UserError(f"cannot register with Prefect at {api_url}: {exc}") from None
    data: dict[str, Any] = {
        "api_url": api_url,
        "work_pool": pool,
        "deployments": [
            {
                "id": str(item.id),
                "name": item.name,
                "entrypoint": item.entrypoint,
                "cron": item.cron,
                "timezone": item.timezone if item.cron else None,
            }
            for item in registered
        ],
    }

    def human() -> None:
        table = Table("部署 deployment", "计划 schedule", "入口 entrypoint")
        for item in registered:
            schedule = f"{item.cron} ({item.timezone})" if item.cron else "按需 on demand"
            table.add_row(item.name, schedule, item.entrypoint)
        console.print(table)
        console.print(f"工作池 work pool: {pool} — 启动 start: prefect worker start --pool {pool}")

    emit(data, as_json=as_json, human=human)
