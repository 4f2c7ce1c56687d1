"""The public facility directory (P1): publication choices, the operator's veto, the public read."""
