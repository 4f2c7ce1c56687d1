"""Medications on a subject's list and the network's drug master (issue 16, rec2)."""
