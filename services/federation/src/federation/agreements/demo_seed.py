"""`python -m federation seed`: the demo's agreement between 結ネット (demo) and となりまちネット (tonari), made as two
operators would make it, through the real protocol: demo's operator proposes over federation's API, the signed
proposal travels to tonari (the worker delivers it, even within one deployment), tonari's operator accepts, and the
signed acceptance travels back. Doctors and nurses of the peer may see timeline posts, vitals and the summary.

Runs once every process is up (`make run`: the federation worker must deliver the messages). Idempotent: an
agreement of demo with tonari that has not ended is left as it is (a proposal still waiting is accepted).

The operators sign in with the demo password at identity's API, as the printed token example does. The demo
network is made by identity's seed without a network event, so federation's projection of networks never heard its
name: it is introduced here at version 0, as identity's event would introduce it, and any real event wins.

Then a referral (紹介), as the doctor on 結 キヨ's care team makes it on her page: to tonari's care home
「小規模多機能ホーム となりの家」 for its day and overnight stays, sharing the posts a care home works with. The care
home's helper (a profession the agreement names) signs in to tonari and finds her under 「他地域から共有」. The seed
waits until federation has heard of her consent and care team and of tonari's people (consent's and identity's
events, published through their outboxes by their seeds); an active referral to the care home that has not run
out is left as it is."""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Any, get_args

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict
from yui_common import demo, networks
from yui_common.db import create_engine, create_sessionmaker
from yui_common.events.identity import NetworkStateV1
from yui_common.settings import CommonSettings
from yui_common.vocabulary import POST_CATEGORIES
from yui_common.web import today_in_japan

from federation.agreements.schemas import ACCEPTED, ENDED, AgreeableType
from federation.agreements.service import own_ca_pem
from federation.settings import Settings

# Which of tonari's professions may see what of demo's subjects: its clinic's and nurses' professions, and the care
# home's helper (demo.NEIGHBOUR_USERS["helper"]), who sees the demo referral.
PROFESSIONS: dict[str, list[str]] = {
    profession: [*POST_CATEGORIES, "vitals", "summary"]
    for profession in ("doctor", "nurse", "visiting_nurse", "helper")
}
# The demo referral: 結 キヨ to tonari's care home, by the doctor on her care team.
REFERRER = "doctor"
REFERRAL_PURPOSE = (
    "退院後、小規模多機能ホーム となりの家の通い・泊まりを利用するため。仙骨部の褥瘡の処置と、"
    "食事量・水分量の見守りをお願いします。"
)
REFERRAL_CATEGORIES = ["visit", "treatment", "medication", "vital_signs", "daily_living", "instruction"]
REFERRAL_DAYS = 90
CACHE_LIMIT_HOURS = 24
WAIT_S = 60.0


class SeedTargets(BaseSettings):
    """Where the seed reaches the running services (the shared YUI_<SVC>_URL settings of compose and k8s)."""

    model_config = SettingsConfigDict(env_prefix="YUI_", extra="ignore")
    identity_url: str = "http://127.0.0.1:8101"
    federation_url: str = "http://127.0.0.1:8106"


async def _token(
    client: httpx.AsyncClient, identity_url: str, tenant: str, login_id: str = "operator"
) -> str:
    answer = await client.post(
        f"{identity_url}/auth/token",
        json={"tenant": tenant, "login_id": login_id, "password": demo.PASSWORD},
    )
    answer.raise_for_status()
    token: str = answer.json()["access_token"]
    return token


async def _agreement_with(
    client: httpx.AsyncClient, url: str, token: str, peer_source: str
) -> dict[str, Any] | None:
    answer = await client.get(f"{url}/agreements", headers={"Authorization": f"Bearer {token}"})
    answer.raise_for_status()
    found = [a for a in answer.json() if a["peer_source"] == peer_source and a["state"] != ENDED]
    return found[0] if found else None


async def _until(
    client: httpx.AsyncClient, url: str, token: str, peer_source: str, *states: str
) -> dict[str, Any] | None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        found = await _agreement_with(client, url, token, peer_source)
        if found and found["state"] in states:
            return found
        await asyncio.sleep(0.5)
    return None


async def _introduce_demo_network(settings: Settings) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if await networks.state_of(session, demo.TENANT) is None:
                state = NetworkStateV1(slug=demo.TENANT, name=demo.NAME, version=0)
                await networks.apply(session, demo.TENANT, state)
    finally:
        await engine.dispose()


