"""What every admin page shares: who may open it (cookie sign-in), the redirects, rendering with navigation.

Signed in by a form that sets the access token as an HttpOnly, Secure, SameSite=Strict cookie; the pages
then call the same use cases as the JSON API. Form posts change state, so besides the SameSite cookie each
post must come from our own origin (an Origin header naming another host is refused).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from yui_common.auth import Principal, current_principal
from yui_common.db import DbSession
from yui_common.problems import Problem
from yui_common.web import render

from identity.auth import CONTRACTOR, FACILITY_ADMIN, OPERATOR

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


def back(request: Request, page: str) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/admin/{page}", status_code=303)


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def page(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """Render with the navigation the signed-in person's role calls for."""
    principal: Principal | None = getattr(request.state, "principal", None)
    manager = principal is not None and any(principal.has_role(r) for r in MANAGERS)
    return render(request, template, {"manager": manager, **context}, status_code=status_code)


def table(
    request: Request, name: str, rows: list[dict[str, Any]], columns: list[str], **extra: Any
) -> HTMLResponse:
    return page(request, "admin_table.html", {"page": name, "rows": rows, "columns": columns, **extra})
