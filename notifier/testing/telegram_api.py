"""A fake Telegram Bot API on 127.0.0.1 for tests and the benchmark.

Point python-telegram-bot at it with ``base_url=api.base_url`` and the fake's token. It
implements the methods gongkai uses (getMe, sendMessage, getUpdates with long polling,
answerCallbackQuery, editMessageText, editMessageReplyMarkup, setMyCommands,
getMyCommands, deleteWebhook, getWebhookInfo), answers unknown methods 404 like the real
server, and records every call with its arrival time.

Tests script the other side of the conversation:

- :meth:`FakeTelegramAPI.say` / :meth:`command` / :meth:`press` / :meth:`feed` queue
  updates (a chat message, a command with its ``bot_command`` entity, a button press, or
  any raw JSON — malformed on purpose if need be) for ``getUpdates``;
- :meth:`block`, :meth:`forget`, :meth:`migrate`, :meth:`flood` make later sends fail as
  the real API does: 403 blocked, 400 chat not found, 400 with ``migrate_to_chat_id``, 429
  with ``retry_after``;
- HTML is checked (allowed tags, nesting, 4,096 characters after parsing), so a rendering
  bug fails here as it would in production.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from types import TracebackType
from typing import Any

from notifier.testing.http import LoopbackServer, Request, Response

DEFAULT_TOKEN = "123456:TEST-token-for-the-fake-api"
BOT_USER = {
    "id": 777000111,
    "is_bot": True,
    "first_name": "gongkai",
    "username": "gongkai_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
#: Tags Telegram's HTML parse mode accepts.
ALLOWED_TAGS = frozenset(
    [
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    ]
)
MESSAGE_LIMIT = 4096


@dataclass
class ApiCall:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200

    @property
    def chat_id(self) -> str | None:
        value = self.params.get("chat_id")
        return None if value is None else str(value)


@dataclass
class SentMessage:
    """A message the bot sent (or edited) successfully."""

    chat_id: str
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float

    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback data) of the inline keyboard, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class _Rule:
    kind: str  # blocked | not_found | migrated | flood
    times: int | None = None  # None: for ever
    retry_after: int = 0
    new_chat_id: int = 0


class _HtmlCheck(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problem = self.problem or f'unexpected end tag "{tag}"'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def check_html(text: str) -> tuple[str | None, str]:
    """(problem or None, the text as Telegram shows it after parsing the HTML)."""
    parser = _HtmlCheck()
    parser.feed(text)
    parser.close()
    if parser.stack and parser.problem is None:
        parser.problem = f'can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    return parser.problem, "".join(parser.text)


def utf16_length(text: str) -> int:
    """Telegram counts message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class FakeTelegramAPI:
    """The fake server; use as ``async with FakeTelegramAPI() as api:``."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        clock: Callable[[], float] = time.time,
        max_poll_seconds: float = 1.0,
        latency: float = 0.0,
    ) -> None:
        self.token = token
        self.clock = clock
        #: Seconds every answer takes, like a Bot API across the internet (arrival is
        #: recorded before the wait).
        self.latency = latency
        #: Long polls are cut short so tests and shutdowns never wait for a full timeout.
        self.max_poll_seconds = max_poll_seconds
        self.calls: list[ApiCall] = []
        self.sent: list[SentMessage] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self._server = LoopbackServer(self._handle)
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._rules: dict[str, list[_Rule]] = defaultdict(list)
        self._global_rules: list[_Rule] = []
        self._waiters: set[asyncio.Future[None]] = set()

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def base_url(self) -> str:
        """What to pass as PTB's ``base_url`` (the token is appended by PTB)."""
        return f"{self._server.url}/bot"

    async def start(self) -> FakeTelegramAPI:
        await self._server.start()
        return self

    async def stop(self) -> None:
        self._notify()
        await self._server.stop()

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- scripting failures ---------------------------------------------------------------

    def block(self, chat_id: int | str, *, times: int | None = None) -> None:
        """Sends to ``chat_id`` answer 403 "Forbidden: bot was blocked by the user"."""
        self._rules[str(chat_id)].append(_Rule("blocked", times))

    def forget(self, chat_id: int | str, *, times: int | None = None) -> None:
        """Sends to ``chat_id`` answer 400 "Bad Request: chat not found"."""
        self._rules[str(chat_id)].append(_Rule("not_found", times))

    def migrate(self, chat_id: int | str, new_chat_id: int) -> None:
        """The group ``chat_id`` became supergroup ``new_chat_id`` (400 with migrate_to_chat_id)."""
        self._rules[str(chat_id)].append(_Rule("migrated", None, new_chat_id=new_chat_id))

    def flood(self, retry_after: int, *, chat_id: int | str | None = None, times: int = 1) -> None:
        """The next ``times`` sends (to ``chat_id``, or any chat) answer 429 with retry_after."""
        rule = _Rule("flood", times, retry_after=retry_after)
        if chat_id is None:
            self._global_rules.append(rule)
        else:
            self._rules[str(chat_id)].append(rule)

    def _failure(self, chat_id: str) -> Response | None:
        for rules in (self._rules.get(chat_id, []), self._global_rules):
            for rule in list(rules):
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        rules.remove(rule)
                return self._error_for(rule)
        return None

    @staticmethod
    def _error_for(rule: _Rule) -> Response:
        if rule.kind == "blocked":
            return _error(403, "Forbidden: bot was blocked by the user")
        if rule.kind == "not_found":
            return _error(400, "Bad Request: chat not found")
        if rule.kind == "migrated":
            return _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": rule.new_chat_id},
            )
        return _error(
            429,
            f"Too Many Requests: retry after {rule.retry_after}",
            {"retry_after": rule.retry_after},
        )

    # --- scripting the users --------------------------------------------------------------

    def feed(self, update: dict[str, Any]) -> int:
        """Queue a raw update (``update_id`` is added when missing); returns its id."""
        if "update_id" not in update:
            update = {"update_id": next(self._update_ids), **update}
        self._updates.append(update)
        self._notify()
        return int(update["update_id"])

    def _chat(self, chat_id: int, chat_type: str | None, name: str) -> dict[str, Any]:
        kind = chat_type or ("private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": kind}
        if kind == "private":
            chat["first_name"] = name
        else:
            chat["title"] = f"{name} 的群"
        return chat

    def say(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        name: str = "测试用户",
        chat_type: str | None = None,
    ) -> int:
        """A user writes ``text`` in ``chat_id`` (a command gets its bot_command entity)."""
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(self.clock()),
            "chat": self._chat(chat_id, chat_type, name),
            "from": {"id": user_id or abs(chat_id), "is_bot": False, "first_name": name},
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_length(command)}
            ]
        return self.feed({"message": message})

    def command(self, chat_id: int, command: str, *args: str, **kwargs: Any) -> int:
        """``/command arg …`` from ``chat_id``."""
        return self.say(chat_id, " ".join([f"/{command.lstrip('/')}", *args]), **kwargs)

    def press(
        self,
        chat_id: int,
        data: str,
        *,
        message_id: int | None = None,
        user_id: int | None = None,
        name: str = "测试用户",
        chat_type: str | None = None,
    ) -> int:
        """A user presses the inline button with callback ``data`` under one of our messages."""
        if message_id is None:
            mine = [m.message_id for m in self.sent if m.chat_id == str(chat_id)]
            message_id = mine[-1] if mine else next(self._message_ids)
        query = {
            "id": str(next(self._update_ids) * 1000),
            "from": {"id": user_id or abs(chat_id), "is_bot": False, "first_name": name},
            "chat_instance": f"ci-{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(self.clock()),
                "chat": self._chat(chat_id, chat_type, name),
                "from": BOT_USER,
                "text": "…",
            },
        }
        return self.feed({"callback_query": query})

    # --- looking at what happened ---------------------------------------------------------

    def messages_to(self, chat_id: int | str) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == str(chat_id)]

    def texts_to(self, chat_id: int | str) -> list[str]:
        return [m.text for m in self.messages_to(chat_id)]

    def calls_of(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    async def wait_for(
        self, predicate: Callable[[FakeTelegramAPI], bool], *, timeout: float = 10.0
    ) -> None:
        """Wait until ``predicate(self)`` holds (checked after every call the fake serves)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate(self):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError("the fake Telegram API did not see what the test waited for")
            await self._changes(min(left, 0.5))

    async def wait_for_text(
        self, chat_id: int | str, fragment: str, *, timeout: float = 10.0
    ) -> SentMessage:
        """Wait until a message to ``chat_id`` contains ``fragment``; returns it."""

        def found(api: FakeTelegramAPI) -> bool:
            return any(fragment in text for text in api.texts_to(chat_id))

        await self.wait_for(found, timeout=timeout)
        return next(m for m in self.messages_to(chat_id) if fragment in m.text)

    async def wait_idle(self, *, timeout: float = 10.0) -> None:
        """Wait until every queued update has been fetched and confirmed by the poller."""
        await self.wait_for(lambda api: not api._updates, timeout=timeout)

    def per_chat_violations(self, min_interval: float = 1.0) -> list[tuple[str, float]]:
        """(chat, gap) for consecutive sendMessage arrivals to one chat closer than allowed."""
        last: dict[str, float] = {}
        found: list[tuple[str, float]] = []
        for call in self.calls_of("sendMessage"):
            chat = call.chat_id or ""
            if chat in last and call.at - last[chat] < min_interval:
                found.append((chat, call.at - last[chat]))
            last[chat] = call.at
        return found

    def max_per_window(self, window: float = 1.0, method: str = "sendMessage") -> int:
        """The most calls of ``method`` that arrived within any ``window`` seconds."""
        times = [c.at for c in self.calls_of(method)]
        best = 0
        start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    # --- the API --------------------------------------------------------------------------

    def _notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def _changes(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for the next call or queued update."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

    async def _handle(self, request: Request) -> Response:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith("/bot"):
            return _error(404, "Not Found")
        if not request.path.startswith(prefix):
            return _error(401, "Unauthorized")
        method = request.path[len(prefix) :]
        params = request.params()
        call = ApiCall(method=method, params=params, at=time.monotonic())
        self.calls.append(call)
        if self.latency and method != "getUpdates":
            await asyncio.sleep(self.latency)
        try:
            handler = getattr(self, f"_m_{method}", None)
            if handler is None:
                response = _error(404, "Not Found")
            else:
                response = await handler(params)
        finally:
            self._notify()
        call.status = response.status
        return response

    async def _m_getMe(self, params: dict[str, Any]) -> Response:  # noqa: N802
        return _ok(BOT_USER)

    async def _m_deleteWebhook(self, params: dict[str, Any]) -> Response:  # noqa: N802
        if str(params.get("drop_pending_updates", "")).lower() == "true":
            self._updates.clear()
        return _ok(True)

    async def _m_getWebhookInfo(self, params: dict[str, Any]) -> Response:  # noqa: N802
        return _ok(
            {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        )

    async def _m_setMyCommands(self, params: dict[str, Any]) -> Response:  # noqa: N802
        commands = params.get("commands", "[]")
        self.commands = json.loads(commands) if isinstance(commands, str) else list(commands)
        return _ok(True)

    async def _m_getMyCommands(self, params: dict[str, Any]) -> Response:  # noqa: N802
        return _ok(self.commands)

    async def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Response:  # noqa: N802
        if not params.get("callback_query_id"):
            return _error(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers.append(params)
        return _ok(True)

    async def _m_getUpdates(self, params: dict[str, Any]) -> Response:  # noqa: N802
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = min(float(params.get("timeout") or 0), self.max_poll_seconds)
        while self._updates and offset and int(self._updates[0].get("update_id", 0)) < offset:
            self._updates.popleft()  # confirmed by the offset
        if not self._updates and timeout > 0:
            await self._changes(timeout)
        batch = [u for u in self._updates if int(u.get("update_id", 0)) >= offset][:limit]
        return _ok(batch)

    def _message(
        self, chat_id: Any, text: str, params: dict[str, Any], message_id: int
    ) -> dict[str, Any]:
        chat_key = str(chat_id)
        numeric = int(chat_key) if chat_key.lstrip("-").isdigit() else -1001
        kind = (
            "private" if numeric > 0 else ("channel" if chat_key.startswith("@") else "supergroup")
        )
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(self.clock()),
            "chat": {
                "id": numeric,
                "type": kind,
                **({"first_name": "用户"} if kind == "private" else {"title": "群"}),
            },
            "from": BOT_USER,
            "text": text,
        }
        markup = _markup(params)
        if markup:
            result["reply_markup"] = markup
        return result

    @staticmethod
    def _validate_markup(markup: dict[str, Any] | None) -> Response | None:
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if not str(button.get("text", "")).strip():
                    return _error(400, "Bad Request: BUTTON_TEXT_EMPTY")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        return None

    def _validate_text(self, text: str, parse_mode: str | None) -> Response | None:
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        shown = text
        if parse_mode and parse_mode.upper() == "HTML":
            problem, shown = check_html(text)
            if problem:
                return _error(400, f"Bad Request: can't parse entities: {problem}")
        if utf16_length(html.unescape(shown) if not parse_mode else shown) > MESSAGE_LIMIT:
            return _error(400, "Bad Request: message is too long")
        return None

    async def _m_sendMessage(self, params: dict[str, Any]) -> Response:  # noqa: N802
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return _error(400, "Bad Request: chat_id is empty")
        failure = self._failure(str(chat_id))
        if failure is not None:
            return failure
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        invalid = self._validate_text(text, parse_mode) or self._validate_markup(_markup(params))
        if invalid is not None:
            return invalid
        message_id = next(self._message_ids)
        self.sent.append(
            SentMessage(
                str(chat_id), message_id, text, parse_mode, _markup(params), time.monotonic()
            )
        )
        return _ok(self._message(chat_id, text, params, message_id))

    async def _m_editMessageText(self, params: dict[str, Any]) -> Response:  # noqa: N802
        chat_id = params.get("chat_id")
        text = str(params.get("text", ""))
        invalid = self._validate_text(text, params.get("parse_mode"))
        if invalid is not None:
            return invalid
        message_id = int(params.get("message_id") or 0)
        for message in self.sent:
            if message.chat_id == str(chat_id) and message.message_id == message_id:
                message.text = text
                message.reply_markup = _markup(params)
                return _ok(self._message(chat_id, text, params, message_id))
        return _error(400, "Bad Request: message to edit not found")

    async def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Response:  # noqa: N802
        chat_id = params.get("chat_id")
        message_id = int(params.get("message_id") or 0)
        for message in self.sent:
            if message.chat_id == str(chat_id) and message.message_id == message_id:
                message.reply_markup = _markup(params)
                return _ok(self._message(chat_id, message.text, params, message_id))
        return _error(400, "Bad Request: message to edit not found")


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    value = params.get("reply_markup")
    if value in (None, ""):
        return None
    if isinstance(value, str):
        parsed = json.loads(value)
        return parsed if isinstance(parsed, dict) else None
    return value if isinstance(value, dict) else None


def _ok(result: Any) -> Response:
    return Response.json({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Response.json(body, status=code)
