"""Dashboard logins and integration tokens: hashed at rest, every change audited.

Passwords are stored as argon2id hashes (argon2-cffi's defaults), tokens as the SHA-256 of
a 256-bit random value: a token is shown once, when it is created, and can only be checked
afterwards. Audit entries name the user or token and never carry a hash or a secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlmodel import Session, col, select

from db.audit import AuditWriter
from db.context import Actor, PermissionDenied
from db.errors import LedgerError, NotFoundError
from db.models import Agency, ApiToken, Person, Role, Section, User

#: Roles a dashboard login or a token may have (``system`` is the CLI's, never a login's).
LOGIN_ROLES = (
    Role.OFFICE.value,
    Role.CHIEF.value,
    Role.STAFF.value,
    Role.LEADER.value,
    Role.GOV_OFFICE.value,
)
TOKEN_PURPOSES = ("api", "feed")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
#: Bytes of randomness in a token (256 bits); the text form is URL-safe base64.
TOKEN_BYTES = 32
#: ``last_used_at`` is written at most this often per token, so reads stay reads.
LAST_USED_RESOLUTION = dt.timedelta(minutes=10)

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name costs as long as a wrong
#: password and the login form does not reveal which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class UserError(LedgerError):
    """The login or token could not be created as asked."""


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``secret`` is its only plain-text appearance."""

    token: ApiToken
    secret: str


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _require_admin(actor: Actor, agency_id: int | None) -> None:
    """Logins and tokens are managed by the system (CLI), the office of the agency, or the
    government office."""
    if actor.role in ("system", Role.GOV_OFFICE.value):
        return
    if actor.role == Role.OFFICE.value and agency_id is not None and actor.agency_id == agency_id:
        return
    raise PermissionDenied(f"{actor.name} may not manage logins or tokens")


@dataclass(frozen=True)
class Scope:
    agency_id: int | None
    section_id: int | None
    person_id: int | None


def resolve_scope(
    session: Session,
    *,
    role: str,
    agency_code: str | None,
    section_code: str | None,
    person_name: str | None,
) -> Scope:
    """Agency, section and person by code/name, checked against each other and the role."""
    if role not in LOGIN_ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(LOGIN_ROLES)}")
    agency: Agency | None = None
    if agency_code:
        agency = session.exec(select(Agency).where(Agency.code == agency_code)).first()
        if agency is None:
            raise NotFoundError(f"unknown agency {agency_code!r}")
    elif role != Role.GOV_OFFICE.value:
        agencies = list(session.exec(select(Agency)).all())
        if len(agencies) != 1:
            raise UserError(f"role {role} belongs to one agency: give --agency CODE")
        agency = agencies[0]
    section: Section | None = None
    if section_code:
        if agency is None:
            raise UserError("--section needs --agency")
        section = session.exec(
            select(Section).where(Section.agency_id == agency.id, Section.code == section_code)
        ).first()
        if section is None:
            raise NotFoundError(f"unknown section {section_code!r} in agency {agency.code}")
    person: Person | None = None
    if person_name:
        if agency is None:
            raise UserError("--person needs --agency")
        person = session.exec(
            select(Person).where(Person.agency_id == agency.id, Person.name == person_name)
        ).first()
        if person is None:
            raise NotFoundError(f"unknown person {person_name!r} in agency {agency.code}")
        if section is None and person.section_id is not None:
            section = session.get(Section, person.section_id)
        elif section is not None and person.section_id not in (None, section.id):
            raise UserError(f"{person_name} is not in section {section.code}")
    if role in (Role.CHIEF.value, Role.STAFF.value) and section is None:
        raise UserError(f"role {role} acts for one section: give --section CODE (or --person)")
    return Scope(
        agency_id=agency.id if agency else None,
        section_id=section.id if section else None,
        person_id=person.id if person else None,
    )


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise UserError(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")


def _username(value: str) -> str:
    name = value.strip()
    if not name or len(name) > 100 or any(ch.isspace() for ch in name):
        raise UserError(f"username {value!r}: 1–100 characters without spaces")
    return name


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    scope: Scope,
    actor: Actor,
    at: dt.datetime,
) -> User:
    """Create a login with an argon2id hash of ``password``."""
    name = _username(username)
    _check_password(password)
    _require_admin(actor, scope.agency_id)
    if session.exec(select(User).where(User.username == name)).first() is not None:
        raise UserError(f"user {name!r} already exists")
    user = User(
        username=name,
        password_hash=_hasher.hash(password),
        role=role,
        agency_id=scope.agency_id,
        section_id=scope.section_id,
        person_id=scope.person_id,
        created_at=at,
    )
    session.add(user)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="create",
        entity="user",
        entity_id=str(user.id),
        agency_id=scope.agency_id,
        after=_user_state(user),
    )
    return user


def set_password(
    session: Session, *, username: str, password: str, actor: Actor, at: dt.datetime
) -> User:
    user = _user(session, username)
    _check_password(password)
    _require_admin(actor, user.agency_id)
    return _store_password(session, user, password, by=actor.name, at=at)


def change_own_password(
    session: Session, *, username: str, current: str, password: str, at: dt.datetime
) -> User:
    """A user changes their own password: the current one instead of an administrator."""
    user = verify_password(session, username, current)
    if user is None:
        raise UserError("the current password is wrong")
    _check_password(password)
    return _store_password(session, user, password, by=user.username, at=at, own=True)


