"""The interactive Telegram bot: bind a chat, list tasks, mark done, ask for an extension.

``TelegramBot(...).start()`` / ``.stop()`` run python-telegram-bot's ``Application`` with long
polling against ``base_url`` inside the caller's event loop (never ``run_polling()``, which
would block it). One poller per bot token: run the bot in exactly one process.

What people can do (Chinese by default, English with ``lang="en"``):

``/start CODE``  bind this chat with a one-time code from the office
                 (``gongkai person bind-code NAME``); unbound chats get a polite refusal
                 and nothing else
``/tasks``       open tasks, most urgent first, with 已完成 / 申请延期 buttons
``/stats``       this year's on-time rate with its numerator and denominator
``/done N``      the 已完成 button as a command; ``/extend N`` the 申请延期 button
``/pending``     the office: pending extension requests, with approve / reject buttons
``/cancel``      abandon the question the bot is waiting for

已完成 asks for the evidence link (validated as an http(s) URL) and completes the task through
:func:`db.tasks.complete`. A request reply (a task feeding table 三) also needs its outcome
code and service date: the bot asks for both (outcome by buttons, group then code; service
date by button or typed ``YYYY-MM-DD``) rather than sending people to the dashboard, because
a chief who just sent the reply letter is holding exactly that information.

申请延期 offers the amounts the task's rule still allows, asks for a reason and records an
:class:`~db.models.ExtensionRequest`; the office is told and decides (``/pending`` or the
dashboard); the chief is told the decision. Every change goes through the ledger
(:mod:`db.tasks`, :mod:`db.bindings`) and its audit trail.

Who may do what is the ledger's :class:`~db.context.Actor` rule: chiefs and staff act on their
own section, the office on its agency, leaders read only. Actions that change anything are
only accepted in a private chat with the bot: in a group anybody could press a button, and
only a private chat proves who pressed it.

Robustness: a malformed update is logged and skipped (the poll offset still moves past it),
a stale or forged button is answered "no longer valid", and an exception in a handler is
logged and answered with a short apology; none of them stops the polling loop. The clock is
injected (``clock``) and read once per update.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select
from telegram import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from db import bindings
from db import tasks as ops
from db.context import Actor, Domain, PermissionDenied
from db.engine import session_scope
from db.errors import LedgerError, NotFoundError, TransitionError
from db.models import Agency, Person, Role, Section, Task, TaskStatus
from db.queries import list_tasks
from notifier.base import DigestItem, Message
from notifier.bot_texts import COMMANDS, ROLE_NAMES, TEXTS
from notifier.ratelimit import PTBRateLimiter, RateLimiter
from notifier.render import render_telegram
from obligations.explain import day_label
from obligations.outcomes import OUTCOMES, group_label
from obligations.timeliness import Timeliness

log = logging.getLogger("gongkai.bot")

#: Tasks shown by /tasks, and how many of them get buttons (a keyboard stays readable).
LIST_LIMIT = 30
BUTTON_TASKS = 10
#: Failed /start attempts a chat may make per window (codes are 50 bits; this stops noise).
BIND_ATTEMPTS = 5
BIND_WINDOW = dt.timedelta(minutes=15)
#: A question the bot asked expires after this long.
PENDING_TTL = dt.timedelta(minutes=30)
#: Extension amounts offered as buttons (plus the most the rule still allows).
EXTENSION_STEPS = (1, 3, 5, 10, 15, 20)
OUTCOME_GROUPS = ("disclosed", "partial", "refused", "unavailable", "not_handled", "other")
_TASK_ID = re.compile(r"^#?(\d{1,12})$")


@dataclass
class Pending:
    """A question the bot asked in a chat and is waiting to have answered."""

    step: str  # evidence | outcome | service_date | ext_reason
    task_id: int
    person_id: int
    expires_at: dt.datetime
    evidence: str | None = None
    outcome: str | None = None
    amount: int | None = None


@dataclass(frozen=True)
class Who:
    """The bound person behind a chat, as the ledger sees them."""

    person: Person
    actor: Actor
    section: str | None

    @property
    def read_only(self) -> bool:
        return self.person.role == Role.LEADER.value


@dataclass
class _Replies:
    """What a handler answers: text messages (HTML) and optional keyboards."""

    parts: list[tuple[str, InlineKeyboardMarkup | None]] = field(default_factory=list)

    def add(self, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        self.parts.append((text, markup))


class TolerantBot(ExtBot[int]):
    """An ``ExtBot`` that skips updates PTB cannot parse instead of fetching them for ever.

    PTB parses a whole ``getUpdates`` batch at once; one malformed update makes the batch fail,
    the offset never moves past it and every later update waits behind it. Here the batch is
    fetched again without waiting and parsed one by one; an update that cannot be parsed is
    replaced by an empty ``Update`` with its id (no handler matches it) and logged.
    """

    async def get_updates(
        self,
        offset: int | None = None,
        limit: int | None = None,
        timeout: Any = None,
        allowed_updates: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> tuple[Update, ...]:
        try:
            return await super().get_updates(
                offset=offset,
                limit=limit,
                timeout=timeout,
                allowed_updates=allowed_updates,
                **kwargs,
            )
        except TelegramError:
            raise
        except Exception:
            log.warning("an update batch could not be parsed; parsing it update by update")
        raw = await self._post(
            "getUpdates",
            {"offset": offset, "limit": limit, "timeout": 0, "allowed_updates": allowed_updates},
        )
        parsed: list[Update] = []
        for item in raw if isinstance(raw, list) else []:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            if not isinstance(update_id, int):
                log.warning("skipping an update without update_id: %.200r", item)
                continue
            try:
                update = Update.de_json(item, self)
            except Exception as exc:
                log.warning("skipping malformed update %s (%s): %.300r", update_id, exc, item)
                update = Update(update_id=update_id)
            if update is not None:
                self.insert_callback_data(update)
                parsed.append(update)
        return tuple(parsed)


class TelegramBot:
    """The interactive bot over the ledger; ``await start()`` and ``await stop()``."""

    def __init__(
        self,
        *,
        token: str,
        engine: Engine,
        domain: Domain,
        clock: Callable[[], dt.datetime],
        base_url: str | None = None,
        dashboard_url: str | None = None,
        lang: str = "zh",
        limiter: RateLimiter | None = None,
        poll_timeout: int = 10,
        request_timeout: float = 15.0,
        drop_pending_updates: bool = False,
    ) -> None:
        if lang not in TEXTS:
            raise ValueError(f"lang must be one of {', '.join(TEXTS)}, got {lang!r}")
        self.engine = engine
        self.domain = domain
        self.clock = clock
        self.dashboard_url = dashboard_url.rstrip("/") if dashboard_url else None
        self.lang = lang
        self.text = TEXTS[lang]
        self.limiter = limiter if limiter is not None else RateLimiter()
        self.poll_timeout = poll_timeout
        self.drop_pending_updates = drop_pending_updates
        self.pending: dict[int, Pending] = {}
        self._bind_failures: dict[int, deque[dt.datetime]] = defaultdict(deque)
        bot_kwargs: dict[str, Any] = {}
        if base_url:
            bot_kwargs["base_url"] = base_url
        bot = TolerantBot(
            token,
            request=HTTPXRequest(
                connection_pool_size=16,
                read_timeout=request_timeout,
                write_timeout=request_timeout,
                connect_timeout=request_timeout,
                pool_timeout=request_timeout,
            ),
            # Long polls hold a connection for poll_timeout seconds: they get their own pool,
            # with room for the final confirming call PTB makes while stopping.
            get_updates_request=HTTPXRequest(
                connection_pool_size=2,
                read_timeout=request_timeout,
                connect_timeout=request_timeout,
                pool_timeout=request_timeout,
            ),
            defaults=Defaults(
                parse_mode=ParseMode.HTML,
                tzinfo=domain.tz,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            ),
            rate_limiter=PTBRateLimiter(self.limiter),
            **bot_kwargs,
        )
        # No JobQueue: deadlines live in the ledger, never in PTB's in-memory UTC scheduler.
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            Application.builder().bot(bot).job_queue(None).build()
        )
        self._register()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Initialise, publish the command list and start long polling (returns at once).

        Raises ``telegram.error.InvalidToken`` when Telegram refuses the token and
        ``telegram.error.NetworkError`` when the Bot API cannot be reached (nothing runs then).
        """
        app = self.application
        await app.initialize()
        try:
            await app.bot.set_my_commands(
                [BotCommand(name, description) for name, description in COMMANDS[self.lang]]
            )
        except TelegramError as exc:  # a cosmetic step: the bot works without it
            log.warning("could not publish the command list: %s", exc)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            timeout=self.poll_timeout,
            allowed_updates=["message", "callback_query"],
            drop_pending_updates=self.drop_pending_updates,
            error_callback=self._polling_error,
        )
        log.info("Telegram bot polling")

    async def stop(self) -> None:
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    @staticmethod
    def _polling_error(exc: TelegramError) -> None:
        # Network trouble is expected now and then; PTB retries on its own.
        log.warning("polling Telegram failed: %s", exc)

    def _register(self) -> None:
        app = self.application
        app.add_handler(CommandHandler("start", self._on_start))
        app.add_handler(CommandHandler(["tasks", "list"], self._on_tasks))
        app.add_handler(CommandHandler("stats", self._on_stats))
        app.add_handler(CommandHandler("done", self._on_done_command))
        app.add_handler(CommandHandler("extend", self._on_extend_command))
        app.add_handler(CommandHandler("pending", self._on_pending))
        app.add_handler(CommandHandler("cancel", self._on_cancel))
        app.add_handler(CommandHandler("help", self._on_help))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(MessageHandler(filters.COMMAND, self._on_unknown_command))
        app.add_handler(MessageHandler(filters.TEXT, self._on_text))
        app.add_error_handler(self._on_error)

    # --- helpers --------------------------------------------------------------------------

    def raw(self, key: str, **values: Any) -> str:
        """A text as plain text (button labels, titles rendered by notifier.render)."""
        return self.text[key].format(**values)

    def t(self, key: str, **values: Any) -> str:
        """A text ready for HTML parse mode (names and titles may contain ``<`` or ``&``)."""
        return _escape(self.raw(key, **values))

    def _who(self, chat_id: int) -> Who | None:
        with session_scope(self.engine) as session:
            people = bindings.people_of_chat(session, str(chat_id))
            if not people:
                return None
            person = people[0]
            section = session.get(Section, person.section_id) if person.section_id else None
            return Who(
                person=person,
                actor=bindings.actor_for(person),
                section=section.name if section else None,
            )

    def _describe(self, who: Who) -> dict[str, str]:
        role = ROLE_NAMES[self.lang].get(who.person.role, who.person.role)
        section = (
            f"，{who.section}"
            if who.section and self.lang == "zh"
            else (f", {who.section}" if who.section else "")
        )
        return {"name": who.person.name, "role": role, "section": section}

    @staticmethod
    def _private(update: Update) -> bool:
        chat = update.effective_chat
        return chat is not None and chat.type == ChatType.PRIVATE

    async def _send(self, update: Update, replies: _Replies) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        for text, markup in replies.parts:
            await self.application.bot.send_message(chat_id=chat.id, text=text, reply_markup=markup)

    async def _say(
        self, update: Update, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> None:
        replies = _Replies()
        replies.add(text, markup)
        await self._send(update, replies)

    def _ledger_problem(self, exc: LedgerError, task_id: int) -> str:
        if isinstance(exc, PermissionDenied):
            return self.t("denied", id=task_id)
        if isinstance(exc, NotFoundError):
            return self.t("not_found", id=task_id)
        if isinstance(exc, TransitionError):
            return self.t("closed", id=task_id)
        return self.t("failed", reason=str(exc))

    def _load_task(self, who: Who, task_id: int, *, write: bool) -> Task:
        """The task if ``who`` may see it (and act on it); LedgerError otherwise."""
        with session_scope(self.engine) as session:
            task = session.get(Task, task_id)
            if task is None:
                raise NotFoundError(f"task {task_id} does not exist")
            if write:
                who.actor.check_write(task.agency_id, task.section_id)
            else:
                who.actor.check_read(task.agency_id, task.section_id)
            if task.status not in (TaskStatus.OPEN.value, TaskStatus.PAUSED.value):
                raise TransitionError(f"task {task_id} is {task.status}")
            return task

    # --- /start ---------------------------------------------------------------------------

    async def _on_start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        at = self.clock()
        code = " ".join(context.args or []).strip()
        if not code:
            who = self._who(chat.id)
            await self._say(
                update, self.t("hello", **self._describe(who)) if who else self.t("refuse")
            )
            return
        failures = self._bind_failures[chat.id]
        while failures and at - failures[0] > BIND_WINDOW:
            failures.popleft()
        if len(failures) >= BIND_ATTEMPTS:
            await self._say(update, self.t("bind_throttled"))
            return
        try:
            with session_scope(self.engine) as session:
                person, _ = bindings.bind_chat(session, code, str(chat.id), at=at)
                person_id = person.id
        except bindings.BindingError as exc:
            failures.append(at)
            log.info("chat %s failed to bind: %s", chat.id, exc)
            await self._say(update, self.t("bind_failed", reason=self._bind_reason(str(exc))))
            return
        log.info("chat %s bound to person %s", chat.id, person_id)
        who = self._who(chat.id)
        if who is not None:
            await self._say(update, self.t("bound", **self._describe(who)))

    def _bind_reason(self, reason: str) -> str:
        table = dict(
            item.split("=", 1) for item in self.text["bind_reasons"].split("|") if "=" in item
        )
        return table.get(reason, reason)

    # --- /help, /cancel, unknown input ----------------------------------------------------

    async def _on_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        await self._say(update, self.t("help") if self._who(chat.id) else self.t("refuse"))

    async def _on_cancel(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        if self._who(chat.id) is None:
            await self._say(update, self.t("refuse"))
            return
        had = self.pending.pop(chat.id, None)
        await self._say(update, self.t("cancelled") if had else self.t("nothing_to_cancel"))

    async def _on_unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        await self._say(
            update, self.t("unknown_command") if self._who(chat.id) else self.t("refuse")
        )

    # --- /tasks ---------------------------------------------------------------------------

    async def _on_tasks(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        who = self._who(chat.id)
        if who is None:
            await self._say(update, self.t("refuse"))
            return
        at = self.clock()
        with session_scope(self.engine) as session:
            rows = list_tasks(session, who.actor, at=at, status="open", limit=LIST_LIMIT + 1)
            tasks = {
                task.id: task
                for task in session.exec(
                    select(Task).where(col(Task.id).in_([row.id for row in rows]))
                ).all()
            }
        if not rows:
            await self._say(update, self.t("no_tasks"))
            return
        shown = rows[:LIST_LIMIT]
        items = tuple(
            self._item(tasks[row.id], row.section_name, at) for row in shown if row.id in tasks
        )
        actions: tuple[tuple[str, str], ...] = ()
        if not who.read_only:
            urgent = sorted(items, key=lambda i: (i.due_at, i.task_id))[:BUTTON_TASKS]
            actions = tuple(
                pair
                for item in urgent
                for pair in (
                    (self.raw("done_button", id=item.task_id), f"done:{item.task_id}"),
                    (self.raw("ext_button", id=item.task_id), f"ext:{item.task_id}"),
                )
            )
        message = Message(
            recipient=who.person.name,
            title=self.raw(
                "tasks_title", count=len(rows) if len(rows) <= LIST_LIMIT else f"{LIST_LIMIT}+"
            ),
            items=items,
            notice=self.raw("tasks_more", shown=LIST_LIMIT) if len(rows) > LIST_LIMIT else None,
            lang=self.lang,
            link=self.dashboard_url,
            actions=actions,
        )
        parts = render_telegram(message)
        replies = _Replies()
        for index, part in enumerate(parts):
            replies.add(part, _keyboard(actions) if index == len(parts) - 1 else None)
        await self._send(update, replies)

    def _item(self, task: Task, section: str, at: dt.datetime) -> DigestItem:
        assert task.id is not None
        assert task.due_at is not None
        assert task.due_date is not None
        hourly = task.rule.get("deadline", {}).get("unit") == "hour"
        today = at.astimezone(self.domain.tz).date()
        if hourly:
            hours = int((task.due_at - at).total_seconds() // 3600)
            state = "overdue" if hours < 0 else ("due_today" if hours < 1 else "due_soon")
            days = abs(hours)
        elif at >= task.due_at:
            state, days = (
                "overdue",
                max(self.domain.calendar.workdays_between(task.due_date, today), 1),
            )
        elif today >= task.due_date:
            state, days = "due_today", 0
        else:
            state, days = "due_soon", self.domain.calendar.workdays_between(today, task.due_date)
        return DigestItem(
            task_id=task.id,
            title=task.title,
            section=section,
            obligation=task.obligation_code,
            due_at=task.due_at,
            due_date=task.due_date,
            state=state,
            days=days,
            hourly=hourly,
            provisional=task.provisional,
            link=f"{self.dashboard_url}/tasks/{task.id}" if self.dashboard_url else None,
        )

    # --- /stats ---------------------------------------------------------------------------

    async def _on_stats(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        who = self._who(chat.id)
        if who is None:
            await self._say(update, self.t("refuse"))
            return
        at = self.clock()
        year = at.astimezone(self.domain.tz).year
        with session_scope(self.engine) as session:
            lines = on_time_lines(session, who.actor, at=at, tz=self.domain.tz)
        text = [f"<b>{self.t('stats_title', year=year)}</b>"]
        for name, counts in lines:
            label = self.raw("total") if name is None else name
            text.append(_escape(self._stats_line(label, counts)))
        text.append(f"<i>{self.t('stats_basis')}</i>")
        await self._say(update, "\n".join(text))

    def _stats_line(self, name: str, counts: dict[str, int]) -> str:
        denominator = counts["on_time"] + counts["extended"] + counts["late"] + counts["overdue"]
        if not denominator:
            separator = "：" if self.lang == "zh" else ": "
            return f"{name}{separator}{self.raw('stats_none')}"
        rate = (counts["on_time"] + counts["extended"]) / denominator
        return self.raw(
            "stats_line",
            name=name,
            rate=f"{rate * 100:.1f}%",
            denominator=denominator,
            **counts,
        )

    # --- 已完成 ---------------------------------------------------------------------------

    async def _on_done_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        task_id = _task_id(context.args)
        if task_id is None:
            await self._say(update, self.t("usage_done"))
            return
        await self._begin_done(update, task_id)

    async def _begin_done(self, update: Update, task_id: int) -> None:
        who = await self._writer(update)
        if who is None:
            return
        try:
            task = self._load_task(who, task_id, write=True)
        except LedgerError as exc:
            await self._say(update, self._ledger_problem(exc, task_id))
            return
        chat = update.effective_chat
        assert chat is not None
        assert who.person.id is not None
        self.pending[chat.id] = Pending(
            step="evidence",
            task_id=task_id,
            person_id=who.person.id,
            expires_at=self.clock() + PENDING_TTL,
        )
        await self._say(update, self.t("ask_evidence", id=task_id, title=task.title))

    async def _writer(self, update: Update) -> Who | None:
        """The bound person if they may change things from this chat (else answered here)."""
        chat = update.effective_chat
        if chat is None:
            return None
        who = self._who(chat.id)
        if who is None:
            await self._say(update, self.t("refuse"))
            return None
        if not self._private(update):
            await self._say(update, self.t("private_only"))
            return None
        if who.read_only:
            await self._say(update, self.t("read_only"))
            return None
        return who

    async def _on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        message = update.effective_message
        if chat is None or message is None or message.text is None:
            return
        who = self._who(chat.id)
        if who is None:
            await self._say(update, self.t("refuse"))
            return
        pending = self.pending.get(chat.id)
        at = self.clock()
        if pending is None or pending.expires_at <= at or pending.person_id != who.person.id:
            self.pending.pop(chat.id, None)
            await self._say(update, self.t("idle_text"))
            return
        if not self._private(update):
            await self._say(update, self.t("private_only"))
            return
        text = message.text.strip()
        if pending.step == "evidence":
            await self._got_evidence(update, who, pending, text)
        elif pending.step == "service_date":
            await self._got_service_date(update, who, pending, text)
        elif pending.step == "ext_reason":
            await self._got_reason(update, who, pending, text)
        else:  # waiting for a button: repeat the question
            await self._ask_outcome(update, pending.task_id)

    async def _got_evidence(self, update: Update, who: Who, pending: Pending, text: str) -> None:
        try:
            pending.evidence = ops.check_evidence(text)
        except LedgerError:
            await self._say(update, self.t("bad_evidence", text=text[:200]))
            return
        try:
            task = self._load_task(who, pending.task_id, write=True)
        except LedgerError as exc:
            self.pending.pop(_chat_id(update), None)
            await self._say(update, self._ledger_problem(exc, pending.task_id))
            return
        if "table3" in task.rule.get("feeds", []):
            pending.step = "outcome"
            await self._ask_outcome(update, pending.task_id)
            return
        await self._complete(update, who, pending)

    async def _ask_outcome(self, update: Update, task_id: int) -> None:
        buttons = [(self._group_name(group), f"og:{task_id}:{group}") for group in OUTCOME_GROUPS]
        await self._say(update, self.t("ask_outcome", id=task_id), _keyboard(buttons))

    def _group_name(self, group: str) -> str:
        """The group without its number: "（三）不予公开" → "不予公开" (buttons are narrow)."""
        label = group_label(group, self.lang)
        if self.lang != "zh":
            return label
        return label.split("）", 1)[-1].split("（", 1)[0]

    async def _ask_service_date(self, update: Update, task_id: int) -> None:
        today = self.clock().astimezone(self.domain.tz).date()
        yesterday = today - dt.timedelta(days=1)
        buttons = [
            (self.raw("today", date=today.isoformat()[5:]), f"sd:{task_id}:{today.isoformat()}"),
            (
                self.raw("yesterday", date=yesterday.isoformat()[5:]),
                f"sd:{task_id}:{yesterday.isoformat()}",
            ),
        ]
        await self._say(
            update,
            self.t("ask_service_date", example=today.isoformat()),
            _keyboard(buttons),
        )

    async def _got_service_date(
        self, update: Update, who: Who, pending: Pending, text: str
    ) -> None:
        try:
            served = dt.date.fromisoformat(text)
        except ValueError:
            served = None
        task_start = self._task_start(pending.task_id)
        today = self.clock().astimezone(self.domain.tz).date()
        if served is None or served > today or (task_start is not None and served < task_start):
            await self._say(
                update,
                self.t(
                    "bad_date",
                    text=text[:40],
                    start=task_start.isoformat() if task_start else "—",
                ),
            )
            return
        await self._complete(update, who, pending, service_date=served)

    def _task_start(self, task_id: int) -> dt.date | None:
        with session_scope(self.engine) as session:
            task = session.get(Task, task_id)
            return task.start_date if task else None

    async def _complete(
        self, update: Update, who: Who, pending: Pending, *, service_date: dt.date | None = None
    ) -> None:
        chat_id = _chat_id(update)
        at = self.clock()
        try:
            with session_scope(self.engine) as session:
                task = ops.complete(
                    session,
                    pending.task_id,
                    self.domain,
                    actor=who.actor,
                    at=at,
                    evidence=pending.evidence,
                    outcome_code=pending.outcome,
                    service_date=service_date,
                )
                title, timeliness, margin = task.title, task.timeliness, task.working_days_margin
        except LedgerError as exc:
            self.pending.pop(chat_id, None)
            await self._say(update, self._ledger_problem(exc, pending.task_id))
            return
        self.pending.pop(chat_id, None)
        log.info("task %s completed from Telegram by %s", pending.task_id, who.person.name)
        label = Timeliness(timeliness).label(self.lang) if timeliness else ""
        extra = ""
        if margin and margin > 0:
            extra = self.raw("margin_early", days=margin)
        elif margin and margin < 0:
            extra = self.raw("margin_late", days=-margin)
        await self._say(
            update,
            self.t("completed", id=pending.task_id, title=title, timeliness=label, margin=extra),
        )

    # --- 申请延期 ------------------------------------------------------------------------

    async def _on_extend_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        task_id = _task_id(context.args)
        if task_id is None:
            await self._say(update, self.t("usage_extend"))
            return
        await self._begin_extension(update, task_id)

    async def _begin_extension(self, update: Update, task_id: int) -> None:
        who = await self._writer(update)
        if who is None:
            return
        try:
            task = self._load_task(who, task_id, write=True)
        except LedgerError as exc:
            await self._say(update, self._ledger_problem(exc, task_id))
            return
        with session_scope(self.engine) as session:
            units, times = bindings.extension_room(session, task)
        if units <= 0 or times <= 0:
            await self._say(update, self.t("ext_not_allowed", id=task_id, title=task.title))
            return
        unit = bindings.unit_label(task, self.lang)
        amounts = sorted({step for step in EXTENSION_STEPS if step < units} | {units})[-6:]
        buttons = [(f"{amount}{unit}", f"extn:{task_id}:{amount}") for amount in amounts]
        await self._say(
            update,
            self.t("ask_ext_amount", id=task_id, title=task.title, room=units, unit=unit),
            _keyboard(buttons, per_row=3),
        )

    async def _chose_amount(self, update: Update, who: Who, task_id: int, amount: int) -> None:
        try:
            task = self._load_task(who, task_id, write=True)
        except LedgerError as exc:
            await self._say(update, self._ledger_problem(exc, task_id))
            return
        assert who.person.id is not None
        self.pending[_chat_id(update)] = Pending(
            step="ext_reason",
            task_id=task_id,
            person_id=who.person.id,
            expires_at=self.clock() + PENDING_TTL,
            amount=amount,
        )
        unit = bindings.unit_label(task, self.lang)
        await self._say(update, self.t("ask_ext_reason", amount=amount, unit=unit))

    async def _got_reason(self, update: Update, who: Who, pending: Pending, text: str) -> None:
        chat_id = _chat_id(update)
        assert pending.amount is not None
        try:
            with session_scope(self.engine) as session:
                request = bindings.request_extension(
                    session,
                    pending.task_id,
                    actor=who.actor,
                    at=self.clock(),
                    amount=pending.amount,
                    reason=text,
                )
                request_id = request.id
                task = session.get(Task, pending.task_id)
                unit = bindings.unit_label(task, self.lang) if task else ""
        except LedgerError as exc:
            self.pending.pop(chat_id, None)
            await self._say(update, self._ledger_problem(exc, pending.task_id))
            return
        self.pending.pop(chat_id, None)
        await self._say(
            update,
            self.t(
                "ext_requested",
                request=request_id,
                id=pending.task_id,
                amount=pending.amount,
                unit=unit,
            ),
        )

    # --- /pending (the office) ------------------------------------------------------------

    async def _on_pending(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        who = self._who(chat.id)
        if who is None:
            await self._say(update, self.t("refuse"))
            return
        if who.person.role not in (Role.OFFICE.value, Role.GOV_OFFICE.value):
            await self._say(update, self.t("office_only"))
            return
        with session_scope(self.engine) as session:
            found = [
                (request, task, bindings.unit_label(task, self.lang))
                for request, task in bindings.pending_extensions(session, who.actor)
            ]
        if not found:
            await self._say(update, self.t("pending_none"))
            return
        replies = _Replies()
        for request, task, unit in found[:20]:
            text = self.t(
                "pending_item",
                request=request.id,
                who=request.requested_by,
                id=task.id,
                title=task.title,
                amount=request.amount,
                unit=unit,
                reason=request.reason,
            )
            buttons = [
                (self.raw("approve", request=request.id), f"xa:{request.id}"),
                (self.raw("reject", request=request.id), f"xr:{request.id}"),
            ]
            replies.add(text, _keyboard(buttons))
        await self._send(update, replies)

    async def _decide(self, update: Update, who: Who, request_id: int, approve: bool) -> None:
        if who.person.role not in (Role.OFFICE.value, Role.GOV_OFFICE.value):
            await self._say(update, self.t("office_only"))
            return
        try:
            with session_scope(self.engine) as session:
                request = bindings.decide_extension(
                    session,
                    request_id,
                    self.domain,
                    actor=who.actor,
                    at=self.clock(),
                    approve=approve,
                )
                task = session.get(Task, request.task_id)
                due = (
                    day_label(task.due_date, self.lang)
                    if task is not None and task.due_date is not None
                    else "—"
                )
                task_id = request.task_id
        except LedgerError as exc:
            await self._say(update, self.t("failed", reason=str(exc)))
            return
        key = "approved" if approve else "rejected"
        await self._say(update, self.t(key, request=request_id, id=task_id, due=due))

    # --- buttons --------------------------------------------------------------------------

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None or chat is None:
            return
        who = self._who(chat.id)
        if who is None:
            await query.answer(self.raw("refuse")[:200], show_alert=True)
            return
        data = query.data or ""
        kind, _, rest = data.partition(":")
        args = rest.split(":") if rest else []
        handler = self._buttons.get(kind)
        if handler is None or not _valid_args(kind, args):
            log.info("chat %s pressed an unknown button %.80r", chat.id, data)
            await query.answer(self.raw("stale"), show_alert=True)
            return
        await query.answer()
        if kind != "cancel":
            if not self._private(update):
                await self._say(update, self.t("private_only"))
                return
            if who.read_only:
                await self._say(update, self.t("read_only"))
                return
        await handler(self, update, who, args)

    async def _button_done(self, update: Update, who: Who, args: list[str]) -> None:
        await self._begin_done(update, int(args[0]))

    async def _button_extend(self, update: Update, who: Who, args: list[str]) -> None:
        await self._begin_extension(update, int(args[0]))

    async def _button_amount(self, update: Update, who: Who, args: list[str]) -> None:
        await self._chose_amount(update, who, int(args[0]), int(args[1]))

    def _pending_for(self, update: Update, who: Who, task_id: int, step: str) -> Pending | None:
        pending = self.pending.get(_chat_id(update))
        if (
            pending is None
            or pending.task_id != task_id
            or pending.step != step
            or pending.person_id != who.person.id
            or pending.expires_at <= self.clock()
        ):
            return None
        return pending

    async def _button_outcome_group(self, update: Update, who: Who, args: list[str]) -> None:
        task_id, group = int(args[0]), args[1]
        if self._pending_for(update, who, task_id, "outcome") is None:
            await self._say(update, self.t("stale"))
            return
        buttons = [
            (outcome.zh if self.lang == "zh" else outcome.en, f"oc:{task_id}:{outcome.code}")
            for outcome in OUTCOMES
            if outcome.group == group
        ]
        await self._say(update, self.t("ask_outcome_code"), _keyboard(buttons, per_row=1))

    async def _button_outcome(self, update: Update, who: Who, args: list[str]) -> None:
        task_id, code = int(args[0]), args[1]
        pending = self._pending_for(update, who, task_id, "outcome")
        if pending is None:
            await self._say(update, self.t("stale"))
            return
        pending.outcome = code
        pending.step = "service_date"
        await self._ask_service_date(update, task_id)

    async def _button_service_date(self, update: Update, who: Who, args: list[str]) -> None:
        task_id = int(args[0])
        pending = self._pending_for(update, who, task_id, "service_date")
        if pending is None:
            await self._say(update, self.t("stale"))
            return
        await self._got_service_date(update, who, pending, args[1])

    async def _button_approve(self, update: Update, who: Who, args: list[str]) -> None:
        await self._decide(update, who, int(args[0]), approve=True)

    async def _button_reject(self, update: Update, who: Who, args: list[str]) -> None:
        await self._decide(update, who, int(args[0]), approve=False)

    async def _button_cancel(self, update: Update, who: Who, args: list[str]) -> None:
        had = self.pending.pop(_chat_id(update), None)
        await self._say(update, self.t("cancelled") if had else self.t("nothing_to_cancel"))

    _buttons: ClassVar[dict[str, Callable[[TelegramBot, Update, Who, list[str]], Any]]] = {
        "done": _button_done,
        "ext": _button_extend,
        "extn": _button_amount,
        "og": _button_outcome_group,
        "oc": _button_outcome,
        "sd": _button_service_date,
        "xa": _button_approve,
        "xr": _button_reject,
        "cancel": _button_cancel,
    }

    # --- errors ---------------------------------------------------------------------------

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Log a handler's exception and apologise; the polling loop carries on."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("handling update %s failed", update_id, exc_info=context.error)
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        try:
            await self.application.bot.send_message(
                chat_id=update.effective_chat.id, text=self.t("error")
            )
        except TelegramError as exc:
            log.warning("could not tell chat %s about the error: %s", update.effective_chat.id, exc)


# --------------------------------------------------------------------------- statistics


def on_time_lines(
    session: Session, actor: Actor, *, at: dt.datetime, tz: dt.tzinfo
) -> list[tuple[str | None, dict[str, int]]]:
    """This year's timeliness counts: per section for the actor's scope, plus a total.

    Counts the tasks *due* this year (in the agency's zone), not cancelled: closed ones by
    their stored timeliness, open or paused ones past their due moment as overdue. Chiefs
    and staff see their section; the office, leaders and the 政务公开办 see every section of
    their scope and the total.
    """
    year = at.astimezone(tz).year
    statement = (
        select(Task, Section, Agency)
        .join(Section, col(Section.id) == col(Task.section_id))
        .join(Agency, col(Agency.id) == col(Task.agency_id))
        .where(
            col(Task.due_date) >= dt.date(year, 1, 1),
            col(Task.due_date) <= dt.date(year, 12, 31),
            col(Task.status) != TaskStatus.CANCELLED.value,
        )
    )
    own_section = actor.role in (Role.CHIEF.value, Role.STAFF.value)
    if not actor.all_agencies:
        statement = statement.where(col(Task.agency_id) == actor.agency_id)
        if own_section:
            statement = statement.where(col(Task.section_id) == actor.section_id)
    per_section: dict[str, dict[str, int]] = {}
    total = _counts()
    for task, section, agency in session.exec(statement).all():
        # The 政务公开办 sees every agency, each with its own 办公室: name the agency too.
        name = f"{agency.name} {section.name}" if actor.all_agencies else section.name
        counts = per_section.setdefault(name, _counts())
        key = _bucket(task, at)
        if key is None:
            continue
        counts[key] += 1
        total[key] += 1
    lines: list[tuple[str | None, dict[str, int]]] = sorted(per_section.items())
    if own_section:
        if not lines:
            own = session.get(Section, actor.section_id) if actor.section_id else None
            lines = [(own.name if own else "—", _counts())]
        return lines
    return [*lines, (None, total)]


def _counts() -> dict[str, int]:
    return {"on_time": 0, "extended": 0, "late": 0, "overdue": 0}


def _bucket(task: Task, at: dt.datetime) -> str | None:
    if task.status == TaskStatus.DONE.value:
        return {
            Timeliness.ON_TIME.value: "on_time",
            Timeliness.EXTENDED_ON_TIME.value: "extended",
            Timeliness.LATE.value: "late",
        }.get(task.timeliness or "")
    if task.due_at is not None and task.due_at <= at:
        return "overdue"
    return None


# --------------------------------------------------------------------------- small helpers


def _escape(text: str) -> str:
    """Text for HTML parse mode (the bot's default)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    assert chat is not None
    return chat.id


def _task_id(args: Sequence[str] | None) -> int | None:
    if not args or len(args) != 1:
        return None
    match = _TASK_ID.match(args[0].strip())
    return int(match.group(1)) if match else None


def _keyboard(
    buttons: Sequence[tuple[str, str]], *, per_row: int = 2
) -> InlineKeyboardMarkup | None:
    if not buttons:
        return None
    made = [InlineKeyboardButton(label, callback_data=data) for label, data in buttons]
    return InlineKeyboardMarkup([made[i : i + per_row] for i in range(0, len(made), per_row)])


_ARGUMENTS = {
    "done": (r"\d{1,12}",),
    "ext": (r"\d{1,12}",),
    "extn": (r"\d{1,12}", r"\d{1,4}"),
    "og": (r"\d{1,12}", "|".join(OUTCOME_GROUPS)),
    "oc": (r"\d{1,12}", "|".join(re.escape(outcome.code) for outcome in OUTCOMES)),
    "sd": (r"\d{1,12}", r"\d{4}-\d{2}-\d{2}"),
    "xa": (r"\d{1,12}",),
    "xr": (r"\d{1,12}",),
    "cancel": (),
}


def _valid_args(kind: str, args: list[str]) -> bool:
    """Whether a button's arguments have the shape its kind expects (buttons can be forged)."""
    patterns = _ARGUMENTS.get(kind)
    if patterns is None or len(patterns) != len(args):
        return False
    return all(re.fullmatch(pattern, arg) for pattern, arg in zip(patterns, args, strict=True))
