"""Shared setup of the dashboard and API tests (loaded by path: tests are not a package).

Personas of the commerce bureau (``bureau`` fixture): ``office`` (李办公, 办公室), ``trade``
(王外贸, chief of 外贸科), ``invest`` (chief of 外资科), ``leader`` (赵局长) and ``gov``
(政务公开办, every agency). Tasks: a disclosure request handed to 外贸科 on 2026-10-09
(overdue at the tests' "now", Fri 2026-11-27 10:00), a policy document of 综合科 published
2026-11-10 (overdue) and one of 外资科 published 2026-11-25 (due next week).
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import select

from dashboard.app import DashboardConfig, create_app
from db.context import Actor, Domain
from db.engine import session_scope
from db.models import Section, Task
from db.spawn import record_event
from db.users import add_user, create_api_token, resolve_scope

TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct horse battery staple"
SECRET_KEY = "test-session-key-not-for-production-0123456789"

#: username → (role, section code)
PERSONAS: dict[str, tuple[str, str | None]] = {
    "office": ("office", None),
    "trade": ("chief", "foreign-trade"),
    "invest": ("chief", "foreign-investment"),
    "leader": ("leader", None),
    "gov": ("gov_office", None),
}


def fast_hashes(monkeypatch: Any) -> None:
    """argon2 with tiny costs, so creating five users per test takes milliseconds."""
    from argon2 import PasswordHasher

    from db import users

    monkeypatch.setattr(
        users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class Site:
    app: FastAPI
    engine: Engine
    domain: Domain
    at: dt.datetime
    tasks: dict[str, int] = field(default_factory=dict)
    sections: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    url: str = ""
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self) -> httpx.Client:
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            client.close()


@contextmanager
def running(site: Site) -> Iterator[Site]:
    with live_server(site.app) as url:
        site.url = url
        try:
            yield site
        finally:
            site.close()


def seed_users(engine: Engine, at: dt.datetime) -> None:
    system = Actor.system("test")
    with session_scope(engine) as session:
        for username, (role, section) in PERSONAS.items():
            scope = resolve_scope(
                session,
                role=role,
                agency_code=None if role == "gov_office" else "xm-commerce",
                section_code=section,
                person_name=None,
            )
            add_user(
                session,
                username=username,
                password=PASSWORD,
                role=role,
                scope=scope,
                actor=system,
                at=at,
            )


def seed_tasks(engine: Engine, domain: Domain, at: dt.datetime) -> dict[str, int]:
    system = Actor.system("test")
    found: dict[str, int] = {}
    with session_scope(engine) as session:
        request = record_event(
            session,
            domain,
            agency_code="xm-commerce",
            event_type_name="request_received",
            occurred_at=dt.datetime(2026, 10, 9, 10, tzinfo=TZ),
            actor=system,
            at=dt.datetime(2026, 10, 9, 11, tzinfo=TZ),
            attributes={"applicant_type": "natural_person", "channel": "in_person"},
            external_id="R-2026-001",
            section_code="foreign-trade",
            title="申请公开2025年外贸统计",
        )
        for task_id in request.task_ids:
            task = session.get(Task, task_id)
            assert task is not None
            found[task.obligation_code] = task_id
        for key, section, day in [
            ("general-doc", "general", dt.datetime(2026, 11, 10, 9, tzinfo=TZ)),
            ("invest-doc", "foreign-investment", dt.datetime(2026, 11, 25, 9, tzinfo=TZ)),
        ]:
            result = record_event(
                session,
                domain,
                agency_code="xm-commerce",
                event_type_name="document_published",
                occurred_at=day,
                actor=system,
                at=day + dt.timedelta(hours=1),
                attributes={"doc_kind": "policy"},
                external_id=key,
                section_code=section,
                title=f"关于促进{section}发展的若干措施",
            )
            found[key] = result.task_ids[0]
    return found


def build_site(engine: Engine, domain: Domain, at: dt.datetime, **config: Any) -> Site:
    seed_users(engine, at)
    tasks = seed_tasks(engine, domain, at)
    with session_scope(engine) as session:
        sections = {
            section.code: section.id or 0 for section in session.exec(select(Section)).all()
        }
        tokens = {}
        for name, role, section in [
            ("cms", "office", None),
            ("trade-api", "chief", "foreign-trade"),
        ]:
            scope = resolve_scope(
                session,
                role=role,
                agency_code="xm-commerce",
                section_code=section,
                person_name=None,
            )
            new = create_api_token(
                session,
                name=name,
                purpose="api",
                role=role,
                scope=scope,
                actor=Actor.system("test"),
                at=at,
            )
            tokens[name] = new.secret
        scope = resolve_scope(
            session,
            role="chief",
            agency_code="xm-commerce",
            section_code="foreign-trade",
            person_name=None,
        )
        tokens["trade-feed"] = create_api_token(
            session,
            name="trade-feed",
            purpose="feed",
            role="chief",
            scope=scope,
            actor=Actor.system("test"),
            at=at,
        ).secret
    settings = {"clock": lambda: at, "secret_key": SECRET_KEY, "stats_cache_seconds": 0.0}
    settings.update(config)
    app = create_app(engine=engine, domain=lambda: domain, config=DashboardConfig(**settings))
    return Site(
        app=app, engine=engine, domain=domain, at=at, tasks=tasks, sections=sections, tokens=tokens
    )


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match is not None, "no CSRF field on the page"
    return match.group(1)


def login(client: httpx.Client, username: str, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/",
        },
    )


def logged_in(site: Site, username: str) -> httpx.Client:
    client = site.client()
    answer = login(client, username)
    assert answer.status_code == 303, answer.text
    return client


def post_form(client: httpx.Client, page_url: str, action: str, data: dict[str, str]) -> Any:
    """Submit a form the way a browser does: read the page's CSRF token first."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={**data, "csrf_token": csrf_of(page.text)})
