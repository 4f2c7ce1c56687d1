"""Notices, terms of use and their acceptance, and the network's portal settings (P2, P3, P4, P5)."""
