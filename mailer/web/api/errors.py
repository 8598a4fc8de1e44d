"""One error shape for every API answer: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from mailer.errors import DatabaseBusy, MailerError, NotFound

CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported",
         422: "invalid", 429: "too_many_requests", 500: "server_error", 503: "busy"}


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """Raise from a route to answer ``status`` with this code, message and field."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.field = field
        self.headers = headers


_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"]+/)+[^\s/'\"]*")


def without_paths(message: str) -> str:
    """``message`` with every absolute file path on this machine cut to its last part:
    API errors tell the caller what to fix, never where the server keeps its files."""
    roots = set(_roots())

    def cut(m: re.Match[str]) -> str:
        path = m.group(0)
        top = path.split("/")[1]
        if top not in roots:
            return path  # a URL path such as /api/lists, not a file
        return path.rstrip("/").rsplit("/", 1)[-1] or path

    return _ABSOLUTE_PATH.sub(cut, message)


def api_text(message: str) -> str:
    """A service's message as the API says it: in English, in the API's own words where the
    command line's advice would not fit (``Msg.with_api``: a route or a request field, not
    ``mailer …`` or ``--option``), with no file path of this machine."""
    return without_paths(str(_api_words(message)))


def api_said(exc: MailerError) -> str:
    """``str(exc)`` as the API says it (``api_text``): its message and each problem's."""
    problems = [replace(p, message=_api_words(p.message)) for p in exc.problems]
    return without_paths(str(MailerError(_api_words(exc.message), problems)))


def _api_words(message: str) -> str:
    return getattr(message, "api", None) or message


def _roots() -> list[str]:
    try:
        return [n for n in os.listdir("/") if n not in ("api", "admin")]
    except OSError:
        return []


@contextmanager
def about(field: str) -> Iterator[None]:
    """A refusal raised inside (a MailerError without problems of its own) is about the
    request's ``field``: the answer names it, as a refused admin form shows the error
    beside its field."""
    try:
        yield
    except MailerError as exc:
        if isinstance(exc, DatabaseBusy) or exc.problems:
            raise
        status = 404 if isinstance(exc, NotFound) else 400
        raise ApiError(status, api_text(exc.message), field=field) from None


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=ErrorDetail(code=code, message=message, field=field))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


#: For the OpenAPI description of each route.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": code.replace("_", " ")}
    for status, code in CODES.items() if status in (400, 401, 403, 404, 422)
}


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @api.exception_handler(MailerError)
    async def _mailer(request: Request, exc: MailerError) -> JSONResponse:
        if isinstance(exc, DatabaseBusy):
            return error_response(503, CODES[503], exc.message,
                                  headers={"retry-after": str(exc.retry_after)})
        status = 404 if isinstance(exc, NotFound) else 400
        field = exc.field or (exc.problems[0].field if exc.problems else None)
        return error_response(status, CODES[status], api_said(exc), field)

    @api.exception_handler(Exception)
    async def _server(request: Request, exc: Exception) -> JSONResponse:
        # Never a traceback, a path or the exception's text: the log has those.
        return error_response(500, "server_error", "the server failed; try again later")

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = (without_paths(exc.detail) if isinstance(exc.detail, str)
                   else CODES.get(exc.status_code, ""))
        return error_response(exc.status_code, CODES.get(exc.status_code, "error"),
                              message, headers=getattr(exc, "headers", None))

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if (body := _body_problem(first)) is not None:
            return error_response(422, "invalid", body, "body")
        loc = [str(x) for x in first.get("loc", ())]
        field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else None)
        message = "; ".join(
            f"{'.'.join(str(x) for x in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}"
            for e in errors[:5])
        return error_response(422, "invalid", message or "the request is not valid", field)


SEND_JSON = "send one JSON object with the header Content-Type: application/json"


def _body_problem(error: Mapping[str, Any]) -> str | None:
    """What is wrong with the body as a whole (not JSON, or not an object), or None.
    Pydantic names the place of a JSON syntax error as if it were a field (``"26"``)."""
    loc = tuple(error.get("loc") or ())
    ctx = error.get("ctx")
    if error.get("type") == "json_invalid":
        pos = loc[1] if len(loc) > 1 else 0
        why = ctx.get("error", "") if isinstance(ctx, dict) else ""
        return f"the body is not valid JSON ({why or 'syntax error'} at character {pos}); " \
               + SEND_JSON
    if loc == ("body",) and error.get("type") in ("model_attributes_type", "dict_type"):
        return f"the body is not a JSON object; {SEND_JSON}"
    return None
