"""Identity's shared refusals, and the answer for a refusal the request must still commit."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from yui_common.problems import Problem, problem_response

# How the API documents the refusals of a password check (login, enrolment, password change).
CREDENTIAL_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Login failed (one answer for every reason)"},
    403: {"description": "An initial password must be changed first"},
}


def forbidden(detail: str = "Your role may not do this.") -> Problem:
    return Problem(403, "forbidden", "Forbidden", detail)


def login_failed() -> Problem:
    # One answer for a wrong password, an unknown login, a locked or suspended account and a wrong second
    # factor, so the answer never tells which logins exist or which passwords are right.
    return Problem(401, "login-failed", "Login failed", "The login id, password or second factor is wrong.")


class SignInRefused(Problem):
    """The one answer to every refused sign-in (login_failed's), and how long the login ID or address must
    wait when it must (sent as Retry-After only, so the body stays the same for every reason)."""

    def __init__(self, retry_after_s: int | None = None) -> None:
        refused = login_failed()
        super().__init__(refused.status, refused.slug, refused.title, refused.detail)
        self.retry_after_s = retry_after_s


def answered(request: Request, problem: Problem) -> JSONResponse:
    """A refusal returned, not raised: the request's transaction must still commit the attempt's audit entry
    and counters (S2, i11) or the spent access-code attempt."""
    response = problem_response(
        request, problem.status, problem.slug, problem.title, problem.detail, **problem.extensions
    )
    if isinstance(problem, SignInRefused) and problem.retry_after_s:
        response.headers["Retry-After"] = str(problem.retry_after_s)
    return response
