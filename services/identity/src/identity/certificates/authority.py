"""The deployment's client-certificate CA: created on first use, its key decrypted once per process."""

from __future__ import annotations

import logging
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession
from yui_common.problems import Problem

from identity import ca
from identity.certificates import repository
from identity.models import CertificateAuthority
from identity.settings import Settings, environment_settings

log = logging.getLogger(__name__)

_decrypted_authorities: dict[UUID, ca.CertificateAuthorityKeys] = {}


async def certificate_authority(
    session: AsyncSession, *, settings: Settings | None = None
) -> ca.CertificateAuthorityKeys:
    """The deployment's CA, created (under a lock) on first use; its key is decrypted once per process."""
    settings = settings or environment_settings()
    row = await repository.certificate_authority(session)
    if row is None:
        await repository.lock_certificate_authority_creation(session)
        row = await repository.certificate_authority(session)
        if row is None:
            keys = ca.create_root()
            row = CertificateAuthority(
                certificate_pem=ca.certificate_pem(keys.certificate),
                encrypted_private_key_pem=ca.encrypt_private_key(
                    keys.private_key, settings.ca_key_passphrase
                ),
            )
            session.add(row)
            await session.flush()
            _decrypted_authorities[row.id] = keys
            log.info("client certificate CA created")
    cached = _decrypted_authorities.get(row.id)
    if cached is not None:
        return cached
    try:
        keys = ca.load_root(row.certificate_pem, row.encrypted_private_key_pem, settings.ca_key_passphrase)
    except ValueError as exc:
        log.error("the CA key cannot be decrypted: is YUI_IDENTITY_CA_KEY_PASSPHRASE right?")
        raise Problem(
            503, "certificate-authority-unavailable", "Certificate authority unavailable", "Try again later."
        ) from exc
    _decrypted_authorities[row.id] = keys
    return keys
