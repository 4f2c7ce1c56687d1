"""fed2 across deployments: a subject of deployment a's network is referred to a clinic of deployment b's; b's nurse
(the profession the agreement lets see visits, at the referred clinic) reads the timeline fetched from a at every
fetch, through both gateways (mutual TLS), and replies, and the reply is in a's timeline; a pharmacist of that
clinic (a profession outside the agreement) and a nurse of another facility get the one 404; both deployments'
audit logs hold the fetch."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.support.referral_peers import (
    HOME,
    audit_of,
    fetch,
    home_subject,
    peer_staff,
    refer,
    referral_agreement,
    shared_at_peer,
    sign_in,
)
from tests.support.two_stacks import TwoStacks

# Two deployments of real processes: alone, after the parallel phase (under the suite's load their start and
# retries outran the timeouts).
pytestmark = pytest.mark.serial


class TestReferralBetweenDeployments:
    async def test_fed2_referred_subject_read_and_answered_by_permitted_peer_staff_only(
        self, care: TwoStacks, agreements: dict[str, Any]
    ) -> None:
        a, b = care.a, care.b
        doctor = await sign_in(a, HOME, "doctor")
        staff = await peer_staff(b)
        agreement_id = await referral_agreement(care, agreements)
        subject = await home_subject(a, doctor, "fed2")
        referral = await refer(a, doctor, subject, agreement_id, categories=["visit"])
        assert (
            referral["state"] == "active" and referral["peer_network_name"] != referral["home_network_name"]
        )

        nurse = staff["nurse"]
        shared = await shared_at_peer(b, nurse, referral["id"])
        assert shared["side"] == "peer" and shared["subject_name"] == subject.name

        async with b.federation_api() as federation:
            answer = await fetch(b, nurse, referral["id"], federation)
            assert answer.status_code == 200, answer.text
            timeline = answer.json()
            assert timeline["from_cache"] is False
            # Only the referral's category crossed: the "other" post stayed home.
            assert [p["id"] for p in timeline["posts"]] == [subject.visit_post_id]
            assert "id" not in timeline["posts"][0]["author"]

            reply = await federation.post(
                f"/referrals/{referral['id']}/posts",
                json={
                    "category": "visit",
                    "body": "b の診療所で受け入れました",
                    "parent_id": subject.visit_post_id,
                },
                headers=nurse.headers,
            )
            assert reply.status_code == 201, reply.text
            refused = await federation.post(
                f"/referrals/{referral['id']}/posts",
                json={"category": "medication", "body": "共有されていない区分"},
                headers=nurse.headers,
            )
            assert refused.status_code == 422 and refused.headers["content-type"].startswith(
                "application/problem+json"
            )

            for who in ("pharmacist", "care-home-nurse"):
                outsider = staff[who]
                response = await fetch(b, outsider, referral["id"], federation)
                assert response.status_code == 404, (who, response.text)
                assert response.headers["content-type"].startswith("application/problem+json")
                listed = await federation.get("/referrals/shared", headers=outsider.headers)
                assert referral["id"] not in {r["id"] for r in listed.json()}, who
            # b's answer for them came from b itself: a was asked only for the nurse's read.

        # The reply landed at a: a's doctor reads it under the visit, its author named with b's clinic and network.
        async with httpx.AsyncClient(base_url=a.api_url("timeline"), timeout=30) as timeline_api:
            page = await timeline_api.get(f"/posts/{subject.visit_post_id}", headers=doctor)
        assert page.status_code == 200, page.text
        replies = [r for r in page.json()["replies"] if r["body"] == "b の診療所で受け入れました"]
        assert replies and replies[0]["author"]["facility_name"].startswith("となり内科クリニック（"), replies

        target = f"referral:{referral['id']}"
        # b's audit log: who fetched; a's federation: what it granted, with b's signed assertion naming the nurse;
        # a's timeline: the read, the peer user named.
        assert await audit_of(b, "federation", "federation.referral.fetched", target)
        read = await audit_of(a, "federation", "federation.referral.read", target)
        assert read and read[0]["actor_id"] == f"peer-user:{nurse.user_id}"
        assert _detail(read[0])["assertion"]
        listed_at_home = await audit_of(a, "timeline", "post.list.federated", f"subject:{subject.id}")
        # a's timeline names her by the id a derives from b's network and her own id, and keeps her own id.
        assert listed_at_home and listed_at_home[0]["actor_id"].startswith("peer-user:")
        assert _detail(listed_at_home[0])["peer_user"] == str(nurse.user_id)
        assert await audit_of(a, "timeline", "post.reply.federated", f"subject:{subject.id}")
        refusals = await audit_of(b, "federation", "federation.referral.fetch-refused", target)
        assert len(refusals) >= 2
        # a was never asked on behalf of the pharmacist or the other facility's nurse.
        assert not await audit_of(a, "federation", "federation.referral.refused", target)


def _detail(row: Any) -> dict[str, Any]:
    detail = row["detail"]
    return dict(json.loads(detail) if isinstance(detail, str) else detail)
