"""A victim network full of real objects and the people who must not reach them, for the security suite.

The victim network has a clinic whose doctor registers a subject with a care team (consent given), posts with an
attachment, a group, an incident report, a certificate, a pending care-team invitation and an exceptional-access
request; its operator publishes a notice and terms and suspends a clerk. Beside it: an outsider staff member and
the administrator of another facility of the same network, and the operator of a second network. Everyone signs
in through identity (real sessions, real TOTP), so the tokens are the ones a browser would hold.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pyotp
from identity import tokens
from identity.models import ClientCertificate, Facility, Network, User
from identity.passwords import hash_password
from sqlalchemy import update

from tests.support.federation import ca_certificate_pem
from tests.support.people import introduce_people
from tests.support.stack import REPO, SERVICES, Stack, eventually

PASSWORD = "Kaigo-2026!tokyo"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
# A word only the victim's post and subject carry: a search for it, or any response holding it, finds their data.
SEARCH_WORD = "結秘匿語"
# The body of a notice for the victim network's members only.
NETWORK_NOTICE = "会員だけのお知らせ本文"


@dataclass
class Person:
    """A user of identity's database and, once signed in, the headers of one of their sessions."""

    user: User
    headers: dict[str, str] = field(default_factory=dict)
    session_id: UUID | None = None

    @property
    def id(self) -> UUID:
        return self.user.id


@dataclass
class VictimWorld:
    """Ids of real objects of the victim network, and the principals that probe them."""

    tenant: str
    other_tenant: str
    facility_id: UUID
    applicant_facility_id: UUID
    people: dict[str, Person]
    # The principals of the matrix (name -> request headers); None stands for "no token at all".
    principals: dict[str, dict[str, str]]
    ids: dict[str, str]
    # Strings that only the victim's objects hold (never sent by a probe): names, bodies, titles.
    private_texts: list[str]
    # Ids that must reach nobody outside the victim's facility and care team.
    private_ids: list[str]
    # Ids and texts of the victim network (its people, its members' notice): colleagues of the same network may
    # see them, another network may not.
    network_ids: list[str]
    network_texts: list[str]


def _tenant(prefix: str) -> str:
    return f"{prefix}-{uuid4().hex[:8]}"


async def _add_network(stack: Stack, tenant: str, name: str) -> None:
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name=name))


def _user(tenant: str, facility: Facility, login_id: str, roles: list[str], display_name: str) -> User:
    return User(
        id=uuid4(),
        tenant=tenant,
        facility_id=facility.id,
        login_id=login_id,
        display_name=display_name,
        password_hash=hash_password(PASSWORD),
        roles=roles,
        totp_secret=pyotp.random_base32(),
        totp_confirmed=True,
    )


