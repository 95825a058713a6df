"""Logins, sessions, CSRF, the login rate limit, escaping and secrets on every page."""

from __future__ import annotations

import re
from typing import Any

import dashboard_support as support  # registered by tests/conftest.py
import pytest
from sqlmodel import Session, select

from db.models import ApiToken, Event, Task, User

SCRIPT = "<script>alert('xss')</script>"


def test_pages_need_a_login(site: Any) -> None:
    client = site.client()
    for url in ["/", "/board", f"/tasks/{site.tasks['general-doc']}", "/org", "/board.csv"]:
        answer = client.get(url)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/login")
    assert client.get("/healthz").json() == {"status": "ok"}


def test_session_cookie_is_httponly_samesite_and_signed(site: Any) -> None:
    client = site.client()
    answer = support.login(client, "office")
    cookie = answer.headers["set-cookie"]
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "$argon2" not in cookie
    # A forged cookie is ignored: back to the login page.
    forged = site.client()
    forged.cookies.set("gongkai_session", cookie.split(";")[0].split("=", 1)[1][:-4] + "AAAA")
    assert forged.get("/").status_code == 303


def test_wrong_password_and_unknown_user_get_the_same_answer(site: Any) -> None:
    client = site.client()
    wrong = support.login(client, "office", "not the password")
    unknown = support.login(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "用户名或密码错误" in wrong.text
    assert "用户名或密码错误" in unknown.text


def test_login_rate_limit(site: Any) -> None:
    client = site.client()
    for _ in range(5):
        assert support.login(client, "trade", "wrong password!").status_code == 401
    limited = support.login(client, "trade")  # even the right password waits
    assert limited.status_code == 429
    assert "登录失败次数过多" in limited.text
    other = site.client()
    assert support.login(other, "office").status_code == 429  # same client address


def test_posts_without_the_csrf_token_are_refused(site: Any) -> None:
    client = support.logged_in(site, "office")
    task_id = site.tasks["general-doc"]
    for token in (None, "forged-token"):
        data = {"evidence": "https://www.xm.gov.cn/1.html"}
        if token:
            data["csrf_token"] = token
        answer = client.post(f"/tasks/{task_id}/complete", data=data)
        assert answer.status_code == 403
    with Session(site.engine) as session:
        task = session.get(Task, task_id)
        assert task is not None
        assert task.status == "open"
    # A login form posted from elsewhere (no token) is refused too.
    assert (
        site.client()
        .post("/login", data={"username": "office", "password": support.PASSWORD})
        .status_code
        == 403
    )
    # htmx sends the token as a header.
    page = client.get(f"/tasks/{task_id}")
    answer = client.post(
        f"/tasks/{task_id}/complete",
        data={"evidence": "https://www.xm.gov.cn/1.html"},
        headers={"X-CSRF-Token": support.csrf_of(page.text)},
    )
    assert answer.status_code == 303


def test_logout_ends_the_session_and_a_password_change_ends_all(site: Any) -> None:
    from db.context import Actor
    from db.engine import session_scope
    from db.users import set_password

    client = support.logged_in(site, "office")
    page = client.get("/")
    assert (
        client.post("/logout", data={"csrf_token": support.csrf_of(page.text)}).status_code == 303
    )
    assert client.get("/").status_code == 303
    other = support.logged_in(site, "leader")
    with session_scope(site.engine) as session:
        set_password(
            session,
            username="leader",
            password="a brand new password",
            actor=Actor.system("t"),
            at=site.at,
        )
    assert other.get("/").status_code == 303


def test_user_text_is_escaped_everywhere(site: Any) -> None:
    office = support.logged_in(site, "office")
    answer = support.post_form(
        office,
        "/events",
        "/events",
        {
            "type": "document_published",
            "title": SCRIPT,
            "occurred_at": "2026-11-26T10:00",
            "section": str(site.sections["general"]),
            "external_id": SCRIPT,
        },
    )
    assert answer.status_code == 303
    with Session(site.engine) as session:
        event = session.exec(select(Event).where(Event.external_id == SCRIPT)).one()
        task = session.exec(select(Task).where(Task.event_id == event.id)).one()
    url = f"/tasks/{task.id}"
    paused = support.post_form(office, url, f"{url}/cancel", {"reason": SCRIPT})
    assert paused.status_code == 303
    pages = [url, "/events", "/board?days=0", f"/sections/{site.sections['general']}", "/?x=1"]
    pages.append("/board?section=" + "%3Cscript%3E")
    for page in pages:
        html = office.get(page).text
        assert "<script>alert" not in html, page
    assert "&lt;script&gt;alert(" in office.get(url).text
    assert "&lt;script&gt;alert(" in office.get("/events").text
    error = office.get("/calendar?month=%3Cscript%3E")
    assert "<script>alert" not in error.text


def test_security_headers(site: Any) -> None:
    client = support.logged_in(site, "office")
    answer = client.get("/")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    # No inline scripts: every <script> has a src or is JSON data.
    for tag in re.findall(r"<script[^>]*>", answer.text):
        assert "src=" in tag or 'type="application/json"' in tag


def test_no_secret_or_hash_in_any_page(site: Any) -> None:
    with Session(site.engine) as session:
        hashes = [user.password_hash for user in session.exec(select(User)).all()]
        token_hashes = [token.token_hash for token in session.exec(select(ApiToken)).all()]
    secrets = [*hashes, *token_hashes, *site.tokens.values(), support.SECRET_KEY, support.PASSWORD]
    for username in support.PERSONAS:
        client = support.logged_in(site, username)
        urls = ["/", "/board", "/org", "/notices", "/calendar", "/extensions", "/board.csv"]
        urls += [f"/tasks/{task_id}" for task_id in site.tasks.values()]
        urls += [f"/sections/{section_id}" for section_id in site.sections.values()]
        for url in urls:
            body = client.get(url).text
            assert "$argon2" not in body, url
            for secret in secrets:
                assert secret not in body, (username, url)
    api = site.client()
    for path in [
        "/api/v1/tasks",
        f"/api/v1/tasks/{site.tasks['general-doc']}",
        "/api/v1/openapi.json",
    ]:
        body = api.get(path, headers={"Authorization": f"Bearer {site.tokens['cms']}"}).text
        for secret in secrets:
            assert secret not in body, path


def test_feed_token_never_reaches_the_access_log(
    site: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from dashboard.app import RedactFeedTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/ics/{site.tokens['trade-feed']}.ics", "1.1", 200),
        None,
    )
    assert RedactFeedTokens().filter(record)
    assert site.tokens["trade-feed"] not in record.getMessage()
    assert "/ics/…" in record.getMessage()
