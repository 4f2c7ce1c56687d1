"""The hardened gateway (u4) through the real nginx: TLS versions, security headers, body and rate limits,
compression and caching."""

from __future__ import annotations

import gzip
import json
import os
import socket
import ssl
import subprocess
import warnings
from collections.abc import AsyncIterator, Mapping
from datetime import date
from pathlib import Path
from uuid import UUID

import httpx
import pytest

from deploy.gateway.render import BODY_MARGIN_BYTES, attachment_limit
from services.timeline.tests.timeline_support import PDF
from tests.support.gateway import Gateway, nginx_in_front
from tests.support.stack import Stack, Staff, eventually

REPO_ROOT = Path(__file__).resolve().parents[2]
ENVSH = REPO_ROOT / "deploy" / "gateway" / "14-yui-gateway-defaults.envsh"

# A gateway tuned so that the limits are reached in a few requests: the attachment limit comes from
# timeline's own setting, as in a deployment.
ATTACHMENT_LIMIT = 256 * 1024
LOGIN_BURST = 2
FORM_BURST = 1
RETRY_AFTER = 7
GATEWAY_ENV = {
    "YUI_TIMELINE_DEFAULT_NETWORK_POLICY": json.dumps({"max_upload_bytes": ATTACHMENT_LIMIT}),
    "YUI_GATEWAY_LOGIN_RATE": "1r/m",
    "YUI_GATEWAY_LOGIN_BURST": str(LOGIN_BURST),
    "YUI_GATEWAY_FORM_RATE": "1r/m",
    "YUI_GATEWAY_FORM_BURST": str(FORM_BURST),
    "YUI_GATEWAY_RETRY_AFTER": str(RETRY_AFTER),
}
SECURITY_HEADERS = (
    "content-security-policy",
    "strict-transport-security",
    "x-content-type-options",
    "referrer-policy",
    "permissions-policy",
)
CSP_DIRECTIVES = (
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)


# What the gateway accepts: timeline's attachment limit plus the multipart margin (deploy/gateway/render.py).
BODY_LIMIT = ATTACHMENT_LIMIT + BODY_MARGIN_BYTES


@pytest.fixture(scope="module")
async def u4_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    """The stack behind nginx (tests/support/gateway.py) with this module's own, tight limits: a rate-limit
    test must not share its counters with the other modules' gateway."""
    async with nginx_in_front(stack, tmp_path_factory.mktemp("u4-gateway"), GATEWAY_ENV) as gateway:
        yield gateway


def assert_security_headers(response: httpx.Response) -> None:
    headers = response.headers
    missing = [name for name in SECURITY_HEADERS if name not in headers]
    assert not missing, (response.request.url, response.status_code, missing)
    csp = headers["content-security-policy"]
    for directive in CSP_DIRECTIVES:
        assert directive in csp, (directive, csp)
    assert "unsafe-inline" not in csp
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "camera=(self)" in headers["permissions-policy"]
    assert headers["x-request-id"]


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["type"] == f"urn:yui:problem:{kind}"
    return body


def tls_handshake(gateway: Gateway, version: ssl.TLSVersion) -> tuple[str | None, str | None]:
    """The negotiated protocol and cipher when the client offers exactly ``version``."""
    context = ssl.create_default_context(cafile=str(gateway.certificate))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
        context.minimum_version = context.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        # Let this client offer what the gateway must refuse (OpenSSL 3 disables it at the default level).
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    host, port = gateway.url.removeprefix("https://").split(":")
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        cipher = tls.cipher()
        return tls.version(), cipher[0] if cipher else None


async def open_timeline(stack: Stack, author: Staff) -> UUID:
    """A registered subject with consent, whose timeline its team may post files to."""
    created = await stack["consent"].client.post(
        "/subjects",
        json={"name": "結 三郎", "name_kana": "ユイ サブロウ", "municipality_code": "232360"},
        headers=author.headers,
    )
    assert created.status_code == 201, created.text
    subject_id = UUID(created.json()["id"])
    given = await stack["consent"].client.post(
        f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=author.headers
    )
    assert given.status_code == 201, given.text
    return subject_id


