"""What a peer calls about referrals (no access token: the peer's signatures prove who asks).

- `GET /federation/v1/directory`: our network's name and facilities, for a peer's referral form (signed request).
- `GET /federation/v1/referrals/{id}/timeline` and `POST …/posts`: a peer user's read and post, with the peer's
  signed assertion naming the user. At every call home checks the agreement (in force), the referral (active,
  in its period, the user's facility), the agreement's terms for the user's profession, and consent (the
  subject's row, held FOR SHARE until the answer: a withdrawal commits before the fetch or after its answer),
  then grants timeline that one read or post and audits it. Anything refused is audited and answered with
  problem+json; a withdrawn subject is 410, anything the asker may not see is the one 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from yui_common import audit
from yui_common.problems import Problem, not_found
from yui_common.web import today_in_japan

from federation import problems
from federation.agreements import repository as agreements
from federation.agreements.schemas import ACCEPTED, HOME
from federation.keys import service as keys
from federation.messages import envelope
from federation.messages.feed import verified_proof
from federation.messages.receiving import Receiver, local_tenant, problem_body
from federation.models import Agreement, Referral, SubjectState
from federation.problems import Refusal
from federation.referrals import assertions
from federation.referrals.service import directory_of
from federation.settings import Settings

router = APIRouter(prefix="/federation/v1", tags=["federation protocol"])
MAX_BODY = 64 * 1024
PEER_ASKS: dict[int | str, dict[str, Any]] = {
    400: {"description": "The post is not one (too large or unreadable)"},
    401: {"description": "No valid assertion from the peer"},
    403: {"description": "The assertion names no network of ours, or the agreement is not in force"},
    422: {"description": "A post the home timeline refuses (e.g. a category the referral does not share)"},
    502: {"description": "The home timeline failed"},
    404: {"description": "No such referral for this user (the one 404)"},
    410: {"description": "Consent was withdrawn: nothing of the subject is shared"},
}


@dataclass
class Asked:
    referral: Referral
    agreement: Agreement
    claims: dict[str, Any]
    categories: list[str]


def _answer(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem_body(problem), status_code=problem.status, media_type="application/problem+json"
    )


def _withdrawn() -> Problem:
    return Problem(
        410, "support-stopped", "Support stopped", "Consent was withdrawn; the subject is no longer shared."
    )


async def _authorize(
    session: AsyncSession, settings: Settings, request: Request, referral_id: UUID, body: bytes | None
) -> Asked:
    token = request.headers.get(assertions.ASSERTION_HEADER)
    if not token:
        raise Refusal(problems.signature_missing())
    try:
        header, unverified = assertions.unverified(token)
    except ValueError:
        raise Refusal(problems.signature_invalid()) from None
    tenant = local_tenant(settings, str(unverified.get("aud", "")))
    if tenant is None:
        raise Refusal(problems.wrong_recipient())
    referral = await session.get(Referral, (tenant, referral_id))
    agreement = await session.get(Agreement, (tenant, referral.agreement_id)) if referral else None
    if (
        referral is None
        or agreement is None
        or referral.side != HOME
        or agreement.peer_source != unverified.get("iss")
    ):
        raise Refusal(not_found("referral"))
    receiver: Receiver = request.app.state.receiver
    key = await receiver.peer_keys.key(agreement.peer_base_url, agreement.peer_ca_pem or None, header["kid"])
    if key is None:
        raise Refusal(problems.unknown_key(header["kid"]))
    try:
        claims = assertions.verified(
            token, key, issuer=agreement.peer_source, audience=settings.network_source(tenant)
        )
    except ValueError:
        raise Refusal(problems.signature_invalid()) from None
    if claims.get("referral") != str(referral_id) or (
        body is not None and claims.get("body_sha256") != assertions.body_hash(body)
    ):
        raise Refusal(problems.signature_invalid())
    if agreement.state != ACCEPTED:
        raise Refusal(problems.not_in_force(agreement.state))
    # Consent, held until the answer (see the module's note).
    subject = (
        await session.scalars(
            sa.select(SubjectState)
            .where(SubjectState.subject_id == referral.subject_id)
            .with_for_update(read=True)
        )
    ).one_or_none()
    if referral.state == "withdrawn" or subject is None or not subject.consent_active:
        raise Refusal(_withdrawn())
    today = today_in_japan()
    categories = sorted(
        set(referral.categories) & set(agreement.professions.get(str(claims.get("profession")), []))
    )
    if (
        referral.state != "active"
        or not referral.starts_on <= today <= referral.ends_on
        or claims.get("facility_id") != str(referral.facility_id)
        or not categories
    ):
        raise Refusal(not_found("referral"))
    return Asked(referral, agreement, claims, categories)


async def _refused(
    session: AsyncSession, referral_id: UUID, refusal: Refusal, request: Request
) -> JSONResponse:
    token = request.headers.get(assertions.ASSERTION_HEADER)
    try:
        _, claims = assertions.unverified(token or "")
    except ValueError:
        claims = {}
    await audit.record(
        session,
        tenant=local_tenant(request.app.state.settings, str(claims.get("aud", ""))) or "-",
        actor_id=f"peer-user:{claims.get('sub', 'unknown')}",
        action="federation.referral.refused",
        target=f"referral:{referral_id}",
        detail={"reason": refusal.problem.slug, "peer": claims.get("iss"), "assertion": _fingerprint(token)},
    )
    return _answer(refusal.problem)


async def _timeline(
    request: Request, session: AsyncSession, settings: Settings, asked: Asked, *, write: bool
) -> _TimelineCall:
    grant = assertions.grant(
        await keys.signing_key(session, settings),
        tenant=asked.referral.tenant,
        subject_id=asked.referral.subject_id,  # type: ignore[arg-type]
        referral_id=asked.referral.id,
        claims=asked.claims,
        network_name=asked.referral.peer_network_name,
        peer_source=asked.agreement.peer_source,
        categories=asked.categories,
        write=write,
    )
    return _TimelineCall(_timeline_client(request, settings), grant)


class _TimelineCall:
    """This deployment's timeline, through the app's one keep-alive client, with one request's grant."""

    def __init__(self, client: httpx.AsyncClient, grant: str) -> None:
        self.client, self.headers = client, {"Yui-Federation-Grant": grant}

    async def __aenter__(self) -> _TimelineCall:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers=self.headers)

    async def post(self, path: str, *, content: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(path, content=content, headers={**self.headers, **headers})


def _timeline_client(request: Request, settings: Settings) -> httpx.AsyncClient:
    state = request.app.state
    transport = getattr(state, "timeline_transport", None)
    client: httpx.AsyncClient | None = getattr(state, "timeline_client", None)
    if (
        client is None
        or client.is_closed
        or getattr(state, "timeline_client_transport", None) is not transport
    ):
        client = httpx.AsyncClient(
            base_url=settings.timeline_url, transport=transport, timeout=settings.request_timeout_s
        )
        state.timeline_client, state.timeline_client_transport = client, transport
    return client


def _fingerprint(token: str | None) -> str | None:
    """What the audit log keeps of an assertion: its hash (the token itself stays a credential for a minute)."""
    return f"sha256:{assertions.body_hash(token.encode())}" if token else None


async def _granted(session: AsyncSession, request: Request, asked: Asked, what: str, **detail: Any) -> None:
    """Home's audit entry of a peer user's read or post: who (as the peer named them), under which assertion."""
    await audit.record(
        session,
        tenant=asked.referral.tenant,
        actor_id=f"peer-user:{asked.claims['sub']}",
        action=f"federation.referral.{what}",
        subject_id=str(asked.referral.subject_id),
        target=f"referral:{asked.referral.id}",
        detail={
            "peer": asked.agreement.peer_source,
            "user": {k: asked.claims.get(k) for k in ("name", "profession", "facility_name")},
            "categories": asked.categories,
            "assertion": _fingerprint(request.headers.get(assertions.ASSERTION_HEADER)),
            **detail,
        },
    )


@router.get(
    "/directory",
    summary="Our network's facilities, for a peer's referral form (signed request)",
    responses={
        401: {"description": "Request signature missing or invalid, key unknown, or outside the clock skew"},
        403: {"description": "No agreement with the asking network, or it names no network of ours"},
    },
)
async def directory(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    receiver: Receiver = request.app.state.receiver
    proof = request.headers.get(envelope.SIGNATURE_HEADER)
    async with request.app.state.sessionmaker() as session, session.begin():
        try:
            tenant, _, puller = await verified_proof(
                session, settings, receiver.peer_keys, proof=proof, after=0
            )
            # Only a network this one accepted to receive referrals from sees its facilities.
            held = await agreements.with_peer(session, tenant, puller)
            if not any(a.state == ACCEPTED and envelope.REFERRAL in a.event_types for a in held):
                raise Refusal(problems.not_in_force(held[0].state if held else "absent"))
        except Refusal as refusal:
            await audit.record(
                session,
                tenant="-",
                actor_id="peer:unknown",
                action="federation.directory.refused",
                detail={"reason": refusal.problem.slug, "proof": proof},
            )
            return _answer(refusal.problem)
        document = await directory_of(session, tenant)
        await audit.record(
            session,
            tenant=tenant,
            actor_id=f"peer:{puller}",
            action="federation.directory.served",
            detail={"facilities": len(document["facilities"]), "proof": proof},
        )
    return JSONResponse(document)


@router.get(
    "/referrals/{referral_id}/timeline", responses=PEER_ASKS, summary="A peer user reads a referred subject"
)
async def referral_timeline(referral_id: UUID, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    async with request.app.state.sessionmaker() as session, session.begin():
        try:
            asked = await _authorize(session, settings, request, referral_id, None)
        except Refusal as refusal:
            return await _refused(session, referral_id, refusal, request)
        async with await _timeline(request, session, settings, asked, write=False) as timeline:
            answer = await timeline.get(f"/federated/subjects/{asked.referral.subject_id}/posts")
        if answer.status_code != 200:
            return await _refused(session, referral_id, Refusal(_from_timeline(answer)), request)
        await _granted(session, request, asked, "read", count=len(answer.json().get("posts") or []))
    return Response(answer.content, media_type="application/json")


@router.post(
    "/referrals/{referral_id}/posts",
    status_code=201,
    responses=PEER_ASKS,
    summary="A peer user posts on a referred subject",
)
async def referral_post(referral_id: UUID, request: Request) -> Response:
    settings: Settings = request.app.state.settings
    body = await request.body()
    if len(body) > MAX_BODY:
        return _answer(problems.malformed("The post is too large."))
    async with request.app.state.sessionmaker() as session, session.begin():
        try:
            asked = await _authorize(session, settings, request, referral_id, body)
        except Refusal as refusal:
            return await _refused(session, referral_id, refusal, request)
        async with await _timeline(request, session, settings, asked, write=True) as timeline:
            answer = await timeline.post(
                f"/federated/subjects/{asked.referral.subject_id}/posts",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        if answer.status_code != 201:
            return await _refused(session, referral_id, Refusal(_from_timeline(answer)), request)
        await _granted(session, request, asked, "posted", post=answer.json().get("id"))
    return Response(answer.content, status_code=201, media_type="application/json")


def _from_timeline(answer: httpx.Response) -> Problem:
    if answer.status_code == 410:
        return _withdrawn()
    if answer.status_code == 422:
        try:
            detail = str(answer.json().get("detail") or "")
        except ValueError:
            detail = ""
        return Problem(422, "federation-post-invalid", "Post refused", detail or "The post was refused.")
    if answer.status_code in (401, 403, 404):
        return not_found("referral")
    return Problem(
        502, "federation-home-failed", "Home service failed", f"timeline answered {answer.status_code}"
    )