async def sign_in(stack: Stack, person: Person) -> Person:
    """A fresh session through identity's login (password and TOTP), as a browser would start one."""
    async with stack["identity"].sessionmaker() as session, session.begin():
        # Each TOTP code works once: a person signing in twice within one 30-second step needs a fresh slate.
        await session.execute(update(User).where(User.id == person.id).values(totp_last_step=None))
    response = await stack["identity"].client.post(
        "/auth/token",
        json={
            "tenant": person.user.tenant,
            "login_id": person.user.login_id,
            "password": PASSWORD,
            "totp_code": pyotp.TOTP(person.user.totp_secret or "").now(),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return Person(person.user, {"Authorization": f"Bearer {body['access_token']}"}, UUID(body["session_id"]))


async def trust_identity_keys(stack: Stack) -> None:
    """The services verify tokens identity signs (the stack preloads only its own test key)."""
    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    for service in stack.services.values():
        service.app.state.token_verifier.keys.load(
            {"keys": [tokens.public_jwk(stack.signing_key), *published]}
        )


def unverified_claims(headers: dict[str, str]) -> dict[str, Any]:
    payload = headers["Authorization"].split(" ", 1)[1].split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


async def _ok(response: Any, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.request.method, response.request.url, response.text)
    return response.json() if response.content else None


async def refused_by_every_service(stack: Stack, headers: dict[str, str], what: str) -> None:
    """Asked once, right after the suspension or logout answered: identity answers only once every service
    refuses the token (issue 14, finding 1), so the matrix holds on the very next request."""
    probes = {
        "identity": "/me",
        "consent": "/subjects",
        "timeline": "/groups",
        "notify": "/notifications",
        "portal": "/api/terms/pending",
        "federation": "/agreements",
    }
    assert set(probes) == set(SERVICES)

    answers = {
        service: (await stack[service].client.get(path, headers=headers)).status_code
        for service, path in probes.items()
    }
    assert answers == dict.fromkeys(probes, 401), (what, answers)


async def build_victim_world(stack: Stack) -> VictimWorld:
    """Everything the matrix aims at, made through the services' own APIs wherever one exists."""
    tenant, other_tenant = _tenant("sec1-victim"), _tenant("sec1-other")
    await _add_network(stack, tenant, "被害者ネットワーク")
    await _add_network(stack, other_tenant, "別ネットワーク")
    async with stack["identity"].sessionmaker() as session, session.begin():
        office = Facility(id=uuid4(), tenant=tenant, name="結町役場", kind="municipality")
        clinic = Facility(id=uuid4(), tenant=tenant, name="結秘匿クリニック", kind="clinic")
        station = Facility(id=uuid4(), tenant=tenant, name="隣の訪問看護", kind="visiting_nurse")
        applicant = Facility(
            id=uuid4(),
            tenant=tenant,
            name="申請中薬局",
            kind="pharmacy",
            status="applied",
            applied_at=datetime.now(UTC),
            administrator_login_id=f"applicant-{uuid4().hex[:6]}",
        )
        other_office = Facility(id=uuid4(), tenant=other_tenant, name="別町役場", kind="municipality")
        session.add_all([office, clinic, station, applicant, other_office])
        await session.flush()
        users = {
            "operator": _user(tenant, office, "operator", ["operator"], "結 運営"),
            "doctor": _user(tenant, clinic, "doctor", ["staff"], "秘匿 医師"),
            "nurse": _user(tenant, clinic, "nurse", ["staff"], "秘匿 看護師"),
            "clerk": _user(tenant, clinic, "clerk", ["staff"], "秘匿 事務"),
            "clinic-admin": _user(tenant, clinic, "clinic-admin", ["facility_admin", "staff"], "秘匿 管理者"),
            "outsider": _user(tenant, station, "outsider", ["staff"], "隣 職員"),
            "station-admin": _user(
                tenant, station, "station-admin", ["facility_admin", "staff"], "隣 管理者"
            ),
            "other-operator": _user(other_tenant, other_office, "operator", ["operator"], "別 運営"),
        }
        session.add_all(users.values())
    await introduce_people(stack, [user.id for user in users.values()])
    await trust_identity_keys(stack)
    people = {name: await sign_in(stack, Person(user)) for name, user in users.items()}
    # The doctor's second session is the one that ends (logout); the first stays valid for the controls.
    ended = await sign_in(stack, people["doctor"])

    consent, timeline, identity, portal, notify = (
        stack[s].client for s in ("consent", "timeline", "identity", "portal", "notify")
    )
    doctor, nurse, clerk = people["doctor"], people["nurse"], people["clerk"]
    subject = await _ok(
        await consent.post(
            "/subjects",
            json={
                "name": f"{SEARCH_WORD} 太郎",
                "name_kana": "ヒトク タロウ",
                "municipality_code": "232360",
                "confirm_not_duplicate": True,
            },
            headers=doctor.headers,
        ),
        201,
    )
    subject_id = subject["id"]
    given = await _ok(
        await consent.post(
            f"/subjects/{subject_id}/consents", json={"given_on": str(date.today())}, headers=doctor.headers
        ),
        201,
    )
    for member in (nurse, clerk):
        invited = await _ok(
            await consent.post(
                f"/subjects/{subject_id}/care-team", json={"user_id": str(member.id)}, headers=doctor.headers
            ),
            201,
        )
        await _ok(
            await consent.post(f"/care-team/invitations/{invited['id']}/accept", headers=member.headers), 200
        )
    pending = await _ok(
        await consent.post(
            f"/subjects/{subject_id}/care-team",
            json={"user_id": str(people["clinic-admin"].id)},
            headers=doctor.headers,
        ),
        201,
    )
    grant = await _ok(
        await consent.post(
            "/exceptional-access",
            json={"subject_id": str(subject_id), "ground": "disaster", "reason": "災害時の確認"},
            headers=nurse.headers,
        ),
        201,
    )

    async def uploaded() -> dict[str, Any] | None:
        response = await timeline.post(
            f"/subjects/{subject_id}/attachments",
            params={"filename": "秘匿紹介状.pdf"},
            content=PDF,
            headers=doctor.headers,
        )
        return response.json() if response.status_code == 201 else None

    attachment = await eventually(uploaded, what="timeline to learn of the victim's subject")
    post = await _ok(
        await timeline.post(
            f"/subjects/{subject_id}/posts",
            json={
                "category": "visit",
                "body": f"{SEARCH_WORD} 訪問しました",
                "attachment_ids": [attachment["id"]],
            },
            headers=doctor.headers,
        ),
        201,
    )
    medication = await _ok(
        await timeline.post(
            f"/subjects/{subject_id}/medications",
            json={
                "name": f"{SEARCH_WORD}錠",
                "ingredient": "アムロジピンベシル酸塩",
                "dose": "1回1錠",
                "start_date": "2026-12-01",
                "facility": "秘匿処方元医院",
            },
            headers=doctor.headers,
        ),
        201,
    )
    letter = await _ok(
        await timeline.post(
            f"/subjects/{subject_id}/imports",
            content=(REPO / "services/timeline/tests/fixtures/jp_clins_discharge_summary.json").read_bytes(),
            headers={**doctor.headers, "content-type": "application/fhir+json"},
        ),
        201,
    )
    group = await _ok(
        await timeline.post(
            "/groups", json={"name": f"{SEARCH_WORD} 研修会", "purpose": "training"}, headers=doctor.headers
        ),
        201,
    )
    await _ok(
        await timeline.post(
            f"/groups/{group['id']}/invitations", json={"user_id": str(nurse.id)}, headers=doctor.headers
        ),
        204,
    )
    await _ok(await timeline.post(f"/groups/{group['id']}/invitations/accept", headers=nurse.headers), 204)
    group_post = await _ok(
        await timeline.post(
            f"/groups/{group['id']}/posts", json={"body": f"{SEARCH_WORD} 研修資料"}, headers=doctor.headers
        ),
        201,
    )

    report = await _ok(
        await identity.post(
            "/incident-reports",
            json={"category": "security", "title": f"{SEARCH_WORD} 端末紛失", "body": "診察室の端末"},
            headers=doctor.headers,
        ),
        201,
    )
    now = datetime.now(UTC)
    certificate_id = uuid4()
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(
            ClientCertificate(
                id=certificate_id,
                tenant=tenant,
                facility_id=clinic.id,
                user_id=doctor.id,
                terminal_label="秘匿診察室PC",
                serial_number=uuid4().hex[:16],
                fingerprint_sha256=uuid4().hex + uuid4().hex,
                certificate_pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                not_before=now - timedelta(minutes=1),
                not_after=now + timedelta(days=1),
                issued_by="test",
            )
        )
    operator = people["operator"]
    notice = await _ok(
        await portal.post(
            "/api/operator/notices",
            json={"audience": "users", "title": "会員向け", "body": NETWORK_NOTICE},
            headers=operator.headers,
        ),
        201,
    )
    terms = await _ok(
        await portal.post(
            "/api/operator/terms",
            json={
                "version": "sec1-1",
                "title": "利用規約",
                "body": "第1条",
                "effective_at": (now + timedelta(days=30)).isoformat(),
            },
            headers=operator.headers,
        ),
        201,
    )

    async def nurse_notified() -> str | None:
        listed = (await notify.get("/notifications", headers=nurse.headers)).json()
        items = listed["items"] if isinstance(listed, dict) else listed
        return str(items[0]["id"]) if items else None

    notification_id = await eventually(nurse_notified, what="the nurse's notification of the new post")
    kid = (await identity.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    # An agreement of the victim's network with a neighbouring network (issue 12): only its operator reaches it.
    agreement = await _ok(
        await stack["federation"].client.post(
            "/agreements",
            json={
                "peer_base_url": "https://neighbour.invalid",
                "peer_source": "https://neighbour.invalid/networks/tonari",
                "peer_ca_pem": ca_certificate_pem(),
                "event_types": ["yui.federation.audit-head.v1"],
                "professions": {"nurse": ["vitals"]},
                "cache_limit_hours": 24,
            },
            headers=operator.headers,
        ),
        201,
    )

    suspension = await _ok(
        await identity.post(
            "/suspensions",
            json={"target_kind": "user", "target_id": str(clerk.id), "reason": "不正アクセスの疑い"},
            headers=operator.headers,
        ),
        201,
    )
    await _ok(await identity.post("/auth/logout", headers=ended.headers), 204)
    await refused_by_every_service(stack, clerk.headers, "the suspended clerk")
    await refused_by_every_service(stack, ended.headers, "the ended session")

    ids = {
        "subject": str(subject_id),
        "consent": str(given["id"]),
        "invitation": str(pending["id"]),
        "grant": str(grant["id"]),
        "attachment": str(attachment["id"]),
        "post": str(post["id"]),
        "medication": str(medication["id"]),
        "letter": str(letter["id"]),
        "group_post": str(group_post["id"]),
        "group": str(group["id"]),
        "report": str(report["id"]),
        "certificate": str(certificate_id),
        "notice": str(notice["id"]),
        "terms_version": str(terms["version"]),
        "notification": notification_id,
        "suspension": str(suspension["id"]),
        "session": str(doctor.session_id),
        "kid": str(kid),
        "agreement": str(agreement["id"]),
    }
    return VictimWorld(
        tenant=tenant,
        other_tenant=other_tenant,
        facility_id=clinic.id,
        applicant_facility_id=applicant.id,
        people=people,
        principals={
            "outsider_staff": people["outsider"].headers,
            "other_facility_admin": people["station-admin"].headers,
            "other_network_operator": people["other-operator"].headers,
            "revoked_session": ended.headers,
            "suspended_user": clerk.headers,
            "no_token": {},
        },
        ids=ids,
        private_texts=[
            SEARCH_WORD,
            "秘匿紹介状",
            "秘匿診察室PC",
            "ヒトク タロウ",
            "誤嚥性肺炎",
            "秘匿処方元医院",
        ],
        private_ids=[
            ids[k]
            for k in (
                "subject",
                "consent",
                "invitation",
                "grant",
                "attachment",
                "post",
                "medication",
                "letter",
                "group_post",
                "group",
                "report",
                "certificate",
                "notification",
                "suspension",
                "session",
            )
        ],
        network_ids=[
            ids["notice"],
            ids["agreement"],
            *(str(p.id) for p in people.values() if p.user.tenant == tenant),
        ],
        network_texts=[NETWORK_NOTICE, "neighbour.invalid/networks/tonari"],
    )
