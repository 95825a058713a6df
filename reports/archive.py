"""The stored form of a locked year: canonical JSON of the figures and its SHA-256 digest.

A lock stores :class:`~reports.model.AgencyFigures` as JSON (``YearLock.figures``) with the
digest of its canonical text; reading it back checks the digest, so figures edited in the
database after filing are detected instead of being reproduced as if filed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from db.models import YearLock
from reports.errors import LockError
from reports.model import SCHEMA_VERSION, AgencyFigures, LockInfo


def canonical(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest_of(data: Any) -> str:
    return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()


def stored_form(figures: AgencyFigures) -> dict[str, Any]:
    """What a lock stores: the figures (without lock info) and the schema version."""
    data = figures.model_dump(mode="json", exclude={"locked"})
    return {"schema_version": SCHEMA_VERSION, "figures": data}


def figures_from_lock(lock: YearLock) -> AgencyFigures:
    """The figures as filed, with the lock's info; a changed row raises :class:`LockError`."""
    if digest_of(lock.figures) != lock.digest:
        raise LockError(
            f"the locked figures of {lock.year} (agency id {lock.agency_id}) do not match their "
            "digest: the year_lock row was changed after locking"
        )
    version = lock.figures.get("schema_version")
    if version != SCHEMA_VERSION:
        raise LockError(
            f"the {lock.year} lock was written with report schema {version}; this version "
            f"reads schema {SCHEMA_VERSION}"
        )
    figures = AgencyFigures.model_validate(lock.figures["figures"])
    figures.locked = LockInfo(
        locked_at=lock.locked_at, locked_by=lock.locked_by, digest=lock.digest
    )
    return figures
