"""Driving the portal's staff UI in tests: a network of real identity accounts, a cookie-keeping browser."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pyotp

from tests.support.people import introduce_people
from tests.support.stack import Stack, eventually

PASSWORD = "Kaigo-2026!tokyo"
NEW_PASSWORD = "Houmon#kango42"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Codes:
    """TOTP codes for a secret, each usable once: this step's, then the next (identity refuses replays)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.offset = 0

    def next(self) -> str:
        code = self.totp.at(int(time.time()) + 30 * self.offset)
        self.offset += 1
        return code


@dataclass
class Person:
    user_id: UUID
    facility_id: UUID
    tenant: str
    login_id: str
    name: str
    codes: Codes


@dataclass
class Network:
    tenant: str
    clinic_id: UUID
    station_id: UUID
    doctor: Person  # the clinic's administrator and a doctor
    nurse: Person  # a visiting nurse at another facility


async def make_network(stack: Stack) -> Network:
    """A network with a clinic and a nursing station, each with one person who signs in with TOTP."""
    from identity.models import Facility, User
    from identity.models import Network as NetworkRow
    from identity.passwords import hash_password

    tenant = f"ui-{uuid4().hex[:8]}"
    password_hash = hash_password(PASSWORD)
    people = []
    async with stack["identity"].sessionmaker() as session, session.begin():
        session.add(NetworkRow(slug=tenant, name="テスト ネット"))
        await session.flush()
        clinic = Facility(id=uuid4(), tenant=tenant, name="結クリニック", kind="clinic")
        station = Facility(id=uuid4(), tenant=tenant, name="結訪問看護", kind="visiting_nurse")
        session.add_all([clinic, station])
        await session.flush()
        for facility, login_id, name, roles in (
            (clinic, "doctor", "山田 太郎", ["facility_admin", "staff"]),
            (station, "nurse", "佐藤 花子", ["staff"]),
        ):
            secret = pyotp.random_base32()
            user = User(
                id=uuid4(),
                tenant=tenant,
                facility_id=facility.id,
                login_id=login_id,
                display_name=name,
                password_hash=password_hash,
                roles=roles,
                totp_secret=secret,
                totp_confirmed=True,
            )
            session.add(user)
            people.append(Person(user.id, facility.id, tenant, login_id, name, Codes(secret)))
    await introduce_people(stack, [p.user_id for p in people])
    return Network(tenant, clinic.id, station.id, *people)


async def trust_identity_keys(stack: Stack) -> None:
    """Give every service identity's published keys beside the stack's test key (as a JWKS refresh would)."""
    from identity import tokens

    published = (await stack["identity"].client.get("/.well-known/jwks.json")).json()["keys"]
    keys = [tokens.public_jwk(stack.signing_key), *published]
    for service in stack.services.values():
        service.app.state.token_verifier.keys.load({"keys": keys})


