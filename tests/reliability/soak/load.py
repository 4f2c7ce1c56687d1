"""The soak's mixed load: people who sign in, register subjects, post, upload, read, withdraw and suspend.

Everything goes through the services' HTTP APIs as real clients would (the people themselves are added to
identity's database as the tests' networks are, then sign in with password and TOTP). During the faults many
requests fail; that is expected and counted. What the checks rely on is the ledger: every write a service
acknowledged (2xx) must be there at the end, and everything in the databases must be consistent.
"""

from __future__ import annotations

import asyncio
import io
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pyotp
from PIL import Image
from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from tests.reliability.soak.deployment import SoakDeployment

PASSWORD = "Soak-2026!yui-kaigo"
REQUEST_TIMEOUT_S = 30.0
# The weights of what an actor does next: mostly reading and writing, now and then a withdrawal.
ACTIONS = {
    "register_subject": 2,
    "post": 8,
    "upload": 4,
    "read": 10,
    "withdraw": 1,
    "suspend": 1,
}
SUSPENDED_FOR_S = (4.0, 9.0)


@dataclass
class Person:
    login_id: str
    user_id: UUID
    facility_id: UUID
    roles: tuple[str, ...]
    totp_secret: str
    password: str = PASSWORD
    token: str | None = None
    suspended: bool = False

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


@dataclass
class Subject:
    id: UUID
    doctor: Person
    members: list[Person] = field(default_factory=list)
    ready: bool = False  # consent given
    withdrawn: bool = False
    posts: list[UUID] = field(default_factory=list)
    attachments: list[UUID] = field(default_factory=list)


@dataclass
class Ledger:
    """What the services acknowledged, and how every request ended."""

    subjects: dict[UUID, Subject] = field(default_factory=dict)
    posts: dict[UUID, UUID] = field(default_factory=dict)  # post → subject
    attachments: dict[UUID, UUID] = field(default_factory=dict)  # attachment → subject
    withdrawals: dict[UUID, UUID] = field(default_factory=dict)  # withdrawal → subject
    suspensions: dict[UUID, UUID] = field(default_factory=dict)  # suspension → user
    lifted: set[UUID] = field(default_factory=set)
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    driver_errors: list[str] = field(default_factory=list)

    def count(self, action: str, response: httpx.Response | None, *, driver_error: str | None = None) -> str:
        if driver_error is not None:
            outcome = "driver error"
            if len(self.driver_errors) < 10:
                self.driver_errors.append(f"{action}: {driver_error}")
        elif response is None:
            outcome = "unreachable"
        elif response.status_code in (200, 201, 204):
            outcome = "ok"
        elif response.status_code < 400:
            outcome = f"ok {response.status_code}"
        elif response.status_code < 500:
            outcome = f"refused {response.status_code}"
        else:
            outcome = f"failed {response.status_code}"
        self.outcomes[action][outcome] += 1
        return outcome

    def summary(self) -> dict[str, dict[str, int]]:
        return {action: dict(sorted(counts.items())) for action, counts in sorted(self.outcomes.items())}


