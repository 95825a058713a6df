"""The dashboard's FastAPI application factory.

``create_app`` is the contract ``gongkai serve`` relies on: it takes the engine and a
callable returning the current :class:`db.context.Domain` (the calendar changes when a
notice is loaded) and never reads settings or the environment itself.

Pages (server-rendered, Chinese by default) and the REST API under ``/api/v1`` share the
ledger's write path: every action calls a function of ``db.tasks`` / ``db.spawn`` /
``db.notices`` with the logged-in user (or the API token) as the actor.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard.config import DashboardConfig
from dashboard.forms import FieldErrors
from dashboard.routes import (
    api_v1,
    auth,
    board,
    calendar,
    deadline,
    events,
    ics,
    letters,
    notices,
    org,
    overview,
    sections,
    tasks,
    users,
)
from dashboard.security import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_SECONDS,
    CsrfError,
    LoginRequired,
)
from dashboard.web import STATIC_DIR, make_services, redirect, render, safe_next
from db.context import Domain, PermissionDenied
from db.errors import NotFoundError
from obligations.errors import ObligationsError

__all__ = ["DashboardConfig", "create_app"]

log = logging.getLogger("gongkai.dashboard")

#: Pages run no inline script; styles may be set by ECharts at run time.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the headers above to every answer; pages are not cached (they show live data)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_FEED_PATH = re.compile(r"/ics/[^/?\s\"]+")


class RedactFeedTokens(logging.Filter):
    """Access logs show ``/ics/…`` instead of the feed token in the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                _FEED_PATH.sub("/ics/…", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str) and "/ics/" in record.msg:
            record.msg = _FEED_PATH.sub("/ics/…", record.msg)
        return True


def _install_log_redaction() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "gongkai.dashboard"):
        logger = logging.getLogger(name)
        if not any(isinstance(item, RedactFeedTokens) for item in logger.filters):
            logger.addFilter(RedactFeedTokens())


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _api_error(status: int, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"field": field, "message": message}}, status_code=status)


def _error_page(request: Request, status: int, zh: str, en: str, detail: str = "") -> Response:
    return render(
        request,
        "error.html",
        {"status": status, "title_zh": zh, "title_en": en, "detail": detail},
        status_code=status,
    )


def _register_errors(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return _api_error(401, "authentication required: Authorization: Bearer <token>")
        target = safe_next(
            request.url.path + (f"?{request.url.query}" if request.url.query else "")
        )
        if request.headers.get("hx-request"):
            response = PlainTextResponse("login required", status_code=401)
            response.headers["HX-Redirect"] = "/login"
            return response
        return redirect(f"/login?next={target}" if target != "/" else "/login")

    @app.exception_handler(CsrfError)
    async def csrf_error(request: Request, exc: CsrfError) -> Response:
        return _error_page(
            request,
            403,
            "表单已过期或来源不明，请刷新页面后重试",
            "The form is stale or did not come from this site: reload the page and try again",
        )

    @app.exception_handler(FieldErrors)
    async def field_errors(request: Request, exc: FieldErrors) -> Response:
        field, message = next(iter(exc.errors.items()), (None, "invalid input"))
        if _is_api(request):
            return _api_error(422, f"{field}: {message}", field)
        detail = "; ".join(f"{key}: {value}" for key, value in exc.errors.items())
        return _error_page(request, 422, "输入有误", "Bad input", detail)

    @app.exception_handler(PermissionDenied)
    async def permission_denied(request: Request, exc: PermissionDenied) -> Response:
        if _is_api(request):
            return _api_error(403, str(exc))
        return _error_page(request, 403, "无权访问", "Not allowed", str(exc))

    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> Response:
        if _is_api(request):
            return _api_error(404, str(exc))
        return _error_page(request, 404, "未找到", "Not found", str(exc))

    @app.exception_handler(ObligationsError)
    async def refused(request: Request, exc: ObligationsError) -> Response:
        if _is_api(request):
            return _api_error(422, str(exc))
        return _error_page(request, 422, "操作未执行", "Not done", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        first = problems[0] if problems else {}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc) or None
        message = str(first.get("msg", "invalid input"))
        if _is_api(request):
            return JSONResponse(
                {
                    "error": {
                        "field": field,
                        "message": f"{field}: {message}" if field else message,
                    },
                    "detail": [
                        {"loc": list(item.get("loc", ())), "msg": str(item.get("msg", ""))}
                        for item in problems
                    ],
                },
                status_code=422,
            )
        return _error_page(request, 400, "输入有误", "Bad input", f"{field}: {message}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code == 405:
            return _api_error(exc.status_code, str(exc.detail))
        if exc.status_code == 404:
            return _error_page(request, 404, "页面不存在", "No such page")
        return _error_page(request, exc.status_code, "出错了", "Error", str(exc.detail))

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        if _is_api(request):
            return _api_error(500, "internal error; the office can find it in the service log")
        return PlainTextResponse("500 内部错误 Internal error", status_code=500)


def create_app(*, engine: Engine, domain: Callable[[], Domain], config: DashboardConfig) -> FastAPI:
    services = make_services(engine=engine, domain=domain, config=config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        services.db.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="gongkai 公开",
        version="0.1.0",
        description=(
            "政务公开事项时限管理 — REST API for the agency's CMS and other integrations. "
            "Authenticate with `Authorization: Bearer <token>` (`gongkai user token`)."
        ),
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.engine = engine
    app.state.domain = domain
    app.state.config = config
    app.state.services = services
    _install_log_redaction()

    app.add_middleware(
        SessionMiddleware,
        secret_key=services.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_MAX_AGE_SECONDS,
        same_site="lax",
        https_only=config.base_url.startswith("https://"),
    )
    app.add_middleware(SecurityHeaders)
    _register_errors(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        """Liveness for the service manager and the tests: answers once the app is up."""
        return {"status": "ok"}

    for module in (
        auth,
        overview,
        board,
        sections,
        tasks,
        events,
        calendar,
        deadline,
        org,
        notices,
        ics,
        letters,
        users,
    ):
        app.include_router(module.router)
    app.include_router(api_v1.router)

    return app
