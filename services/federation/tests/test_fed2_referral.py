"""fed2: a subject referred to a peer network's facility is read and answered there by the staff the agreement
lets see it; a profession outside the agreement and staff of another facility get the one 404; both sides'
audit logs hold the fetch (issue 12). Two networks of one deployment, through the protocol (fed7)."""

from __future__ import annotations

from typing import Any

from federation.referrals.assertions import peer_user_id

from services.federation.tests.referral_support import (
    audit_actions,
    give_professions,
    ok,
    refer,
    referral_agreement,
    shared_at_peer,
)
from tests.support.networks import build_networks
from tests.support.stack import Stack, eventually


async def test_fed2_referral_read_and_reply_by_permitted_staff_only(stack: Stack) -> None:
    home, peer = await build_networks(stack, 2)
    # The peer's nurse (clinic) may see visits; its doctor's profession is outside the agreement; the station's
    # administrator is a nurse, but of another facility than the one the subject is referred to.
    await give_professions(stack, peer, {"nurse": "nurse", "doctor": "doctor", "station-admin": "nurse"})
    await give_professions(stack, home, {"doctor": "doctor"})
    agreement_id = await referral_agreement(stack, home, peer)
    referral = await refer(stack, home, peer, agreement_id, categories=["visit"])
    assert referral["state"] == "active" and referral["facility_name"] == f"{peer.label}クリニック"

    shared = await shared_at_peer(stack, peer, referral["id"])
    assert shared["subject_name"] == f"網{home.label}秘匿 太郎" and shared["side"] == "peer"
    assert shared["referred_by"]["profession"] == "doctor" and shared["categories"] == ["visit"]
    federation = stack["federation"].client

    timeline = await ok(
        await federation.get(f"/referrals/{referral['id']}/timeline", headers=peer.headers("nurse")), 200
    )
    bodies = [p["body"] for p in timeline["posts"]]
    assert f"網{home.label}秘匿 訪問しました" in bodies and timeline["from_cache"] is False
    # Only the referral's categories cross: the support request (category "other") does not.
    assert all(p["category"] == "visit" for p in timeline["posts"])
    visit = next(p for p in timeline["posts"] if p["body"] == f"網{home.label}秘匿 訪問しました")
    assert visit["author"]["name"] == f"網{home.label}秘匿 医師" and "id" not in visit["author"]

    reply = await ok(
        await federation.post(
            f"/referrals/{referral['id']}/posts",
            json={"category": "visit", "body": "施設で受け入れました", "parent_id": visit["id"]},
            headers=peer.headers("nurse"),
        ),
        201,
    )
    assert reply["parent_id"] == visit["id"]
    # The reply landed at home: home's doctor reads it, its author named with the peer's facility and network.
    page = await ok(
        await stack["timeline"].client.get(f"/posts/{visit['id']}", headers=home.headers("doctor")), 200
    )
    answered = [r for r in page["replies"] if r["body"] == "施設で受け入れました"]
    assert answered and answered[0]["author"]["facility_name"].startswith(f"{peer.label}クリニック（")
    # Read marks as local staff see them: the peer's nurse read the visit (her fetch showed it), and her next
    # fetch shows it read by her; home's readers are named, never by id.
    assert f"{peer.label}看護 花子" in str(page["read_by"]), page["read_by"]
    again = await ok(
        await federation.get(f"/referrals/{referral['id']}/timeline", headers=peer.headers("nurse")), 200
    )
    seen = next(p for p in again["posts"] if p["id"] == visit["id"])
    assert seen["read_by_me"] is True and any(r["name"] == f"{peer.label}看護 花子" for r in seen["read_by"])
    # A category the referral does not share is refused.
    refused = await federation.post(
        f"/referrals/{referral['id']}/posts",
        json={"category": "medication", "body": "x"},
        headers=peer.headers("nurse"),
    )
    assert refused.status_code == 422 and refused.headers["content-type"].startswith(
        "application/problem+json"
    )

    # A new visit at home is told to the peer's nurse as her own care team's posts are (notify), naming the
    # subject and the network it is shared from; the station's nurse (another facility) hears nothing.
    await ok(
        await stack["timeline"].client.post(
            f"/subjects/{home.ids['subject']}/posts",
            json={"category": "visit", "body": "夕方にも訪問します"},
            headers=home.headers("doctor"),
        ),
        201,
    )

    async def told() -> dict[str, Any] | None:
        inbox = await ok(
            await stack["notify"].client.get("/notifications", headers=peer.headers("nurse")), 200
        )
        shared = [n for n in inbox["items"] if n["kind"] == "federation.shared_post"]
        return shared[0] if shared else None

    notice = await eventually(told, what="the peer's nurse notified of the new post")
    assert (
        notice["params"]["subject_name"] == f"網{home.label}秘匿 太郎"
        and notice["excerpt"] == "夕方にも訪問します"
    )
    assert notice["params"]["author"].startswith(f"網{home.label}秘匿 医師")
    station = await ok(
        await stack["notify"].client.get("/notifications", headers=peer.headers("station-admin")), 200
    )
    assert not [n for n in station["items"] if n["kind"] == "federation.shared_post"]

    for who in ("doctor", "station-admin", "operator"):
        response = await federation.get(f"/referrals/{referral['id']}/timeline", headers=peer.headers(who))
        assert response.status_code == 404, (who, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        listed = await ok(await federation.get("/referrals/shared", headers=peer.headers(who)), 200)
        assert referral["id"] not in {r["id"] for r in listed}, who
    # Home's own staff cannot use the peer routes on it either, nor another network's doctor reach it.
    assert (
        await federation.get(f"/referrals/{referral['id']}/timeline", headers=home.headers("doctor"))
    ).status_code == 404

    # Both audit logs hold the fetch: the peer's (who asked), home's federation (what it granted) and timeline's.
    fetched = await audit_actions(stack, "federation", peer.tenant, "federation.referral.fetched")
    assert any(e["target"] == f"referral:{referral['id']}" for e in fetched)
    read = await audit_actions(stack, "federation", home.tenant, "federation.referral.read")
    assert (
        read and read[0]["actor"] == f"peer-user:{peer.people['nurse'].id}" and read[0]["detail"]["assertion"]
    )
    listed = await audit_actions(stack, "timeline", home.tenant, "post.list.federated")
    # Timeline names her by the id home derives from her network and her own id (a peer names only its users).
    derived = peer_user_id(
        stack["federation"].settings.network_source(peer.tenant), str(peer.people["nurse"].id)
    )
    assert listed and listed[0]["actor"] == f"peer-user:{derived}"
    assert listed[0]["detail"]["peer_user"] == str(peer.people["nurse"].id)
    posted = await audit_actions(stack, "timeline", home.tenant, "post.reply.federated")
    assert posted and posted[0]["detail"]["post"] == reply["id"]
    # Each acknowledgement carries the other side's audit head, kept in the sender's log (the logs vouch for
    # each other): the referral's delivery at home holds the peer's.
    delivered = await audit_actions(stack, "federation", home.tenant, "federation.message.delivered")
    assert delivered and all("peer_audit_head" in e["detail"] for e in delivered)
    refusals = await audit_actions(stack, "federation", peer.tenant, "federation.referral.fetch-refused")
    assert len(refusals) >= 3
