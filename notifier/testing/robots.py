"""Local receivers for the WeCom, DingTalk and Feishu group robots.

Each one serves its service's webhook path on 127.0.0.1, knows which robots exist (key or
token, optional signing secret), checks what the real service checks and answers with the
service's result codes:

- WeCom ``/cgi-bin/webhook/send?key=K``: unknown key → ``93000 invalid webhook url``; a
  markdown content over 4,096 bytes → ``40058``; more than 20 a minute → ``45009``.
- DingTalk ``/robot/send?access_token=T[&timestamp=&sign=]``: unknown token → ``300001``;
  a robot with a secret verifies ``sign`` (HMAC-SHA256 keyed by the secret over
  "timestamp\\nsecret", base64) and a timestamp within an hour → ``310000``; more than 20 a
  minute → ``130101``.
- Feishu ``/open-apis/bot/v2/hook/T`` with ``timestamp``/``sign`` in the JSON body: unknown
  token → ``19001``; a bad signature (HMAC-SHA256 keyed by "timestamp\\nsecret" over an
  empty message, base64) or a stale timestamp → ``19021``; more than 100 a minute → ``9499``.

Everything accepted is kept in ``messages``; everything refused in ``refused``.
``fail_next`` queues a canned answer (e.g. a 500, a throttling code) for the next request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from notifier.testing.http import LoopbackServer, Request, Response

SIGNATURE_WINDOW_SECONDS = 3600


@dataclass
class RobotMessage:
    """One request a receiver accepted (or refused, with its answer code)."""

    token: str
    payload: dict[str, Any]
    at: float
    code: int = 0
    query: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The visible text, whatever the message shape."""
        markdown = self.payload.get("markdown", {})
        if "content" in markdown:
            return str(markdown["content"])
        if "text" in markdown:
            return str(markdown["text"])
        card = self.payload.get("card", {})
        if card:
            title = card.get("header", {}).get("title", {}).get("content", "")
            body = "\n".join(str(e.get("content", "")) for e in card.get("elements", []))
            return f"{title}\n{body}"
        return str(self.payload.get("text", {}).get("content", ""))


class _Receiver:
    """Shared machinery: robots, throttling, canned failures, the loopback server."""

    service = "robot"
    per_minute = 20

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.robots: dict[str, str | None] = {}
        self.messages: list[RobotMessage] = []
        self.refused: list[RobotMessage] = []
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._canned: deque[tuple[int, dict[str, Any]]] = deque()
        self._server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return self._server.url

    def add_robot(self, token: str, secret: str | None = None) -> None:
        """A robot that exists, with its signing secret if it is secured by signature."""
        self.robots[token] = secret

    def fail_next(self, body: dict[str, Any], *, status: int = 200, times: int = 1) -> None:
        for _ in range(times):
            self._canned.append((status, body))

    def texts_to(self, token: str) -> list[str]:
        return [m.text for m in self.messages if m.token == token]

    async def start(self) -> _Receiver:
        await self._server.start()
        return self

    async def stop(self) -> None:
        await self._server.stop()

    async def __aenter__(self) -> _Receiver:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    def _throttled(self, token: str) -> bool:
        now = time.monotonic()
        recent = self._recent[token]
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self.per_minute:
            return True
        recent.append(now)
        return False

    def _fresh(self, stamp_seconds: float) -> bool:
        return abs(self.clock() - stamp_seconds) <= SIGNATURE_WINDOW_SECONDS

    async def _handle(self, request: Request) -> Response:
        if self._canned:
            status, body = self._canned.popleft()
            return Response.json(body, status=status)
        if request.method != "POST":
            return Response.json({"errcode": 405, "errmsg": "method not allowed"}, status=405)
        return self.receive(request)

    def receive(self, request: Request) -> Response:
        raise NotImplementedError

    def _keep(self, token: str, payload: dict[str, Any], request: Request, code: int) -> None:
        record = RobotMessage(token, payload, time.monotonic(), code, dict(request.query))
        (self.messages if code == 0 else self.refused).append(record)