def _store_password(
    session: Session, user: User, password: str, *, by: str, at: dt.datetime, own: bool = False
) -> User:
    """Hash and store a new password (checked by the caller) with its audit entry."""
    user.password_hash = _hasher.hash(password)
    session.add(user)
    after: dict[str, object] = {"username": user.username}
    if own:
        after["by"] = "self"
    AuditWriter(session).write(
        at=at,
        actor=by,
        action="set_password",
        entity="user",
        entity_id=str(user.id),
        agency_id=user.agency_id,
        after=after,
    )
    session.flush()
    return user


def set_active(
    session: Session, *, username: str, active: bool, actor: Actor, at: dt.datetime
) -> User:
    user = _user(session, username)
    _require_admin(actor, user.agency_id)
    before = _user_state(user)
    user.active = active
    session.add(user)
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="activate" if active else "deactivate",
        entity="user",
        entity_id=str(user.id),
        agency_id=user.agency_id,
        before=before,
        after=_user_state(user),
    )
    session.flush()
    return user


def _user(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"no user {username!r}")
    return user


def _user_state(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "role": user.role,
        "agency_id": user.agency_id,
        "section_id": user.section_id,
        "person_id": user.person_id,
        "active": user.active,
    }


def verify_password(session: Session, username: str, password: str) -> User | None:
    """The active user whose password this is, or None. Takes as long for an unknown name.

    Read only: a hash made with older argon2 parameters is left to :func:`rehash_password`.
    """
    user = session.exec(select(User).where(User.username == username.strip())).first()
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return None
    try:
        _hasher.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if not user.active:
        return None
    return user


def needs_rehash(user: User) -> bool:
    """Whether the user's hash was made with other argon2 parameters than today's."""
    return _hasher.check_needs_rehash(user.password_hash)


def rehash_password(session: Session, user_id: int, password: str) -> User:
    """Store a hash with today's parameters of a password just verified (no audit entry:
    the password did not change)."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} does not exist")
    user.password_hash = _hasher.hash(password)
    session.add(user)
    session.flush()
    return user


class UserFields(Protocol):
    """What :func:`actor_for_user` reads: a :class:`User` or a row of its columns."""

    @property
    def id(self) -> int | None: ...
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def agency_id(self) -> int | None: ...
    @property
    def section_id(self) -> int | None: ...
    @property
    def person_id(self) -> int | None: ...


def actor_for_user(user: UserFields) -> Actor:
    return Actor(
        name=user.username,
        role=user.role,
        agency_id=user.agency_id,
        section_id=user.section_id,
        person_id=user.person_id,
    )


def create_api_token(
    session: Session,
    *,
    name: str,
    purpose: str,
    role: str,
    scope: Scope,
    actor: Actor,
    at: dt.datetime,
) -> NewToken:
    """A new token; the plain text is returned once and only its SHA-256 is stored.

    ``feed`` tokens (calendar subscriptions) must name a section or a person: they read
    that section's (or that person's section's) deadlines and nothing else.
    """
    label = name.strip()
    if not label or len(label) > 100:
        raise UserError(f"token name {name!r}: 1–100 characters")
    if purpose not in TOKEN_PURPOSES:
        raise UserError(f"purpose {purpose!r} is not one of {', '.join(TOKEN_PURPOSES)}")
    if role not in LOGIN_ROLES:
        raise UserError(f"role {role!r} is not one of {', '.join(LOGIN_ROLES)}")
    if purpose == "feed" and scope.section_id is None and scope.person_id is None:
        raise UserError("a feed token needs --section or --person")
    _require_admin(actor, scope.agency_id)
    secret = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken(
        token_hash=hash_token(secret),
        name=label,
        purpose=purpose,
        role=role,
        agency_id=scope.agency_id,
        section_id=scope.section_id,
        person_id=scope.person_id,
        created_at=at,
    )
    session.add(token)
    session.flush()
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="create",
        entity="api_token",
        entity_id=str(token.id),
        agency_id=scope.agency_id,
        after=_token_state(token),
    )
    return NewToken(token=token, secret=secret)


def _token_state(token: ApiToken) -> dict[str, object]:
    return {
        "name": token.name,
        "purpose": token.purpose,
        "role": token.role,
        "agency_id": token.agency_id,
        "section_id": token.section_id,
        "person_id": token.person_id,
        "revoked": token.revoked,
    }


def resolve_token(
    session: Session, secret: str, *, purpose: str, at: dt.datetime | None = None
) -> ApiToken | None:
    """The live token of that purpose whose secret this is, or None.

    The lookup is by hash (indexed, unique); the final comparison is constant-time. With
    ``at``, ``last_used_at`` is refreshed when it is older than ten minutes.
    """
    if not secret or len(secret) > 200:
        return None
    digest = hash_token(secret)
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    if token.revoked or token.purpose != purpose:
        return None
    if at is not None and (
        token.last_used_at is None or at - token.last_used_at > LAST_USED_RESOLUTION
    ):
        token.last_used_at = at
        session.add(token)
    return token


def actor_for_token(token: ApiToken) -> Actor:
    return Actor(
        name=f"token:{token.name}",
        role=token.role,
        agency_id=token.agency_id,
        section_id=token.section_id,
        person_id=token.person_id,
    )


def revoke_token(session: Session, *, token_id: int, actor: Actor, at: dt.datetime) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"no token {token_id}")
    _require_admin(actor, token.agency_id)
    before = _token_state(token)
    token.revoked = True
    session.add(token)
    AuditWriter(session).write(
        at=at,
        actor=actor.name,
        action="revoke",
        entity="api_token",
        entity_id=str(token.id),
        agency_id=token.agency_id,
        before=before,
        after=_token_state(token),
    )
    session.flush()
    return token


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.username))).all())


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id))).all())
