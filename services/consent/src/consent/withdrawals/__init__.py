"""Withdrawals of consent (C4) and their cascade through the other services."""
