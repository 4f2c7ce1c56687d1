"""Client certificates through real nginx: our CA and CRL verified, fingerprints bound to tokens."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote
from uuid import UUID, uuid4

import httpx
import jwt
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from identity import ca
from identity.certificates import service as certificates
from identity.crl_publisher import CrlPublisher
from identity.models import Facility, Network, User
from identity.passwords import hash_password

from deploy.gateway.render import find_nginx, render
from tests.support.stack import GATEWAY_SECRET, SERVICES, Stack, Staff, eventually

PIN = "482913"
PASSWORD = "kakuninn-no-tame-no-pasuwaado-2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class VerifyingGateway:
    """nginx with `ssl_verify_client optional` against identity's CA and CRL, and the CRL publisher that the
    identity worker runs in a deployment (here with this gateway's files and pid)."""

    url: str
    server_certificate: Path
    pid_file: Path
    publisher: CrlPublisher
    directory: Path
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    def master_pid(self) -> int:
        return int(self.pid_file.read_text().strip())

    def worker_pids(self) -> set[int]:
        """The master's worker processes now (from /proc): after a reload, the old ones leave as they finish."""
        master, found = self.master_pid(), set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if parent == master:
                found.add(int(stat.parent.name))
        return found

    def client(self, certificate: Path | None = None, key: Path | None = None) -> httpx.AsyncClient:
        # A new SSL context per client: no TLS session is resumed, so each connection is verified afresh.
        context = ssl.create_default_context(cafile=str(self.server_certificate))
        if certificate is not None:
            context.load_cert_chain(str(certificate), str(key))
        return httpx.AsyncClient(base_url=self.url, verify=context)


@dataclass
class Terminal:
    """A certificate installed on a terminal: its PEM files and fingerprint."""

    certificate: x509.Certificate
    certificate_file: Path
    key_file: Path
    certificate_id: str

    @property
    def fingerprint(self) -> str:
        return ca.fingerprint_sha256(self.certificate)


@pytest.fixture(scope="module")
async def verifying_gateway(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[VerifyingGateway]:
    nginx = find_nginx()
    assert nginx, "nginx is not installed (apt-get install nginx); .ci/run installs it"
    runtime = tmp_path_factory.mktemp("verifying-gateway")
    publisher = CrlPublisher(
        sessionmaker=stack["identity"].sessionmaker,
        ca_file=runtime / "client-ca" / "ca.pem",
        crl_file=runtime / "client-ca" / "crl.pem",
        nginx_pid_file=runtime / "nginx.pid",
    )
    await (
        publisher.publish_if_changed()
    )  # creates the CA on first use; the files must exist before nginx starts
    servers: list[tuple[uvicorn.Server, asyncio.Task[None]]] = []
    env = {
        "YUI_GATEWAY_PORT": str(free_port()),
        "YUI_GATEWAY_PEER_PORT": str(free_port()),
        "YUI_GATEWAY_CLIENT_CA_FILE": str(publisher.ca_file),
        "YUI_GATEWAY_CLIENT_CRL_FILE": str(publisher.crl_file),
        "YUI_GATEWAY_SECRET": GATEWAY_SECRET,
    }
    for service in SERVICES:
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(stack[service].app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
        )
        servers.append((server, asyncio.create_task(server.serve())))
        env[f"YUI_GATEWAY_{service.upper()}_UPSTREAM"] = f"127.0.0.1:{port}"
    rendered = render(runtime, env)
    assert rendered.client_certificates
    process = subprocess.Popen(rendered.nginx_command(nginx), stderr=subprocess.PIPE)  # noqa: ASYNC220 - returns at once
    url = f"https://localhost:{rendered.port}"
    gateway = VerifyingGateway(url, rendered.cert_file, rendered.pid_file, publisher, runtime)

    async def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            async with gateway.client() as client:
                return (await client.get("/api/identity/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    publishing = asyncio.create_task(publisher.run(interval_s=0.2))
    try:
        await eventually(answering, what="the verifying gateway to answer")
        yield gateway
    finally:
        publishing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await publishing
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        for server, task in servers:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)


@dataclass
class ClinicSite:
    """A facility of a fresh network: its administrator's token and a nurse to issue certificates to."""

    tenant: str
    facility_id: UUID
    admin: Staff
    nurse_id: UUID


async def make_facility(stack: Stack) -> ClinicSite:
    tenant = f"net-{uuid4().hex[:8]}"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name="テスト ネット"))
        await session.flush()
        facility = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        session.add(facility)
        await session.flush()
        admin = User(
            id=uuid4(),
            tenant=tenant,
            facility_id=facility.id,
            login_id="admin",
            display_name="管理 太郎",
            password_hash=hash_password(PASSWORD),
            roles=["staff", "facility_admin"],
        )
        nurse = User(
            id=uuid4(),
            tenant=tenant,
            facility_id=facility.id,
            login_id="nurse",
            display_name="看護 花子",
            password_hash=admin.password_hash,
            roles=["staff"],
        )
        session.add_all([admin, nurse])
    token = stack.staff(
        tenant=tenant, facility_id=facility.id, roles=("staff", "facility_admin"), user_id=admin.id
    )
    return ClinicSite(tenant, facility.id, token, nurse.id)


def install(directory: Path, bundle: bytes, pin: str, certificate_id: str) -> Terminal:
    """What installing the PKCS#12 file on a terminal amounts to: its key and certificate, usable for TLS."""
    key, certificate, _ = pkcs12.load_key_and_certificates(bundle, pin.encode())
    assert key is not None and certificate is not None
    name = uuid4().hex
    certificate_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return Terminal(certificate, certificate_file, key_file, certificate_id)


async def issue_terminal(gateway: VerifyingGateway, site: ClinicSite, label: str) -> Terminal:
    async with gateway.client() as client:
        response = await client.post(
            "/api/identity/certificates",
            json={"user_id": str(site.nurse_id), "terminal_label": label, "pin": PIN},
            headers=site.admin.headers,
        )
    assert response.status_code == 201, response.text
    return install(gateway.directory, response.content, PIN, response.headers["x-certificate-id"])


def bound_token(stack: Stack, site: ClinicSite, terminal: Terminal) -> Staff:
    return stack.staff(
        tenant=site.tenant,
        facility_id=site.facility_id,
        user_id=site.nurse_id,
        cert_fingerprint=terminal.fingerprint,
    )


def assert_refused_by_gateway(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "client certificate is not trusted" in response.json()["detail"]


def terminal_context(gateway: VerifyingGateway, terminal: Terminal) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(gateway.server_certificate))
    context.load_cert_chain(str(terminal.certificate_file), str(terminal.key_file))
    return context


def get_over_tls(
    gateway: VerifyingGateway, context: ssl.SSLContext, session: ssl.SSLSession | None = None
) -> tuple[int, bool, ssl.SSLSession | None]:
    """One blocking HTTPS request on a new connection, optionally offering an earlier TLS session.
    Returns (status, whether the session was resumed, the session to offer next time)."""
    host, port = gateway.url.removeprefix("https://").split(":")
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=host, session=session) as tls,
    ):
        tls.sendall(
            f"GET /api/identity/healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
        return int(answer.split(b" ", 2)[1]), tls.session_reused, tls.session


class TestI2GatewayVerifiesOurCertificates:
    async def test_i2_public_pages_do_not_ask_for_a_certificate(
        self, verifying_gateway: VerifyingGateway
    ) -> None:
        async with verifying_gateway.client() as client:
            home = await client.get("/")
            crl = await client.get("/api/identity/crl.pem")
        assert home.status_code == 200
        assert crl.status_code == 200
        assert x509.load_pem_x509_crl(crl.content).next_update_utc is not None

    async def test_i2_issued_certificate_is_accepted_and_its_fingerprint_reaches_the_services(
        self, stack: Stack, verifying_gateway: VerifyingGateway
    ) -> None:
        site = await make_facility(stack)
        terminal = await issue_terminal(verifying_gateway, site, "訪問用タブレット")
        token = bound_token(stack, site, terminal)

        async with verifying_gateway.client(terminal.certificate_file, terminal.key_file) as client:
            identity = await client.get("/api/identity/me", headers=token.headers)
            consent = await client.get("/api/consent/subjects", headers=token.headers)
        async with verifying_gateway.client() as client:
            without_certificate = await client.get("/api/identity/me", headers=token.headers)

        # The token is bound to the certificate's SHA-256: accepted only because each service computed the
        # same fingerprint from what nginx verified and forwarded.
        assert identity.status_code == 200, identity.text
        assert consent.status_code == 200, consent.text
        assert without_certificate.status_code == 401

    async def test_i2_revoked_certificate_is_refused_after_the_crl_refresh_without_restarting_nginx(
        self, stack: Stack, verifying_gateway: VerifyingGateway
    ) -> None:
        site = await make_facility(stack)
        lost = await issue_terminal(verifying_gateway, site, "紛失した端末")
        kept = await issue_terminal(verifying_gateway, site, "残る端末")
        master = verifying_gateway.master_pid()
        reloads = verifying_gateway.publisher.reloads
        async with verifying_gateway.client(lost.certificate_file, lost.key_file) as client:
            assert (await client.get("/api/identity/healthz")).status_code == 200

        async with verifying_gateway.client() as client:
            revoked = await client.post(
                f"/api/identity/certificates/{lost.certificate_id}/revoke",
                json={"reason": "terminal_lost"},
                headers=site.admin.headers,
            )
        assert revoked.status_code == 200, revoked.text

        async def refused() -> httpx.Response | None:
            async with verifying_gateway.client(lost.certificate_file, lost.key_file) as client:
                response = await client.get("/api/identity/healthz")
            return response if response.status_code != 200 else None

        response = await eventually(refused, what="nginx to refuse the revoked certificate")
        assert_refused_by_gateway(response)
        assert verifying_gateway.master_pid() == master, "nginx was restarted instead of reloaded"
        assert verifying_gateway.publisher.reloads > reloads
        async with verifying_gateway.client(kept.certificate_file, kept.key_file) as client:
            assert (await client.get("/api/identity/healthz")).status_code == 200

    async def test_i2_no_tls_session_resumption_lets_a_revoked_certificate_through(
        self, stack: Stack, verifying_gateway: VerifyingGateway
    ) -> None:
        """OpenSSL does not re-verify a resumed session and nginx keeps its session cache across reloads, so
        the gateway must not resume sessions where it checks a CRL."""
        site = await make_facility(stack)
        terminal = await issue_terminal(verifying_gateway, site, "端末A")
        context = terminal_context(verifying_gateway, terminal)
        status, _, session = await asyncio.to_thread(get_over_tls, verifying_gateway, context)
        assert status == 200
        before_reload = verifying_gateway.worker_pids()
        async with verifying_gateway.client() as client:
            revoked = await client.post(
                f"/api/identity/certificates/{terminal.certificate_id}/revoke",
                json={"reason": "key_compromised"},
                headers=site.admin.headers,
            )
        assert revoked.status_code == 200

        async def refused_afresh() -> bool:
            # Until the workers from before the reload have left, a new connection may still reach one of them
            # (with the old CRL): a graceful reload, not a fault; wait for the new workers alone.
            if before_reload & verifying_gateway.worker_pids():
                return False
            fresh = terminal_context(verifying_gateway, terminal)
            status, _, _ = await asyncio.to_thread(get_over_tls, verifying_gateway, fresh)
            return status == 403

        await eventually(
            refused_afresh, what="nginx to refuse the revoked certificate with its new workers alone"
        )
        status, resumed, _ = await asyncio.to_thread(get_over_tls, verifying_gateway, context, session)

        assert not resumed
        assert status == 403

    async def test_i2_certificate_from_another_ca_is_refused(
        self, verifying_gateway: VerifyingGateway
    ) -> None:
        stranger = ca.create_root("Someone else's CA")
        certificate, key = ca.issue_client_certificate(
            stranger,
            network="demo",
            facility_name="結クリニック",
            terminal_label="偽の端末",
            user_id=str(uuid4()),
            valid_for=timedelta(days=1),
        )
        bundle = pkcs12.serialize_key_and_certificates(
            b"x", key, certificate, None, serialization.BestAvailableEncryption(PIN.encode())
        )
        forged = install(verifying_gateway.directory, bundle, PIN, "none")

        async with verifying_gateway.client(forged.certificate_file, forged.key_file) as client:
            response = await client.get("/api/identity/healthz")

        assert_refused_by_gateway(response)


class TestI12CertificateBoundTokens:
    async def test_i12_token_bound_to_certificate_a_presented_with_certificate_b_is_refused(
        self, stack: Stack, verifying_gateway: VerifyingGateway
    ) -> None:
        site = await make_facility(stack)
        terminal_a = await issue_terminal(verifying_gateway, site, "端末A")
        terminal_b = await issue_terminal(verifying_gateway, site, "端末B")
        token = bound_token(stack, site, terminal_a)

        async with verifying_gateway.client(terminal_b.certificate_file, terminal_b.key_file) as client:
            with_b = await client.get("/api/identity/me", headers=token.headers)
            consent_with_b = await client.get("/api/consent/subjects", headers=token.headers)
        async with verifying_gateway.client(terminal_a.certificate_file, terminal_a.key_file) as client:
            with_a = await client.get("/api/identity/me", headers=token.headers)

        assert with_b.status_code == 401 and consent_with_b.status_code == 401
        assert with_b.headers["content-type"].startswith("application/problem+json")
        assert with_a.status_code == 200

    async def test_i12_verification_headers_sent_by_a_client_are_not_believed(
        self, stack: Stack, verifying_gateway: VerifyingGateway
    ) -> None:
        site = await make_facility(stack)
        terminal = await issue_terminal(verifying_gateway, site, "端末A")
        token = bound_token(stack, site, terminal)

        forged_headers = {
            **token.headers,
            "X-Client-Verify": "SUCCESS",
            "X-Client-Cert": quote(
                terminal.certificate.public_bytes(serialization.Encoding.PEM).decode(), safe=""
            ),
            "X-Client-Cert-Fingerprint": terminal.fingerprint,
        }

        async with verifying_gateway.client() as client:
            response = await client.get("/api/identity/me", headers=forged_headers)

        assert response.status_code == 401


async def trust_identity_keys(stack: Stack) -> None:
    """Give every service identity's published keys beside the stack's test key (as a JWKS refresh would)."""
    from identity import tokens

    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    keys = [tokens.public_jwk(stack.signing_key), *published]
    for service in stack.services.values():
        service.app.state.token_verifier.keys.load({"keys": keys})


class TestS1PasswordAndCertificate:
    async def test_s1_access_code_certificate_then_password_login_binds_the_token_to_that_certificate(
        self, stack: Stack, verifying_gateway: VerifyingGateway
    ) -> None:
        """The path an administrator takes: access code and PIN to the certificate, then password plus
        certificate to a token that works only beside that certificate. A certificate alone opens nothing."""
        site = await make_facility(stack)
        async with stack["identity"].sessionmaker() as session, session.begin():
            grant = await certificates.issue_access_code(
                session, facility_id=site.facility_id, administrator_user_id=site.admin.user_id
            )
        async with verifying_gateway.client() as client:
            downloaded = await client.post(
                "/api/identity/certificates/redeem",
                json={
                    "tenant": site.tenant,
                    "access_code": grant.access_code,
                    "pin": grant.pin,
                    "terminal_label": "事務所PC",
                },
            )
        assert downloaded.status_code == 201, downloaded.text
        terminal = install(verifying_gateway.directory, downloaded.content, grant.pin, "redeemed")
        other_terminal = await issue_terminal(verifying_gateway, site, "他の端末")
        credentials = {"tenant": site.tenant, "login_id": "admin"}

        async with verifying_gateway.client(terminal.certificate_file, terminal.key_file) as client:
            certificate_alone = await client.post(
                "/api/identity/auth/token", json={**credentials, "password": "x"}
            )
            login = await client.post("/api/identity/auth/token", json={**credentials, "password": PASSWORD})
        async with verifying_gateway.client() as client:
            password_alone = await client.post(
                "/api/identity/auth/token", json={**credentials, "password": PASSWORD}
            )

        assert certificate_alone.status_code == 401
        assert password_alone.status_code == 401
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["cnf"]["x5t#S256"] == terminal.fingerprint
        await trust_identity_keys(stack)
        bearer = {"Authorization": f"Bearer {token}"}
        async with verifying_gateway.client(terminal.certificate_file, terminal.key_file) as client:
            with_own = await client.get("/api/consent/subjects", headers=bearer)
        async with verifying_gateway.client(
            other_terminal.certificate_file, other_terminal.key_file
        ) as client:
            with_other = await client.get("/api/consent/subjects", headers=bearer)
        assert with_own.status_code == 200, with_own.text
        assert with_other.status_code == 401
