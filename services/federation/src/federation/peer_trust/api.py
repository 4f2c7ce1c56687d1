"""`GET /peer-cas.pem`: the peer-CA bundle, for a gateway that cannot share a file with the worker (Kubernetes'
crl-sync sidecar). Internal: the gateway does not route it; the CAs are public certificates."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from federation.peer_trust.service import peer_ca_bundle
from federation.settings import Settings

router = APIRouter(tags=["peer trust"])


@router.get(
    "/peer-cas.pem",
    summary="The CAs the gateway's peer port admits client certificates from",
    response_class=Response,
    responses={200: {"content": {"application/x-pem-file": {}}, "description": "PEM certificates"}},
)
async def peer_cas(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    async with request.app.state.sessionmaker() as session:
        bundle = await peer_ca_bundle(session, settings)
    return Response(bundle, media_type="application/x-pem-file")
