"""What peers call: `PUT /federation/v1/transactions/{id}` (a message) and `GET /federation/v1/feed?after=N`.

No access token here: a peer proves itself by its signature, checked against the keys its deployment publishes
and the agreement this network holds with it. Each request runs its own transactions (receiving.Receiver):
a refusal commits its audit entry and nothing else.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, BackgroundTasks, Query, Request, Response
from fastapi.responses import JSONResponse
from yui_common import audit
from yui_common.problems import MEDIA_TYPE

from federation.agreements import repository as agreements
from federation.messages import envelope
from federation.messages.feed import pull_feed, serve_feed
from federation.messages.receiving import Outcome, Receiver, Refusal, local_tenant, problem_body
from federation.problems import malformed
from federation.settings import Settings

router = APIRouter(prefix="/federation/v1", tags=["federation protocol"])
MAX_BODY = 256 * 1024

SIGNED: dict[int | str, dict[str, Any]] = {
    400: {"description": "Not a federation message, or the path's id is not the message's"},
    401: {
        "description": "Signature missing or invalid, key unknown, or signed outside the allowed clock skew"
    },
    403: {"description": "Unknown peer, another network's message, or the agreement does not allow it"},
    409: {"description": "An agreement step out of state (recorded: the sequence number is used)"},
}


def _answer(outcome: Outcome) -> JSONResponse:
    media = MEDIA_TYPE if outcome.status >= 400 else "application/json"
    return JSONResponse(outcome.body, status_code=outcome.status, media_type=media)


@router.put(
    "/transactions/{transaction_id}",
    summary="Receive a signed message from a peer network",
    responses=SIGNED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def put_transaction(
    transaction_id: UUID, request: Request, background: BackgroundTasks
) -> JSONResponse:
    """Idempotent: the same message again answers 200 with its first outcome and applies nothing."""
    body = await request.body()
    receiver: Receiver = request.app.state.receiver
    if len(body) > MAX_BODY:
        return _answer(
            Outcome(413, problem_body(malformed("The message is larger than a federation message may be.")))
        )
    outcome = await receiver.receive(
        body=body, signature=request.headers.get(envelope.SIGNATURE_HEADER), path_id=transaction_id
    )
    if outcome.gap_after is not None:
        message = json.loads(body)
        tenant = local_tenant(receiver.settings, message["yuirecipient"])
        if tenant is not None:
            # After the answer: pull what is missing from the sender's feed, then apply in order.
            background.add_task(
                pull_feed,
                sessionmaker=request.app.state.sessionmaker,
                settings=receiver.settings,
                clients=request.app.state.peer_clients,
                receiver=receiver,
                tenant=tenant,
                source=message["source"],
            )
    if outcome.status < 400:
        # Every acknowledgement carries this side's newest audit seal head, which the sender keeps in its own
        # audit log: the two logs vouch for each other (issue 12, item 6).
        async with request.app.state.sessionmaker() as session:
            seal = await agreements.newest_seal(session)
        outcome = Outcome(
            outcome.status,
            {**outcome.body, "audit_head": {"seal_number": seal[0], "head": seal[1]} if seal else None},
        )
    return _answer(outcome)


@router.get(
    "/feed",
    summary="A peer pulls our messages to it after a sequence number (signed request, signed answer)",
    responses={401: SIGNED[401], 403: SIGNED[403]},
)
async def get_feed(request: Request, after: Annotated[int, Query(ge=0, le=2**62)] = 0) -> Response:
    settings: Settings = request.app.state.settings
    receiver: Receiver = request.app.state.receiver
    proof = request.headers.get(envelope.SIGNATURE_HEADER)
    try:
        async with request.app.state.sessionmaker() as session, session.begin():
            answer, signature = await serve_feed(
                session, settings, receiver.peer_keys, proof=proof, after=after
            )
    except Refusal as refusal:
        async with request.app.state.sessionmaker() as session, session.begin():
            await audit.record(
                session,
                tenant="-",
                actor_id="peer:unknown",
                action="federation.feed.refused",
                detail={"reason": refusal.problem.slug, "after": after, "proof": proof},
            )
        return _answer(Outcome(refusal.problem.status, problem_body(refusal.problem)))
    return Response(answer, media_type="application/json", headers={envelope.SIGNATURE_HEADER: signature})
