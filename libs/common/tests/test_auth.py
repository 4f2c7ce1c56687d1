"""yui_common.auth: only an unexpired EdDSA token from identity's keys, for our audience, is accepted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uuid6 import uuid7
from yui_common.auth import (
    JwksKeySet,
    TokenVerifier,
    principal_from_claims,
)
from yui_common.problems import Problem

ISSUER = "yui-identity"
AUDIENCE = "yui"
KID = "key-2026-01"
SIGNING_KEY = Ed25519PrivateKey.generate()


def jwks_of(key: Ed25519PrivateKey, kid: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}]}


def verifier() -> TokenVerifier:
    # The key set is loaded as if just fetched from identity, so no test reaches for the network.
    keys = JwksKeySet("http://identity.invalid/.well-known/jwks.json", min_refresh_interval_s=3600)
    keys.load(jwks_of(SIGNING_KEY, KID))
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(uuid7()),
        "tenant": "demo",
        "facility": str(uuid7()),
        "roles": ["staff"],
        "iat": now,
        "exp": now + 300,
    }
    return {k: v for k, v in {**base, **overrides}.items() if v is not None}


def signed(payload: dict[str, Any], *, key: Ed25519PrivateKey = SIGNING_KEY, kid: str = KID) -> str:
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> tuple[str, str]:
    """A compact JWS assembled by hand (as an attacker would): returns (token, its signing input)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64(signature)}", signing_input


async def refused(token: str) -> Problem:
    with pytest.raises(Problem) as raised:
        await verifier().verify(token)
    assert (raised.value.status, raised.value.slug) == (401, "unauthenticated")
    return raised.value


class TestTokenVerification:
    async def test_a_valid_token_is_accepted_and_its_claims_returned(self) -> None:
        payload = claims()
        verified = await verifier().verify(signed(payload))
        assert (verified["sub"], verified["tenant"], verified["aud"]) == (payload["sub"], "demo", AUDIENCE)

    async def test_an_expired_token_is_refused(self) -> None:
        long_ago = int(time.time()) - 3600
        problem = await refused(signed(claims(iat=long_ago, exp=long_ago + 300)))
        assert "expired" in (problem.detail or "")

    async def test_a_token_signed_by_another_key_under_a_known_key_id_is_refused(self) -> None:
        await refused(signed(claims(), key=Ed25519PrivateKey.generate()))

    async def test_a_token_with_a_tampered_payload_is_refused(self) -> None:
        header, _, signature = signed(claims()).split(".")
        forged_payload = b64(json.dumps(claims(roles=["operator"])).encode())
        await refused(f"{header}.{forged_payload}.{signature}")

    async def test_a_token_for_another_audience_is_refused(self) -> None:
        await refused(signed(claims(aud="some-other-system")))

    async def test_a_token_from_another_issuer_is_refused(self) -> None:
        await refused(signed(claims(iss="someone-else")))

    async def test_an_unsigned_token_with_alg_none_is_refused(self) -> None:
        token, _ = hand_made({"alg": "none", "typ": "JWT", "kid": KID}, claims())
        await refused(token)

    async def test_a_token_hmac_signed_with_the_public_key_as_secret_is_refused(self) -> None:
        public = SIGNING_KEY.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        _, signing_input = hand_made({"alg": "HS256", "typ": "JWT", "kid": KID}, claims())
        signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        await refused(f"{signing_input}.{b64(signature)}")

    async def test_a_token_signed_by_an_unknown_key_id_is_refused(self) -> None:
        problem = await refused(signed(claims(), key=Ed25519PrivateKey.generate(), kid="not-ours"))
        assert "unknown key" in (problem.detail or "")

    async def test_a_token_without_a_tenant_is_refused(self) -> None:
        await refused(signed(claims(tenant=None)))

    async def test_a_malformed_token_is_refused(self) -> None:
        await refused("this.is-not-a.token")


