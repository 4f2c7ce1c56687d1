"""The staff UI: server-rendered pages (Jinja2 + htmx) calling the services' JSON APIs for signed-in staff."""

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from portal.clients import ServiceProblem
from portal.session import install_staff_session
from portal.staff import (
    account,
    auth,
    documents,
    facility,
    groups,
    home,
    imports,
    medications,
    referrals,
    subjects,
    summary,
    timeline,
    vitals,
)
from portal.staff.pages import refused

router = APIRouter(include_in_schema=False)
for module in (
    auth,
    home,
    subjects,
    referrals,
    timeline,
    vitals,
    summary,
    medications,
    documents,
    imports,
    groups,
    facility,
    account,
):
    router.include_router(module.router)


def install_staff(app: FastAPI) -> None:
    """Mount the staff UI: routes, static files (htmx, script, styles), session and refusal handling."""
    app.include_router(router)
    app.add_exception_handler(ServiceProblem, refused)
    install_staff_session(app)
    app.mount(
        "/static/portal",
        StaticFiles(directory=str(Path(__file__).parents[1] / "static")),
        name="portal-static",
    )
