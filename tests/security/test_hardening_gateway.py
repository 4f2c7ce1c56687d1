"""sec2 for issue 14's findings 6, 8, 10 and 11: cookie writes from another origin, /metrics from outside, the
gateway's certificate headers from a direct caller, nginx's own errors and implausible birth dates."""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote
from uuid import uuid4
from zoneinfo import ZoneInfo

import httpx
import pyotp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from identity.models import Facility, Network, User
from identity.passwords import hash_password

from tests.support import gateway as gateway_fixtures
from tests.support.gateway import Gateway, client_for
from tests.support.stack import FROM_GATEWAY, SERVICES, Stack

gateway = gateway_fixtures.gateway  # the shared session fixture (one started gateway per pytest worker)

PASSWORD = "Kaigo-2026!tokyo"
SUBJECT = {
    "name": "結 四郎",
    "name_kana": "ユイ シロウ",
    "municipality_code": "232360",
    "confirm_not_duplicate": True,
}


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, object] = response.json()
    assert body["status"] == status and str(body["type"]).startswith("urn:yui:problem:") and body["title"]
    return body


# ---------------------------------------------------------------- finding 6: cookie writes need our origin


async def operator_with_cookie(stack: Stack) -> tuple[dict[str, str], User]:
    """An operator signed in to the admin UI (identity's HttpOnly access cookie) and a locked clerk."""
    from identity import tokens

    tenant = f"sec2-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="sec2"))
        await session.flush()
        office = Facility(id=uuid4(), tenant=tenant, name="町役場", kind="municipality")
        session.add(office)
        await session.flush()
        operator, clerk = (
            User(
                id=uuid4(),
                tenant=tenant,
                facility_id=office.id,
                login_id=login_id,
                display_name=login_id,
                password_hash=hash_password(PASSWORD),
                roles=roles,
                totp_secret=pyotp.random_base32(),
                totp_confirmed=True,
                locked_at=locked_at,
            )
            for login_id, roles, locked_at in (
                ("operator", ["operator"], None),
                ("clerk", ["staff"], datetime.now(UTC)),
            )
        )
        session.add_all([operator, clerk])
    # identity verifies its own cookie's token through its JWKS, which the stack preloaded with a test key.
    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    stack["identity"].app.state.token_verifier.keys.load(
        {"keys": [tokens.public_jwk(stack.signing_key), *published]}
    )
    signed_in = await stack["identity"].client.post(
        "/admin/login",
        data={
            "tenant": tenant,
            "login_id": "operator",
            "password": PASSWORD,
            "totp_code": pyotp.TOTP(operator.totp_secret or "").now(),
        },
    )
    assert signed_in.status_code == 303, signed_in.text[:300]
    return {"Cookie": signed_in.headers["set-cookie"].split(";", 1)[0]}, clerk


class TestCookieAuthenticatedWrites:
    async def test_sec2_a_cookie_write_needs_our_own_origin(self, stack: Stack) -> None:
        cookie, clerk = await operator_with_cookie(stack)
        client = stack["identity"].client
        # A page on another origin of the same site (SameSite=Strict does not stop it) posts with no body.
        for foreign in (
            {"Origin": "https://wiki.identity.test"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "same-site"},
            {"Referer": "https://wiki.identity.test/page"},
        ):
            refused = await client.post(f"/users/{clerk.id}/unlock", headers={**cookie, **foreign})
            body = assert_problem(refused, 403)
            assert body["type"] == "urn:yui:problem:cross-origin-request", foreign
        async with stack["identity"].sessionmaker() as session:
            still_locked = await session.get(User, clerk.id)
            assert still_locked is not None and still_locked.locked_at is not None
        # A bearer token is sent only by code that holds it: no origin question.
        doctor = stack.staff()
        created = await stack["consent"].client.post(
            "/subjects", json=SUBJECT, headers={**doctor.headers, "Origin": "https://elsewhere.example"}
        )
        assert created.status_code == 201, created.text
        # Our own pages still write with the cookie.
        unlocked = await client.post(
            f"/users/{clerk.id}/unlock", headers={**cookie, "Origin": "http://identity.test"}
        )
        assert unlocked.status_code == 200, unlocked.text


# ---------------------------------------------------------------- finding 8: no /metrics from outside


