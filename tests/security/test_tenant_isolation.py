"""ten2: every route of every service, called by another network on network A's objects, gives nothing of A.

Two networks, 甲 (A) and 乙 (B), each full of real objects (tests/support/networks.py). The routes are the five
services' OpenAPI documents, enumerated and filled exactly as the sec1 access matrix does
(tests/security/test_access_matrix.py: ``ROUTES``, ``probe_for``), with A's ids in every path parameter and in
every body or query field that names an object. Each route is called by:

- B's doctor, B's facility administrator and B's operator, each with a real session (B's token, A's ids);
- a token claiming to be A's doctor signed by a key identity does not trust (under the trusted key's id);
- B's doctor's real token with its tenant claim edited to A (the signature no longer matches);
- tokens validly signed for tenant B that carry A's doctor's or A's operator's user and facility ids.

Judged per call: never a 5xx; never an A identifier or A text in the body (unless the request itself carried
it); a token whose signature fails gets 401 on every route that needs one; a valid token on a route aimed at one
of A's objects gets 401, 403 or 404 as problem+json. A route about the caller's own things (``/me``, the
caller's notifications, health) may answer, but without A's data. The leaks are counted and must be 0.

The portal's staff pages (server-rendered, not in its OpenAPI document) are walked the same way: every GET page,
opened with B's signed-in session on A's subject, post, attachment, group, consent and notice ids, answers a 404
(or 403) page with nothing of A in it; a polled fragment may instead answer exactly as it does for an id never
issued (the withdrawal progress shows "no withdrawals" for both), which tells nothing.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.routing import APIRoute, iter_route_contexts
from identity import tokens
from portal import session as staff_session

from tests.security.test_access_matrix import (
    NOT_SENT_FOR,
    PUBLIC_ROUTES,
    ROUTES,
    Route,
    blindly_named,
    probe_for,
)
from tests.support.networks import NetworkWorld, build_networks
from tests.support.stack import SERVICES, Stack

# probe_for's view of every caller here: another network (network-wide parameters count as A's objects too).
OTHER_NETWORK = "other_network_operator"
# Callers whose token fails verification: refused before any rule is asked.
FORGED_SIGNATURE = ("forged_untrusted_key", "forged_tenant_claim")
# Staff pages never probed, and why.
PAGES_NOT_WALKED = {
    "/staff/notifications/stream": "a live stream never ends (notify's own tests cover its refusals)",
}


@dataclass
class Walk:
    """What the walk saw: calls made, per-route outcome lines for anything wrong."""

    routes: int = 0
    calls: int = 0
    leaks: list[str] = field(default_factory=list)
    wrong_status: list[str] = field(default_factory=list)

    def report(self) -> str:
        return "\n".join([*self.leaks, *self.wrong_status][:60])


@dataclass
class Worlds:
    a: NetworkWorld
    b: NetworkWorld
    principals: dict[str, dict[str, str]]
    # Ids of A that B's side itself wrote into B's records during the walk, so B may be shown them again:
    # those the forged tokens carry (a B-signed token naming A's doctor files B's requests under that id)
    # and those a caller may name blindly (the access matrix's BLIND_REFERENCES: an exceptional-access
    # request for any subject id is taken, and listed back to its requester).
    echoed: set[str]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_of(headers: dict[str, str]) -> dict[str, Any]:
    payload = headers["Authorization"].split(" ", 1)[1].split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def signed_by_an_untrusted_key(claims: dict[str, Any], kid: str) -> str:
    """The claims signed by a fresh key under an id the services trust: the kid is public, the key is not."""
    foreign = serialization.load_pem_private_key(tokens.new_signing_key().private_pem.encode(), password=None)
    return jwt.encode(claims, foreign, algorithm="EdDSA", headers={"kid": kid})  # type: ignore[arg-type]


def with_claim_edited(token: str, **changes: Any) -> str:
    """The token with its payload rewritten and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    edited = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).rstrip(b"=").decode()
    return f"{header}.{edited}.{signature}"


def b_signed_as(stack: Stack, a: NetworkWorld, b: NetworkWorld, person: str, roles: list[str]) -> str:
    """A validly signed token for tenant B naming one of A's people and their facility."""
    who = a.people[person].user
    return tokens.sign_access_token(
        stack.signing_key,
        issuer="yui-identity",
        audience="yui",
        user_id=who.id,
        tenant=b.tenant,
        facility_id=who.facility_id,
        roles=roles,
        name="乙 なりすまし",
        ttl_s=3600,
        session_id=str(b.people["doctor"].session_id),
    )


