"""Exceptional access without consent (C5): requests, the operator's decisions, their expiry."""
