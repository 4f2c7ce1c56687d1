"""What every admin page shares: who may open it (cookie sign-in), the redirects, rendering with navigation.

Signed in by a form that sets the access token as an HttpOnly, Secure, SameSite=Strict cookie; the pages
then call the same use cases as the JSON API. Form posts change state, so besides the SameSite cookie each
post must come from our own origin (an Origin header naming another host is refused).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from yui_common.auth import Principal, current_principal
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.vocabulary import facility_kind_label, profession_label, status_label
from yui_common.web import language_of, local_time, render, translate

from identity.auth import CONTRACTOR, FACILITY_ADMIN, OPERATOR, STAFF

MANAGERS = (OPERATOR, CONTRACTOR)
# A facility administrator has their own pages (users, their facility's entry); the rest is the network's.
ADMIN_ROLES = (*MANAGERS, FACILITY_ADMIN)


async def admin_principal(request: Request, session: DbSession) -> Principal | None:
    try:
        principal = await current_principal(request, session)
    except Problem:
        return None
    return principal if any(principal.has_role(r) for r in ADMIN_ROLES) else None


async def manager_principal(
    principal: Annotated[Principal | None, Depends(admin_principal)],
) -> Principal | None:
    return principal if principal is not None and any(principal.has_role(r) for r in MANAGERS) else None


async def operator_principal(
    principal: Annotated[Principal | None, Depends(manager_principal)],
) -> Principal | None:
    return principal if principal is not None and principal.has_role(OPERATOR) else None


# Pages of the whole network (operators, contractors), pages a facility administrator may also open, and
# what only the operator may see. None: the page answers instead (the sign-in form, or a refusal).
AdminPrincipal = Annotated[Principal | None, Depends(manager_principal)]
FacilityPagePrincipal = Annotated[Principal | None, Depends(admin_principal)]
OperatorPagePrincipal = Annotated[Principal | None, Depends(operator_principal)]


def to_login(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin/login", status_code=303)


def to_home(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin", status_code=303)


def back(request: Request, page: str, done: str | None = None) -> RedirectResponse:
    """Back to a list after a change; ``done`` names the message the list shows (admin.flash.<done>)."""
    query = f"?done={done}" if done else ""
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin/{page}{query}", status_code=303)


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


# What a page may be told was done (?done=...): anything else in the query shows nothing.
FLASHES = frozenset({"approved", "rejected", "suspended", "suspended_pending", "lifted", "acknowledged"})
ROLES = (OPERATOR, CONTRACTOR, FACILITY_ADMIN, STAFF)


def cell(column: str, value: Any, lang: str) -> str:
    """A value of the admin tables as people read it: words for codes, Japan time, yes or no; never an id."""
    if value is None or value == "":
        return ""
    if column == "kind":
        return facility_kind_label(value, lang)
    if column == "status":
        return status_label(value, lang)
    if column == "profession":
        return profession_label(value, lang)
    if column == "municipality_codes":  # names, not codes (identity.networks.municipalities)
        from identity.networks.municipalities import lookup

        return translate(lang, "admin.list_separator").join(
            found.label if (found := lookup(code)) is not None else code for code in value
        )
    if column in ("roles",):
        return translate(lang, "admin.list_separator").join(
            translate(lang, f"admin.role.{r}") if r in ROLES else r for r in value
        )
    if column in ("suspended_by_role",):
        return translate(lang, f"admin.role.{value}") if value in ROLES else str(value)
    if column == "target_kind":
        return translate(lang, f"admin.target.{value}") if value in ("user", "facility") else str(value)
    if column in ("category", "withdrawal_mode") or (column == "incident_status"):
        return translate(lang, f"admin.value.{column}.{value}")
    if isinstance(value, bool):
        return translate(lang, "admin.yes" if value else "admin.no")
    if isinstance(value, datetime):
        return local_time(value)
    if isinstance(value, list | tuple):
        return translate(lang, "admin.list_separator").join(str(v) for v in value)
    return str(value)


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render with the navigation the signed-in person's role calls for, and the values in words."""
    principal: Principal | None = getattr(request.state, "principal", None)
    manager = principal is not None and any(principal.has_role(r) for r in MANAGERS)
    lang = language_of(request)
    done = request.query_params.get("done")
    shared = {
        "manager": manager,
        "signed_in_name": principal.name if principal is not None else "",
        "flash": done if done in FLASHES else None,
        "cell": lambda column, value: cell(column, value, lang),
        "kind_label": lambda code: facility_kind_label(code, lang),
        "status_label": lambda code: status_label(code, lang),
    }
    return render(request, template, {**shared, **context}, status_code=status_code)


def table(
    request: Request, name: str, rows: list[dict[str, Any]], columns: list[str], **extra: Any
) -> HTMLResponse:
    return page(
        request,
        "admin_table.html",
        {"page": name, "current": name, "rows": rows, "columns": columns, **extra},
    )
