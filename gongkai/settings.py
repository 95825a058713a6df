"""One typed Settings object, read from ``GONGKAI_*`` environment variables (and ``.env``)."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Values copied from .env.example that must never reach production.
PLACEHOLDERS = frozenset(
    {"", "changeme", "change-me", "replace-me", "your-token-here", "xxx", "todo"}
)


class Settings(BaseSettings):
    """Every setting gongkai reads; ``deploy/.env.example`` lists them all."""

    model_config = SettingsConfigDict(env_prefix="GONGKAI_", env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///gongkai.db", description="SQLAlchemy URL")
    timezone: str = Field(default="Asia/Shanghai", description="Zone the agency's rules apply in")
    data_dir: Path = Field(default=Path("gongkai-data"), description="Loaded notices, exports")
    catalog_dirs: list[Path] = Field(default_factory=list, description="Agency catalog overrides")
    language: str = Field(default="zh", pattern="^(zh|en)$")
    delivery_time: str = Field(
        default="09:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Daily digest time on working days (local)",
    )

    # --- serve: web server and scheduler ---------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Dashboard bind address")
    port: int = Field(default=8000, ge=1, le=65535)
    base_url: str = Field(default="http://127.0.0.1:8000", description="Links in messages")
    secret_key: str | None = Field(default=None, description="Session signing key (dashboard)")
    sweep_every_seconds: int = Field(default=60, ge=5, description="Sweep + deliver interval")
    orchestrator: str = Field(
        default="embedded",
        pattern="^(embedded|prefect)$",
        description="Who owns the schedules: APScheduler or Prefect",
    )

    # --- channels ----------------------------------------------------------------------------
    telegram_token: str | None = None
    telegram_base_url: str | None = Field(default=None, description="Bot API base (tests, proxies)")
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

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("telegram_token", "secret_key", "smtp_password")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and value.strip().lower() in PLACEHOLDERS:
            raise ValueError(
                "replace the placeholder from .env.example with a real value, or unset it"
            )
        return value

    @property
    def delivery_clock(self) -> dt.time:
        return dt.time.fromisoformat(self.delivery_time)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def notices_dir(self) -> Path:
        return self.data_dir / "notices"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
