"""Client certificates: redeeming an access code, issuing, listing, revoking; the CA and its CRL."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Query, Request, Response
from yui_common.auth import CurrentPrincipal, Principal
from yui_common.db import DbSession
from yui_common.problems import Problem

from identity.auth import CONTRACTOR, OPERATOR, FacilityAdminPrincipal, requiring
from identity.certificates import service
from identity.certificates.authority import certificate_authority as deployment_authority
from identity.certificates.schemas import (
    AccessCodeCreate,
    AccessCodeRead,
    AccessCodeRedemption,
    CertificateCreate,
    CertificateRead,
    CertificateRevocation,
    CertificateRevoked,
)
from identity.crl_publisher import CachedCrl
from identity.problems import answered
from identity.revocations.api import commit_and_await_revocations

router = APIRouter(tags=["certificates"])
PKCS12_MEDIA_TYPE = "application/x-pkcs12"
_crl = CachedCrl()
AccessCodeIssuer = Annotated[
    Principal,
    Depends(requiring(OPERATOR, CONTRACTOR, detail="Only the network's operator may issue access codes.")),
]


def _pkcs12_response(request: Request, issued: service.IssuedCertificate) -> Response:
    certificate = issued.certificate
    filename = quote(f"yui-{certificate.terminal_label}.p12")
    return Response(
        issued.pkcs12,
        status_code=201,
        media_type=PKCS12_MEDIA_TYPE,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
            "Location": str(request.url_for("get_certificate", certificate_id=certificate.id).path),
            "X-Certificate-Id": str(certificate.id),
            "X-Certificate-Fingerprint": certificate.fingerprint_sha256,
            "Cache-Control": "no-store",
        },
    )


_PKCS12_RESPONSE: dict[int | str, dict[str, Any]] = {
    201: {"content": {PKCS12_MEDIA_TYPE: {}}, "description": "PKCS#12 protected by the PIN"}
}


@router.post(
    "/certificates/redeem",
    summary="Download the administrator's certificate with the access code and PIN (no sign-in needed)",
    response_class=Response,
    responses={**_PKCS12_RESPONSE, 401: {}, 409: {}, 410: {}, 423: {}},
)
async def redeem_access_code(body: AccessCodeRedemption, request: Request, session: DbSession) -> Response:
    result = await service.redeem_access_code(
        session,
        tenant=body.tenant,
        access_code=body.access_code,
        pin=body.pin,
        terminal_label=body.terminal_label,
    )
    if isinstance(result, Problem):
        return answered(request, result)
    return _pkcs12_response(request, result)


@router.post(
    "/certificates/access-codes",
    summary="Give a facility administrator a new access code and PIN (operators)",
    response_model=AccessCodeRead,
    status_code=201,
)
async def issue_access_code(
    body: AccessCodeCreate, principal: AccessCodeIssuer, session: DbSession
) -> AccessCodeRead:
    grant = await service.issue_access_code_to_administrator(
        session, principal=principal, facility_id=body.facility_id, administrator_user_id=body.user_id
    )
    return AccessCodeRead(
        access_code_id=grant.access_code_id,
        access_code=grant.access_code,
        pin=grant.pin,
        expires_at=grant.expires_at,
    )


@router.post(
    "/certificates",
    summary="Issue a certificate for one terminal of a user of the administrator's facility",
    response_class=Response,
    responses={**_PKCS12_RESPONSE, 403: {}, 404: {}, 409: {}},
)
async def issue_certificate(
    body: CertificateCreate, request: Request, principal: FacilityAdminPrincipal, session: DbSession
) -> Response:
    result = await service.issue_certificate(
        session, principal=principal, user_id=body.user_id, terminal_label=body.terminal_label, pin=body.pin
    )
    if isinstance(result, Problem):
        raise result
    return _pkcs12_response(request, result)


@router.get("/certificates", response_model=list[CertificateRead], summary="Certificates of a facility")
async def list_certificates(
    principal: CurrentPrincipal,
    session: DbSession,
    facility_id: Annotated[UUID | None, Query()] = None,
    user_id: Annotated[UUID | None, Query()] = None,
    include_revoked: bool = True,
) -> list[CertificateRead]:
    found = await service.list_certificates(
        session,
        principal=principal,
        facility_id=facility_id,
        user_id=user_id,
        include_revoked=include_revoked,
    )
    return [CertificateRead.of(c) for c in found]


@router.get("/certificates/{certificate_id}", response_model=CertificateRead, name="get_certificate")
async def get_certificate(
    certificate_id: UUID, principal: CurrentPrincipal, session: DbSession
) -> CertificateRead:
    certificate = await service.get_certificate(session, principal=principal, certificate_id=certificate_id)
    return CertificateRead.of(certificate)


@router.post(
    "/certificates/{certificate_id}/revoke",
    response_model=CertificateRevoked,
    responses={202: {"model": CertificateRevoked, "description": "Revoked; some services not yet refusing"}},
    summary="Revoke a certificate (lost or retired terminal, user left, ...)",
)
async def revoke_certificate(
    certificate_id: UUID,
    body: CertificateRevocation,
    principal: CurrentPrincipal,
    session: DbSession,
    request: Request,
    response: Response,
) -> CertificateRevoked:
    certificate = await service.revoke_certificate(
        session, principal=principal, certificate_id=certificate_id, reason=body.reason, note=body.note
    )
    revoked = CertificateRead.of(certificate).model_dump()
    return CertificateRevoked(
        **revoked, propagation=await commit_and_await_revocations(request, session, response)
    )


@router.get("/ca.pem", summary="The CA that issues client certificates (PEM)", response_class=Response)
async def certificate_authority(session: DbSession) -> Response:
    authority = await deployment_authority(session)
    return Response(
        authority.certificate.public_bytes(serialization.Encoding.PEM), media_type="application/x-pem-file"
    )


@router.get(
    "/crl.pem", summary="The certificate revocation list, signed by the CA (PEM)", response_class=Response
)
async def revocation_list(session: DbSession) -> Response:
    return Response(
        await _crl.pem(session), media_type="application/x-pem-file", headers={"Cache-Control": "no-cache"}
    )
