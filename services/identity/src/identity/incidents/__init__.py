"""Incident reports (I10): a user files, the administrator escalates, the operator forwards, then resolved."""