def png(rng: random.Random) -> bytes:
    """A small photo with a colour of its own, so no two uploads are the same file."""
    image = Image.new("RGB", (48, 32), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


# The smallest PDF timeline accepts; a comment line makes each one differ.
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


class People:
    """The soak's staff in the demo network, added to identity as the tests' networks are."""

    def __init__(self, deployment: SoakDeployment) -> None:
        self.deployment = deployment
        # Pre-ping: the soak restarts PostgreSQL under this engine's pooled connections.
        self.engine: AsyncEngine = create_async_engine(
            deployment.database_url("identity"), pool_pre_ping=True
        )
        self.doctors: list[Person] = []
        self.nurses: list[Person] = []
        self.operator: Person | None = None

    async def enrol(self, *, doctors: int, nurses: int) -> None:
        from identity.models import User
        from identity.passwords import hash_password
        from yui_common import demo, outbox
        from yui_common.events.identity import UserCreatedV1

        password_hash = await asyncio.to_thread(hash_password, PASSWORD)
        wanted = [
            ("soak-operator", demo.OPERATOR_OFFICE, ("operator",)),
            *((f"soak-doctor-{n}", demo.CLINIC, ("staff",)) for n in range(doctors)),
            *((f"soak-nurse-{n}", demo.NURSING_STATION, ("staff",)) for n in range(nurses)),
        ]
        async with async_sessionmaker(self.engine)() as session, session.begin():
            for login_id, facility_id, roles in wanted:
                person = Person(login_id, uuid4(), facility_id, roles, pyotp.random_base32())
                session.add(
                    User(
                        id=person.user_id,
                        tenant=demo.TENANT,
                        facility_id=facility_id,
                        login_id=login_id,
                        display_name=login_id,
                        password_hash=password_hash,
                        roles=list(roles),
                        totp_secret=person.totp_secret,
                        totp_confirmed=True,
                    )
                )
                # As identity's seed does for any new account: the other services learn of it by event.
                await outbox.add_event(
                    session,
                    UserCreatedV1(user_id=person.user_id, facility_id=facility_id, roles=list(roles)),
                    tenant=demo.TENANT,
                )
                if "operator" in login_id:
                    self.operator = person
                else:
                    (self.doctors if "doctor" in login_id else self.nurses).append(person)

    @property
    def everyone(self) -> list[Person]:
        return [*self.doctors, *self.nurses, *([self.operator] if self.operator else [])]

    async def sign_in(self, client: httpx.AsyncClient, person: Person, *, attempts: int = 20) -> bool:
        """Password and TOTP at identity's /auth/token; retried while a fault lasts (bounded)."""
        from identity.models import User
        from yui_common import demo

        for _ in range(attempts):
            # A TOTP code works once; a second sign-in within the same 30-second step needs the step forgotten.
            try:
                async with async_sessionmaker(self.engine)() as session, session.begin():
                    await session.execute(
                        update(User).where(User.id == person.user_id).values(totp_last_step=None)
                    )
            # The database is restarting: try again in a moment. A failed connect is asyncpg's own error
            # ("the database system is shutting down"), not wrapped by SQLAlchemy.
            except (OSError, SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(1.0)
                continue
            body = {
                "tenant": demo.TENANT,
                "login_id": person.login_id,
                "password": person.password,
                "totp_code": pyotp.TOTP(person.totp_secret).now(),
            }
            try:
                response = await client.post(f"{self.deployment.url('identity')}/auth/token", json=body)
            except httpx.HTTPError:
                response = None
            if response is not None and response.status_code == 200:
                person.token = response.json()["access_token"]
                return True
            await asyncio.sleep(1.0)
        return False

    async def close(self) -> None:
        await self.engine.dispose()


class MixedLoad:
    """``actors`` concurrent clients doing weighted random actions until ``stop`` is set."""

    def __init__(self, deployment: SoakDeployment, people: People, *, actors: int, seed: int = 14) -> None:
        self.deployment = deployment
        self.people = people
        self.actors = actors
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.stop = asyncio.Event()
        self.client = httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S)
        self._lifts: set[asyncio.Task[None]] = set()
        self._uploads = 0

    async def request(
        self, action: str, method: str, service: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = await self.client.request(method, f"{self.deployment.url(service)}{path}", **kwargs)
        except httpx.HTTPError:
            response = None
        self.ledger.count(action, response)
        return response

    # ------------------------------------------------------------------ choosing

    def active(self, people: list[Person]) -> list[Person]:
        return [p for p in people if p.token and not p.suspended]

    def open_subjects(self) -> list[Subject]:
        return [s for s in self.ledger.subjects.values() if s.ready and not s.withdrawn]

    def writer_of(self, subject: Subject) -> Person | None:
        candidates = self.active([subject.doctor, *subject.members])
        return self.rng.choice(candidates) if candidates else None

    # ------------------------------------------------------------------ actions

    async def register_subject(self) -> None:
        doctors = self.active(self.people.doctors)
        nurses = self.active(self.people.nurses)
        if not doctors or len(nurses) < 2:
            return
        doctor = self.rng.choice(doctors)
        created = await self.request(
            "register_subject",
            "POST",
            "consent",
            "/subjects",
            json={
                "name": "結 一郎",
                "name_kana": "ユイ イチロウ",
                "birth_date": "1940-01-02",
                "municipality_code": "232360",
                "confirm_not_duplicate": True,
            },
            headers=doctor.headers,
        )
        if created is None or created.status_code != 201:
            return
        subject = Subject(UUID(created.json()["id"]), doctor)
        self.ledger.subjects[subject.id] = subject
        for nurse in self.rng.sample(nurses, 2):
            invited = await self.request(
                "care_team",
                "POST",
                "consent",
                f"/subjects/{subject.id}/care-team",
                json={"user_id": str(nurse.user_id), "facility_id": str(nurse.facility_id)},
                headers=doctor.headers,
            )
            if invited is None or invited.status_code != 201:
                continue
            accepted = await self.request(
                "care_team",
                "POST",
                "consent",
                f"/care-team/invitations/{invited.json()['id']}/accept",
                headers=nurse.headers,
            )
            if accepted is not None and accepted.status_code == 200:
                subject.members.append(nurse)
        given = await self.request(
            "consent",
            "POST",
            "consent",
            f"/subjects/{subject.id}/consents",
            json={"given_by": "subject", "given_on": str(date.today())},
            headers=doctor.headers,
        )
        subject.ready = given is not None and given.status_code == 201

    async def post(self, attachment: tuple[Person, Subject, UUID] | None = None) -> None:
        if attachment is not None:
            writer, subject, attachment_id = attachment
        else:
            subjects = self.open_subjects()
            if not subjects:
                return
            subject = self.rng.choice(subjects)
            found = self.writer_of(subject)
            if found is None:
                return
            writer, attachment_id = found, None
        body: dict[str, Any] = {"category": "visit", "body": f"訪問記録 {time.time():.3f}"}
        if attachment_id is not None:
            body["attachment_ids"] = [str(attachment_id)]
        response = await self.request(
            "post", "POST", "timeline", f"/subjects/{subject.id}/posts", json=body, headers=writer.headers
        )
        if response is not None and response.status_code == 201:
            post_id = UUID(response.json()["id"])
            subject.posts.append(post_id)
            self.ledger.posts[post_id] = subject.id

    async def upload(self) -> None:
        subjects = self.open_subjects()
        if not subjects:
            return
        subject = self.rng.choice(subjects)
        writer = self.writer_of(subject)
        if writer is None:
            return
        self._uploads += 1
        if self.rng.random() < 0.7:
            content, filename = png(self.rng), f"soak-{self._uploads}.png"
        else:
            content, filename = PDF + f"% soak {self._uploads}\n".encode(), f"soak-{self._uploads}.pdf"
        response = await self.request(
            "upload",
            "POST",
            "timeline",
            f"/subjects/{subject.id}/attachments",
            params={"filename": filename},
            content=content,
            headers=writer.headers,
        )
        if response is None or response.status_code != 201:
            return
        attachment_id = UUID(response.json()["id"])
        subject.attachments.append(attachment_id)
        self.ledger.attachments[attachment_id] = subject.id
        if self.rng.random() < 0.6:  # most uploads are attached to a post; the rest stay pending uploads
            await self.post((writer, subject, attachment_id))

    async def read(self) -> None:
        subjects = [s for s in self.ledger.subjects.values() if s.ready]
        reader = self.rng.choice(self.active(self.people.nurses + self.people.doctors) or [None])  # type: ignore[list-item]
        if reader is None:
            return
        kind = self.rng.choice(("posts", "file", "subjects", "notifications"))
        if kind == "posts" and subjects:
            subject = self.rng.choice(subjects)
            await self.request(
                "read", "GET", "timeline", f"/subjects/{subject.id}/posts", headers=reader.headers
            )
        elif kind == "file" and self.ledger.attachments:
            attachment_id = self.rng.choice(list(self.ledger.attachments))
            await self.request(
                "read", "GET", "timeline", f"/attachments/{attachment_id}/content", headers=reader.headers
            )
        elif kind == "subjects":
            await self.request("read", "GET", "consent", "/subjects", headers=reader.headers)
        else:
            await self.request("read", "GET", "notify", "/notifications", headers=reader.headers)

    async def withdraw(self) -> None:
        subjects = [s for s in self.open_subjects() if s.posts and s.doctor.token and not s.doctor.suspended]
        if len(subjects) < 2:  # keep something to write about
            return
        subject = self.rng.choice(subjects)
        response = await self.request(
            "withdraw",
            "POST",
            "consent",
            f"/subjects/{subject.id}/withdrawals",
            json={"requested_by": "subject"},
            headers=subject.doctor.headers,
        )
        if response is not None and response.status_code == 201:
            subject.withdrawn = True
            self.ledger.withdrawals[UUID(response.json()["id"])] = subject.id

    async def suspend(self) -> None:
        operator = self.people.operator
        nurses = self.active(self.people.nurses)
        if operator is None or not operator.token or len(nurses) < 3:
            return
        nurse = self.rng.choice(nurses)
        nurse.suspended = True  # no new requests from now on; one in flight may meet the refusal
        response = await self.request(
            "suspend",
            "POST",
            "identity",
            "/suspensions",
            json={"target_kind": "user", "target_id": str(nurse.user_id), "reason": "耐久試験"},
            headers=operator.headers,
        )
        # 201: every service refuses the nurse already; 202: identity does, the others will (both suspend).
        if response is None or response.status_code not in (201, 202):
            nurse.suspended = False
            return
        suspension_id = UUID(response.json()["id"])
        self.ledger.suspensions[suspension_id] = nurse.user_id
        task = asyncio.create_task(self._lift_later(suspension_id, nurse))
        self._lifts.add(task)
        task.add_done_callback(self._lifts.discard)

    async def _lift_later(self, suspension_id: UUID, nurse: Person) -> None:
        try:
            await self._lift_and_sign_in(suspension_id, nurse)
        except Exception as error:  # the load's own mistake: noted for the report
            self.ledger.count("lift", None, driver_error=repr(error))

    async def _lift_and_sign_in(self, suspension_id: UUID, nurse: Person) -> None:
        """Reinstate after a few seconds and sign in again (retried while a fault lasts, bounded)."""
        await asyncio.sleep(self.rng.uniform(*SUSPENDED_FOR_S))
        operator = self.people.operator
        assert operator is not None
        for _ in range(30):
            response = await self.request(
                "lift", "POST", "identity", f"/suspensions/{suspension_id}/lifting", headers=operator.headers
            )
            if response is not None and response.status_code == 200:
                self.ledger.lifted.add(suspension_id)
                break
            if response is not None and 400 <= response.status_code < 500 and response.status_code != 429:
                return  # refused for good: the nurse stays suspended, which the checks also cover
            await asyncio.sleep(1.0)
        else:
            return
        if await self.people.sign_in(self.client, nurse):
            nurse.suspended = False

    # ------------------------------------------------------------------ running

    async def actor(self) -> None:
        names, weights = list(ACTIONS), list(ACTIONS.values())
        while not self.stop.is_set():
            action = self.rng.choices(names, weights)[0]
            if action == "register_subject" and len(self.open_subjects()) > 12:
                action = "post"
            try:
                await getattr(self, action)()
            except Exception as error:  # the load's own mistake: noted for the report, the actor goes on
                self.ledger.count(action, None, driver_error=repr(error))
            await asyncio.sleep(0.05)

    async def run(self, seconds: float) -> None:
        actors = [asyncio.create_task(self.actor()) for _ in range(self.actors)]
        try:
            await asyncio.sleep(seconds)
        finally:
            self.stop.set()
            # Each actor ends after its current action (requests are bounded by their timeout).
            await asyncio.wait(actors, timeout=4 * REQUEST_TIMEOUT_S)
            for task in actors:
                task.cancel()

    async def settle(self, timeout: float = 120.0) -> None:
        """Let pending reinstatements finish (each is bounded), then close the client."""
        if self._lifts:
            await asyncio.wait(set(self._lifts), timeout=timeout)
            for task in set(self._lifts):
                task.cancel()

    async def close(self) -> None:
        await self.client.aclose()
