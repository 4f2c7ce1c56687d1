"""fed4 across deployments: the gateway's peer port admits only client certificates from a pinned CA.

Without a certificate, or with one from a CA no agreement pins (a third deployment), a request to
/federation/v1/ is answered by nginx itself and never reaches federation; the deployment's published keys stay
readable on its public port; the protocol is not served there at all.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.support.federation_peers import rows
from tests.support.two_stacks import Deployment, TwoStacks

# Two deployments of real processes: alone, after the parallel phase (under the suite's load their start and
# retries outran the timeouts).
pytestmark = pytest.mark.serial

GATEWAY_REFUSAL = "urn:yui:problem:peer-certificate-required"


def rogue_deployment_certificate(directory: Path) -> tuple[str, str]:
    """A client certificate of a deployment nobody pinned: its own CA, a client certificate from it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Some other Yui deployment's CA")])
    (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "federation@elsewhere")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = directory / "rogue.crt", directory / "rogue.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return str(cert_file), str(key_file)


async def put_transaction(client: httpx.AsyncClient) -> httpx.Response:
    message_id = uuid4()
    return await client.put(
        f"/federation/v1/transactions/{message_id}",
        content=b'{"specversion":"1.0"}',
        headers={"Content-Type": "application/cloudevents+json"},
    )


async def refused_by_the_gateway(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == GATEWAY_REFUSAL


async def reached_federation(deployment: Deployment) -> int:
    """What federation recorded of this test's probes (its body is no federation message; its feed pull carries no
    proof): the other tests' real messages, still being retried in the background, are not counted."""
    found = await rows(
        deployment,
        "SELECT count(*) AS n FROM audit_log WHERE (action = 'federation.message.refused' "
        "AND detail->>'reason' = 'federation-malformed-message') OR action = 'federation.feed.refused'",
    )
    return int(found[0]["n"])


class TestPeerPortRequiresAPinnedClientCertificate:
    async def test_fed4_no_client_certificate_is_refused_by_the_gateway(self, stacks: TwoStacks) -> None:
        before = await reached_federation(stacks.b)
        async with stacks.b.peer_client(certificate=None) as client:
            await refused_by_the_gateway(await put_transaction(client))
            await refused_by_the_gateway(await client.get("/federation/v1/feed", params={"after": 0}))
        assert await reached_federation(stacks.b) == before

    async def test_fed4_a_certificate_from_an_unpinned_ca_is_refused_by_the_gateway(
        self, stacks: TwoStacks, tmp_path: Path
    ) -> None:
        before = await reached_federation(stacks.b)
        async with stacks.b.peer_client(certificate=rogue_deployment_certificate(tmp_path)) as client:
            await refused_by_the_gateway(await put_transaction(client))
            await refused_by_the_gateway(await client.get("/.well-known/yui-federation"))
        assert await reached_federation(stacks.b) == before

    async def test_fed4_a_pinned_deployments_certificate_reaches_federation(self, stacks: TwoStacks) -> None:
        # a's CA is introduced to b (exchanged out of band): a's federation client certificate passes the
        # gateway, and federation itself then judges the message (not a federation message: 400).
        before = await reached_federation(stacks.b)
        async with stacks.b.peer_client(certificate=stacks.a.client_certificate) as client:
            answered = await put_transaction(client)
        assert answered.status_code == 400, answered.text
        assert answered.json()["type"] == "urn:yui:problem:federation-malformed-message", answered.text
        assert await reached_federation(stacks.b) == before + 1

    async def test_fed4_the_published_keys_stay_readable_and_the_protocol_is_not_on_the_public_port(
        self, stacks: TwoStacks
    ) -> None:
        async with stacks.b.public_client() as client:
            published = await client.get("/.well-known/yui-federation")
            protocol = await put_transaction(client)
        assert published.status_code == 200, published.text
        assert published.json()["keys"][0]["alg"] == "EdDSA"
        assert protocol.status_code == 404
        assert protocol.json()["type"] == "urn:yui:problem:not-found"

    async def test_fed4_the_peer_port_shows_a_server_certificate_of_the_deployments_own_ca(
        self, stacks: TwoStacks
    ) -> None:
        # What the peer pins is the only trust: a's CA does not vouch for b's peer port.
        async with stacks.b.peer_client(stacks.a.client_certificate, ca_pem=stacks.a.ca_pem) as client:
            with pytest.raises(httpx.ConnectError) as failed:
                await client.get("/.well-known/yui-federation")
        assert (
            isinstance(failed.value.__cause__ or failed.value.__context__, ssl.SSLError)
            or "CERTIFICATE" in str(failed.value).upper()
        )