async def seed(settings: CommonSettings) -> int:
    assert isinstance(settings, Settings)
    targets = SeedTargets()
    own_ca = own_ca_pem(settings)
    if not own_ca:
        print(
            "federation: no CA certificate configured (YUI_FEDERATION_CA_CERT_FILE); no demo agreement seeded"
        )
        return 0
    await _introduce_demo_network(settings)
    home_source = settings.network_source(demo.TENANT)
    peer_source = settings.network_source(demo.NEIGHBOUR_TENANT)
    url = targets.federation_url.rstrip("/")
    async with httpx.AsyncClient(timeout=10.0) as client:
        home = await _token(client, targets.identity_url.rstrip("/"), demo.TENANT)
        peer = await _token(client, targets.identity_url.rstrip("/"), demo.NEIGHBOUR_TENANT)
        existing = await _agreement_with(client, url, home, peer_source)
        if (
            existing
            and existing["state"] != "proposed"
            and not set(PROFESSIONS) <= set(existing["professions"])
        ):
            # Seeded before the care home's helper was named: an agreement's terms never change, so the demo's
            # operator ends it and proposes the current terms.
            ended = await client.post(
                f"{url}/agreements/{existing['id']}/ending", headers={"Authorization": f"Bearer {home}"}
            )
            ended.raise_for_status()
            deadline = time.monotonic() + WAIT_S  # tonari hears of the ending before the new proposal
            while time.monotonic() < deadline:
                at_peer = await _agreement_with(client, url, peer, home_source)
                if at_peer is None or at_peer["id"] != existing["id"]:
                    break
                await asyncio.sleep(0.5)
            existing = None
            print(
                "federation: the demo agreement with tonari had older terms; ended, proposing the current ones"
            )
        if existing and existing["state"] != "proposed":
            print(f"federation: the demo agreement with tonari is already present ({existing['state']})")
            return await _refer(client, url, targets.identity_url.rstrip("/"))
        if existing is None:
            proposed = await client.post(
                f"{url}/agreements",
                headers={"Authorization": f"Bearer {home}"},
                json={
                    "peer_base_url": settings.federation_base_url,
                    "peer_source": peer_source,
                    "peer_ca_pem": own_ca,  # one deployment: the peer's CA is ours
                    "event_types": list(get_args(AgreeableType)),
                    "professions": PROFESSIONS,
                    "cache_limit_hours": CACHE_LIMIT_HOURS,
                },
            )
            proposed.raise_for_status()
        at_peer = await _until(client, url, peer, home_source, "proposed", ACCEPTED)
        if at_peer is None:
            print(
                f"federation: the proposal did not reach tonari within {WAIT_S:.0f} s (is the worker running?)"
            )
            return 1
        if at_peer["state"] == "proposed":
            accepted = await client.post(
                f"{url}/agreements/{at_peer['id']}/acceptance",
                headers={"Authorization": f"Bearer {peer}"},
                json={},
            )
            accepted.raise_for_status()
        if await _until(client, url, home, peer_source, ACCEPTED) is None:
            print(f"federation: tonari's acceptance did not reach demo within {WAIT_S:.0f} s")
            return 1
        print("federation: demo and tonari hold an accepted agreement (proposed by demo, accepted by tonari)")
        return await _refer(client, url, targets.identity_url.rstrip("/"))


async def _refer(client: httpx.AsyncClient, url: str, identity_url: str) -> int:
    """結 キヨ referred to tonari's care home by the doctor on her care team, unless such a referral is active."""
    doctor = {"Authorization": f"Bearer {await _token(client, identity_url, demo.TENANT, REFERRER)}"}
    subject = {"subject_id": str(demo.SUBJECT)}
    deadline = time.monotonic() + WAIT_S
    option: dict[str, Any] | None = None
    while option is None:
        # 404 until federation heard of her consent and care team; the care home is listed once federation heard
        # of tonari's people (a network's directory names the facilities its people work at).
        answer = await client.get(f"{url}/referrals/options", params=subject, headers=doctor)
        if answer.status_code == 200:
            option = next(
                (
                    o
                    for o in answer.json()
                    if any(f["id"] == str(demo.NEIGHBOUR_CARE_HOME) for f in o["facilities"])
                ),
                None,
            )
        if option is None:
            if time.monotonic() > deadline:
                print(
                    f"federation: 結 キヨ could not be referred within {WAIT_S:.0f} s: federation has not heard of "
                    "her care team or of tonari's care home (are the identity and consent workers running?)"
                )
                return 1
            await asyncio.sleep(1.0)
    care_home = demo.NEIGHBOUR_FACILITIES[demo.NEIGHBOUR_CARE_HOME].name
    today = today_in_japan()
    listed = await client.get(f"{url}/referrals", params=subject, headers=doctor)
    listed.raise_for_status()
    if any(
        r["state"] == "active"
        and r["facility_name"] == care_home
        and date.fromisoformat(r["ends_on"]) >= today
        for r in listed.json()
    ):
        print(f"federation: 結 キヨ is already referred to {care_home}")
        return 0
    referred = await client.post(
        f"{url}/referrals",
        headers=doctor,
        json={
            **subject,
            "agreement_id": option["agreement_id"],
            "facility_id": str(demo.NEIGHBOUR_CARE_HOME),
            "purpose": REFERRAL_PURPOSE,
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=REFERRAL_DAYS)).isoformat(),
            "categories": [c for c in REFERRAL_CATEGORIES if c in option["categories"]],
            "consent_basis": "consent",
        },
    )
    referred.raise_for_status()
    print(f"federation: 結 キヨ referred to {care_home} (tonari's helper sees her under 他地域から共有)")
    return 0