@dataclass
class JwksServer:
    """identity's JWKS endpoint as the services meet it: a real HTTP server, whose published set and status a
    test changes (a key retired, identity failing)."""

    url: str
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    fetches: int = 0


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    state = JwksServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps(state.jwks).encode()
            self.send_response(state.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def published(*keys: tuple[Ed25519PrivateKey, str]) -> dict[str, Any]:
    return {"keys": [jwk for key, kid in keys for jwk in jwks_of(key, kid)["keys"]]}


OLD_KID, NEW_KID = "key-2025-12", "key-2026-01"


class TestRetiredKeys:
    """A key identity stops publishing (rotated out, maybe leaked) stops verifying without a restart."""

    async def test_a_token_of_a_retired_key_is_refused_once_the_key_set_is_refetched(
        self, jwks_server: JwksServer
    ) -> None:
        old_key, new_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
        jwks_server.jwks = published((old_key, OLD_KID), (new_key, NEW_KID))
        # max_age_s=0: the fetched set is stale at once, as it is in a service a minute after its last fetch.
        keys = JwksKeySet(jwks_server.url, min_refresh_interval_s=0, max_age_s=0)
        tokens = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
        old_token = signed(claims(), key=old_key, kid=OLD_KID)
        new_token = signed(claims(), key=new_key, kid=NEW_KID)
        await tokens.verify(old_token)  # verified and cached
        await tokens.verify(new_token)

        jwks_server.jwks = published((new_key, NEW_KID))

        with pytest.raises(Problem) as raised:
            await tokens.verify(old_token)
        assert (raised.value.status, raised.value.detail) == (401, "The token was signed by an unknown key.")
        assert (await tokens.verify(new_token))["aud"] == AUDIENCE

    async def test_a_fresh_key_set_is_not_refetched_for_every_token(self, jwks_server: JwksServer) -> None:
        jwks_server.jwks = jwks_of(SIGNING_KEY, KID)
        tokens = TokenVerifier(JwksKeySet(jwks_server.url), issuer=ISSUER, audience=AUDIENCE)

        for _ in range(5):
            await tokens.verify(signed(claims()))

        assert jwks_server.fetches == 1

    async def test_identity_failing_a_refetch_leaves_the_key_set_standing(
        self, jwks_server: JwksServer
    ) -> None:
        jwks_server.jwks = jwks_of(SIGNING_KEY, KID)
        keys = JwksKeySet(jwks_server.url, min_refresh_interval_s=0, max_age_s=0)
        tokens = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
        token = signed(claims())
        await tokens.verify(token)

        jwks_server.status = 503

        assert (await tokens.verify(token))["sub"] == jwt.decode(token, options={"verify_signature": False})[
            "sub"
        ]
        assert jwks_server.fetches == 2

    async def test_dropping_a_key_from_a_loaded_set_forgets_its_cached_tokens(self) -> None:
        tokens = verifier()
        token = signed(claims())
        await tokens.verify(token)

        tokens.keys.load(jwks_of(Ed25519PrivateKey.generate(), "key-2026-02"))

        with pytest.raises(Problem) as raised:
            await tokens.verify(token)
        assert raised.value.status == 401


class TestClientCertificateBinding:
    def test_a_certificate_bound_token_is_refused_without_its_certificate(self) -> None:
        bound = claims(cnf={"x5t#S256": "ab" * 32})
        for presented in (None, "cd" * 32):
            with pytest.raises(Problem) as raised:
                principal_from_claims(bound, presented)
            assert raised.value.status == 401

    def test_a_certificate_bound_token_is_accepted_with_its_certificate(self) -> None:
        bound = claims(cnf={"x5t#S256": "AB" * 32})
        principal = principal_from_claims(bound, "ab" * 32)
        assert principal.user_id == UUID(bound["sub"])
        assert (principal.tenant, principal.cert_fingerprint) == ("demo", "AB" * 32)
