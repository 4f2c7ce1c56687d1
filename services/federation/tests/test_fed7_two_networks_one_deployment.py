"""fed7: two networks hosted by one deployment federate through the same protocol (signed HTTP messages to the
deployment's own base URL), and neither network's operator reaches the other's agreements except through it."""

from __future__ import annotations

from federation.messages import envelope

from services.federation.tests.federation_support import (
    accepted_agreement,
    agreement_of,
    assert_problem,
    audit_entries,
    audit_heads_at,
    network,
    propose,
    wait_audit_heads,
    wait_state,
)
from tests.support.federation import ca_certificate_pem, leaf_certificate_pem
from tests.support.stack import Stack


class TestTwoNetworksOneDeployment:
    async def test_fed7_a_proposal_and_its_acceptance_travel_as_signed_messages_and_both_sides_hold_the_agreement(
        self, stack: Stack
    ) -> None:
        home, peer = network(stack, "fed7-home"), network(stack, "fed7-peer")
        client = stack["federation"].client

        proposal = await propose(stack, home, peer)
        assert proposal["side"] == "home" and proposal["state"] == "proposed"
        assert proposal["governing_terms"] == home.source and proposal["network_source"] == home.source

        # The peer learns of it only through the proposal message the worker delivered.
        at_peer = await wait_state(stack, peer, proposal["id"], "proposed")
        assert at_peer["side"] == "peer" and at_peer["peer_source"] == home.source
        assert at_peer["governing_terms"] == home.source
        assert at_peer["professions"] == proposal["professions"] and at_peer["cache_limit_hours"] == 24
        # The proposer cannot accept its own proposal: acceptance is the peer's.
        assert_problem(
            await client.post(
                f"/agreements/{proposal['id']}/acceptance", json={}, headers=home.operator.headers
            ),
            409,
            "federation-agreement-state",
        )

        accepted = await client.post(
            f"/agreements/{proposal['id']}/acceptance",
            json={"peer_ca_pem": ca_certificate_pem()},
            headers=peer.operator.headers,
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["state"] == "accepted" and accepted.json()["peer_ca_sha256"]
        await wait_state(stack, home, proposal["id"], "accepted")

        # Each side audited what it sent and what it received, with the message's signature.
        sent_home = await audit_entries(stack, home.tenant, "federation.message.sent")
        received_peer = await audit_entries(stack, peer.tenant, "federation.message.received")
        assert [e["type"] for e in sent_home] == [envelope.AGREEMENT_PROPOSED]
        assert [e["type"] for e in received_peer] == [envelope.AGREEMENT_PROPOSED]
        assert sent_home[0]["signature"] == received_peer[0]["signature"]
        assert sent_home[0]["signature"].count(".") == 2 and ".." in sent_home[0]["signature"]  # detached
        sent_peer = await audit_entries(stack, peer.tenant, "federation.message.sent")
        received_home = await audit_entries(stack, home.tenant, "federation.message.received")
        assert [e["type"] for e in sent_peer] == [envelope.AGREEMENT_ACCEPTED]
        assert [e["type"] for e in received_home] == [envelope.AGREEMENT_ACCEPTED]

    async def test_fed7_an_agreed_message_type_crosses_once_the_agreement_is_accepted(
        self, stack: Stack
    ) -> None:
        home, peer = network(stack, "fed7-home"), network(stack, "fed7-peer")
        agreement_id = await accepted_agreement(stack, home, peer)

        sent = await stack["federation"].client.post(
            f"/agreements/{agreement_id}/audit-heads", headers=home.operator.headers
        )
        assert sent.status_code == 200, sent.text

        await wait_audit_heads(stack, peer, 1)
        assert await audit_heads_at(stack, home) == 0

    async def test_fed7_another_networks_operator_reaches_none_of_its_agreements(self, stack: Stack) -> None:
        home, peer = network(stack, "fed7-home"), network(stack, "fed7-peer")
        outsider = network(stack, "fed7-other")
        agreement_id = await accepted_agreement(stack, home, peer)
        client = stack["federation"].client

        # Each side lists its own side only.
        listed_home = (await client.get("/agreements", headers=home.operator.headers)).json()
        listed_peer = (await client.get("/agreements", headers=peer.operator.headers)).json()
        assert [(a["id"], a["side"]) for a in listed_home] == [(agreement_id, "home")]
        assert [(a["id"], a["side"]) for a in listed_peer] == [(agreement_id, "peer")]
        assert (await client.get("/agreements", headers=outsider.operator.headers)).json() == []

        # A third network's operator: the one 404 on every route of the agreement.
        for method, path in (
            ("GET", f"/agreements/{agreement_id}"),
            ("POST", f"/agreements/{agreement_id}/acceptance"),
            ("POST", f"/agreements/{agreement_id}/suspension"),
            ("POST", f"/agreements/{agreement_id}/resumption"),
            ("POST", f"/agreements/{agreement_id}/ending"),
            ("POST", f"/agreements/{agreement_id}/audit-heads"),
        ):
            response = await client.request(method, path, headers=outsider.operator.headers)
            assert_problem(response, 404, "not-found")
        # Staff of the home network who are not its operator: refused, and the attempt is audited.
        nurse = stack.staff(tenant=home.tenant, roles=("staff",))
        assert_problem(await agreement_of(stack, nurse, agreement_id), 403, "forbidden")
        refused = await audit_entries(stack, home.tenant, "federation.agreement.read-refused")
        assert refused and refused[-1]["target"] == f"agreement:{agreement_id}"

        # Both sides still accepted: nobody else changed anything.
        assert (await agreement_of(stack, home.operator, agreement_id)).json()["state"] == "accepted"
        assert (await agreement_of(stack, peer.operator, agreement_id)).json()["state"] == "accepted"

    async def test_fed7_a_suspension_and_an_ending_reach_the_other_side(self, stack: Stack) -> None:
        home, peer = network(stack, "fed7-home"), network(stack, "fed7-peer")
        agreement_id = await accepted_agreement(stack, home, peer)
        client = stack["federation"].client

        suspended = await client.post(f"/agreements/{agreement_id}/suspension", headers=peer.operator.headers)
        assert suspended.status_code == 200 and suspended.json()["state"] == "suspended"
        await wait_state(stack, home, agreement_id, "suspended")
        # Nothing crosses while suspended: the sender refuses to send it.
        assert_problem(
            await client.post(f"/agreements/{agreement_id}/audit-heads", headers=home.operator.headers),
            409,
            "federation-agreement-state",
        )
        resumed = await client.post(f"/agreements/{agreement_id}/resumption", headers=home.operator.headers)
        assert resumed.status_code == 200
        await wait_state(stack, peer, agreement_id, "accepted")
        ended = await client.post(f"/agreements/{agreement_id}/ending", headers=home.operator.headers)
        assert ended.status_code == 200
        await wait_state(stack, peer, agreement_id, "ended")
        assert_problem(
            await client.post(f"/agreements/{agreement_id}/resumption", headers=peer.operator.headers),
            409,
            "federation-agreement-state",
        )

    async def test_fed7_a_proposal_pins_a_ca_certificate_only(self, stack: Stack) -> None:
        home, peer = network(stack, "fed7-home"), network(stack, "fed7-peer")
        response = await stack["federation"].client.post(
            "/agreements",
            json={
                "peer_base_url": "https://neighbour.invalid",
                "peer_source": f"https://neighbour.invalid/networks/{peer.tenant}",
                "peer_ca_pem": leaf_certificate_pem(),
                "cache_limit_hours": 1,
            },
            headers=home.operator.headers,
        )
        assert_problem(response, 422, "federation-ca-invalid")
        assert (
            await stack["federation"].client.get("/agreements", headers=home.operator.headers)
        ).json() == []
