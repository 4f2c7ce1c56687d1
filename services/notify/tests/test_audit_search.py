"""Notify serves the audit-entries contract (S2): the operator searches and verifies its log."""

from __future__ import annotations

from services.consent.tests.test_audit_search import AuditEntriesContract


class TestNotifyAuditEntries(AuditEntriesContract):
    service = "notify"