class TestU4Tls:
    async def test_u4_tls_1_3_and_strong_1_2_are_offered_and_1_1_is_refused(
        self, u4_gateway: Gateway
    ) -> None:
        assert tls_handshake(u4_gateway, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"
        version, cipher = tls_handshake(u4_gateway, ssl.TLSVersion.TLSv1_2)
        assert version == "TLSv1.2"
        assert cipher and cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
        with pytest.raises(ssl.SSLError) as refused:
            tls_handshake(u4_gateway, ssl.TLSVersion.TLSv1_1)
        # The server's protocol-version alert, not a client that could not offer TLS 1.1 at all.
        assert refused.value.reason == "TLSV1_ALERT_PROTOCOL_VERSION", refused.value


class TestU4SecurityHeaders:
    async def test_u4_security_headers_on_html_api_and_not_found(self, u4_gateway: Gateway) -> None:
        async with u4_gateway.client() as client:
            responses = {
                "html page": await client.get("/admin/login"),
                "portal page": await client.get("/"),
                "api": await client.get("/api/consent/healthz"),
                "unknown api": await client.get("/api/nowhere/readyz"),
                "service 404": await client.get("/api/consent/no-such-route"),
                "page 404": await client.get("/no-such-page"),
            }
        assert responses["html page"].headers["content-type"].startswith("text/html")
        assert responses["api"].status_code == 200
        for name in ("unknown api", "service 404", "page 404"):
            assert responses[name].status_code == 404, name
        for response in responses.values():
            assert_security_headers(response)

    async def test_u4_html_is_not_cached_and_static_files_are(self, u4_gateway: Gateway) -> None:
        async with u4_gateway.client() as client:
            page = await client.get("/admin/login")
            css = await client.get("/static/common/yui.css")
            versioned = await client.get("/static/common/yui.css", params={"v": "2026.11"})
        assert page.headers["content-type"].startswith("text/html")
        page_cache = page.headers["cache-control"]
        assert "no-store" in page_cache or "no-cache" in page_cache or "private" in page_cache, page_cache
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        # One Cache-Control (the gateway's), never the service's beside it.
        assert css.headers.get_list("cache-control") == ["public, max-age=3600"]
        assert versioned.headers.get_list("cache-control") == ["public, max-age=31536000, immutable"]
        assert css.headers.get("etag") or css.headers.get("last-modified"), "unversioned files revalidate"
        assert_security_headers(css)


class TestU4Compression:
    async def test_u4_text_responses_are_gzipped(self, u4_gateway: Gateway) -> None:
        async with u4_gateway.client() as client:
            css = await client.get("/static/common/yui.css", headers={"Accept-Encoding": "gzip"})
            page = await client.get("/admin/login", headers={"Accept-Encoding": "gzip"})
            plain = await client.get("/static/common/yui.css", headers={"Accept-Encoding": "identity"})
        assert css.headers["content-encoding"] == "gzip"
        assert "accept-encoding" in css.headers["vary"].lower()
        assert css.text == plain.text and "content-encoding" not in plain.headers
        assert len(plain.content) >= 1024  # above gzip_min_length, so the next check means something
        assert page.headers["content-type"].startswith("text/html") and len(page.content) >= 1024
        assert page.headers["content-encoding"] == "gzip"
        # The body on the wire really is gzip (httpx decoded it above).
        async with (
            u4_gateway.client() as client,
            client.stream("GET", "/static/common/yui.css", headers={"Accept-Encoding": "gzip"}) as raw,
        ):
            wire = b"".join([chunk async for chunk in raw.aiter_raw()])
        assert gzip.decompress(wire).decode() == plain.text


class TestU4BodyLimit:
    async def test_u4_an_upload_over_the_limit_is_refused_and_one_just_under_passes(
        self, stack: Stack, u4_gateway: Gateway
    ) -> None:
        doctor = stack.staff()
        subject_id = await open_timeline(stack, doctor)
        path = f"/api/timeline/subjects/{subject_id}/attachments"
        fitting = PDF + b"\n" * (BODY_LIMIT - len(PDF))
        async with u4_gateway.client() as client:

            async def uploaded() -> bool:
                response = await client.post(
                    path, params={"filename": "紹介状.pdf"}, content=PDF, headers=doctor.headers
                )
                return response.status_code == 201

            await eventually(uploaded, what="timeline to learn of the consent and team")
            passed = await client.post(
                path, params={"filename": "大きい紹介状.pdf"}, content=fitting, headers=doctor.headers
            )
            refused = await client.post(
                path, params={"filename": "大きすぎる.pdf"}, content=fitting + b"\n", headers=doctor.headers
            )
        assert passed.status_code == 201, passed.text
        assert passed.json()["size"] == BODY_LIMIT
        body = assert_problem(refused, 413, "payload-too-large")
        assert body["max_bytes"] == BODY_LIMIT
        assert_security_headers(refused)


class TestU4RateLimits:
    async def test_u4_sign_in_is_rate_limited_with_retry_after(self, u4_gateway: Gateway) -> None:
        attempt = {
            "tenant": "demo",
            "login_id": "nobody-u4",
            "password": "wrong-password",
            "totp_code": "000000",
        }
        async with u4_gateway.client() as client:
            allowed = [
                (await client.post("/api/identity/auth/token", json=attempt)).status_code
                for _ in range(LOGIN_BURST + 1)
            ]
            limited = await client.post("/api/identity/auth/token", json=attempt)
            other_login_paths = [
                (await client.post(path, data={"login_id": "nobody-u4"})).status_code
                for path in ("/admin/login", "/staff/login", "/staff/certificate")
            ]
            page = await client.get("/staff/login")
        assert 429 not in allowed, allowed
        assert_problem(limited, 429, "too-many-requests")
        assert limited.headers["retry-after"] == str(RETRY_AFTER)
        assert_security_headers(limited)
        # Every sign-in path counts against the same address; reading the sign-in page does not.
        assert other_login_paths == [429, 429, 429]
        assert page.status_code == 200

    async def test_u4_public_forms_are_rate_limited(self, u4_gateway: Gateway) -> None:
        async with u4_gateway.client() as client:
            allowed = [
                (await client.post("/api/identity/facility-applications", json={})).status_code
                for _ in range(FORM_BURST + 1)
            ]
            limited = await client.post("/api/identity/facility-applications", json={})
            others = [
                (await client.post(path, data={})).status_code
                for path in ("/forms/facility-application", "/forms/facility-withdrawal", "/inquiries")
            ]
            form_page = await client.get("/forms/facility-application")
        assert 429 not in allowed, allowed
        assert_problem(limited, 429, "too-many-requests")
        assert limited.headers["retry-after"] == str(RETRY_AFTER)
        # The portal's public forms share the address's budget; reading a form does not spend it.
        assert others == [429, 429, 429]
        assert form_page.status_code != 429


class TestU4BodyLimitSetting:
    """The limit is timeline's attachment limit plus a margin, in render.py and in the nginx image's hook."""

    CASES: tuple[Mapping[str, str], ...] = (
        {},
        {"YUI_TIMELINE_DEFAULT_NETWORK_POLICY": '{"max_upload_bytes": 1048576}'},
        {
            "YUI_TIMELINE_DEFAULT_NETWORK_POLICY": '{"max_upload_bytes": 1048576}',
            "YUI_TIMELINE_NETWORK_POLICIES": '{"koga": {"max_upload_bytes": 209715200}}',
        },
        {"YUI_GATEWAY_ATTACHMENT_MAX_BYTES": "5000000"},
    )

    def test_u4_body_limit_follows_timelines_attachment_limit(self) -> None:
        from timeline.settings import NetworkPolicy

        assert attachment_limit({}) == NetworkPolicy().max_upload_bytes
        assert attachment_limit(self.CASES[1]) == 1048576
        assert attachment_limit(self.CASES[2]) == 209715200
        assert attachment_limit(self.CASES[3]) == 5000000
        # A network policy without max_upload_bytes has timeline's default, not the default policy's.
        lower = {**self.CASES[1], "YUI_TIMELINE_NETWORK_POLICIES": '{"koga": {"retention_years": 10}}'}
        assert attachment_limit(lower) == NetworkPolicy().max_upload_bytes

    @pytest.mark.parametrize("case", range(len(CASES)))
    def test_u4_the_nginx_image_hook_derives_the_same_limit(self, case: int) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **self.CASES[case]}
        script = f'set -eu; . "{ENVSH}" >/dev/null; printf %s "$YUI_GATEWAY_CLIENT_MAX_BODY_SIZE"'
        result = subprocess.run(
            ["/bin/sh", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert int(result.stdout) == attachment_limit(self.CASES[case]) + BODY_MARGIN_BYTES
