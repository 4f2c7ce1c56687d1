"""The message format and the pieces around it, without the stack: the detached signature, the pseudonymous
subject link, the back-off, the recipient check and the TLS trust towards a peer."""

from __future__ import annotations

import secrets
from uuid import uuid4

import pytest
from federation.messages import envelope
from federation.messages.delivery import backoff_s
from federation.messages.peers import PeerClients
from federation.messages.receiving import local_tenant
from federation.settings import Settings

from services.federation.tests.federation_support import foreign_key
from tests.support.federation import ca_certificate_pem


def a_body(**overrides: object) -> bytes:
    fields: dict = {
        "source": "https://a.example/networks/kita",
        "recipient": "https://b.example/networks/minami",
        "event_type": envelope.AUDIT_HEAD,
        "agreement_id": uuid4(),
        "sequence": 1,
        "data": {"seal_number": 3, "head": "00" * 32},
        **overrides,
    }
    return envelope.build_body(**fields)[1]


class TestSignature:
    def test_a_detached_signature_verifies_over_exactly_the_body(self) -> None:
        key = foreign_key()
        body = a_body()
        signature = envelope.sign(key, body)

        _header, empty, _signature = signature.split(".")
        assert empty == ""  # the payload travels as the body, not in the JWS
        assert envelope.signature_header(signature)["kid"] == key.kid
        assert envelope.verify(signature, body, key.private.public_key())
        assert not envelope.verify(signature, body + b" ", key.private.public_key())
        assert not envelope.verify(signature, body, foreign_key().private.public_key())

    def test_a_body_parses_back_to_the_cloudevent_it_was_built_from(self) -> None:
        message = envelope.parse_body(a_body(subject_link="ab" * 32, consent_version=2))
        assert message.specversion == "1.0" and message.type == envelope.AUDIT_HEAD
        assert message.yuisubjectlink == "ab" * 32 and message.yuiconsentversion == 2
        with pytest.raises(ValueError, match="not a federation message"):
            envelope.parse_body(b'{"specversion": "1.0", "extra": true}')


class TestSubjectLink:
    def test_the_link_is_stable_within_an_agreement_and_unrelated_across_agreements(self) -> None:
        subject, first, second = uuid4(), secrets.token_hex(32), secrets.token_hex(32)
        link = envelope.subject_link(first, subject)
        assert link == envelope.subject_link(first, subject) and len(link) == 64
        assert link != envelope.subject_link(second, subject)
        assert str(subject).replace("-", "") not in link


class TestDelivery:
    def test_back_off_grows_exponentially_with_jitter_and_stays_under_the_ceiling(self) -> None:
        settings = Settings(delivery_backoff_initial_s=1.0, delivery_backoff_max_s=60.0)
        for attempts in range(1, 12):
            waits = {backoff_s(settings, attempts) for _ in range(20)}
            assert all(1.0 <= w <= min(60.0, 2 ** (attempts - 1)) for w in waits)
        assert len({backoff_s(settings, 6) for _ in range(20)}) > 1  # jittered

    def test_only_a_network_of_this_deployment_is_a_recipient(self) -> None:
        settings = Settings(base_url="https://yui.example")
        assert local_tenant(settings, "https://yui.example/networks/kita") == "kita"
        for other in (
            "https://other.example/networks/kita",
            "https://yui.example/networks/",
            "https://yui.example/networks/kita/extra",
            "https://yui.example.evil/networks/kita",
        ):
            assert local_tenant(settings, other) is None, other

    def test_the_pinned_ca_is_the_only_trust_towards_a_peer(self) -> None:
        clients = PeerClients(Settings())
        pinned = clients.tls_context(ca_certificate_pem())
        assert len(pinned.get_ca_certs()) == 1
        assert pinned.check_hostname and pinned.verify_mode.name == "CERT_REQUIRED"
