"""RFC 9457 problem+json errors: every 4xx says what was wrong."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.logging import get_logger

_log = get_logger()

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str | None = None, headers: dict[str, str] | None = None):
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers


def problem_response(status: int, title: str, detail: object | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _is_outage(exc: DBAPIError) -> bool:
    """A lost or refused connection, as opposed to a bad statement."""
    return exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError)) or isinstance(exc.orig, OSError)


# Data errors a client's input can cause when validation let it through: text with a NUL byte
# (PostgreSQL cannot store one), a string longer than its column, a number out of range.
_CLIENT_DATA_ERRORS = {
    "22021": "text contains a character PostgreSQL cannot store (NUL)",
    "22P05": "text contains a character that cannot be stored",
    "22001": "a value is longer than its field allows",
    "22003": "a number is out of range",
}


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return getattr(orig, "sqlstate", None) or getattr(getattr(orig, "__cause__", None), "sqlstate", None)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc.status, exc.title, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()
        ]
        return problem_response(422, "Request is not valid", errors)

    @app.exception_handler(DBAPIError)
    @app.exception_handler(OSError)
    @app.exception_handler(RedisError)
    async def _backend_down(_: Request, exc: Exception) -> JSONResponse:
        # PostgreSQL or Redis unreachable (restarting, failing over): the caller should retry,
        # and a channel redelivers on anything but 2xx. Never a 500 for an outage.
        if isinstance(exc, DBAPIError) and (reason := _CLIENT_DATA_ERRORS.get(_sqlstate(exc) or "")):
            return problem_response(422, "Value cannot be stored", reason)
        if isinstance(exc, DBAPIError) and not _is_outage(exc):
            _log.error("database error", exc_info=exc)
            return problem_response(500, "Internal error", "the request failed; it was logged")
        _log.warning("backing service unavailable, answering 503", error=type(exc).__name__, detail=str(exc)[:200])
        return problem_response(503, "Service temporarily unavailable", "a backing service is unreachable; retry shortly", {"Retry-After": "2"})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem_response(exc.status_code, str(exc.detail), None, getattr(exc, "headers", None))
