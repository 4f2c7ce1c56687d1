"""Reaching peers: the HTTP client (mutual TLS, the agreement's CA as the only trust, or an injected transport)
and each peer's published keys, cached, refetched once for an unknown kid and at most once per interval."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from federation.keys.service import jwk_members
from federation.settings import Settings

log = logging.getLogger(__name__)
WELL_KNOWN = "/.well-known/yui-federation"


class PeerClients:
    """Makes the client for one peer. In a deployment: TLS whose only trust anchor is the agreement's pinned CA,
    with this deployment's client certificate when configured (mutual TLS). Tests and `make run` may inject a
    transport (`transport`), which then carries every request instead (the in-process stack's ASGI app)."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.settings = settings
        self.transport = transport
        self._pool: dict[tuple[str, str, int], httpx.AsyncClient] = {}

    def tls_context(self, ca_pem: str | None) -> ssl.SSLContext:
        if ca_pem:
            # The pinned CA alone: the system's trust store must not vouch for a peer.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_verify_locations(cadata=ca_pem)
        else:
            context = ssl.create_default_context()
        if self.settings.client_cert_file and self.settings.client_key_file:
            context.load_cert_chain(self.settings.client_cert_file, self.settings.client_key_file)
        return context

    def pooled(self, base_url: str, ca_pem: str | None) -> httpx.AsyncClient:
        """A long-lived client for one peer (keep-alive: the mutual-TLS handshake is paid once per connection,
        not per request), for the reads and posts staff make through federation. Never closed by its user."""
        key = (base_url, hashlib.sha256((ca_pem or "").encode()).hexdigest(), id(self.transport))
        client = self._pool.get(key)
        if client is None or client.is_closed:
            client = self._pool[key] = self.client(base_url, ca_pem)
        return client

    async def aclose(self) -> None:
        clients, self._pool = list(self._pool.values()), {}
        for client in clients:
            await client.aclose()

    def client(self, base_url: str, ca_pem: str | None) -> httpx.AsyncClient:
        timeout = httpx.Timeout(self.settings.request_timeout_s)
        if self.transport is not None:
            return httpx.AsyncClient(transport=self.transport, base_url=base_url, timeout=timeout)
        verify: ssl.SSLContext | bool = self.tls_context(ca_pem) if base_url.startswith("https://") else False
        return httpx.AsyncClient(base_url=base_url, verify=verify, timeout=timeout)


@dataclass
class _PeerKeySet:
    keys: dict[str, Any] = field(default_factory=dict)
    fetched_at: float = 0.0
    refetched_at: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class PeerKeys:
    """Each peer deployment's published keys, by its base URL."""

    def __init__(self, settings: Settings, clients: PeerClients) -> None:
        self.settings = settings
        self.clients = clients
        self._peers: dict[str, _PeerKeySet] = {}
        self.fetches = 0  # how many times a peer's keys were fetched (tests and metrics read it)

    async def _fetch(self, base_url: str, ca_pem: str | None) -> dict[str, Any]:
        self.fetches += 1
        async with self.clients.client(base_url, ca_pem) as client:
            response = await client.get(WELL_KNOWN)
            response.raise_for_status()
            document = response.json()
        keys: dict[str, Any] = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") == "OKP" and jwk.get("crv") == "Ed25519" and isinstance(jwk.get("kid"), str):
                keys[jwk["kid"]] = jwt.PyJWK(jwk_members(jwk)).key
        return keys

    async def key(self, base_url: str, ca_pem: str | None, kid: str) -> Any | None:
        """The peer's key ``kid``, or None when the peer does not publish it even after one refetch. A peer's
        keys are fetched when first needed and when older than peer_keys_cache_s; an unknown kid refetches at
        most once per peer_keys_refetch_interval_s, so a flood of unknown kids costs one request."""
        entry = self._peers.setdefault(base_url, _PeerKeySet())
        now = time.monotonic()
        async with entry.lock:
            if not entry.fetched_at or now - entry.fetched_at > self.settings.peer_keys_cache_s:
                entry.keys = await self._fetch(base_url, ca_pem)
                entry.fetched_at = entry.refetched_at = time.monotonic()
            elif (
                kid not in entry.keys
                and now - entry.refetched_at >= self.settings.peer_keys_refetch_interval_s
            ):
                entry.refetched_at = now
                entry.keys = await self._fetch(base_url, ca_pem)
                entry.fetched_at = time.monotonic()
        return entry.keys.get(kid)

    def forget(self, base_url: str | None = None) -> None:
        if base_url is None:
            self._peers.clear()
        else:
            self._peers.pop(base_url, None)
