"""Several networks full of real objects in one stack: the isolation tests' raw material (issue 11).

``build_network(stack, label=...)`` makes one network the way its people would: a municipal office whose operator
publishes a members' notice and terms and suspends a clerk; a clinic whose doctor registers a subject with consent
and a care team, uploads an attachment, posts with it, asks the nurse for support, runs a group and reports an
incident; a nursing station with its administrator; a facility that has only applied; a terminal certificate; an
exceptional-access request and a pending care-team invitation. Everyone signs in through identity (password and
TOTP), so every token is one a browser would hold. ``build_networks(stack, 2)`` gives two of them.

Every text a network's objects carry names its label (``NetworkWorld.texts``), so an answer given to another
network can be searched for them; ``NetworkWorld.identifiers`` are its ids. ``as_victim`` views a network as
tests/support/security.py's ``VictimWorld``, so the access matrix's request builder fills routes with its ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pyotp
from identity.models import ClientCertificate, Facility, Network, User
from identity.passwords import hash_password
from yui_common import outbox
from yui_common.events.identity import PersonChangedV1

from tests.support.federation import ca_certificate_pem
from tests.support.security import PASSWORD, PDF, Person, VictimWorld, sign_in, trust_identity_keys
from tests.support.stack import REPO, Stack, eventually

# Labels of the networks build_networks makes, in order: 甲, 乙, 丙 ... (their texts never contain each other).
LABELS = ("甲", "乙", "丙", "丁")
# Each label's reading, for the subject's kana (a kana shared by two networks would be no one network's text).
READINGS = {"甲": "コウ", "乙": "オツ", "丙": "ヘイ", "丁": "テイ"}


@dataclass
class NetworkWorld:
    """One network's ids, people and the texts only its objects hold."""

    tenant: str
    name: str
    label: str
    office_id: UUID
    clinic_id: UUID
    station_id: UUID
    applicant_facility_id: UUID
    # operator, doctor, nurse, clerk (suspended), clinic-admin, station-admin: each signed in once.
    people: dict[str, Person]
    ids: dict[str, str]
    texts: list[str] = field(default_factory=list)

    @property
    def word(self) -> str:
        """A word in this network's subject name, post, group, attachment and report, and nowhere else."""
        return f"網{self.label}秘匿"

    @property
    def identifiers(self) -> list[str]:
        """Every id of this network's objects, people and facilities (the terms version and key id aside:
        a version is a short label another network may also use, and the signing key is the deployment's)."""
        objects = [v for k, v in self.ids.items() if k not in ("terms_version", "kid")]
        people = [str(p.id) for p in self.people.values()]
        facilities = [str(f) for f in (self.office_id, self.clinic_id, self.station_id)]
        return [*objects, *people, *facilities, str(self.applicant_facility_id)]

    def headers(self, name: str) -> dict[str, str]:
        return self.people[name].headers

    def as_victim(self, principals: dict[str, dict[str, str]], other_tenant: str) -> VictimWorld:
        """This network as the access matrix's victim (tests/security/test_access_matrix.py's probe_for)."""
        return VictimWorld(
            tenant=self.tenant,
            other_tenant=other_tenant,
            facility_id=self.clinic_id,
            applicant_facility_id=self.applicant_facility_id,
            people=self.people,
            principals=principals,
            ids=self.ids,
            private_texts=self.texts,
            private_ids=[i for k, i in self.ids.items() if k not in ("notice", "terms_version", "kid")],
            network_ids=[self.ids["notice"], *(str(p.id) for p in self.people.values())],
            network_texts=[self.texts[-1]],
        )


async def _ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (response.request.method, response.request.url, response.text)
    return response.json() if response.content else None


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


