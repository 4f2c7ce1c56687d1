"""The shared web layer: Jinja2 base layout, stylesheet, and the ja/en message catalogues."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).parent
LANGUAGES = ("ja", "en")  # Japanese first
LANG_COOKIE = "yui_lang"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """``i18n/<lang>.json`` and then every ``i18n/<lang>.d/*.json`` by name (one file per feature area); a key
    defined twice is an error, so no area silently overrides another's text."""
    messages: dict[str, str] = json.loads((HERE / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
    for part in sorted((HERE / "i18n" / f"{lang}.d").glob("*.json")):
        more: dict[str, str] = json.loads(part.read_text(encoding="utf-8"))
        twice = messages.keys() & more.keys()
        if twice:
            raise ValueError(f"{part.name} defines messages already defined: {sorted(twice)[:5]}")
        messages.update(more)
    return messages


def language_of(request: Request) -> str:
    wanted = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "ja"
    return wanted if wanted in LANGUAGES else "ja"


def translate(lang: str, key: str, **params: Any) -> str:
    text = catalogue(lang).get(key) or catalogue("ja").get(key)
    if text is None:
        raise KeyError(f"message {key!r} is in no catalogue")
    return text.format(**params) if params else text


# Staff read times as the clock on their wall: Japan's, whatever zone the servers run in (UTC).
DISPLAY_TIMEZONE = ZoneInfo("Asia/Tokyo")


def today_in_japan() -> date:
    """Today on Japan's calendar: the team's day (servers run in UTC, where before 09:00 it is yesterday)."""
    return datetime.now(DISPLAY_TIMEZONE).date()


def local_time(value: object, with_time: bool = True) -> str:
    """A datetime or ISO 8601 string as "YYYY-MM-DD HH:MM" (or the date alone) in Japan's time; "" for None,
    and anything that is not a moment as it is."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
    if not isinstance(moment, datetime):
        return "" if value is None else str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(DISPLAY_TIMEZONE).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def install_web(app: FastAPI, templates_dir: Path, *, auto_reload: bool = False) -> None:
    """Give a service server-rendered pages: its own templates over the shared base layout. ``auto_reload``
    (the ``templates_auto_reload`` setting) checks each template's file on every render, for editing them."""
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(str(templates_dir)), FileSystemLoader(str(HERE / "templates"))]
        ),
        autoescape=select_autoescape(["html"]),
        enable_async=False,
        auto_reload=auto_reload,
    )
    env.filters["local_time"] = local_time
    app.state.templates = env
    app.mount("/static/common", StaticFiles(directory=str(HERE / "static")), name="common-static")


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    lang = language_of(request)
    env: Environment = request.app.state.templates
    root = request.scope.get("root_path", "")
    html = env.get_template(template).render(
        request=request,
        lang=lang,
        languages=LANGUAGES,
        root=root,
        _=lambda key, **params: translate(lang, key, **params),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=True)
    return response