@pytest.fixture(scope="module")
async def worlds(stack: Stack) -> Worlds:
    a, b = await build_networks(stack, 2)
    a_doctor = claims_of(a.headers("doctor"))
    b_doctor_token = b.headers("doctor")["Authorization"].split(" ", 1)[1]
    principals = {
        "b_doctor": b.headers("doctor"),
        "b_facility_admin": b.headers("station-admin"),
        "b_operator": b.headers("operator"),
        "forged_untrusted_key": bearer(signed_by_an_untrusted_key(a_doctor, a.ids["kid"])),
        "forged_tenant_claim": bearer(with_claim_edited(b_doctor_token, tenant=a.tenant)),
        "b_signed_as_a_doctor": bearer(b_signed_as(stack, a, b, "doctor", ["staff", "facility_admin"])),
        "b_signed_as_a_operator": bearer(b_signed_as(stack, a, b, "operator", ["operator"])),
    }
    carried = {
        str(v) for h in principals.values() for k, v in claims_of(h).items() if k in ("sub", "facility")
    }
    blind = blindly_named(a.as_victim(principals, b.tenant))
    return Worlds(a, b, principals, (carried | blind) & set(a.identifiers))


def leaked(text: str, sent: str, worlds: Worlds, *, public: bool = False) -> list[str]:
    """A's texts, and A's identifiers that B's side did not send itself, found in an answer. On a public
    route A's facility ids are not secret: the public directory lists them."""
    a = worlds.a
    published = {str(f) for f in (a.office_id, a.clinic_id, a.station_id)} if public else set()
    ids = [i for i in a.identifiers if i not in worlds.echoed and i not in published]
    return [s for s in [*a.texts, *ids] if s in text and s not in sent]


def is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/problem+json")


class TestRouteWalk:
    async def test_ten2_the_walk_is_not_vacuous(self, stack: Stack, worlds: Worlds) -> None:
        """The control: each network reads its own objects through the routes the walk aims at A's, so a
        refusal in the walk is the isolation, not a wrong id."""
        for world in (worlds.a, worlds.b):
            doctor = world.headers("doctor")
            reads = {
                "consent": f"/subjects/{world.ids['subject']}",
                "timeline": f"/posts/{world.ids['post']}",
                "identity": f"/incident-reports/{world.ids['report']}",
            }
            for service, path in reads.items():
                response = await stack[service].client.get(path, headers=doctor)
                assert response.status_code == 200, (world.label, service, path, response.text)
                assert world.word in response.text
            attachment = await stack["timeline"].client.get(
                f"/attachments/{world.ids['attachment']}", headers=doctor
            )
            assert attachment.status_code == 200, attachment.text
            listed = await stack["notify"].client.get("/notifications", headers=world.headers("nurse"))
            assert world.ids["notification"] in listed.text

    @pytest.mark.timeout(900)
    async def test_ten2_no_route_of_any_service_gives_another_network_the_data_of_network_a(
        self, stack: Stack, worlds: Worlds
    ) -> None:
        victim = worlds.a.as_victim(worlds.principals, worlds.b.tenant)
        walk = Walk()
        walked: set[str] = set()
        for route in ROUTES:
            for principal, headers in worlds.principals.items():
                real_session = principal in ("b_doctor", "b_facility_admin", "b_operator")
                skipped = (route.listed_in(NOT_SENT_FOR) or (set(), ""))[0]
                if real_session and OTHER_NETWORK in skipped:
                    continue  # ends the caller's own session (the access matrix's reason)
                probe = probe_for(route, OTHER_NETWORK, victim)
                response = await stack[route.service].client.request(
                    probe.method,
                    probe.url,
                    params=probe.params,
                    headers={**headers, **probe.kwargs.pop("headers", {})},
                    **probe.kwargs,
                )
                walk.calls += 1
                walked.add(route.id)
                judge(walk, route, principal, probe.aims_at_victim, probe.sent, response, worlds)
        walk.routes = len(walked)
        print(
            f"\nten2: walked {walk.routes} routes of {len(SERVICES)} services with "
            f"{len(worlds.principals)} callers: {walk.calls} calls, {len(walk.leaks)} with network A's data, "
            f"{len(walk.wrong_status)} with a wrong status"
        )
        assert walk.routes == len(ROUTES)
        assert len(walk.leaks) == 0, walk.report()
        assert not walk.wrong_status, walk.report()


def judge(
    walk: Walk,
    route: Route,
    principal: str,
    aims_at_a: bool,
    sent: str,
    response: httpx.Response,
    worlds: Worlds,
) -> None:
    where = f"{route.id} as {principal} -> {response.status_code}: {response.text[:300]}"
    public = route.listed_in(PUBLIC_ROUTES) is not None
    found = leaked(response.text, sent, worlds, public=public)
    if found:
        walk.leaks.append(f"LEAK {found} in {where}")
    if response.status_code >= 500:
        walk.wrong_status.append(f"5xx: {where}")
    elif principal in FORGED_SIGNATURE and not public:
        if response.status_code != 401:
            walk.wrong_status.append(f"a forged token not refused with 401: {where}")
    elif (
        aims_at_a and not public and (response.status_code not in (401, 403, 404) or not is_problem(response))
    ):
        walk.wrong_status.append(f"A's object not refused: {where}")


