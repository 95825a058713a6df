"""Composition: turn Settings into an engine, a migrated database and a Domain.

Only this package (and flows/dashboard above the ledger) reads the clock; ``now()`` lives
here so commands read it once per unit of work and pass ``at=`` down.
"""

from __future__ import annotations

import datetime as dt
import getpass
from functools import lru_cache

from sqlalchemy import Engine

from db.context import Actor, Domain
from db.engine import make_engine, session_scope
from db.notices import calendar_from_db
from gongkai.settings import Settings
from obligations.catalog import load_catalog


def now() -> dt.datetime:
    """The one place gongkai reads the wall clock (aware, UTC)."""
    return dt.datetime.now(dt.UTC)


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return make_engine(url)


def engine_for(settings: Settings, *, migrate: bool = True) -> Engine:
    """The engine for the configured database, upgraded to the latest schema on first use."""
    engine = _engine(settings.database_url)
    if migrate:
        _ensure_schema(settings.database_url)
    return engine


@lru_cache(maxsize=8)
def _ensure_schema(url: str) -> None:
    from db.migrate import upgrade

    upgrade(_engine(url))


def domain_for(settings: Settings, engine: Engine) -> Domain:
    """Catalog (built-in + the agency's override folders) and the calendar with stored notices."""
    catalog = load_catalog(*settings.catalog_dirs)
    with session_scope(engine) as session:
        calendar = calendar_from_db(session)
    return Domain(
        catalog=catalog, calendar=calendar, tz=settings.tz, delivery_time=settings.delivery_clock
    )


def cli_actor() -> Actor:
    """Whoever runs the command line acts as the system (all agencies), under their login."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor.system(f"cli:{user}")
