"""Consents (C2, C3) and their scanned forms."""
