"""The audit log's seals: the worker seals entries in batches, signs each head and keeps it outside the database.

keys: the service's Ed25519 audit key; heads: the write-once S3 objects; sealer: the worker's job and the
backlog gauges; verification: entries against seals, seals against the exported heads.
"""

from yui_common.audit_seal.heads import SealExportConflictError, SealHeads, log_name
from yui_common.audit_seal.keys import AuditKey, AuditPublicKey, audit_key, ensure_audit_key
from yui_common.audit_seal.sealer import (
    AuditSealer,
    Seal,
    batch_hash,
    refresh_audit_gauges,
    seal_head,
    signed_message,
    unsealed_backlog,
)
from yui_common.audit_seal.verification import AuditVerification, verify_log

__all__ = [
    "AuditKey",
    "AuditPublicKey",
    "AuditSealer",
    "AuditVerification",
    "Seal",
    "SealExportConflictError",
    "SealHeads",
    "audit_key",
    "batch_hash",
    "ensure_audit_key",
    "log_name",
    "refresh_audit_gauges",
    "seal_head",
    "signed_message",
    "unsealed_backlog",
    "verify_log",
]