@dataclass
class Browser:
    """The portal as a browser sees it: cookies kept (Secure ones too: the test transport is plain HTTP)."""

    client: httpx.AsyncClient
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookie_headers: list[str] = field(default_factory=list)

    def _remember(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or not morsel.value or morsel.value == '""':
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.client.request(method, path, headers=headers, **kwargs)
        self._remember(response)
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def form(self, page: str, action: str, data: dict[str, Any], **kwargs: Any) -> httpx.Response:
        """Open ``page``, take its CSRF token, and send the form to ``action``."""
        opened = await self.get(page)
        assert opened.status_code == 200, (page, opened.status_code, opened.text[:500])
        token = CSRF.search(opened.text)
        assert token, f"no CSRF token on {page}"
        return await self.post(action, data={"csrf": token.group(1), **data}, **kwargs)


async def sign_in(stack: Stack, person: Person, *, password: str = PASSWORD) -> Browser:
    await trust_identity_keys(stack)
    browser = Browser(stack["portal"].client)
    answer = await browser.form(
        "/staff/login",
        "/staff/login",
        {
            "tenant": person.tenant,
            "login_id": person.login_id,
            "password": password,
            "totp_code": person.codes.next(),
        },
    )
    assert answer.status_code == 303, answer.text[:500]
    return browser


async def add_person(
    stack: Stack,
    *,
    tenant: str,
    facility_name: str,
    kind: str,
    login_id: str,
    name: str,
    roles: list[str],
    create_network: bool = False,
) -> Person:
    """One more facility with one person who signs in with TOTP (and the network itself when asked)."""
    from identity.models import Facility, User
    from identity.models import Network as NetworkRow
    from identity.passwords import hash_password

    secret = pyotp.random_base32()
    async with stack["identity"].sessionmaker() as session, session.begin():
        if create_network:
            session.add(NetworkRow(slug=tenant, name="Test network"))
            await session.flush()
        facility = Facility(id=uuid4(), tenant=tenant, name=facility_name, kind=kind)
        session.add(facility)
        await session.flush()
        user = User(
            id=uuid4(),
            tenant=tenant,
            facility_id=facility.id,
            login_id=login_id,
            display_name=name,
            password_hash=hash_password(PASSWORD),
            roles=roles,
            totp_secret=secret,
            totp_confirmed=True,
        )
        session.add(user)
    await introduce_people(stack, [user.id])
    return Person(user.id, facility.id, tenant, login_id, name, Codes(secret))


@dataclass
class Scene:
    """A network with a subject, a post read and replied to, a group, and a user not yet signed in."""

    tenant: str
    doctor: Person
    nurse: Person
    subject_id: str
    post_id: str
    group_id: str
    newcomer_login: str
    newcomer_password: str
    data: tuple[str, ...]  # names and texts that are data, in any language


async def prepared_scene(stack: Stack) -> Scene:
    """Built through the portal in-process (fast); the browser then signs in with each person's next code."""
    tenant = f"ui-{uuid4().hex[:8]}"
    doctor = await add_person(
        stack,
        tenant=tenant,
        facility_name="Yui Clinic",
        kind="clinic",
        login_id="doctor",
        name="Taro Yamada",
        roles=["facility_admin", "staff"],
        create_network=True,
    )
    nurse = await add_person(
        stack,
        tenant=tenant,
        facility_name="Yui Nursing",
        kind="visiting_nurse",
        login_id="nurse",
        name="Hanako Sato",
        roles=["staff"],
    )
    doctor_ui, nurse_ui = await sign_in(stack, doctor), await sign_in(stack, nurse)
    opened = await doctor_ui.get("/staff/subjects/new")
    token = CSRF.search(opened.text)
    assert token
    registered = await doctor_ui.post(
        "/staff/subjects/new",
        data={
            "csrf": token.group(1),
            "name": "Jiro Yui",
            "name_kana": "ユイ ジロウ",
            "birth_date": "1938-05-05",
            "municipality_code": "232360",
            "given_on": "2026-11-01",
        },
    )
    subject_id = registered.headers["location"].split("/staff/subjects/")[1].split("?")[0]
    await doctor_ui.form(
        f"/staff/subjects/{subject_id}",
        f"/staff/subjects/{subject_id}/care-team",
        {"user_id": str(nurse.user_id), "facility_id": str(nurse.facility_id)},
    )
    home = await nurse_ui.get("/staff")
    accept = re.search(r'action="(/staff/invitations/[0-9a-f-]+/accept)"', home.text)
    assert accept
    await nurse_ui.form("/staff", accept.group(1), {})

    async def nurse_offered_for_mention() -> bool:
        # Timeline hears of the accepted invitation over the bus: until then the doctor's page does not offer
        # the nurse to mention, and a post mentioning her would be refused.
        page = await doctor_ui.get(f"/staff/subjects/{subject_id}/timeline")
        return f'name="mentions" value="{nurse.user_id}"' in page.text

    await eventually(nurse_offered_for_mention, what="the doctor's page to offer the nurse for a mention")
    posted = await doctor_ui.form(
        f"/staff/subjects/{subject_id}/timeline",
        f"/staff/subjects/{subject_id}/posts",
        {
            "body": "Visited today. Blood pressure 128/76.",
            "category": "vital_signs",
            "mentions": str(nurse.user_id),
        },
    )
    post_id = posted.headers["location"].split("#post-")[1]
    await nurse_ui.form(
        f"/staff/posts/{post_id}", f"/staff/posts/{post_id}/replies", {"body": "Noted, thanks."}
    )
    await doctor_ui.form(
        f"/staff/posts/{post_id}", f"/staff/posts/{post_id}/versions", {"body": "Visited today. BP 130/80."}
    )
    group = await doctor_ui.form(
        "/staff/groups", "/staff/groups", {"name": "Area training", "purpose": "training"}
    )
    group_id = group.headers["location"].split("/staff/groups/")[1].split("?")[0]
    created = await doctor_ui.form(
        "/staff/facility/users",
        "/staff/facility/users",
        {"login_id": "newcomer", "display_name": "Ichiro Suzuki"},
    )
    initial = re.search(r'id="issued-password">([^<]+)<', created.text)
    assert initial
    data = (
        "Taro Yamada",
        "Hanako Sato",
        "Jiro Yui",
        "ユイ ジロウ",
        "Yui Clinic",
        "Yui Nursing",
        "Ichiro Suzuki",
    )
    return Scene(tenant, doctor, nurse, subject_id, post_id, group_id, "newcomer", initial.group(1), data)


SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


async def screenshot(page: Any, name: str, *, full_page: bool = False) -> None:
    """docs/screenshots/ is refreshed only when asked (YUI_SAVE_SCREENSHOTS=1), so test runs leave no diff."""
    if os.environ.get("YUI_SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.evaluate("() => window.scrollTo(0, 0)")
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