class WeComReceiver(_Receiver):
    """企业微信群机器人."""

    service = "wecom"

    def receive(self, request: Request) -> Response:
        if request.path != "/cgi-bin/webhook/send":
            return Response.json({"errcode": 404, "errmsg": "not found"}, status=404)
        key = request.query.get("key", "")
        payload = _json(request)
        answer = self._check(key, payload)
        self._keep(key, payload, request, answer["errcode"])
        return Response.json(answer)

    def _check(self, key: str, payload: dict[str, Any]) -> dict[str, Any]:
        if key not in self.robots:
            return {"errcode": 93000, "errmsg": "invalid webhook url, hint: [fake]"}
        kind = payload.get("msgtype")
        if kind not in ("text", "markdown"):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        content = str(payload.get(kind, {}).get("content", ""))
        if not content:
            return {"errcode": 44004, "errmsg": "empty content"}
        if len(content.encode()) > 4096:
            return {"errcode": 40058, "errmsg": f"{kind}.content exceed max length 4096"}
        if self._throttled(key):
            return {"errcode": 45009, "errmsg": "api freq out of limit"}
        return {"errcode": 0, "errmsg": "ok"}


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


class DingTalkReceiver(_Receiver):
    """钉钉自定义机器人 (加签 verified when the robot has a secret)."""

    service = "dingtalk"

    def receive(self, request: Request) -> Response:
        if request.path != "/robot/send":
            return Response.json({"errcode": 404, "errmsg": "请求的URI地址不存在"}, status=404)
        token = request.query.get("access_token", "")
        payload = _json(request)
        answer = self._check(token, request.query, payload)
        self._keep(token, payload, request, answer["errcode"])
        return Response.json(answer)

    def _check(self, token: str, query: dict[str, str], payload: dict[str, Any]) -> dict[str, Any]:
        if token not in self.robots:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        secret = self.robots[token]
        if secret:
            stamp, given = query.get("timestamp", ""), query.get("sign", "")
            if not stamp or not given:
                return {"errcode": 310000, "errmsg": "sign not match"}
            if not stamp.isdigit() or not self._fresh(int(stamp) / 1000):
                return {"errcode": 310000, "errmsg": "invalid timestamp"}
            if not hmac.compare_digest(given, dingtalk_sign(secret, stamp)):
                return {"errcode": 310000, "errmsg": "sign not match"}
        kind = payload.get("msgtype")
        if kind == "markdown":
            body = payload.get("markdown", {})
            if not body.get("title") or not body.get("text"):
                return {"errcode": 40035, "errmsg": "缺少参数 markdown.title/markdown.text"}
        elif kind != "text":
            return {"errcode": 40035, "errmsg": "不合法的参数 msgtype"}
        if self._throttled(token):
            return {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        return {"errcode": 0, "errmsg": "ok"}


def feishu_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FeishuReceiver(_Receiver):
    """飞书自定义机器人 (签名校验 verified when the bot has a secret)."""

    service = "feishu"
    per_minute = 100
    PREFIX = "/open-apis/bot/v2/hook/"

    def receive(self, request: Request) -> Response:
        if not request.path.startswith(self.PREFIX):
            return Response.json({"code": 404, "msg": "not found", "data": {}}, status=404)
        token = request.path[len(self.PREFIX) :]
        payload = _json(request)
        answer, status = self._check(token, payload)
        self._keep(token, payload, request, answer["code"])
        return Response.json(answer, status=status)

    def _check(self, token: str, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
        if token not in self.robots:
            return {
                "code": 19001,
                "msg": "param invalid: incoming webhook access token invalid",
                "data": {},
            }, 200
        secret = self.robots[token]
        if secret:
            stamp, given = str(payload.get("timestamp", "")), str(payload.get("sign", ""))
            valid = stamp.isdigit() and self._fresh(int(stamp))
            if not valid or not hmac.compare_digest(given, feishu_sign(secret, stamp)):
                message = "sign match fail or timestamp is not within one hour from current time"
                return {"code": 19021, "msg": message, "data": {}}, 200
        kind = payload.get("msg_type")
        if kind == "interactive":
            if not isinstance(payload.get("card"), dict):
                return {"code": 9499, "msg": "Bad Request", "data": {}}, 400
        elif kind != "text":
            return {"code": 9499, "msg": "Bad Request", "data": {}}, 400
        if self._throttled(token):
            return {"code": 9499, "msg": "too many request", "data": {}}, 400
        return {"code": 0, "msg": "success", "data": {}}, 200


def _json(request: Request) -> dict[str, Any]:
    try:
        data = request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
