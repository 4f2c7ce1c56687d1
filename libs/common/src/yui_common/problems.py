"""RFC 9457 problem+json errors with stable types, and the handlers that render every error that way."""

from __future__ import annotations

import copy
import errno
import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:yui:problem:"

_STATUS_TYPES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
    503: "unavailable",
}


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extensions = extensions


NOT_FOUND_DETAIL = "Nothing here is available to you."


def not_found(what: str = "resource") -> Problem:
    """The one 404 of every object the caller cannot reach, whatever it is and whether it exists.

    404, not 403, for things the caller may not know exist (need to know); and one body for all of them, so
    neither the text nor the kind of object named tells an outsider that a post or a subject exists. ``what``
    only names the object for the code's reader and the exception's message in a traceback."""
    problem = Problem(404, "not-found", "Not found", NOT_FOUND_DETAIL)
    problem.add_note(f"not found: {what}")
    return problem


def conflict(detail: str, slug: str = "conflict") -> Problem:
    return Problem(409, slug, "Conflict", detail)


def problem_response(
    request: Request, status: int, slug: str, title: str, detail: str | None = None, **extensions: Any
) -> JSONResponse:
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["instance"] = request.url.path
    body.update(extensions)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "location": [str(p) for p in err.get("loc", ())],
                "message": err.get("msg", ""),
                "kind": err.get("type"),
            }
            for err in exc.errors()
        ]
        return problem_response(
            request,
            422,
            "validation-error",
            "The request is not valid",
            "See errors for each field.",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            # An unknown route answers as an unreachable object does: one 404 body for everything.
            return problem_response(request, 404, "not-found", "Not found", NOT_FOUND_DETAIL)
        slug = _STATUS_TYPES.get(exc.status_code, "http-error")
        title = slug.replace("-", " ").capitalize()
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, slug, title, detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return problem_response(
            request, 500, "internal-error", "Internal error", "Something went wrong on our side."
        )


# How long a client waits before asking again while the database is away (a restart takes seconds).
RETRY_AFTER_S = 2


def _is_connection_failure(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (a restart, a failover, a network cut):
    nothing about the request was wrong, and asking again shortly may well succeed.

    SQLAlchemy wraps what the driver raised during a query (``connection_invalidated`` when it took the
    connection for dead), but a failed connect reaches us as asyncpg's or the operating system's own error:
    so the whole chain of causes is looked at."""
    import asyncpg
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(e, asyncpg.exceptions.DataError) for e in chain):
        return False  # asyncpg's "invalid input for query argument" is an InterfaceError too: the caller's
    for error in chain:
        if isinstance(error, DBAPIError) and (
            error.connection_invalidated or isinstance(error, OperationalError | InterfaceError)
        ):
            return True
        if isinstance(
            error,
            asyncpg.exceptions.CannotConnectNowError  # 57P03: starting up or shutting down
            | asyncpg.exceptions.AdminShutdownError  # 57P01: terminated by a shutdown
            | asyncpg.exceptions.CrashShutdownError  # 57P02
            | asyncpg.exceptions.ConnectionDoesNotExistError
            | asyncpg.exceptions.PostgresConnectionError  # SQLSTATE class 08
            | ConnectionError,  # refused, reset, aborted, broken pipe
        ):
            return True
        # asyncio's connect to several addresses raises a plain OSError ("Multiple exceptions: [Errno 111]
        # Connect call failed …") without an errno of its own.
        if type(error) is OSError and (error.errno in _CONNECT_ERRNOS or "Connect call failed" in str(error)):
            return True
    return False


_CONNECT_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
}


def database_unavailable(request: Request) -> JSONResponse:
    response = problem_response(
        request,
        503,
        "service-unavailable",
        "Service unavailable",
        "The database cannot be reached at the moment; please try again shortly.",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def install_database_problem_handlers(app: FastAPI) -> None:
    """Input that only the database could reject is still the caller's error, not ours; a database that is
    away (restarting) is a 503 the client may retry, not a 500."""
    import asyncpg
    from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        return problem_response(
            request, 409, "conflict", "Conflict", "The request conflicts with existing data."
        )

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        return problem_response(
            request, 422, "validation-error", "The request is not valid", "A value is out of range."
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        if _is_connection_failure(exc):
            log.warning("database unavailable: %s", type(exc.orig or exc).__name__)
            return database_unavailable(request)
        # SQLAlchemy's asyncpg dialect raises a plain DBAPIError for everything but integrity errors, so a
        # "data exception" (SQLSTATE class 22: e.g. U+0000 in text, a value out of range) arrives here.
        if str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
            return problem_response(
                request, 422, "validation-error", "The request is not valid", "A value cannot be stored."
            )
        log.exception("database error")
        return problem_response(
            request, 500, "internal-error", "Internal error", "Something went wrong on our side."
        )

    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        # A failed connect (the pool opening a connection) is not wrapped by SQLAlchemy.
        if _is_connection_failure(exc):
            log.warning("database unavailable: %s", type(exc).__name__)
            return database_unavailable(request)
        log.exception("unhandled error")
        return problem_response(
            request, 500, "internal-error", "Internal error", "Something went wrong on our side."
        )

    for raised in (asyncpg.exceptions.PostgresError, asyncpg.exceptions.InterfaceError, OSError):
        app.add_exception_handler(raised, _unreachable)


# ---------------------------------------------------------------- how the OpenAPI documents describe them

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. Members beyond these are extensions of the problem's type.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "Stable problem type, e.g. urn:yui:problem:not-found"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The path asked"},
        "errors": {
            "type": "array",
            "description": "Validation errors, one per field (422 only)",
            "items": {
                "type": "object",
                "required": ["location", "message"],
                "properties": {
                    "location": {"type": "array", "items": {"type": "string"}},
                    "message": {"type": "string"},
                    "kind": {"type": ["string", "null"]},
                },
            },
        },
    },
    "additionalProperties": True,
}
# What every operation that takes input can answer: the input is invalid, or what it names (a network, an
# object) is not there or not the caller's, which every service answers with the one 404. An operation that needs
# a token can also answer 401 and 403. A route's own ``responses=`` description of the same status is kept.
INPUT_PROBLEMS = {
    "422": "The request is not valid (see errors for each field)",
    "404": "Nothing here is available to you: one answer whether or not the object exists",
}
TOKEN_PROBLEMS = {
    "401": "No token, or one that is expired, revoked or bound to another client certificate",
    "403": "The caller's role or facility may not do this",
    "404": INPUT_PROBLEMS["404"],
}
# FastAPI's own description of a 422, replaced by the problem every service sends.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _is_error(status: str) -> bool:
    return status == "default" or status[:1] in ("4", "5")


def _says_nothing_of_its_body(response: dict[str, Any]) -> bool:
    """No content, FastAPI's default (application/json, any schema), its HTTPValidationError, or our media
    type without a schema: a route that describes its error body otherwise keeps that description."""
    content = response.get("content")
    if not content:
        return True
    if set(content) == {"application/json"}:
        schema = content["application/json"].get("schema") or {}
        return not schema or schema.get("$ref", "").endswith("/HTTPValidationError")
    return set(content) == {MEDIA_TYPE} and not content[MEDIA_TYPE].get("schema")


def document_problems(document: dict[str, Any], *, authenticated: set[tuple[str, str]]) -> None:
    """Make an OpenAPI document say what the handlers above send: every error is ``application/problem+json``
    with the ``Problem`` schema; an operation that takes input documents 422 and 404, one that needs a token
    (its ``(path, method)`` in ``authenticated``) 401, 403 and 404."""
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            added = (
                dict(INPUT_PROBLEMS) if operation.get("parameters") or operation.get("requestBody") else {}
            )
            if (path, method) in authenticated:
                added.update(TOKEN_PROBLEMS)
            for status, description in added.items():
                response = responses.setdefault(status, {"description": description})
                if response.get("description") == "Validation Error":  # FastAPI's words for its own body
                    response["description"] = description
            for status, response in responses.items():
                if _is_error(status) and _says_nothing_of_its_body(response):
                    response["content"] = {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in json.dumps(document):
            schemas.pop(name, None)
