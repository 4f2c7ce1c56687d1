"""Subjects: registration with the residence check (C1) and likely duplicates (c9), family contacts, FHIR export."""
