"""What a flow run works on: the engine, the domain, the channels — injected or from the environment.

A Prefect worker runs each flow in a fresh process that knows nothing but its environment,
so the flows build their context — engine, domain, the chat channels of
:func:`notifier.registry.build_channels` — from the same ``GONGKAI_*`` variables
``gongkai`` reads.
``flows`` may not import ``gongkai.settings`` (layers point inward), so :class:`FlowSettings`
repeats the few settings a flow needs, with the same names and defaults; a test keeps the two
in step. In-process callers (the embedded service, tests, benchmarks) inject a ready context
with :func:`using` instead.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Engine

from db.context import Actor, Domain
from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.notices import calendar_from_db
from notifier.base import Channel
from notifier.channels.console import ConsoleChannel
from notifier.registry import build_channels
from obligations.catalog import load_catalog

#: Values copied from .env.example that must never reach production (as gongkai.settings).
PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "replace-me", "your-token-here", "xxx", "todo"}
)


class FlowSettings(BaseSettings):
    """The subset of ``gongkai.settings.Settings`` a flow run needs (same env names)."""

    model_config = SettingsConfigDict(env_prefix="GONGKAI_", env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///gongkai.db", description="SQLAlchemy URL")
    timezone: str = Field(default="Asia/Shanghai", description="Zone the agency's rules apply in")
    catalog_dirs: list[Path] = Field(default_factory=list, description="Agency catalog overrides")
    language: str = Field(default="zh", pattern="^(zh|en)$")
    delivery_time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    base_url: str = Field(default="http://127.0.0.1:8000", description="Links in messages")

    # --- channels (what a worker delivers through) ---------------------------------------
    telegram_token: str | None = None
    telegram_base_url: str | None = None
    telegram_rate_per_second: float = Field(default=25.0, gt=0, le=30)
    wecom_base_url: str = "https://qyapi.weixin.qq.com"
    dingtalk_base_url: str = "https://oapi.dingtalk.com"
    feishu_base_url: str = "https://open.feishu.cn"
    # Signed robots: webhook token → secret, as JSON, e.g. '{"b955…": "SEC0f3d…"}'.
    dingtalk_secrets: dict[str, str] = Field(
        default_factory=dict, description="DingTalk robot access token → 加签 secret"
    )
    feishu_secrets: dict[str, str] = Field(
        default_factory=dict, description="Feishu bot hook token → 签名校验 secret"
    )
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "gongkai@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = Field(default=False, description="Implicit TLS (port 465)")

    @field_validator("telegram_token", "smtp_password")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in PLACEHOLDERS:
            raise ValueError(
                "replace the placeholder from .env.example with a real value, or unset it"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class FlowContext:
    """Everything a flow's jobs take besides ``at``.

    ``channels`` given: every delivery pass uses them (tests, the embedded service). None:
    each pass builds the configured channels from ``settings`` and closes them afterwards
    (their HTTP clients belong to the pass's event loop).
    """

    engine: Engine
    domain: Domain
    channels: Mapping[str, Channel] | None = field(
        default_factory=lambda: {"console": ConsoleChannel()}
    )
    actor: Actor = field(default_factory=lambda: Actor.system("flows"))
    language: str = "zh"
    dashboard_url: str | None = None
    settings: FlowSettings | None = None

    @asynccontextmanager
    async def open_channels(self) -> AsyncIterator[Mapping[str, Channel]]:
        """The channels for one delivery pass (built from settings when none were given)."""
        if self.channels is not None:
            yield self.channels
            return
        settings = self.settings or flow_settings()
        async with build_channels(
            telegram_token=settings.telegram_token,
            telegram_base_url=settings.telegram_base_url,
            telegram_rate_per_second=settings.telegram_rate_per_second,
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
        ) as channels:
            yield channels


_injected: ContextVar[FlowContext | None] = ContextVar("gongkai_flow_context", default=None)


@contextmanager
def using(context: FlowContext) -> Iterator[FlowContext]:
    """Run flows (in this thread or task) on ``context`` instead of the environment's."""
    token = _injected.set(context)
    try:
        yield context
    finally:
        _injected.reset(token)


def current() -> FlowContext:
    """The injected context, else the one built from the environment (once per process)."""
    return _injected.get() or from_env()


@lru_cache(maxsize=1)
def flow_settings() -> FlowSettings:
    return FlowSettings()


@lru_cache(maxsize=1)
def from_env() -> FlowContext:
    """Engine (migrated to head), domain and channels from ``GONGKAI_*`` variables."""
    settings = flow_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    return FlowContext(
        engine=engine,
        domain=build_domain(engine, settings),
        channels=None,
        language=settings.language,
        dashboard_url=settings.base_url,
        settings=settings,
    )


def build_domain(engine: Engine, settings: FlowSettings) -> Domain:
    """Catalog (built-in + overrides), calendar with the stored notices, zone, digest time."""
    with session_scope(engine) as session:
        calendar = calendar_from_db(session)
    return Domain(
        catalog=load_catalog(*settings.catalog_dirs),
        calendar=calendar,
        tz=settings.tz,
        delivery_time=dt.time.fromisoformat(settings.delivery_time),
    )


def worker_name(run_id: str | None = None) -> str:
    """Who holds a claim: host, process and the flow run when there is one (≤ 100 chars)."""
    base = f"{socket.gethostname()[:60]}:{os.getpid()}"
    return f"{base}:{run_id[:8]}" if run_id else base
