"""What every ledger command opens: settings, the migrated engine and the domain."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from db.context import Actor, Domain
from gongkai.runtime import cli_actor, domain_for, engine_for
from gongkai.settings import Settings, get_settings


@dataclass(frozen=True)
class Ledger:
    settings: Settings
    engine: Engine
    domain: Domain
    actor: Actor


def open_ledger() -> Ledger:
    settings = get_settings()
    engine = engine_for(settings)
    return Ledger(
        settings=settings, engine=engine, domain=domain_for(settings, engine), actor=cli_actor()
    )
