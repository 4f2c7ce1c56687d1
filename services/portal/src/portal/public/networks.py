"""Which network's public site a request is for: ``/n/<slug>/…``, or the host name the gateway mapped (ten2).

One deployment serves many networks. Each has its public site (overview, directory, notices, terms, the facility
application and the inquiry form) at ``/n/<slug>/…`` and, where the gateway is given a host name for it, at that
host: deploy/gateway's ``YUI_GATEWAY_NETWORK_HOSTS`` maps ``server_name``s to slugs and the gateway sends the slug
as ``X-Yui-Network``, always set by the gateway (empty for an unmapped host), so a client's own value never
passes. The portal believes the header only next to the gateway's secret (yui_common.auth), like the client
certificate headers. The unprefixed paths of an unmapped host keep serving the default network (``?tenant=``
still chooses another, as before).

Under the prefix the portal is mounted as under a proxy's path: ``root_path`` grows by ``/n/<slug>``, so every
link the pages write (``{{ root }}/…``) stays on that network's site. Only the public site lives there; any other
page asked for under the prefix (the staff UI, the operator's pages) is sent to its unprefixed address with the
network in ``?tenant=`` (the staff sign-in form starts with it), and a slug no network has answers the one
404 page. Whether a network exists comes from the portal's projection of identity's networks and, for a
network it was never told of (the demo seed's, one made before networks were announced), from identity's public
directory, which answers 404 for an unknown network; either answer is kept in the gate's cache.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send
from yui_common import networks
from yui_common.auth import came_through_gateway
from yui_common.problems import problem_response
from yui_common.web import render

from portal.clients.base import ServiceProblem
from portal.clients.identity import IdentityClient
from portal.operations.gate_cache import read_through
from portal.session import single_statement_session

NETWORK_HEADER = "x-yui-network"
PREFIX = re.compile(r"^/n/(?P<slug>[a-z0-9-]{1,63})(?P<rest>/.*)?$")
SLUG = re.compile(r"^[a-z0-9-]{1,63}$")
STATE_KEY = "public_network"
# The public site's pages, served under /n/<slug>/ (the shared and the portal's static files too, since the
# pages link them under their root).
PUBLIC_PAGES = ("/join", "/notices", "/directory", "/inquiries", "/forms/facility-application", "/static")
TERMS = re.compile(r"^/terms(/(?!accept(/|$))[^/]+)?/?$")


def public_network(request: Request) -> str | None:
    """The network this request's public site is for (prefix or mapped host), or None."""
    chosen: str | None = request.scope.get("state", {}).get(STATE_KEY)
    return chosen


def login_network(request: Request) -> str:
    """The network the staff sign-in form starts with: the mapped host's, else ``?tenant=`` (a public site under
    /n/<slug>/ sends its visitors there with it), else the default network."""
    wanted = request.query_params.get("tenant", "")
    default: str = request.app.state.settings.default_tenant
    return public_network(request) or (wanted if SLUG.match(wanted) else default)


def is_public_page(path: str) -> bool:
    if path == "/" or TERMS.match(path):
        return True
    return any(path == p or path.startswith(p + "/") for p in PUBLIC_PAGES)


async def network_exists(request: Request, slug: str) -> bool:
    """Known to the portal's projection, else to identity's public directory (cached like the gate's reads)."""

    async def load() -> bool:
        async with single_statement_session(request.app) as session:
            if await networks.state_of(session, slug) is not None:
                return True
        try:
            await IdentityClient(request).directory(tenant=slug, search={})
        except ServiceProblem as problem:
            if problem.status == 404:
                return False
            raise
        return True

    return await read_through(request.app, ("public-network", slug), load)


def unknown_network(request: Request) -> Response:
    if "text/html" in request.headers.get("accept", ""):
        return render(request, "public/network_unknown.html", {}, status_code=404)
    return problem_response(
        request, 404, "not-found", "Not found", "No network of this deployment has that address."
    )


class PublicNetworkMiddleware:
    """Reads the network from the path prefix or the gateway's header; mounts the prefix as the root."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root: str = scope.get("root_path", "")
        path: str = scope["path"]
        local = path[len(root) :] if root and path.startswith(root) else path
        matched = PREFIX.match(local)
        slug: str | None = None
        if matched:
            slug, rest = matched["slug"], matched["rest"]
            if not rest:
                await RedirectResponse(f"{path}/", status_code=308)(scope, receive, send)
                return
            if not is_public_page(rest):
                await self._elsewhere(scope, receive, send, root + rest, slug)
                return
            scope = {**scope, "root_path": f"{root}/n/{slug}"}
        else:
            slug = self._mapped_host(scope)
        if slug is not None:
            request = Request(scope, receive)
            try:
                exists = await network_exists(request, slug)
            except (ServiceProblem, httpx.HTTPError):
                exists = True  # identity cannot tell now: the page itself says what it cannot show
            if not exists:
                await unknown_network(request)(scope, receive, send)
                return
            scope.setdefault("state", {})[STATE_KEY] = slug
        await self.app(scope, receive, send)

    @staticmethod
    def _mapped_host(scope: Scope) -> str | None:
        request = Request(scope)
        value = request.headers.get(NETWORK_HEADER, "").strip()
        if value and SLUG.match(value) and came_through_gateway(request):
            return value
        return None

    @staticmethod
    async def _elsewhere(scope: Scope, receive: Receive, send: Send, target: str, slug: str) -> None:
        """A page that is not the public site's: at its own address, the network named in the query."""
        request = Request(scope, receive)
        if request.method not in ("GET", "HEAD"):
            await unknown_network(request)(scope, receive, send)
            return
        query = [(k, v) for k, v in request.query_params.multi_items() if k != "tenant"] + [("tenant", slug)]
        await RedirectResponse(f"{target}?{urlencode(query)}", status_code=303)(scope, receive, send)


def install_public_networks(app: FastAPI) -> None:
    """Before install_public_site: inside the gateway's prefix, outside the portal's gate (which then sees the
    network's root and state)."""
    app.user_middleware.append(Middleware(PublicNetworkMiddleware))
