"""Verifying identity's access tokens (EdDSA, JWKS) and the current principal of a request."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import httpx
import jwt
from fastapi import Depends, Request
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from yui_common.db import DbSession
from yui_common.problems import Problem

log = logging.getLogger(__name__)

CERT_FINGERPRINT_HEADER = "x-client-cert-fingerprint"
# Set by the gateway on every request (a client's own values are overwritten): the verification result and
# the URL-encoded PEM of the certificate it verified against our CA and CRL.
CLIENT_VERIFY_HEADER = "x-client-verify"
CLIENT_CERT_HEADER = "x-client-cert"
# The gateway's proof that a request came through it: a secret shared by the gateway and the services
# (YUI_GATEWAY_SECRET). Without it the two headers above are ignored, so a caller that reaches a service
# directly (another container, another pod) cannot claim a certificate it does not hold. A service that
# calls another on a browser's behalf (the portal's pages, identity's audit search) forwards all three.
GATEWAY_SECRET_HEADER = "x-yui-gateway-secret"  # noqa: S105 - a header name, not a secret
GATEWAY_IDENTITY_HEADERS = (CLIENT_VERIFY_HEADER, CLIENT_CERT_HEADER, GATEWAY_SECRET_HEADER)
ACCESS_COOKIE = "yui_access"
# A cookie travels with a request whoever made the browser send it, so a write it authenticates must come
# from a page of our own origin (finding 6 of issue 14); a bearer token is only sent by code that holds it.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class GatewaySecretSettings(BaseSettings):
    """The secret the gateway sends with every request: ``YUI_GATEWAY_SECRET``, or the file named by
    ``YUI_GATEWAY_SECRET_FILE`` (a mounted Secret; `make run` writes one into .run/). Unset, nothing is
    accepted as coming from the gateway: certificate-bound tokens then fail everywhere, loudly."""

    gateway_secret: SecretStr | None = None
    gateway_secret_file: Path | None = None

    model_config = SettingsConfigDict(env_prefix="YUI_", extra="ignore")

    def secret(self) -> bytes | None:
        if self.gateway_secret is not None and self.gateway_secret.get_secret_value().strip():
            return self.gateway_secret.get_secret_value().strip().encode()
        if self.gateway_secret_file is not None:
            value = self.gateway_secret_file.read_text().strip()
            return value.encode() if value else None
        return None


def gateway_secret_from_environment() -> bytes | None:
    return GatewaySecretSettings().secret()


def came_through_gateway(request: Request) -> bool:
    """True when the request carries the gateway's shared secret (compared in constant time)."""
    expected: bytes | None = getattr(request.app.state, "gateway_secret", None)
    presented = request.headers.get(GATEWAY_SECRET_HEADER)
    if not expected or presented is None:
        return False
    return hmac.compare_digest(presented.encode("latin-1"), expected)


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff user of one facility in one network (tenant), or an operator."""

    user_id: UUID
    tenant: str
    facility_id: UUID | None
    roles: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    session_id: str | None = None
    cert_fingerprint: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles


class JwksKeySet:
    """identity's public keys: fetched on demand, refetched when an unknown key id appears, and refetched once
    the fetched set is older than ``max_age_s``, so that a key identity retires (maybe leaked) stops verifying
    within about a minute instead of at the service's next restart (issue 14).

    A set handed in with ``load`` (tests, benches) has no source to go stale against: it stands until an
    unknown key id makes the set refetch, as before.
    """

    def __init__(
        self,
        url: str,
        *,
        min_refresh_interval_s: float = 10.0,
        max_age_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = url
        # Tests reach an in-process service through its ASGI app instead of a port.
        self.transport = transport
        self._keys: dict[str, Any] = {}
        self._fetched_at = 0.0
        self._from_url = False
        self._stale_attempt_at = 0.0
        self._min_refresh = min_refresh_interval_s
        self._max_age = max_age_s
        self._lock = asyncio.Lock()
        self._on_retired: list[Callable[[set[str]], None]] = []

    def on_retired(self, callback: Callable[[set[str]], None]) -> None:
        """Call ``callback`` with the key ids a new set no longer holds (the token cache forgets their tokens)."""
        self._on_retired.append(callback)

    def load(self, jwks: dict[str, Any]) -> None:
        self._install(jwks, from_url=False)

    def _install(self, jwks: dict[str, Any], *, from_url: bool) -> None:
        keys = {}
        for jwk in jwks.get("keys", []):
            # Members of our own (e.g. federation's "yui_state") are not JWK members: PyJWK gets the rest.
            keys[jwk["kid"]] = jwt.PyJWK({k: v for k, v in jwk.items() if not k.startswith("yui_")}).key
        retired = set(self._keys) - set(keys)
        self._keys = keys
        self._fetched_at = time.monotonic()
        self._from_url = from_url
        if retired:
            log.info("token keys no longer published: %s", sorted(retired))
            for callback in self._on_retired:
                callback(retired)

    def publishes(self, kid: str) -> bool:
        return kid in self._keys

    async def refresh(self, *, force: bool = False) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._min_refresh:
                return
            async with httpx.AsyncClient(timeout=5.0, transport=self.transport) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                self._install(response.json(), from_url=True)

    async def keep_fresh(self) -> None:
        """Refetch a fetched set older than ``max_age_s``; cheap when it is not (called on every verification).

        The one request that notices waits for the fetch; requests meanwhile go on with the set they have. A
        failed fetch keeps the set (identity being down must not sign everyone out) and is tried again after
        ``min_refresh_interval_s``, not on every request.
        """
        if not self._from_url or self._lock.locked():
            return
        now = time.monotonic()
        if now - self._fetched_at < self._max_age or now - self._stale_attempt_at < self._min_refresh:
            return
        self._stale_attempt_at = now
        try:
            await self.refresh(force=True)
        except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError):
            log.warning("refetching the token keys failed; the current set stands", exc_info=True)

    async def key_for(self, kid: str) -> Any:
        if kid not in self._keys:
            try:
                await self.refresh()
            except httpx.HTTPError as exc:
                raise Problem(503, "unavailable", "Token keys unavailable", "Cannot reach identity.") from exc
        if kid not in self._keys:
            raise Problem(401, "unauthenticated", "Not signed in", "The token was signed by an unknown key.")
        return self._keys[kid]


class TokenVerifier:
    """Checks an access token's signature, issuer, audience and lifetime.

    A token is verified once: its claims are then kept (a bounded LRU) until the earlier of its expiry and
    ``cache_for_s``, because an EdDSA verification and the JWT parsing cost more CPU than the rest of a
    page's authorization (issue 13). Only valid tokens are kept, and only while identity still publishes
    the key that signed them: a retired key's tokens are forgotten and then refused. Revocation is not
    cached: the deny list is still read on every request (``refuse_revoked`` or a route's own authorization
    statement)."""

    def __init__(
        self,
        keys: JwksKeySet,
        *,
        issuer: str,
        audience: str,
        cache_for_s: float = 300.0,
        cache_size: int = 10_000,
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._cache_for_s = cache_for_s
        self._cache_size = cache_size
        # token -> (claims, wall-clock time until which they stand without verifying again, signing key id)
        self._verified: OrderedDict[str, tuple[dict[str, Any], float, str]] = OrderedDict()
        keys.on_retired(self._forget_tokens_of)

    def _forget_tokens_of(self, kids: set[str]) -> None:
        for token in [t for t, (_, _, kid) in self._verified.items() if kid in kids]:
            del self._verified[token]

    async def verify(self, token: str) -> dict[str, Any]:
        await self.keys.keep_fresh()
        cached = self._verified.get(token)
        if cached is not None:
            claims, until, kid = cached
            if time.time() < until and self.keys.publishes(kid):
                self._verified.move_to_end(token)
                return dict(claims)
            del self._verified[token]
        claims, kid = await self._verify_signature(token)
        # exp is required, so the cache never outlives the token (PyJWT refuses from exp on, as this does).
        self._verified[token] = (claims, min(float(claims["exp"]), time.time() + self._cache_for_s), kid)
        if len(self._verified) > self._cache_size:
            self._verified.popitem(last=False)
        return dict(claims)

    async def _verify_signature(self, token: str) -> tuple[dict[str, Any], str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthenticated("The token is malformed.") from exc
        kid = str(header.get("kid", ""))
        key = await self.keys.key_for(kid)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=["EdDSA"],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "tenant"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _unauthenticated("The token has expired.") from exc
        except jwt.PyJWTError as exc:
            raise _unauthenticated("The token is not valid.") from exc
        return claims, kid


def _unauthenticated(detail: str) -> Problem:
    return Problem(401, "unauthenticated", "Not signed in", detail)


def principal_from_claims(claims: dict[str, Any], presented_fingerprint: str | None) -> Principal:
    bound = (claims.get("cnf") or {}).get("x5t#S256")
    if bound and (presented_fingerprint or "").lower() != str(bound).lower():
        # The token was issued to a session that used a client certificate: the same one must be presented.
        raise _unauthenticated("The token is bound to a client certificate that was not presented.")
    facility = claims.get("facility")
    return Principal(
        user_id=UUID(claims["sub"]),
        tenant=str(claims["tenant"]),
        facility_id=UUID(facility) if facility else None,
        roles=frozenset(claims.get("roles", [])),
        name=str(claims.get("name", "")),
        session_id=claims.get("sid"),
        cert_fingerprint=bound,
    )


def presented_certificate_fingerprint(request: Request) -> str | None:
    """Lower-case hex SHA-256 of the client certificate the gateway verified; None unless the gateway (its
    shared secret) says SUCCESS.

    nginx only offers a SHA-1 fingerprint, so the service hashes the DER of the forwarded certificate itself.
    """
    if not came_through_gateway(request) or request.headers.get(CLIENT_VERIFY_HEADER) != "SUCCESS":
        return None
    escaped = request.headers.get(CLIENT_CERT_HEADER)
    if not escaped:
        return None
    try:
        der = ssl.PEM_cert_to_DER_cert(unquote(escaped).strip())
    except ValueError:
        return None
    return hashlib.sha256(der).hexdigest()


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return request.cookies.get(ACCESS_COOKIE)


def _from_cookie(request: Request) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return not (scheme.lower() == "bearer" and token)


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_origins(request: Request) -> set[str]:
    """The origins our pages are served from: the host the browser asked for (the gateway passes Host and
    the scheme it terminated) and the configured public URL."""
    origins = set()
    host = request.headers.get("host")
    if host:
        scheme = request.headers.get("x-forwarded-proto") or request.url.scheme
        origins.add(f"{scheme}://{host}".lower())
    public_url = getattr(getattr(request.app.state, "settings", None), "public_url", None)
    if public_url and (public := _origin_of(str(public_url))):
        origins.add(public)
    return origins


def refuse_cross_origin_write(request: Request) -> None:
    """A cookie-authenticated write must come from our own origin: the Origin header, else Sec-Fetch-Site,
    else the Referer decides (Go's net/http CrossOriginProtection and Django's CSRF check, combined).

    Every browser since 2020 sends Origin on a POST, PUT, PATCH or DELETE (``null`` from an opaque origin
    is refused), so a request with none of the three headers is not a browser acting for a page of another
    origin; like Go's check, it passes (a script holding the cookie could as well send it as a bearer token).
    """
    if request.method not in UNSAFE_METHODS:
        return
    allowed = own_origins(request)
    origin = request.headers.get("origin")
    if origin is not None:
        if origin.lower() in allowed:
            return
        raise _cross_origin(f"The request came from another origin ({origin[:100]}).")
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        if fetch_site in ("same-origin", "none"):  # "none": the person's own navigation, not a page
            return
        raise _cross_origin(f"The request came from a {fetch_site[:20]} page.")
    referer = request.headers.get("referer")
    if referer is not None and _origin_of(referer) not in allowed:
        raise _cross_origin("The request came from a page of another origin.")


def _cross_origin(detail: str) -> Problem:
    return Problem(
        403,
        "cross-origin-request",
        "Cross-origin request refused",
        f"{detail} A signed-in browser may change data only from Yui's own pages.",
    )


@dataclass(frozen=True)
class Authenticated:
    """A request's verified token: who it names and when it was issued. Its revocation is not checked yet:
    a hot read folds the deny list into its own authorization statement (one round trip instead of two)
    and must refuse a revoked token there, before anything else."""

    principal: Principal
    issued_at: int


async def authenticate(request: Request) -> Authenticated:
    """The token's principal, signature checked (cached per token), revocation NOT checked."""
    token = bearer_token(request)
    if not token:
        raise _unauthenticated("Sign in first.")
    if _from_cookie(request):
        refuse_cross_origin_write(request)
    verifier: TokenVerifier = request.app.state.token_verifier
    claims = await verifier.verify(token)
    principal = principal_from_claims(claims, presented_certificate_fingerprint(request))
    return Authenticated(principal=principal, issued_at=int(claims["iat"]))


