"""Who is asking: session logins, CSRF tokens, the login rate limit and API tokens.

- The session is a signed cookie (Starlette's ``SessionMiddleware``: HttpOnly, SameSite=Lax,
  Secure behind https) holding the user id, a CSRF token and a *stamp*: an HMAC of the
  user's password hash and active flag under the server's key. Changing the password or
  deactivating the user changes the stamp, which ends every session of that user. The
  stamp reveals nothing about the hash.
- Every unsafe request of the web pages carries the session's CSRF token (a hidden form
  field, or the ``X-CSRF-Token`` header for htmx) and is refused without it.
- Failed logins are counted per user name and per client address; after
  ``LOGIN_FAILURES`` within ``LOGIN_WINDOW`` further attempts are refused until the window
  has passed.
- The REST API takes ``Authorization: Bearer <token>``; a token is looked up by its SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from fastapi import Request

from db.context import Actor
from db.models import User
from db.users import UserFields, actor_for_user

SESSION_COOKIE = "gongkai_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
LOGIN_FAILURES = 5
LOGIN_WINDOW = dt.timedelta(minutes=15)
#: Distinct keys the limiter remembers; the oldest are forgotten beyond this.
LIMITER_MAX_KEYS = 10_000


class LoginRequired(Exception):
    """Log in to see this page."""


class CsrfError(Exception):
    """The form is stale or did not come from this site: reload the page and try again."""


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a page view and the ledger actor they act as."""

    user_id: int
    username: str
    role: str
    agency_id: int | None
    section_id: int | None
    person_id: int | None
    actor: Actor

    @property
    def is_office(self) -> bool:
        return self.role in ("office", "gov_office")

    @property
    def is_section_bound(self) -> bool:
        return self.role in ("chief", "staff")

    @property
    def can_write(self) -> bool:
        return self.role != "leader"

    @property
    def all_agencies(self) -> bool:
        return self.actor.all_agencies


def viewer_for(user: UserFields) -> Viewer:
    assert user.id is not None
    return Viewer(
        user_id=user.id,
        username=user.username,
        role=user.role,
        agency_id=user.agency_id,
        section_id=user.section_id,
        person_id=user.person_id,
        actor=actor_for_user(user),
    )


def session_stamp(secret_key: str, user: User) -> str:
    assert user.id is not None
    return stamp_of(secret_key, user.id, user.password_hash, user.active)


def stamp_of(secret_key: str, user_id: int, password_hash: str, active: bool) -> str:
    """The session stamp of a user's current password hash and active flag."""
    message = f"{user_id}:{password_hash}:{active}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def start_session(request: Request, user: User, secret_key: str) -> None:
    """Replace whatever the session held (no fixation) with this login."""
    request.session.clear()
    request.session.update(
        {
            "uid": user.id,
            "stamp": session_stamp(secret_key, user),
            CSRF_FIELD: secrets.token_urlsafe(24),
        }
    )


def end_session(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    """The session's CSRF token, created on first use (the login form needs one too)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> AsyncIterator[None]:
    """Refuse an unsafe request whose token does not match the session's.

    A dependency with teardown: the parsed form (cached on the request for the handler) is
    closed after the answer, which deletes the temporary files of uploads.
    """
    if request.method in ("GET", "HEAD", "OPTIONS"):
        yield
        return
    expected = request.session.get(CSRF_FIELD)
    sent = request.headers.get(CSRF_HEADER)
    form = None
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        if sent is None:
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    try:
        if not isinstance(expected, str) or sent is None or not hmac.compare_digest(expected, sent):
            raise CsrfError()
        yield
    finally:
        if form is not None:
            await form.close()


class LoginLimiter:
    """Sliding-window count of failed logins per key (user name, client address)."""

    def __init__(self, *, failures: int = LOGIN_FAILURES, window: dt.timedelta = LOGIN_WINDOW):
        self.failures = failures
        self.window = window
        self._seen: dict[str, deque[dt.datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, at: dt.datetime) -> deque[dt.datetime]:
        times = self._seen.get(key)
        if times is None:
            return deque()
        while times and at - times[0] >= self.window:
            times.popleft()
        if not times:
            del self._seen[key]
        return times

    def retry_after(self, keys: list[str], at: dt.datetime) -> dt.timedelta | None:
        """How long until these keys may try again, or None when they may try now."""
        with self._lock:
            waits = []
            for key in keys:
                times = self._recent(key, at)
                if len(times) >= self.failures:
                    waits.append(times[0] + self.window - at)
            return max(waits) if waits else None

    def failed(self, keys: list[str], at: dt.datetime) -> None:
        with self._lock:
            for key in keys:
                self._recent(key, at)
                self._seen.setdefault(key, deque()).append(at)
            while len(self._seen) > LIMITER_MAX_KEYS:
                self._seen.pop(next(iter(self._seen)))

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                if key.startswith("user:"):
                    self._seen.pop(key, None)


def limiter_keys(request: Request, username: str) -> list[str]:
    client = request.client.host if request.client else "unknown"
    return [f"user:{username.strip().lower()}", f"addr:{client}"]