class TestMetricsStayInside:
    async def test_sec2_no_service_metrics_through_the_gateway(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            for path in ["/metrics", *(f"/api/{service}/metrics" for service in SERVICES)]:
                for variant in (path, path + "/", path.replace("metrics", "%6detrics"), path + "?format=x"):
                    outside = await client.get(variant)
                    assert_problem(outside, 404)
                    assert b"yui_http_requests_total" not in outside.content
        # Prometheus scrapes each service on its internal address.
        async with httpx.AsyncClient() as client:
            for service, upstream in gateway.upstreams.items():
                scraped = await client.get(f"{upstream}/metrics")
                assert scraped.status_code == 200 and b"yui_http_requests_total" in scraped.content, service

    async def test_sec2_readiness_through_the_gateway_names_no_dependency(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            # federation has no /api/federation/ from outside (only the paths peers call): tests/e2e/test_gateway.py.
            for service in (s for s in SERVICES if s != "federation"):
                ready = await client.get(f"/api/{service}/readyz")
                assert ready.status_code == 200 and ready.json() == {"status": "ready"}, ready.text
        async with httpx.AsyncClient() as client:
            for service, upstream in gateway.upstreams.items():
                probed = await client.get(f"{upstream}/readyz")
                assert "database" in probed.json()["checks"], service


# ---------------------------------------------------------------- finding 10: the gateway's headers, only from it


def certificate_headers() -> tuple[dict[str, str], str]:
    """What the gateway forwards for a verified certificate, and that certificate's SHA-256 fingerprint."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sec2 terminal")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    fingerprint = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    return {"X-Client-Verify": "SUCCESS", "X-Client-Cert": quote(pem, safe="")}, fingerprint


class TestGatewayHeadersOnlyFromTheGateway:
    async def test_sec2_a_direct_caller_cannot_present_a_certificate_by_header(self, stack: Stack) -> None:
        # The certificate's public PEM is no secret: anyone who saw it could send it straight to a service.
        presented, fingerprint = certificate_headers()
        bound = stack.staff(cert_fingerprint=fingerprint)
        for service, path in (("consent", "/subjects"), ("timeline", "/feed"), ("notify", "/notifications")):
            for claimed in ({}, {"X-Yui-Gateway-Secret": "guessed"}, {"X-Yui-Gateway-Secret": ""}):
                direct = await stack[service].client.get(
                    path, headers={**bound.headers, **presented, **claimed}
                )
                assert_problem(direct, 401)
        # With the gateway's secret (what the gateway adds after verifying the certificate) it works.
        listed = await stack["consent"].client.get(
            "/subjects", headers={**bound.headers, **presented, **FROM_GATEWAY}
        )
        assert listed.status_code == 200, listed.text


# ---------------------------------------------------------------- finding 11: nginx's errors and birth dates


async def raw_request(gateway: Gateway, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes no HTTP client would (HTTP/1.1 over TLS) and parse nginx's answer."""
    host, port = gateway.url.removeprefix("https://").split(":")
    context = ssl.create_default_context(cafile=str(gateway.certificate))
    reader, writer = await asyncio.open_connection(host, int(port), ssl=context, server_hostname=host)
    try:
        writer.write(request)
        await writer.drain()
        answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


class TestGatewayErrorsAreProblems:
    async def test_sec2_a_too_long_url_is_answered_in_problem_json(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            for path in ("/", "/api/consent/subjects", "/staff/"):
                body = assert_problem(await client.get(path + "?q=" + "x" * 20_000), 414)
                assert body["type"] == "urn:yui:problem:uri-too-long"

    async def test_sec2_a_malformed_request_is_answered_in_problem_json(self, gateway: Gateway) -> None:
        # HTTP/1.1 without a Host header: nginx itself answers 400.
        status, headers, body = await raw_request(gateway, b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert status == 400 and headers["content-type"].startswith("application/problem+json")
        problem = json.loads(body)
        assert problem["status"] == 400 and problem["type"] == "urn:yui:problem:bad-request"
        assert "strict-transport-security" in headers  # the gateway's security headers still apply

    async def test_sec2_an_oversized_header_is_answered_in_problem_json(self, gateway: Gateway) -> None:
        async with client_for(gateway) as client:
            body = assert_problem(await client.get("/", headers={"X-Padding": "p" * 40_000}), 400)
            assert body["type"] == "urn:yui:problem:bad-request"


class TestBirthDatesMakeSense:
    async def test_sec2_a_subject_born_in_the_future_or_before_1880_is_refused(self, stack: Stack) -> None:
        doctor = stack.staff()
        today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
        for born in (today + timedelta(days=1), date(2999, 1, 1), date(1879, 12, 31)):
            refused = await stack["consent"].client.post(
                "/subjects", json={**SUBJECT, "birth_date": born.isoformat()}, headers=doctor.headers
            )
            body = assert_problem(refused, 422)
            errors = body["errors"]
            assert isinstance(errors, list) and any("birth_date" in e["location"] for e in errors), body
        for born in (today, date(1880, 1, 1), date(1920, 5, 1)):
            created = await stack["consent"].client.post(
                "/subjects",
                json={**SUBJECT, "name_kana": f"ユイ {born.year}", "birth_date": born.isoformat()},
                headers=doctor.headers,
            )
            assert created.status_code == 201, created.text
