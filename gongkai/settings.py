"""One typed Settings object, read from ``GONGKAI_*`` environment variables (and ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting gongkai reads; ``deploy/.env.example`` lists them all."""

    model_config = SettingsConfigDict(env_prefix="GONGKAI_", env_file=".env", extra="ignore")

    database_url: str = Field(default="sqlite:///gongkai.db", description="SQLAlchemy URL")
    timezone: str = Field(default="Asia/Shanghai", description="Zone the agency's rules apply in")
    data_dir: Path = Field(default=Path("gongkai-data"), description="Loaded notices, exports")
    catalog_dirs: list[Path] = Field(default_factory=list, description="Agency catalog overrides")
    language: str = Field(default="zh", pattern="^(zh|en)$")

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

    @property
    def notices_dir(self) -> Path:
        return self.data_dir / "notices"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