# ---------------------------------------------------------------- the portal's staff pages


def staff_cookie(stack: Stack, headers: dict[str, str]) -> dict[str, str]:
    """A browser signed in to the portal with this token (the sealed session cookie the login sets)."""
    token = headers["Authorization"].split(" ", 1)[1]
    sealed = staff_session.seal(
        type("Req", (), {"app": stack["portal"].app})(),  # type: ignore[arg-type]
        {"a": token, "r": "refresh-token-unused", "s": str(uuid4()), "c": "csrf-ten2", "l": "ten2"},
    )
    return {"Cookie": f"{staff_session.SESSION_COOKIE}={sealed}", "Accept": "text/html"}


def page_routes(stack: Stack) -> list[str]:
    """Every GET page of the portal outside its OpenAPI document (staff, public), as a path template."""
    found = []
    for route in iter_route_contexts(stack["portal"].app.routes):
        if (
            isinstance(route.original_route, APIRoute)
            and not route.include_in_schema
            and "GET" in route.methods
        ):
            path = str(route.path_format)
            if path not in PAGES_NOT_WALKED:
                found.append(path)
    return sorted(set(found))


NEVER_ISSUED = "0190a1b2-0000-7000-8000-00000000beef"


def page_url(template: str, a: NetworkWorld, *, unknown: bool = False) -> str:
    """The page of A's object (or, ``unknown``, of an id never issued: the same answer means nothing told)."""
    values = {
        "subject_id": a.ids["subject"],
        "consent_id": a.ids["consent"],
        "post_id": a.ids["post"],
        "medication_id": a.ids["medication"],
        "import_id": a.ids["letter"],
        "index": "0",
        "attachment_id": a.ids["attachment"],
        "group_id": a.ids["group"],
        "notice_id": a.ids["notice"],
        "version": a.ids["terms_version"],
        "user_id": str(a.people["nurse"].id),
        "agreement_id": a.ids["agreement"],
        "step": "suspension",
        # A's networks refer no subject here (services/federation/tests cover referrals between networks): the
        # id of A's agreement stands in, which is no referral of anyone's, so B must see the same nothing.
        "referral_id": a.ids["agreement"],
    }

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in values, f"{template}: the walk has no A object for {name!r}; teach page_url"
        return NEVER_ISSUED if unknown and name not in ("version", "index", "step") else values[name]

    return re.sub(r"\{([a-z_]+)\}", fill, template)


class TestStaffPages:
    async def test_ten2_the_portals_pages_show_another_network_nothing(
        self, stack: Stack, worlds: Worlds
    ) -> None:
        a = worlds.a
        templates = page_routes(stack)
        aimed = [t for t in templates if "{" in t]
        assert {"/staff/subjects/{subject_id}", "/staff/posts/{post_id}", "/notices/{notice_id}"} <= set(
            aimed
        )
        callers = ("b_doctor", "b_facility_admin", "b_operator", "b_signed_as_a_doctor")
        calls, leaks, wrong = 0, [], []
        for principal in callers:
            cookie = staff_cookie(stack, worlds.principals[principal])
            for template in templates:
                url = page_url(template, a)
                response = await stack["portal"].client.get(url, headers=cookie)
                calls += 1
                where = f"{url} as {principal} -> {response.status_code}"
                found = leaked(response.text, url, worlds)
                if found:
                    leaks.append(f"LEAK {found} in {where}")
                if response.status_code >= 500:
                    wrong.append(f"5xx: {where}")
                elif template in aimed and response.status_code not in (403, 404):
                    # Only a fragment that answers a never-issued id exactly alike may answer: it tells nothing.
                    unknown = await stack["portal"].client.get(
                        page_url(template, a, unknown=True), headers=cookie
                    )
                    calls += 1
                    if (unknown.status_code, unknown.text) != (response.status_code, response.text):
                        wrong.append(f"A's object not refused: {where}: {response.text[:200]}")
                elif (
                    template.startswith("/staff/")
                    and template in aimed
                    and "text/html" not in response.headers.get("content-type", "")
                ):
                    wrong.append(f"not a page: {where}")
        print(f"\nten2: walked {len(templates)} portal pages as {len(callers)} callers: {calls} calls")
        assert len(leaks) == 0, "\n".join(leaks)
        assert not wrong, "\n".join(wrong)