def revoked_token(kind: str) -> Problem:
    """The answer to a token the deny list refuses (``refuse_revoked`` and routes that check it themselves);
    a suspended network's is its own 403 (yui_common.networks), the same in every service."""
    if kind == "network":
        from yui_common.networks import network_suspended

        return network_suspended()
    return _unauthenticated(f"The token was revoked ({kind}); sign in again.")


async def current_principal(request: Request, session: DbSession) -> Principal:
    authenticated = await authenticate(request)
    principal = authenticated.principal
    await refuse_revoked(session, principal, authenticated.issued_at)
    request.state.principal = principal
    return principal


async def refuse_revoked(session: AsyncSession, principal: Principal, issued_at: int) -> None:
    """A valid signature is not enough: identity may have suspended the user or facility, ended the
    session or revoked the certificate since the token was issued (the deny list, yui_common.revocations).

    The check runs in the request's own session (FastAPI shares one ``DbSession`` per request), so it costs
    one statement in the request's transaction rather than a connection checkout and a transaction of its own.
    """
    from yui_common.revocations import revoked_kind

    kind = await revoked_kind(
        session,
        user_id=str(principal.user_id),
        facility_id=str(principal.facility_id) if principal.facility_id else None,
        session_id=principal.session_id,
        cert_fingerprint=principal.cert_fingerprint,
        issued_at=issued_at,
        tenant=principal.tenant,
    )
    if kind is not None:
        raise revoked_token(kind)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
