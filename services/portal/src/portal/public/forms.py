"""What the public forms share: the CSRF check without a session (double-submitted cookie) and turning
validation errors into messages of the catalogue, per field."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError
from yui_common.problems import Problem

from portal.session import CSRF_FIELD

PUBLIC_CSRF_COOKIE = "yui_public_form"


def csrf_token(request: Request) -> str:
    """The token of this browser's forms: reuse the cookie's, else a new one the response must set."""
    existing = request.cookies.get(PUBLIC_CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 64:
        return existing
    token = secrets.token_urlsafe(24)
    request.state.public_csrf_new = token
    return token


def set_csrf_cookie(request: Request, response: Response) -> None:
    token = getattr(request.state, "public_csrf_new", None)
    if token:
        response.set_cookie(
            PUBLIC_CSRF_COOKIE, token, httponly=True, secure=True, samesite="strict", path="/"
        )


def check_public_csrf(request: Request, sent: str | None) -> None:
    """The form's hidden token must equal the cookie's, and a browser's Origin must be ours."""
    expected = request.cookies.get(PUBLIC_CSRF_COOKIE)
    origin = request.headers.get("origin")
    same_origin = origin is None or urlsplit(origin).netloc == request.headers.get("host")
    if not expected or not sent or not hmac.compare_digest(expected, sent) or not same_origin:
        raise Problem(
            403, "csrf", "Form expired", "Reload the page and send the form again (CSRF check failed)."
        )


def field_errors(error: ValidationError) -> dict[str, str]:
    """Field name -> message key (public.error.<kind>) for the template to translate."""
    found: dict[str, str] = {}
    for item in error.errors():
        field = str(item["loc"][0]) if item.get("loc") else "form"
        kind = item.get("type", "")
        if kind in ("missing", "string_too_short"):
            key = "public.error.required"
        elif kind == "string_too_long":
            key = "public.error.too_long"
        elif kind == "string_pattern_mismatch":
            key = "public.error.format"
        elif kind in ("literal_error", "bool_parsing"):
            key = "public.error.must_agree" if field == "pledge_accepted" else "public.error.choice"
        else:
            key = "public.error.invalid"
        found.setdefault(field, key)
    return found


def parse_form(model: type[BaseModel], data: Mapping[str, object]) -> tuple[BaseModel | None, dict[str, str]]:
    try:
        return model.model_validate(data), {}
    except ValidationError as error:
        return None, field_errors(error)


__all__ = ["CSRF_FIELD", "check_public_csrf", "csrf_token", "field_errors", "parse_form", "set_csrf_cookie"]
