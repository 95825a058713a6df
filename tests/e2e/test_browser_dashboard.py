"""The dashboard in a real browser: Playwright driving Debian's Chromium headless.

One uvicorn on 127.0.0.1 serves a seeded SQLite ledger for the module; each test opens a
fresh browser context (its own cookies). Screenshots go to ``test-artifacts/`` (gitignored),
so a failure can be looked at afterwards. The browser is the system's ``/usr/bin/chromium``
(``dev.py``'s TEST_APT_PACKAGES installs it); Playwright never downloads one.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dashboard_support as support  # registered by tests/conftest.py
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TZ = ZoneInfo("Asia/Shanghai")
AT = dt.datetime(2026, 11, 27, 10, 0, tzinfo=TZ)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (/usr/bin/chromium)"),
]


NOTICE_2027 = """year: 2027
title: 国务院办公厅关于2027年部分节假日安排的通知
number: 国办发明电〔2026〕9号
holidays:
  - {name: 元旦, from: 2027-01-01, to: 2027-01-03}
  - {name: 春节, from: 2027-02-06, to: 2027-02-13}
makeup_workdays:
  - {date: 2027-02-14, for: 春节}
"""


def _seed_org(engine: Any) -> None:
    from db.engine import session_scope
    from db.models import Agency, Person, Section

    with session_scope(engine) as session:
        agency = Agency(
            code="xm-commerce", name="厦门市商务局", created_at=dt.datetime(2026, 1, 1, tzinfo=TZ)
        )
        session.add(agency)
        session.flush()
        sections = {}
        for code, name in [
            ("office", "办公室"),
            ("general", "综合科"),
            ("foreign-trade", "外贸科"),
            ("foreign-investment", "外资科"),
        ]:
            sections[code] = Section(agency_id=agency.id or 0, code=code, name=name)
            session.add(sections[code])
        session.flush()
        session.add(
            Person(
                agency_id=agency.id or 0,
                section_id=sections["foreign-trade"].id,
                name="王外贸",
                role="chief",
            )
        )
        session.add(
            Person(
                agency_id=agency.id or 0,
                section_id=sections["office"].id,
                name="李办公",
                role="office",
            )
        )
        session.add(Person(agency_id=agency.id or 0, section_id=None, name="赵局长", role="leader"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from argon2 import PasswordHasher

    from db import users
    from db.context import Domain
    from db.engine import make_engine
    from db.migrate import upgrade
    from obligations.catalog import load_catalog
    from obligations.workdays import default_calendar

    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # fast logins
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'ledger.db'}")
    upgrade(engine)
    _seed_org(engine)
    domain = Domain(catalog=load_catalog(), calendar=default_calendar(), tz=TZ)
    with support.running(support.build_site(engine, domain, AT)) as running:
        yield running
    engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, site: Any) -> Iterator[Any]:
    context = browser.new_context(
        base_url=site.url, locale="zh-CN", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", support.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


@pytest.mark.parametrize("username", ["office", "trade", "leader", "gov"])
def test_login_for_each_role(page: Any, username: str) -> None:
    login(page, username)
    who = page.get_by_test_id("who").inner_text()
    assert who.startswith(username)
    page.wait_for_selector("#trend[data-rendered='1']")  # ECharts, served by the app itself
    shot(page, f"overview-{username}")


def test_wrong_password_stays_on_the_login_page(page: Any) -> None:
    page.goto("/login")
    page.fill("input[name=username]", "office")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert "用户名或密码错误" in page.locator(".error").inner_text()
    shot(page, "login-refused")


def test_overdue_board_with_filters(page: Any, site: Any) -> None:
    from playwright.sync_api import expect

    login(page, "office")
    page.goto("/board")
    rows = page.locator("table[data-testid=board] tbody tr[data-task]")
    assert rows.count() == 3
    page.select_option("[data-testid=filter-section]", str(site.sections["foreign-trade"]))
    expect(rows).to_have_count(2)  # htmx swapped the rows in
    assert "section=" in page.url  # htmx pushed the filter into the address
    page.select_option("[data-testid=filter-section]", "")
    page.fill("[data-testid=filter-days]", "11")
    page.press("[data-testid=filter-days]", "Enter")
    expect(page).to_have_url(re.compile(r"days=11"))
    expect(rows).to_have_count(2)
    shot(page, "board-filtered")
    with page.expect_download() as download:
        page.click("[data-testid=export-xlsx]")
    assert download.value.suggested_filename.endswith(".xlsx")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto("/board")
    shot(page, "board-phone")


def test_complete_a_task_with_evidence(page: Any, site: Any) -> None:
    login(page, "office")
    page.goto(f"/tasks/{site.tasks['general-doc']}")
    page.fill("#form-complete input[name=evidence]", "not a link")
    page.click("#form-complete button[type=submit]")
    # The browser's own url check, or ours: either way nothing is saved.
    assert page.get_by_test_id("task-status").inner_text() == "办理中"
    # Past the browser's own url check, to see the server's refusal at the field.
    page.locator("#form-complete input[name=evidence]").evaluate(
        "input => { input.type = 'text'; }"
    )
    page.fill("#form-complete input[name=evidence]", "javascript:alert(1)")
    page.click("#form-complete button[type=submit]")
    assert page.locator("#form-complete [data-field=evidence]").is_visible()
    page.fill(
        "#form-complete input[name=evidence]", "https://www.xm.gov.cn/zwgk/zcjd/202611/1.html"
    )
    page.click("#form-complete button[type=submit]")
    page.wait_for_selector(".flash")
    assert page.get_by_test_id("task-status").inner_text() == "已完成"
    assert "zcjd/202611/1.html" in page.get_by_test_id("evidence").inner_text()
    shot(page, "task-completed")


def test_extension_request_and_approval(browser: Any, site: Any) -> None:
    task_url = f"/tasks/{site.tasks['request-reply']}"
    chief_context = browser.new_context(base_url=site.url)
    chief = chief_context.new_page()
    login(chief, "trade")
    chief.goto(task_url)
    chief.fill("#form-request_extension input[name=amount]", "10")
    chief.fill(
        "#form-request_extension textarea[name=reason]", "需征求第三方意见（条例第三十二条）"
    )
    chief.click("#form-request_extension button[type=submit]")
    chief.wait_for_selector("[data-testid=extension-requests]")
    shot(chief, "extension-requested")
    chief_context.close()

    office_context = browser.new_context(base_url=site.url)
    office = office_context.new_page()
    login(office, "office")
    office.goto("/extensions")
    office.click(f"a[href='{task_url}#actions']")
    office.click("#form-decide_extension button[value=approve]")
    office.wait_for_selector(".flash")
    assert "已延期" in office.locator("[data-testid=due]").inner_text()
    assert "已批准" in office.locator("[data-testid=extension-requests]").inner_text()
    shot(office, "extension-approved")
    office_context.close()


def test_chief_cannot_open_another_sections_task(page: Any, site: Any) -> None:
    login(page, "trade")
    answer = page.goto(f"/tasks/{site.tasks['invest-doc']}")
    assert answer is not None
    assert answer.status == 403
    assert "无权访问" in page.locator("h1").inner_text()
    shot(page, "chief-refused")


def test_upload_a_notice(page: Any, tmp_path: Path) -> None:
    login(page, "office")
    page.goto("/notices")
    notice = tmp_path / "2027.yaml"
    notice.write_text(NOTICE_2027, encoding="utf-8")
    page.set_input_files("[data-testid=notice-file]", str(notice))
    page.click("#notice-form button[type=submit]")
    page.wait_for_selector("[data-testid=notice-result]")
    assert "2027" in page.get_by_test_id("notice-result").inner_text()
    shot(page, "notice-loaded")
    page.goto("/calendar?month=2027-02")
    assert page.locator("td.day.makeup[data-date='2027-02-14']").count() == 1
    shot(page, "calendar-2027-02")


def test_english_switch(page: Any) -> None:
    login(page, "leader")
    page.click("a.lang")
    page.wait_for_selector("text=Overdue board")
    shot(page, "overview-english")


def test_office_adds_a_login_who_changes_their_password(browser: Any, site: Any) -> None:
    office = browser.new_context(base_url=site.url, locale="zh-CN")
    page = office.new_page()
    login(page, "office")
    page.click("a[href='/users']")
    page.fill("[data-testid=add-user] input[name=username]", "liu")
    page.select_option("[data-testid=add-user] select[name=role]", "chief")
    page.select_option(
        "[data-testid=add-user] select[name=section]", str(site.sections["foreign-trade"])
    )
    page.fill("[data-testid=add-user] input[name=password]", "first password 0001")
    page.fill("[data-testid=add-user] input[name=password_again]", "first password 0001")
    page.click("[data-testid=add-user] button[type=submit]")
    page.wait_for_selector("tr[data-user=liu]")
    assert "已添加用户 liu" in page.locator(".flash").inner_text()
    shot(page, "users-added")
    office.close()

    chief = browser.new_context(base_url=site.url, locale="zh-CN")
    page = chief.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "liu")
    page.fill("input[name=password]", "first password 0001")
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    page.get_by_test_id("who").click()
    page.fill("[data-testid=change-password] input[name=current]", "first password 0001")
    page.fill("[data-testid=change-password] input[name=password]", "my own password 0002")
    page.fill("[data-testid=change-password] input[name=password_again]", "my own password 0002")
    page.click("[data-testid=change-password] button[type=submit]")
    assert "密码已修改" in page.locator(".flash").inner_text()
    shot(page, "account-password-changed")
    chief.close()


def test_deadline_calculator(page: Any) -> None:
    login(page, "trade")
    page.click("a[href='/deadline']")
    page.select_option("[data-testid=deadline-form] select[name=obligation]", "request-reply")
    page.fill("[data-testid=deadline-form] input[name=start]", "2026-11-20")
    page.fill("[data-testid=deadline-form] input[name=restart]", "2026-11-25")
    page.click("[data-testid=deadline-form] button[type=submit]")
    assert page.get_by_test_id("calculated-due").locator("b").inner_text() == "2026-12-23 24:00"
    assert page.get_by_test_id("explanation").locator("li").count() >= 3
    shot(page, "deadline-calculator")