async def build_network(stack: Stack, *, label: str = "甲") -> NetworkWorld:
    """One network with every kind of object, made through the services' APIs wherever one exists."""
    tenant = f"net-{uuid4().hex[:8]}"
    word = f"網{label}秘匿"
    name = f"{label}地域ネットワーク"
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(Network(slug=tenant, name=name))
        await session.flush()
        office = Facility(id=uuid4(), tenant=tenant, name=f"{label}町役場", kind="municipality")
        clinic = Facility(id=uuid4(), tenant=tenant, name=f"{label}クリニック", kind="clinic")
        station = Facility(id=uuid4(), tenant=tenant, name=f"{label}訪問看護", kind="visiting_nurse")
        applicant = Facility(
            id=uuid4(),
            tenant=tenant,
            name=f"{label}申請中薬局",
            kind="pharmacy",
            status="applied",
            applied_at=datetime.now(UTC),
            administrator_login_id=f"applicant-{uuid4().hex[:6]}",
        )
        session.add_all([office, clinic, station, applicant])
        await session.flush()
        users = {
            "operator": _user(tenant, office, "operator", ["operator"], f"{label}運営 一郎"),
            "doctor": _user(tenant, clinic, "doctor", ["staff"], f"{word} 医師"),
            "nurse": _user(tenant, clinic, "nurse", ["staff"], f"{label}看護 花子"),
            "clerk": _user(tenant, clinic, "clerk", ["staff"], f"{label}事務 次郎"),
            "clinic-admin": _user(
                tenant, clinic, "clinic-admin", ["facility_admin", "staff"], f"{label}管理 三郎"
            ),
            "station-admin": _user(
                tenant, station, "station-admin", ["facility_admin", "staff"], f"{label}所長 四郎"
            ),
        }
        session.add_all(users.values())
        facilities = {f.id: f for f in (office, clinic, station)}
        for user in users.values():
            # As identity introduces a new user to every service (their people projections).
            await outbox.add_event(
                session,
                PersonChangedV1(
                    user_id=user.id,
                    name=user.display_name,
                    facility_id=user.facility_id,
                    facility_name=facilities[user.facility_id].name,
                    version=1,
                ),
                tenant=tenant,
            )
    await trust_identity_keys(stack)
    people = {key: await sign_in(stack, Person(user)) for key, user in users.items()}

    consent, timeline, identity, portal, notify = (
        stack[s].client for s in ("consent", "timeline", "identity", "portal", "notify")
    )
    doctor, nurse, operator = people["doctor"], people["nurse"], people["operator"]
    subject = await _ok(
        await consent.post(
            "/subjects",
            json={
                "name": f"{word} 太郎",
                "name_kana": f"ヒトク{READINGS[label]} タロウ",
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

    async def invited_nurse() -> dict[str, Any] | None:
        # Consent invites only people it knows: the nurse's person-changed event must have arrived.
        response = await consent.post(
            f"/subjects/{subject_id}/care-team", json={"user_id": str(nurse.id)}, headers=doctor.headers
        )
        assert response.status_code in (201, 422), response.text
        return response.json() if response.status_code == 201 else None

    invited = await eventually(invited_nurse, what=f"consent to know network {label}'s nurse")
    await _ok(
        await consent.post(f"/care-team/invitations/{invited['id']}/accept", headers=nurse.headers), 200
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
            json={"subject_id": str(subject_id), "ground": "disaster", "reason": f"{word} 災害時の確認"},
            headers=nurse.headers,
        ),
        201,
    )

    async def uploaded() -> dict[str, Any] | None:
        response = await timeline.post(
            f"/subjects/{subject_id}/attachments",
            params={"filename": f"{word}紹介状.pdf"},
            content=PDF,
            headers=doctor.headers,
        )
        return response.json() if response.status_code == 201 else None

    attachment = await eventually(uploaded, what=f"timeline to learn of network {label}'s subject")
    post = await _ok(
        await timeline.post(
            f"/subjects/{subject_id}/posts",
            json={"category": "visit", "body": f"{word} 訪問しました", "attachment_ids": [attachment["id"]]},
            headers=doctor.headers,
        ),
        201,
    )
    support = await _ok(
        await timeline.post(
            f"/subjects/{subject_id}/posts",
            json={
                "body": f"{word} 訪問の応援をお願いします",
                "support_request": {"addressed_user_id": str(nurse.id)},
            },
            headers=doctor.headers,
        ),
        201,
    )
    medication = await _ok(
        await timeline.post(
            f"/subjects/{subject_id}/medications",
            json={
                "name": f"{word}錠",
                "ingredient": "アムロジピンベシル酸塩",
                "dose": "1回1錠",
                "start_date": "2026-12-01",
                "facility": f"{word}医院",
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
            "/groups", json={"name": f"{word} 研修会", "purpose": "training"}, headers=doctor.headers
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
            f"/groups/{group['id']}/posts", json={"body": f"{word} 研修資料"}, headers=doctor.headers
        ),
        201,
    )
    report = await _ok(
        await identity.post(
            "/incident-reports",
            json={"category": "security", "title": f"{word} 端末紛失", "body": "診察室の端末"},
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
                terminal_label=f"{word}診察室PC",
                serial_number=uuid4().hex[:16],
                fingerprint_sha256=uuid4().hex + uuid4().hex,
                certificate_pem="-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
                not_before=now - timedelta(minutes=1),
                not_after=now + timedelta(days=1),
                issued_by="test",
            )
        )
    members_notice = f"{label}会員だけのお知らせ本文"
    notice = await _ok(
        await portal.post(
            "/api/operator/notices",
            json={"audience": "users", "title": f"{label}会員向け", "body": members_notice},
            headers=operator.headers,
        ),
        201,
    )
    terms = await _ok(
        await portal.post(
            "/api/operator/terms",
            json={
                "version": f"net-{uuid4().hex[:6]}",
                "title": f"{name} 利用規約",
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

    notification_id = await eventually(nurse_notified, what=f"network {label}'s nurse's notification")
    kid = (await identity.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    # The operator's agreement with a neighbouring network (issue 12): another network's operator reaches none.
    agreement = await _ok(
        await stack["federation"].client.post(
            "/agreements",
            json={
                "peer_base_url": "https://neighbour.invalid",
                "peer_source": f"https://neighbour.invalid/networks/{tenant}-tonari",
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
            json={
                "target_kind": "user",
                "target_id": str(people["clerk"].id),
                "reason": "不正アクセスの疑い",
            },
            headers=operator.headers,
        ),
        201,
    )
    ids = {
        "subject": str(subject_id),
        "consent": str(given["id"]),
        "invitation": str(pending["id"]),
        "grant": str(grant["id"]),
        "attachment": str(attachment["id"]),
        "post": str(post["id"]),
        "medication": str(medication["id"]),
        "letter": str(letter["id"]),
        "support_request": str(support["id"]),
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
    # The members' notice last: as_victim names it the network-wide text.
    texts = [word, f"ヒトク{READINGS[label]}", *(u.display_name for u in users.values()), members_notice]
    return NetworkWorld(
        tenant=tenant,
        name=name,
        label=label,
        office_id=office.id,
        clinic_id=clinic.id,
        station_id=station.id,
        applicant_facility_id=applicant.id,
        people=people,
        ids=ids,
        texts=texts,
    )


async def build_networks(stack: Stack, count: int = 2) -> list[NetworkWorld]:
    """``count`` networks side by side (labels 甲, 乙, ...), each with every kind of object."""
    return [await build_network(stack, label=label) for label in LABELS[:count]]
